/**
 * One node process: spawned in its own process group (so `npx ...` or
 * `sh -c ...` wrappers die with it), stdout read as lines, stderr copied to a
 * log file and optionally forwarded. Exits are reported unless the runner
 * asked for them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { resolveCommand } from "./command.ts";

export interface NodeProcessOptions {
  id: string;
  command: string;
  extraArgs: string[];
  /** File receiving the node's stderr. */
  logFile: string;
  onStdoutLine(line: string): void;
  onStderrLine?(line: string): void;
  /** The process ended (or never started) without being stopped. */
  onUnexpectedExit(description: string): void;
}

/** Process groups still running, killed if the runner itself exits. */
const live = new Set<NodeProcess>();

/** Kills every node process still running; safe to call from an `exit` handler. */
export function killAllNodeProcesses(): void {
  for (const p of live) p.kill("SIGKILL");
}

export class NodeProcess {
  readonly id: string;
  private readonly child: ChildProcess;
  private readonly log: WriteStream;
  private stopping = false;
  private exited = false;
  private readonly exitedPromise: Promise<void>;
  private readonly recentStderr: string[] = [];

  constructor(opts: NodeProcessOptions) {
    this.id = opts.id;
    const { file, args } = resolveCommand(opts.command, opts.extraArgs);
    this.log = createWriteStream(opts.logFile);
    this.child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
    live.add(this);
    let resolveExited: () => void;
    this.exitedPromise = new Promise((r) => (resolveExited = r));
    const finish = (description: string) => {
      if (this.exited) return;
      this.exited = true;
      live.delete(this);
      resolveExited();
      if (!this.stopping) {
        const tail =
          this.recentStderr.length > 0 ? `; last stderr lines:\n  ${this.recentStderr.join("\n  ")}` : "";
        opts.onUnexpectedExit(`${description}${tail}`);
      }
    };
    this.child.on("error", (err) =>
      finish(`could not be started with ${JSON.stringify(opts.command)}: ${err.message}`),
    );
    this.child.on("exit", (code, signal) =>
      finish(
        `${signal ? `died of signal ${signal}` : `exited with code ${code}`} while the test was running`,
      ),
    );
    // Writes to a dead process fail with EPIPE; the exit handler reports the death.
    this.child.stdin!.on("error", () => {});
    createInterface({ input: this.child.stdout!, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
      if (!this.stopping) opts.onStdoutLine(line);
    });
    createInterface({ input: this.child.stderr!, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
      this.log.write(`${line}\n`);
      this.recentStderr.push(line.length > 300 ? `${line.slice(0, 300)}...` : line);
      if (this.recentStderr.length > 5) this.recentStderr.shift();
      opts.onStderrLine?.(line);
    });
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Writes one line to the node's stdin. */
  send(line: string): void {
    if (this.exited || this.stopping) return;
    this.child.stdin!.write(`${line}\n`);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exited || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** Closes stdin, then SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 1000): Promise<void> {
    this.stopping = true;
    if (!this.exited) {
      this.child.stdin!.end();
      this.kill("SIGTERM");
      const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
      await this.exitedPromise;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.log.end(resolve));
  }
}
