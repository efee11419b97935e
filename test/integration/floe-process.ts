// Starts a real `floe start` process on a free port for integration tests.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Linux's range for outgoing connections' source ports (32768-60999 by default). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

/** Ports this process handed out: two calls in a row must not return the same unbound port. */
const handedOut = new Set<number>();

/**
 * A port that is free now, outside the kernel's ephemeral range: a port the
 * kernel hands out for listen(0) is also one it can hand to an outgoing
 * connection's source port before the member binds it (a member then fails
 * with EADDRINUSE; seen as a member that never came up in a loaded run).
 * Another test file may still bind it first; startFloe retries on that.
 */
export async function freePort(): Promise<number> {
  const [lo, hi] = ephemeralRange();
  // the wider of the spaces below and above the ephemeral range
  const [from, to] = lo - 10_000 >= 65_535 - hi ? [10_000, lo - 1] : [hi + 1, 65_535];
  for (;;) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) {
      handedOut.add(port);
      return port;
    }
  }
}

export interface FloeProcess {
  proc: ChildProcess;
  port: number;
  peerPort: number;
  endpoint: string;
  dataDir: string;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startFloe(
  opts: {
    dataDir?: string;
    port?: number;
    peerPort?: number;
    args?: string[];
    /** Polled until it answers 200: /health by default; /version for a member that may start unhealthy (an alarm). */
    readyPath?: string;
  } = {},
): Promise<FloeProcess> {
  // freePort() finds a port that was free a moment ago; another test file
  // running in parallel can bind it first. Ports chosen here are chosen again.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const peerPort = opts.peerPort ?? (await freePort());
    const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "floe-it-"));
    try {
      return await spawnFloe(opts, dataDir, port, peerPort);
    } catch (e) {
      const ours = opts.port === undefined && opts.peerPort === undefined;
      if (!ours || attempt >= 3 || !/EADDRINUSE/.test(String(e))) throw e;
    }
  }
}

async function spawnFloe(
  opts: { args?: string[]; readyPath?: string },
  dataDir: string,
  port: number,
  peerPort: number,
): Promise<FloeProcess> {
  const proc = spawn(
    process.execPath,
    [
      "bin/floe.js",
      "start",
      "--name",
      "it",
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      `http://127.0.0.1:${port}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      "--heartbeat-interval",
      "50",
      "--election-timeout",
      "500",
      "--log-level",
      "warn",
      ...(opts.args ?? []),
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let err = "";
  proc.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + 15_000;
  // Poll until the member serves.
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`floe exited with ${proc.exitCode}: ${err}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}${opts.readyPath ?? "/health"}`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`floe did not become healthy: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc,
    port,
    peerPort,
    endpoint: `http://127.0.0.1:${port}`,
    dataDir,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
  };
}

/** Runs `floe <args>` from the checkout and returns its stdout (throws on a non-zero exit). */
export function floeCli(...args: string[]): string {
  return execFileSync(process.execPath, ["bin/floe.js", ...args], { cwd: ROOT, encoding: "utf8" });
}

/** `floe snapshot restore <file>` into a new data dir for a member named "it"; returns its output. */
export function restoreSnapshotCli(file: string, dataDir: string, peerPort: number): string {
  return floeCli(
    "snapshot",
    "restore",
    file,
    "--data-dir",
    dataDir,
    "--name",
    "it",
    "--initial-advertise-peer-urls",
    `http://127.0.0.1:${peerPort}`,
  );
}
