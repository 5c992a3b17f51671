#!/usr/bin/env bash
# session_memory.sh -- memory per active session of ashiato-sensor, measured with 1M concurrent
# TCP flows. Never part of ctest.
#
#   bench/session_memory.sh [-n RUNS] [-f FLOWS] [-d]
#
#   -n RUNS   runs of each measurement, alternating (default 3); the median peak RSS is used
#   -f FLOWS  concurrent flows (default 1000000)
#   -d        dry: print the section but do not append it to bench/RESULTS.md
# Environment: ASHIATO_SENSOR (default build/bin/ashiato-sensor).
#
# bench/gen_flows.py writes (once, cached in bench/.cache/, gitignored) a capture of FLOWS
# distinct TCP flows: one SYN each within 2 s, then one SYN-ACK each within the next 2 s, so
# that all of them are live at once when the input ends; and a tiny capture of 1000 such flows.
# Three measurements, peak RSS from /usr/bin/time -f %M:
#   full      sensor --read flowsN.pcap --max-sessions MAX --stats      (MAX = FLOWS * 1.1)
#   baseline  sensor --read flows1k.pcap --max-sessions MAX --stats     (same config, tiny input)
#   small     sensor --read flows1k.pcap --max-sessions 2000 --stats    (what preallocation costs)
# bytes/session = (full - baseline) / FLOWS, the figure the target (<= 256) is about; the
# all-in figure (full - small) / FLOWS also charges the table sized for MAX slots, in case the
# sensor touches its slots at startup (which would hide them in the baseline).
set -euo pipefail

RUNS=3
FLOWS=1000000
DRY=0
while getopts "n:f:dh" o; do
    case $o in
        n) RUNS=$OPTARG ;;
        f) FLOWS=$OPTARG ;;
        d) DRY=1 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) exit 2 ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SENSOR=${ASHIATO_SENSOR:-$ROOT/build/bin/ashiato-sensor}
CACHE=$ROOT/bench/.cache
RESULTS=$ROOT/bench/RESULTS.md
MAX=$((FLOWS + FLOWS / 10))
die() { echo "session_memory: $*" >&2; exit 1; }
[ -x "$SENSOR" ] || die "no sensor binary at $SENSOR (scripts/build.sh, or set ASHIATO_SENSOR)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"

BIG=$CACHE/flows$FLOWS.pcap
TINY=$CACHE/flows1000.pcap
mkdir -p "$CACHE"
for spec in "$FLOWS:$BIG" "1000:$TINY"; do
    n=${spec%%:*}; f=${spec#*:}
    if [ ! -s "$f" ]; then
        echo "session_memory: generating $f ($n flows)" >&2
        python3 "$ROOT/bench/gen_flows.py" --flows "$n" --out "$f.tmp" && mv "$f.tmp" "$f"
    fi
done

WORK=$(mktemp -d /tmp/ashiato-mem.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FULL_CMD=("$SENSOR" --read "$BIG" --max-sessions "$MAX" --stats --name bench)
BASE_CMD=("$SENSOR" --read "$TINY" --max-sessions "$MAX" --stats --name bench)
SMALL_CMD=("$SENSOR" --read "$TINY" --max-sessions 2000 --stats --name bench)

# timed NAME CMD...: one run; appends "NAME wall_s rss_kb" to $WORK/runs
timed() {
    local name=$1; shift
    local t0 t1 rc
    t0=$(date +%s%N)
    set +e
    /usr/bin/time -f %M -o "$WORK/rss" "$@" >"$WORK/out.$name" 2>"$WORK/err.$name"
    rc=$?
    set -e
    t1=$(date +%s%N)
    [ $rc -eq 0 ] || die "$name exited $rc: $(tail -c 400 "$WORK/err.$name")"
    echo "$name $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}') $(tail -1 "$WORK/rss")" \
        >> "$WORK/runs"
}
cat "$BIG" > /dev/null
for ((i = 1; i <= RUNS; i++)); do
    echo "session_memory: round $i/$RUNS" >&2
    timed full "${FULL_CMD[@]}"; timed baseline "${BASE_CMD[@]}"; timed small "${SMALL_CMD[@]}"
done

# every flow must have been live at once: FLOWS sessions, none evicted
stats=$(tr '\n' ';' < "$WORK/err.full" | sed 's/;$//; s/;/; /g')
sessions=$(grep -o 'sessions: [0-9]*' "$WORK/err.full" | head -1 | awk '{print $2}')
evicted=$(grep -o 'evicted [0-9]*' "$WORK/err.full" | head -1 | awk '{print $2}')
[ "${sessions:-0}" = "$FLOWS" ] || die "expected $FLOWS sessions, --stats says: $stats"
[ "${evicted:-0}" = 0 ] || die "sessions were evicted, the measurement is void: $stats"

med() {   # med NAME FIELD: median of a field (2 wall, 3 rss) over the runs of NAME
    awk -v t="$1" -v f="$2" '$1 == t {print $f}' "$WORK/runs" | sort -g |
        awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
all() { awk -v t="$1" -v f="$2" '$1 == t {printf "%s%s", s, $f; s = " "}' "$WORK/runs"; }
FULL=$(med full 3); BASE=$(med baseline 3); SMALL=$(med small 3)
PER=$(awk -v a="$FULL" -v b="$BASE" -v n="$FLOWS" 'BEGIN {printf "%.1f", (a - b) * 1024 / n}')
ALLIN=$(awk -v a="$FULL" -v b="$SMALL" -v n="$FLOWS" 'BEGIN {printf "%.1f", (a - b) * 1024 / n}')
VERDICT=$(awk -v p="$PER" 'BEGIN {print (p <= 256) ? "met" : sprintf("MISSED by %.1f bytes (%.0f%%)", p - 256, (p - 256) / 2.56)}')
VERDICT_ALL=$(awk -v p="$ALLIN" 'BEGIN {print (p <= 256) ? "within" : "over"}')

DIRTY=""
[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] && DIRTY=" (with uncommitted changes)"
rel() { sed "s|$ROOT/||g"; }
section=$(
    echo "## session_memory $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$DIRTY"
    echo "- machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -r)"
    echo "- inputs: \`python3 bench/gen_flows.py --flows $FLOWS --out $(rel <<<"$BIG")\` ($((FLOWS * 2)) packets: a SYN then a SYN-ACK per flow) and \`--flows 1000\` for the baseline"
    echo "- commands, $RUNS runs each, alternating; peak RSS by \`/usr/bin/time -f %M\`:"
    echo "  - full: \`$(rel <<<"${FULL_CMD[*]}")\`"
    echo "  - baseline: \`$(rel <<<"${BASE_CMD[*]}")\`"
    echo "  - small: \`$(rel <<<"${SMALL_CMD[*]}")\`"
    echo
    echo "| run | median peak RSS KB | all peak RSS KB | median wall s |"
    echo "| --- | ---: | --- | ---: |"
    for t in full baseline small; do echo "| $t | $(med $t 3) | $(all $t 3) | $(med $t 2) |"; done
    echo
    echo "- per active session: (full - baseline) / $FLOWS = **$PER bytes** (target <= 256: $VERDICT)"
    echo "- all-in, charging the $MAX-slot table too: (full - small) / $FLOWS = $ALLIN bytes ($VERDICT_ALL the target)"
    echo "- full run --stats (last run): $stats"
    echo
)
echo "$section"
if [ $DRY -eq 0 ]; then
    [ -f "$RESULTS" ] || printf '# Benchmark results\n\nAppended by bench/*.sh, newest last. Never part of the test run.\n\n' > "$RESULTS"
    printf '%s\n\n' "$section" >> "$RESULTS"
    echo "session_memory: appended to $RESULTS" >&2
fi
