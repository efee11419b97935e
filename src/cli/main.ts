// The `floe` command: one entry point for the server, the local dev cluster,
// the client verbs and the tools; each verb lives in its own module.

const [cmd = "help", ...rest] = process.argv.slice(2);

const usage = `floe: a Raft-replicated key-value store speaking the etcd v3 API

  npm start / floe dev                        a local 3-member cluster (clients on 2379, 22379, 32379)
  npm test                                  type-check, lint, all tests
  npm run sim -- --seed 1234 [--nodes 5]    replay one deterministic simulated cluster run
  npm run sim -- --seeds 2000 [--nodes 5]   simulator soak
  npm run check -- <history files>          linearizability checker

  floe start [--config floe.yaml] [flags]     one member (of a new or existing cluster); --help lists options
  floe put|get|del|txn|watch|lease ... [--endpoints host:port]   etcd v3 client verbs
  floe snapshot status|restore <file> ...     verify a saved snapshot; build a new one-member data dir from it
  floe debug dump <data-dir> [--entries N]  identity, hard state, WAL entries, bitcask stats of a stopped member
  floe bench put|range|txn-put|watch [flags]  load generator after etcd's benchmark tool (--json, --help)
  floe maelstrom [--tick-ms 25]              a Maelstrom lin-kv node on stdin/stdout

See README.md.`;

if (["get", "put", "del", "txn", "watch", "lease"].includes(cmd)) {
  const { runClient } = await import("./client.ts");
  await runClient([cmd, ...rest]);
} else if (cmd === "snapshot") {
  const { runSnapshot } = await import("./snapshot.ts");
  await runSnapshot(rest);
} else if (cmd === "debug") {
  const { runDebug } = await import("./debug.ts");
  await runDebug(rest);
} else if (cmd === "start") {
  const { runStart } = await import("./start.ts");
  await runStart(rest);
} else if (cmd === "bench") {
  const { runBench } = await import("./bench.ts");
  await runBench(rest);
} else if (cmd === "maelstrom") {
  const { runMaelstromNode } = await import("../maelstrom/index.ts");
  runMaelstromNode(rest);
} else if (cmd === "help" || cmd === "--help" || cmd === "-h") {
  console.log(usage);
} else if (cmd === "dev") {
  const { runDev } = await import("./dev.ts");
  await runDev(rest);
} else {
  console.error(
    `floe: unknown command ${JSON.stringify(cmd)}${rest.length ? ` (args: ${rest.join(" ")})` : ""}\n\n${usage}`,
  );
  process.exitCode = 2;
}
