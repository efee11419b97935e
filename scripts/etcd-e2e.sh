#!/usr/bin/env bash
# The etcd e2e tier: etcd 3.4.23's own end-to-end tests (Debian's
# golang-etcd-server-dev, tests/e2e) run against floe. The suite starts
# <bin-dir>/etcd, which here is scripts/etcd-e2e/etcd (floe start with every
# flag unchanged), and drives it with Debian's etcdctl and curl.
#
# Runs the v3 tests TestCtlV3*, TestV3Curl* and TestIssue6361 (Migrate and
# MakeMirror left out), prints a pass table per group, and compares each
# result with test/etcd-e2e/expected.txt: a test listed PASS that fails is a
# regression (exit 1); a newly passing one is reported (--update rewrites the
# list). Installs its Debian packages when missing (as root).
#
# Usage: scripts/etcd-e2e.sh [--update] [--run REGEX]   (npm run test:etcd-e2e)
#        scripts/etcd-e2e.sh --against-etcd [--run REGEX]
#   --against-etcd runs the same selection against Debian's etcd 3.4.23
#   (etcd-server) instead, for the side-by-side table; nothing is compared.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
UPDATE=0
RUN_ONLY=""
AGAINST=floe
while [ $# -gt 0 ]; do
  case "$1" in
    --update) UPDATE=1; shift ;;
    --run) RUN_ONLY="$2"; shift 2 ;;
    --against-etcd) AGAINST=etcd; shift ;;
    *) echo "etcd-e2e: unknown argument $1" >&2; exit 2 ;;
  esac
done
EXPECTED="$ROOT/test/etcd-e2e/expected.txt"
SRC=/usr/share/gocode/src/go.etcd.io/etcd
BASE="${FLOE_E2E_DIR:-/tmp/floe-etcd-e2e}"
# the test binary is built once in BASE; each target has its own bin dir and logs
WORK="$BASE"
[ "$AGAINST" = floe ] || WORK="$BASE/against-etcd"
mkdir -p "$WORK"

need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -d "$SRC/tests/e2e" ] || need+=(golang-etcd-server-dev)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ "$AGAINST" = etcd ]; then command -v etcd >/dev/null 2>&1 || need+=(etcd-server); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "etcd-e2e: installing ${need[*]}" >&2
  [ "$(id -u)" = 0 ] || { echo "etcd-e2e: run as root to install ${need[*]}" >&2; exit 1; }
  apt-get update -y >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null
fi

BIN="$BASE/e2e.test"
if [ ! -x "$BIN" ] || [ -n "$(find "$SRC/tests/e2e" -newer "$BIN" -name '*.go' | head -1)" ]; then
  echo "etcd-e2e: building etcd's e2e tests into $BIN" >&2
  (cd "$BASE" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="$BASE/gocache" go test -c -o "$BIN" go.etcd.io/etcd/tests/e2e)
fi
[ -f "$ROOT/dist/bundle/floe.mjs" ] || npm run build >/dev/null

BINDIR="$WORK/bin"
mkdir -p "$BINDIR"
if [ "$AGAINST" = etcd ]; then
  rm -f "$BINDIR/etcd"
  ln -s "$(command -v etcd)" "$BINDIR/etcd"
else
  cp "$ROOT/scripts/etcd-e2e/etcd" "$BINDIR/etcd"
fi
ln -sf "$(command -v etcdctl)" "$BINDIR/etcdctl"

mapfile -t ALL < <("$BIN" -test.list '^(TestCtlV3|TestV3Curl|TestIssue6361)' | grep -v -E 'Migrate|MakeMirror')
if [ -n "$RUN_ONLY" ]; then mapfile -t ALL < <(printf '%s\n' "${ALL[@]}" | grep -E "$RUN_ONLY"); fi
LOG="$WORK/run.log"
RESULTS="$WORK/results.txt"
: >"$LOG"
: >"$RESULTS"
echo "etcd-e2e: running ${#ALL[@]} tests, one process each (a test that panics the suite loses only itself; log: $LOG)" >&2
start=$SECONDS
run_one() { # $1: test name; prints PASS, FAIL or SKIP
  local t="$1" out r
  out=$(cd "$SRC/tests/e2e" && FLOE_ROOT="$ROOT" timeout 600 "$BIN" -test.run "^${t}\$" -test.v \
    -bin-dir "$BINDIR" -cert-dir "$SRC/integration/fixtures" 2>&1) || true
  printf '%s\n' "$out" >>"$LOG"
  # "--- PASS: TestX (1.2s)" -> PASS; no line at all (a panic, a timeout) is a failure
  r=$(printf '%s\n' "$out" | sed -nE "s/^--- (PASS|FAIL|SKIP): ${t} .*/\\1/p" | head -1)
  # the suite's members are not always stopped when a test fails
  pkill -f "$BINDIR/etcd" 2>/dev/null || true
  pkill -f "bin/floe.js start --name testname" 2>/dev/null || true
  echo "${r:-FAIL}"
}
for t in "${ALL[@]}"; do
  r=$(run_one "$t")
  # a test expected to pass gets a second run before it counts as a regression
  # (the suite's timing-sensitive tests share two cores with everything else)
  if [ "$r" != PASS ] && { [ "$AGAINST" = etcd ] || { [ "$UPDATE" = 0 ] && grep -qx "PASS $t" "$EXPECTED" 2>/dev/null; }; }; then
    echo "etcd-e2e: $t: $r; running it again" >&2
    r=$(run_one "$t")
  fi
  echo "$r $t" >>"$RESULTS"
done
sort -k2 -o "$RESULTS" "$RESULTS"

echo
if [ "$AGAINST" = etcd ]; then
  echo "etcd's e2e suite against etcd $(etcd --version | sed -n 's/^etcd Version: //p') ($(date -u +'%Y-%m-%d %H:%M') UTC, $((SECONDS - start)) s)"
else
  echo "etcd's e2e suite against floe ($(date -u +'%Y-%m-%d %H:%M') UTC, $((SECONDS - start)) s, floe $(git rev-parse --short HEAD))"
fi
echo
echo "| group | pass | fail | skip |"
echo "|---|---:|---:|---:|"
node -e '
  const groups = new Map();
  const total = { PASS: 0, FAIL: 0, SKIP: 0 };
  for (const line of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) {
    const [result, name] = line.split(" ");
    if (!name) continue;
    // TestCtlV3AuthWriteKey -> CtlV3 Auth, TestV3CurlPutGet -> V3Curl Put
    const m = /^Test(CtlV3|V3Curl)([A-Z][a-z0-9]*)?/.exec(name);
    const g = m ? `${m[1]} ${m[2] ?? ""}`.trim() : name.replace(/^Test/, "");
    const c = groups.get(g) ?? { PASS: 0, FAIL: 0, SKIP: 0 };
    c[result]++;
    total[result]++;
    groups.set(g, c);
  }
  for (const g of [...groups.keys()].sort()) {
    const c = groups.get(g);
    console.log(`| ${g} | ${c.PASS} | ${c.FAIL} | ${c.SKIP} |`);
  }
  console.log(`| **all** | **${total.PASS}** | **${total.FAIL}** | **${total.SKIP}** |`);
' "$RESULTS"
echo

[ "$AGAINST" = floe ] || exit 0
if [ "$UPDATE" = 1 ]; then
  mkdir -p "$(dirname "$EXPECTED")"
  { echo "# etcd e2e results expected of floe (scripts/etcd-e2e.sh --update rewrites this)"; cat "$RESULTS"; } >"$EXPECTED"
  echo "etcd-e2e: wrote $EXPECTED" >&2
  exit 0
fi
[ -f "$EXPECTED" ] || { echo "etcd-e2e: no $EXPECTED (run with --update)" >&2; exit 1; }
regressions=$(awk 'NR == FNR { if ($1 != "#") want[$2] = $1; next } ($2 in want) && want[$2] == "PASS" && $1 != "PASS" { print $2 }' "$EXPECTED" "$RESULTS")
missing=$(awk 'NR == FNR { got[$2] = 1; next } $1 == "PASS" && !($2 in got) { print $2 }' "$RESULTS" "$EXPECTED")
if [ -z "$RUN_ONLY" ]; then regressions="$regressions$missing"; fi
improved=$(awk 'NR == FNR { if ($1 != "#") want[$2] = $1; next } $1 == "PASS" && want[$2] != "PASS" { print $2 }' "$EXPECTED" "$RESULTS")
[ -z "$improved" ] || echo "etcd-e2e: now passing (not yet in the expected list): $(echo $improved)"
if [ -n "$regressions" ]; then
  echo "etcd-e2e: REGRESSIONS (expected to pass): $(echo $regressions)" >&2
  exit 1
fi
echo "etcd-e2e: no regressions against $EXPECTED"
