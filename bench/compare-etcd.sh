#!/usr/bin/env bash
# floe vs etcd on the same machine: starts a 3-member floe cluster on
# loopback, runs the `floe bench` workloads and `etcdctl check perf` against
# it, stops it, then does the same against a 3-member etcd cluster (Debian's
# etcd-server, installed when missing), and appends a side-by-side markdown
# section to bench/RESULTS.md (or prints it with --no-write).
#
# Usage: bench/compare-etcd.sh [--duration 15s] [--perf "m l"] [--only floe|etcd]
#          [--no-workloads] [--floe-commit REV] [--no-write] [--profile] [--out DIR]
#   --duration  length of each `floe bench` workload (default 15s)
#   --perf      `etcdctl check perf` loads to run (default "m l"; add xl; "" for none);
#               each load runs against a freshly started cluster
#   --only      run one system (the table then has blanks for the other)
#   --no-workloads  skip the `floe bench` workloads (check perf and profile only)
#   --workloads "put-500 range-s-50"  run only these workloads
#   --floe-commit   run the floe members of this commit (exported with git
#               archive into the output directory) instead of the working tree,
#               which other people may be editing; the bench client always
#               comes from this checkout. Runs with the same --out add up: the
#               table is made from every result the directory holds.
#   --profile   additionally: restart floe with `node --cpu-prof` on every
#               member, run put with 500 clients, stop with SIGINT and print
#               the top self-time functions of the leader's profile
#   --out       where JSON results, logs and profiles go (default a new /tmp dir)
#
# Both clusters use etcd's dev layout: clients on 2379, 22379, 32379, peers on
# 12380, 22380, 32380, data directories under the output directory.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

ORIG_ARGS="$(printf "%q " "$@")"
DURATION=15s
PERF_LOADS="m l"
ONLY=""
WRITE=1
PROFILE=0
WORKLOADS_ON=1
ONLY_WORKLOADS=""
FLOE_COMMIT=""
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --perf) PERF_LOADS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    --profile) PROFILE=1; shift ;;
    --no-workloads) WORKLOADS_ON=0; shift ;;
    --workloads) ONLY_WORKLOADS=" $2 "; shift 2 ;;
    --floe-commit) FLOE_COMMIT="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "compare-etcd.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/floe-compare-XXXXXX)"
mkdir -p "$OUT"
echo "bench/compare-etcd.sh $ORIG_ARGS" >>"$OUT/commands.txt"

# The floe tree the members run from.
FLOE_ROOT="$ROOT"
if [ -n "$FLOE_COMMIT" ]; then
  FLOE_COMMIT="$(git rev-parse --short "$FLOE_COMMIT")"
  FLOE_ROOT="$OUT/floe-src-$FLOE_COMMIT"
  if [ ! -d "$FLOE_ROOT" ]; then
    mkdir -p "$FLOE_ROOT"
    git archive "$FLOE_COMMIT" | tar -x -C "$FLOE_ROOT"
    ln -s "$ROOT/node_modules" "$FLOE_ROOT/node_modules"
  fi
else
  FLOE_COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo "+uncommitted")"
fi

C=(2379 22379 32379)
P=(12380 22380 32380)
CLUSTER="n1=http://127.0.0.1:12380,n2=http://127.0.0.1:22380,n3=http://127.0.0.1:32380"
ENDPOINTS="127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379"
PIDS=()

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

stop_all() {
  local sig="${1:-TERM}"
  for pid in "${PIDS[@]}"; do kill "-$sig" "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid still running 20 s after SIG$sig; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap 'stop_all TERM' EXIT
trap 'exit 130' INT TERM

ports_free() {
  for p in "${C[@]}" "${P[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "compare-etcd.sh: port $p is in use; stop whatever listens there first" >&2
      return 1
    fi
  done
}

wait_healthy() {
  local deadline=$((SECONDS + 90))
  for c in "${C[@]}"; do
    until curl -fsS "http://127.0.0.1:$c/health" 2>/dev/null | grep -q '"health":"true"'; do
      if [ $SECONDS -gt $deadline ]; then echo "compare-etcd.sh: 127.0.0.1:$c not healthy after 90 s" >&2; return 1; fi
      sleep 0.2
    done
  done
}

start_floe() { # $1: extra node flags (e.g. --cpu-prof ...), $2: log name prefix
  local nodeflags="${1:-}" logname="${2:-floe}"
  rm -rf "$OUT/floe-data"
  for i in 0 1 2; do
    # shellcheck disable=SC2086
    node $nodeflags "$FLOE_ROOT/bin/floe.js" start --name "n$((i + 1))" --data-dir "$OUT/floe-data/n$((i + 1))" \
      --listen-client-urls "http://127.0.0.1:${C[i]}" --listen-peer-urls "http://127.0.0.1:${P[i]}" \
      --initial-cluster "$CLUSTER" --log-level warn >>"$OUT/$logname-n$((i + 1)).log" 2>&1 &
    PIDS+=($!)
  done
  wait_healthy
}

start_etcd() {
  rm -rf "$OUT/etcd-data"
  for i in 0 1 2; do
    etcd --name "n$((i + 1))" --data-dir "$OUT/etcd-data/n$((i + 1))" \
      --listen-client-urls "http://127.0.0.1:${C[i]}" --advertise-client-urls "http://127.0.0.1:${C[i]}" \
      --listen-peer-urls "http://127.0.0.1:${P[i]}" --initial-advertise-peer-urls "http://127.0.0.1:${P[i]}" \
      --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token floe-compare \
      --logger zap --log-level warn >>"$OUT/etcd-n$((i + 1)).log" 2>&1 &
    PIDS+=($!)
  done
  wait_healthy
}

# name | floe bench arguments (endpoints are added)
WORKLOADS=(
  "put-1|put --conns 1 --clients 1 --key-size 8 --val-size 256 --key-space-size 100000 --target-leader"
  "put-50|put --conns 10 --clients 50 --key-size 8 --val-size 256 --key-space-size 100000 --target-leader"
  "put-500|put --conns 50 --clients 500 --key-size 8 --val-size 256 --key-space-size 100000 --target-leader"
  "txn-put-50|txn-put --conns 10 --clients 50 --key-size 8 --val-size 256 --key-space-size 100000 --target-leader"
  "range-l-50|range foo --prefill --conns 10 --clients 50 --val-size 256 --consistency l"
  "range-s-50|range foo --prefill --conns 10 --clients 50 --val-size 256 --consistency s"
  "put-perf-l|put --conns 50 --clients 500 --key-size 256 --val-size 1024 --key-space-size 100000 --rate 8000 --target-leader"
  "watch-100|watch --conns 10 --streams 10 --watchers-per-stream 10 --put-rate 200 --val-size 256 --key-space-size 1000"
)

start_system() { # $1: floe|etcd
  ports_free
  uptime >>"$OUT/$1/uptime-before.txt" # other people's load, before ours starts
  log "starting 3-member $1"
  if [ "$1" = floe ]; then start_floe; else start_etcd; fi
  sleep 2 # let the first election settle
}

run_system() { # $1: floe|etcd
  local sys="$1"
  mkdir -p "$OUT/$sys"
  if [ "$WORKLOADS_ON" = 1 ]; then
    [ "$sys" = floe ] && echo "$FLOE_COMMIT" >"$OUT/floe/commit-workloads.txt"
    start_system "$sys"
    uptime >"$OUT/$sys/uptime-start.txt"
    for w in "${WORKLOADS[@]}"; do
      local name="${w%%|*}" args="${w#*|}"
      if [ -n "$ONLY_WORKLOADS" ] && [[ "$ONLY_WORKLOADS" != *" $name "* ]]; then continue; fi
      log "$sys: floe bench $args --duration $DURATION"
      # shellcheck disable=SC2086
      node bin/floe.js bench $args --endpoints "$ENDPOINTS" --duration "$DURATION" --json \
        >"$OUT/$sys/$name.json" 2>"$OUT/$sys/$name.err" || log "$sys $name exited with $? ($(head -c 300 "$OUT/$sys/$name.err"))"
      uptime >>"$OUT/$sys/uptime-workloads.txt"
    done
    stop_all TERM
  fi
  for load in $PERF_LOADS; do
    [ "$sys" = floe ] && echo "$FLOE_COMMIT" >"$OUT/floe/commit-perf.txt"
    # a fresh cluster per load: check perf deletes its keys at the end, which
    # must not weigh on the next load
    start_system "$sys"
    log "$sys: etcdctl check perf --load=$load"
    ETCDCTL_API=3 timeout 300 etcdctl --endpoints="$ENDPOINTS" check perf --load="$load" \
      >"$OUT/$sys/perf-$load.txt" 2>&1 || true
    uptime >>"$OUT/$sys/uptime-perf.txt"
    tr '\r' '\n' <"$OUT/$sys/perf-$load.txt" | grep -E '^(PASS|FAIL|Slowest|Stddev|Error)' >&2 || true
    stop_all TERM
  done
}

run_profile() {
  mkdir -p "$OUT/prof"
  rm -f "$OUT"/prof/*.cpuprofile
  ports_free
  echo "$FLOE_COMMIT" >"$OUT/prof/commit.txt"
  log "profile: starting floe with --cpu-prof"
  START_MS=$(( $(date +%s%N) / 1000000 ))
  start_floe "--cpu-prof --cpu-prof-dir=$OUT/prof" floe-prof
  sleep 2
  local t0=$SECONDS
  node bin/floe.js bench put --conns 50 --clients 500 --key-size 8 --val-size 256 --key-space-size 100000 \
    --target-leader --endpoints "$ENDPOINTS" --duration 20s --json >"$OUT/prof/put-500.json"
  # the part of the profile before the benchmark is start-up: leave it out
  local skip_ms=$(( ($(date +%s%N) / 1000000) - START_MS - (SECONDS - t0) * 1000 ))
  local leader
  leader=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).endpoints[0])' "$OUT/prof/put-500.json")
  local i
  for i in 0 1 2; do [ "127.0.0.1:${C[i]}" = "$leader" ] && echo "${PIDS[i]}" >"$OUT/prof/leader.pid"; done
  log "profile: leader $leader (pid $(cat "$OUT/prof/leader.pid")); stopping with SIGINT"
  stop_all INT
  node bin/floe.js bench cpuprofile --top 30 --skip-ms "$skip_ms" "$OUT/prof/CPU."*".$(cat "$OUT/prof/leader.pid").0."*.cpuprofile \
    | tee "$OUT/prof/leader-top.txt"
}

if [ "$ONLY" != etcd ]; then run_system floe; fi
if [ "$ONLY" != floe ]; then
  if ! command -v etcd >/dev/null; then
    log "installing etcd-server"
    apt-get install -y etcd-server >/dev/null || { apt-get update >/dev/null && apt-get install -y etcd-server >/dev/null; }
  fi
  run_system etcd
fi
if [ "$PROFILE" = 1 ]; then run_profile; fi

# ---- the markdown section ----
SECTION="$OUT/section.md"
OUT="$OUT" DURATION="$DURATION" PERF_LOADS="$PERF_LOADS" node - >"$SECTION" <<'EOF'
const fs = require("node:fs");
const os = require("node:os");
const { execSync } = require("node:child_process");
const out = process.env.OUT;
const read = (p) => { try { return fs.readFileSync(`${out}/${p}`, "utf8"); } catch { return undefined; } };
const json = (p) => { const s = read(p); try { return s ? JSON.parse(s) : undefined; } catch { return undefined; } };
const sh = (c) => { try { return execSync(c, { encoding: "utf8" }).trim(); } catch { return "?"; } };
const cpu = (fs.readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) ?? [])[1] ?? "?";
const floeVer = JSON.parse(fs.readFileSync("package.json", "utf8")).version;
const commitOf = (f) => (read(f) ?? "").trim() || "n/a";
const loads = (sys) => [read(`${sys}/uptime-start.txt`), read(`${sys}/uptime-workloads.txt`), read(`${sys}/uptime-perf.txt`)]
  .join("").split("\n").map((l) => (l.match(/load average: ([\d.]+)/) ?? [])[1]).filter(Boolean).map(Number);
const loadRange = (sys) => { const l = loads(sys); return l.length ? `${Math.min(...l)}–${Math.max(...l)}` : "n/a"; };
const L = [];
L.push(`## floe vs etcd, 3 members on loopback (bench/compare-etcd.sh)`, "");
const cmds = (read("commands.txt") ?? "").trim().split("\n").filter(Boolean);
L.push(`Commands (into one output directory, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC): ${cmds.map((c) => `\`${c.trim()}\``).join("; ")}.`);
L.push(`Machine: ${os.cpus().length} cores (nproc ${sh("nproc")}), ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, Linux ${os.release()}, data directories on ${sh(`df --output=source,fstype ${out} | tail -1`).replace(/\s+/g, " ")}.`);
L.push(`Versions: floe ${floeVer} (members at commit ${commitOf("floe/commit-workloads.txt")} for the \`floe bench\` workloads, ${commitOf("floe/commit-perf.txt")} for check perf) on Node ${process.version}; ${sh("etcd --version | head -1")} (${sh("etcd --version | grep Go | head -1")}); ${sh("etcdctl version | head -1")}.`);
const before = (sys) => { const l = (read(`${sys}/uptime-before.txt`) ?? "").split("\n").map((x) => (x.match(/load average: ([\d.]+)/) ?? [])[1]).filter(Boolean).map(Number); return l.length ? `${Math.min(...l)}–${Math.max(...l)}` : "n/a"; };
L.push(`Load average (1 min) on the ${os.cpus().length} cores just before each cluster started (other people's work, plus the tail of our previous run): floe ${before("floe")}, etcd ${before("etcd")}; while running: floe ${loadRange("floe")}, etcd ${loadRange("etcd")} (a benchmark run by itself keeps 4–6 threads runnable: three members, the client, etcdctl).`);
L.push("", `Every \`floe bench\` workload ran for the --duration given (default 15s) with \`--endpoints 127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379 --json\` added; the bench client, the three members and etcdctl all share the same cores. Latencies in ms; "client CPU" is the bench process's own CPU time as a share of one core over the run.`, "");
const W = [
  ["put-1", "put --conns 1 --clients 1 --key-size 8 --val-size 256 --key-space-size 100000 --target-leader"],
  ["put-50", "put --conns 10 --clients 50 --key-size 8 --val-size 256 --key-space-size 100000 --target-leader"],
  ["put-500", "put --conns 50 --clients 500 --key-size 8 --val-size 256 --key-space-size 100000 --target-leader"],
  ["txn-put-50", "txn-put --conns 10 --clients 50 --key-size 8 --val-size 256 --key-space-size 100000 --target-leader"],
  ["range-l-50", "range foo --prefill --conns 10 --clients 50 --val-size 256 --consistency l"],
  ["range-s-50", "range foo --prefill --conns 10 --clients 50 --val-size 256 --consistency s"],
  ["put-perf-l", "put --conns 50 --clients 500 --key-size 256 --val-size 1024 --key-space-size 100000 --rate 8000 --target-leader"],
];
const v = (x) => (x === undefined ? "–" : String(x));
const cpuPct = (r) => (r?.clientCpuSec === undefined ? "–" : `${Math.round((100 * r.clientCpuSec) / r.elapsedSec)}%`);
const fmtRate = (x) => (x === undefined ? "–" : Math.round(x).toLocaleString("en-US"));
L.push("| workload | req/s floe | req/s etcd | p50 floe | p50 etcd | p90 floe | p90 etcd | p99 floe | p99 etcd | p99.9 floe | p99.9 etcd | max floe | max etcd | errors floe / etcd | client CPU floe / etcd |");
L.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
for (const [name] of W) {
  const f = json(`floe/${name}.json`), e = json(`etcd/${name}.json`);
  const p = (r, k) => v(r?.latency?.[k]);
  L.push(`| ${name} | ${fmtRate(f?.throughput)} | ${fmtRate(e?.throughput)} | ${p(f, "p50Ms")} | ${p(e, "p50Ms")} | ${p(f, "p90Ms")} | ${p(e, "p90Ms")} | ${p(f, "p99Ms")} | ${p(e, "p99Ms")} | ${p(f, "p999Ms")} | ${p(e, "p999Ms")} | ${p(f, "maxMs")} | ${p(e, "maxMs")} | ${v(f?.errors)} / ${v(e?.errors)} | ${cpuPct(f)} / ${cpuPct(e)} |`);
}
L.push("", "Workloads (`floe bench …`):", "");
for (const [name, args] of W) L.push(`- ${name}: \`${args}\``);
L.push(`- watch-100: \`watch --conns 10 --streams 10 --watchers-per-stream 10 --put-rate 200 --val-size 256 --key-space-size 1000\``);
const fw = json("floe/watch-100.json"), ew = json("etcd/watch-100.json");
L.push("", "| watch, 100 watchers on one prefix, puts at 200/s | floe | etcd |", "|---|---:|---:|");
const wr = (label, f) => L.push(`| ${label} | ${v(f(fw))} | ${v(f(ew))} |`);
wr("puts acked", (r) => r?.puts);
wr("events received / expected", (r) => r && `${r.eventsReceived} / ${r.eventsExpected}`);
wr("events delivered before their put's ack", (r) => r?.eventsBeforeAck);
wr("put sent → event p50 / p99 / max ms", (r) => r && `${r.sincePutLatency.p50Ms} / ${r.sincePutLatency.p99Ms} / ${r.sincePutLatency.maxMs}`);
wr("put ack → event p50 / p99 / max ms", (r) => r && `${r.latency.p50Ms} / ${r.latency.p99Ms} / ${r.latency.maxMs}`);
wr("put latency p50 / p99 ms", (r) => r && `${r.putLatency.p50Ms} / ${r.putLatency.p99Ms}`);
L.push("", "`ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379 check perf --load=<load>` (60 s; m: 1,000 writes/s from 200 clients, l: 8,000 writes/s from 500 clients, xl: 15,000 writes/s from 1,000 clients):", "");
L.push("| load | floe | etcd |", "|---|---|---|");
const perf = (sys, load) => {
  const s = read(`${sys}/perf-${load}.txt`);
  if (!s) return "–";
  const lines = s.split(/[\r\n]/).map((l) => l.trim()).filter((l) => /^(PASS|FAIL|Slowest|Stddev|Error)/.test(l));
  return lines.length ? lines.join("<br>") : s.trim().split("\n").slice(-2).join("<br>");
};
const perfLoads = ["s", "m", "l", "xl"].filter((l) => read(`floe/perf-${l}.txt`) || read(`etcd/perf-${l}.txt`));
for (const load of perfLoads) L.push(`| ${load} | ${perf("floe", load)} | ${perf("etcd", load)} |`);
L.push("");
console.log(L.join("\n"));
EOF
cat "$SECTION"
if [ -f "$OUT/prof/leader-top.txt" ]; then
  { echo; echo "Profile of the floe leader during put-500 (\`node --cpu-prof\`, 20 s):"; echo; echo '```'; cat "$OUT/prof/leader-top.txt"; echo '```'; } >>"$SECTION"
fi
if [ "$WRITE" = 1 ]; then
  { echo; cat "$SECTION"; } >>bench/RESULTS.md
  log "appended to bench/RESULTS.md (raw results in $OUT)"
else
  log "raw results in $OUT"
fi
