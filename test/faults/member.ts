// One floe member process of a fault-injection cluster: its ports, data
// directory and command line, its clients, the tail of its stderr, and the
// process faults (kill, SIGSTOP / SIGCONT, restart) applied to it.

import { type ChildProcess, spawn } from "node:child_process";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Etcd3, type IOptions } from "etcd3";
import { Cluster, Maintenance } from "../../src/api/gen/etcdserverpb/rpc_pb.ts";
import { raftIdOf } from "../../src/server/member.ts";
import { ROOT } from "../integration/floe-process.ts";
import type { NetnsSlot } from "./netns.ts";

export type MemberState = "running" | "paused" | "killed" | "removed";

/** Keeps only the last `maxBytes` of a growing text, at a line boundary. */
class Tail {
  private text = "";
  constructor(private readonly maxBytes: number) {}
  push(s: string): void {
    this.text += s;
    if (this.text.length > 2 * this.maxBytes) {
      const cut = this.text.indexOf("\n", this.text.length - this.maxBytes);
      this.text = this.text.slice(cut < 0 ? this.text.length - this.maxBytes : cut + 1);
    }
  }
  lines(n: number): string[] {
    return this.text
      .split("\n")
      .filter((l) => l.length > 0)
      .slice(-n);
  }
}

/**
 * The etcd3 client retries recoverable errors on its own by default; a retried
 * cas whose first attempt applied would then report a failed compare, so the
 * harness sees every attempt's outcome itself. The connection pool only calls
 * `execute`.
 */
const noRetry = {
  execute: <T>(fn: (ctx: { signal: AbortSignal; attempt: number }) => PromiseLike<T> | T) =>
    Promise.resolve(fn({ signal: new AbortController().signal, attempt: 0 })),
} as unknown as NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>;

export function newClient(endpoint: string): Etcd3 {
  return new Etcd3({
    hosts: endpoint,
    faultHandling: { global: noRetry, host: () => noRetry },
    // A restarted member should be reachable again within a second, not after grpc's 2-minute backoff.
    grpcOptions: {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1000,
    },
  });
}

export class Member {
  state: MemberState = "killed";
  proc: ChildProcess | undefined;
  /** The etcd3 client, for KV traffic. */
  readonly client: Etcd3;
  /** floe's own generated gRPC clients, for the admin calls the etcd3 client lacks (HashKV). */
  readonly maint: Client<typeof Maintenance>;
  readonly cluster: Client<typeof Cluster>;
  readonly stderr = new Tail(256 * 1024);
  /** Exits we did not cause (not SIGKILL from us, not a removal): each is a finding. */
  readonly unexpectedExits: string[] = [];
  starts = 0;
  snapshotsRestored = 0;
  private expectExit = false;

  /** The raft id peers know it by (the proxy's rules use it): the low 53 bits of id64. */
  readonly id: number;

  constructor(
    readonly name: string,
    /** The 64-bit id clients know it by (member list, Status.leader). */
    readonly id64: bigint,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly advertisePort: number,
    readonly dataDir: string,
    readonly args: string[],
    /** Set when the member runs in its own network namespace (netns.ts) at this address. */
    readonly net?: NetnsSlot,
  ) {
    this.id = raftIdOf(id64);
    this.client = newClient(this.endpoint);
    const transport = createGrpcTransport({ baseUrl: this.endpoint });
    this.maint = createClient(Maintenance, transport);
    this.cluster = createClient(Cluster, transport);
  }

  get host(): string {
    return this.net?.host ?? "127.0.0.1";
  }

  get endpoint(): string {
    return `http://${this.host}:${this.clientPort}`;
  }

  get peerUrl(): string {
    return `http://${this.host}:${this.advertisePort}`;
  }

  spawn(): void {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      throw new Error(`${this.name} is already running (pid ${this.proc.pid})`);
    }
    this.starts++;
    this.stderr.push(`--- harness: start #${this.starts} of ${this.name} at ${new Date().toISOString()}\n`);
    const command = [process.execPath, "bin/floe.js", "start", ...this.args];
    // `ip netns exec` execs the command: the pid (for kill and SIGSTOP) is the member's
    if (this.net) command.unshift("ip", "netns", "exec", this.net.ns);
    const proc = spawn(command[0] as string, command.slice(1), {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.proc = proc;
    this.expectExit = false;
    this.state = "running";
    proc.stderr?.on("data", (d: Buffer) => {
      const text = d.toString();
      this.stderr.push(text);
      // Logged at info level only: a count of snapshots this member installed from a leader.
      this.snapshotsRestored += text.split('"msg":"snapshot-restored"').length - 1;
    });
    proc.once("exit", (code, signal) => {
      this.stderr.push(`--- harness: ${this.name} exited code=${code} signal=${signal}\n`);
      if (this.proc !== proc) return;
      if (!this.expectExit) {
        this.unexpectedExits.push(`${this.name} exited on its own (code ${code}, signal ${signal})`);
      }
      if (this.state !== "removed") this.state = "killed";
    });
  }

  /** kill -9 (or another signal) and wait until the process is gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) {
      this.state = this.state === "removed" ? "removed" : "killed";
      return;
    }
    this.expectExit = true;
    const gone = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill(signal);
    if (this.state === "paused" && signal !== "SIGKILL") proc.kill("SIGCONT");
    await gone;
    if (this.state !== "removed") this.state = "killed";
  }

  pause(): void {
    if (this.state !== "running") throw new Error(`cannot pause ${this.name}: it is ${this.state}`);
    this.proc?.kill("SIGSTOP");
    this.state = "paused";
  }

  resume(): void {
    if (this.state !== "paused") return;
    this.proc?.kill("SIGCONT");
    this.state = "running";
  }

  /** The member is being removed: its process stops on its own once it applies its removal. */
  expectLeave(): void {
    this.expectExit = true;
  }

  markRemoved(): void {
    this.expectExit = true;
    this.state = "removed";
  }

  /** Synchronous last resort for process exit handlers. */
  killNow(): void {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.expectExit = true;
      this.proc.kill("SIGKILL");
    }
  }
}
