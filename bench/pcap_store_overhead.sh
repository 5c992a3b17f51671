#!/usr/bin/env bash
# pcap_store_overhead.sh -- what keeping every packet costs ashiato-sensor: the same capture with
# the pcap store off and on, in one run, runs alternating; offline (--read) and live (veth).
#
#   bench/pcap_store_overhead.sh [-n RUNS] [-C PCT] [-L] [-d]   (from anywhere; never in ctest)
#
#   -n RUNS  runs per configuration (default 5), alternating round by round, the order reversed
#            every other round
#   -C PCT   CPU budget of the sensor in the constrained live part, percent of one CPU (default
#            15, 5-100; 0 skips that part)
#   -L       skip the live parts (they need root, iproute2 `ip netns` and tcpreplay)
#   -d       dry: print the section but do not append it to bench/RESULTS.md
# Environment: ASHIATO_BUILD_DIR (default build; the sensor is $ASHIATO_BUILD_DIR/bin/
# ashiato-sensor), ASHIATO_SHARED_DIR (default ../shared, for campusgen.py), TMPDIR (the disk
# store goes under ${TMPDIR:-/var/tmp}; /dev/shm holds the tmpfs store).
#
# Capture: bench/.cache/campus2m/sensor-3.pcap (~2M packets, 1.2 GB), made once as
# sensor_offline.sh does; the page cache is warmed before the runs. Every run has --stats: at
# exit the sensor prints its totals and, with a store, the "pcap store: packets ..." line.
# Offline, configurations (ashiato-sensor --read FILE --name bench --stats [...]):
#   off    no store
#   disk   --pcap-dir ${TMPDIR:-/var/tmp}/... (the machine's disk; emptied and `sync` before a run)
#   tmpfs  --pcap-dir /dev/shm/...             (emptied before a run: the store without the disk)
# Wall time from date +%s%N around /usr/bin/time -f "%e %U %S" (%e has 10 ms steps; an offline
# run lasts well under a second without the store), user and sys from /usr/bin/time. Reported:
# medians of wall, user, sys and CPU (user+sys), Mpps (packets / median wall), throughput ratio
# off_wall / cfg_wall and CPU ratio cfg_cpu / off_cpu. Every store run must leave pcap files.
# Live: namespaces A and B joined by a veth pair (unique names, IPv6 off, no addresses, deleted
# by the EXIT trap). In A: /usr/bin/time ashiato-sensor --interface vethA --name bench --stats
# --buffer-size 256M [--pcap-dir DIR on the disk]; once it logs "capturing interface=", B runs
# tcpreplay -i vethB --topspeed -K FILE (-K: the file is preloaded into memory, so tcpreplay's
# rate is not its own file reading); then the sensor gets a settle of at least 1 s (until its
# CPU use is back to its idle rate, measured for 1 s before the replay: the 256 MiB ring is
# drained; max 30 s) and SIGTERM. Sensor CPU is its whole life (idle, replay, settle, final
# flush); its idle rate is reported beside it. From the sensor's
# --stats output: "packets: N" (captured and processed) and "capture: received R, dropped D,
# interface dropped I" (pcap_stats); from tcpreplay: packets sent, seconds, Mbps, pps.
# Configurations off and disk. The throughput ratio is captured packets per second of replay,
# median disk / median off.
# Live, CPU-bound (-C PCT): at tcpreplay's top rate the unconstrained sensor keeps up with or
# without the store, so that ratio shows no capacity. Here the sensor process (all its threads,
# the store's writer included) runs in a cgroup of its own with a CPU quota of PCT% of one CPU
# (cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us = PCT*200 / 20000, or v2 cpu.max; created
# per script run, removed by the EXIT trap; a `sh -c` wrapper joins it, then execs the sensor),
# with --buffer-size 32M (the 256 MiB ring would hold a large share of the replay). Same runs,
# off and disk: the sensor cannot keep up even without the store and the kernel drops what the
# ring cannot hold; captured packets per second of replay, disk / off, is the capture capacity
# left with the store when CPU is the limit. Also reported: the CFS periods (20 ms) in which the
# sensor used its quota up and was throttled (cgroup cpu.stat nr_throttled / nr_periods).
set -euo pipefail

RUNS=5
DRY=0
LIVE=1
PCT=15
CBUF=32M                                     # the constrained part's capture ring
CPERIOD=20000                                # its CFS period, microseconds (20 ms)
while getopts "n:C:dLh" o; do
    case $o in
        n) RUNS=$OPTARG ;;
        C) PCT=$OPTARG ;;
        d) DRY=1 ;;
        L) LIVE=0 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) exit 2 ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ASHIATO_BUILD_DIR:-$ROOT/build}
SENSOR=$BUILD/bin/ashiato-sensor
SHARED=${ASHIATO_SHARED_DIR:-$ROOT/../shared}
CACHE=$ROOT/bench/.cache/campus2m
PCAP=$CACHE/sensor-3.pcap
RESULTS=$ROOT/bench/RESULTS.md
die() { echo "pcap_store_overhead: $*" >&2; exit 1; }
say() { echo "pcap_store_overhead: $*" >&2; }

[[ $PCT =~ ^[0-9]+$ ]] && { [ "$PCT" -eq 0 ] || { [ "$PCT" -ge 5 ] && [ "$PCT" -le 100 ]; }; } ||
    die "-C PCT: 0 or 5-100 (percent of one CPU)"

[ -x "$SENSOR" ] || die "no sensor at $SENSOR (build first, or set ASHIATO_BUILD_DIR)"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
if [ $LIVE -eq 1 ]; then
    [ "$(id -u)" -eq 0 ] || die "the live part needs root (or -L to skip it)"
    command -v ip > /dev/null || die "iproute2 \`ip\` missing (or -L to skip the live part)"
    command -v tcpreplay > /dev/null || die "tcpreplay missing (or -L to skip the live part)"
fi
GEN_CMD=(python3 "$SHARED/tools/campusgen.py" --out "$CACHE" --sensors 3 --rate 1200
         --packets-target 2000000 --scan-at +60)
if [ ! -s "$PCAP" ]; then
    say "generating the capture once: ${GEN_CMD[*]}"
    mkdir -p "$CACHE"
    "${GEN_CMD[@]}" >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/ashiato-storebench.XXXXXX")
SHM=$(mktemp -d /dev/shm/ashiato-storebench.XXXXXX)
TAG=$(printf '%05d%s' $(($$ % 100000)) "$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')")
NS_A=ashiato-bench-$TAG-a NS_B=ashiato-bench-$TAG-b IF_A=bva$TAG IF_B=bvb$TAG
NETNS=() TPID="" SPID="" CG="" CGV="" PARTS=""
cleanup() {
    set +e
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
    [ -n "$TPID" ] && kill "$TPID" 2>/dev/null && wait "$TPID" 2>/dev/null
    for ((i = 0; i < 100; i++)); do    # the cgroup goes once its processes are gone (max 10 s)
        [ -z "$CG" ] || [ ! -d "$CG" ] || rmdir "$CG" 2>/dev/null && break
        sleep 0.1
    done
    [ -z "$CG" ] || [ ! -d "$CG" ] || echo "pcap_store_overhead: could not remove cgroup $CG" >&2
    for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$WORK" "$SHM"
}
trap cleanup EXIT
cd "$WORK"                                   # nothing of the sensor's lands in the caller's cwd
cat "$PCAP" > /dev/null                      # warm the page cache
say "$PCAP, $RUNS runs per configuration"

# offline NAME [ARGS...]: one run; appends "NAME wall user sys files" to $WORK/offline.runs
offline() {
    local name=$1 dir="" t0 t1 files=0; shift
    case $name in disk) dir=$WORK/store ;; tmpfs) dir=$SHM/store ;; esac
    rm -rf "$WORK/store" "$SHM/store"
    sync
    t0=$(date +%s%N)
    /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$SENSOR" --read "$PCAP" --name bench --stats \
        ${dir:+--pcap-dir "$dir"} > /dev/null 2> "$WORK/err.$name" || die "$name: $(tail -c 600 "$WORK/err.$name")"
    t1=$(date +%s%N)
    if [ -n "$dir" ]; then
        files=$(find "$dir" -name '*.pcap' | wc -l)
        [ "$files" -gt 0 ] || die "$name: no pcap file in $dir: $(tail -c 600 "$WORK/err.$name")"
        grep 'pcap store: packets' "$WORK/err.$name" | tail -1 > "$WORK/line.$name" || true
        [ -s "$WORK/line.$name" ] || die "$name: no 'pcap store:' line: $(tail -c 600 "$WORK/err.$name")"
    fi
    echo "$name $(( (t1 - t0) / 1000000 )) $(tail -1 "$WORK/time" | cut -d' ' -f2-3) $files" >> "$WORK/offline.runs"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= RUNS; r++)); do
    if ((r % 2)); then order="off disk tmpfs"; else order="tmpfs disk off"; fi
    for c in $order; do
        offline "$c"
        say "offline round $r $c: $(tail -1 "$WORK/offline.runs")"
    done
done
PKTS=$(sed -n 's/^packets: \([0-9]*\) .*/\1/p' "$WORK/err.off" | tail -1)
[ -n "$PKTS" ] || die "no 'packets:' total in the off run's output"

# ---- live: two namespaces joined by a veth pair ------------------------------------------
sensor_cpu_ticks() { awk '{print $14 + $15}' "/proc/$SPID/stat" 2>/dev/null || echo -1; }
# throttle_stat PART: "PERIODS THROTTLED", the CFS periods of cgroup $CG so far and those it was
# throttled in (0 0 unless PART is cpu)
throttle_stat() {
    [ "$1" = cpu ] || { echo "0 0"; return; }
    awk '$1 == "nr_periods" {p = $2} $1 == "nr_throttled" {t = $2} END {print p + 0, t + 0}' "$CG/cpu.stat"
}
# cgroup_setup: a cpu cgroup of this run's own, quota PCT% of one CPU; sets CG and CGV
cgroup_setup() {
    local quota=$((PCT * CPERIOD / 100))
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control ||
            die "cgroup v2 without the cpu controller in /sys/fs/cgroup/cgroup.subtree_control (or -C 0)"
        mkdir "/sys/fs/cgroup/ashiato-bench-$TAG" || die "cannot create a cgroup (or -C 0)"
        CG=/sys/fs/cgroup/ashiato-bench-$TAG CGV="v2 cpu.max \"$quota $CPERIOD\""
        echo "$quota $CPERIOD" > "$CG/cpu.max"
    elif [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
        mkdir "/sys/fs/cgroup/cpu/ashiato-bench-$TAG" || die "cannot create a cgroup (or -C 0)"
        CG=/sys/fs/cgroup/cpu/ashiato-bench-$TAG CGV="v1 cpu.cfs_quota_us $quota / cpu.cfs_period_us $CPERIOD"
        echo "$CPERIOD" > "$CG/cpu.cfs_period_us"
        echo "$quota" > "$CG/cpu.cfs_quota_us"
    else
        die "no cgroup cpu controller (v1 /sys/fs/cgroup/cpu or v2 cpu.max); -C 0 skips the constrained part"
    fi
}
# live PART NAME [ARGS...]: one run, PART free (256M ring) or cpu (in cgroup $CG, ring $CBUF);
# appends a JSON line to $WORK/live.runs
live() {
    local part=$1 name=$2 i prev cur idle thr0 wrap=(); shift 2
    local tag=$part.$name buf=256M
    if [ "$part" = cpu ]; then buf=$CBUF wrap=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG"); fi
    rm -rf "$WORK/store"
    sync
    thr0=$(throttle_stat "$part")
    "${wrap[@]}" ip netns exec "$NS_A" /usr/bin/time -f '%e %U %S' -o "$WORK/ltime" "$SENSOR" \
        --interface "$IF_A" --name bench --stats --buffer-size "$buf" "$@" > /dev/null 2> "$WORK/lerr.$tag" &
    TPID=$!
    for ((i = 0; i < 200; i++)); do
        grep -q "capturing interface=$IF_A" "$WORK/lerr.$tag" && break
        kill -0 "$TPID" 2>/dev/null || die "live $tag: the sensor exited: $(tail -c 600 "$WORK/lerr.$tag")"
        sleep 0.05
    done
    ((i < 200)) || die "live $tag: the sensor did not start capturing: $(tail -c 600 "$WORK/lerr.$tag")"
    SPID=$(pgrep -P "$TPID") || die "live $tag: no sensor process under /usr/bin/time ($TPID)"
    prev=$(sensor_cpu_ticks); sleep 1; cur=$(sensor_cpu_ticks)
    idle=$((cur - prev))                     # the sensor's CPU ticks in one idle second
    ip netns exec "$NS_B" tcpreplay -i "$IF_B" --topspeed -K "$PCAP" > "$WORK/replay.$tag" 2>&1 ||
        die "live $tag: tcpreplay failed: $(tail -c 600 "$WORK/replay.$tag")"
    sleep 1
    prev=$(sensor_cpu_ticks)
    for ((i = 0; i < 58; i++)); do           # settle: until the sensor idles (max 30 s)
        sleep 0.5
        cur=$(sensor_cpu_ticks)
        (( (cur - prev) * 4 <= idle * 3 + 8 )) && break    # back to idle (+50%, +2 ticks)
        prev=$cur
    done
    kill -TERM "$SPID"
    wait "$TPID" || die "live $tag: the sensor exited $?: $(tail -c 600 "$WORK/lerr.$tag")"
    TPID="" SPID=""
    if [ "$name" = disk ]; then
        [ "$(find "$WORK/store" -name '*.pcap' | wc -l)" -gt 0 ] || die "live $tag: no pcap file in $WORK/store"
        grep 'pcap store: packets' "$WORK/lerr.$tag" | tail -1 > "$WORK/lline.$part" || true
        [ -s "$WORK/lline.$part" ] || die "live $tag: no 'pcap store:' line"
    fi
    python3 - "$name" "$WORK/replay.$tag" "$WORK/lerr.$tag" "$WORK/ltime" "$idle" "$part" \
        "$thr0" "$(throttle_stat "$part")" >> "$WORK/live.runs" <<'EOF'
import json, os, re, sys
TCK = os.sysconf("SC_CLK_TCK")
name, replay, err, tm = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read(), open(sys.argv[4]).read()
def grab(pat, text, what):
    m = re.search(pat, text, re.M)
    if not m:
        sys.exit(f"pcap_store_overhead: live {sys.argv[6]}.{name}: no {what} in:\n{text[-1500:]}")
    return m.groups()
sent, secs = grab(r"Actual: (\d+) packets \(\d+ bytes\) sent in ([\d.]+) seconds", replay, "tcpreplay 'Actual:'")
mbps, pps = grab(r"Rated: [\d.]+ Bps, ([\d.]+) Mbps, ([\d.]+) pps", replay, "tcpreplay 'Rated:'")
failed, = grab(r"Failed packets:\s+(\d+)", replay, "tcpreplay 'Failed packets:'")
cap, = grab(r"^packets: (\d+) ", err, "'packets:' total")
recv, drop, ifdrop = grab(r"capture: received (\d+), dropped (\d+), interface dropped (\d+)", err, "pcap_stats line")
user, sys_ = tm.split()[-2:]
print(json.dumps({"name": name, "sent": int(sent), "secs": float(secs), "mbps": float(mbps), "pps": float(pps),
                  "failed": int(failed), "captured": int(cap), "received": int(recv), "drops": int(drop) + int(ifdrop),
                  "cpu": float(user) + float(sys_), "idle": int(sys.argv[5]) * 100 / TCK, "cap_pps": int(cap) / float(secs),
                  "part": sys.argv[6], "periods": int(sys.argv[8].split()[0]) - int(sys.argv[7].split()[0]),
                  "throttled": int(sys.argv[8].split()[1]) - int(sys.argv[7].split()[1])}))
EOF
}

if [ $LIVE -eq 1 ]; then
    for ns in "$NS_A" "$NS_B"; do
        ip netns add "$ns" || die "cannot create network namespace $ns"
        NETNS+=("$ns")
        for key in all default; do ip netns exec "$ns" sysctl -q -w "net.ipv6.conf.$key.disable_ipv6=1"; done
        ip -n "$ns" link set lo up
    done
    ip link add "$IF_A" netns "$NS_A" type veth peer name "$IF_B" netns "$NS_B"
    for pair in "$NS_A $IF_A" "$NS_B $IF_B"; do
        set -- $pair
        ip netns exec "$1" sysctl -q -w "net.ipv6.conf.$2.disable_ipv6=1"
        ip -n "$1" link set "$2" up
    done
    PARTS=free
    if [ "$PCT" -gt 0 ]; then cgroup_setup; PARTS="free cpu"; fi
    for part in $PARTS; do
        for ((r = 1; r <= RUNS; r++)); do
            if ((r % 2)); then order="off disk"; else order="disk off"; fi
            for c in $order; do
                if [ "$c" = disk ]; then live "$part" disk --pcap-dir "$WORK/store"; else live "$part" off; fi
                say "live $part round $r $c: $(tail -1 "$WORK/live.runs")"
            done
        done
    done
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ] && COMMIT="$COMMIT (with uncommitted changes)"
export PKTS RUNS LIVE COMMIT LOAD0 LOAD1 WORK PARTS PCT CBUF CGV
export MACHINE="$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
fstype() { findmnt -n -o FSTYPE,SOURCE --target "$1" | head -1 | awk '{print $1 " (" $2 ")"}'; }
export DISKFS="${TMPDIR:-/var/tmp} on $(fstype "$WORK"), /dev/shm on $(fstype "$SHM")"
export CAPTURE="\`${GEN_CMD[*]/#$ROOT\//}\` -> ${PCAP/#$ROOT\//}, $PKTS packets, $(du -h "$PCAP" | cut -f1)"
SECTION=$(python3 - <<'EOF'
import datetime, json, os, statistics as st
E, W = os.environ, os.environ["WORK"]
med = lambda xs: st.median(xs)
line = lambda f: open(f).read().strip() if os.path.exists(f) else "(missing)"
off_runs = [l.split() for l in open(f"{W}/offline.runs")]
pk = int(E["PKTS"])
o = [f"## pcap_store_overhead {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%MZ}", "",
     f"- commit: {E['COMMIT']}",
     f"- machine: {E['MACHINE']}; load average {E['LOAD0']} before, {E['LOAD1']} after",
     f"- store directories: {E['DISKFS']}",
     f"- capture: {E['CAPTURE']}, page cache warm",
     f"- commands, {E['RUNS']} runs per configuration, alternating round by round (order reversed every other round):",
     "  - offline: `/usr/bin/time -f '%e %U %S' build/bin/ashiato-sensor --read FILE --name bench --stats "
     "[--pcap-dir $TMPDIR/.../store | --pcap-dir /dev/shm/.../store]` (store emptied and `sync` before each run; "
     "wall from date +%s%N around it)"]
if E["LIVE"] == "1":
    o += ["  - live: `ip netns exec A /usr/bin/time -f '%e %U %S' build/bin/ashiato-sensor --interface vethA "
          "--name bench --stats --buffer-size 256M [--pcap-dir $TMPDIR/.../store]`; after \"capturing interface=\": "
          "`ip netns exec B tcpreplay -i vethB --topspeed -K FILE` (-K: preloaded); settle >= 1 s until the sensor's "
          "CPU use is back to its idle rate (measured for 1 s before the replay); SIGTERM"]
    if "cpu" in E["PARTS"].split():
        o += [f"  - live, CPU-bound: the same with `--buffer-size {E['CBUF']}`, the sensor started in a cgroup of its own "
              f"(cgroup {E['CGV']}, i.e. {E['PCT']}% of one CPU) by `sh -c 'echo $$ > CGROUP/cgroup.procs && exec \"$@\"' "
              "CGROUP ip netns exec A /usr/bin/time ...`; throttled periods from the cgroup's cpu.stat (nr_throttled / nr_periods)"]
o += ["", "Offline (--read):", "",
      "| store | median wall s | median user s | median sys s | median CPU s | Mpps | throughput vs off (off_wall/wall) | CPU vs off (cpu/off_cpu) | pcap files | wall times s |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
res = {}
for name in ("off", "disk", "tmpfs"):
    rs = [r for r in off_runs if r[0] == name]
    wall, user, sys_ = (med(float(r[i]) for r in rs) for i in (1, 2, 3))
    wall /= 1000
    cpu = med(float(r[2]) + float(r[3]) for r in rs)
    res[name] = (wall, cpu)
    walls = " ".join(f"{int(r[1]) / 1000:.3f}" for r in rs)
    o.append(f"| {name} | {wall:.3f} | {user:.2f} | {sys_:.2f} | {cpu:.2f} | {pk / wall / 1e6:.2f} | "
             f"{res['off'][0] / wall:.3f} | {cpu / res['off'][1]:.2f} | {rs[-1][4] if name != 'off' else '-'} | {walls} |")
o += ["", f"- disk, last run: `{line(W + '/line.disk')}`", f"- tmpfs, last run: `{line(W + '/line.tmpfs')}`"]
ratio_off_disk = res["off"][0] / res["disk"][0]
ratio_off_tmpfs = res["off"][0] / res["tmpfs"][0]
lres = {}
if E["LIVE"] == "1":
    lr = [json.loads(l) for l in open(f"{W}/live.runs")]
    for part in E["PARTS"].split():
        cpu = part == "cpu"
        if cpu:
            o += ["", f"Live, CPU-bound (the sensor given {E['PCT']}% of one CPU, all its threads, the store's writer "
                  f"included; --buffer-size {E['CBUF']}; tcpreplay --topspeed as above). This part measures the store's "
                  "cost in capture capacity when CPU is the limit: even without the store the sensor cannot keep up with "
                  "the replay and the kernel drops what the ring cannot hold, so captured packets per second of replay "
                  "(the ring drained after the replay counts too) is what the sensor captures with that CPU, off and disk:", ""]
        else:
            o += ["", "Live (veth between two namespaces, tcpreplay --topspeed):", ""]
        o += ["| store | replay pps (median) | replay Mbps (median) | sent | captured (median) | pcap received | drops kernel+if (median) | captured fraction | captured pps | sensor CPU s (median) | sensor idle CPU % | tcpreplay failed |"
              + (" periods throttled (median) |" if cpu else ""),
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if cpu else "")]
        lres[part] = {}
        for name in ("off", "disk"):
            rs = [r for r in lr if r["name"] == name and r["part"] == part]
            m = {k: med(r[k] for r in rs) for k in ("pps", "mbps", "sent", "captured", "received", "drops", "cpu", "idle", "cap_pps", "failed", "throttled", "periods")}
            lres[part][name] = m
            o.append(f"| {name} | {m['pps']:.0f} | {m['mbps']:.0f} | {m['sent']:.0f} | {m['captured']:.0f} | {m['received']:.0f} | "
                     f"{m['drops']:.0f} | {m['captured'] / m['sent']:.4f} | {m['cap_pps']:.0f} | {m['cpu']:.2f} | {m['idle']:.0f} | {m['failed']:.0f} |"
                     + (f" {m['throttled']:.0f} of {m['periods']:.0f} |" if cpu else ""))
        o += ["", f"- live{' CPU-bound' if cpu else ''} disk, last run: `{line(f'{W}/lline.{part}')}`",
              f"- live{' CPU-bound' if cpu else ''} captured pps per run: " + "; ".join(
                  f"{n}: " + " ".join(f"{r['cap_pps']:.0f}" for r in lr if r["name"] == n and r["part"] == part) for n in ("off", "disk"))]
o += ["",
      "Figure compared with the issue's target (benchmark b: \"capture throughput with the store on versus off in "
      "the same run; the store costs at most 15%\", i.e. a ratio of at least 0.85): the throughput ratio store/off"
      + (", live first (captured packets per second of replay, median disk / median off), then offline (off_wall / store_wall)." if lres else
         ", offline (off_wall / store_wall); the live part was skipped (-L)."), ""]
for part, m in lres.items():
    frac = lambda n: m[n]["captured"] / m[n]["sent"]
    o.append(f"- live{' with ' + E['PCT'] + '% of one CPU' if part == 'cpu' else ''} disk / off = "
             f"**{m['disk']['cap_pps'] / m['off']['cap_pps']:.3f}** (sensor CPU disk / off = {m['disk']['cpu'] / m['off']['cpu']:.2f}; "
             f"captured fraction off {frac('off'):.4f}, disk {frac('disk'):.4f}"
             + (": at 1.0 both kept up and the replay rate set the pace)" if part == "free" else
                f"; kernel drops off {m['off']['drops']:.0f}, disk {m['disk']['drops']:.0f})"))
o += [f"- offline disk / off = **{ratio_off_disk:.3f}** (CPU disk / off = {res['disk'][1] / res['off'][1]:.2f})",
      f"- offline tmpfs / off = **{ratio_off_tmpfs:.3f}** (CPU tmpfs / off = {res['tmpfs'][1] / res['off'][1]:.2f})", ""]
print("\n".join(o))
EOF
)
echo "$SECTION"
if [ $DRY -eq 0 ]; then
    [ -f "$RESULTS" ] || printf '# Benchmark results\n\nAppended by bench/*.sh, newest last. Never part of the test run.\n\n' > "$RESULTS"
    printf '%s\n\n' "$SECTION" >> "$RESULTS"
    say "appended to $RESULTS"
fi
