// Starts a real `floe start` process on a free port for integration tests.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * A port that is free now, below Linux's ephemeral range (32768-60999): a port
 * the kernel hands out for listen(0) is also one it can hand to an outgoing
 * connection's source port before the member binds it (a member then fails
 * with EADDRINUSE; seen as a member that never came up in a loaded run).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (free) return port;
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
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "floe-it-"));
  const port = opts.port ?? (await freePort());
  const peerPort = opts.peerPort ?? (await freePort());
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
