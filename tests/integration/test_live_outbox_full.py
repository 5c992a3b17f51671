"""A full outbox disk during a LIVE capture (issue 14, H3's closing-note probe).

ashiato-sensor captures on one end of a veth pair in a namespace of its own, ships to an
aggregator address where nobody listens (so every batch stays journalled), and keeps its journal
(`outbox_dir`) on a 2 MiB tmpfs. tcpreplay sends 60,000 one-packet UDP flows from the other
end; with udp_timeout = 1 the sessions expire while the capture runs, and the journal fills.
Before the fix the sensor then spun at 100% CPU re-writing one ever-growing batch, silent, and
did not stop in time. Now: the capture goes on, the failure is logged with its errno
(ENOSPC) at most every 10 s, every record is journalled or counted lost, and after SIGTERM
the sensor ends within seconds, stating the loss in records (non-zero exit).

Needs root (namespaces, a tmpfs mount), iproute2 and tcpreplay; skips otherwise. Run under the
integration lock (flock /tmp/ashiato-itest.lock). Namespaces and interfaces carry a pid/random
tag and are deleted, and the tmpfs unmounted, by finalizers.
"""
import os
import re
import secrets
import shutil
import struct
import subprocess
import time

import pytest

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces and a tmpfs mount"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 `ip` not installed"),
    pytest.mark.skipif(shutil.which("tcpreplay") is None, reason="tcpreplay not installed"),
]

FLOWS = 60000
T0 = 1632833400


def sh(*argv, timeout=60, check=True):
    r = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}: {r.stderr.strip()}")
    return r


@pytest.fixture
def veth_pair():
    tag = f"{os.getpid() % 100000:05d}{secrets.token_hex(2)}"
    ns_a, ns_b = f"ashiato-obf-{tag}-a", f"ashiato-obf-{tag}-b"
    if_a, if_b = f"oba{tag}"[:15], f"obb{tag}"[:15]
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


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = sh("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    yield mnt
    sh("umount", "-l", mnt, check=False)


def flows_pcap(path, n):
    dst = bytes([10, 200, 0, 1])
    out = [struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)]
    for i in range(n):
        src = bytes([10, 1 + (i >> 16), (i >> 8) & 255, i & 255])
        udp = struct.pack(">HHHH", 1024 + i % 60000, 9999, 12, 0) + b"\0\1\2\3"
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst)
        frame = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + udp + b"\0" * 14
        us = i * 10
        out.append(struct.pack("<IIII", T0 + us // 1000000, us % 1000000, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def test_h3_live_capture_full_outbox_disk(veth_pair, tiny_tmpfs, start_sensor, tmp_path):
    ns_a, if_a, ns_b, if_b = veth_pair
    pcap = flows_pcap(tmp_path / "flows.pcap", FLOWS)
    ini = tmp_path / "sensor.ini"
    ini.write_text("[sensor]\nmax_sessions = 200000\napp_fields_max = 256\nudp_timeout = 1\n"
                   "batch_ms = 100\n")
    rs = start_sensor(["-c", ini, "--interface", if_a, "--name", "live-full", "--stats",
                       "--aggregator", "tcp://127.0.0.1:9", "--insecure",
                       "--outbox-dir", tiny_tmpfs / "outbox"], prefix=["ip", "netns", "exec", ns_a])
    rs.wait_for_stderr(r"capturing interface=" + re.escape(if_a))
    r = sh("ip", "netns", "exec", ns_b, "tcpreplay", "-i", if_b, "--pps=20000", pcap,
           timeout=300, check=False)
    assert r.returncode == 0, f"tcpreplay failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    rs.wait_for_stderr(r"could not be journalled", timeout=20)
    time.sleep(3)                    # sessions idle past udp_timeout are written (and fail)
    t = time.monotonic()
    run = rs.stop(timeout=30)
    took = time.monotonic() - t
    lines = run.stderr_lines
    print(f"live full outbox: stopped {took:.1f} s after SIGTERM, rc {run.rc}; stderr:")
    for ln in lines:
        print("  " + ln[:400])
    assert took < 10, f"{took:.1f} s from SIGTERM to exit"
    assert run.rc != 0
    assert "No space left on device" in run.stderr
    errors = [ln for ln in lines if "could not be journalled" in ln]
    assert 1 <= len(errors) <= 4, errors
    m = re.search(r"^outbox: records (\d+), journalled \d+ batches \((\d+) records\), dropped at "
                  r"outbox_max_bytes \d+ batches \((\d+) records\), not journalled \d+ batches \((\d+) "
                  r"records\)", run.stderr, re.M)
    assert m, run.stderr[-3000:]
    records, journalled, dropped, failed = map(int, m.groups())
    assert records >= FLOWS * 0.99, f"{records} records of {FLOWS} flows replayed"
    assert journalled + failed == records and failed > 0
    assert lines[-1].startswith(f"ashiato-sensor: lost {dropped + failed} of {records} records"), lines[-1]
