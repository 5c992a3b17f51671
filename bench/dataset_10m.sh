#!/usr/bin/env bash
# dataset_10m.sh -- the 10M-session dataset of the query benchmarks (issue 10, issue 12), made
# once and cached outside the checkout: campusgen captures of several seeds, read by the real
# sensor into journals of protobuf batches, replicated to TARGET sessions over DAYS days by
# bench/dataset_load.c through the store library's own put path (store_put_batches_packed),
# into SQLite and into an OpenSearch 2.19 node.
#
#   bench/dataset_10m.sh [--sqlite] [--opensearch] [--print-dir]   (never part of ctest)
#
# Prints "DATASET=<dir>" last; <dir> holds sqlite/sessions.db, os-N/ (the node's data dir for
# N sessions), load-sqlite.txt / load-os-N.txt (the loader's last line: rate, first_us,
# last_us) and inputs.txt (what the key was made of). With neither flag both stores are made.
# Environment: ASHIATO_BUILD_DIR (default build/), ASHIATO_SHARED_DIR (default ../shared),
# ASHIATO_BENCH_CACHE (default /var/cache/ashiato-bench), BENCH_TARGET (10000000),
# BENCH_DAYS (7), BENCH_SEEDS ("1 2 3"), BENCH_RATE (3000), BENCH_DURATION (120),
# BENCH_OS_TARGET (sessions for OpenSearch, default TARGET: the same copies, fewer of them,
# over the same days; for a machine where the node indexes too slowly for TARGET).
#
# The key: sha256 of the campusgen command lines, campusgen.py itself, TARGET, DAYS and this
# layout's version; a run with the same inputs finds <cache>/<key>/ and does not reload (delete
# the directory to rebuild it). The sensor is not part of the key: a sensor change that alters
# the records needs the directory deleted by hand.
# Per seed S: campusgen.py --out gen-S --sensors 1,2,3 --rate RATE --duration DURATION --seed S
#   --max-session-bytes 3000 with every event moved inside the run (misconfig +10, spike +20
#   for 20 s, scan +30, lateral +60), then per sensor N: ashiato-sensor --read sensor-N.pcap
#   --name dept-N --insecure --drain-timeout 0 --aggregator tcp://127.0.0.1:<no one>
#   --outbox-dir journal-S-N (the sensor journals every batch, nobody acknowledges); the pcaps
#   are deleted once journalled.
# Load: dataset_load URL TARGET DAYS GROUP S:dept-N:SEGMENT... -- copy c of seed b is moved
# (c * seeds + b) * DAYS / (copies * seeds) days later with its ids changed (see the Trap in
# dataset_load.c). SQLite: GROUP 24 (the aggregator's group commit at credit 8). OpenSearch:
# a node from tests/opensearch/opensearch.sh on os/ (1 GiB heap), daily indices made with
# 0 replicas, refresh_interval -1 and translog durability async before the load, GROUP 10
# (20000 records per bulk call, es_bulk.sh's choice), then refresh_interval and durability
# back to the defaults, _refresh and a _forcemerge to 1 segment; the node is stopped after.
# The node is NOT run under /tmp/ashiato-itest.lock: it binds a port the kernel picks and
# its own data dir, so it collides with no test, and a 10M load holds a node for tens of
# minutes, which would stall every other engineer's integration tests behind the lock.
set -euo pipefail

DO_SQLITE=0 DO_OS=0 PRINT_DIR=0
for a in "$@"; do
    case $a in
        --print-dir) PRINT_DIR=1 ;;
        --sqlite) DO_SQLITE=1 ;;
        --opensearch) DO_OS=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "dataset_10m: unknown argument $a" >&2; exit 2 ;;
    esac
done
[ $DO_SQLITE -eq 0 ] && [ $DO_OS -eq 0 ] && DO_SQLITE=1 DO_OS=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ASHIATO_BUILD_DIR:-$ROOT/build}
SHARED=${ASHIATO_SHARED_DIR:-$ROOT/../shared}
CACHE=${ASHIATO_BENCH_CACHE:-/var/cache/ashiato-bench}
TARGET=${BENCH_TARGET:-10000000}
OS_TARGET=${BENCH_OS_TARGET:-$TARGET}
DAYS=${BENCH_DAYS:-7}
SEEDS=${BENCH_SEEDS:-"1 2 3"}
RATE=${BENCH_RATE:-3000}
DURATION=${BENCH_DURATION:-120}
OS=$ROOT/tests/opensearch/opensearch.sh
GEN=$SHARED/tools/campusgen.py
die() { echo "dataset_10m: $*" >&2; exit 1; }
say() { echo "dataset_10m: $*" >&2; }

[ -x "$BUILD/bin/ashiato-sensor" ] || die "no $BUILD/bin/ashiato-sensor (build first)"
[ -r "$GEN" ] || die "$GEN not found (set ASHIATO_SHARED_DIR)"
gen_cmd() {   # gen_cmd SEED OUT
    echo python3 "$GEN" --out "$2" --sensors 1,2,3 --rate "$RATE" --duration "$DURATION" \
        --seed "$1" --max-session-bytes 3000 --misconfig-at +10 --spike-at +20 \
        --spike-duration 20 --scan-at +30 --lateral-at +60 --quiet
}
INPUTS=$( { echo "layout 2 target $TARGET days $DAYS"
            for s in $SEEDS; do gen_cmd "$s" "gen-$s" | sed "s|$GEN|campusgen.py|"; done
            sha256sum < "$GEN"; } )
KEY=$(echo "$INPUTS" | sha256sum | cut -c1-16)
DIR=$CACHE/$KEY
[ $PRINT_DIR -eq 1 ] && { echo "DATASET=$DIR"; exit 0; }
mkdir -p "$DIR"
echo "$INPUTS" > "$DIR/inputs.txt"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- journals, made once -----------------------------------------------------------------
for s in $SEEDS; do
    for n in 1 2 3; do
        [ -s "$DIR/journal-$s-$n.records" ] && continue
        if [ ! -s "$DIR/gen-$s/sensor-$n.pcap" ] || [ ! -s "$DIR/gen-$s/truth.json" ]; then
            say "generating seed $s: $(gen_cmd "$s" "$DIR/gen-$s")"
            rm -rf "$DIR/gen-$s"
            $(gen_cmd "$s" "$DIR/gen-$s") >&2
        fi
        rm -rf "$DIR/journal-$s-$n"
        say "journalling seed $s sensor $n"
        set +e
        "$BUILD/bin/ashiato-sensor" --read "$DIR/gen-$s/sensor-$n.pcap" --name "dept-$n" \
            --insecure --drain-timeout 0 --aggregator "tcp://127.0.0.1:$(free_port)" \
            --outbox-dir "$DIR/journal-$s-$n" --log-level warn 2> "$DIR/journal.err"
        set -e
        r=$(sed -n 's/.*did not acknowledge [0-9]* batches (\([0-9]*\) records).*/\1/p' "$DIR/journal.err")
        [ -n "$r" ] || die "journal of seed $s sensor $n: $(cat "$DIR/journal.err")"
        echo "$r" > "$DIR/journal-$s-$n.records"
    done
    all=1
    for n in 1 2 3; do [ -s "$DIR/journal-$s-$n.records" ] || all=0; done
    [ $all -eq 1 ] && rm -f "$DIR"/gen-"$s"/sensor-*.pcap
done
BASE=0
SEGS=()
b=0
for s in $SEEDS; do
    for n in 1 2 3; do
        BASE=$((BASE + $(cat "$DIR/journal-$s-$n.records")))
        for f in "$DIR/journal-$s-$n"/seg-*; do SEGS+=("$b:dept-$n:$f"); done
    done
    b=$((b + 1))
done
say "base: $BASE sensor records from seeds $SEEDS, ${#SEGS[@]} journal segments"

# ---- the loader --------------------------------------------------------------------------
LOADER=$DIR/dataset_load
if [ ! -x "$LOADER" ] || [ "$ROOT/bench/dataset_load.c" -nt "$LOADER" ] ||
   [ "$ROOT/bench/journal_replay.h" -nt "$LOADER" ] ||
   [ "$BUILD/indexer/libashiato_indexer.a" -nt "$LOADER" ]; then
    cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/indexer" -I"$ROOT/common" \
        -I"$BUILD/proto" "$ROOT/bench/dataset_load.c" "$BUILD/indexer/libashiato_indexer.a" \
        "$BUILD/common/libashiato_common.a" "$BUILD/proto/libashiato_proto.a" \
        $(pkg-config --libs libcurl zlib json-c sqlite3 libprotobuf-c nettle) -lm -o "$LOADER"
fi

load1() { cut -d' ' -f1-3 /proc/loadavg; }

if [ $DO_SQLITE -eq 1 ] && [ ! -s "$DIR/load-sqlite.txt" ]; then
    rm -rf "$DIR/sqlite"
    mkdir -p "$DIR/sqlite"
    say "loading SQLite (load average $(load1))"
    "$LOADER" "sqlite://$DIR/sqlite/sessions.db" "$TARGET" "$DAYS" 24 "${SEGS[@]}" | tee "$DIR/load-sqlite.log" >&2
    n=$(sqlite3 "$DIR/sqlite/sessions.db" 'select count(*) from sessions')
    [ "$n" = "$TARGET" ] || die "SQLite holds $n sessions, not $TARGET"
    { tail -1 "$DIR/load-sqlite.log"; echo "load_average_after=$(load1) count=$n"; } > "$DIR/load-sqlite.txt"
fi

if [ $DO_OS -eq 1 ] && [ ! -s "$DIR/load-os-$OS_TARGET.txt" ]; then
    command -v java >/dev/null && command -v mvn >/dev/null || die "java and mvn are needed for the node"
    rm -rf "$DIR/os-$OS_TARGET"
    mkdir -p "$DIR/os-$OS_TARGET"
    bash "$OS" build >/dev/null
    (
        bash "$OS" start "$DIR/os-$OS_TARGET" 0 >&2
        trap 'bash "$OS" stop "$DIR/os-$OS_TARGET" >&2' EXIT
        URL=http://127.0.0.1:$(cat "$DIR/os-$OS_TARGET/node.port")
        say "loading OpenSearch at $URL (load average $(load1))"
        "$LOADER" "$URL" "$OS_TARGET" "$DAYS" 10 "${SEGS[@]}" | tee "$DIR/load-os-$OS_TARGET.log" >&2
        t0=$(date +%s.%N)
        curl -sf -XPUT "$URL/ashiato-sessions-*/_settings" -H 'Content-Type: application/json' \
            -d '{"index":{"refresh_interval":null,"translog.durability":"request"}}' >/dev/null
        curl -sf -XPOST "$URL/ashiato-sessions-*/_refresh" >/dev/null
        curl -sf -XPOST "$URL/ashiato-sessions-*/_forcemerge?max_num_segments=1" >/dev/null
        t1=$(date +%s.%N)
        n=$(curl -sf "$URL/ashiato-sessions-*/_count" | sed -n 's/.*"count":\([0-9]*\).*/\1/p')
        [ "$n" = "$OS_TARGET" ] || die "OpenSearch holds $n sessions, not $OS_TARGET"
        { tail -1 "$DIR/load-os-$OS_TARGET.log";
          echo "refresh_and_forcemerge_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') load_average_after=$(load1) count=$n";
          curl -sf "$URL/_cat/indices/ashiato-sessions-*?h=index,docs.count,store.size&s=index"; } \
            > "$DIR/load-os-$OS_TARGET.txt"
    )
    [ -s "$DIR/load-os-$OS_TARGET.txt" ] || die "OpenSearch load failed"
fi
echo "OS_TARGET=$OS_TARGET"
echo "DATASET=$DIR"
