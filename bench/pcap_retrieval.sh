#!/usr/bin/env bash
# pcap_retrieval.sh -- how fast one session's packets come back from a big pcap store: ashiato
# (the packet service through `ashiato pcap`) against the naive way (tcpdump -r over every
# file of the store with a 5-tuple BPF), in one run.
#
#   bench/pcap_retrieval.sh [-s SESSIONS] [-t NAIVE] [-l LOOPS] [-B CLI [-N LABEL]] [-c] [-d] [-k]
#
#   -s SESSIONS  random sessions fetched with ashiato pcap (default 500)
#   -t NAIVE     of those, how many are also fetched the naive way (default 10: each reads the
#                whole store)
#   -l LOOPS     times the capture is replayed into the store, each an hour later (default 5:
#                ~6 GiB in 24 files of 256 MiB)
#   -B CLI       also time this other `ashiato` binary (e.g. an older commit's build) on the same
#                sessions, fetch by fetch alternating which goes first, and the start of both
#                (`ashiato --help`, 300 runs each, alternating): a same-machine baseline in one run
#   -N LABEL     what to call -B's binary in the section (default: baseline)
#   -c           cold: before each timed fetch (both ways) the store's files are evicted from
#                the page cache (posix_fadvise DONTNEED), so every answer reads the disk; the
#                store's writer uses O_DIRECT, so packets written are not in the cache anyway
#   -d           dry: print the section but do not append it to bench/RESULTS.md
#   -k           keep the store and work files (their directory is printed)
# Environment: ASHIATO_BUILD_DIR (default build: bin/ashiato and tests/pcap_store_driver),
# ASHIATO_SHARED_DIR (default ../shared, for campusgen.py), TMPDIR (where the store goes).
#
# The store: the ~2M-packet campusgen capture of bench/.cache/campus2m read LOOPS times through
# tests/integration/pcap_store_driver (the sensor's store + index wiring) with
# --max-file-size 256M; its session documents carry ashiato.packet_pos. The driver then serves
# the store on an ipc endpoint. Each timed fetch is a fresh process, wall clock around it:
#   ashiato  build/bin/ashiato pcap --sensor ipc://... --session-json LINE --out FILE
#   naive    tcpdump -Z root -V FILELIST -w FILE '<5-tuple BPF of the session, both directions>'
#            (-Z root: as root, tcpdump drops to its own user after the first file and could not
#            open the others)
# Both read a warm page cache (the machine has the RAM for the store), or with -c the disk. Every ashiato answer is
# checked to hold exactly the session's packet count; the naive answer holds every replay of
# that 5-tuple (it has no time range), so it is a superset. Targets: median under 20 ms, p99
# under 100 ms.
set -euo pipefail

SESSIONS=500
NAIVE=10
LOOPS=5
DRY=0
KEEP=0
COLD=0
OTHER=
LABEL=baseline
while getopts "s:t:l:B:N:cdkh" o; do
    case $o in
        s) SESSIONS=$OPTARG ;;
        t) NAIVE=$OPTARG ;;
        l) LOOPS=$OPTARG ;;
        B) OTHER=$OPTARG ;;
        N) LABEL=$OPTARG ;;
        c) COLD=1 ;;
        d) DRY=1 ;;
        k) KEEP=1 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) exit 2 ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ASHIATO_BUILD_DIR:-$ROOT/build}
DRIVER=$BUILD/tests/pcap_store_driver
CLI=$BUILD/bin/ashiato
SHARED=${ASHIATO_SHARED_DIR:-$ROOT/../shared}
CACHE=$ROOT/bench/.cache/campus2m
RESULTS=$ROOT/bench/RESULTS.md
die() { echo "pcap_retrieval: $*" >&2; exit 1; }

[ -x "$DRIVER" ] && [ -x "$CLI" ] || die "build $DRIVER and $CLI first (or set ASHIATO_BUILD_DIR)"
[ -z "$OTHER" ] || [ -x "$OTHER" ] || die "-B $OTHER: not an executable"
command -v tcpdump >/dev/null || die "tcpdump is not installed"
if ! ls "$CACHE"/sensor-*.pcap >/dev/null 2>&1; then
    mkdir -p "$CACHE"
    python3 "$SHARED/tools/campusgen.py" --out "$CACHE" --sensors 3 --rate 1200 \
        --packets-target 2000000 --scan-at +60 >&2
fi
PCAP=$(ls -S "$CACHE"/sensor-*.pcap | head -1)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ashiato-retrieval.XXXXXX")
SERVER=
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    if [ "$KEEP" = 1 ]; then echo "pcap_retrieval: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

echo "pcap_retrieval: building the store: $PCAP x $LOOPS into $WORK/store" >&2
t0=$(date +%s)
"$DRIVER" --read "$PCAP" --loop "$LOOPS" --loop-shift 3600 --pcap-dir "$WORK/store" \
    --name bench --max-file-size 256M --emit-json "$WORK/sessions.json" --stats \
    >"$WORK/build.json" 2>"$WORK/build.log" || die "store build failed: $(tail -1 "$WORK/build.log")"
echo "pcap_retrieval: store built in $(( $(date +%s) - t0 )) s" >&2
ls "$WORK"/store/*.pcap > "$WORK/files.txt"

"$DRIVER" --pcap-dir "$WORK/store" --name bench --endpoint "ipc://$WORK/ep" --serve \
    >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVER=$!
for _ in $(seq 1 100); do grep -q ready "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/serve.out" || die "the driver did not start serving: $(tail -1 "$WORK/serve.log")"
[ "$COLD" = 1 ] || cat "$WORK"/store/*.pcap > /dev/null   # a warm page cache for both ways

SECTION=$(python3 - "$WORK" "$CLI" "$SESSIONS" "$NAIVE" "$LOOPS" "$PCAP" "$ROOT" "$COLD" "$OTHER" \
    "$LABEL" <<'EOF'
import datetime, json, os, random, statistics, subprocess, sys, time
work, cli, n, naive, loops, pcap, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    sys.argv[5], sys.argv[6], sys.argv[7]
cold = sys.argv[8] == "1"
other, label = sys.argv[9] or None, sys.argv[10]
load0 = os.getloadavg()[0]


def evict():
    """-c: the store's files (packets and sidecars) out of the page cache"""
    if not cold:
        return
    for name in os.listdir(f"{work}/store"):
        fd = os.open(f"{work}/store/{name}", os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)

files = open(f"{work}/files.txt").read().split()
size = sum(os.path.getsize(f) for f in files)
lines = open(f"{work}/sessions.json").read().splitlines()
sample = random.Random(1).sample(lines, min(n, len(lines)))

def bpf(doc):
    s, d = doc["source"], doc["destination"]
    p = int(doc["network"]["iana_number"])
    names = {6: "tcp", 17: "udp", 132: "sctp"}
    if p in names:
        a = f"src host {s['ip']} and src port {s['port']} and dst host {d['ip']} and dst port {d['port']}"
        b = f"src host {d['ip']} and src port {d['port']} and dst host {s['ip']} and dst port {s['port']}"
        return f"{names[p]} and (({a}) or ({b}))"
    return f"ip proto {p} and host {s['ip']} and host {d['ip']}"

def count(path):
    out = subprocess.run(["tcpdump", "-r", path, "-c", "100000000"], capture_output=True, text=True)
    return len(out.stdout.splitlines())

clis = [cli] + ([other] if other else [])
times = {c: [] for c in clis}
pk = []
for i, line in enumerate(sample):
    doc = json.loads(line)
    for c in (clis if i % 2 == 0 else clis[::-1]):    # which goes first alternates
        evict()
        t = time.perf_counter()
        r = subprocess.run([c, "pcap", "--sensor", f"ipc://{work}/ep", "--session-json", line,
                            "--out", f"{work}/s.pcap"], capture_output=True, text=True)
        times[c].append((time.perf_counter() - t) * 1000)
        if r.returncode != 0:
            sys.exit(f"{c} pcap failed: {r.stderr}")
        if i < 50 and count(f"{work}/s.pcap") != doc["network"]["packets"]:
            sys.exit(f"{c}: {doc['ashiato']['session_id']}: wrong packet count")
    pk.append(doc["network"]["packets"])
ours = times[cli]
starts = {c: [] for c in clis}
if other:                                            # process start alone: `ashiato --help`
    for i in range(300):
        for c in (clis if i % 2 == 0 else clis[::-1]):
            t = time.perf_counter()
            subprocess.run([c, "--help"], stdout=subprocess.DEVNULL, check=True)
            starts[c].append((time.perf_counter() - t) * 1000)
theirs = []
for line in sample[:naive]:
    doc = json.loads(line)
    evict()
    t = time.perf_counter()
    subprocess.run(["tcpdump", "-Z", "root", "-V", f"{work}/files.txt", "-w", f"{work}/n.pcap", bpf(doc)],
                   check=True, capture_output=True)
    theirs.append((time.perf_counter() - t) * 1000)
    if count(f"{work}/n.pcap") < doc["network"]["packets"]:
        sys.exit("naive selection lost packets")

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                        text=True).stdout.strip() or "?"
if subprocess.run(["git", "-C", root, "status", "--porcelain"], capture_output=True, text=True).stdout.strip():
    commit += " (with uncommitted changes)"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
om, op = statistics.median(ours), pct(ours, 99)
nm, np_ = statistics.median(theirs), pct(theirs, 99)
out = [f"## pcap_retrieval: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, commit {commit}", "",
       f"Machine: {os.cpu_count()} x {cpu}, load average at the start {load0:.2f}, at the end "
       f"{os.getloadavg()[0]:.2f}. "
       f"Store: {size / 2**30:.2f} GiB in {len(files)} files (campusgen {os.path.basename(pcap)} "
       f"x {loops}, 256 MiB files, {len(lines)} sessions), "
       + ("page cache cold: the store's files evicted (posix_fadvise DONTNEED) before each fetch, both ways."
          if cold else "page cache warm."),
       f"Command: bench/pcap_retrieval.sh -s {n} -t {naive} -l {loops}{' -c' if cold else ''}"
       f"{f' -B {other} -N {label}' if other else ''}. Each fetch is a fresh "
       "process timed from start to exit: `ashiato pcap --sensor ipc://... --session-json LINE "
       "--out F` against `tcpdump -Z root -V FILELIST -w F '<5-tuple BPF>'`.",
       f"Sessions: {len(ours)} random (seed 1), median {statistics.median(pk):.0f} packets, "
       f"max {max(pk)}; naive on the first {len(theirs)} of them.", "",
       "| way | runs | median ms | p99 ms | max ms |", "| --- | --- | --- | --- | --- |",
       f"| ashiato pcap | {len(ours)} | {om:.1f} | {op:.1f} | {max(ours):.1f} |"]
if other:
    b = times[other]
    out.append(f"| ashiato pcap, {label} | {len(b)} | {statistics.median(b):.1f} | {pct(b, 99):.1f} "
               f"| {max(b):.1f} |")
out += [f"| tcpdump -V over all files | {len(theirs)} | {nm:.0f} | {np_:.0f} | {max(theirs):.0f} |",
        "",
        f"Ratio naive / ashiato: {nm / om:.0f}x at the median. Targets: median < 20 ms "
        f"({'met' if om < 20 else 'NOT met'}), p99 < 100 ms ({'met' if op < 100 else 'NOT met'})."]
if other:
    b, so, sb = times[other], starts[cli], starts[other]
    out += [f"Same run, fetch by fetch alternating which goes first: {label} (`{other}`) / this "
            f"build = {statistics.median(b) / om:.2f}x at the median, {pct(b, 99) / op:.2f}x at "
            f"p99. Process start alone (`ashiato --help`, {len(so)} runs each, alternating): "
            f"this build median {statistics.median(so):.2f} ms (p99 {pct(so, 99):.2f}), {label} "
            f"{statistics.median(sb):.2f} ms (p99 {pct(sb, 99):.2f}): "
            f"{statistics.median(sb) / statistics.median(so):.2f}x."]
out.append("")
print("\n".join(out))
EOF
)
echo "$SECTION"
if [ "$DRY" = 0 ]; then
    printf '\n%s\n' "$SECTION" >> "$RESULTS"
    echo "pcap_retrieval: appended to $RESULTS" >&2
fi
