"""Sessions time out on a quiet link (issue 13: found in the rollout run, where an idle sensor
never emitted its finished sessions until a keep-alive frame woke it).

A live sensor runs its session timers while no packet arrives: capture.c waits in its own
poll() with the read timeout, so a quiet link still gives the pipeline a tick every 100 ms,
whatever libpcap's TPACKET_V3 block timer or netfilter reader do.

Two captures, each with a UDP sink and a TCP echo server of the test's own:
- `veth`: two network namespaces joined by a veth pair (IPv6 off, static neighbour entries, so
  nothing but the test's packets crosses the link); the sensor captures on one end, a client
  in the other namespace sends three UDP flows (two datagrams each) and one TCP connection.
- `nflog`: one namespace whose nftables log the same traffic over loopback to an NFLOG group;
  the sensor captures `nflog:G`.
Then nothing more is sent. While the sensor still runs, its --emit-json file (written a line
per session when live) must hold exactly those four sessions within the idle timeout plus a
margin, each with the packets the sensor counted; stopping it afterwards adds no session.
The sensor's own totals show that no other packet came.

Needs root, iproute2 (`ip netns`), and nftables (`nft`) for the nflog case; skips with the
reason otherwise. Namespaces have unique names per run and are deleted by a finalizer, also
when the test fails; the helper processes are killed by their own pids.
"""
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from datetime import datetime

import pytest

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 `ip` not installed"),
]

UDP_TIMEOUT = 2          # [sensor] udp_timeout
TCP_CLOSE_TIMEOUT = 1    # [sensor] tcp_close_timeout (after both FINs)
# seconds past the timeout for a session to reach the file: the session table compares whole
# seconds as Arkime does (a session ends once now_sec > last_sec + timeout, so up to 1 s
# after the timeout itself), the tick comes every 100 ms, and 0.9 s for a loaded machine
MARGIN = 1.0 + 0.1 + 0.9
UDP_PORTS = (7001, 7002, 7003)
TCP_PORT = 7010
MESSAGE = b"quiet link"

SERVER = r"""
import socket, sys
addr = sys.argv[1]
udp = []
for port in (7001, 7002, 7003):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, port))
    udp.append(u)
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, 7010))
srv.listen(1)
print("ready", flush=True)
a, _ = srv.accept()
data = a.recv(100)
a.sendall(data)
a.recv(100)              # the client's FIN
a.close()
for u in udp:            # every datagram arrived (the client waits for this exit)
    for _ in range(2):
        u.recv(100)
"""

CLIENT = r"""
import socket, sys
addr = sys.argv[1]
for port in (7001, 7002, 7003):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(2):
        u.sendto(b"quiet link", (addr, port))
    u.close()
c = socket.create_connection((addr, 7010))
c.sendall(b"quiet link")
assert c.recv(100) == b"quiet link"
c.shutdown(socket.SHUT_WR)
assert c.recv(100) == b""
c.close()
"""


def sh(*argv, check=True, timeout=60):
    r = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def tag():
    return f"{os.getpid() % 100000}{secrets.token_hex(2)}"


def add_ns(made, ns):
    sh("ip", "netns", "add", ns)
    made.append(ns)
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
    sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")


@pytest.fixture
def quiet_setup(request):
    """dict(kind, ns_sensor, iface, ns_client, server_addr)."""
    kind = request.param
    t = tag()
    made = []
    try:
        if kind == "veth":
            ns_a, ns_b = f"ashqa{t}", f"ashqb{t}"
            if_a, if_b = f"qa{t}", f"qb{t}"
            add_ns(made, ns_a)
            add_ns(made, ns_b)
            sh("ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b,
               "netns", ns_b)
            for ns, ifn, mine, peer, peer_if in ((ns_a, if_a, "10.213.7.1", "10.213.7.2", if_b),
                                                 (ns_b, if_b, "10.213.7.2", "10.213.7.1", if_a)):
                sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                   f"net.ipv6.conf.{ifn}.disable_ipv6=1")
                sh("ip", "-n", ns, "addr", "add", f"{mine}/24", "dev", ifn)
                sh("ip", "-n", ns, "link", "set", ifn, "up")
            # static neighbours: no ARP on the link, before or after the flows
            mac = {}
            for ns, ifn in ((ns_a, if_a), (ns_b, if_b)):
                out = sh("ip", "-n", ns, "-j", "link", "show", ifn).stdout
                mac[ifn] = json.loads(out)[0]["address"]
            sh("ip", "-n", ns_a, "neigh", "replace", "10.213.7.2", "lladdr", mac[if_b], "dev",
               if_a, "nud", "permanent")
            sh("ip", "-n", ns_b, "neigh", "replace", "10.213.7.1", "lladdr", mac[if_a], "dev",
               if_b, "nud", "permanent")
            yield dict(kind=kind, ns_sensor=ns_a, iface=if_a, ns_client=ns_b,
                       ns_server=ns_a, server_addr="10.213.7.1")
        else:
            if shutil.which("nft") is None:
                pytest.skip("nftables `nft` not installed")
            ns = f"ashqn{t}"
            group = 300 + secrets.randbelow(200)
            add_ns(made, ns)
            nft = ["ip", "netns", "exec", ns, "nft"]
            sh(*nft, "add", "table", "inet", "ashiato")
            sh(*nft, "add", "chain", "inet", "ashiato", "out",
               "{ type filter hook output priority 0; }")
            # the kernel's default batching (up to 100 messages or its 1 s timer): one recv()
            # brings several log messages
            for match in (["udp", "dport", "7001-7003"], ["tcp", "dport", str(TCP_PORT)],
                          ["tcp", "sport", str(TCP_PORT)]):
                sh(*nft, "add", "rule", "inet", "ashiato", "out", *match, "log", "group",
                   str(group))
            yield dict(kind=kind, ns_sensor=ns, iface=f"nflog:{group}", ns_client=ns,
                       ns_server=ns, server_addr="127.0.0.1")
    finally:
        for ns in made:
            sh("ip", "netns", "del", ns, check=False)


def iso_s(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def read_lines(path):
    if not path.exists():
        return []
    text = path.read_text()
    return [ln for ln in text.split("\n")[:-1] if ln.strip()]   # complete lines only


@pytest.mark.parametrize("quiet_setup", ["veth", "nflog"], indirect=True)
def test_sessions_time_out_on_a_quiet_link(quiet_setup, start_sensor, tmp_path):
    s = quiet_setup
    conf = tmp_path / "sensor.ini"
    conf.write_text(f"[sensor]\nudp_timeout = {UDP_TIMEOUT}\ntcp_close_timeout = "
                    f"{TCP_CLOSE_TIMEOUT}\ntcp_timeout = 30\n")
    emit = tmp_path / "quiet.json"
    server = subprocess.Popen(["ip", "netns", "exec", s["ns_server"], sys.executable, "-c",
                               SERVER, s["server_addr"]], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready", server.stderr.read()
        live = start_sensor(["-c", conf, "--interface", s["iface"], "--emit-json", emit,
                             "--name", "quiet", "--stats"],
                            prefix=["ip", "netns", "exec", s["ns_sensor"]], emit=emit)
        live.wait_for_stderr(r"capturing interface=" + re.escape(s["iface"]))
        sh("ip", "netns", "exec", s["ns_client"], sys.executable, "-c", CLIENT, s["server_addr"])
        server.wait(timeout=30)
        assert server.returncode == 0, server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    sent_done = time.time()

    # silence from here on: the sessions must reach the file while the sensor still runs
    arrived = {}
    deadline = sent_done + max(UDP_TIMEOUT, TCP_CLOSE_TIMEOUT) + MARGIN + \
        (1.0 if s["kind"] == "nflog" else 0.0)      # the kernel's log batch timer
    while time.time() < deadline and len(arrived) < 4:
        for ln in read_lines(emit):
            if ln not in arrived:
                arrived[ln] = time.time()
        time.sleep(0.05)
    running = live.proc.poll() is None
    res = live.stop()
    assert running, f"the sensor ended early: {res.stderr[-2000:]}"
    assert res.rc == 0, res.stderr[-2000:]
    st = res.require_stats("quiet run")
    sessions = [json.loads(ln) for ln in arrived]
    assert len(sessions) == 4, (f"{len(sessions)} of 4 sessions within "
                                f"{deadline - sent_done:.1f} s of silence", res.stderr[-2000:])
    assert len(res.sessions) == 4, "stopping the sensor added sessions: they were not timed out"

    udp = sorted((x for x in sessions if x["network"]["transport"] == "udp"),
                 key=lambda x: x["destination"]["port"])
    tcp = [x for x in sessions if x["network"]["transport"] == "tcp"]
    assert [x["destination"]["port"] for x in udp] == list(UDP_PORTS), sessions
    for x in udp:
        assert x["source"]["packets"] == 2 and x["destination"]["packets"] == 0, x
        assert x["ashiato"]["data_bytes"]["source"] == 2 * len(MESSAGE), x
    assert len(tcp) == 1, sessions
    t = tcp[0]
    assert t["destination"]["port"] == TCP_PORT
    flags = t["ashiato"]["tcp_flags"]
    assert flags["syn"] == 1 and flags["syn_ack"] == 1 and flags["fin"] >= 2, t
    assert t["ashiato"]["data_bytes"] == {"source": len(MESSAGE), "destination": len(MESSAGE)}, t
    # every packet the sensor saw is in these sessions: nothing else crossed the link
    total = sum(x["network"]["packets"] for x in sessions)
    assert st["packets"] == total, (st, total)
    assert st["malformed"] == 0

    lat = []
    for ln, when in arrived.items():
        x = json.loads(ln)
        timeout = UDP_TIMEOUT if x["network"]["transport"] == "udp" else TCP_CLOSE_TIMEOUT
        after = when - iso_s(x["event"]["end"])
        lat.append((x["network"]["transport"], x["destination"]["port"], after, timeout))
        assert after <= timeout + MARGIN, (x, after)
    print(f"\n{s['kind']}: {len(sessions)} sessions, {total} packets; seconds from a session's "
          "last packet to its line in the file (timeout): " +
          ", ".join(f"{tr}/{port} {a:.2f} ({to})" for tr, port, a, to in sorted(lat)))
