// The dashboard's server side, on the client port beside the gateway:
//   GET  /ui/                     the page and its bundled assets (dist/ui, built by scripts/build-ui.mjs)
//   GET  /ui/api/member           this member's state and counters, as JSON (what /metrics and Status say)
//   GET  /ui/api/events           server-sent events: one sample of every member per second, history first
//   GET  /ui/api/whoami           whether auth is on, and the user a verified client certificate names (its CN)
//   POST /ui/api/members/<id>/v3/… the gateway call, sent to member <id> (hex) and its answer streamed back
// Key data never passes through the first three: the page reads and writes
// keys through the gateway, with the user's token, so auth applies as for
// any client. Stats are as open as /metrics and the Status call are in etcd.

import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { dirname, extname, join, resolve } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { CallContext } from "./backend.ts";
import { MemberListRequestSchema, StatusRequestSchema } from "./gen/etcdserverpb/rpc_pb.ts";
import type { HttpRequestLike, HttpResponseLike } from "./http.ts";
import { readBody } from "./json-stream.ts";
import type { Operations } from "./operations.ts";
import type { MemberSample, Sample } from "./ui-types.ts";
import { clientCommonName } from "./wire.ts";

/** Where the dashboard's built assets are: dist/ui beside the bundle, the compiled module, or the sources. */
export function findUiAssets(from = fileURLToPath(import.meta.url)): string | undefined {
  const here = dirname(from);
  for (const dir of [resolve(here, "../ui"), resolve(here, "../../dist/ui")]) {
    try {
      if (readdirSync(dir).includes("index.html")) return dir;
    } catch {
      // not there
    }
  }
  return undefined;
}

export interface UiOptions {
  /** Built assets (index.html, app.js, app.css); undefined: /ui answers that they are not built. */
  readonly assetsDir?: string | undefined;
  /** TLS for reaching other members' client URLs over https (this member's own client certificate and CA). */
  readonly tls?: {
    readonly ca?: Buffer;
    readonly cert?: Buffer;
    readonly key?: Buffer;
    readonly rejectUnauthorized?: boolean;
  };
  /** Milliseconds between samples (default 1000). */
  readonly sampleMs?: number;
  /** Samples kept for a page that opens later (default 900: 15 minutes at 1 s). */
  readonly historySamples?: number;
}

interface UiDeps {
  readonly ops: Operations;
  readonly registry: Registry;
  readonly log: Logger;
  readonly shutdown: AbortSignal;
  readonly options: UiOptions;
}

/** Cumulative histogram buckets: upper bounds (seconds; the last is +Inf) and counts. */
interface Buckets {
  readonly le: number[];
  readonly counts: number[];
  readonly sum: number;
}

/** What /ui/api/member answers: one member's raw state and counters. */
export interface MemberReport {
  readonly id: string;
  readonly time: number;
  readonly leader: string;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly isLearner: boolean;
  readonly dbSize: number;
  readonly keys: number;
  readonly errors: string[];
  readonly writes: number;
  readonly reads: number;
  readonly failedProposals: number;
  readonly leaderChanges: number;
  readonly watchers: number;
  readonly watchEvents: number;
  /** Process CPU time, user + system, in microseconds. */
  readonly cpuMicros: number;
  readonly request: Buckets;
  readonly fsync: Buckets;
}

const WRITES = new Set(["KV.Put", "KV.DeleteRange", "KV.Txn"]);
const READS = new Set(["KV.Range"]);

const hexOf = (id: bigint) => id.toString(16);

async function metricValues(registry: Registry, name: string) {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return [];
  return (await m.get()).values;
}

async function single(registry: Registry, name: string): Promise<number> {
  let total = 0;
  for (const v of await metricValues(registry, name)) total += v.value;
  return total;
}

/** A prom-client histogram's buckets, summed over its label sets. */
async function buckets(registry: Registry, name: string): Promise<Buckets> {
  const byLe = new Map<number, number>();
  let sum = 0;
  for (const v of await metricValues(registry, name)) {
    const metricName = (v as { metricName?: string }).metricName ?? "";
    if (metricName.endsWith("_sum")) sum += v.value;
    if (!metricName.endsWith("_bucket")) continue;
    const raw = v.labels.le;
    const le = raw === "+Inf" ? Number.POSITIVE_INFINITY : Number(raw);
    byLe.set(le, (byLe.get(le) ?? 0) + v.value);
  }
  const le = [...byLe.keys()].sort((a, b) => a - b);
  return { le, counts: le.map((l) => byLe.get(l) ?? 0), sum };
}

/** The q-quantile (ms) of what a histogram counted between two readings; NaN if nothing was counted. */
export function quantileMs(prev: Buckets | undefined, cur: Buckets, q: number): number {
  const counts = cur.counts.map((c, i) => c - (prev?.le[i] === cur.le[i] ? (prev?.counts[i] ?? 0) : 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return Number.NaN;
  const want = q * total;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] < want) continue;
    const hi = cur.le[i];
    const lo = i === 0 ? 0 : cur.le[i - 1];
    if (!Number.isFinite(hi)) return lo * 1000;
    const below = i === 0 ? 0 : counts[i - 1];
    const inBucket = counts[i] - below;
    const frac = inBucket > 0 ? (want - below) / inBucket : 1;
    return (lo + (hi - lo) * frac) * 1000;
  }
  return Number.NaN;
}

async function memberReport(ops: Operations, registry: Registry, ctx: CallContext): Promise<MemberReport> {
  const st = await ops.status(create(StatusRequestSchema), ctx);
  let writes = 0;
  let reads = 0;
  for (const v of await metricValues(registry, "floe_api_requests_total")) {
    const method = String(v.labels.method ?? "");
    if (WRITES.has(method)) writes += v.value;
    else if (READS.has(method)) reads += v.value;
  }
  const cpu = process.cpuUsage();
  return {
    id: hexOf(st.header?.memberId ?? 0n),
    time: Date.now(),
    leader: hexOf(st.leader),
    term: Number(st.raftTerm),
    commit: await single(registry, "etcd_server_proposals_committed_total"),
    applied: Number(st.raftAppliedIndex),
    isLearner: st.isLearner,
    dbSize: Number(st.dbSize),
    keys: await single(registry, "etcd_debugging_mvcc_keys_total"),
    errors: st.errors,
    writes,
    reads,
    failedProposals: await single(registry, "etcd_server_proposals_failed_total"),
    leaderChanges: await single(registry, "etcd_server_leader_changes_seen_total"),
    watchers: await single(registry, "etcd_debugging_mvcc_watcher_total"),
    watchEvents: await single(registry, "etcd_debugging_mvcc_events_total"),
    cpuMicros: cpu.user + cpu.system,
    request: await buckets(registry, "floe_api_request_duration_seconds"),
    fsync: await buckets(registry, "etcd_disk_wal_fsync_duration_seconds"),
  };
}

/** GET url with a deadline; resolves the parsed JSON body or rejects with the cause. */
function getJson(url: string, tls: UiOptions["tls"], timeoutMs: number): Promise<unknown> {
  return new Promise((resolveJson, reject) => {
    const u = new URL(url);
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(
      u,
      { method: "GET", agent: false, ...(u.protocol === "https:" ? tls : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode !== 200) {
            reject(new Error(`HTTP ${res.statusCode}`));
            return;
          }
          try {
            resolveJson(JSON.parse(Buffer.concat(chunks).toString("utf8")));
          } catch (e) {
            reject(e as Error);
          }
        });
        res.on("error", reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on("close", () => clearTimeout(timer));
    req.on("error", (e) => reject(e));
    req.end();
  });
}

interface Known {
  readonly id: string;
  readonly name: string;
  readonly clientUrls: string[];
  readonly peerUrls: string[];
  readonly isLearner: boolean;
}

/**
 * Samples every member once per interval while a page listens (and for a
 * minute after the last one leaves), keeping the last samples for the next
 * page. Members are read in parallel, each with a deadline shorter than the
 * interval, so a member that stops answering shows as down in the next sample.
 */
class Sampler {
  /** Told each sample as its server-sent event, serialized once for every page listening. */
  private readonly listeners = new Set<(event: string) => void>();
  readonly history: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private idleSince = 0;
  private readonly prev = new Map<string, MemberReport>();
  private running = false;

  constructor(
    private readonly deps: UiDeps,
    private readonly sampleMs: number,
    private readonly keep: number,
  ) {}

  subscribe(f: (event: string) => void): () => void {
    this.listeners.add(f);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.sampleMs);
      this.timer.unref();
      this.tick();
    }
    return () => {
      this.listeners.delete(f);
      if (this.listeners.size === 0) this.idleSince = Date.now();
    };
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.listeners.size === 0 && Date.now() - this.idleSince > 60_000) {
      this.stop();
      return;
    }
    if (this.running) return; // the previous round is still waiting for a deadline
    this.running = true;
    this.sample()
      .then((s) => {
        this.history.push(s);
        if (this.history.length > this.keep) this.history.splice(0, this.history.length - this.keep);
        const event = `event: sample\ndata: ${JSON.stringify(s)}\n\n`;
        for (const f of this.listeners) f(event);
      })
      .catch((e: unknown) => this.deps.log.debug({ err: e }, "dashboard sample failed"))
      .finally(() => {
        this.running = false;
      });
  }

  private async members(ctx: CallContext): Promise<{ self: string; members: Known[] }> {
    const resp = await this.deps.ops.memberList(create(MemberListRequestSchema), ctx);
    return {
      self: hexOf(resp.header?.memberId ?? 0n),
      members: resp.members
        .map((m) => ({
          id: hexOf(m.ID),
          name: m.name,
          clientUrls: m.clientURLs,
          peerUrls: m.peerURLs,
          isLearner: m.isLearner,
        }))
        // by name, as an operator reads them (members not started yet have none: last)
        .sort((a, b) => (a.name || "\uffff").localeCompare(b.name || "\uffff") || a.id.localeCompare(b.id)),
    };
  }

  private async sample(): Promise<Sample> {
    const ctx: CallContext = { signal: this.deps.shutdown };
    const { self, members } = await this.members(ctx);
    const deadline = Math.max(200, Math.floor(this.sampleMs * 0.8));
    const reports = await Promise.all(
      members.map(async (m): Promise<MemberReport | Error> => {
        try {
          if (m.id === self) return await memberReport(this.deps.ops, this.deps.registry, ctx);
          const url = m.clientUrls[0];
          if (url === undefined) return new Error("no client URL (not started yet)");
          return (await getJson(`${url}/ui/api/member`, this.deps.options.tls, deadline)) as MemberReport;
        } catch (e) {
          return e instanceof Error ? e : new Error(String(e));
        }
      }),
    );
    const time = Date.now();
    const leaderCommit = Math.max(
      0,
      ...reports.map((r) => (r instanceof Error || r.leader !== r.id ? 0 : r.commit)),
    );
    const out = members.map((m, i) => {
      const r = reports[i];
      const prev = this.prev.get(m.id);
      if (r instanceof Error) {
        this.prev.delete(m.id);
        return downSample(m, r.message);
      }
      this.prev.set(m.id, r);
      const secs = prev === undefined ? 0 : (r.time - prev.time) / 1000;
      const rate = (a: number, b: number | undefined) =>
        secs > 0 && b !== undefined ? Math.max(0, (a - b) / secs) : 0;
      const role: MemberSample["role"] = r.isLearner
        ? "learner"
        : r.leader === r.id
          ? "leader"
          : r.leader === "0"
            ? "unknown"
            : "follower";
      return {
        id: m.id,
        name: m.name,
        clientUrls: m.clientUrls,
        peerUrls: m.peerUrls,
        up: true,
        error: r.errors[r.errors.length - 1] ?? "",
        role,
        term: r.term,
        commit: r.commit,
        applied: r.applied,
        lag: Math.max(0, leaderCommit - r.applied),
        dbSize: r.dbSize,
        keys: r.keys,
        leaderChanges: r.leaderChanges,
        watchers: r.watchers,
        rates: {
          writes: rate(r.writes, prev?.writes),
          reads: rate(r.reads, prev?.reads),
          committed: rate(r.commit, prev?.commit),
          failed: rate(r.failedProposals, prev?.failedProposals),
          watchEvents: rate(r.watchEvents, prev?.watchEvents),
          cpu: rate(r.cpuMicros, prev?.cpuMicros) / 10_000,
        },
        latency: {
          p50: quantileMs(prev?.request, r.request, 0.5),
          p99: quantileMs(prev?.request, r.request, 0.99),
          fsyncP99: quantileMs(prev?.fsync, r.fsync, 0.99),
        },
      } satisfies MemberSample;
    });
    return { time, servedBy: self, authEnabled: authEnabled(this.deps.ops), members: out };
  }
}

/** Whether auth is on, as this member applied it (AuthStatus would need an admin and a read barrier). */
const authEnabled = (ops: Operations): boolean => ops.backend.authEnabled?.() ?? false;

function downSample(m: Known, error: string): MemberSample {
  const nan = Number.NaN;
  return {
    id: m.id,
    name: m.name,
    clientUrls: m.clientUrls,
    peerUrls: m.peerUrls,
    up: false,
    error,
    role: m.isLearner ? "learner" : "unknown",
    term: 0,
    commit: 0,
    applied: 0,
    lag: 0,
    dbSize: 0,
    keys: 0,
    leaderChanges: 0,
    watchers: 0,
    rates: { writes: 0, reads: 0, committed: 0, failed: 0, watchEvents: 0, cpu: 0 },
    latency: { p50: nan, p99: nan, fsyncP99: nan },
  };
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/** Serves /ui; returns undefined for any other path. */
export function createUiHandler(
  deps: UiDeps,
): (path: string, req: HttpRequestLike, res: HttpResponseLike) => Promise<void> | undefined {
  const { options } = deps;
  const sampler = new Sampler(deps, options.sampleMs ?? 1000, options.historySamples ?? 900);
  deps.shutdown.addEventListener("abort", () => sampler.stop(), { once: true });
  let assets: Map<string, { type: string; body: Buffer }> | undefined;
  const loadAssets = () => {
    if (assets !== undefined || options.assetsDir === undefined) return assets;
    const dir = options.assetsDir;
    assets = new Map();
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (type !== undefined) assets.set(name, { type, body: readFileSync(join(dir, name)) });
    }
    return assets;
  };

  function serveAsset(name: string, res: HttpResponseLike): void {
    const found = loadAssets()?.get(name);
    if (found === undefined) {
      const why =
        options.assetsDir === undefined
          ? "the dashboard is not built: run `npm run build` in the floe directory"
          : "not found";
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end(`${why}\n`);
      return;
    }
    res.writeHead(200, {
      "content-type": found.type,
      "content-length": String(found.body.length),
      // index.html is small and names the assets; the assets change only with a new build
      "cache-control": name === "index.html" ? "no-cache" : "max-age=300",
      "x-content-type-options": "nosniff",
    });
    res.end(found.body);
  }

  async function memberJson(res: HttpResponseLike): Promise<void> {
    const report = await memberReport(deps.ops, deps.registry, { signal: deps.shutdown });
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(report));
  }

  /**
   * What the page needs before it reads keys: whether auth is on, and whether
   * this connection is already someone (a verified certificate's CN is the
   * user, as for the API), so it asks for a password only when it must.
   */
  function whoami(req: HttpRequestLike, res: HttpResponseLike): Promise<void> {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    const commonName = clientCommonName(req.socket) ?? null;
    res.end(JSON.stringify({ authEnabled: authEnabled(deps.ops), commonName }));
    return Promise.resolve();
  }

  function events(res: HttpResponseLike): Promise<void> {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    });
    res.write(`event: history\ndata: ${JSON.stringify(sampler.history)}\n\n`);
    return new Promise((done) => {
      const stop = sampler.subscribe((event) => {
        if (!res.writableEnded) res.write(event);
      });
      const end = () => {
        stop();
        deps.shutdown.removeEventListener("abort", onShutdown);
        done();
      };
      const onShutdown = () => {
        if (!res.writableEnded) res.end();
        end();
      };
      res.once("close", end);
      deps.shutdown.addEventListener("abort", onShutdown, { once: true });
    });
  }

  async function proxy(id: string, rest: string, req: HttpRequestLike, res: HttpResponseLike): Promise<void> {
    const ctx: CallContext = { signal: deps.shutdown };
    const list = await deps.ops.memberList(create(MemberListRequestSchema), ctx);
    const member = list.members.find((m) => hexOf(m.ID) === id);
    const base = member?.clientURLs[0];
    if (base === undefined) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: `no member ${id} with a client URL`, code: 5 }));
      return;
    }
    // the gateway's own limit, so the proxy holds no more than the call it forwards would
    const body = await readBody(req, deps.ops.limits.maxGatewayBodyBytes);
    const target = new URL(rest, base.endsWith("/") ? base : `${base}/`);
    const mod = target.protocol === "https:" ? https : http;
    const headers: Record<string, string> = { "content-type": "application/json" };
    const auth = req.headers?.authorization;
    if (typeof auth === "string") headers.authorization = auth;
    await new Promise<void>((done) => {
      const out = mod.request(
        target,
        { method: "POST", headers, agent: false, ...(target.protocol === "https:" ? options.tls : {}) },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, {
            "content-type": String(answer.headers["content-type"] ?? "application/json"),
          });
          // the gateway answers JSON text: decoded whole characters at a time
          const text = new StringDecoder("utf8");
          answer.on("data", (c: Buffer) => res.write(text.write(c)));
          answer.on("end", () => {
            res.end(text.end());
            done();
          });
          answer.on("error", () => {
            res.end();
            done();
          });
        },
      );
      res.once("close", () => out.destroy());
      out.on("error", (e) => {
        if (!res.headersSent) {
          res.writeHead(502, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: `member ${id}: ${e.message}`, message: e.message, code: 14 }));
        } else res.end();
        done();
      });
      out.end(body);
    });
  }

  return (path, req, res) => {
    if (path !== "/ui" && !path.startsWith("/ui/")) return undefined;
    if (path === "/ui") {
      res.writeHead(301, { location: "/ui/" });
      res.end();
      return Promise.resolve();
    }
    if (path === "/ui/api/member") return memberJson(res);
    if (path === "/ui/api/events") return events(res);
    if (path === "/ui/api/whoami") return whoami(req, res);
    const proxied = /^\/ui\/api\/members\/([0-9a-f]{1,16})\/(v3\/[a-z_/-]+)$/.exec(path);
    if (proxied !== null) {
      if (req.method !== "POST") {
        res.writeHead(405, { "content-type": "text/plain; charset=utf-8" });
        res.end("Method Not Allowed\n");
        return Promise.resolve();
      }
      return proxy(proxied[1], proxied[2], req, res);
    }
    const name = path === "/ui/" ? "index.html" : path.slice("/ui/".length);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found\n");
      return Promise.resolve();
    }
    serveAsset(name, res);
    return Promise.resolve();
  };
}
