"""Live capture on an NFLOG group (issue 15: a sensor on the firewall host itself).

A network namespace of this test's own gets nftables rules that log UDP to port 9999 and TCP
to and from port 9998 to NFLOG group G; ashiato-sensor captures live on `nflog:G` inside that
namespace (libpcap's netfilter reader, link type DLT_NFLOG); a client in the namespace sends
three UDP datagrams and makes one TCP connection over its loopback. After SIGTERM the sensor
has written one UDP session of three packets and one TCP session with its handshake, both
directions, every packet counted, none malformed: the sessions' packets add up to what libpcap
received, and that is every message the kernel logged.

Run twice: with the kernel's default batching (up to 100 log messages per netlink message, or
its 1 s timer), so that one recv() brings several packets, and with `queue-threshold 1` (one
message per packet). The earlier reader polled the socket before every packet and so left
what libpcap still held from the last recv() unread: with batching it saw one packet of three
(and the earlier version of this test read the sessions from stdout instead of the
--emit-json file, so it saw none at all).

Needs root, iproute2 (`ip netns`) and nftables (`nft`); skips with the reason otherwise. The
namespace has a unique name per run and is deleted by a finalizer, also when the test fails.
"""
import json
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


@pytest.fixture(params=["batched", "threshold1"])
def nflog_ns(request):
    """(namespace, group, batching): a namespace whose nftables count the test's traffic and
    log it to NFLOG group `group`."""
    ns = f"ashnflog{os.getpid()}{secrets.token_hex(3)}"
    group = 40 + secrets.randbelow(200)
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        nft = ["ip", "netns", "exec", ns, "nft"]
        sh(*nft, "add", "table", "inet", "ashiato")
        sh(*nft, "add", "chain", "inet", "ashiato", "out",
           "{ type filter hook output priority 0; }")
        # queue-threshold 1: the kernel hands each message over at once, not in batches of
        # up to 100 or after its 1 s flush timer (libpcap sets neither)
        batch = ["queue-threshold", "1"] if request.param == "threshold1" else []
        for match in (["udp", "dport", "9999"], ["tcp", "dport", "9998"], ["tcp", "sport", "9998"]):
            sh(*nft, "add", "rule", "inet", "ashiato", "out", *match, "counter", "log", "group",
               str(group), *batch)
        yield ns, group, request.param
    finally:
        sh("ip", "netns", "del", ns, check=False)


def logged(ns):
    """{'udp dport 9999': packets, ...}: the nftables counters of the logging rules."""
    out = json.loads(sh("ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet",
                        "ashiato").stdout)
    counts = {}
    for item in out["nftables"]:
        rule = item.get("rule")
        if not rule:
            continue
        match = next(e["match"] for e in rule["expr"] if "match" in e)
        key = f"{match['left']['payload']['protocol']} {match['left']['payload']['field']} " \
              f"{match['right']}"
        counts[key] = next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    return counts


def test_live_nflog_group_makes_sessions(nflog_ns, start_sensor, tmp_path):
    ns, group, batching = nflog_ns
    iface = f"nflog:{group}"
    emit = tmp_path / "nflog.json"
    live = start_sensor(["--interface", iface, "--emit-json", emit, "--name", "fw", "--stats"],
                        prefix=["ip", "netns", "exec", ns], emit=emit)
    live.wait_for_stderr(r"capturing interface=" + re.escape(iface))
    sh("ip", "netns", "exec", ns, "python3", "-c", CLIENT)
    time.sleep(2.5)                       # more than the kernel's 1 s flush timer, to be sure
    res = live.stop()
    assert res.rc == 0, res.stderr[-2000:]
    sent = logged(ns)
    assert sent["udp dport 9999"] == 3, sent
    st = res.require_stats("nflog run")
    assert st["malformed"] == 0, res.stderr[-2000:]

    udp = [s for s in res.sessions if s["destination"].get("port") == 9999]
    tcp = [s for s in res.sessions if s["network"]["transport"] == "tcp"]
    assert len(res.sessions) == 2, (res.sessions, res.stderr[-2000:])
    assert len(udp) == 1, res.sessions
    assert udp[0]["source"]["ip"] == "127.0.0.1"
    assert udp[0]["source"]["packets"] == 3
    assert udp[0]["ashiato"]["data_bytes"]["source"] == 3 * len(b"nflog 0")
    assert len(tcp) == 1, res.sessions
    t = tcp[0]
    assert t["destination"]["port"] == 9998
    flags = t["ashiato"]["tcp_flags"]
    assert flags["syn"] == 1 and flags["syn_ack"] == 1, t
    # exactly what the kernel logged, each way
    assert t["source"]["packets"] == sent["tcp dport 9998"] >= 4, (t, sent)
    assert t["destination"]["packets"] == sent["tcp sport 9998"] >= 3, (t, sent)
    assert t["ashiato"]["data_bytes"]["source"] == len(b"hello over nflog"), t
    assert st["packets"] == 3 + t["source"]["packets"] + t["destination"]["packets"], st
    # libpcap's count of log messages read: every one of them reached a session
    m = re.search(r"capture: received (\d+), dropped (\d+)", res.stderr)
    assert m, res.stderr[-2000:]
    assert int(m.group(1)) == st["packets"] and int(m.group(2)) == 0, m.group(0)
    print(f"\n{iface} ({batching}): sessions {len(res.sessions)}, packets "
          f"{st['packets']} (udp 3, tcp {t['source']['packets']}+"
          f"{t['destination']['packets']}), libpcap received {m.group(1)}")
