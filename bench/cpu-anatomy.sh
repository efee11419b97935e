#!/usr/bin/env bash
# Where a put's member CPU goes, floe beside etcd: for each system, a fresh
# 3-member cluster on loopback (bench/cluster-lib.sh), a warm-up, then one
# kvbench run; from /proc it reports per member and per completed request:
# user and system CPU (µs), read- and write-type syscalls (syscr/syscw from
# /proc/<pid>/io, all threads) and voluntary context switches (all threads);
# for floe also the split between the main thread (JavaScript, the
# synchronous syscalls, GC work done there) and the other threads (V8's GC
# helpers and libuv's pool, which runs fdatasync).
#
# Usage: bench/cpu-anatomy.sh [--clients 200] [--conns 10] [--seconds 10]
#          [--systems "etcd floe"] [--floe-commit REV] [--node-flags "..."]
# Prints only; nothing is written to bench/RESULTS.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCRIPT=cpu-anatomy.sh
CLIENTS=200 CONNS=10 SECS=10 SYSTEMS="etcd floe" FLOE_REV="" NODE_FLAGS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) CLIENTS="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --seconds) SECS="$2"; shift 2 ;;
    --systems) SYSTEMS="$2"; shift 2 ;;
    --floe-commit) FLOE_REV="$2"; shift 2 ;;
    --node-flags) NODE_FLAGS="$2"; shift 2 ;;
    *) echo "$SCRIPT: unknown argument $1" >&2; exit 2 ;;
  esac
done
OUT=$(mktemp -d /tmp/floe-anatomy.XXXX)
# shellcheck source=bench/cluster-lib.sh
source "$ROOT/bench/cluster-lib.sh"
resolve_kvbench
[[ " $SYSTEMS " != *" floe "* ]] || resolve_floe_tree $FLOE_REV

# One line per thread: pid tid syscr syscw voluntary-switches utime stime
# (syscr/syscw are per process; they are printed on the main thread's line).
snapshot() {
  local p t io
  for p in "${MEMBER_PIDS[@]}"; do
    io=$(awk '/^syscr/ {r = $2} /^syscw/ {w = $2} END {print r, w}' "/proc/$p/io")
    for t in /proc/"$p"/task/*; do
      awk -v p="$p" -v t="${t##*/}" -v io="$io" '
        FILENAME ~ /status$/ && /^voluntary_ctxt_switches/ {v = $2}
        FILENAME ~ /stat$/ {u = $14; s = $15}
        END {if (t != p) io = "0 0"; print p, t, io, v, u, s}' "$t/status" "$t/stat" 2>/dev/null || true
    done
  done
}

run() {
  "$KVBENCH" -op put -clients "$CLIENTS" -conns "$CONNS" -endpoints "$ENDPOINTS" \
    -key-size 16 -val-size 256 -keys 100000 -seconds "$1"
}

for sys in $SYSTEMS; do
  start_cluster "$sys" anatomy "$NODE_FLAGS"
  leader=$(wait_leader)
  run 4 >/dev/null
  snapshot >"$OUT/$sys.before"
  res=$(run "$SECS")
  snapshot >"$OUT/$sys.after"
  stop_members
  ok=$(grep -o 'ok=[0-9]*' <<<"$res" | cut -d= -f2)
  echo "$sys (leader n$((leader + 1)), load $(loadavg1)): $res"
  # Ticks are 10 ms (USER_HZ 100): µs/op = ticks * 1e4 / ok.
  join <(awk '{print $1 "/" $2, $0}' "$OUT/$sys.before" | sort) <(awk '{print $1 "/" $2, $0}' "$OUT/$sys.after" | sort) |
    awk -v ok="$ok" '
      {p = $2; main = ($2 == $3); r[p] += $11 - $4; w[p] += $12 - $5; v[p] += $13 - $6
       u[p] += $14 - $7; s[p] += $15 - $8; if (main) m[p] += ($14 - $7) + ($15 - $8); else o[p] += ($14 - $7) + ($15 - $8)}
      END {
        n = 0
        for (p in u) {
          n++
          printf "  pid %s: user %.1f sys %.1f µs/op (main thread %.1f, other threads %.1f); syscalls r %.2f w %.2f /op; voluntary switches %.2f /op\n",
            p, u[p] * 1e4 / ok, s[p] * 1e4 / ok, m[p] * 1e4 / ok, o[p] * 1e4 / ok, r[p] / ok, w[p] / ok, v[p] / ok
          tu += u[p]; ts += s[p]
        }
        printf "  all members: user %.1f sys %.1f µs/op\n", tu * 1e4 / ok, ts * 1e4 / ok
      }'
done
