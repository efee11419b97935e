// `floe bench watch`: S streams × W watchers on one key prefix, and a writer
// putting into that prefix at --put-rate. Each event is matched to its put by
// revision (the put's response header revision = the event's mod_revision),
// and two latencies are recorded per delivered event: from the put's ack to
// the event (an event that beats its ack counts as 0 and in eventsBeforeAck),
// and from the put's send to the event (etcd's `benchmark watch-latency`).

import { performance } from "node:perf_hooks";
import { PATHS } from "./bench-grpc.ts";
import {
  decodeHeader,
  decodeWatchResponse,
  grpcFrame,
  putRequest,
  watchCreateRequest,
} from "./bench-proto.ts";
import { formatResult, type LatencySummary, newHistogram, recordMs, summarize } from "./bench-report.ts";
import {
  type CommonOptions,
  openConns,
  parseCommon,
  parseDurationMs,
  runClients,
  sleep,
} from "./bench-run.ts";

export interface WatchOptions extends CommonOptions {
  streams: string;
  watchersPerStream: string;
  prefix: string;
  putRate: string;
  drainTimeout: string;
}

const enc = new TextEncoder();

function prefixEnd(p: Uint8Array): Uint8Array {
  const end = p.slice();
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

function intOpt(name: string, s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be an integer >= 1, got ${s}`);
  return n;
}

export async function runWatchBench(o: WatchOptions): Promise<void> {
  const putRate = Number(o.putRate);
  if (!Number.isInteger(putRate) || putRate < 0) {
    throw new Error(`--put-rate must be an integer >= 0, got ${o.putRate}`);
  }
  const c = parseCommon({ ...o, rate: String(putRate), total: o.total ?? (o.duration ? undefined : "1000") });
  const streams = intOpt("streams", o.streams);
  const perStream = intOpt("watchers-per-stream", o.watchersPerStream);
  const watchers = streams * perStream;
  const drainMs = parseDurationMs(o.drainTimeout);
  const prefix = enc.encode(o.prefix);
  const { conns, endpoints } = await openConns(c);

  const ackHist = newHistogram();
  const sinceHist = newHistogram();
  const early = new Map<number, number[]>(); // revision → receive times, before the put's ack
  const acked = new Map<number, { sentAt: number; ackAt: number; remaining: number }>();
  let received = 0;
  let beforeAck = 0;
  let created = 0;
  const failed: { error?: Error } = {};
  // read through a call: TypeScript would keep the narrowing of the check before the puts
  const failure = (): Error | undefined => failed.error;

  const onEvent = (rev: number, t: number): void => {
    received++;
    const a = acked.get(rev);
    if (!a) {
      const list = early.get(rev);
      if (list) list.push(t);
      else early.set(rev, [t]);
      return;
    }
    recordMs(ackHist, t - a.ackAt);
    recordMs(sinceHist, t - a.sentAt);
    if (--a.remaining === 0) acked.delete(rev);
  };

  const handles = Array.from({ length: streams }, (_, s) => {
    const h = conns[s % conns.length].bidi(
      PATHS.watch,
      (msg) => {
        const t = performance.now();
        const w = decodeWatchResponse(msg);
        if (w.created) created++;
        if (w.canceled) failed.error ??= new Error(`watch ${w.watchId} canceled: ${w.cancelReason}`);
        for (const rev of w.eventRevisions) onEvent(rev, t);
      },
      (err) => {
        if (err) failed.error ??= err;
      },
    );
    for (let i = 0; i < perStream; i++) h.write(grpcFrame(watchCreateRequest(prefix, prefixEnd(prefix))));
    return h;
  });
  const createDeadline = performance.now() + 10_000;
  while (created < watchers && !failed.error) {
    if (performance.now() > createDeadline) {
      throw new Error(`only ${created} of ${watchers} watchers were created within 10 s`);
    }
    await sleep(5);
  }
  if (failed.error) throw failed.error;

  const start = performance.now();
  const key = (i: number): Uint8Array => {
    const n = c.sequentialKeys ? i % c.keySpaceSize : Math.floor(Math.random() * c.keySpaceSize);
    return enc.encode(`${o.prefix}${String(n).padStart(Math.max(1, c.keySize - prefix.length), "0")}`);
  };
  const value = new Uint8Array(c.valSize).fill(0x76);
  const puts = await runClients(
    "watch-put",
    c,
    conns,
    endpoints,
    async (conn, i) => {
      const sentAt = performance.now();
      const resp = await conn.unary(PATHS.put, grpcFrame(putRequest(key(i), value)));
      const ackAt = performance.now();
      const rev = decodeHeader(resp).revision;
      const before = early.get(rev) ?? [];
      early.delete(rev);
      for (const t of before) {
        beforeAck++;
        recordMs(ackHist, 0);
        recordMs(sinceHist, t - sentAt);
      }
      if (before.length < watchers) acked.set(rev, { sentAt, ackAt, remaining: watchers - before.length });
    },
    { putRate },
  );
  const expected = puts.count * watchers;
  const drainDeadline = performance.now() + drainMs;
  while (acked.size > 0 && performance.now() < drainDeadline && !failure()) await sleep(5);
  const elapsedSec = (performance.now() - start) / 1000;
  for (const h of handles) h.close();
  for (const cn of conns) cn.close();

  const missing = [...acked.values()].reduce((n, a) => n + a.remaining, 0);
  const unmatched = [...early.values()].reduce((n, l) => n + l.length, 0);
  const result = {
    op: "watch",
    endpoints,
    conns: conns.length,
    streams,
    watchersPerStream: perStream,
    watchers,
    puts: puts.count,
    putErrors: puts.errors,
    putThroughput: puts.throughput,
    putLatency: puts.latency,
    eventsExpected: expected,
    eventsReceived: received,
    eventsMissing: missing,
    eventsUnmatched: unmatched,
    eventsBeforeAck: beforeAck,
    eventThroughput: Math.round((received / elapsedSec) * 100) / 100,
    elapsedSec: Math.round(elapsedSec * 10_000) / 10_000,
    latency: summarize(ackHist),
    sincePutLatency: summarize(sinceHist),
    streamError: failure()?.message,
  };
  if (c.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    const pct = (l: LatencySummary): string =>
      `p50 ${l.p50Ms}  p90 ${l.p90Ms}  p99 ${l.p99Ms}  p99.9 ${l.p999Ms}  max ${l.maxMs}`;
    process.stdout.write(
      [
        formatResult(puts),
        "",
        `Watch: ${watchers} watchers (${streams} streams × ${perStream}), ${received} of ${expected} events` +
          ` in ${result.elapsedSec} s (${result.eventThroughput} events/s), ${missing} missing, ` +
          `${beforeAck} before their put's ack`,
        `  put ack → event (ms):  ${pct(result.latency)}`,
        `  put sent → event (ms): ${pct(result.sincePutLatency)}`,
        failure() ? `  stream error: ${failure()?.message}` : "",
      ].join("\n") + "\n",
    );
  }
  if (missing > 0 || failure() || puts.count === 0) process.exitCode = 1;
}
