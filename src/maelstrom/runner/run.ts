/**
 * One test run: start the nodes and initialise them, let the clients work
 * for the time limit while the nemesis partitions the network, heal, wait,
 * read back the last keys from every node, stop the nodes, and check the
 * history. Any protocol violation by a node stops the run early and fails it.
 * Wall-clock time and real timers drive it; every random choice comes from
 * generators seeded from `seed`.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  type CheckResult,
  checkOperations,
  formatViolation,
  type LinKvInput,
  type LinKvOutput,
  linKvModel,
  linKvOutcome,
} from "../../check/index.ts";
import { type Rand, seededRand } from "../../raft/index.ts";
import { Clients, type RequestResult } from "./clients.ts";
import { toOperation } from "./history.ts";
import { latencySampler } from "./latency.ts";
import { Network } from "./network.ts";
import { NodeProcess } from "./node-process.ts";
import type { RunnerOptions } from "./options.ts";
import { startPartitionNemesis } from "./partition-nemesis.ts";
import { describeError, parseLine, toLinKvOutput } from "./protocol.ts";
import { computeStats, round3, type Stats } from "./stats.ts";
import type { Misbehaviour, OpRecord, PartitionPeriod } from "./types.ts";
import { LinKvGenerator, type Worker } from "./workload.ts";

export interface RunContext {
  seed: number;
  resultsDir: string;
  log(line: string): void;
}

export interface RunOutcome {
  seed: number;
  resultsDir: string;
  nodes: string[];
  valid: boolean;
  /** One line on why the run is not valid; undefined when valid. */
  failure: string | undefined;
  misbehaviours: Misbehaviour[];
  history: OpRecord[];
  partitions: PartitionPeriod[];
  check: CheckResult<LinKvInput, LinKvOutput>;
  violationText: string | undefined;
  stats: Stats;
  network: Network;
  clients: Clients;
  clientTimeoutMs: number;
  /** Test time (ms since start) when clients stopped issuing operations. */
  workloadEndMs: number;
  durationMs: number;
}

/** How far behind its schedule the client workload may fall and still catch up. */
const MAX_BACKLOG_MS = 100;

const MAELSTROM_SERVICES = new Set(["lin-kv", "seq-kv", "lww-kv", "lin-tso"]);

/** The final reads cover the most recent max(MIN_FINAL_KEYS, concurrency) keys, from every node. */
const MIN_FINAL_KEYS = 8;

export async function runTest(opts: RunnerOptions, ctx: RunContext): Promise<RunOutcome> {
  mkdirSync(ctx.resultsDir, { recursive: true });
  return new TestRun(opts, ctx).run();
}

class TestRun {
  private readonly t0 = performance.now();
  private readonly nodes: string[];
  private readonly nodeSet: Set<string>;
  private readonly processes = new Map<string, NodeProcess>();
  private readonly msgIds = new Map<string, Set<number>>();
  private readonly misbehaviours: Misbehaviour[] = [];
  private readonly history: OpRecord[] = [];
  private readonly partitions: PartitionPeriod[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly network: Network;
  private readonly clients: Clients;
  private readonly clientTimeoutMs: number;
  private readonly workloadRand: Rand;
  private readonly nemesisRand: Rand;
  private aborted = false;
  private abortWake: (() => void) | undefined;
  private readonly abortPromise: Promise<void>;

  constructor(
    private readonly opts: RunnerOptions,
    private readonly ctx: RunContext,
  ) {
    this.nodes = Array.from({ length: opts.nodeCount }, (_, i) => `n${i}`);
    this.nodeSet = new Set(this.nodes);
    // Independent streams, so that how many messages nodes send cannot shift the client or nemesis schedule.
    this.workloadRand = seededRand(ctx.seed);
    this.nemesisRand = seededRand((ctx.seed ^ 0x27d4eb2f) >>> 0);
    const latencyRand = seededRand((ctx.seed ^ 0x5bd1e995) >>> 0);
    this.clientTimeoutMs = Math.max(10 * opts.latencyMs, 1000);
    this.abortPromise = new Promise((resolve) => (this.abortWake = resolve));
    this.network = new Network({
      sampleLatencyMs: latencySampler(opts.latencyDist, opts.latencyMs, latencyRand),
      deliver: (m) => this.processes.get(m.dest)?.send(JSON.stringify(m)),
      onSend: opts.logNetSend ? (m) => this.log(`send ${JSON.stringify(m)}`) : undefined,
      onDeliver: opts.logNetRecv ? (m) => this.log(`recv ${JSON.stringify(m)}`) : undefined,
    });
    this.clients = new Clients({
      now: () => this.now(),
      deliver: (m) => {
        if (opts.logNetSend) this.log(`send ${JSON.stringify(m)}`);
        this.processes.get(m.dest)?.send(JSON.stringify(m));
      },
    });
  }

  async run(): Promise<RunOutcome> {
    const { opts } = this;
    this.log(`starting ${this.nodes.length} node(s): ${[opts.bin, ...opts.binArgs].join(" ")}`);
    for (const id of this.nodes) this.startNode(id);
    let workloadEndMs = this.now();
    if (await this.init()) {
      this.log(`all nodes initialised; running ${opts.concurrency} clients for ${opts.timeLimitSec} s`);
      const generator = new LinKvGenerator(this.nodes, opts.concurrency, this.workloadRand);
      const clientIds = generator.workers.map(() => this.clients.open());
      await this.workload(generator, clientIds);
      workloadEndMs = this.now();
      await this.drain();
      if (!this.aborted && opts.recoveryTimeSec > 0) {
        this.log(`quiet period of ${opts.recoveryTimeSec} s before the final reads`);
        await this.sleep(opts.recoveryTimeSec * 1000);
      }
      await this.finalReads(generator, clientIds);
    }
    await Promise.all([...this.processes.values()].map((p) => p.stop()));
    this.network.close();
    // After an abort, operations still in flight end as timed out (unknown outcome).
    this.clients.abandonAll();
    await Promise.all([...this.inFlight]);
    return this.verdict(workloadEndMs);
  }

  /** Logs with the test time, like Maelstrom's log lines. */
  private log(line: string): void {
    this.ctx.log(`${(this.now() / 1000).toFixed(3).padStart(8)} s  ${line}`);
  }

  private now(): number {
    return round3(performance.now() - this.t0);
  }

  private report(node: string, problem: string, line?: string): void {
    const shown = line === undefined ? undefined : line.length > 500 ? `${line.slice(0, 500)}...` : line;
    this.misbehaviours.push({ node, time: this.now(), problem, line: shown });
    this.log(
      `node misbehaved: ${problem}${shown === undefined ? "" : `\n  offending line from ${node}: ${shown}`}`,
    );
    if (!this.aborted) {
      this.aborted = true;
      this.abortWake?.();
    }
  }

  private startNode(id: string): void {
    this.msgIds.set(id, new Set());
    const p = new NodeProcess({
      id,
      command: this.opts.bin,
      extraArgs: this.opts.binArgs,
      logFile: join(this.ctx.resultsDir, `${id}.log`),
      onStdoutLine: (line) => this.handleLine(id, line),
      onStderrLine: this.opts.logStderr ? (line) => this.log(`[${id}] ${line}`) : undefined,
      onUnexpectedExit: (description) => this.report(id, `${id} ${description}`),
    });
    this.processes.set(id, p);
  }

  /** Handles one stdout line of `node`, reporting how it breaks the protocol if it does. */
  private handleLine(node: string, line: string): void {
    if (this.aborted) return;
    const problem = this.route(node, line, this.now());
    if (problem !== undefined) this.report(node, problem, line);
  }

  /** Routes a line to a node or a client; returns the protocol problem instead when there is one. */
  private route(node: string, line: string, at: number): string | undefined {
    const parsed = parseLine(node, line);
    if ("problem" in parsed) return parsed.problem;
    const m = parsed.message;
    if (m.body.msg_id !== undefined) {
      const seen = this.msgIds.get(node)!;
      if (seen.has(m.body.msg_id))
        return `${node} reused msg_id ${m.body.msg_id}; msg_ids must be unique per sender`;
      seen.add(m.body.msg_id);
    }
    if (this.nodeSet.has(m.dest)) {
      this.network.send(m);
      return undefined;
    }
    if (this.clients.isClient(m.dest)) return this.clients.receive(m, at);
    const service = MAELSTROM_SERVICES.has(m.dest)
      ? " (this runner does not provide Maelstrom's services)"
      : "";
    return `${node} sent a message to ${JSON.stringify(m.dest)}, which is no node or client${service}`;
  }

  /** Sends every node its init; false when some node failed to answer init_ok. */
  private async init(): Promise<boolean> {
    const timeoutMs = this.opts.initTimeoutSec * 1000;
    const answered = new Set<string>();
    const answers = this.nodes.map(async (node) => {
      const client = this.clients.open();
      const body = { type: "init", node_id: node, node_ids: this.nodes };
      const res = await this.clients.request(client, node, "init", body, timeoutMs).result;
      if ("timedOut" in res) {
        if (this.aborted) return;
        // Name every node still silent, not only the first whose timer fired.
        for (const silent of this.nodes.filter((n) => !answered.has(n))) {
          answered.add(silent);
          this.report(silent, `${silent} did not answer init within ${this.opts.initTimeoutSec} s`);
        }
        return;
      }
      answered.add(node);
      if (res.reply.type !== "init_ok") {
        const text = typeof res.reply.text === "string" ? res.reply.text : undefined;
        this.report(node, `${node} answered init with ${describeError(res.reply.code as number, text)}`);
      }
    });
    await Promise.race([Promise.all(answers), this.abortPromise]);
    return !this.aborted;
  }

  /** Issues operations at about `rate` per second until the time limit, with the nemesis running alongside. */
  private async workload(generator: LinKvGenerator, clientIds: string[]): Promise<void> {
    const { opts } = this;
    const endAt = this.now() + opts.timeLimitSec * 1000;
    const busy = new Set<number>();
    let waitingForWorker = false;
    let emitTimer: NodeJS.Timeout | undefined;
    const active = () => !this.aborted && this.now() < endAt;
    // Jepsen's stagger: gaps uniform in [0, 2/rate) seconds, over all clients together.
    const gapMs = () => this.workloadRand.float() * (2000 / opts.rate);
    let nextDue = this.now() + gapMs();
    // Emits every operation already due (timers fire at most about once a millisecond, so
    // high rates need several per firing), then sleeps until the next one. A backlog built
    // while every worker was busy is forgiven beyond MAX_BACKLOG_MS.
    const emitDue = () => {
      const now = this.now();
      nextDue = Math.max(nextDue, now - MAX_BACKLOG_MS);
      while (active() && nextDue <= now) {
        const free = generator.workers.filter((w) => !busy.has(w.index));
        if (free.length === 0) {
          waitingForWorker = true;
          return;
        }
        const worker = free[this.workloadRand.int(free.length)];
        busy.add(worker.index);
        this.issue(worker, clientIds, generator.next(worker), false).then(() => {
          busy.delete(worker.index);
          if (waitingForWorker && active()) {
            waitingForWorker = false;
            emitDue();
          }
        });
        nextDue += gapMs();
      }
      if (active()) emitTimer = setTimeout(emitDue, nextDue - now);
    };
    if (opts.rate > 0) emitTimer = setTimeout(emitDue, nextDue - this.now());
    const stopNemesis = opts.nemesis.includes("partition")
      ? startPartitionNemesis({
          nodes: this.nodes,
          intervalMs: opts.nemesisIntervalSec * 1000,
          kinds: opts.partitionKinds,
          rand: this.nemesisRand,
          now: () => this.now(),
          endAt,
          stopped: () => this.aborted,
          setPartition: (grudge) => this.network.setPartition(grudge),
          onPartition: (period) => this.partitions.push(period),
          log: (line) => this.log(line),
        })
      : () => {};
    await this.sleep(endAt - this.now());
    clearTimeout(emitTimer);
    stopNemesis();
  }

  /** Sends one operation from `worker` and records it; resolves once it has completed or timed out. */
  private issue(worker: Worker, clientIds: string[], input: LinKvInput, final: boolean): Promise<void> {
    const client = clientIds[worker.index];
    const req = this.clients.request(client, worker.node, input.type, { ...input }, this.clientTimeoutMs);
    const op: OpRecord = {
      index: this.history.length,
      worker: worker.index,
      client,
      node: worker.node,
      msgId: req.msgId,
      input,
      call: req.sentAt,
      ret: undefined,
      output: undefined,
      outcome: undefined,
      final,
    };
    this.history.push(op);
    const done = req.result.then((res) => {
      this.complete(op, res);
      // Jepsen opens a fresh client after an operation with an unknown outcome.
      if (op.error === "timeout" || op.outcome === "info") {
        clientIds[worker.index] = this.clients.open();
      }
    });
    this.inFlight.add(done);
    done.then(() => this.inFlight.delete(done));
    return done;
  }

  private complete(op: OpRecord, res: RequestResult): void {
    op.ret = res.at;
    if ("timedOut" in res) {
      op.error = this.aborted ? "abandoned (run aborted)" : "timeout";
      op.outcome = op.input.type === "read" ? "fail" : "info";
      return;
    }
    const output = toLinKvOutput(res.reply);
    op.output = output;
    if (output.type !== "error") {
      op.outcome = "ok";
      return;
    }
    op.error = describeError(output.code, output.text);
    const indefinite = linKvOutcome(output) === "unknown";
    op.outcome = indefinite && op.input.type !== "read" ? "info" : "fail";
  }

  /** Waits for every operation in flight (each ends within the client timeout). */
  private async drain(): Promise<void> {
    while (this.inFlight.size > 0) {
      await Promise.race([Promise.all([...this.inFlight]), this.abortPromise]);
      if (this.aborted) return;
    }
  }

  /**
   * Reads the most recent keys back from every node once the network has
   * healed: each worker reads them through its own node.
   */
  private async finalReads(generator: LinKvGenerator, clientIds: string[]): Promise<void> {
    if (this.aborted || generator.keysUsed === 0) return;
    const keyCount = Math.min(generator.keysUsed, Math.max(MIN_FINAL_KEYS, this.opts.concurrency));
    const keys = Array.from({ length: keyCount }, (_, i) => generator.keysUsed - keyCount + i);
    const byNode = new Map<string, Worker[]>();
    for (const w of generator.workers) byNode.set(w.node, [...(byNode.get(w.node) ?? []), w]);
    this.log(`final reads: ${keys.length} key(s) from ${byNode.size} node(s)`);
    const runs: Promise<void>[] = [];
    for (const workers of byNode.values()) {
      workers.forEach((worker, k) => {
        const mine = keys.filter((_, i) => i % workers.length === k);
        runs.push(
          (async () => {
            for (const key of mine) {
              if (this.aborted) return;
              await this.issue(worker, clientIds, { type: "read", key }, true);
            }
          })(),
        );
      });
    }
    await Promise.race([Promise.all(runs), this.abortPromise]);
  }

  private sleep(ms: number): Promise<void> {
    if (this.aborted) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const slept = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))));
    return Promise.race([slept, this.abortPromise]).finally(() => clearTimeout(timer));
  }

  private verdict(workloadEndMs: number): RunOutcome {
    const ops = this.history.map(toOperation).filter((op) => op !== undefined);
    const check = checkOperations(linKvModel, ops, { timeoutMs: this.opts.checkTimeoutSec * 1000 });
    const violationText = check.violation ? formatViolation(check.violation) : undefined;
    const stats = computeStats(this.history);
    const reasons: string[] = [];
    if (this.misbehaviours.length > 0) {
      const m = this.misbehaviours[0];
      const more = this.misbehaviours.length > 1 ? ` (and ${this.misbehaviours.length - 1} more)` : "";
      reasons.push(`node ${m.node} broke the protocol: ${m.problem}${more}`);
    }
    if (check.verdict === "not-linearizable") reasons.push("the history is not linearizable");
    if (check.verdict === "unknown") {
      reasons.push(`the checker could not decide (${check.unknownReason}); raise --check-timeout`);
    }
    if (stats.all.count > 0 && stats.all.ok === 0)
      reasons.push(`none of the ${stats.all.count} operations succeeded`);
    const failure = reasons.length > 0 ? reasons.join("; ") : undefined;
    return {
      seed: this.ctx.seed,
      resultsDir: this.ctx.resultsDir,
      nodes: this.nodes,
      valid: failure === undefined,
      failure,
      misbehaviours: this.misbehaviours,
      history: this.history,
      partitions: this.partitions,
      check,
      violationText,
      stats,
      network: this.network,
      clients: this.clients,
      clientTimeoutMs: this.clientTimeoutMs,
      workloadEndMs,
      durationMs: this.now(),
    };
  }
}
