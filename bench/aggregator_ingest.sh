#!/usr/bin/env bash
# aggregator_ingest.sh -- aggregator ingest from three real sensors over loopback (CurveZMQ),
# into the null store and into SQLite side by side, and the sensor outbox's overhead on
# capture throughput, in one run.
#
#   bench/aggregator_ingest.sh [-n RUNS] [-d]     (run from anywhere; never part of ctest)
#
#   -n RUNS  timed runs per case (default 3); the cases alternate round by round (odd rounds
#            null, sqlite, sqlite with credit 32, capture, capture+outbox, store alone; even
#            rounds the reverse)
#   -d       dry: print the section but do not append it to bench/RESULTS.md
#   -B DIR   A/B of the detectors instead: ingest only, detectors on and off, null store and
#            SQLite, with this build's aggregator and with DIR/bin/ashiato-aggregator (a base
#            build, e.g. a frozen copy of build/ at the commit compared against), alternating
#            build and case round by round; a section of its own (on/off ratio per build,
#            the aggregator's CPU and its detection thread's ns per record)
# Environment: ASHIATO_BUILD_DIR (default build/: bin/ashiato-sensor, -aggregator, ashiato),
# ASHIATO_SHARED_DIR (default ../shared: campusgen.py comes from its tools/).
#
# Load: each sensor replays its own journal. The journals are made once and cached
# (bench/.cache/ is gitignored; rm -rf bench/.cache/ingest to rebuild them):
#   campusgen.py --out bench/.cache/ingest/campus --sensors 1,2,3 --rate 20000 --duration 140
#       --max-session-bytes 3000 --events none      (~0.5M sessions per sensor, 3.2 GB each)
#   ashiato-sensor --read campus/sensor-N.pcap --name sN --insecure --drain-timeout 0
#       --aggregator tcp://127.0.0.1:PORT-with-no-one --outbox-dir journal-sN
# (the sensor journals every batch, nobody acknowledges, it exits 1 with the batches kept).
# sensor-2/3.pcap are deleted once their journals exist; sensor-1.pcap stays for the
# outbox runs. A timed ingest run copies the three journals, starts the aggregator (CURVE,
# allow-list of three fresh keys, --log-level debug), then the three sensors with
# --read EMPTY.pcap --outbox-dir COPY: each connects, sends its journal in its window,
# waits for every ack and exits. The rate is the aggregator's own figure: records committed
# from its first batch to its last commit (receive.c's "ingest burst" debug line), checked
# against the journals' record count (and for SQLite against count(*) of the database).
# The aggregator's CPU time (user+sys, /proc/PID/stat) is read before it is stopped.
# Outbox overhead: ashiato-sensor --read campus/sensor-1.pcap --name s1 without, and with
# --aggregator to a null-store aggregator (fresh outbox, default outbox_sync = true, the wait
# for the last acks included); wall and CPU (user+sys) of the sensor by /usr/bin/time.
# The store alone: bench/store_replay.c (built here against the build's static libraries)
# puts the journals three times into one SQLite database (4.5M sessions), as the aggregator
# would but without transport, and reports the rate over the last third as "sustained".
# Targets: null store >= 1,000,000 sessions/s, SQLite >= 200,000 (issue 4) and >= 150,000
# sustained (issue 5). The machine is shared: the 1-minute load average is noted per run.
set -euo pipefail

RUNS=3
DRY=0
BASE=""
while getopts "n:dB:h" o; do
    case $o in
        n) RUNS=$OPTARG ;;
        d) DRY=1 ;;
        B) BASE=$OPTARG ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) exit 2 ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ASHIATO_BUILD_DIR:-$ROOT/build}
SENSOR=$BUILD/bin/ashiato-sensor
AGG=$BUILD/bin/ashiato-aggregator
CLI=$BUILD/bin/ashiato
SHARED=${ASHIATO_SHARED_DIR:-$ROOT/../shared}
CACHE=$ROOT/bench/.cache/ingest
RESULTS=$ROOT/bench/RESULTS.md
die() { echo "aggregator_ingest: $*" >&2; exit 1; }
say() { echo "aggregator_ingest: $*" >&2; }

for b in "$SENSOR" "$AGG" "$CLI"; do
    [ -x "$b" ] || die "no binary at $b (build first, or set ASHIATO_BUILD_DIR)"
done
AGG_BIN=$AGG                # the aggregator start_agg runs (-B switches it per case)
if [ -n "$BASE" ]; then
    BASE=$(cd "$BASE" && pwd)
    [ -x "$BASE/bin/ashiato-aggregator" ] || die "no aggregator at $BASE/bin (-B)"
fi
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"

WORK=$(mktemp -d /tmp/ashiato-ingest.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- the load, made once ---------------------------------------------------------------
GEN_CMD=(python3 "$SHARED/tools/campusgen.py" --out "$CACHE/campus" --sensors 1,2,3 --rate 20000
         --duration 140 --max-session-bytes 3000 --events none --quiet)
mkdir -p "$CACHE"
need_gen=0
for i in 1 2 3; do
    [ -s "$CACHE/journal-s$i.records" ] || [ -s "$CACHE/campus/sensor-$i.pcap" ] || need_gen=1
done
[ -s "$CACHE/campus/sensor-1.pcap" ] || need_gen=1
if [ $need_gen -eq 1 ]; then
    [ -r "$SHARED/tools/campusgen.py" ] || die "$SHARED/tools/campusgen.py not found (set ASHIATO_SHARED_DIR)"
    say "generating the campus once (~4 min, 9.7 GB): ${GEN_CMD[*]}"
    rm -rf "$CACHE/campus"
    "${GEN_CMD[@]}" >&2
fi
for i in 1 2 3; do
    [ -s "$CACHE/journal-s$i.records" ] && continue
    rm -rf "$CACHE/journal-s$i"
    say "journalling sensor-$i.pcap (nobody acknowledges)"
    set +e
    "$SENSOR" --read "$CACHE/campus/sensor-$i.pcap" --name "s$i" --insecure --drain-timeout 0 \
        --aggregator "tcp://127.0.0.1:$(free_port)" --outbox-dir "$CACHE/journal-s$i" \
        --log-level warn 2> "$WORK/journal.err"
    set -e
    n=$(sed -n 's/.*did not acknowledge [0-9]* batches (\([0-9]*\) records).*/\1/p' "$WORK/journal.err")
    [ -n "$n" ] || die "journal of sensor-$i: $(cat "$WORK/journal.err")"
    echo "$n" > "$CACHE/journal-s$i.records"
done
rm -f "$CACHE/campus/sensor-2.pcap" "$CACHE/campus/sensor-3.pcap"   # journalled: not needed
TOTAL=0
for i in 1 2 3; do TOTAL=$((TOTAL + $(cat "$CACHE/journal-s$i.records"))); done
PCAP=$CACHE/campus/sensor-1.pcap
PKTS=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["sensors"]["1"]["packets"])' \
       "$CACHE/campus/truth.json")
python3 -c 'import struct, sys; open(sys.argv[1], "wb").write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))' \
    "$WORK/empty.pcap"
say "load: $TOTAL records in three journals ($(du -sch "$CACHE"/journal-s? | tail -1 | cut -f1)); capture $PCAP: $PKTS packets"

# ---- keys: the aggregator's, three sensors' and the allow-list ---------------------------
"$CLI" keygen --out "$WORK/agg.key" --force > /dev/null
for i in 1 2 3; do
    "$CLI" keygen --out "$WORK/s$i.key" --name "s$i" --force > /dev/null
    echo "s$i $(sed -n 's/^public *= *//p' "$WORK/s$i.key.pub")" >> "$WORK/allow.txt"
done
AGG_ARGS=(--key-file "$WORK/agg.key" --allow-list "$WORK/allow.txt")
sensor_keys() { echo --key-file "$WORK/s$1.key" --server-key "$WORK/agg.key.pub"; }

printf '[aggregator]\ncredit = 32\n' > "$WORK/credit32.ini"
printf '[aggregator]\ndetect = false\n' > "$WORK/nodetect.ini"   # detection is on by default

# start_agg STORE LOG [ARGS...]: the aggregator on a free port; sets AGG_PID and PORT
start_agg() {
    local store=$1 log=$2
    shift 2
    PORT=$(free_port)
    "$AGG_BIN" "${AGG_ARGS[@]}" --listen "tcp://127.0.0.1:$PORT" --store "$store" --log-level debug \
        "$@" 2> "$log" &
    AGG_PID=$!
    PIDS+=("$AGG_PID")
    for _ in $(seq 100); do
        grep -q "listening" "$log" 2>/dev/null && return 0
        kill -0 "$AGG_PID" 2>/dev/null || die "aggregator exited: $(cat "$log")"
        sleep 0.05
    done
    die "aggregator did not start: $(cat "$log")"
}
stop_agg() {
    kill "$AGG_PID" 2>/dev/null || true
    wait "$AGG_PID" 2>/dev/null || true
}
agg_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$AGG_PID/stat"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# ingest NAME URL [AGGREGATOR ARGS...]: one timed run; appends
# "NAME rate agg_cpu_s seconds load1" to $WORK/runs
ingest() {
    local name=$1 url=$2 w=$WORK/run pids=() i
    shift 2
    rm -rf "$w"
    mkdir -p "$w"
    for i in 1 2 3; do cp -r "$CACHE/journal-s$i" "$w/j$i"; done
    url=${url//@DB@/$w/sessions.db}
    local load=$(load1)
    start_agg "$url" "$w/agg.log" "$@"
    for i in 1 2 3; do
        # shellcheck disable=SC2046
        "$SENSOR" --read "$WORK/empty.pcap" --name "s$i" --aggregator "tcp://127.0.0.1:$PORT" \
            $(sensor_keys $i) --outbox-dir "$w/j$i" --drain-timeout 600000 --log-level warn \
            2> "$w/s$i.log" &
        pids+=($!)
    done
    for i in 0 1 2; do
        wait "${pids[$i]}" || die "$name: sensor s$((i + 1)) failed: $(cat "$w/s$((i + 1)).log")"
    done
    local cpu=$(agg_cpu)
    stop_agg
    # "ingest burst records=N groups=G seconds=S rate=R/s", one per burst (one expected)
    read -r recs secs < <(awk '/ingest burst/ {for (i = 1; i <= NF; i++) {split($i, kv, "=");
        if (kv[1] == "records") r += kv[2]; if (kv[1] == "seconds") s += kv[2]}}
        END {printf "%d %.3f\n", r, s}' "$w/agg.log")
    [ "$recs" = "$TOTAL" ] || die "$name: the aggregator committed $recs records, the journals hold $TOTAL"
    if [[ $url == sqlite://* ]]; then
        local stored=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from sessions").fetchone()[0])' "$w/sessions.db")
        [ "$stored" = "$TOTAL" ] || die "$name: $stored sessions in the database, $TOTAL sent"
    fi
    local dns=$(sed -n 's/.*detection thread cpu=.* ns_per_record=\([0-9]*\).*/\1/p' "$w/agg.log" | tail -1)
    echo "$name $(awk -v r="$recs" -v s="$secs" 'BEGIN {printf "%.0f", r / s}') $cpu $secs $load ${dns:--}" >> "$WORK/runs"
    say "$name: $recs records in $secs s, aggregator CPU $cpu s (load $load)"
    rm -rf "$w"
}

# capture NAME [outbox]: sensor-1.pcap, without or with shipping; appends
# "NAME wall_s cpu_s load1" to $WORK/cap
capture() {
    local name=$1 w=$WORK/cap.d args=() load=$(load1)
    rm -rf "$w"
    mkdir -p "$w"
    if [ "$name" = outbox ]; then
        start_agg null: "$w/agg.log"
        # shellcheck disable=SC2207
        args=(--aggregator "tcp://127.0.0.1:$PORT" $(sensor_keys 1) --outbox-dir "$w/ob" --drain-timeout 600000)
    fi
    local t0=$(date +%s%N)
    /usr/bin/time -f '%U %S' -o "$w/time" "$SENSOR" --read "$PCAP" --name s1 "${args[@]}" \
        --log-level warn 2> "$w/err" || die "$name: sensor failed: $(cat "$w/err")"
    local t1=$(date +%s%N)
    [ "$name" = outbox ] && stop_agg
    echo "$name $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}') $(awk '{printf "%.2f", $1 + $2}' "$w/time") $load" >> "$WORK/cap"
    rm -rf "$w"
}

# replay NAME: the store alone (bench/store_replay.c), the three journals three times into
# one database (4.5M sessions, each round a day later with new ids), 24 batches per
# transaction as the aggregator's groups with credit 8; appends
# "NAME rate cpu_rate last_third_rate load1" to $WORK/replays
LIBS=$(for p in sqlite3 json-c libprotobuf-c libzmq inih libcurl zlib nettle; do
           pkg-config --exists $p && pkg-config --libs $p; done | tr '\n' ' ')
# shellcheck disable=SC2086
cc -O2 -D_GNU_SOURCE -std=c11 -I"$ROOT/indexer" -I"$ROOT/common" -I"$BUILD/proto" \
    "$ROOT/bench/store_replay.c" "$BUILD/indexer/libashiato_indexer.a" \
    "$BUILD/common/libashiato_common.a" "$BUILD/proto/libashiato_proto.a" $LIBS -lpthread \
    -o "$WORK/store_replay" || die "cannot build bench/store_replay.c against $BUILD"
replay() {
    local w=$WORK/replay.d load=$(load1)
    rm -rf "$w"
    mkdir -p "$w"
    "$WORK/store_replay" "sqlite://$w/sessions.db" 24 3 "$CACHE"/journal-s1/seg-* \
        "$CACHE"/journal-s2/seg-* "$CACHE"/journal-s3/seg-* > "$w/out" || die "store_replay failed"
    awk -v load="$load" -v total=$((3 * TOTAL)) '
        /^rows=/ {split($1, a, "="); split($2, b, "="); if (a[2] > 2 * total / 3) {r += b[2] + 0; n++}}
        /^records=/ {for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2] + 0}}
        END {printf "replay %.0f %.0f %.0f %s\n", v["rate"], v["cpu_rate"], n ? r / n : 0, load}' \
        "$w/out" >> "$WORK/replays"
    say "store alone: $(tail -1 "$w/out") (load $load)"
    rm -rf "$w"
}

median() { tr ' ' '\n' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
col() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$3" | tr '\n' ' ' | sed 's/ $//'; }
DIRTY=""
[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] && DIRTY=" (with uncommitted changes)"
rel() { echo "${1//$ROOT\//}"; }

# ---- -B: the detectors on and off, this build against a base build ----------------------
if [ -n "$BASE" ]; then
    ab_round() {    # one case per build and store, in the order given
        local b
        for b in "$@"; do
            AGG_BIN=$([ "$b" = base ] && echo "$BASE/bin/ashiato-aggregator" || echo "$AGG")
            if ((r % 2)); then
                ingest "null@$b" null:; ingest "null-nodetect@$b" null: -c "$WORK/nodetect.ini"
                ingest "sqlite@$b" "sqlite://@DB@"; ingest "sqlite-nodetect@$b" "sqlite://@DB@" -c "$WORK/nodetect.ini"
            else
                ingest "sqlite-nodetect@$b" "sqlite://@DB@" -c "$WORK/nodetect.ini"; ingest "sqlite@$b" "sqlite://@DB@"
                ingest "null-nodetect@$b" null: -c "$WORK/nodetect.ini"; ingest "null@$b" null:
            fi
        done
    }
    LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
    for ((r = 1; r <= RUNS; r++)); do
        say "A/B round $r/$RUNS"
        if ((r % 2)); then ab_round base new; else ab_round new base; fi
    done
    LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
    section=$(
        echo "## aggregator_ingest A/B: detectors on / off $(date -u +%Y-%m-%dT%H:%MZ)"
        echo
        echo "- new: commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$DIRTY, binaries from $(rel "$BUILD")/bin; base: $(rel "$BASE")/bin"
        echo "- machine: $(nproc) CPUs, shared: load average $LOAD0 before, $LOAD1 after (1-minute value per run below)"
        echo "- load: the three journals above ($TOTAL session records); each case as in the ingest table (CurveZMQ, credit 8), \`-c nodetect.ini\` for off; $RUNS runs per case, the builds and the cases alternating round by round"
        echo
        echo "| build | store | on: median sessions/s | off | on / off | runs on / off, round by round (load) | median aggregator CPU s on / off | CPU on - off per record | detection thread ns/record (median, runs) |"
        echo "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |"
        for b in base new; do
            for st in null sqlite; do
                on=$(col "$st@$b" 2 "$WORK/runs" | median); off=$(col "$st-nodetect@$b" 2 "$WORK/runs" | median)
                con=$(col "$st@$b" 3 "$WORK/runs" | median); coff=$(col "$st-nodetect@$b" 3 "$WORK/runs" | median)
                rounds=$(paste -d' ' <(awk -v n="$st@$b" '$1 == n {print $2, $5}' "$WORK/runs") \
                                     <(awk -v n="$st-nodetect@$b" '$1 == n {print $2, $5}' "$WORK/runs") |
                         awk '{printf "%s%d / %d = %.2f (%s-%s)", sep, $1, $3, $1 / $3, $2, $4; sep = "; "}')
                dns=$(col "$st@$b" 6 "$WORK/runs")
                printf "| %s | %s | %.0f | %.0f | **%.2f** | %s | %s / %s | %.0f ns | %s (%s) |\n" "$b" "$st" "$on" "$off" \
                    "$(awk -v a="$on" -v b="$off" 'BEGIN {print a / b}')" "$rounds" "$con" "$coff" \
                    "$(awk -v a="$con" -v b="$coff" -v t="$TOTAL" 'BEGIN {print (a - b) * 1e9 / t}')" \
                    "$(echo "$dns" | median)" "$dns"
            done
        done
        echo
        echo "Target (issue 11): on / off >= 0.80 in the same run."
        echo
    )
    echo "$section"
    if [ $DRY -eq 0 ]; then
        printf '%s\n\n' "$section" >> "$RESULTS"
        say "appended to $RESULTS"
    fi
    exit 0
fi

cat "$PCAP" > /dev/null                      # warm the page cache
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= RUNS; r++)); do
    say "round $r/$RUNS"
    if ((r % 2)); then
        ingest null null:; ingest sqlite "sqlite://@DB@"
        ingest sqlite-credit32 "sqlite://@DB@" -c "$WORK/credit32.ini"
        ingest null-nodetect null: -c "$WORK/nodetect.ini"
        ingest sqlite-nodetect "sqlite://@DB@" -c "$WORK/nodetect.ini"
        capture plain; capture outbox; replay
    else
        replay; capture outbox; capture plain
        ingest sqlite-nodetect "sqlite://@DB@" -c "$WORK/nodetect.ini"
        ingest null-nodetect null: -c "$WORK/nodetect.ini"
        ingest sqlite-credit32 "sqlite://@DB@" -c "$WORK/credit32.ini"
        ingest sqlite "sqlite://@DB@"; ingest null null:
    fi
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

RATE_NULL=$(col null 2 "$WORK/runs" | median); RATE_SQL=$(col sqlite 2 "$WORK/runs" | median)
RATE_SQL32=$(col sqlite-credit32 2 "$WORK/runs" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v r="$1" 'BEGIN {print (r >= 1) ? "met" : sprintf("MISSED by %.0f%%", (1 - r) * 100)}'; }
W_PLAIN=$(col plain 2 "$WORK/cap" | median); W_OB=$(col outbox 2 "$WORK/cap" | median)
C_PLAIN=$(col plain 3 "$WORK/cap" | median); C_OB=$(col outbox 3 "$WORK/cap" | median)
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}'; }

section=$(
    echo "## aggregator_ingest $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$DIRTY; binaries from $(rel "$BUILD")/bin ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null))"
    echo "- machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -r); shared with other engineers: load average $LOAD0 before, $LOAD1 after (1-minute value per run below)"
    echo "- load: three journals of real sensor batches, $TOTAL session records ($(du -sch "$CACHE"/journal-s? | tail -1 | cut -f1), 2000 per batch), from \`$(rel "${GEN_CMD[*]}")\` journalled by \`ashiato-sensor --read campus/sensor-N.pcap --name sN --insecure --drain-timeout 0 --aggregator tcp://127.0.0.1:PORT-with-no-one --outbox-dir journal-sN\`"
    echo "- ingest commands, $RUNS runs each, alternating: \`ashiato-aggregator --key-file K --allow-list A --listen tcp://127.0.0.1:PORT --store null: | sqlite://\$tmp/sessions.db --log-level debug\`, then three at once: \`ashiato-sensor --read empty.pcap --name sN --aggregator tcp://127.0.0.1:PORT --key-file sN.key --server-key agg.key.pub --outbox-dir COPY-OF-journal-sN\` (CurveZMQ, default window and credit 8 batches). Rate = records / seconds from the aggregator's first batch to its last commit (its \"ingest burst\" line), checked against the journals (and count(*) of SQLite)."
    echo
    echo "| store | median sessions/s | target | ratio | median aggregator CPU s | sessions per aggregator CPU-s | runs: sessions/s (load) |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
    for n in null sqlite sqlite-credit32 null-nodetect sqlite-nodetect; do
        rate=$(col $n 2 "$WORK/runs" | median)
        cpu=$(col $n 3 "$WORK/runs" | median)
        target=$([ "${n%-nodetect}" = null ] && echo 1000000 || echo 200000)
        runs=$(awk -v n=$n '$1 == n {printf "%s%d (%s)", sep, $2, $5; sep = ", "}' "$WORK/runs")
        printf "| %s | %.0f | %s | %s | %s | %.0f | %s |\n" "$n" "$rate" "$target" "$(ratio "$rate" "$target")" \
            "$cpu" "$(awk -v t="$TOTAL" -v c="$cpu" 'BEGIN {print t / c}')" "$runs"
    done
    echo
    echo "- null store: $RATE_NULL / 1,000,000 = **$(ratio "$RATE_NULL" 1000000)** ($(verdict "$(ratio "$RATE_NULL" 1000000)"))"
    echo "- SQLite: $RATE_SQL / 200,000 = **$(ratio "$RATE_SQL" 200000)** (issue 4: $(verdict "$(ratio "$RATE_SQL" 200000)")); / 150,000 = **$(ratio "$RATE_SQL" 150000)** (issue 5, sustained over $TOTAL sessions into one database: $(verdict "$(ratio "$RATE_SQL" 150000)"))"
    echo "- null-nodetect, sqlite-nodetect: the same with \`-c nodetect.ini\` (\`[aggregator] detect = false\`); the other cases run the detectors, on by default since 2026-12-07: null $(col null-nodetect 2 "$WORK/runs" | median), sqlite $(col sqlite-nodetect 2 "$WORK/runs" | median) sessions/s"
    echo "- sqlite-credit32: the same with \`-c credit32.ini\` (\`[aggregator] credit = 32\`: 32 batches in flight per sensor, so bigger group commits): $RATE_SQL32 sessions/s, $(ratio "$RATE_SQL32" "$RATE_SQL")x the default credit of 8"
    echo
    echo "The store alone (no transport): \`bench/store_replay.c\` built against $(rel "$BUILD")'s libraries, \`store_replay sqlite://\$tmp/sessions.db 24 3 journal-s*/seg-*\`: the three journals three times into one database, $((3 * TOTAL)) sessions (each round a day later with new ids), 24 batches per transaction (the aggregator's groups at credit 8):"
    echo
    echo "| case | median sessions/s | median sessions per CPU-s | median sessions/s over the last third (3.0M..4.5M rows) | runs: sessions/s (load) |"
    echo "| --- | ---: | ---: | ---: | --- |"
    awk '{r = r sep $2 " (" $5 ")"; sep = ", "} END {print r}' "$WORK/replays" > "$WORK/replay.runs"
    printf "| sqlite store only | %s | %s | %s | %s |\n" "$(col replay 2 "$WORK/replays" | median)" \
        "$(col replay 3 "$WORK/replays" | median)" "$(col replay 4 "$WORK/replays" | median)" "$(cat "$WORK/replay.runs")"
    echo
    echo "Outbox overhead on capture: \`ashiato-sensor --read $(rel "$PCAP") --name s1\` ($PKTS packets) without, and with \`--aggregator tcp://127.0.0.1:PORT --key-file s1.key --server-key agg.key.pub --outbox-dir FRESH\` to a null-store aggregator, $RUNS runs each, alternating:"
    echo
    echo "| sensor | median wall s | Mpps | median CPU s (user+sys) | runs: wall s (load) |"
    echo "| --- | ---: | ---: | ---: | --- |"
    for n in plain outbox; do
        w=$([ $n = plain ] && echo "$W_PLAIN" || echo "$W_OB"); c=$([ $n = plain ] && echo "$C_PLAIN" || echo "$C_OB")
        runs=$(awk -v n=$n '$1 == n {printf "%s%s (%s)", sep, $2, $4; sep = ", "}' "$WORK/cap")
        printf "| %s | %.3f | %.3f | %.2f | %s |\n" "$([ $n = plain ] && echo "without" || echo "with outbox + shipping")" "$w" \
            "$(awk -v p="$PKTS" -v w="$w" 'BEGIN {print p / w / 1e6}')" "$c" "$runs"
    done
    echo
    echo "- outbox overhead: wall $(pct "$W_OB" "$W_PLAIN"), CPU $(pct "$C_OB" "$C_PLAIN") (median with / median without)"
    echo
)
echo "$section"
if [ $DRY -eq 0 ]; then
    printf '%s\n\n' "$section" >> "$RESULTS"
    say "appended to $RESULTS"
fi
