// The faults a schedule is made of. Each one starts a fault and returns what
// ends it; faults aimed at the leader also start a failover probe, which
// measures the time from the fault to the first write acknowledged by the
// rest of the cluster.

import type { FaultCluster, Member } from "./cluster.ts";
import type { Prng } from "./prng.ts";
import { delay } from "./util.ts";

export type FaultKind =
  | "kill-leader"
  | "kill-follower"
  | "kill-majority"
  | "pause-leader"
  | "pause-follower"
  | "isolate-leader"
  | "stall-leader"
  | "stall-minority"
  | "split-minority"
  | "bridge"
  | "slow-network"
  | "membership-churn"
  | "move-leader";

export interface ScheduledFault {
  kind: FaultKind;
  /** How long the fault lasts before it is healed. */
  holdMs: number;
  /** Quiet time after healing, before the next fault. */
  gapMs: number;
}

export interface ScheduleOptions {
  kinds: readonly FaultKind[];
  steps: number;
  holdMs: [number, number];
  gapMs: [number, number];
  /** Use each kind once (in a seeded order) before repeating any: full coverage in few steps. */
  coverEachKind?: boolean;
}

export function makeSchedule(rng: Prng, o: ScheduleOptions): ScheduledFault[] {
  const kinds: FaultKind[] = [];
  while (kinds.length < o.steps) {
    if (o.coverEachKind) kinds.push(...rng.shuffle(o.kinds));
    else kinds.push(rng.pick(o.kinds));
  }
  return kinds.slice(0, o.steps).map((kind) => ({
    kind,
    holdMs: rng.int(o.holdMs[0], o.holdMs[1]),
    gapMs: rng.int(o.gapMs[0], o.gapMs[1]),
  }));
}

export function describeSchedule(s: readonly ScheduledFault[]): string {
  return s.map((f, i) => `${i + 1}. ${f.kind} hold=${f.holdMs}ms gap=${f.gapMs}ms`).join("; ");
}

export interface AppliedFault {
  /** A line for the run log: what was done to whom. */
  description: string;
  heal: () => Promise<void>;
  /** Set for faults that take the leader away: resolves with the failover time in ms. */
  failover?: Promise<number | undefined>;
}

/**
 * Sends a write every `everyMs` to each of `members` (each attempt with a
 * one-second deadline, several in flight) until one is acknowledged, and
 * answers the milliseconds since `since`; undefined if none succeeds in `deadlineMs`.
 */
export async function probeWrite(
  members: () => Member[],
  since: number,
  deadlineMs: number,
  everyMs = 50,
): Promise<number | undefined> {
  let done: number | undefined;
  let n = 0;
  const attempts: Promise<void>[] = [];
  while (done === undefined && Date.now() - since < deadlineMs) {
    for (const m of members()) {
      const key = Buffer.from(`probe/${since}/${n++}`);
      attempts.push(
        m.client.kv
          .put({ key, value: Buffer.from("p") }, { deadline: Date.now() + 1000 })
          .then(() => {
            done ??= Date.now() - since;
          })
          .catch(() => {}),
      );
    }
    await delay(everyMs);
  }
  await Promise.all(attempts);
  return done;
}

const FAILOVER_DEADLINE_MS = 30_000;

export async function applyFault(
  cluster: FaultCluster,
  rng: Prng,
  kind: FaultKind,
  log: (line: string) => void,
): Promise<AppliedFault> {
  const leaderInfo = await cluster.waitForLeader(15_000);
  const leader = leaderInfo.member;
  const followers = cluster.current().filter((m) => m !== leader && m.state === "running");
  const others = () => cluster.current().filter((m) => m !== leader && m.state === "running");
  const probe = () => probeWrite(others, Date.now(), FAILOVER_DEADLINE_MS);
  switch (kind) {
    case "kill-leader": {
      await cluster.kill(leader);
      return {
        description: `kill -9 leader ${leader.name}`,
        failover: probe(),
        heal: async () => cluster.restart(leader),
      };
    }
    case "kill-follower": {
      const f = rng.pick(followers);
      await cluster.kill(f);
      return { description: `kill -9 follower ${f.name}`, heal: async () => cluster.restart(f) };
    }
    case "kill-majority": {
      // The leader and enough followers that no quorum is left: nothing can commit until they restart.
      const victims = [leader, ...rng.shuffle(followers).slice(0, Math.floor(cluster.current().length / 2))];
      await Promise.all(victims.map((m) => cluster.kill(m)));
      return {
        description: `kill -9 a majority: ${victims.map((m) => m.name).join(",")} (leader ${leader.name})`,
        heal: async () => {
          for (const m of victims) cluster.restart(m);
        },
      };
    }
    case "pause-leader": {
      leader.pause();
      return {
        description: `SIGSTOP leader ${leader.name}`,
        failover: probe(),
        heal: async () => leader.resume(),
      };
    }
    case "pause-follower": {
      const f = rng.pick(followers);
      f.pause();
      return { description: `SIGSTOP follower ${f.name}`, heal: async () => f.resume() };
    }
    case "isolate-leader": {
      const rest = cluster.current().filter((m) => m !== leader);
      cluster.partition([[leader], rest]);
      return {
        description: `isolate leader ${leader.name} from ${rest.map((m) => m.name).join(",")}`,
        failover: probe(),
        heal: async () => cluster.healNetwork(),
      };
    }
    case "stall-leader": {
      // As isolate-leader, but connections stay open and go silent; the backlog arrives on healing.
      const rest = cluster.current().filter((m) => m !== leader);
      cluster.partition([[leader], rest], "stall");
      return {
        description: `silently drop traffic between leader ${leader.name} and ${rest.map((m) => m.name).join(",")}`,
        failover: probe(),
        heal: async () => cluster.healNetwork(),
      };
    }
    case "stall-minority": {
      const all = rng.shuffle(cluster.current());
      const minority = all.slice(0, Math.floor((all.length - 1) / 2));
      const majority = all.slice(minority.length);
      cluster.partition([minority, majority], "stall");
      const names = (ms: Member[]) => ms.map((m) => m.name).join(",");
      return {
        description: `silent partition minority {${names(minority)}} | majority {${names(majority)}} (leader was ${leader.name})`,
        heal: async () => cluster.healNetwork(),
      };
    }
    case "split-minority": {
      // A random minority (which may or may not hold the leader) against the majority.
      const all = rng.shuffle(cluster.current());
      const minority = all.slice(0, Math.floor((all.length - 1) / 2));
      const majority = all.slice(minority.length);
      cluster.partition([minority, majority]);
      const names = (ms: Member[]) => ms.map((m) => m.name).join(",");
      return {
        description: `partition minority {${names(minority)}} | majority {${names(majority)}} (leader was ${leader.name})`,
        heal: async () => cluster.healNetwork(),
      };
    }
    case "bridge": {
      // Two halves that cannot talk to each other, and one member that talks to both (Jepsen's bridge).
      const all = rng.shuffle(cluster.current());
      const half = Math.floor((all.length - 1) / 2);
      const a = all.slice(0, half);
      const b = all.slice(half, 2 * half);
      const bridgeNode = all[2 * half];
      const pairs: [Member, Member][] = [];
      for (const x of a) for (const y of b) pairs.push([x, y]);
      cluster.cut(pairs);
      const names = (ms: Member[]) => ms.map((m) => m.name).join(",");
      return {
        description: `bridge {${names(a)}} <-> ${bridgeNode.name} <-> {${names(b)}} (leader was ${leader.name})`,
        heal: async () => cluster.healNetwork(),
      };
    }
    case "slow-network": {
      const ms = rng.int(20, 120);
      cluster.slowAll(ms);
      return { description: `${ms} ms delay on every peer link`, heal: async () => cluster.healNetwork() };
    }
    case "move-leader": {
      const target = rng.pick(followers);
      await cluster.moveLeader(target);
      return { description: `move leader ${leader.name} -> ${target.name}`, heal: async () => {} };
    }
    case "membership-churn": {
      // Add a learner, promote it, then remove a random voter (possibly the leader): the size is kept.
      const added = await cluster.addLearner();
      log(`  added learner ${added.name} (${added.id64.toString(16)})`);
      await cluster.promote(added);
      log(`  promoted ${added.name}`);
      const victim = rng.pick(cluster.current().filter((m) => m !== added));
      const wasLeader = (await cluster.leader())?.member === victim;
      await cluster.remove(victim);
      log(`  removed ${victim.name}${wasLeader ? " (the leader)" : ""}`);
      return {
        description: `membership churn: +${added.name} (learner, promoted) -${victim.name}`,
        heal: async () => {},
      };
    }
  }
}
