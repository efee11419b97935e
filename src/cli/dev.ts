// `floe dev` (npm start): a local 3-member cluster as three `floe start`
// processes on 127.0.0.1, with etcd's development ports (clients 2379, 22379,
// 32379; peers 12380, 22380, 32380) and data under ./.floe-dev/. Member logs
// are streamed with a name prefix; Ctrl-C stops all three cleanly. Starting it
// again reuses the data.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { nodeFlagsOf } from "./node-flags.ts";

// The package root, from src/cli/ (tsx) and dist/cli/ (compiled) alike. The
// members run bin/floe.js, i.e. the compiled code in dist/, never tsx.
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "bin", "floe.js");

interface DevMember {
  name: string;
  clientPort: number;
  peerPort: number;
}

function members(clientPorts: number[], peerPorts: number[]): DevMember[] {
  return clientPorts.map((clientPort, i) => ({
    name: `n${i + 1}`,
    clientPort,
    peerPort: peerPorts[i] as number,
  }));
}

function ports(flag: string, v: string): number[] {
  const list = v.split(",").map((p) => Number(p.trim()));
  if (list.length !== 3 || list.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new Error(`${flag} takes three ports, got ${JSON.stringify(v)}`);
  }
  return list;
}

const COLORS = ["\x1b[36m", "\x1b[35m", "\x1b[33m"];
const RESET = "\x1b[0m";
const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once("error", () => done(false));
    s.listen(port, "127.0.0.1", () => s.close(() => done(true)));
  });
}

/** One pino JSON line as `HH:MM:SS LEVEL msg k=v ...`; anything else unchanged. */
export function formatLogLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof rec !== "object" || rec === null || !("msg" in rec)) return line;
  const { level, time, msg, pid: _pid, hostname: _host, ...rest } = rec;
  const t = typeof time === "number" ? new Date(time).toISOString().slice(11, 19) : "";
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${t} ${(LEVELS[level as number] ?? String(level)).padEnd(5)} ${String(msg)} ${fields}`.trimEnd();
}

async function healthy(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    return r.ok;
  } catch {
    return false;
  }
}

export async function runDev(argv: string[]): Promise<void> {
  const cmd = new Command("floe dev")
    .description("start a local 3-member floe cluster (clients on 2379, 22379, 32379)")
    .option("--data-dir <dir>", "where the members keep their data", ".floe-dev")
    .option("--log-level <level>", "member log level (debug, info, warn, error)", "info")
    .option("--snapshot-count <n>", "applied entries between Raft snapshots", "100000")
    .option("--client-ports <a,b,c>", "client ports of the three members", "2379,22379,32379")
    .option("--peer-ports <a,b,c>", "peer ports of the three members", "12380,22380,32380")
    .allowExcessArguments(false);
  cmd.parse(argv, { from: "user" });
  const opts = cmd.opts<{
    dataDir: string;
    logLevel: string;
    snapshotCount: string;
    clientPorts: string;
    peerPorts: string;
  }>();
  const dataDir = resolve(opts.dataDir);
  let MEMBERS: DevMember[];
  try {
    MEMBERS = members(ports("--client-ports", opts.clientPorts), ports("--peer-ports", opts.peerPorts));
  } catch (e) {
    process.stderr.write(`floe dev: ${(e as Error).message}\n`);
    process.exit(2);
  }

  const busy: number[] = [];
  for (const m of MEMBERS) {
    for (const p of [m.clientPort, m.peerPort]) if (!(await portFree(p))) busy.push(p);
  }
  if (busy.length > 0) {
    process.stderr.write(
      `floe dev: port(s) ${busy.join(", ")} on 127.0.0.1 are in use (another floe dev or etcd?); stop it first\n`,
    );
    process.exit(1);
  }

  const initialCluster = MEMBERS.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(",");
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stopAll = (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("\nfloe dev: stopping the members...\n");
    for (const c of children.values()) if (c.exitCode === null) c.kill("SIGTERM");
    const force = setTimeout(() => {
      for (const c of children.values()) if (c.exitCode === null) c.kill("SIGKILL");
    }, 5000);
    force.unref();
    void Promise.all(
      [...children.values()].map((c) =>
        c.exitCode !== null ? undefined : new Promise((r) => c.once("exit", r)),
      ),
    ).then(() => {
      process.stdout.write("floe dev: all members stopped; data kept in " + dataDir + "\n");
      process.exit(code);
    });
  };

  const nodeFlags = nodeFlagsOf(BIN);
  MEMBERS.forEach((m, i) => {
    const dir = join(dataDir, m.name);
    mkdirSync(dir, { recursive: true });
    const child = spawn(
      process.execPath,
      [
        ...nodeFlags,
        BIN,
        "start",
        "--name",
        m.name,
        "--data-dir",
        dir,
        "--listen-client-urls",
        `http://127.0.0.1:${m.clientPort}`,
        "--listen-peer-urls",
        `http://127.0.0.1:${m.peerPort}`,
        "--initial-cluster",
        initialCluster,
        "--snapshot-count",
        opts.snapshotCount,
        "--log-level",
        opts.logLevel,
      ],
      // Own process group: a terminal's Ctrl-C reaches only this parent, which
      // then stops the members in order (SIGTERM, then SIGKILL after 5 s).
      { cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    children.set(m.name, child);
    const color = process.stdout.isTTY ? COLORS[i % COLORS.length] : "";
    const reset = process.stdout.isTTY ? RESET : "";
    const prefix = `${color}${m.name.padEnd(3)}|${reset} `;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) => {
        process.stdout.write(`${prefix}${formatLogLine(line)}\n`);
      });
    }
    child.once("exit", (code, signal) => {
      if (stopping) return;
      process.stdout.write(`${prefix}exited (${signal ?? `code ${code}`}); the other members keep running\n`);
      if ([...children.values()].every((c) => c.exitCode !== null || c.signalCode !== null)) stopAll(1);
    });
  });
  process.once("exit", () => {
    for (const c of children.values()) if (c.exitCode === null) c.kill("SIGKILL");
  });
  process.once("SIGINT", () => stopAll(0));
  process.once("SIGTERM", () => stopAll(0));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (stopping) return;
    const ok = await Promise.all(MEMBERS.map((m) => healthy(m.clientPort)));
    if (ok.every(Boolean)) break;
    if (Date.now() > deadline) {
      process.stdout.write("floe dev: the cluster has no leader after 30 s; see the member logs above\n");
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const endpoints = MEMBERS.map((m) => `127.0.0.1:${m.clientPort}`).join(",");
  process.stdout.write(
    [
      "",
      "  floe dev cluster is up (3 members, data in " + dataDir + ")",
      "",
      ...MEMBERS.map(
        (m) => `    ${m.name}  client http://127.0.0.1:${m.clientPort}   peer http://127.0.0.1:${m.peerPort}`,
      ),
      "",
      `  dashboard: http://127.0.0.1:${MEMBERS[0]?.clientPort}/ui/ (any member's client URL + /ui/)`,
      "",
      "  try:",
      `    etcdctl --endpoints=${endpoints} endpoint status -w table`,
      `    etcdctl --endpoints=${endpoints} put hello world`,
      `    npx floe get hello --endpoints 127.0.0.1:2379`,
      "",
      "  Ctrl-C stops all three members; the data is kept for the next start.",
      "",
    ].join("\n") + "\n",
  );
}
