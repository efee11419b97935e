#!/usr/bin/env bash
# CPU time each member spends per put (from /proc/<pid>/stat utime+stime),
# which depends far less on what else the machine runs than throughput does.
# Starts a 3-member floe cluster on 127.0.0.1:21001-21003 (peers 21011-21013)
# in a temporary directory, runs `floe bench put`, prints ms of CPU per 1000
# puts for each member, and stops the cluster.
#
# Usage: bench/cpu-per-put.sh [TOTAL=30000] [CLIENTS=500]
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL=${1:-30000}
CLIENTS=${2:-500}
DIR=$(mktemp -d /tmp/floe-cpu.XXXX)
CLUSTER="n1=http://127.0.0.1:21011,n2=http://127.0.0.1:21012,n3=http://127.0.0.1:21013"
pids=()
for i in 1 2 3; do
  node bin/floe.js start --name "n$i" --data-dir "$DIR/n$i" --listen-client-urls "http://127.0.0.1:2100$i" \
    --listen-peer-urls "http://127.0.0.1:2101$i" --initial-cluster "$CLUSTER" --log-level warn >"$DIR/n$i.log" 2>&1 &
  pids[$i]=$!
done
trap 'kill ${pids[*]} 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:21001/health >/dev/null && break
  sleep 0.2
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
declare -A before
for i in 1 2 3; do before[$i]=$(cpu "${pids[$i]}"); done
node bin/floe.js bench put --endpoints 127.0.0.1:21001,127.0.0.1:21002,127.0.0.1:21003 --target-leader \
  --conns 10 --clients "$CLIENTS" --total "$TOTAL" --val-size 1024 --key-space-size 100000 2>&1 | grep -E "Requests/sec|p50"
tick=$(getconf CLK_TCK)
for i in 1 2 3; do
  after=$(cpu "${pids[$i]}")
  role=$(curl -s "http://127.0.0.1:2100$i/v3/maintenance/status" -X POST -d '{}' | grep -q "\"leader\":\"$(curl -s "http://127.0.0.1:2100$i/v3/maintenance/status" -X POST -d '{}' | sed -E 's/.*"member_id":"([0-9]+)".*/\1/')\"" && echo leader || echo follower)
  echo "n$i ($role): $(( (after - ${before[$i]}) * 1000 * 1000 / tick / TOTAL )) ms CPU per 1000 puts"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
