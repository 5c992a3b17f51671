#!/usr/bin/env bash
# es_bulk.sh -- documents/s into one OpenSearch node: the store's bulk loader (store_put_batches
# over libcurl) against the floor (curl posting the same documents as pre-built NDJSON, cut
# into the same bulk requests), side by side in one run, for several bulk sizes; picks the
# bulk size for ES_BULK_BYTES_DEFAULT (indexer/store_es.h).
#
#   bench/es_bulk.sh [-n RUNS] [-N DOCS] [-s "SIZES"] [-d]    (never part of ctest)
#
#   -n RUNS   timed runs per configuration (default 5), store and floor alternating, the
#             configurations interleaved round by round
#   -N DOCS   documents per run (default 100000)
#   -s SIZES  bulk sizes in bytes (default "524288 1048576 2097152 4194304 8388608")
#   -d        dry: print the section but do not append it to bench/RESULTS.md
# Environment: ASHIATO_BUILD_DIR (default build: its static libraries link the driver),
# ES_BENCH_CALL (records per store_put_batches call, default 20000: a group commit of ten
# 2000-record sensor batches), ES_BENCH_INFLIGHT (default "1 2 4": the in-flight sweep at the
# chosen size; every size is measured at the store's default, 2).
#
# What runs: a fresh OpenSearch 2.19.6 test node (tests/opensearch/opensearch.sh, 1 GiB heap)
# on this host; bench/es_bulk_driver.c compiled here with cc -O2 against the build tree.
#   store  es_bulk_driver load URL PREFIX N BULK INFLIGHT CALL [GZIP]: renders each record
#          (record_json.c), cuts bulk requests, INFLIGHT in flight, reads every item's status;
#          timed inside the driver around the store_put_batches calls only
#   floor  es_bulk_driver ndjson ... writes the same bodies beforehand (same documents, ids,
#          daily index, `create` lines, same cut per call); then
#          curl --parallel --parallel-max INFLIGHT -K cfg posts them (wall time of curl), no
#          barrier between calls, no rendering, no per-item reading: the node's own speed
# Two diagnostic rows at the chosen size: "render" runs the floor with es_bulk_driver ndjson
# rendering the same documents beside it (to a tmpfs scratch dir): the floor minus the CPU
# that record_json_render takes from the node on a shared host; "bigcall" runs the store with
# all documents in one store_put_batches call (no call boundaries: the aggregator's group
# commit makes calls of up to 65536 records under load).
# Each run loads into fresh indices (deleted after) and is checked: _count == N, else it is
# repeated (a run that lost documents does not count). Three warm-up loads of each (the
# node's JIT) run first.
# Reported per configuration: median documents/s over the runs, all runs, and store/floor.
set -euo pipefail

RUNS=5
DOCS=100000
SIZES="524288 1048576 2097152 4194304 8388608"
DRY=0
while getopts "n:N:s:dh" o; do
    case $o in
        n) RUNS=$OPTARG ;;
        N) DOCS=$OPTARG ;;
        s) SIZES=$OPTARG ;;
        d) DRY=1 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) exit 2 ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ASHIATO_BUILD_DIR:-$ROOT/build}
CALL=${ES_BENCH_CALL:-20000}
INFLIGHTS=${ES_BENCH_INFLIGHT:-"1 2 4"}
RESULTS=$ROOT/bench/RESULTS.md
OS=$ROOT/tests/opensearch/opensearch.sh
die() { echo "es_bulk: $*" >&2; exit 1; }

for lib in indexer/libashiato_indexer.a common/libashiato_common.a proto/libashiato_proto.a; do
    [ -f "$BUILD/$lib" ] || die "no $BUILD/$lib (build first, or set ASHIATO_BUILD_DIR)"
done
command -v java >/dev/null && command -v mvn >/dev/null || die "java and mvn are needed for the node"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ashiato-esbench.XXXXXX")
NODE=$WORK/node
SCRATCH=$WORK/render-scratch
[ -d /dev/shm ] && SCRATCH=/dev/shm/ashiato-esbench-render.$$
cleanup() {
    bash "$OS" stop "$NODE" >/dev/null 2>&1 || true
    rm -rf "$WORK" "$SCRATCH"
}
trap cleanup EXIT

cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/indexer" -I"$ROOT/common" -I"$BUILD/proto" \
    "$ROOT/bench/es_bulk_driver.c" "$BUILD/indexer/libashiato_indexer.a" \
    "$BUILD/common/libashiato_common.a" "$BUILD/proto/libashiato_proto.a" \
    $(pkg-config --libs libcurl zlib json-c sqlite3 libprotobuf-c nettle) -o "$WORK/driver"
DRV=$WORK/driver

bash "$OS" build >/dev/null
mkdir -p "$NODE"
bash "$OS" start "$NODE" 0 >&2
PORT=$(cat "$NODE/node.port")
URL=http://127.0.0.1:$PORT
BULKPATH="/_bulk?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason"
echo "es_bulk: node at $URL, $DOCS documents per run, $RUNS runs per configuration" >&2

count() {                      # count PREFIX: documents stored under PREFIX
    curl -sf -XPOST "$URL/$1-sessions-*/_refresh" >/dev/null
    curl -sf "$URL/$1-sessions-*/_count" | sed -n 's/.*"count":\([0-9]*\).*/\1/p'
}
wipe() { curl -sf -XDELETE "$URL/$1-*" >/dev/null || true; }

store_run() {                  # store_run BULK INFLIGHT GZIP [CALL] -> documents/s
    local out rate n
    for attempt in 1 2 3; do
        wipe bs
        out=$("$DRV" load "$URL" bs "$DOCS" "$1" "$2" "${4:-$CALL}" "$3")
        rate=$(echo "$out" | sed -n 's/.*"docs_per_s":\([0-9]*\).*/\1/p')
        echo "$out" | sed -n 's/.*"cpu_us_per_doc":\([0-9.]*\).*/\1/p' >>"$WORK/store_cpu"
        n=$(count bs)
        wipe bs
        [ "$n" = "$DOCS" ] && { echo "$rate"; return; }
        echo "es_bulk: store run stored $n of $DOCS, repeating" >&2
    done
    die "store runs keep losing documents"
}

floor_run() {                  # floor_run BULK INFLIGHT [render] -> documents/s
    local dir=$WORK/nd-$1 cfg=$WORK/floor.cfg t0 t1 n pid=
    local files=("$dir"/req-*.ndjson)
    : >"$cfg"
    for i in "${!files[@]}"; do
        [ "$i" -gt 0 ] && echo next >>"$cfg"
        printf 'url = "%s%s"\ndata-binary = "@%s"\nheader = "Content-Type: application/x-ndjson"\noutput = "/dev/null"\n' \
            "$URL" "$BULKPATH" "${files[$i]}" >>"$cfg"
    done
    for attempt in 1 2 3; do
        wipe bf
        t0=$(date +%s%N)
        if [ "${3:-}" = render ]; then   # the same rendering beside it, written to scratch
            rm -rf "$SCRATCH"; mkdir -p "$SCRATCH"
            "$DRV" ndjson "$URL" br "$DOCS" "$1" "$CALL" "$SCRATCH" >/dev/null &
            pid=$!
        fi
        curl -s --parallel --parallel-max "$2" -K "$cfg" 2>/dev/null
        t1=$(date +%s%N)
        [ -z "$pid" ] || wait "$pid"
        n=$(count bf)
        wipe bf
        [ "$n" = "$DOCS" ] && { echo $(( DOCS * 1000000000 / (t1 - t0) )); return; }
        echo "es_bulk: floor run stored $n of $DOCS, repeating" >&2
    done
    die "floor runs keep losing documents"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratios() {                     # ratios "S1 S2 .." "F1 F2 ..": the store/floor of each round
    paste <(echo "$1" | tr ' ' '\n' | grep .) <(echo "$2" | tr ' ' '\n' | grep .) |
        awk '{printf "%.2f ", $1 / $2}'
}

declare -A RES
one() {                        # one ROUND LABEL BULK INFLIGHT GZIP [FLOOR [CALL]]: a store
    if [ $(($1 % 2)) -eq 1 ]; then # run and a floor run
        RES[$2.store]="${RES[$2.store]:-} $(store_run "$3" "$4" "$5" "${7:-}")"
        RES[$2.floor]="${RES[$2.floor]:-} $(floor_run "$3" "$4" "${6:-}")"
    else
        RES[$2.floor]="${RES[$2.floor]:-} $(floor_run "$3" "$4" "${6:-}")"
        RES[$2.store]="${RES[$2.store]:-} $(store_run "$3" "$4" "$5" "${7:-}")"
    fi
    echo "es_bulk: round $1 $2 store:${RES[$2.store]} floor:${RES[$2.floor]}" >&2
}

for b in $SIZES; do
    mkdir -p "$WORK/nd-$b"
    "$DRV" ndjson "$URL" bf "$DOCS" "$b" "$CALL" "$WORK/nd-$b" |
        sed -n 's/.*"render_cpu_us_per_doc":\([0-9.]*\).*/\1/p' >>"$WORK/render_cpu"
done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for w in 1 2 3; do                                     # warm-up: the node's JIT, page cache
    store_run 4194304 2 0 >/dev/null
    floor_run "$(echo "$SIZES" | awk '{print $1}')" 2 >/dev/null
done

# sizes interleaved round by round, so that drift (JIT, other load) hits every size alike
for r in $(seq 1 "$RUNS"); do
    for b in $SIZES; do
        one "$r" "bulk$b" "$b" 2 0
    done
done
BEST=""; BEST_RATE=0
for b in $SIZES; do
    m=$(echo "${RES[bulk$b.store]}" | median)
    if [ "$m" -gt "$BEST_RATE" ]; then BEST=$b; BEST_RATE=$m; fi
done
for r in $(seq 1 "$RUNS"); do
    for k in $INFLIGHTS; do
        [ "$k" = 2 ] || one "$r" "inflight$k" "$BEST" "$k" 0
    done
    one "$r" gzip "$BEST" 2 1
    one "$r" render "$BEST" 2 0 render
    one "$r" bigcall "$BEST" 2 0 "" "$DOCS"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
row() {                        # row LABEL BULK INFLIGHT GZIP
    local s f ms mf r
    s=${RES[$1.store]}; f=${RES[$1.floor]}
    ms=$(echo "$s" | median); mf=$(echo "$f" | median)
    r=$(ratios "$s" "$f")
    printf '| %s | %s | %s | %s | %s | %s | %s | **%s** | %s / %s |\n' "$2" "$3" "$4" "$ms" \
        "$mf" "$RUNS" "$(awk -v a="$ms" -v b="$mf" 'BEGIN {printf "%.2f", a / b}')" \
        "$(echo "$r" | median)" "${s# }" "${f# }"
}
{
    echo
    echo "## es_bulk $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "- commit: $COMMIT"
    echo "- machine: $(nproc) CPUs, $CPU, $MEM, $(uname -r); load average $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "- node: OpenSearch 2.19.6 test node (tests/opensearch, 1 GiB heap, 1 shard, 1 replica unassigned) on the same host, fresh indices each run"
    echo "- documents: $DOCS synthetic sessions per run shaped like campusgen's (bench/es_bulk_driver.c; ~850-byte ECS documents, one daily index), store calls of $CALL records"
    echo "- commands, $RUNS runs each after 3 warm-up runs of each, store and floor alternating, configurations interleaved round by round:"
    echo "  - store: \`es_bulk_driver load URL bs $DOCS BULK INFLIGHT $CALL GZIP\` (timed around store_put_batches)"
    echo "  - floor: \`es_bulk_driver ndjson URL bf $DOCS BULK $CALL DIR\` once, then \`curl -s --parallel --parallel-max INFLIGHT -K cfg\` posting DIR/req-*.ndjson to $BULKPATH"
    echo
    echo "| bulk bytes | in flight | gzip / variant | store docs/s (median) | floor docs/s (median) | runs | ratio of medians | median of per-round store/floor | all runs store / floor |"
    echo "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"
    for b in $SIZES; do row "bulk$b" "$b" 2 "no (loopback)"; done
    for k in $INFLIGHTS; do [ "$k" = 2 ] || row "inflight$k" "$BEST" "$k" "no (loopback)"; done
    row gzip "$BEST" 2 "level 1 (forced)"
    row render "$BEST" 2 "no; floor with the rendering beside it"
    row bigcall "$BEST" 2 "no; store in one call of $DOCS"
    echo
    echo "- chosen: bulk $BEST bytes (the highest store median at 2 in flight, $BEST_RATE docs/s); target store/floor >= 0.90 (the per-round ratio is the steadier figure: a store run and a floor run back to back see the same load on this shared host)"
    echo "- client CPU per document (median over the store runs): store $(median <"$WORK/store_cpu" | tr '\n' ' ')us, of which rendering the document (record_json_render alone, median of the ndjson runs) $(median <"$WORK/render_cpu" | tr '\n' ' ')us; curl posting the floor spends next to none, and on this 2-CPU host every client CPU second is taken from the node"
} >"$WORK/section.md"
cat "$WORK/section.md"
if [ "$DRY" = 0 ]; then
    cat "$WORK/section.md" >>"$RESULTS"
    echo "es_bulk: appended to $RESULTS" >&2
fi
