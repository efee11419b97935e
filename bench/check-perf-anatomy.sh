#!/usr/bin/env bash
# Where the time of `etcdctl check perf` goes on a 3-member floe cluster:
# starts the members on 127.0.0.1:21001-21003 (peers 21011-21013) in a
# temporary directory, runs check perf against all three, and while it runs
#   - after 25 s, probes each member with a one-client `floe bench put` of
#     300 requests (the latency a client that is not itself overloaded sees),
#   - after 35 s, reads each member's server-side Put latency
#     (floe_api_request_duration_seconds: request body in -> response out);
# then prints etcdctl's verdict, the CPU time of each member and of etcdctl.
# With 500 clients, throughput = 500 / (latency inside etcdctl's Do): the gap
# between that latency and the probe's is time spent in the client process.
#
# Usage: bench/check-perf-anatomy.sh [LOAD=l]
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${1:-l}
DIR=$(mktemp -d /tmp/floe-anatomy.XXXX)
CLUSTER="n1=http://127.0.0.1:21011,n2=http://127.0.0.1:21012,n3=http://127.0.0.1:21013"
EPS=127.0.0.1:21001,127.0.0.1:21002,127.0.0.1:21003
pids=()
for i in 1 2 3; do
  node bin/floe.js start --name "n$i" --data-dir "$DIR/n$i" --listen-client-urls "http://127.0.0.1:2100$i" \
    --listen-peer-urls "http://127.0.0.1:2101$i" --initial-cluster "$CLUSTER" --log-level warn >"$DIR/n$i.log" 2>&1 &
  pids[i]=$!
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
for i in 1 2 3; do
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:2100$i/health" >/dev/null && break; sleep 0.2; done
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
declare -A before
for i in 1 2 3; do before[$i]=$(cpu "${pids[$i]}"); done
TIMEFORMAT="etcdctl CPU: %U s user + %S s system over %R s"
{ time ETCDCTL_API=3 etcdctl --endpoints="$EPS" check perf --load="$LOAD" >"$DIR/perf.out" 2>&1; } 2>"$DIR/perf.time" &
perf=$!
sleep 25
for i in 1 2 3; do
  node bin/floe.js bench put --endpoints "127.0.0.1:2100$i" --clients 1 --total 300 --key-size 256 --val-size 1024 \
    --key-space-size 100000000 --json >"$DIR/probe-n$i.json"
done
sleep 5
for i in 1 2 3; do
  curl -s "http://127.0.0.1:2100$i/metrics" >"$DIR/metrics-n$i.txt"
  curl -s -X POST -d '{}' "http://127.0.0.1:2100$i/v3/maintenance/status" >"$DIR/status-n$i.json"
done
wait "$perf" || true
grep -aoE "(PASS|FAIL)[^%]*$|Slowest[^%]*$|Stddev[^%]*$" "$DIR/perf.out" | sed 's/.*\r//' || true
cat "$DIR/perf.time"
tick=$(getconf CLK_TCK)
for i in 1 2 3; do
  after=$(cpu "${pids[$i]}")
  node -e '
    const fs = require("fs");
    const [i, cpuS, dir] = process.argv.slice(1);
    const probe = JSON.parse(fs.readFileSync(`${dir}/probe-n${i}.json`, "utf8")).latency;
    const m = fs.readFileSync(`${dir}/metrics-n${i}.txt`, "utf8");
    const val = (s) => Number((m.match(new RegExp(`^floe_api_request_duration_seconds_${s}\\{protocol="grpc",method="KV.Put"\\} (\\S+)`, "m")) ?? [])[1]);
    const st = JSON.parse(fs.readFileSync(`${dir}/status-n${i}.json`, "utf8"));
    const leader = st.leader === st.header.member_id ? " (leader)" : "";
    console.log(`n${i}${leader}: CPU ${cpuS} s; server-side Put mean ${(1000 * val("sum") / val("count")).toFixed(1)} ms over ${val("count")} puts; probe p50 ${probe.p50Ms} ms, p99 ${probe.p99Ms} ms, max ${probe.maxMs} ms`);
  ' "$i" "$(( (after - ${before[$i]}) / tick ))" "$DIR"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; logs in $DIR"
