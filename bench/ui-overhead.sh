#!/usr/bin/env bash
# What an open dashboard costs the members: a 3-member floe cluster under
# `floe bench put` load, measured with the dashboard closed and open (headless
# chromium on the cluster view of n1, bench/ui-open.ts), alternating, each
# round on a fresh cluster. Member CPU (utime + stime of the three members
# from /proc) over the timed window, per second and per put.
#   bench/ui-overhead.sh [--rounds 3] [--seconds 30] [--idle-seconds 20] [--clients 10] [--no-write] [--out DIR]
# Before the load, each run also measures the members idle for --idle-seconds:
# with no clients, what the dashboard's sampling costs stands out from noise.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRIPT=ui-overhead
ROUNDS=3 SECS=30 IDLE=20 CLIENTS=10 WRITE=1 OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
  --rounds) ROUNDS="$2"; shift 2 ;;
  --seconds) SECS="$2"; shift 2 ;;
  --clients) CLIENTS="$2"; shift 2 ;;
  --idle-seconds) IDLE="$2"; shift 2 ;;
  --no-write) WRITE=0; shift ;;
  --out) OUT="$2"; shift 2 ;;
  *) echo "usage: $0 [--rounds N] [--seconds S] [--clients C] [--no-write] [--out DIR]" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$(mktemp -d /tmp/floe-ui-overhead-XXXXXX)}"
mkdir -p "$OUT"
cd "$ROOT"
# shellcheck source=bench/cluster-lib.sh
source bench/cluster-lib.sh
resolve_floe_tree
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || die "no chromium at $CHROMIUM (apt-get install chromium)"

cpu_ticks() { local t=0 p; for p in "${MEMBER_PIDS[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
HZ=$(getconf CLK_TCK)

run() { # $1: closed|open
  rm -rf "$OUT/floe-data"
  start_cluster floe "$1"
  wait_leader >/dev/null
  local ui_pid=""
  if [ "$1" = open ]; then
    mkfifo "$OUT/ui-in.$$" 2>/dev/null || true
    node --import tsx bench/ui-open.ts "http://127.0.0.1:${C[0]}/ui/" <"$OUT/ui-in.$$" >"$OUT/ui-open.log" 2>&1 &
    ui_pid=$!
    exec 9>"$OUT/ui-in.$$"
    for _ in $(seq 1 300); do grep -q '^open' "$OUT/ui-open.log" && break; sleep 0.1; done
    grep -q '^open' "$OUT/ui-open.log" || die "the dashboard did not open: $(cat "$OUT/ui-open.log")"
  fi
  # idle: what the members spend with no client load (heartbeats, timers; and the dashboard's sampling when open)
  sleep 3
  local i0 i1
  i0=$(cpu_ticks)
  sleep "$IDLE"
  i1=$(cpu_ticks)
  # warm-up, unmeasured
  node "$FLOE_ROOT/bin/floe.js" bench put --endpoints "$ENDPOINTS" --clients "$CLIENTS" --conns 2 \
    --key-size 16 --val-size 256 --key-space-size 100000 --duration 5s --json >/dev/null
  local t0 t1 res
  t0=$(cpu_ticks)
  res=$(node "$FLOE_ROOT/bin/floe.js" bench put --endpoints "$ENDPOINTS" --clients "$CLIENTS" --conns 2 \
    --key-size 16 --val-size 256 --key-space-size 100000 --duration "${SECS}s" --json)
  t1=$(cpu_ticks)
  if [ -n "$ui_pid" ]; then
    exec 9>&-
    wait "$ui_pid" 2>/dev/null || true
    rm -f "$OUT/ui-in.$$"
  fi
  stop_members TERM
  node -e '
    const r = JSON.parse(process.argv[1]);
    const ticks = Number(process.argv[2]), hz = Number(process.argv[3]), secs = Number(process.argv[4]);
    const cpuSecs = ticks / hz;
    const puts = r.count;
    console.log([process.argv[5], Math.round(r.throughput), (100 * cpuSecs / secs).toFixed(1), Math.round(1e6 * cpuSecs / puts)].join(" "));
    const idle = Number(process.argv[6]) / hz / Number(process.argv[7]);
    console.log((100 * idle).toFixed(2));
  ' "$res" "$((t1 - t0))" "$HZ" "$SECS" "$1" "$((i1 - i0))" "$IDLE" | paste -sd' ' | tee -a "$OUT/rows"
}

: >"$OUT/rows"
load_before=$(loadavg1)
for r in $(seq 1 "$ROUNDS"); do
  log "round $r of $ROUNDS"
  run closed
  run open
done

{
  echo "## Dashboard overhead: member CPU with the dashboard closed and open (bench/ui-overhead.sh)"
  echo
  echo "Command: \`bench/ui-overhead.sh --rounds $ROUNDS --seconds $SECS --clients $CLIENTS\` ($(date -u '+%Y-%m-%d %H:%M') UTC), floe at $FLOE_COMMIT."
  machine_line
  echo "Load average (1 min) before: $load_before."
  echo
  echo "Each round: a fresh 3-member cluster; \`floe bench put --clients $CLIENTS --conns 2 --key-size 16 --val-size 256 --key-space-size 100000\` against all three endpoints, 5 s unmeasured, then ${SECS} s measured; \"open\" has headless chromium (bench/ui-open.ts) on the cluster view of n1 for the whole run (live charts, one sample of every member a second). Member CPU: utime + stime of the three members over the measured window; idle: the same over ${IDLE} s with no clients, before the load."
  echo
  echo "| round | dashboard | idle: member CPU (% of one core, 3 members) | under load: puts/s | member CPU (% of one core) | member CPU per put (µs) |"
  echo "|---:|---|---:|---:|---:|---:|"
  awk '{ printf "| %d | %s | %s | %s | %s | %s |\n", int((NR + 1) / 2), $1, $5, $2, $3, $4 }' "$OUT/rows"
  echo
  awk '$1 == "closed" { c += $4; nc++ } $1 == "open" { o += $4; no++ }
    $1 == "closed" { ic += $5; lc += $3 } $1 == "open" { io += $5 }
    END { if (nc && no) {
      printf "Mean member CPU per put under load: closed %.0f µs, open %.0f µs (%+.1f%%).\n", c / nc, o / no, 100 * (o / no - c / nc) / (c / nc)
      printf "Mean idle member CPU: closed %.2f%%, open %.2f%% of one core: the dashboard costs the three members %.2f%% of one core, %.1f%% of their CPU under this load (%.1f%% of one core).\n", ic / nc, io / no, (io / no - ic / nc), 100 * (io / no - ic / nc) / (lc / nc), lc / nc } }' "$OUT/rows"
} >"$OUT/section.md"
cat "$OUT/section.md"
publish_section "$OUT/section.md"
