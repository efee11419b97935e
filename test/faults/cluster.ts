// A cluster of real `floe start` processes with a fault-injecting proxy in
// front of every member's peer port, and the faults a harness applies to it:
// kill -9 and restart, SIGSTOP / SIGCONT, directed partitions, link delay,
// and membership changes through the etcd Cluster API.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hexId, memberId64 } from "../../src/server/member.ts";
import { freePort } from "../integration/floe-process.ts";
import { Member } from "./member.ts";
import { NetnsNetwork, type NetnsSlot } from "./netns.ts";
import { type BlockMode, LinkRules, PeerProxy } from "./proxy.ts";
import { delay, poll } from "./util.ts";

export { Member, type MemberState, newClient } from "./member.ts";

export interface ClusterOptions {
  size: number;
  heartbeatMs?: number;
  electionMs?: number;
  /** Small values make restarted and added members catch up from a snapshot. */
  snapshotCount?: number;
  label?: string;
  /** "info" logs every role change and snapshot install (and makes stderr tails noisier). */
  logLevel?: "warn" | "info";
  /**
   * "proxy" (default): members on 127.0.0.1, each peer link through a
   * fault-injecting TCP proxy. "netns": each member in its own network
   * namespace (root only, netns.ts); network faults isolate whole members.
   */
  network?: "proxy" | "netns";
}

export interface LeaderInfo {
  member: Member;
  term: number;
}

const TOKEN = "floe-cluster";

interface Slot {
  name: string;
  clientPort: number;
  peerPort: number;
  /** Where peers reach the member: its proxy's port, or its own peer port in a namespace. */
  advertisePort: number;
  net?: NetnsSlot;
}

const advertised = (s: Slot): string => `http://${s.net?.host ?? "127.0.0.1"}:${s.advertisePort}`;

export class FaultCluster {
  readonly rules = new LinkRules();
  readonly members: Member[] = [];
  readonly proxies = new Map<string, PeerProxy>();
  /** Set in "netns" mode. */
  readonly netns: NetnsNetwork | undefined;
  readonly baseDir: string;
  private nextOrdinal = 1;
  private readonly onExit = () => {
    for (const m of this.members) m.killNow();
  };

  constructor(readonly opts: ClusterOptions) {
    this.baseDir = mkdtempSync(join(tmpdir(), `floe-faults-${opts.label ?? "run"}-`));
    this.netns = opts.network === "netns" ? new NetnsNetwork() : undefined;
    process.on("exit", this.onExit);
  }

  private commonArgs(): string[] {
    return [
      "--heartbeat-interval",
      String(this.opts.heartbeatMs ?? 50),
      "--election-timeout",
      String(this.opts.electionMs ?? 500),
      "--snapshot-count",
      String(this.opts.snapshotCount ?? 100_000),
      "--log-level",
      this.opts.logLevel ?? "warn",
    ];
  }

  private async allocate(): Promise<Slot> {
    const name = `n${this.nextOrdinal++}`;
    // in its own namespace a member has the usual ports to itself, and no proxy
    if (this.netns)
      return { name, clientPort: 2379, peerPort: 2380, advertisePort: 2380, net: this.netns.add() };
    return {
      name,
      clientPort: await freePort(),
      peerPort: await freePort(),
      advertisePort: await freePort(),
    };
  }

  private async addProxy(m: Member): Promise<void> {
    if (this.netns) return;
    const p = new PeerProxy(m.id, m.advertisePort, m.peerPort, this.rules);
    await p.listen();
    this.proxies.set(m.name, p);
  }

  /** Starts `size` members of a new cluster and waits until one of them leads. */
  async start(): Promise<void> {
    // freePort() only finds a port that was free a moment ago; on a machine
    // shared with other test runs another process can take it first, and the
    // member or proxy that cannot bind fails the start. Retry on fresh ports.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnce();
        return;
      } catch (e) {
        const text = `${(e as Error).message}\n${this.members.map((m) => m.stderr.lines(50).join("\n")).join("\n")}`;
        if (!/EADDRINUSE/.test(text) || attempt >= 3) throw e;
        console.log(`[cluster] start attempt ${attempt} met a port already in use; retrying on fresh ports`);
        await this.discardMembers();
      }
    }
  }

  private async discardMembers(): Promise<void> {
    await Promise.all(this.members.map((m) => m.kill()));
    for (const m of this.members) {
      m.client.close();
      rmSync(m.dataDir, { recursive: true, force: true });
    }
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    this.proxies.clear();
    this.members.length = 0;
    this.nextOrdinal = 1;
  }

  private async startOnce(): Promise<void> {
    const slots = [];
    for (let i = 0; i < this.opts.size; i++) slots.push(await this.allocate());
    const initialCluster = slots.map((s) => `${s.name}=${advertised(s)}`).join(",");
    for (const s of slots) {
      const dataDir = join(this.baseDir, s.name);
      mkdirSync(dataDir, { recursive: true });
      const peerUrl = advertised(s);
      const m = new Member(
        s.name,
        memberId64([peerUrl], TOKEN),
        s.clientPort,
        s.peerPort,
        s.advertisePort,
        dataDir,
        [...this.memberArgs(s, dataDir), "--initial-cluster", initialCluster, ...this.commonArgs()],
        s.net,
      );
      await this.addProxy(m);
      this.members.push(m);
    }
    // All processes first: a member serves only once a quorum has elected a leader.
    for (const m of this.members) m.spawn();
    await poll("every new member to follow one leader", 30_000, async () => {
      const exits = this.unexpectedExits();
      if (exits.length > 0) {
        // Not retried by poll: a member that died at start is reported at once, with its reason.
        return { failed: `${exits.join("; ")}\n${this.tails(15)}` };
      }
      const l = await this.waitHealthy(1000).catch(() => undefined);
      return l ? { failed: undefined } : undefined;
    }).then((r) => {
      if (r.failed !== undefined) throw new Error(`cluster start failed: ${r.failed}`);
    });
    const list = await poll("the member list", 10_000, async () => {
      const r = await this.members[0].cluster.memberList({}, { timeoutMs: 1000 });
      return r.members.length === this.members.length ? r.members : undefined;
    });
    for (const m of this.members) {
      const listed = list.find((x) => x.peerURLs.includes(m.peerUrl));
      if (!listed || listed.ID !== m.id64) {
        throw new Error(`member id of ${m.name} is ${listed?.ID}, the harness computed ${m.id64}`);
      }
    }
  }

  private memberArgs(s: Slot, dataDir: string) {
    const host = s.net?.host ?? "127.0.0.1";
    return [
      "--name",
      s.name,
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      `http://${host}:${s.clientPort}`,
      "--listen-peer-urls",
      `http://${host}:${s.peerPort}`,
      "--initial-advertise-peer-urls",
      advertised(s),
    ];
  }

  member(name: string): Member {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  /** Members that belong to the cluster (not removed), whatever their process state. */
  current(): Member[] {
    return this.members.filter((m) => m.state !== "removed");
  }

  running(): Member[] {
    return this.members.filter((m) => m.state === "running");
  }

  /**
   * The leader as the running members report it: a member that says it leads
   * itself. During a partition an old leader may still believe it leads; the
   * highest term wins.
   */
  async leader(): Promise<LeaderInfo | undefined> {
    const found = await Promise.all(
      this.running().map(async (m) => {
        try {
          const st = await m.maint.status({}, { timeoutMs: 500 });
          if (st.leader === m.id64) return { member: m, term: Number(st.raftTerm) };
        } catch {
          // unreachable or paused: not a leader we can use
        }
        return undefined;
      }),
    );
    let best: LeaderInfo | undefined;
    for (const f of found) if (f && (!best || f.term > best.term)) best = f;
    return best;
  }

  async waitForLeader(deadlineMs: number, exclude?: Member): Promise<LeaderInfo> {
    return poll("a leader", deadlineMs, async () => {
      const l = await this.leader();
      return l && l.member !== exclude ? l : undefined;
    });
  }

  /** Waits until every current member runs and all of them name the same leader, one of them. */
  async waitHealthy(deadlineMs: number): Promise<Member> {
    return poll(
      "every member to follow one leader",
      deadlineMs,
      async () => {
        const members = this.current();
        if (members.some((m) => m.state !== "running")) return undefined;
        const leaders = await Promise.all(
          members.map((m) => m.maint.status({}, { timeoutMs: 500 }).then((st) => st.leader)),
        );
        const l = this.members.find((m) => m.id64 === leaders[0]);
        return l && members.includes(l) && leaders.every((x) => x === leaders[0]) ? l : undefined;
      },
      100,
    );
  }

  // ---- process faults

  async kill(m: Member): Promise<void> {
    await m.kill("SIGKILL");
  }

  restart(m: Member): void {
    if (m.state === "removed") throw new Error(`${m.name} was removed; it cannot restart`);
    if (m.state === "paused") m.resume();
    if (m.state === "running") return;
    m.spawn();
  }

  // ---- network faults (directed, at the receiving member's proxy)

  /**
   * Cuts every link between members of different groups, both directions.
   * With namespaces every member outside the largest group is cut off from
   * everyone (its veth down), and the cut is always silent.
   */
  partition(groups: Member[][], mode: BlockMode = "refuse"): void {
    if (this.netns) {
      const largest = groups.reduce((a, b) => (b.length > a.length ? b : a));
      for (const g of groups)
        if (g !== largest) for (const m of g) this.netns.isolate((m.net as NetnsSlot).ns);
      return;
    }
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.rules.block(x.id, y.id, mode);
      }
    }
  }

  /** Cuts the links between the given pairs only (both directions): a bridge or a ring. */
  cut(pairs: [Member, Member][], mode: BlockMode = "refuse"): void {
    if (this.netns)
      throw new Error("netns mode cuts whole members only (no iptables here): use the proxy for a bridge");
    for (const [x, y] of pairs) {
      this.rules.block(x.id, y.id, mode);
      this.rules.block(y.id, x.id, mode);
    }
  }

  /** Adds `ms` of latency to every link. */
  slowAll(ms: number): void {
    if (this.netns)
      throw new Error("netns mode cannot delay links (this kernel has no netem): use the proxy");
    for (const a of this.members)
      for (const b of this.members) if (a !== b) this.rules.setDelay(a.id, b.id, ms);
  }

  healNetwork(): void {
    this.rules.healAll();
    this.netns?.heal();
  }

  /** Ends every fault: network rules cleared, paused members resumed, killed members restarted. */
  healAll(): void {
    this.healNetwork();
    for (const m of this.members) {
      if (m.state === "paused") m.resume();
      else if (m.state === "killed") m.spawn();
    }
  }

  // ---- membership

  /** Adds a learner through the Cluster API and starts its process to join the existing cluster. */
  async addLearner(): Promise<Member> {
    const s = await this.allocate();
    const peerUrl = advertised(s);
    const added = await poll(
      `member add ${s.name}`,
      20_000,
      async () => {
        const l = await this.waitForLeader(10_000);
        const r = await l.member.cluster.memberAdd(
          { peerURLs: [peerUrl], isLearner: true },
          { timeoutMs: 5000 },
        );
        return r.member;
      },
      200,
    );
    const dataDir = join(this.baseDir, s.name);
    mkdirSync(dataDir, { recursive: true });
    const everyone = [...this.current().map((m) => `${m.name}=${m.peerUrl}`), `${s.name}=${peerUrl}`].join(
      ",",
    );
    const m = new Member(
      s.name,
      added.ID,
      s.clientPort,
      s.peerPort,
      s.advertisePort,
      dataDir,
      [
        ...this.memberArgs(s, dataDir),
        "--initial-cluster",
        everyone,
        "--initial-cluster-state",
        "existing",
        ...this.commonArgs(),
      ],
      s.net,
    );
    await this.addProxy(m);
    this.members.push(m);
    m.spawn();
    return m;
  }

  /** Promotes a learner, retrying while the leader says it has not caught up. */
  async promote(m: Member, deadlineMs = 30_000): Promise<void> {
    await poll(
      `promotion of ${m.name}`,
      deadlineMs,
      async () => {
        const l = await this.waitForLeader(10_000);
        await l.member.cluster.memberPromote({ ID: m.id64 }, { timeoutMs: 5000 });
        return true;
      },
      200,
    );
  }

  /** Removes a member through the Cluster API; its process exits by itself once it learns of it. */
  async remove(m: Member, deadlineMs = 30_000): Promise<void> {
    m.expectLeave();
    await poll(
      `removal of ${m.name}`,
      deadlineMs,
      async () => {
        const l = await this.waitForLeader(10_000);
        const via = l.member === m ? (this.running().find((x) => x !== m) ?? l.member) : l.member;
        try {
          await via.cluster.memberRemove({ ID: m.id64 }, { timeoutMs: 5000 });
        } catch (e) {
          // A retry after an unknown outcome finds the member already gone.
          if (!/member not found/.test((e as Error).message)) throw e;
        }
        return true;
      },
      200,
    );
    m.markRemoved();
    // It may miss the entry that removes it (it is cut off from the log): stop it ourselves if so.
    const exited = await poll(`${m.name} to stop after its removal`, 5000, async () =>
      m.proc?.exitCode !== null || m.proc?.signalCode !== null ? true : undefined,
    ).catch(() => false);
    if (!exited) await m.kill();
    await this.proxies.get(m.name)?.close();
    this.proxies.delete(m.name);
  }

  /** Transfers leadership to `target` (MoveLeader must be sent to the leader). */
  async moveLeader(target: Member, deadlineMs = 20_000): Promise<void> {
    await poll(
      `leadership moved to ${target.name}`,
      deadlineMs,
      async () => {
        const l = await this.waitForLeader(10_000);
        if (l.member === target) return true;
        await l.member.maint.moveLeader({ targetID: target.id64 }, { timeoutMs: 5000 });
        return true;
      },
      200,
    );
  }

  // ---- checks

  /**
   * Waits until every current member runs, reports the same revision and the
   * same HashKV over it: the replicas hold identical data.
   */
  async converge(deadlineMs: number): Promise<{ revision: number; hash: string; elapsedMs: number }> {
    const start = Date.now();
    let lastSeen = "";
    try {
      return await poll(
        "members to converge",
        deadlineMs,
        async () => {
          const members = this.current();
          const seen = await Promise.all(
            members.map(async (m) => {
              const h = await m.maint.hashKV({ revision: 0n }, { timeoutMs: 2000 });
              return { name: m.name, revision: Number(h.header?.revision ?? -1), hash: String(h.hash) };
            }),
          );
          lastSeen = seen.map((s) => `${s.name}@${s.revision}=${s.hash}`).join(" ");
          const first = seen[0];
          if (seen.every((s) => s.revision === first.revision && s.hash === first.hash)) {
            return { revision: first.revision, hash: first.hash, elapsedMs: Date.now() - start };
          }
          return undefined;
        },
        200,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}; last HashKV answers: ${lastSeen || "none"}`);
    }
  }

  /** The last lines of every member's stderr, for a failure report. */
  tails(lines = 30): string {
    return this.members
      .map(
        (m) =>
          `----- ${m.name} (${hexId(m.id64)}, ${m.state}) stderr, last ${lines} lines:\n${m.stderr.lines(lines).join("\n")}`,
      )
      .join("\n");
  }

  unexpectedExits(): string[] {
    return this.members.flatMap((m) => m.unexpectedExits);
  }

  /** Stops every process and proxy; the data directories are kept when `keepData` (a failed run). */
  async close(keepData: boolean): Promise<void> {
    for (const m of this.members) {
      if (m.state === "paused") m.resume();
    }
    await Promise.all(this.members.map((m) => m.kill()));
    for (const m of this.members) m.client.close();
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    this.proxies.clear();
    this.netns?.teardownNow();
    process.off("exit", this.onExit);
    if (!keepData) {
      // A just-killed process may still be flushing; give rm a few tries.
      for (let i = 0; i < 5; i++) {
        try {
          rmSync(this.baseDir, { recursive: true, force: true });
          break;
        } catch {
          await delay(100);
        }
      }
    }
  }
}
