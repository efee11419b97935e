// The shared machinery of `floe bench`: options common to every workload,
// connections (and finding the leader), the rate limiter, the closed-loop
// client runner and the progress bar.

import { performance } from "node:perf_hooks";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { AuthenticateRequestSchema, AuthenticateResponseSchema } from "../api/gen/etcdserverpb/rpc_pb.ts";
import { GrpcConn, PATHS } from "./bench-grpc.ts";
import { decodeStatus, grpcFrame } from "./bench-proto.ts";
import {
  type BenchResult,
  countError,
  type ErrorCounts,
  newHistogram,
  recordMs,
  summarize,
} from "./bench-report.ts";

export interface CommonOptions {
  endpoints: string;
  conns: string;
  clients: string;
  total?: string;
  duration?: string;
  rate: string;
  keySize: string;
  valSize: string;
  keySpaceSize: string;
  sequentialKeys?: boolean;
  targetLeader?: boolean;
  json?: boolean;
  progress: boolean;
  user?: string;
}

export interface Common {
  endpoints: string[];
  conns: number;
  clients: number;
  /** Requests to issue; Infinity when only --duration bounds the run. */
  total: number;
  durationMs: number;
  /** Requests per second over all clients; 0 is unlimited. */
  rate: number;
  keySize: number;
  valSize: number;
  keySpaceSize: number;
  sequentialKeys: boolean;
  targetLeader: boolean;
  json: boolean;
  progress: boolean;
  /** name:password to log in with (auth enabled); every request then carries the token. */
  user: string | undefined;
}

export function addCommonOptions(c: Command): Command {
  return c
    .option(
      "--endpoints <list>",
      "comma-separated client endpoints",
      process.env.FLOE_ENDPOINTS ?? "127.0.0.1:2379",
    )
    .option("--conns <n>", "HTTP/2 connections, shared by the clients", "1")
    .option("--clients <n>", "concurrent clients, each one request in flight", "1")
    .option("--total <n>", "requests to issue (default 10000 unless --duration)")
    .option("--duration <time>", "run for this long (e.g. 30s, 2m) instead of --total")
    .option("--rate <n>", "requests per second over all clients (0: as fast as possible)", "0")
    .option("--key-size <bytes>", "key size", "8")
    .option("--val-size <bytes>", "value size", "8")
    .option("--key-space-size <n>", "distinct keys", "1")
    .option("--sequential-keys", "keys in order (i mod key-space-size) instead of at random")
    .option("--target-leader", "send every request to the leader (found by Status)")
    .option("--user <name:password>", "log in first and send the token with every request")
    .option("--json", "print the result as one JSON object on stdout")
    .option("--no-progress", "no progress bar (it is also off when stderr is not a TTY and with --json)");
}

function positiveInt(name: string, s: string, min = 1): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${s}`);
  return n;
}

export function parseDurationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new Error(`--duration must look like 30s, 500ms, 2m or 1h, got ${s}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"] ?? 1000;
  return Number(m[1]) * unit;
}

export function parseCommon(o: CommonOptions): Common {
  const durationMs = o.duration ? parseDurationMs(o.duration) : 0;
  const total = o.total ? positiveInt("total", o.total) : durationMs > 0 ? Number.POSITIVE_INFINITY : 10_000;
  const json = o.json === true;
  return {
    endpoints: o.endpoints
      .split(",")
      .map((e) => e.trim())
      .filter((e) => e !== ""),
    conns: positiveInt("conns", o.conns),
    clients: positiveInt("clients", o.clients),
    total,
    durationMs,
    rate: positiveInt("rate", o.rate, 0),
    keySize: positiveInt("key-size", o.keySize),
    valSize: positiveInt("val-size", o.valSize, 0),
    keySpaceSize: positiveInt("key-space-size", o.keySpaceSize),
    sequentialKeys: o.sequentialKeys === true,
    targetLeader: o.targetLeader === true,
    json,
    progress: o.progress && !json && process.stderr.isTTY === true,
    user: o.user,
  };
}

/** The endpoint whose member is the leader, by asking each endpoint's Status. */
export async function findLeader(endpoints: string[]): Promise<string> {
  const seen: string[] = [];
  for (const ep of endpoints) {
    const c = new GrpcConn(ep);
    try {
      const s = decodeStatus(await c.unary(PATHS.status, grpcFrame([])));
      if (s.leader !== 0n && s.leader === s.memberId) return ep;
      seen.push(`${ep}: member ${s.memberId.toString(16)} leader ${s.leader.toString(16)}`);
    } catch (e) {
      seen.push(`${ep}: ${(e as Error).message}`);
    } finally {
      c.close();
    }
  }
  throw new Error(`--target-leader: no endpoint is the leader (${seen.join("; ")})`);
}

/** Opens --conns connections, spread over the endpoints (or all to the leader). */
export async function openConns(c: Common): Promise<{ conns: GrpcConn[]; endpoints: string[] }> {
  const endpoints = c.targetLeader ? [await findLeader(c.endpoints)] : c.endpoints;
  const conns = Array.from({ length: c.conns }, (_, i) => new GrpcConn(endpoints[i % endpoints.length]));
  if (c.user !== undefined) {
    const colon = c.user.indexOf(":");
    if (colon < 0) throw new Error(`--user must be name:password, got ${JSON.stringify(c.user)}`);
    const req = create(AuthenticateRequestSchema, {
      name: c.user.slice(0, colon),
      password: c.user.slice(colon + 1),
    });
    const body = toBinary(AuthenticateRequestSchema, req);
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    const reply = await conns[0].unary(PATHS.authenticate, frame);
    const token = fromBinary(AuthenticateResponseSchema, reply).token;
    for (const cn of conns) cn.token = token;
  }
  return { conns, endpoints };
}

/** etcd benchmark's keys: key-size bytes, a zigzag varint of the key number first, zeros after. */
export function keyMaker(c: Common): (i: number) => Uint8Array {
  return (i) => {
    const n = c.sequentialKeys ? i % c.keySpaceSize : Math.floor(Math.random() * c.keySpaceSize);
    const k = new Uint8Array(c.keySize);
    let z = n * 2; // zigzag of a non-negative number
    let p = 0;
    while (z >= 0x80 && p < k.length) {
      k[p++] = (z % 128) | 0x80;
      z = Math.floor(z / 128);
    }
    if (p < k.length) k[p] = z;
    return k;
  };
}

export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = 0x61 + Math.floor(Math.random() * 26);
  return b;
}

/** A token bucket of one: a shared next-slot time, as golang.org/x/time/rate with burst 1. */
export function rateLimiter(perSec: number): (() => Promise<void>) | undefined {
  if (perSec <= 0) return undefined;
  const gapMs = 1000 / perSec;
  let next = performance.now();
  return async () => {
    const now = performance.now();
    const slot = Math.max(next, now);
    next = slot + gapMs;
    if (slot - now >= 1) await new Promise((r) => setTimeout(r, slot - now));
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A progress bar on stderr (by requests with --total, by seconds with --duration); a no-op when off. */
export function progressBar(c: Common): { update(done: number): void; stop(): void } {
  if (!c.progress) return { update() {}, stop() {} };
  const byTime = !Number.isFinite(c.total);
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: byTime
        ? " {bar} {value}/{total} s | {reqs} requests"
        : " {bar} {percentage}% | {value}/{total}",
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const start = performance.now();
  bar.start(byTime ? Math.ceil(c.durationMs / 1000) : c.total, 0, { reqs: 0 });
  let done = 0;
  const timer = setInterval(() => {
    if (byTime) bar.update(Math.floor((performance.now() - start) / 1000), { reqs: done });
    else bar.update(done);
  }, 200);
  return {
    update(n) {
      done = n;
    },
    stop() {
      clearInterval(timer);
      bar.stop();
    },
  };
}

/**
 * Runs `c.clients` closed-loop clients: each issues `op` back to back (or at
 * its turn of the shared rate) until --total requests were issued or
 * --duration passed. Latency is from the call to its answer.
 */
export async function runClients(
  name: string,
  c: Common,
  conns: GrpcConn[],
  endpoints: string[],
  op: (conn: GrpcConn, i: number) => Promise<unknown>,
  params: BenchResult["params"],
): Promise<BenchResult> {
  const hist = newHistogram();
  const errorMessages: ErrorCounts = {};
  const limiter = rateLimiter(c.rate);
  const bar = progressBar(c);
  let issued = 0;
  let done = 0;
  let errors = 0;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const deadline = c.durationMs > 0 ? start + c.durationMs : Number.POSITIVE_INFINITY;
  const client = async (id: number): Promise<void> => {
    const conn = conns[id % conns.length];
    while (issued < c.total && performance.now() < deadline) {
      const i = issued++;
      if (limiter) {
        await limiter();
        if (performance.now() >= deadline) return;
      }
      const t0 = performance.now();
      try {
        await op(conn, i);
        recordMs(hist, performance.now() - t0);
        done++;
      } catch (e) {
        errors++;
        countError(errorMessages, e);
      }
      bar.update(done + errors);
    }
  };
  await Promise.all(Array.from({ length: c.clients }, (_, id) => client(id)));
  const elapsedSec = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  bar.stop();
  return {
    op: name,
    endpoints,
    conns: conns.length,
    clients: c.clients,
    count: done,
    errors,
    errorMessages,
    elapsedSec: Math.round(elapsedSec * 10_000) / 10_000,
    throughput: Math.round((done / elapsedSec) * 100) / 100,
    latency: summarize(hist),
    clientCpuSec: Math.round((cpu.user + cpu.system) / 10_000) / 100,
    params,
  };
}
