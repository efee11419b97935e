#!/usr/bin/env bash
# floe vs etcd on the same machine, measured with kvbench (a closed-loop load
# generator on etcd's own Go client, ../shared/tools/kvbench relative to the
# repository). For every workload row, and for each system in turn (etcd
# first, then floe, so that both see about the same background load), it
# starts a fresh 3-member cluster on loopback, runs kvbench against all three
# endpoints, records the members' CPU time, and stops the cluster; then
# `etcdctl check perf` likewise. It appends a side-by-side markdown section to
# bench/RESULTS.md (or only prints it with --no-write).
#
# Usage: bench/compare-etcd.sh [--seconds 20] [--keys 100000] [--perf "l"] [--only floe|etcd]
#          [--rows "put-1 get-s-200"] [--floe-commit REV] [--no-write] [--profile] [--out DIR]
#   --seconds   length of each kvbench run's timed phase (default 20)
#   --warmup    run each put row's kvbench command this many seconds first,
#               unmeasured, on the same cluster (default 0: measured cold;
#               Node compiles its hot code in the first seconds, Go does not;
#               the get rows are warmed by their preload anyway)
#   --keys      kvbench -keys, the key space (default 100000). The get rows
#               preload every key with sequential single puts before timing
#               (kvbench does that itself and it cannot be turned off), which
#               takes keys x one put's latency: minutes at 100000.
#   --perf      `etcdctl check perf` loads to run (default "l"; e.g. "m l"; "" for none);
#               each load runs against a freshly started cluster
#   --only      run one system (the table then has blanks for the other)
#   --rows      run only these rows (names below)
#   --floe-commit   run the floe members of this commit instead of the
#               working tree, which other people may be editing. Either way the
#               members run a private build (see resolve_floe_tree in
#               bench/cluster-lib.sh); without it that is a snapshot of the
#               working tree taken at the start, labelled HEAD, or
#               HEAD+uncommitted:<hash> when src/ etc. differ from HEAD. Runs
#               with the same --out add up: the table is made from every result
#               the directory holds (the latest per row and system).
#   --profile   additionally: start floe with `node --cpu-prof` on every
#               member, run the put-1000 row, stop with SIGINT and print the
#               top self-time functions of the leader's profile
#   --out       where raw results and logs go (default a new /tmp dir)
# Environment: KVBENCH=path of the kvbench binary (default /tmp/kvbench; built
# with ../shared/tools/kvbench/build.sh when missing or older than main.go).
#
# Rows (all: -endpoints 127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379
# -key-size 16 -val-size 256 -keys <keys> -seconds <seconds>):
#   put-1      -op put -clients 1 -conns 1
#   put-200    -op put -clients 200 -conns 10
#   put-1000   -op put -clients 1000 -conns 100
#   get-l-200  -op get -clients 200 -conns 10            (linearizable)
#   get-s-200  -op get -clients 200 -conns 10 -serializable
#
# CPU/op: member CPU time (utime + stime of the three member processes, from
# /proc/<pid>/stat, in clock ticks) over kvbench's timed phase, divided by the
# requests kvbench completed. kvbench prints only when it exits, and for gets
# it first preloads the key space, so the timed phase cannot be bracketed from
# outside. Instead a background sampler writes "epoch_ms ticks_sum" every
# 0.5 s (plus one sample right after kvbench exits), and the timed phase is
# taken as the last <seconds> before kvbench exited, with the tick count
# interpolated linearly between the samples around each end. This leaves out
# the preload; its error is that after its deadline kvbench still waits for
# the requests in flight (counted in ok, inside the window) and sorts the
# latencies (members idle, inside the window), shifting the window later by
# that long, typically tens of ms of 20 s. The raw samples stay in
# <out>/<system>/<row>.cpu-samples (first line: before kvbench started; last:
# right after it exited).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCRIPT=compare-etcd.sh

ORIG_ARGS="$(printf "%q " "$@")"
ORIG_ARGS="${ORIG_ARGS% }"
DUR=20
WARMUP=0
KEYS=100000
PERF_LOADS="l"
ONLY=""
ONLY_ROWS=""
WRITE=1
PROFILE=0
FLOE_REV=""
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) DUR="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --keys) KEYS="$2"; shift 2 ;;
    --perf) PERF_LOADS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --rows) ONLY_ROWS=" $2 "; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    --profile) PROFILE=1; shift ;;
    --floe-commit) FLOE_REV="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "$SCRIPT: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$DUR" =~ ^[1-9][0-9]*$ ]] || { echo "$SCRIPT: --seconds takes a whole number of seconds" >&2; exit 2; }
[[ "$WARMUP" =~ ^[0-9]+$ ]] || { echo "$SCRIPT: --warmup takes a whole number of seconds" >&2; exit 2; }
case "$ONLY" in ""|floe|etcd) ;; *) echo "$SCRIPT: --only floe|etcd" >&2; exit 2 ;; esac
[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/floe-compare-XXXXXX)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# shellcheck source=bench/cluster-lib.sh
. "$ROOT/bench/cluster-lib.sh"

if [ "$ONLY" != etcd ] || [ "$PROFILE" = 1 ]; then resolve_floe_tree "$FLOE_REV"; fi
resolve_kvbench
command -v etcd >/dev/null || die "etcd is not installed (Debian: apt-get install etcd-server)"
command -v etcdctl >/dev/null || die "etcdctl is not installed (Debian: apt-get install etcd-client)"
echo "bench/compare-etcd.sh $ORIG_ARGS" >>"$OUT/commands.txt"
TICK=$(getconf CLK_TCK)

SYSTEMS=()
[ "$ONLY" = floe ] || SYSTEMS+=(etcd)
[ "$ONLY" = etcd ] || SYSTEMS+=(floe)

ROWS=(
  "put-1|-op put -clients 1 -conns 1"
  "put-200|-op put -clients 200 -conns 10"
  "put-1000|-op put -clients 1000 -conns 100"
  "get-l-200|-op get -clients 200 -conns 10"
  "get-s-200|-op get -clients 200 -conns 10 -serializable"
)
COMMON="-endpoints $ENDPOINTS -key-size 16 -val-size 256 -keys $KEYS -seconds $DUR"

ticks_sum() { # member pids → sum of utime + stime (fields 14, 15 of /proc/<pid>/stat)
  local pid line f sum=0
  for pid in "$@"; do
    if read -r line 2>/dev/null <"/proc/$pid/stat"; then
      # field 2 (comm) is in parentheses and may hold spaces: split after it;
      # f[0] is then field 3, so fields 14 and 15 are f[11] and f[12]
      read -ra f <<<"${line##*) }"
      sum=$((sum + f[11] + f[12]))
    fi
  done
  echo "$sum"
}

cpu_sampler() { # $1: output file, $2...: pids. "epoch_ms ticks_sum" every 0.5 s
  local out="$1"
  shift
  while :; do
    echo "$(now_ms) $(ticks_sum "$@")" >>"$out"
    sleep 0.5
  done
}

# Ticks between two instants, interpolated from a sampler file; "n/a" when
# the samples don't cover the window.
ticks_between() { # $1: samples file, $2: from ms, $3: to ms
  awk -v a="$2" -v b="$3" '
    { T[++n] = $1; X[n] = $2 }
    function at(t,   i) {
      for (i = 2; i <= n; i++) if (T[i] >= t) return X[i-1] + (X[i] - X[i-1]) * (t - T[i-1]) / (T[i] - T[i-1])
      return X[n]
    }
    END { if (n < 2 || T[1] > a || T[n] < b) print "n/a"; else printf "%.1f\n", at(b) - at(a) }' "$1"
}

run_row() { # $1: system, $2: row name, $3: kvbench arguments (endpoints etc. are added)
  local sys="$1" name="$2" args="$3" d="$OUT/$1" kb rc=0
  mkdir -p "$d"
  rm -f "$d/$name".*
  uptime >"$d/$name.uptime-before" # other people's load, before our cluster starts
  log "$sys $name: starting a fresh 3-member cluster"
  start_cluster "$sys" "$sys-$name"
  sleep 2 # let the first election settle
  if [ "$sys" = floe ]; then echo "$FLOE_COMMIT" >"$d/$name.version"; else etcd --version | awk 'NR == 1' >"$d/$name.version"; fi
  if [ "$WARMUP" -gt 0 ] && [[ "$args" != *"-op get"* ]]; then
    log "$sys $name: warm-up, $WARMUP s (not measured)"
    # shellcheck disable=SC2086
    timeout $((WARMUP + 60)) "$KVBENCH" ${args} ${COMMON/-seconds $DUR/-seconds $WARMUP} >"$d/$name.warmup" 2>&1 || true
    echo "$WARMUP" >"$d/$name.warmup-seconds"
  fi
  cpu_sampler "$d/$name.cpu-samples" "${MEMBER_PIDS[@]}" &
  BG_PIDS+=($!)
  # shellcheck disable=SC2086
  echo "kvbench $args $COMMON" >"$d/$name.cmd"
  log "$sys $name: kvbench $args $COMMON"
  local t0 t1 limit=$((DUR + 120))
  [[ "$args" != *"-op get"* ]] || limit=$((DUR + 7200)) # the preload
  t0=$(now_ms)
  # shellcheck disable=SC2086
  timeout "$limit" "$KVBENCH" $args $COMMON >"$d/$name.out" 2>"$d/$name.err" &
  kb=$!
  BG_PIDS+=("$kb")
  wait "$kb" || rc=$?
  t1=$(now_ms)
  echo "$(now_ms) $(ticks_sum "${MEMBER_PIDS[@]}")" >>"$d/$name.cpu-samples.end"
  stop_bg
  cat "$d/$name.cpu-samples.end" >>"$d/$name.cpu-samples"
  rm -f "$d/$name.cpu-samples.end"
  uptime >"$d/$name.uptime-after"
  [ "$rc" = 0 ] || log "$sys $name: kvbench exited with $rc: $(head -c 300 "$d/$name.err")"
  local ok ticks cpu_us="n/a"
  ok=$(sed -n 's/.* ok=\([0-9]*\) .*/\1/p' "$d/$name.out")
  ticks=$(ticks_between "$d/$name.cpu-samples" $((t1 - DUR * 1000)) "$t1")
  if [ -n "$ok" ] && [ "$ok" -gt 0 ] && [ "$ticks" != n/a ]; then
    cpu_us=$(awk -v t="$ticks" -v hz="$TICK" -v ok="$ok" 'BEGIN { printf "%.0f", t / hz * 1e6 / ok }')
  fi
  # start, end (ms), timed seconds, ticks in the timed window, ticks/s, CPU µs per op
  echo "$t0 $t1 $DUR $ticks $TICK $cpu_us" >"$d/$name.cpu"
  log "$sys $name: $(cat "$d/$name.out") cpu/op=${cpu_us}us (kvbench ran $(((t1 - t0) / 1000)) s)"
  stop_members TERM
}

run_perf() { # $1: system, $2: load
  local sys="$1" load="$2" d="$OUT/$1" p rc=0
  mkdir -p "$d"
  uptime >"$d/perf-$load.uptime-before"
  # a fresh cluster per load: check perf deletes its keys at the end, which
  # must not weigh on the next run
  log "$sys perf-$load: starting a fresh 3-member cluster"
  start_cluster "$sys" "$sys-perf-$load"
  sleep 2
  if [ "$sys" = floe ]; then echo "$FLOE_COMMIT" >"$d/perf-$load.version"; else etcd --version | awk 'NR == 1' >"$d/perf-$load.version"; fi
  log "$sys: etcdctl check perf --load=$load"
  timeout 300 etcdctl --endpoints="$ENDPOINTS" check perf --load="$load" >"$d/perf-$load.txt" 2>&1 &
  p=$!
  BG_PIDS+=("$p")
  wait "$p" || rc=$?
  BG_PIDS=()
  uptime >"$d/perf-$load.uptime-after"
  tr '\r' '\n' <"$d/perf-$load.txt" | grep -oE '(PASS|FAIL|Error).*' >&2 || log "check perf exited with $rc"
  stop_members TERM
}

run_profile() {
  local d="$OUT/prof" kb
  mkdir -p "$d"
  rm -f "$d"/*.cpuprofile
  echo "$FLOE_COMMIT" >"$d/commit.txt"
  log "profile: starting floe with --cpu-prof"
  local start_ms
  start_ms=$(now_ms)
  start_cluster floe floe-prof "--cpu-prof --cpu-prof-dir=$d"
  sleep 2
  local leader
  leader=$(wait_leader 30) || exit 1
  local t0
  t0=$(now_ms)
  # shellcheck disable=SC2086
  timeout $((DUR + 120)) "$KVBENCH" -op put -clients 1000 -conns 100 $COMMON >"$d/put-1000.out" &
  kb=$!
  BG_PIDS+=("$kb")
  wait "$kb" || true
  BG_PIDS=()
  cat "$d/put-1000.out" >&2
  echo "${MEMBER_PIDS[leader]}" >"$d/leader.pid"
  log "profile: leader n$((leader + 1)) (pid ${MEMBER_PIDS[leader]}); stopping with SIGINT"
  stop_members INT
  # the part of the profile before the benchmark is start-up: leave it out
  node "$FLOE_ROOT/bin/floe.js" bench cpuprofile --top 30 --skip-ms $((t0 - start_ms)) \
    "$d/CPU."*".$(cat "$d/leader.pid").0."*.cpuprofile | tee "$d/leader-top.txt"
}

for row in "${ROWS[@]}"; do
  name="${row%%|*}"
  if [ -n "$ONLY_ROWS" ] && [[ "$ONLY_ROWS" != *" $name "* ]]; then continue; fi
  for sys in "${SYSTEMS[@]}"; do run_row "$sys" "$name" "${row#*|}"; done
done
for load in $PERF_LOADS; do
  for sys in "${SYSTEMS[@]}"; do run_perf "$sys" "$load"; done
done
[ "$PROFILE" = 0 ] || run_profile

# ---- the markdown section ----
SECTION="$OUT/section.md"
MACHINE="$(machine_line)"
VERSIONS="floe $(node -p 'require("./package.json").version') on Node $(node --version); $(etcd --version | awk 'NR == 1') ($(etcd --version | awk '/Go/ && !n++')); $(etcdctl version | awk 'NR == 1'); kvbench from ../shared/tools/kvbench/main.go (sha256 $KVBENCH_SRC_SHA) built with $(go version "$KVBENCH" 2>/dev/null | awk '{print $2}' || true)"
OUT="$OUT" MACHINE="$MACHINE" VERSIONS="$VERSIONS" NCPU="$(nproc)" node - >"$SECTION" <<'EOF'
const fs = require("node:fs");
const out = process.env.OUT;
const read = (p) => { try { return fs.readFileSync(`${out}/${p}`, "utf8").trim(); } catch { return undefined; } };
const ROWS = [
  ["put-1", "put, 1 client, 1 connection"],
  ["put-200", "put, 200 clients, 10 connections"],
  ["put-1000", "put, 1000 clients, 100 connections"],
  ["get-l-200", "get (linearizable), 200 clients, 10 connections"],
  ["get-s-200", "get (serializable), 200 clients, 10 connections"],
];
const kv = (sys, row) => {
  const line = read(`${sys}/${row}.out`);
  if (!line) return undefined;
  const f = Object.fromEntries(line.split(/\s+/).map((x) => x.split("=")));
  const cpu = (read(`${sys}/${row}.cpu`) ?? "").split(" ");
  return {
    ok: Number(f.ok), errors: Number(f.errors), rate: Number.parseFloat(f.throughput),
    p50: Number.parseFloat(f.p50), p99: Number.parseFloat(f.p99),
    cpuUs: cpu[5], ranSec: (Number(cpu[1]) - Number(cpu[0])) / 1000, timedSec: Number(cpu[2]),
    cmd: read(`${sys}/${row}.cmd`), version: read(`${sys}/${row}.version`),
  };
};
const cmdsUsed = new Set();
const preloads = [];
const fmt = (x, d = 0) => (x === undefined || Number.isNaN(x) ? "–" : x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }));
const L = [];
L.push("## floe vs etcd with kvbench, 3 members on loopback (bench/compare-etcd.sh)", "");
const cmds = (read("commands.txt") ?? "").split("\n").filter(Boolean);
L.push(`Commands (into one output directory, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC): ${cmds.map((c) => `\`${c.trim()}\``).join("; ")}.`);
L.push(process.env.MACHINE);
L.push(`Versions: ${process.env.VERSIONS}.`);
const versions = (sys) => [...new Set(fs.readdirSync(`${out}/${sys}`, { withFileTypes: true }).filter((e) => e.name.endsWith(".version")).map((e) => read(`${sys}/${e.name}`)))].join(", ") || "n/a";
if (fs.existsSync(`${out}/floe`)) L.push(`floe members at commit ${versions("floe")}.`);
const loads = (sys, suffix) => {
  let l = [];
  try { l = fs.readdirSync(`${out}/${sys}`).filter((n) => n.endsWith(suffix)).map((n) => Number((read(`${sys}/${n}`).match(/load average: ([\d.]+)/) ?? [])[1])).filter((x) => !Number.isNaN(x)); } catch {}
  return l.length ? `${Math.min(...l)}–${Math.max(...l)}` : "n/a";
};
L.push(`Load average (1 min) on the ${process.env.NCPU} cores just before each cluster started (other people's work, plus the tail of our previous run): etcd ${loads("etcd", ".uptime-before")}, floe ${loads("floe", ".uptime-before")}; at the end of each run: etcd ${loads("etcd", ".uptime-after")}, floe ${loads("floe", ".uptime-after")}.`);
if (ROWS.some(([row]) => kv("etcd", row) || kv("floe", row))) {
const warmups = [...new Set(["etcd", "floe"].flatMap((sys) => { try { return fs.readdirSync(`${out}/${sys}`).filter((n) => n.endsWith(".warmup-seconds")).map((n) => `${read(`${sys}/${n}`)} s`); } catch { return []; } }))];
if (warmups.length) L.push("", `Warm-up: before its timed run, each put row ran the same kvbench command for ${warmups.join(" / ")} on the same cluster, unmeasured (both systems).`);
L.push("", "Each row ran against a fresh 3-member cluster, etcd then floe; kvbench, the three members (and etcdctl) share the same cores. req/s and latencies as kvbench printed them (ms). CPU/op: CPU time of the three members together (utime + stime from /proc) over kvbench's timed phase, divided by the requests it completed, in µs; it includes whatever else the members do in that window (heartbeats, timers, compaction), and for the get rows it leaves out kvbench's preload (see the top of bench/compare-etcd.sh for how).", "");
L.push("| workload | etcd req/s | etcd p50 | etcd p99 | etcd CPU/op | floe req/s | floe p50 | floe p99 | floe CPU/op | floe/etcd req/s | errors etcd / floe |");
L.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
for (const [row, label] of ROWS) {
  const e = kv("etcd", row), f = kv("floe", row);
  if (!e && !f) continue;
  for (const r of [e, f]) if (r?.cmd) cmdsUsed.add(r.cmd);
  for (const [sys, r] of [["etcd", e], ["floe", f]]) if (r && row.startsWith("get")) preloads.push(`${sys} ${row} ${fmt(r.ranSec - r.timedSec)} s`);
  const cpu = (r) => (r?.cpuUs && r.cpuUs !== "n/a" ? r.cpuUs : "–");
  const ratio = e && f && e.rate > 0 ? (f.rate / e.rate).toFixed(2) : "–";
  L.push(`| ${label} | ${fmt(e?.rate)} | ${fmt(e?.p50, 2)} | ${fmt(e?.p99, 2)} | ${cpu(e)} | ${fmt(f?.rate)} | ${fmt(f?.p50, 2)} | ${fmt(f?.p99, 2)} | ${cpu(f)} | ${ratio} | ${e ? e.errors : "–"} / ${f ? f.errors : "–"} |`);
}
L.push("", "kvbench commands:", "");
for (const c of cmdsUsed) L.push(`- \`${c}\``);
}
if (preloads.length) L.push("", `kvbench's preload before the get rows' timed phase (sequential puts of every key, not in the figures above) took about: ${preloads.join(", ")}.`);
const perfLoads = ["s", "m", "l", "xl"].filter((l) => read(`floe/perf-${l}.txt`) || read(`etcd/perf-${l}.txt`));
if (perfLoads.length) {
  L.push("", "`ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379 check perf --load=<load>` against a fresh cluster (60 s; s: 150 writes/s from 50 clients, m: 1,000 writes/s from 200 clients, l: 8,000 writes/s from 500 clients, xl: 15,000 writes/s from 1,000 clients):", "");
  const perf = (sys, load) => {
    const s = read(`${sys}/perf-${load}.txt`);
    if (!s) return "–";
    // the last progress-bar line runs straight into the first verdict ("59 / 60 98.33%PASS: ...")
    const lines = s.split(/[\r\n]/).map((l) => (l.match(/(PASS|FAIL|Error).*/) ?? [""])[0].trim()).filter(Boolean);
    return lines.length ? lines.join("<br>") : s.split("\n").slice(-2).join("<br>");
  };
  L.push("| load | etcd | floe |", "|---|---|---|");
  for (const load of perfLoads) L.push(`| ${load} | ${perf("etcd", load)} | ${perf("floe", load)} |`);
}
L.push("");
console.log(L.join("\n"));
EOF
if [ -f "$OUT/prof/leader-top.txt" ]; then
  { echo; echo "Profile of the floe leader during put-1000 (\`node --cpu-prof\`, kvbench -clients 1000 -conns 100, $DUR s):"; echo; echo '```'; cat "$OUT/prof/leader-top.txt"; echo '```'; } >>"$SECTION"
fi
cat "$SECTION"
publish_section "$SECTION"
