#!/usr/bin/env bash
# How long writes stop when the leader dies. Starts a 3-member floe (or etcd)
# cluster on loopback with default timeouts and a steady write load: one
# client (bench/kvtool.mjs writer) starting a put every 5 ms, round robin over
# the three endpoints, each with a 3 s deadline and without waiting for the
# previous one, logging every put's send and answer time. Then --runs times:
# find the leader (`etcdctl endpoint status`), kill -9 it, and measure from
# the kill to the first acknowledged put among those sent after the kill;
# restart the killed member with the same flags, wait until all three are
# healthy, and go again. It prints each run, the median and the max, and
# appends a short section to bench/RESULTS.md unless --no-write.
#
# Why puts are not strictly sequential: a put sent to a follower just before
# or after the kill is forwarded to the dead leader and is lost there; a
# sequential client would then wait out its own deadline, and the figure
# would be the client's timeout rather than the cluster's recovery. With a put
# every 5 ms the figure has about 5 ms resolution on top of a put's latency.
#
# Usage: bench/failover.sh [--system floe|etcd] [--runs 10] [--interval-ms 5]
#          [--floe-commit REV] [--no-write] [--out DIR]
#   --floe-commit   run the floe members of this commit instead of a snapshot
#               of the working tree (both built privately: see resolve_floe_tree
#               in bench/cluster-lib.sh)
# Ports: clients 2379, 22379, 32379; peers 12380, 22380, 32380 (as compare-etcd.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCRIPT=failover.sh

ORIG_ARGS="$(printf "%q " "$@")"
ORIG_ARGS="${ORIG_ARGS% }"
SYS=floe
RUNS=10
INTERVAL=5
FLOE_REV=""
WRITE=1
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --system) SYS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --interval-ms) INTERVAL="$2"; shift 2 ;;
    --floe-commit) FLOE_REV="$2"; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "$SCRIPT: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$SYS" in floe|etcd) ;; *) echo "$SCRIPT: --system floe|etcd" >&2; exit 2 ;; esac
[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/floe-failover-XXXXXX)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# shellcheck source=bench/cluster-lib.sh
. "$ROOT/bench/cluster-lib.sh"

[ "$SYS" != floe ] || resolve_floe_tree "$FLOE_REV"
if [ "$SYS" = floe ]; then VERSION="floe at $FLOE_COMMIT"; else VERSION="$(etcd --version | awk 'NR == 1')"; fi
LOAD_BEFORE="$(loadavg1)"
LOADS_DURING=()

log "starting a 3-member $SYS cluster (output in $OUT)"
start_cluster "$SYS" "$SYS"
wait_leader 30 >/dev/null || exit 1

WLOG="$OUT/writes.log"
: >"$WLOG"
node bench/kvtool.mjs writer --endpoints "$ENDPOINTS" --log "$WLOG" --interval-ms "$INTERVAL" --deadline-ms 3000 \
  2>"$OUT/writer.err" &
BG_PIDS+=($!)
acks_since() { awk -v t="$1" '$4 == "ok" && $2 >= t' "$WLOG" | wc -l; }
t=$(now_ms)
for _ in $(seq 1 100); do [ "$(acks_since "$t")" -ge 100 ] && break; sleep 0.1; done
[ "$(acks_since "$t")" -ge 100 ] || die "the writer got fewer than 100 acks in 10 s: $(tail -3 "$WLOG") $(cat "$OUT/writer.err")"
log "writer running: a put every $INTERVAL ms, round robin over $ENDPOINTS"
sleep 2

RESULTS=() # "run killed new_leader gap_ms kill_ms first_ack_ms"
for run in $(seq 1 "$RUNS"); do
  leader=$(wait_leader 30) || exit 1
  sleep 1 # steady state before the kill
  log "run $run: kill -9 leader n$((leader + 1)) (pid ${MEMBER_PIDS[leader]})"
  kill_ms=$(now_ms)
  kill -KILL "${MEMBER_PIDS[leader]}"
  wait "${MEMBER_PIDS[leader]}" 2>/dev/null || true
  MEMBER_PIDS[leader]=""
  # the first put sent after the kill that got an ack, and when
  first=""
  for _ in $(seq 1 600); do
    first=$(awk -v k="$kill_ms" '$4 == "ok" && $1 >= k { if (m == "" || $2 < m) m = $2 } END { print m }' "$WLOG")
    [ -z "$first" ] || break
    sleep 0.1
  done
  [ -n "$first" ] || die "run $run: no put acknowledged within 60 s of the leader's kill"
  gap=$((first - kill_ms))
  newleader=$(wait_leader 30) || exit 1
  RESULTS+=("$run n$((leader + 1)) n$((newleader + 1)) $gap $kill_ms $first")
  LOADS_DURING+=("$(loadavg1)")
  log "run $run: leader kill → first acknowledged put $gap ms (new leader n$((newleader + 1)))"
  start_member "$SYS" "$leader" "$OUT/$SYS-n$((leader + 1))-restart$run.log"
  wait_healthy 120
  sleep 2
done
sleep 3 # the writer's deadline: every put of the last run has its line
stop_bg
if grep -q . "$OUT/writer.err"; then log "writer stderr: $(tail -3 "$OUT/writer.err")"; fi

# ---- report ----
GAPS=$(for r in "${RESULTS[@]}"; do echo "$r"; done | awk '{print $4}' | median_max)
SECTION="$OUT/section.md"
{
  echo "## Leader failover: kill -9 → next acknowledged write, $SYS (bench/failover.sh)"
  echo
  echo "Command: \`bench/failover.sh $ORIG_ARGS\` ($(date -u +'%Y-%m-%d %H:%M') UTC), $VERSION, 3 members on loopback with default timeouts."
  echo "$(machine_line) Load average (1 min) before: $LOAD_BEFORE; after each run: ${LOADS_DURING[*]}."
  echo
  echo "Write load: one etcd3 (Node) client starting a put every $INTERVAL ms, round robin over the three endpoints, each with a 3 s deadline, not waiting for the previous one (bench/kvtool.mjs writer). Each run: kill -9 the leader, time from the kill to the first ack of a put sent after the kill; then restart the killed member and wait until all three are healthy."
  echo
  echo "| run | killed leader | new leader | kill → first acknowledged put ms | puts sent in between that failed (refused, no leader, or deadline) |"
  echo "|---|---|---|---:|---:|"
  for r in "${RESULTS[@]}"; do
    read -r a b c d k f <<<"$r"
    # puts sent between the kill and the first ack that failed: refused by the
    # dead member, "no leader", or lost with the old leader (deadline exceeded)
    failed=$(awk -v k="$k" -v f="$f" '$4 == "err" && $1 >= k && $1 <= f' "$WLOG" | wc -l)
    echo "| $a | $b | $c | $d | $failed |"
  done
  echo
  echo "Kill → first acknowledged put: $GAPS."
  echo
} >"$SECTION"
cat "$SECTION"
publish_section "$SECTION"
