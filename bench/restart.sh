#!/usr/bin/env bash
# How long a restarted follower takes to serve again. Starts a 3-member floe
# (or etcd) cluster on loopback, writes --keys distinct keys (16 B keys, 256 B
# values, kvbench's key shape), then --runs times: kill -9 one follower,
# start it again with the same flags, and measure from the restart command to
#   - the member's own "ready" log line (floe: "floe member ready", logged
#     once its client port listens; etcd 3.4: "serving client traffic ...",
#     logged once it has rejoined and published its attributes; members log
#     at info level here), and
#   - the first successful linearizable get served by that member: a probe
#     (bench/kvtool.mjs first-read) already running before the restart asks
#     only that endpoint every 20 ms, each attempt with a 1 s deadline.
# By default a write load runs throughout (kvbench -op put, 10 clients on 2
# connections, over the same key space): a member catching up under writes is
# the case that matters. It then prints each run, the median and the max, and
# appends a short section to bench/RESULTS.md unless --no-write.
#
# Usage: bench/restart.sh [--system floe|etcd] [--runs 5] [--keys 100000] [--no-load]
#          [--load-clients 10] [--floe-commit REV] [--no-write] [--out DIR]
#   --floe-commit   run the floe members of this commit instead of a snapshot
#               of the working tree (both built privately: see resolve_floe_tree
#               in bench/cluster-lib.sh)
# Environment: KVBENCH=path of the kvbench binary (default /tmp/kvbench; built
# with ../shared/tools/kvbench/build.sh when missing).
# Ports: clients 2379, 22379, 32379; peers 12380, 22380, 32380 (as compare-etcd.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCRIPT=restart.sh

ORIG_ARGS="$(printf "%q " "$@")"
ORIG_ARGS="${ORIG_ARGS% }"
SYS=floe
RUNS=5
KEYS=100000
LOAD=1
LOAD_CLIENTS=10
FLOE_REV=""
WRITE=1
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --system) SYS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --keys) KEYS="$2"; shift 2 ;;
    --no-load) LOAD=0; shift ;;
    --load-clients) LOAD_CLIENTS="$2"; shift 2 ;;
    --floe-commit) FLOE_REV="$2"; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "$SCRIPT: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$SYS" in floe|etcd) ;; *) echo "$SCRIPT: --system floe|etcd" >&2; exit 2 ;; esac
[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/floe-restart-XXXXXX)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# shellcheck source=bench/cluster-lib.sh
. "$ROOT/bench/cluster-lib.sh"
MEMBER_LOG_LEVEL=info # for the "ready" lines

[ "$SYS" != floe ] || resolve_floe_tree "$FLOE_REV"
[ "$LOAD" = 0 ] || resolve_kvbench
if [ "$SYS" = floe ]; then VERSION="floe at $FLOE_COMMIT"; else VERSION="$(etcd --version | awk 'NR == 1')"; fi
KEY0=$(printf "%016d" 0)
LOAD_BEFORE="$(loadavg1)"
LOADS_DURING=()

log "starting a 3-member $SYS cluster (output in $OUT)"
start_cluster "$SYS" "$SYS"
wait_leader 30 >/dev/null || exit 1

log "writing $KEYS keys"
node bench/kvtool.mjs prefill --endpoints "$ENDPOINTS" --keys "$KEYS" --concurrency 100 | tee "$OUT/prefill.txt" >&2
# etcdctl 3.4 has no --count-only; a range's count is the total even with a limit
COUNT=$(etcdctl --endpoints="$ENDPOINTS" get "" --prefix --limit=1 -w json | sed -n 's/.*"count":\([0-9]*\).*/\1/p' || true)
[ -n "$COUNT" ] && [ "$COUNT" -ge "$KEYS" ] || die "the cluster holds ${COUNT:-?} keys, expected at least $KEYS"
log "the cluster holds $COUNT keys"

LOAD_DESC="none"
if [ "$LOAD" = 1 ]; then
  LOAD_DESC="kvbench -op put -clients $LOAD_CLIENTS -conns 2 -key-size 16 -val-size 256 -keys $KEYS against all three endpoints"
  "$KVBENCH" -endpoints "$ENDPOINTS" -op put -clients "$LOAD_CLIENTS" -conns 2 -seconds 86400 \
    -key-size 16 -val-size 256 -keys "$KEYS" >"$OUT/load.out" 2>"$OUT/load.err" &
  BG_PIDS+=($!)
  log "write load running: $LOAD_DESC"
  sleep 3
fi

RESULTS=() # "run member down_ms ready_ms read_ms"
ready_ms_of() { # $1: log file → epoch ms of the member's ready line, or nothing
  local line
  if [ "$SYS" = floe ]; then
    line=$(grep -m1 '"msg":"floe member ready"' "$1" || true)
    sed -n 's/.*"time":\([0-9]*\).*/\1/p' <<<"$line"
  else
    # 3.4 with --logger zap logs this once ReadyNotify fired (it has joined
    # and published its attributes), instead of "ready to serve client requests"
    line=$(grep -m1 -E 'ready to serve client requests|serving client traffic' "$1" || true)
    [ -z "$line" ] || date -d "$(sed -n 's/.*"ts":"\([^"]*\)".*/\1/p' <<<"$line")" +%s%3N
  fi
}

for run in $(seq 1 "$RUNS"); do
  leader=$(wait_leader 30) || exit 1
  followers=()
  for i in 0 1 2; do [ "$i" = "$leader" ] || followers+=("$i"); done
  f=${followers[$(((run - 1) % 2))]} # alternate between the two followers
  ep="127.0.0.1:${C[f]}"
  log "run $run: kill -9 follower n$((f + 1)) ($ep, pid ${MEMBER_PIDS[f]})"
  killed_ms=$(now_ms)
  kill -KILL "${MEMBER_PIDS[f]}"
  wait "${MEMBER_PIDS[f]}" 2>/dev/null || true
  MEMBER_PIDS[f]=""
  # the probe starts while the member is down and says "probing" once its
  # first attempt has failed, so that its own start-up is not in the figure
  probe_out="$OUT/probe-$run.txt"
  node bench/kvtool.mjs first-read --endpoint "$ep" --key "$KEY0" --interval-ms 20 --timeout-s 300 >"$probe_out" 2>&1 &
  probe=$!
  BG_PIDS+=("$probe")
  for _ in $(seq 1 300); do grep -q '^probing' "$probe_out" && break; kill -0 "$probe" 2>/dev/null || break; sleep 0.1; done
  grep -q '^probing' "$probe_out" || die "the probe did not start: $(cat "$probe_out")"
  restart_ms=$(now_ms)
  start_member "$SYS" "$f" "$OUT/$SYS-n$((f + 1))-restart$run.log"
  wait "$probe" || die "run $run: no linearizable read from $ep: $(tail -1 "$probe_out")"
  read_ms=$(awk '$1 == "ok" {print $2}' "$probe_out")
  ready=$(ready_ms_of "$OUT/$SYS-n$((f + 1))-restart$run.log")
  down=$((restart_ms - killed_ms))
  to_read=$((read_ms - restart_ms))
  to_ready=n/a
  [ -z "$ready" ] || to_ready=$((ready - restart_ms))
  RESULTS+=("$run n$((f + 1)) $down $to_ready $to_read")
  LOADS_DURING+=("$(loadavg1)")
  log "run $run: n$((f + 1)) down ${down} ms; restart → ready log ${to_ready} ms; restart → first linearizable read ${to_read} ms"
  wait_healthy 120
  sleep 2
done
if [ "$LOAD" = 1 ]; then
  stop_bg # kvbench killed: it prints nothing, the load's own figures are not the point
fi

# ---- report ----
READS=$(for r in "${RESULTS[@]}"; do echo "$r"; done | awk '{print $5}' | median_max)
READY=$(for r in "${RESULTS[@]}"; do echo "$r"; done | awk '$4 != "n/a" {print $4}' | median_max)
SECTION="$OUT/section.md"
{
  echo "## Follower restart → first linearizable read, $SYS (bench/restart.sh)"
  echo
  echo "Command: \`bench/restart.sh $ORIG_ARGS\` ($(date -u +'%Y-%m-%d %H:%M') UTC), $VERSION; 3 members on loopback, $KEYS keys of 16 B with 256 B values written first ($(cat "$OUT/prefill.txt")); write load during the runs: $LOAD_DESC."
  echo "$(machine_line) Load average (1 min) before: $LOAD_BEFORE; after each run: ${LOADS_DURING[*]}."
  echo
  echo "Each run: kill -9 a follower, start it again at once with the same flags, and time from that start command to the member's \"ready\" log line and to the first successful linearizable get served by that member (polled every 20 ms against that endpoint only)."
  echo
  echo "| run | member | down (kill → restart) ms | restart → ready log ms | restart → first linearizable read ms |"
  echo "|---|---|---:|---:|---:|"
  for r in "${RESULTS[@]}"; do
    read -r a b c d e <<<"$r"
    echo "| $a | $b | $c | $d | $e |"
  done
  echo
  echo "Restart → first linearizable read: $READS. Restart → ready log: $READY."
  echo
} >"$SECTION"
cat "$SECTION"
publish_section "$SECTION"
