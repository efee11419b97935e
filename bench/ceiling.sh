#!/usr/bin/env bash
# What `etcdctl check perf` can reach on this machine when the server does no
# work at all: three Node.js HTTP/2 servers (bench/ceiling/noop-grpc.ts) answer
# every gRPC call with an empty message at once, no Raft, no disk. Prints
# etcdctl's verdict and the CPU time the servers and etcdctl itself used.
# That bounds what any Node.js server can do under the same client.
#
# Usage: bench/ceiling.sh [LOAD=l] [node|floe] [DELAY_MS=0]
#   node  Node's http2 module (nghttp2), floe's client port until 2026-12-03
#   floe  floe's own HTTP/2 layer (src/api/h2/), the client port's now
#   DELAY_MS  each answer leaves that much later (latency without CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD=${1:-l}
MODE=${2:-node}
DELAY_MS=${3:-0}
PORTS=(21101 21102 21103)
pids=()
for p in "${PORTS[@]}"; do
  node --import tsx bench/ceiling/noop-grpc.ts "$p" "$MODE" "$DELAY_MS" &
  pids+=($!)
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
for p in "${PORTS[@]}"; do
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
before=0
for pid in "${pids[@]}"; do before=$((before + $(cpu "$pid"))); done
out=$(mktemp)
TIMEFORMAT="etcdctl CPU: %U s user + %S s system over %R s"
{ time ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:21101,127.0.0.1:21102,127.0.0.1:21103 \
    check perf --load="$LOAD" >"$out" 2>&1; } 2>"$out.time" || true
after=0
for pid in "${pids[@]}"; do after=$((after + $(cpu "$pid"))); done
grep -E "PASS|FAIL|Throughput|Slowest|Stddev|Error" "$out" | sed 's/.*\r//' || true
cat "$out.time"
echo "servers ($MODE, answers delayed ${DELAY_MS} ms) CPU: $(( (after - before) / $(getconf CLK_TCK) )) s (three processes together)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
rm -f "$out" "$out.time"
