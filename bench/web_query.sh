#!/usr/bin/env bash
# web_query.sh -- issue 12's benchmark: on the 10M-session SQLite store, the time from pressing
# Enter on a selective query in the analyst page to the chart and the table drawn, measured in
# the browser (Debian's chromium driven by playwright-core, headless, 1280x800).
#
#   bench/web_query.sh [-n RUNS] [-d]      (never part of ctest)
#
#   -n RUNS  timed runs per expression (default 5) after one warm-up; the expressions
#            alternate, so every Enter asks a new query
#   -d       dry: print the section but do not append it to bench/RESULTS.md
# Environment: ASHIATO_BUILD_DIR (default build/), and what bench/dataset_10m.sh reads.
# Needs /usr/bin/chromium and npm (scripts/install-deps.sh --test): package.json's pinned
# playwright-core is installed with `npm ci` into <build>/web-node, as test_web.py does.
#
# The store: bench/dataset_10m.sh --sqlite (cached). The page: `ashiato-aggregator --insecure
# --listen tcp://127.0.0.1:P --store sqlite://... --http-listen 127.0.0.1:H --http-users U`,
# opened at /#startTime=..&stopTime=.. (the 7 days of the dataset, as a shared link would
# carry them). bench/web_query.mjs types each expression into the query bar and presses
# Enter; the time runs from the Enter keydown to two animation frames after the page's
# render finished (chart bars and table rows in the DOM, painted). Target: < 1 s (median).
set -euo pipefail

RUNS=5 DRY=0
while [ $# -gt 0 ]; do
    case $1 in
        -n) RUNS=$2; shift ;;
        -d) DRY=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "web_query: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ASHIATO_BUILD_DIR:-$ROOT/build}
RESULTS=$ROOT/bench/RESULTS.md
die() { echo "web_query: $*" >&2; exit 1; }
say() { echo "web_query: $*" >&2; }
[ -x /usr/bin/chromium ] || die "no /usr/bin/chromium (scripts/install-deps.sh --test)"
command -v npm >/dev/null || die "no npm (scripts/install-deps.sh --test)"
for b in ashiato-aggregator ashiato; do
    [ -x "$BUILD/bin/$b" ] || die "no $BUILD/bin/$b (build first)"
done

DATASET=$(bash "$ROOT/bench/dataset_10m.sh" --sqlite | sed -n 's/^DATASET=//p' | tail -1)
[ -n "$DATASET" ] && [ -s "$DATASET/load-sqlite.txt" ] || die "no dataset"
FIRST_US=$(sed -n 's/.*first_us=\([0-9]*\).*/\1/p' "$DATASET/load-sqlite.txt")
LAST_US=$(sed -n 's/.*last_us=\([0-9]*\).*/\1/p' "$DATASET/load-sqlite.txt")
START=$(( FIRST_US / 1000000 - FIRST_US / 1000000 % 86400 ))
STOP=$(( LAST_US / 1000000 - LAST_US / 1000000 % 86400 + 2 * 86400 ))

# playwright-core as test_web.py installs it
NM=$BUILD/web-node
mkdir -p "$NM"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$NM/"
if [ ! -f "$NM/node_modules/.ashiato-lock" ] || ! cmp -s "$NM/package-lock.json" "$NM/node_modules/.ashiato-lock"; then
    (cd "$NM" && npm ci --prefer-offline --no-audit --no-fund >&2)
    cp "$NM/package-lock.json" "$NM/node_modules/.ashiato-lock"
fi

WORK=$(mktemp -d /tmp/ashiato-webq.XXXXXX)
AGG_PID=
cleanup() {
    [ -n "$AGG_PID" ] && kill "$AGG_PID" 2>/dev/null && wait "$AGG_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
load3() { cut -d' ' -f1-3 /proc/loadavg; }

PASS=bench-$$-$RANDOM
echo "$PASS" | "$BUILD/bin/ashiato" user add --users "$WORK/users" --realm ashiato bench >/dev/null
HP=$(free_port)
"$BUILD/bin/ashiato-aggregator" --insecure --listen "tcp://127.0.0.1:$(free_port)" \
    --store "sqlite://$DATASET/sqlite/sessions.db" --http-listen "127.0.0.1:$HP" \
    --http-users "$WORK/users" --http-audit-log "$WORK/audit.log" > "$WORK/agg.log" 2>&1 &
AGG_PID=$!
for _ in $(seq 200); do
    curl -s -o /dev/null "http://127.0.0.1:$HP/" && break
    kill -0 "$AGG_PID" 2>/dev/null || die "aggregator exited: $(cat "$WORK/agg.log")"
    sleep 0.1
done

LOAD_BEFORE=$(load3)
CFG=$(python3 -c 'import json, sys; print(json.dumps({"url": sys.argv[1], "user": "bench", "password": sys.argv[2],
    "nodeModules": sys.argv[3], "startTime": int(sys.argv[4]), "stopTime": int(sys.argv[5]),
    "runs": int(sys.argv[6]), "out": sys.argv[7],
    "exprs": ["ip.src == 198.18.2.0/24 && port.dst == 3389", "ip == 203.0.113.7", "port.dst == 3389"]}))' \
    "http://127.0.0.1:$HP" "$PASS" "$NM/node_modules" "$START" "$STOP" "$RUNS" "$WORK")
say "page at http://127.0.0.1:$HP/ on $DATASET (load average $LOAD_BEFORE)"
node "$ROOT/bench/web_query.mjs" "$CFG" > "$WORK/out.json"
LOAD_AFTER=$(load3)
mkdir -p "$ROOT/bench/.cache"
cp "$WORK/web_query.png" "$ROOT/bench/.cache/web_query.png" 2>/dev/null || true

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD)
[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ] && COMMIT="$COMMIT (with uncommitted changes)"
SECTION=$WORK/section.md
python3 - "$WORK/out.json" "$DATASET" "$COMMIT" "$LOAD_BEFORE" "$LOAD_AFTER" "$RUNS" > "$SECTION" <<'EOF'
import json, os, platform, re, statistics, sys, time
path, dataset, commit, lb, la, runs = sys.argv[1:7]
d = json.load(open(path))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 2**20
print(f"## web_query {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}\n")
print(f"- commit: {commit}")
print(f"- machine: {os.cpu_count()} CPUs, {cpu}, {mem:.1f} GiB RAM, {platform.release()}; load average {lb} before, {la} after (shared host)")
cnt = re.search(r"count=(\d+)", open(os.path.join(dataset, "load-sqlite.txt")).read()).group(1)
print(f"- store: {dataset}/sqlite/sessions.db (bench/dataset_10m.sh: {int(cnt):,} sessions over 7 days); page opened on the 7 days")
print(f"- bench/web_query.sh -n {runs}: chromium {os.popen('/usr/bin/chromium --version 2>/dev/null').read().strip()} headless via playwright-core, 1280x800; "
      "time from the Enter keydown in #expr to two animation frames after the render finished (chart and table drawn)\n")
print("| expression | runs | median ms | all runs ms | bars | rows | table caption |")
print("| --- | ---: | ---: | --- | ---: | ---: | --- |")
timed = [r for r in d["runs"] if not r["warmup"]]
for e in dict.fromkeys(r["expr"] for r in timed):
    rs = [r for r in timed if r["expr"] == e]
    ms = [r["ms"] for r in rs]
    print(f"| `{e}` | {len(ms)} | {statistics.median(ms):.0f} | {' '.join(f'{x:.0f}' for x in ms)} | "
          f"{rs[-1]['bars']} | {rs[-1]['rows']} | {rs[-1]['caption']} |")
reqs = {}
for r in timed:
    for q in r.get("requests", []):
        reqs.setdefault((q["path"], q["length"]), []).append(q["ms"])
if reqs:
    print("\nRequests the page made per Enter (all timed runs): " + "; ".join(
        f"`{p}` length={l}: {len(v)}x, median {statistics.median(v):.0f} ms" for (p, l), v in reqs.items()))
allms = [r["ms"] for r in timed]
med = statistics.median(allms)
print(f"\n- median over all {len(allms)} runs: **{med:.0f} ms** (target < 1000 ms: {'met' if med < 1000 else 'MISSED'}); "
      f"max {max(allms):.0f} ms; warm-up {d['runs'][0]['ms']:.0f} ms")
EOF
cat "$SECTION"
if [ $DRY -eq 0 ]; then
    { echo; cat "$SECTION"; } >> "$RESULTS"
    say "appended to $RESULTS"
fi
