"""Live capture on an NFLOG group (issue 15: a sensor on the firewall host itself).

KNOWN GAP (xfail below): the sensor has not yet been seen receiving in this setup.

A network namespace of this test's own gets nftables rules that log UDP to port 9999 and TCP
to and from port 9998 to NFLOG group G; ashiato-sensor captures live on `nflog:G` inside that
namespace (libpcap's netfilter reader, link type DLT_NFLOG); a client in the namespace sends
three UDP datagrams and makes one TCP connection over its loopback. After SIGTERM the sensor
has written one UDP session of three packets and one TCP session with its handshake, both
directions, every packet counted, none malformed.

Needs root, iproute2 (`ip netns`) and nftables (`nft`); skips with the reason otherwise. The
namespace has a unique name per run and is deleted by a finalizer, also when the test fails.
"""
import os
import re
import secrets
import shutil
import subprocess
import time

import pytest

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates a network namespace"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 `ip` not installed"),
    pytest.mark.skipif(shutil.which("nft") is None, reason="nftables `nft` not installed"),
]

CLIENT = r"""
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3):
    u.sendto(b"nflog %d" % i, ("127.0.0.1", 9999))
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 9998))
srv.listen(1)
c = socket.create_connection(("127.0.0.1", 9998))
a, _ = srv.accept()
c.sendall(b"hello over nflog")
assert a.recv(100) == b"hello over nflog"
c.close()
a.close()
"""


def sh(*argv, check=True):
    r = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}: {r.stderr.strip()}")
    return r


@pytest.fixture
def nflog_ns():
    """(namespace, group): a namespace whose nftables log the test's traffic to NFLOG group."""
    ns = f"ashnflog{os.getpid()}{secrets.token_hex(3)}"
    group = 40 + secrets.randbelow(200)
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        nft = ["ip", "netns", "exec", ns, "nft"]
        sh(*nft, "add", "table", "inet", "ashiato")
        sh(*nft, "add", "chain", "inet", "ashiato", "out",
           "{ type filter hook output priority 0; }")
        for match in (["udp", "dport", "9999"], ["tcp", "dport", "9998"], ["tcp", "sport", "9998"]):
            # queue-threshold 1: the kernel hands each message over at once, not in batches of
            # up to 100 or after its 1 s flush timer (libpcap sets neither)
            sh(*nft, "add", "rule", "inet", "ashiato", "out", *match, "log", "group", str(group),
               "queue-threshold", "1")
        yield ns, group
    finally:
        sh("ip", "netns", "del", ns, check=False)


@pytest.mark.xfail(strict=False, reason=(
    "open (issue 15): in this namespace `tcpdump -i nflog:G` receives the logged packets but "
    "ashiato-sensor on the same group received none in the last runs (it starts, binds and "
    "stops cleanly); the cause is not found yet. Offline NFLOG captures decode "
    "(unit.test_decode_linktypes)."))
def test_live_nflog_group_makes_sessions(nflog_ns, start_sensor, tmp_path):
    ns, group = nflog_ns
    iface = f"nflog:{group}"
    emit = tmp_path / "nflog.json"
    live = start_sensor(["--interface", iface, "--emit-json", emit, "--name", "fw", "--stats"],
                        prefix=["ip", "netns", "exec", ns])
    live.wait_for_stderr(r"capturing interface=" + re.escape(iface))
    sh("ip", "netns", "exec", ns, "python3", "-c", CLIENT)
    time.sleep(2.5)                       # more than the kernel's 1 s flush timer, to be sure
    res = live.stop()
    assert res.rc == 0, res.stderr[-2000:]
    st = res.require_stats("nflog run")
    assert st["malformed"] == 0, res.stderr[-2000:]

    udp = [s for s in res.sessions if s["destination"].get("port") == 9999]
    tcp = [s for s in res.sessions if s["network"]["transport"] == "tcp"]
    assert len(udp) == 1, res.sessions
    assert udp[0]["source"]["ip"] == "127.0.0.1"
    assert udp[0]["source"]["packets"] == 3
    assert udp[0]["ashiato"]["data_bytes"]["source"] == 3 * len(b"nflog 0")
    assert len(tcp) == 1, res.sessions
    t = tcp[0]
    assert t["destination"]["port"] == 9998
    flags = t["ashiato"]["tcp_flags"]
    assert flags["syn"] == 1 and flags["syn_ack"] == 1, t
    assert t["source"]["packets"] >= 4 and t["destination"]["packets"] >= 3, t
    assert t["ashiato"]["data_bytes"]["source"] == len(b"hello over nflog"), t
    assert st["packets"] == 3 + t["source"]["packets"] + t["destination"]["packets"], st
