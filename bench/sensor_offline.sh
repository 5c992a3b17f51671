#!/usr/bin/env bash
# sensor_offline.sh -- offline session assembly speed: ashiato-sensor against the libpcap floor
# and the peers (nfpcapd, argus, tshark) on one ~2M-packet campusgen capture, in one run.
#
#   bench/sensor_offline.sh [-n RUNS] [-d]       (run from anywhere; never part of ctest)
#
#   -n RUNS  timed runs per tool (default 5); the tools alternate round by round (odd rounds
#            floor, ashiato, peers; even rounds the reverse) so that drift hits all alike
#   -d       dry: print the section but do not append it to bench/RESULTS.md
# Environment: ASHIATO_SENSOR (default build/bin/ashiato-sensor), ASHIATO_SHARED_DIR (default
# ../shared: campusgen.py and peer-bench.sh come from its tools/).
#
# The capture is made once and cached (bench/.cache/ is gitignored):
#   python3 ../shared/tools/campusgen.py --out bench/.cache/campus2m --sensors 3 --rate 1200 \
#       --packets-target 2000000 --scan-at +60
# --sensors 3 writes only department 3's file, so there is nothing to merge: the benchmark reads
# the largest sensor-*.pcap of that directory, which is that one file (~2.0M packets, 1.2 GB).
# Tools and how each is timed (wall clock from date +%s%N, peak RSS from /usr/bin/time -f %M):
#   floor    bench/pcap_floor.c compiled here with cc -O2 -lpcap: pcap_next_ex, count only
#   ashiato  $ASHIATO_SENSOR --read FILE --stats --name bench   (no --emit-json: JSON off)
#   peers    ../shared/tools/peer-bench.sh -n 1 FILE once per round (pcap-count, tcpdump,
#            nfpcapd, argus, tshark-conv), its per-tool lines collected over the rounds
# Reported per tool: median wall time, Mpps (packets / median), peak RSS (largest of the runs),
# and for floor and ashiato the median CPU time (user + sys; peer-bench.sh gives wall time only);
# ratios ashiato/floor (target >= 0.60) and ashiato/fastest flow peer among nfpcapd, argus,
# tshark-conv (target >= 3). The section appended to bench/RESULTS.md also holds the date, the
# commit, the machine, the load average and the exact commands.
set -euo pipefail

RUNS=5
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
SENSOR=${ASHIATO_SENSOR:-$ROOT/build/bin/ashiato-sensor}
SHARED=${ASHIATO_SHARED_DIR:-$ROOT/../shared}
CACHE=$ROOT/bench/.cache/campus2m
RESULTS=$ROOT/bench/RESULTS.md
die() { echo "sensor_offline: $*" >&2; exit 1; }

[ -x "$SENSOR" ] || die "no sensor binary at $SENSOR (scripts/build.sh, or set ASHIATO_SENSOR)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
[ -r "$SHARED/tools/peer-bench.sh" ] || die "$SHARED/tools/peer-bench.sh not found (set ASHIATO_SHARED_DIR)"

GEN_CMD=(python3 "$SHARED/tools/campusgen.py" --out "$CACHE" --sensors 3 --rate 1200
         --packets-target 2000000 --scan-at +60)
if ! ls "$CACHE"/sensor-*.pcap >/dev/null 2>&1; then
    echo "sensor_offline: generating the capture once: ${GEN_CMD[*]}" >&2
    mkdir -p "$CACHE"
    "${GEN_CMD[@]}" >&2
fi
PCAP=$(ls -S "$CACHE"/sensor-*.pcap | head -1)

WORK=$(mktemp -d /tmp/ashiato-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc -O2 "$ROOT/bench/pcap_floor.c" -lpcap -o "$WORK/pcap_floor"
PKTS=$("$WORK/pcap_floor" "$PCAP" | awk '{print $1}')
SIZE=$(du -h "$PCAP" | cut -f1)
echo "sensor_offline: $PCAP: $PKTS packets, $SIZE, $RUNS runs per tool" >&2
cat "$PCAP" > /dev/null                      # warm the page cache

FLOOR_CMD=("$WORK/pcap_floor" "$PCAP")
ASH_CMD=("$SENSOR" --read "$PCAP" --stats --name bench)
PEER_CMD=("$SHARED/tools/peer-bench.sh" -n 1 "$PCAP")

# timed NAME CMD...: one run; appends "NAME wall_s rss_kb cpu_s" (user + sys) to $WORK/runs
timed() {
    local name=$1; shift
    local t0 t1 rc
    sync
    t0=$(date +%s%N)
    set +e
    /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "$@" >"$WORK/out.$name" 2>"$WORK/err.$name"
    rc=$?
    set -e
    t1=$(date +%s%N)
    [ $rc -eq 0 ] || die "$name exited $rc: $(tail -c 400 "$WORK/err.$name")"
    echo "$name $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')" \
         "$(tail -1 "$WORK/rss" | awk '{printf "%d %.2f", $1, $2 + $3}')" >> "$WORK/runs"
}
# peers: one peer-bench.sh round; its lines are "tool median_s Mpps peak_rss_MB runs"
peers() {
    "${PEER_CMD[@]}" > "$WORK/peer.out" 2>"$WORK/peer.err" || die "peer-bench failed: $(tail -c 400 "$WORK/peer.err")"
    awk 'NR > 1 && $2 != "FAILED" {printf "%s %s %d -\n", $1, $2, $4 * 1024}' "$WORK/peer.out" >> "$WORK/runs"
    grep -i "not installed\|skipped\|exited" "$WORK/peer.err" >> "$WORK/peer.notes" || true
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((i = 1; i <= RUNS; i++)); do
    echo "sensor_offline: round $i/$RUNS" >&2
    if ((i % 2)); then
        timed floor "${FLOOR_CMD[@]}"; timed ashiato "${ASH_CMD[@]}"; peers
    else
        peers; timed ashiato "${ASH_CMD[@]}"; timed floor "${FLOOR_CMD[@]}"
    fi
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# summary: tool median_s Mpps peak_rss_MB runs median_cpu_s walls...
summary=$(awk -v p="$PKTS" '
    function median(list,    a, m, x, y, s) {
        m = split(list, a, " ")
        for (x = 1; x <= m; x++) for (y = x + 1; y <= m; y++) if (a[y] + 0 < a[x] + 0) { s = a[x]; a[x] = a[y]; a[y] = s }
        return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    { w[$1] = w[$1] " " $2; n[$1]++; if ($3 > r[$1]) r[$1] = $3; if ($4 != "-") c[$1] = c[$1] " " $4
      if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
    END {
        for (j = 1; j <= k; j++) {
            t = order[j]; med = median(substr(w[t], 2))
            cpu = (t in c) ? sprintf("%.2f", median(substr(c[t], 2))) : "-"
            printf "%s %.3f %.3f %.1f %d %s %s\n", t, med, p / med / 1e6, r[t] / 1024, n[t], cpu, substr(w[t], 2)
        }
    }' "$WORK/runs")
mpps() { awk -v t="$1" '$1 == t {print $3}' <<<"$summary"; }
FLOOR=$(mpps floor); ASH=$(mpps ashiato)
BEST_PEER=$(awk '$1 == "nfpcapd" || $1 == "argus" || $1 == "tshark-conv"' <<<"$summary" | sort -k3,3gr | head -1)
BEST_NAME=${BEST_PEER%% *}
BEST=$(awk '{print $3}' <<<"$BEST_PEER")
R_FLOOR=$(awk -v a="$ASH" -v b="$FLOOR" 'BEGIN {printf "%.2f", a / b}')
VERDICT_FLOOR=$(awk -v r="$R_FLOOR" 'BEGIN {print (r >= 0.60) ? "met" : sprintf("MISSED by %.0f%% of the target", (0.60 - r) / 0.60 * 100)}')
if [ -n "$BEST" ]; then
    R_PEER=$(awk -v a="$ASH" -v b="$BEST" 'BEGIN {printf "%.2f", a / b}')
    VERDICT_PEER=$(awk -v r="$R_PEER" 'BEGIN {print (r >= 3) ? "met" : sprintf("MISSED by %.0f%% of the target", (3 - r) / 3 * 100)}')
else
    R_PEER="n/a"; VERDICT_PEER="no peer ran"
fi

R_CPU=$(awk '$1 == "floor" {f = $6} $1 == "ashiato" {a = $6} END {printf "%.2f", f / a}' <<<"$summary")
DIRTY=""
[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] && DIRTY=" (with uncommitted changes)"
section=$(
    echo "## sensor_offline $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$DIRTY"
    echo "- machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -r); load average $LOAD0 before, $LOAD1 after"
    echo "- capture: \`${GEN_CMD[*]/#$ROOT\//}\` -> $(basename "$PCAP") (the only file it writes; not merged), $PKTS packets, $SIZE"
    echo "- commands, $RUNS runs each, alternating round by round:"
    echo "  - floor: \`cc -O2 bench/pcap_floor.c -lpcap -o \$tmp/pcap_floor; \$tmp/pcap_floor FILE\`"
    echo "  - ashiato: \`${ASH_CMD[*]/#$ROOT\//}\` (sensor $(basename "$SENSOR") at ${SENSOR/#$ROOT\//})" | sed "s|$PCAP|FILE|"
    echo "  - peers: \`../shared/tools/peer-bench.sh -n 1 FILE\` once per round"
    echo
    echo "| tool | median wall s | Mpps | peak RSS MB | runs | median CPU s (user+sys) | wall times s |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
    awk '{w = ""; for (i = 7; i <= NF; i++) w = w (i > 7 ? " " : "") $i; printf "| %s | %.3f | %.3f | %.1f | %d | %s | %s |\n", $1, $2, $3, $4, $5, $6, w}' <<<"$summary"
    echo
    echo "- ashiato / floor = $ASH / $FLOOR Mpps = **$R_FLOOR** (target >= 0.60: $VERDICT_FLOOR); by CPU time floor/ashiato = $R_CPU"
    echo "- ashiato / fastest peer ($BEST_NAME) = $ASH / ${BEST:-n/a} Mpps = **$R_PEER** (target >= 3: $VERDICT_PEER)"
    echo "- ashiato --stats (last run): $(tr '\n' ';' < "$WORK/err.ashiato" | sed 's/;$//; s/;/; /g')"
    [ -s "$WORK/peer.notes" ] && echo "- peer-bench notes: $(sort -u "$WORK/peer.notes" | tr '\n' ' ')"
    echo
)
echo "$section"
if [ $DRY -eq 0 ]; then
    [ -f "$RESULTS" ] || printf '# Benchmark results\n\nAppended by bench/*.sh, newest last. Never part of the test run.\n\n' > "$RESULTS"
    printf '%s\n\n' "$section" >> "$RESULTS"
    echo "sensor_offline: appended to $RESULTS" >&2
fi
