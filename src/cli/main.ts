// The `floe` command. Today it offers what exists (the simulator and the
// checker); `floe dev` (npm start) will start a local 3-member cluster once the
// server lands.

const [cmd = "help", ...rest] = process.argv.slice(2);

const usage = `floe: a Raft-replicated key-value store (work in progress)

Available now:
  npm test                                  type-check, lint, all tests
  npm run sim -- --seed 1234 [--nodes 5]    replay one deterministic simulated cluster run
  npm run sim -- --seeds 2000 [--nodes 5]   simulator soak
  npm run check -- <history files>          linearizability checker

  floe start [--config floe.yaml] [flags]     a single-member server speaking the etcd v3 API
  floe put|get|del|watch|lease ... [--endpoints host:port]   etcd v3 client verbs
  floe snapshot status|restore <file> ...     verify a saved snapshot; build a new one-member data dir from it
  floe debug dump <data-dir> [--entries N]  identity, hard state, WAL entries, bitcask stats of a stopped member
  floe maelstrom [--tick-ms 25]              a Maelstrom lin-kv node on stdin/stdout

Not yet available: multi-member clusters ("floe dev", "npm start"), txn verb.
See README.md.`;

if (["get", "put", "del", "watch", "lease"].includes(cmd)) {
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
} else if (cmd === "maelstrom") {
  const { runMaelstromNode } = await import("../maelstrom/main.ts");
  runMaelstromNode(rest);
} else if (cmd === "help" || cmd === "--help" || cmd === "-h") {
  console.log(usage);
} else if (cmd === "dev") {
  console.log(usage);
  console.log("\n'floe dev' needs the server, which is not built yet; nothing was started.");
} else {
  console.error(
    `floe: unknown command ${JSON.stringify(cmd)}${rest.length ? ` (args: ${rest.join(" ")})` : ""}\n\n${usage}`,
  );
  process.exitCode = 2;
}
