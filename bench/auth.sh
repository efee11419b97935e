#!/usr/bin/env bash
# What auth costs a write: put throughput and member CPU per put on a fresh
# 3-member floe cluster with auth off, then with auth on (simple tokens; the
# client logs in as a user whose role may write the benchmark's keys, so
# every put is checked), alternating for --rounds rounds. The client is
# `floe bench put` (kvbench, etcd's Go client, cannot log in), 200 clients
# over 10 connections spread over the three members. CPU/op: utime+stime of
# the three members over the run (from /proc/<pid>/stat), per completed put.
#
# Usage: bench/auth.sh [--seconds 15] [--rounds 2] [--floe-commit REV] [--no-write] [--out DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCRIPT=auth.sh

ORIG_ARGS="$(printf "%q " "$@")"
ORIG_ARGS="${ORIG_ARGS% }"
SECS=15
ROUNDS=2
FLOE_REV=""
WRITE=1
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --floe-commit) FLOE_REV="$2"; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "$SCRIPT: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/floe-auth-bench-XXXXXX)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

. "$ROOT/bench/cluster-lib.sh"
resolve_floe_tree "$FLOE_REV"

ctl() { etcdctl --endpoints="$ENDPOINTS" "$@" >/dev/null; }
ticks() { local s=0 i; for i in 0 1 2; do s=$((s + $(awk '{print $14 + $15}' "/proc/${MEMBER_PIDS[i]}/stat"))); done; echo $s; }

ROWS=()
run_one() { # $1: off|on
  local mode="$1" user=() t0 t1 out rps p50 p99 n
  start_cluster floe "auth-$mode"
  wait_leader 30 >/dev/null
  if [ "$mode" = on ]; then
    ctl user add root:rootpw
    ctl user grant-role root root
    ctl role add bench
    # floe bench's keys are zigzag varints padded with zeros: every key but number 0 (all
    # zero bytes, which etcdctl cannot pass as an argument); a refused put would show as an error
    ctl role grant-permission bench readwrite --from-key $'\x01'
    ctl user add bench:benchpw
    ctl user grant-role bench bench
    ctl auth enable
    user=(--user bench:benchpw)
  fi
  local load; load=$(loadavg1)
  t0=$(ticks)
  out=$(node "$FLOE_ROOT/bin/floe.js" bench put --endpoints "$ENDPOINTS" --conns 10 --clients 200 \
    --duration "${SECS}s" --key-size 16 --val-size 256 --key-space-size 100000 --json --no-progress "${user[@]}")
  t1=$(ticks)
  echo "$out" >"$OUT/$mode-$(date +%s).json"
  n=$(node -e 'const r=JSON.parse(process.argv[1]); console.log(r.count, Math.round(r.throughput), r.latency.p50Ms, r.latency.p99Ms, r.errors)' "$out")
  read -r count rps p50 p99 errs <<<"$n"
  local cpu_us=$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / (count > 0 ? count : 1) ))
  ROWS+=("| $mode | $load | $count | $rps | $p50 | $p99 | $cpu_us | $errs |")
  log "auth $mode: $count puts, $rps/s, p50 $p50 ms, p99 $p99 ms, CPU/op $cpu_us µs, errors $errs"
  stop_members
}

for _ in $(seq 1 "$ROUNDS"); do
  run_one off
  run_one on
done

SECTION="$OUT/section.md"
{
  echo "## Put throughput with auth on and off (bench/auth.sh)"
  echo
  echo "Command: \`bench/auth.sh $ORIG_ARGS\` ($(date -u +'%Y-%m-%d %H:%M') UTC), floe at $FLOE_COMMIT, 3 members on loopback."
  echo "$(machine_line)"
  echo
  echo "Client: \`floe bench put --conns 10 --clients 200 --duration ${SECS}s --key-size 16 --val-size 256 --key-space-size 100000\` over the three endpoints; with auth on it logs in as a user whose role may write every key (simple token), so each put is identified by its token and checked at apply. CPU/op: the three members' CPU over the run per completed put."
  echo
  echo "| auth | load avg before | puts | req/s | p50 ms | p99 ms | member CPU/op µs | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for r in "${ROWS[@]}"; do echo "$r"; done
  echo
} >"$SECTION"
cat "$SECTION"
publish_section "$SECTION"
