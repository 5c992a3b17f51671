#!/usr/bin/env bash
# detect_ingest.sh -- aggregator ingest with the detectors off and on, in the same run, and
# the detectors' state memory with 1M distinct sources.
#
#   bench/detect_ingest.sh [-n RUNS] [-d]     (run from anywhere; never part of ctest)
#
#   -n RUNS  timed runs per case (default 3), alternating off/on round by round
#   -d       dry: print the section but do not append it to bench/RESULTS.md
# Environment: ASHIATO_BUILD_DIR (default build/), ASHIATO_SHARED_DIR (default ../shared).
#
# Load (made once, cached in bench/.cache/detect, gitignored): campusgen with every event on,
#   campusgen.py --out .../campus --sensors 2,3,4 --rate 600 --duration 900 --events all
# (the lateral sweep's, the scan's and the spike's departments), each sensor-N.pcap
# journalled by ashiato-sensor (nobody acknowledges: the batches stay in its outbox). A timed
# run copies the three journals, starts the aggregator (plaintext on loopback, --log-level
# debug) with `detect = false` or with `detect = true` and the campus's [segments]/[sensors]
# (the same INI), then the three sensors replay their journals (--read EMPTY.pcap
# --outbox-dir COPY). The rate is the aggregator's own "ingest burst" figure (records from the
# first batch to the last commit); its CPU time (user+sys) is read before it is stopped. Two
# stores: null (what detection costs, isolated) and SQLite (the default store).
# Memory: `ashiato detect --stream --stats` over 1M session lines from 1M distinct sources
# (one failed attempt each), state bytes by the engine's accounting and peak RSS by
# /usr/bin/time. Target: detectors on at most 20% slower than off (ratio >= 0.80).
set -euo pipefail

RUNS=3
DRY=0
while getopts "n:dh" o; do
    case $o in
        n) RUNS=$OPTARG ;;
        d) DRY=1 ;;
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
CACHE=$ROOT/bench/.cache/detect
RESULTS=$ROOT/bench/RESULTS.md
die() { echo "detect_ingest: $*" >&2; exit 1; }
say() { echo "detect_ingest: $*" >&2; }
for b in "$SENSOR" "$AGG" "$CLI"; do [ -x "$b" ] || die "no binary at $b (build first)"; done
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"

WORK=$(mktemp -d /tmp/ashiato-detect-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

GEN_CMD=(python3 "$SHARED/tools/campusgen.py" --out "$CACHE/campus" --sensors 2,3,4 --rate 600
         --duration 900 --events all --quiet)
SENSORS="2 3 4"
mkdir -p "$CACHE"
if [ ! -s "$CACHE/journal-s4.records" ]; then
    say "generating the campus once: ${GEN_CMD[*]}"
    rm -rf "$CACHE/campus" "$CACHE"/journal-s*
    "${GEN_CMD[@]}" >&2
    for i in $SENSORS; do
        set +e
        "$SENSOR" --read "$CACHE/campus/sensor-$i.pcap" --name "sensor-$i" --insecure \
            --drain-timeout 0 --aggregator "tcp://127.0.0.1:$(free_port)" \
            --outbox-dir "$CACHE/journal-s$i" --log-level warn 2> "$WORK/journal.err"
        set -e
        n=$(sed -n 's/.*did not acknowledge [0-9]* batches (\([0-9]*\) records).*/\1/p' "$WORK/journal.err")
        [ -n "$n" ] || die "journal of sensor-$i: $(cat "$WORK/journal.err")"
        echo "$n" > "$CACHE/journal-s$i.records"
    done
    rm -f "$CACHE"/campus/sensor-*.pcap
fi
TOTAL=0
for i in $SENSORS; do TOTAL=$((TOTAL + $(cat "$CACHE/journal-s$i.records"))); done
python3 -c 'import struct, sys; open(sys.argv[1], "wb").write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))' \
    "$WORK/empty.pcap"
# the campus's segments and sensors (campusgen's plan), detection off and on
python3 - "$CACHE/campus/truth.json" "$WORK" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
seg = "[segments]\n" + "".join(f"dept-{d} = {n}\n" for d, n in t["departments"].items())
seg += f"servers = {t['server_segment']}\n[sensors]\n"
seg += "".join(f"sensor-{d} = dept-{d}\n" for d in t["departments"])
for on in ("false", "true"):
    open(f"{sys.argv[2]}/detect-{on}.ini", "w").write(
        f"[aggregator]\ndetect = {on}\ndetect_config = {sys.argv[2]}/detect-{on}.ini\n" + seg)
PY
say "load: $TOTAL records in three journals"

ingest() {     # ingest off|on null|sqlite: one timed run, appends "case rate cpu secs load alerts"
    local name=$1 store=$2 w=$WORK/run pids=() i
    rm -rf "$w"
    mkdir -p "$w"
    for i in $SENSORS; do cp -r "$CACHE/journal-s$i" "$w/j$i"; done
    local ini=$WORK/detect-false.ini url=null:
    [ "$name" = on ] && ini=$WORK/detect-true.ini
    [ "$store" = sqlite ] && url="sqlite://$w/sessions.db"
    local load=$(cut -d' ' -f1 /proc/loadavg) port=$(free_port)
    "$AGG" -c "$ini" --insecure --listen "tcp://127.0.0.1:$port" --store "$url" \
        --log-level debug 2> "$w/agg.log" &
    local agg=$!
    PIDS+=("$agg")
    for _ in $(seq 100); do grep -q listening "$w/agg.log" 2>/dev/null && break; sleep 0.05; done
    for i in $SENSORS; do
        "$SENSOR" --read "$WORK/empty.pcap" --name "sensor-$i" --insecure \
            --aggregator "tcp://127.0.0.1:$port" --outbox-dir "$w/j$i" --drain-timeout 600000 \
            --log-level warn 2> "$w/s$i.log" &
        pids+=($!)
    done
    for i in 0 1 2; do wait "${pids[$i]}" || die "$name: sensor failed: $(cat "$w/s$((i + 1)).log")"; done
    local cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$agg/stat")
    kill "$agg"
    wait "$agg" 2>/dev/null || true
    read -r recs secs < <(awk '/ingest burst/ {for (i = 1; i <= NF; i++) {split($i, kv, "=");
        if (kv[1] == "records") r += kv[2]; if (kv[1] == "seconds") s += kv[2]}}
        END {printf "%d %.3f\n", r, s}' "$w/agg.log")
    [ "$recs" = "$TOTAL" ] || die "$name: committed $recs records of $TOTAL: $(tail -5 "$w/agg.log")"
    local alerts=$(sed -n 's/.*detection records=[0-9]* alerts=\([0-9]*\).*/\1/p' "$w/agg.log")
    echo "$name-$store $(awk -v r="$recs" -v s="$secs" 'BEGIN {printf "%.0f", r / s}') $cpu $secs $load ${alerts:-0}" >> "$WORK/runs"
    say "$name $store: $recs records in $secs s, CPU $cpu s, alerts ${alerts:--} (load $load)"
}

for r in $(seq "$RUNS"); do
    for store in null sqlite; do
        if [ $((r % 2)) -eq 1 ]; then ingest off $store; ingest on $store
        else ingest on $store; ingest off $store; fi
    done
done

# 1M distinct sources, one failed attempt each
python3 - "$WORK/million.json" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000000):
        s = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        t = 1632830400 + i // 1000
        f.write('{"event":{"start":"%s","end":"%s"},"source":{"ip":"%s","port":40000,"packets":1},'
                '"destination":{"ip":"198.51.100.1","port":%d,"packets":0},"network":{"iana_number":"6"},'
                '"observer":{"name":"s"},"ashiato":{"session_id":"m%d","conn_state":"S0"}}\n'
                % (__import__("time").strftime("%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime(t)),
                   __import__("time").strftime("%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime(t)),
                   s, 1 + i % 1000, i))
PY
/usr/bin/time -f '%M' -o "$WORK/rss" "$CLI" detect --stream --stats "$WORK/million.json" \
    > /dev/null 2> "$WORK/million.err"
MEM_LINE=$(grep '^detect:' "$WORK/million.err")
RSS_MB=$(awk '{printf "%.1f", $1 / 1024}' "$WORK/rss")

section=$(python3 - "$WORK/runs" "$RUNS" "$TOTAL" "$MEM_LINE" "$RSS_MB" <<'PY'
import statistics, sys
runs, n, total, mem, rss = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = [ln.split() for ln in open(runs)]
out = []
med = {}
for store in ("null", "sqlite"):
    for case in ("off", "on"):
        rs = [r for r in rows if r[0] == f"{case}-{store}"]
        rate = statistics.median(float(r[1]) for r in rs)
        cpu = statistics.median(float(r[2]) for r in rs)
        med[case, store] = (rate, cpu)
        out.append(f"| {store} | detectors {case} | {rate:,.0f} | {cpu:.2f} | {len(rs)} | "
                   + " ".join(f"{float(r[1]):,.0f}" for r in rs) + f" | {rs[-1][5]} |")
kv = dict(x.split("=") for x in mem.split()[1:])
print("| store | case | median records/s | median aggregator CPU s | runs | rates | alerts |")
print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
print("\n".join(out))
print()
for store in ("null", "sqlite"):
    ratio = med["on", store][0] / med["off", store][0]
    extra = (med["on", store][1] - med["off", store][1]) / int(total) * 1e9
    print(f"- {store} store: on / off = **{ratio:.2f}** of the ingest rate (target >= 0.80: "
          f"{'met' if ratio >= 0.8 else 'NOT met'}); detection CPU {extra:,.0f} ns per record")
print(f"- 1M distinct sources (`ashiato detect --stream --stats`): state {int(kv['state_bytes'])/1048576:.1f} MiB "
      f"in {kv['state_entries']} entries, cap hits {kv['cap_hits']}, peak RSS {rss} MB "
      f"(documented bound: 400 MiB at max_sources = 262144)")
PY
)
machine="$(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1 | cut -c1-40), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
commit=$(git -C "$ROOT" rev-parse --short HEAD)
text="## detect_ingest $(date -u +%Y-%m-%dT%H:%MZ)

- commit: $commit$(git -C "$ROOT" diff --quiet || echo ' (uncommitted changes)')
- machine: $machine; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end
- load: ${GEN_CMD[*]} -> three journals, $TOTAL records; null store, plaintext loopback
- command: bench/detect_ingest.sh -n $RUNS

$section
"
echo "$text"
[ "$DRY" -eq 1 ] || printf '%s\n' "$text" >> "$RESULTS"
