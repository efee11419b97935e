// A cluster of real `floe start` processes on loopback with free ports, for
// the cluster integration tests.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { newClient } from "../faults/member.ts";
import { poll } from "../faults/util.ts";
import { freePort, ROOT } from "../integration/floe-process.ts";

export interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  proc?: ChildProcess;
  log: string;
  endpoint: string;
}

/** Polls `f` until it returns a value (the fault harness's poll, with the deadline last). */
export function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  return poll(what, ms, f);
}

export class LocalCluster {
  readonly members: Member[] = [];
  private readonly root = mkdtempSync(join(tmpdir(), "floe-cluster-"));
  private readonly clients = new Map<string, Etcd3>();
  /**
   * For polling Status only: no retries and no circuit breaker. The etcd3
   * client's breaker opens after a few refused calls to a member still
   * starting (a slow machine) and then fails every call for seconds.
   */
  private readonly probes = new Map<string, Etcd3>();

  constructor(private readonly extraArgs: string[] = []) {}

  async addMember(name: string): Promise<Member> {
    const clientPort = await freePort();
    const peerPort = await freePort();
    const m: Member = {
      name,
      clientPort,
      peerPort,
      dataDir: join(this.root, name),
      log: "",
      endpoint: `127.0.0.1:${clientPort}`,
    };
    this.members.push(m);
    return m;
  }

  initialCluster(members = this.members): string {
    return members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(",");
  }

  start(m: Member, opts: { state?: "new" | "existing"; initialCluster?: string } = {}): void {
    const proc = spawn(
      process.execPath,
      [
        "bin/floe.js",
        "start",
        "--name",
        m.name,
        "--data-dir",
        m.dataDir,
        "--listen-client-urls",
        `http://127.0.0.1:${m.clientPort}`,
        "--listen-peer-urls",
        `http://127.0.0.1:${m.peerPort}`,
        "--initial-cluster",
        opts.initialCluster ?? this.initialCluster(),
        "--initial-cluster-state",
        opts.state ?? "new",
        "--heartbeat-interval",
        "50",
        "--election-timeout",
        "500",
        "--log-level",
        "info",
        ...this.extraArgs,
      ],
      { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] },
    );
    m.log = "";
    proc.stderr?.on("data", (d: Buffer) => {
      m.log = (m.log + d.toString()).slice(-200_000);
    });
    m.proc = proc;
  }

  async startAll(): Promise<void> {
    for (const m of this.members) this.start(m);
    await this.waitLeader();
  }

  client(m: Member): Etcd3 {
    let c = this.clients.get(m.name);
    if (!c) {
      c = new Etcd3({ hosts: [m.endpoint], dialTimeout: 2000 });
      this.clients.set(m.name, c);
    }
    return c;
  }

  private probe(m: Member): Etcd3 {
    let c = this.probes.get(m.name);
    if (!c) {
      c = newClient(m.endpoint);
      this.probes.set(m.name, c);
    }
    return c;
  }

  /** The member every running member agrees leads. */
  async waitLeader(among = this.running()): Promise<Member> {
    return until("a leader all running members agree on", async () => {
      const leaders = new Set<string>();
      for (const m of among) {
        const st = await this.probe(m).maintenance.status();
        if (st.leader === "0") return undefined;
        leaders.add(st.leader);
      }
      if (leaders.size !== 1) return undefined;
      const id = [...leaders][0];
      for (const m of among) {
        const st = await this.probe(m).maintenance.status();
        if (st.header.member_id === id) return m;
      }
      return undefined;
    });
  }

  running(): Member[] {
    return this.members.filter((m) => m.proc && m.proc.exitCode === null && m.proc.signalCode === null);
  }

  async kill(m: Member, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const p = m.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill(signal);
    await exited;
    for (const map of [this.clients, this.probes]) {
      map.get(m.name)?.close();
      map.delete(m.name);
    }
  }

  async close(): Promise<void> {
    for (const c of [...this.clients.values(), ...this.probes.values()]) c.close();
    this.clients.clear();
    this.probes.clear();
    for (const m of this.members) await this.kill(m);
  }

  logs(): string {
    return this.members.map((m) => `--- ${m.name}\n${m.log.slice(-4000)}`).join("\n");
  }
}
