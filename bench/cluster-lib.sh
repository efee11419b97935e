# shellcheck shell=bash
# Sourced by bench/compare-etcd.sh, bench/restart.sh and bench/failover.sh:
# a 3-member floe or etcd cluster on loopback, with the same ports and flags
# for both systems (etcd's dev layout: clients on 2379, 22379, 32379, peers on
# 12380, 22380, 32380), data directories under $OUT.
#
# The sourcing script sets ROOT (the repository), OUT (its output directory)
# and SCRIPT (its name, for messages), then may call resolve_floe_tree,
# resolve_kvbench, start_cluster, ... Everything started here (members and
# background helpers) is stopped by the EXIT trap installed below.

C=(2379 22379 32379)
P=(12380 22380 32380)
CLUSTER="n1=http://127.0.0.1:12380,n2=http://127.0.0.1:22380,n3=http://127.0.0.1:32380"
ENDPOINTS="127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379"
MEMBER_PIDS=() # by member index 0..2; empty once stopped
BG_PIDS=()     # samplers, load generators, probes
MEMBER_LOG_LEVEL=warn
FLOE_ROOT="$ROOT"
FLOE_COMMIT=""
export ETCDCTL_API=3

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() {
  echo "$SCRIPT: $*" >&2
  exit 1
}
now_ms() { echo $((${EPOCHREALTIME//[.,]/} / 1000)); }

stop_member() { # $1: index, $2: signal (default TERM)
  local i="$1" sig="${2:-TERM}" pid="${MEMBER_PIDS[$1]:-}"
  [ -n "$pid" ] || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "member n$((i + 1)) (pid $pid) still running 20 s after SIG$sig; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  MEMBER_PIDS[i]=""
}

stop_members() { # $1: signal (default TERM); signals all three first, then waits
  local sig="${1:-TERM}" i
  for i in 0 1 2; do [ -z "${MEMBER_PIDS[i]:-}" ] || kill "-$sig" "${MEMBER_PIDS[i]}" 2>/dev/null || true; done
  for i in 0 1 2; do stop_member "$i" "$sig"; done
}

stop_bg() {
  local pid
  for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  BG_PIDS=()
}

FLOE_TREE_TMP=""
cleanup() {
  trap - EXIT INT TERM
  stop_bg
  stop_members TERM
  [ -z "$FLOE_TREE_TMP" ] || rm -rf "$FLOE_TREE_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ports_free() {
  local p
  for p in "${C[@]}" "${P[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      die "port $p is in use (someone else's cluster?); stop whatever listens there first ($(ss -ltnpH "sport = :$p" 2>/dev/null | awk 'NR == 1' | grep -o 'users:.*' || echo 'ss shows no owner'))"
    fi
  done
}

wait_healthy() { # [$1: timeout seconds, default 90] [$2...: member indexes, default all]
  local timeout="${1:-90}" i
  shift || true
  local idx=("$@")
  [ ${#idx[@]} -gt 0 ] || idx=(0 1 2)
  local deadline=$((SECONDS + timeout))
  for i in "${idx[@]}"; do
    until curl -fsS -m 2 "http://127.0.0.1:${C[i]}/health" 2>/dev/null | grep -q '"health":"true"'; do
      [ $SECONDS -le $deadline ] || die "127.0.0.1:${C[i]} not healthy after $timeout s (logs in $OUT)"
      [ -z "${MEMBER_PIDS[i]:-}" ] || kill -0 "${MEMBER_PIDS[i]}" 2>/dev/null ||
        die "member n$((i + 1)) exited; its log: $(tail -5 "$(member_log "$i")")"
      sleep 0.1
    done
  done
}

# Where member i's output goes (set by start_member).
MEMBER_LOGS=()
member_log() { echo "${MEMBER_LOGS[$1]}"; }

start_member() { # $1: floe|etcd, $2: index, $3: log file, [$4: extra node flags for floe]
  local sys="$1" i="$2" logf="$3" nodeflags="${4:-}"
  MEMBER_LOGS[i]="$logf"
  if [ "$sys" = floe ]; then
    # shellcheck disable=SC2086
    # shellcheck disable=SC2046 # the member's V8 flags, from bin/floe.js's shebang (as npx floe runs it)
    node $(floe_node_flags) $nodeflags "$FLOE_ROOT/bin/floe.js" start --name "n$((i + 1))" --data-dir "$OUT/floe-data/n$((i + 1))" \
      --listen-client-urls "http://127.0.0.1:${C[i]}" --listen-peer-urls "http://127.0.0.1:${P[i]}" \
      --initial-cluster "$CLUSTER" --log-level "$MEMBER_LOG_LEVEL" >>"$logf" 2>&1 &
  else
    # --initial-cluster-state new is ignored by etcd once the data directory exists
    etcd --name "n$((i + 1))" --data-dir "$OUT/etcd-data/n$((i + 1))" \
      --listen-client-urls "http://127.0.0.1:${C[i]}" --advertise-client-urls "http://127.0.0.1:${C[i]}" \
      --listen-peer-urls "http://127.0.0.1:${P[i]}" --initial-advertise-peer-urls "http://127.0.0.1:${P[i]}" \
      --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token floe-compare \
      --logger zap --log-level "$MEMBER_LOG_LEVEL" >>"$logf" 2>&1 &
  fi
  MEMBER_PIDS[i]=$!
}

# The Node/V8 flags on bin/floe.js's `#!/usr/bin/env -S node ...` line.
floe_node_flags() { sed -n '1s/^#!.*env -S node//p' "$FLOE_ROOT/bin/floe.js"; }

start_cluster() { # $1: floe|etcd, $2: log name prefix, [$3: extra node flags for floe]
  local sys="$1" prefix="$2" i
  ports_free
  rm -rf "${OUT:?}/$sys-data"
  for i in 0 1 2; do start_member "$sys" "$i" "$OUT/$prefix-n$((i + 1)).log" "${3:-}"; done
  wait_healthy 90
}

# Index (0..2) of the member the others call leader, or nothing if they
# don't agree (or none answers). Uses `etcdctl endpoint status`, which works
# against both systems.
leader_index() {
  local out i
  out=$(etcdctl --endpoints="$ENDPOINTS" --dial-timeout=1s --command-timeout=2s endpoint status -w fields 2>/dev/null || true)
  # fields output: per endpoint "MemberID" : n ... "Leader" : n ... "Endpoint" : "host:port"
  local ep
  ep=$(awk -F' : ' '/^"MemberID"/ {m=$2} /^"Leader"/ {l=$2} /^"Endpoint"/ {gsub(/"/, "", $2); if (m == l) print $2}' <<<"$out" | sort -u)
  [ "$(wc -w <<<"$ep")" = 1 ] || return 0
  for i in 0 1 2; do [ "$ep" = "127.0.0.1:${C[i]}" ] && echo "$i"; done
  return 0
}

wait_leader() { # [$1: timeout seconds, default 30]; prints the leader's index
  local deadline=$((SECONDS + ${1:-30})) l
  while :; do
    l=$(leader_index)
    if [ -n "$l" ]; then
      echo "$l"
      return 0
    fi
    [ $SECONDS -le $deadline ] || die "no agreed leader after ${1:-30} s"
    sleep 0.2
  done
}

# FLOE_ROOT, FLOE_COMMIT: the floe tree the members run from. Members run
# compiled code (dist/, `npm run build`), and the shared working tree's dist/
# may be older or newer than its src/, so the members never run it: they run
# a private copy, built once and kept in $FLOE_BENCH_TREES (default
# /tmp/floe-bench-trees). With a REV, the copy is that commit (git archive);
# without, it is a snapshot of the working tree's src/, bin/, package.json and
# tsconfig files taken now (tracked and new files), and FLOE_COMMIT is HEAD,
# marked +uncommitted:<hash of the snapshot> when they differ from HEAD.
# node_modules is a symlink to the repository's.
FLOE_TREE_PATHS=(src bin scripts ui package.json tsconfig.json tsconfig.build.json)
resolve_floe_tree() { # [$1: REV]
  local cache="${FLOE_BENCH_TREES:-/tmp/floe-bench-trees}" key tmp sum
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.new-XXXXXX")
  FLOE_TREE_TMP="$tmp" # removed on exit if we don't get to move it into place
  if [ -n "${1:-}" ]; then
    FLOE_COMMIT="$(git -C "$ROOT" rev-parse --short "$1^{commit}")" || die "no commit $1"
    key="$FLOE_COMMIT"
    [ -d "$cache/$key" ] || git -C "$ROOT" archive "$FLOE_COMMIT" | tar -x -C "$tmp"
  else
    FLOE_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD)"
    # (a tracked file deleted in the working tree is listed but can't be read: skipped)
    (cd "$ROOT" && git ls-files -z -co --exclude-standard -- "${FLOE_TREE_PATHS[@]}" |
      tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -x -C "$tmp"
    sum=$(cd "$tmp" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-10)
    if [ -n "$(git -C "$ROOT" status --porcelain -- "${FLOE_TREE_PATHS[@]}")" ]; then
      FLOE_COMMIT="$FLOE_COMMIT+uncommitted:$sum"
    fi
    key="$FLOE_COMMIT"
  fi
  FLOE_ROOT="$cache/$key"
  if [ -d "$FLOE_ROOT" ]; then
    rm -rf "$tmp"
    FLOE_TREE_TMP=""
    log "floe members run $FLOE_ROOT (built earlier)"
    return 0
  fi
  ln -s "$ROOT/node_modules" "$tmp/node_modules"
  if grep -q '"build":' "$tmp/package.json"; then
    log "building floe $FLOE_COMMIT into $FLOE_ROOT (npm run build)"
    (cd "$tmp" && npm run build >build.log 2>&1) || die "npm run build failed for $FLOE_COMMIT: $(tail -5 "$tmp/build.log")"
  fi
  mv -T "$tmp" "$FLOE_ROOT" 2>/dev/null || rm -rf "$tmp" # someone else built it meanwhile
  FLOE_TREE_TMP=""
}

# KVBENCH: the kvbench binary ($KVBENCH if set, else /tmp/kvbench), built from
# ../shared/tools/kvbench (relative to the repository) when missing or older
# than its main.go.
resolve_kvbench() {
  local src="$ROOT/../shared/tools/kvbench"
  KVBENCH="${KVBENCH:-/tmp/kvbench}"
  if [ ! -x "$KVBENCH" ] || { [ -f "$src/main.go" ] && [ "$src/main.go" -nt "$KVBENCH" ]; }; then
    [ -x "$src/build.sh" ] || [ -f "$src/build.sh" ] || die "no kvbench at $KVBENCH and no $src/build.sh to build it"
    log "building kvbench into $KVBENCH with $src/build.sh"
    bash "$src/build.sh" "$KVBENCH" >&2 || die "building kvbench failed"
  fi
  KVBENCH_SRC_SHA=$(sha256sum "$src/main.go" 2>/dev/null | cut -c1-12 || echo "?")
}

machine_line() {
  local cpu
  cpu=$(sed -n 's/^model name\s*:\s*//p' /proc/cpuinfo | awk 'NR == 1')
  echo "Machine: $(nproc) cores, ${cpu:-?}, $(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo) GB RAM, Linux $(uname -r), data directories on $(df --output=source,fstype "$OUT" | tail -1 | tr -s ' ')."
}

loadavg1() { cut -d' ' -f1 /proc/loadavg; }

median_max() { # numbers on stdin, one a line → "median X, max Y" (lower median for even counts)
  sort -n | awk '{a[NR] = $1} END {if (NR == 0) {print "n/a"; exit} printf "median %s, max %s (n=%d)\n", a[int((NR + 1) / 2)], a[NR], NR}'
}

publish_section() { # $1: the section file; appended to bench/RESULTS.md unless WRITE=0
  if [ "${WRITE:-1}" = 1 ]; then
    { echo; cat "$1"; } >>bench/RESULTS.md
    log "appended to bench/RESULTS.md (raw results in $OUT)"
  else
    log "raw results in $OUT"
  fi
}
