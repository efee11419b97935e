#!/usr/bin/env node
// Small etcd3-client helpers for bench/restart.sh and bench/failover.sh
// (they work the same against floe and etcd). Keys and values have kvbench's
// shape: key n is n zero-padded to --key-size digits, the value is "v" x
// --val-size, so kvbench and these helpers write the same key space.
//
//   node bench/kvtool.mjs prefill --endpoints a,b,c --keys 100000 [--key-size 16]
//        [--val-size 256] [--concurrency 200]
//     puts keys 0..keys-1 once each; prints "prefill keys=N seconds=S errors=E".
//   node bench/kvtool.mjs first-read --endpoint a --key K [--interval-ms 20] [--timeout-s 300]
//     a linearizable get of K against that one endpoint every interval-ms
//     (each attempt has a 1 s deadline; no retries, no circuit breaker, a
//     failed attempt drops the channel so the next one dials afresh). Prints
//     "probing" after the first failed attempt and, on the first success,
//     "ok <epoch ms of the answer> attempts=N" and exits 0; in between,
//     "error <epoch ms> <text>" whenever the error changes.
//   node bench/kvtool.mjs writer --endpoints a,b,c --log FILE [--interval-ms 5] [--deadline-ms 3000]
//     starts a put every interval-ms, round robin over the endpoints, without
//     waiting for earlier ones (a put stuck on a member whose forwarded
//     proposal died with the old leader would otherwise hide the cluster's
//     recovery behind the client's deadline). One line per put in FILE:
//     "<sent ms> <done ms> <endpoint> ok" or "... err <code or message>".
//     Runs until SIGTERM/SIGINT.
import { writeSync, openSync, closeSync } from "node:fs";
import { parseArgs } from "node:util";
import { noop } from "cockatiel";
import { Etcd3 } from "etcd3";

const [cmd, ...rest] = process.argv.slice(2);
const { values: o } = parseArgs({
  args: rest,
  options: {
    endpoints: { type: "string" },
    endpoint: { type: "string" },
    keys: { type: "string", default: "100000" },
    "key-size": { type: "string", default: "16" },
    "val-size": { type: "string", default: "256" },
    concurrency: { type: "string", default: "200" },
    key: { type: "string" },
    "interval-ms": { type: "string" },
    "timeout-s": { type: "string", default: "300" },
    "deadline-ms": { type: "string", default: "3000" },
    log: { type: "string" },
  },
});

// One client per endpoint, no retries and no circuit breaker: every attempt's
// outcome is seen here, and a member that was down is tried again at once.
const client = (endpoint) =>
  new Etcd3({
    hosts: endpoint,
    faultHandling: { host: () => noop, global: noop },
    grpcOptions: { "grpc.initial_reconnect_backoff_ms": 20, "grpc.max_reconnect_backoff_ms": 100 },
  });
const keyOf = (n) => String(n).padStart(Number(o["key-size"]), "0");
const value = "v".repeat(Number(o["val-size"]));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const errText = (e) => String(e?.code ?? e?.message ?? e).replace(/\s+/g, "_").slice(0, 80);

if (cmd === "prefill") {
  const clients = o.endpoints.split(",").map(client);
  const total = Number(o.keys);
  let next = 0;
  let errors = 0;
  const t0 = Date.now();
  const worker = async (w) => {
    for (;;) {
      const n = next++;
      if (n >= total) return;
      for (let attempt = 0; ; attempt++) {
        try {
          await clients[(n + attempt) % clients.length]
            .put(keyOf(n))
            .value(value)
            .options({ deadline: Date.now() + 10000 });
          break;
        } catch (e) {
          if (++errors > 1000) throw new Error(`prefill: too many errors, last: ${errText(e)}`);
          await sleep(50);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Number(o.concurrency) }, (_, w) => worker(w)));
  console.log(`prefill keys=${total} seconds=${((Date.now() - t0) / 1000).toFixed(1)} errors=${errors}`);
  clients.forEach((c) => c.close());
} else if (cmd === "first-read") {
  const c = client(o.endpoint);
  const interval = Number(o["interval-ms"] ?? 20);
  const giveUp = Date.now() + Number(o["timeout-s"]) * 1000;
  let attempts = 0;
  let announced = false;
  let lastError = "";
  for (;;) {
    const started = Date.now();
    attempts++;
    try {
      await c.get(o.key).options({ deadline: started + 1000 });
      console.log(`ok ${Date.now()} attempts=${attempts}`);
      break;
    } catch (e) {
      const text = errText(e);
      if (!announced) {
        console.log(`probing (first error: ${text})`);
        announced = true;
      } else if (text !== lastError) {
        console.log(`error ${Date.now()} ${text}`);
      }
      lastError = text;
      if (Date.now() > giveUp) {
        console.log(`timeout after ${attempts} attempts, last error ${errText(e)}`);
        process.exitCode = 1;
        break;
      }
    }
    await sleep(Math.max(0, started + interval - Date.now()));
  }
  c.close();
} else if (cmd === "writer") {
  const eps = o.endpoints.split(",");
  const clients = eps.map(client);
  const fd = openSync(o.log, "a");
  const interval = Number(o["interval-ms"] ?? 5);
  const deadlineMs = Number(o["deadline-ms"]);
  let i = 0;
  let inflight = 0;
  const timer = setInterval(() => {
    if (inflight >= 2000) return; // the cluster is stuck; don't pile up more
    const k = i % eps.length;
    const n = i++;
    const sent = Date.now();
    inflight++;
    clients[k]
      .put(keyOf(n % 1000))
      .value(value)
      .options({ deadline: sent + deadlineMs })
      .then(
        () => writeSync(fd, `${sent} ${Date.now()} ${eps[k]} ok\n`),
        (e) => writeSync(fd, `${sent} ${Date.now()} ${eps[k]} err ${errText(e)}\n`),
      )
      .finally(() => inflight--);
  }, interval);
  const stop = () => {
    clearInterval(timer);
    closeSync(fd);
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
} else {
  console.error("usage: kvtool.mjs prefill|first-read|writer ... (see the top of bench/kvtool.mjs)");
  process.exit(2);
}
