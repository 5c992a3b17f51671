#!/usr/bin/env bash
# api_aggs.sh -- unique.txt and spigraph.json on the 10M-session SQLite store (issue 10): the
# seconds of each request for this build and, side by side in the same run, another build's
# aggregator (the walk over every document before store_count_by).
#
#   bench/api_aggs.sh [-n RUNS] [-b RUNS_BEFORE] [-B AGGREGATOR] [-N NAME] [-d]
#
#   -n RUNS         timed requests per shape for this build, after one warm-up (default 5)
#   -b RUNS_BEFORE  timed requests per shape for the -B aggregator (default 2; no warm-up:
#                   this build's warm-up already read the pages)
#   -B AGGREGATOR   the other build's ashiato-aggregator (none: this build alone)
#   -N NAME         what to call it in the table (default: its path)
#   -d              dry: print the section but do not append it to bench/RESULTS.md
# Run it under `flock /tmp/ashiato-bench.lock`. The store: a copy in /tmp of the cached
# 10M-session SQLite file of bench/dataset_10m.sh (the schema-7 copy, BENCH_SQLITE_DIR,
# default /var/cache/ashiato-bench/769e8f4a6230e204/sqlite-v7): the store opens read-write
# and switches to WAL, so the cache is never opened in place; the copy is removed at exit.
# The API is served as bench/api_queries.sh serves it (`ashiato-aggregator --insecure
# --store sqlite://COPY --http-listen ...`, a user made with `ashiato user add`); the client
# is curl --digest, its time_total per request.
# Shapes: field ip.dst; (a) no expression over one UTC day (the third day of the data,
# 1,398,729 sessions), (b) expression port.dst == 3389 with date=-1 (all 7 days).
set -euo pipefail

RUNS=5 RUNS_B=2 OTHER= OTHER_NAME= DRY=0
while [ $# -gt 0 ]; do
    case $1 in
        -n) RUNS=$2; shift ;;
        -b) RUNS_B=$2; shift ;;
        -B) OTHER=$2; shift ;;
        -N) OTHER_NAME=$2; shift ;;
        -d) DRY=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "api_aggs: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ASHIATO_BUILD_DIR:-$ROOT/build}
SRC=${BENCH_SQLITE_DIR:-/var/cache/ashiato-bench/769e8f4a6230e204/sqlite-v7}
LOADTXT=$(dirname "$SRC")/load-sqlite.txt
die() { echo "api_aggs: $*" >&2; exit 1; }
say() { echo "api_aggs: $*" >&2; }
[ -x "$BUILD/bin/ashiato-aggregator" ] || die "no $BUILD/bin/ashiato-aggregator (build first)"
[ -z "$OTHER" ] || [ -x "$OTHER" ] || die "no $OTHER"
[ -f "$SRC/sessions.db" ] || die "no $SRC/sessions.db (bench/dataset_10m.sh --sqlite makes it)"
FIRST_US=$(sed -n 's/.*first_us=\([0-9]*\).*/\1/p' "$LOADTXT" | head -1)
[ -n "$FIRST_US" ] || die "no first_us in $LOADTXT"
DAY=$(( FIRST_US / 1000000 - FIRST_US / 1000000 % 86400 + 2 * 86400 ))

WORK=$(mktemp -d /tmp/ashiato-aggs.XXXXXX)
AGG_PID=
cleanup() {
    [ -n "$AGG_PID" ] && kill "$AGG_PID" 2>/dev/null && wait "$AGG_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
load3() { cut -d' ' -f1-3 /proc/loadavg; }
say "copying $SRC to $WORK"
cp "$SRC/sessions.db" "$WORK/sessions.db"
PASS=bench-$$-$RANDOM
echo "$PASS" | "$BUILD/bin/ashiato" user add --users "$WORK/users" --realm ashiato bench >/dev/null

start_agg() {   # start_agg BINARY
    local hp
    hp=$(free_port)
    "$1" --insecure --listen "tcp://127.0.0.1:$(free_port)" --store "sqlite://$WORK/sessions.db" \
        --http-listen "127.0.0.1:$hp" --http-users "$WORK/users" \
        --http-audit-log "$WORK/audit.log" > "$WORK/agg.log" 2>&1 &
    AGG_PID=$!
    for _ in $(seq 600); do
        curl -s -o /dev/null "http://127.0.0.1:$hp/" 2>/dev/null && { API=http://127.0.0.1:$hp; return 0; }
        kill -0 "$AGG_PID" 2>/dev/null || die "aggregator exited: $(cat "$WORK/agg.log")"
        sleep 0.1
    done
    die "the API never listened: $(cat "$WORK/agg.log")"
}
stop_agg() {
    kill "$AGG_PID" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$AGG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$AGG_PID" 2>/dev/null || true
    wait "$AGG_PID" 2>/dev/null || true
    AGG_PID=
}
# one request: prints "seconds status bytes"; the answer goes to $WORK/answer.<tag>
ask() {         # ask TAG PATH_AND_QUERY
    curl -sS -g --digest -u "bench:$PASS" -o "$WORK/answer.$1" \
        -w '%{time_total} %{http_code} %{size_download}\n' "$API$2"
}
SHAPES=(
    "unique.txt, one day|/unique.txt?field=ip.dst&counts=1&startTime=$DAY&stopTime=$((DAY + 86399))"
    "spigraph.json, one day|/spigraph.json?field=ip.dst&startTime=$DAY&stopTime=$((DAY + 86399))"
    "unique.txt, port.dst == 3389, date=-1|/unique.txt?field=ip.dst&counts=1&date=-1&expression=port.dst%20%3D%3D%203389"
    "spigraph.json, port.dst == 3389, date=-1|/spigraph.json?field=ip.dst&date=-1&expression=port.dst%20%3D%3D%203389"
)
median() { sort -n | awk '{a[NR] = $1} END {print NR ? sprintf("%.3f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) : "-"}'; }

run() {         # run TAG BINARY RUNS WARM -> $WORK/TAG.<i> per shape: one time a line
    local tag=$1 bin=$2 runs=$3 warm=$4 i r line
    start_agg "$bin"
    for i in "${!SHAPES[@]}"; do
        : > "$WORK/$tag.$i"
        for ((r = 0; r < warm + runs; r++)); do
            line=$(ask "$tag.$i" "${SHAPES[$i]#*|}")
            say "$tag: ${SHAPES[$i]%%|*}: $line"
            [ "$(echo "$line" | cut -d' ' -f2)" = 200 ] || die "$tag: HTTP $(echo "$line" | cut -d' ' -f2): $(head -c 300 "$WORK/answer.$tag.$i")"
            [ "$r" -ge "$warm" ] && echo "$line" | cut -d' ' -f1 >> "$WORK/$tag.$i"
        done
    done
    stop_agg
}

LOAD0=$(load3)
run new "$BUILD/bin/ashiato-aggregator" "$RUNS" 1
[ -n "$OTHER" ] && run old "$OTHER" "$RUNS_B" 0
LOAD1=$(load3)
same=
if [ -n "$OTHER" ]; then
    same="Answers of the two builds byte for byte:"
    for i in "${!SHAPES[@]}"; do
        cmp -s "$WORK/answer.new.$i" "$WORK/answer.old.$i" && same+=" $i equal," || same+=" $i DIFFER,"
    done
    same=${same%,}.
fi

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD)
[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ] && COMMIT="$COMMIT (with uncommitted changes)"
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
{
    echo
    echo "## api_aggs: $(date -u '+%Y-%m-%d %H:%M') UTC, commit $COMMIT"
    echo
    echo "Machine: $(nproc) x $CPU, load average at the start $LOAD0, at the end $LOAD1."
    echo "Store: a /tmp copy of the 10M-session SQLite file (schema $(sqlite3 "$WORK/sessions.db" 'PRAGMA user_version' 2>/dev/null || echo '?'), $(du -h "$WORK/sessions.db" | cut -f1)), page cache warm. Command: bench/api_aggs.sh -n $RUNS${OTHER:+ -b $RUNS_B -B $OTHER}. One day = $(date -u -d @"$DAY" '+%Y-%m-%d') (startTime/stopTime, $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["recordsFiltered"])' "$WORK/answer.new.1") sessions; port.dst == 3389 over all days: $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["recordsFiltered"])' "$WORK/answer.new.3") sessions), field ip.dst, curl --digest time_total."
    echo
    echo "| request | this build: runs | median s | ${OTHER:+${OTHER_NAME:-$OTHER}: runs | median s | ratio |}"
    echo "| --- | --- | --- |${OTHER:+ --- | --- | --- |}"
    for i in "${!SHAPES[@]}"; do
        n=$(median < "$WORK/new.$i")
        row="| ${SHAPES[$i]%%|*} | $(wc -l < "$WORK/new.$i") | $n |"
        if [ -n "$OTHER" ]; then
            o=$(median < "$WORK/old.$i")
            row+=" $(wc -l < "$WORK/old.$i") | $o | $(awk -v a="$o" -v b="$n" 'BEGIN {printf "%.1fx", a / b}') |"
        fi
        echo "$row"
    done
    [ -n "$same" ] && { echo; echo "$same"; }
} > "$WORK/section.md"
cat "$WORK/section.md"
[ "$DRY" -eq 1 ] || cat "$WORK/section.md" >> "$ROOT/bench/RESULTS.md"
