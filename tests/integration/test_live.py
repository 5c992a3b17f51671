"""Live equals offline: ashiato-sensor capturing on an interface makes the same sessions as
reading the same packets from a file.

Acceptance (issue 2, "Live equals offline"): two network namespaces joined by a veth pair; the
sensor runs live on one end (`ip netns exec A ashiato-sensor --interface vethA`), tcpreplay sends
a capture from the other end, the sensor is stopped with SIGTERM (it flushes every session),
and its sessions equal those of `ashiato-sensor --read` on the same capture: endpoints, ports,
transport and application protocol, Community ID, packets and bytes each way, data bytes and
TCP flag counts. Times differ (live stamps are replay time), so no time is compared. The
sensor also reports pcap drops (pcap_stats) when it stops, and they must be 0.

Captures: two of Arkime's corpus (../shared/corpus/arkime-tests) and the first 4.5 s of a
small campusgen capture with its vuln-scan (a few hundred sessions). Each lasts less than the
shortest session timeout (5 s after a TCP close), so replaying faster or slower than recorded
cannot split or merge a session differently from the offline run.

Live packets are kept too (issue 3): with --pcap-dir, the reader thread puts each captured packet
into the pcap store's ring and the packet path reads it there (prefetch.h, lending); the store
then holds exactly the replayed packets, and every session's positions point at its packets.

Needs root, iproute2 (`ip netns`) and tcpreplay; skips with the reason otherwise. The
namespaces get unique names per run and are deleted by a finalizer, also when a test fails.
"""
import base64
import os
import re
import secrets
import shutil
import struct
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pcap_positions import decode_positions  # noqa: E402

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces and captures live"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 `ip` not installed"),
    pytest.mark.skipif(shutil.which("tcpreplay") is None, reason="tcpreplay not installed"),
]

CAMPUS_WINDOW_US = 4500000


def sh(*argv, timeout=60, check=True):
    r = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}: {r.stderr.strip()}")
    return r


@pytest.fixture(scope="module")
def veth_pair():
    """(ns_a, if_a, ns_b, if_b): two namespaces joined by a veth pair, both ends up, IPv6 off
    and no addresses, so the kernels send nothing of their own onto the link."""
    tag = f"{os.getpid() % 100000:05d}{secrets.token_hex(2)}"
    ns_a, ns_b = f"ashiato-itest-{tag}-a", f"ashiato-itest-{tag}-b"
    if_a, if_b = f"ava{tag}"[:15], f"avb{tag}"[:15]
    made = []
    try:
        for ns in (ns_a, ns_b):
            r = sh("ip", "netns", "add", ns, check=False)
            if r.returncode != 0:
                pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
            made.append(ns)
            for key in ("all", "default"):
                sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
        for ns, ifn in ((ns_a, if_a), (ns_b, if_b)):
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"net.ipv6.conf.{ifn}.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", ifn, "up")
        yield ns_a, if_a, ns_b, if_b
    finally:
        for ns in made:
            sh("ip", "netns", "del", ns, check=False)


def read_pcap(path):
    """-> (file header, [(ts_us, record bytes)]) of a little-endian microsecond pcap."""
    data = path.read_bytes()
    assert struct.unpack("<I", data[:4])[0] == 0xa1b2c3d4, f"{path}: not a little-endian microsecond pcap"
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, usec, cl, _ = struct.unpack_from("<IIII", data, off)
        recs.append((sec * 1000000 + usec, data[off:off + 16 + cl]))
        off += 16 + cl
    return data[:24], recs


@pytest.fixture(scope="module")
def campus_subset(shared_dir, tmp_path_factory):
    """The first 4.5 s of a campusgen sensor-3 capture whose vuln-scan starts at +0.5 s."""
    tool = shared_dir / "tools" / "campusgen.py"
    if not tool.is_file():
        pytest.skip(f"{tool} missing")
    out = tmp_path_factory.mktemp("campus-live")
    subprocess.run([sys.executable, str(tool), "--out", str(out), "--sensors", "3", "--duration", "5",
                    "--events", "scan", "--scan-at", "+0.5", "--scan-ports", "300", "--quiet"],
                   check=True, timeout=300)
    hdr, recs = read_pcap(out / "sensor-3.pcap")
    t0 = recs[0][0]
    path = out / "sensor-3-first.pcap"
    path.write_bytes(hdr + b"".join(r for t, r in recs if t - t0 < CAMPUS_WINDOW_US))
    return path


def corpus(shared_dir, name):
    p = shared_dir / "corpus" / "arkime-tests" / name
    if not p.is_file():
        pytest.skip(f"{p} missing")
    return p


def comparable(sessions):
    """{(transport, source ip:port, destination ip:port): sorted [facts]} without times."""
    out = defaultdict(list)
    for d in sessions:
        net, a = d.get("network", {}), d.get("ashiato", {})
        key = (net.get("transport"), net.get("iana_number"), d["source"]["ip"], d["source"].get("port"),
               d["destination"]["ip"], d["destination"].get("port"))
        out[key].append((
            ("packets", d["source"].get("packets"), d["destination"].get("packets")),
            ("bytes", d["source"].get("bytes"), d["destination"].get("bytes")),
            ("data_bytes", tuple(sorted(a.get("data_bytes", {}).items()))),
            ("tcp_flags", tuple(sorted(a.get("tcp_flags", {}).items()))),
            ("protocol", net.get("protocol")),
            ("community_id", net.get("community_id")),
            ("vlan", tuple(net.get("vlan", {}).get("id", []))),
            ("segment", a.get("segment")),
        ))
    return {k: sorted(v, key=repr) for k, v in out.items()}


def count_records(path):
    return len(read_pcap(path)[1])


@pytest.fixture
def capture_file(request, shared_dir):
    if request.param == "campus":
        return request.getfixturevalue("campus_subset")
    return corpus(shared_dir, request.param)


@pytest.mark.parametrize("capture_file,pps", [("http-simple-get.pcap", 100), ("dns-udp.pcap", 100),
                                              ("campus", 1000)],
                         indirect=["capture_file"], ids=["http-simple-get", "dns-udp", "campus"])
def test_live_equals_offline(veth_pair, capture_file, pps, run_sensor, start_sensor, tmp_path):
    ns_a, if_a, ns_b, if_b = veth_pair
    npackets = count_records(capture_file)

    offline = run_sensor(["--read", capture_file, "--emit-json", "-", "--name", "live", "--stats"])
    assert offline.rc == 0, offline.stderr
    assert offline.sessions, f"{capture_file}: no sessions offline"

    emit = tmp_path / "live.json"
    live = start_sensor(["--interface", if_a, "--emit-json", emit, "--name", "live", "--stats"],
                        prefix=["ip", "netns", "exec", ns_a], emit=emit)
    live.wait_for_stderr(r"capturing interface=" + re.escape(if_a))

    r = sh("ip", "netns", "exec", ns_b, "tcpreplay", "-i", if_b, f"--pps={pps}", capture_file,
           timeout=300, check=False)
    assert r.returncode == 0, f"tcpreplay failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    m = re.search(r"Successful packets:\s+(\d+)", r.stdout)
    assert m and int(m.group(1)) == npackets, f"tcpreplay did not send all {npackets} packets:\n{r.stdout}"
    m = re.search(r"Failed packets:\s+(\d+)", r.stdout)
    assert m and int(m.group(1)) == 0, f"tcpreplay failed to send some packets:\n{r.stdout}"
    time.sleep(1.0)         # the sensor's capture timeout is 100 ms: let it drain the ring

    res = live.stop()       # SIGTERM: the sensor flushes every session and exits
    assert res.rc == 0, f"live sensor exit {res.rc}:\n{res.stderr[-3000:]}"

    drops = re.findall(r"\b(?:if_)?dropped[=:] ?(\d+)", res.stderr)
    assert drops, f"the live sensor reported no pcap drop count on stop:\n{res.stderr[-3000:]}"
    assert all(int(x) == 0 for x in drops), f"pcap drops reported:\n{res.stderr[-3000:]}"
    st = res.require_stats("live")
    assert st["packets"] == npackets, (
        f"live capture saw {st['packets']} packets, {npackets} were replayed (noise on the link, or loss)")

    want, got = comparable(offline.sessions), comparable(res.sessions)
    problems = []
    for k in sorted(set(want) | set(got), key=repr):
        if want.get(k) != got.get(k):
            problems.append(f"  {k}:\n    offline {want.get(k)}\n    live    {got.get(k)}")
    assert not problems, (f"{capture_file.name}: {len(problems)} of {len(want)} session keys differ "
                          f"(live vs offline):\n" + "\n".join(problems[:20]))
    assert len(res.sessions) == len(offline.sessions)
    print(f"{capture_file.name}: {npackets} packets replayed at {pps}/s, {len(res.sessions)} sessions "
          f"live = offline; drops {drops}")


def store_records(store):
    """[(file id, offset, caplen, wirelen, data)] of every record of the store's pcap files, in
    file id order (the catalogue names the files)."""
    files = {}
    for line in (store / "catalogue").read_text().splitlines():
        if line.startswith("file "):
            kv = dict(t.split("=", 1) for t in line.split()[1:])
            files[int(kv["id"])] = kv
    out = []
    for fid in sorted(files):
        data = (store / files[fid]["name"]).read_bytes()
        assert len(data) == int(files[fid]["size"]), f"{files[fid]['name']}: size differs from the catalogue"
        off = 24
        while off + 16 <= len(data):
            _, _, cl, wl = struct.unpack_from("<IIII", data, off)
            out.append((fid, off, cl, wl, data[off + 16:off + 16 + cl]))
            off += 16 + cl
        assert off == len(data), f"{files[fid]['name']}: ends inside a record"
    return out


def test_live_capture_keeps_every_packet(veth_pair, campus_subset, start_sensor, tmp_path):
    """Replayed as fast as tcpreplay can (so the reader, the packet thread and the store's writer
    all run behind one another), into a store of small files: the store's records are the
    capture's packets, in order, byte for byte (times are replay times), and each session's
    packet_pos lists as many positions as it has packets, each the start of a record."""
    ns_a, if_a, ns_b, if_b = veth_pair
    _, want = read_pcap(campus_subset)
    store, emit = tmp_path / "store", tmp_path / "live.json"
    ini = tmp_path / "sensor.ini"
    ini.write_text("[sensor]\npcap_max_file_size = 64K\n")
    live = start_sensor(["-c", ini, "--interface", if_a, "--emit-json", emit, "--name", "keep", "--stats",
                         "--pcap-dir", store], prefix=["ip", "netns", "exec", ns_a], emit=emit)
    live.wait_for_stderr(r"capturing interface=" + re.escape(if_a))
    r = sh("ip", "netns", "exec", ns_b, "tcpreplay", "-i", if_b, "--topspeed", "-K", campus_subset,
           timeout=300, check=False)
    assert r.returncode == 0, f"tcpreplay failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    time.sleep(1.0)
    res = live.stop()
    assert res.rc == 0, f"live sensor exit {res.rc}:\n{res.stderr[-3000:]}"
    drops = re.findall(r"\b(?:if_)?dropped[=:] ?(\d+)", res.stderr)
    assert drops and all(int(x) == 0 for x in drops), f"drops reported:\n{res.stderr[-3000:]}"
    assert res.require_stats("keep")["packets"] == len(want)

    got = store_records(store)
    assert len({g[0] for g in got}) >= 3, "expected a multi-file store"
    assert len(got) == len(want), f"the store holds {len(got)} packets, {len(want)} were replayed"
    for i, ((_, rec), g) in enumerate(zip(want, got)):
        _, _, cl, wl = struct.unpack_from("<IIII", rec, 0)
        assert (cl, wl, rec[16:]) == (g[2], g[3], g[4]), f"packet {i} differs in the store"

    starts = {(g[0], g[1]) for g in got}
    positions = 0
    for d in res.sessions:
        pos = decode_positions(base64.b64decode(d["ashiato"]["packet_pos"]))
        assert len(pos) == d["network"]["packets"], d["ashiato"]["session_id"]
        assert all(p in starts for p in pos), f"{d['ashiato']['session_id']}: a position is not a record"
        positions += len(pos)
    assert positions == len(want)          # every packet belongs to exactly one session here
    assert "pcap store: packets" in res.stderr and ", dropped 0," in res.stderr
    print(f"live store: {len(want)} packets in {len({g[0] for g in got})} files byte-identical, "
          f"{len(res.sessions)} sessions' positions checked")
