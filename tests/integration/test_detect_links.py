"""test_detect_links.py -- ashiato.linked written through the store (store_put_links): one TCP
flow between two departments, captured by both departments' sensors (two pcaps written here,
the second copy 80 ms later, as the two uplinks see it), plus a flow that only the first sensor
saw. Real ashiato-sensor processes ship to a real ashiato-aggregator with detection on; the
detection thread finds the pair (same Community ID, within link_skew) and the aggregator's
event-loop tick stores the link. Nothing is mocked.

Checked, on the SQLite store (the HTTP API: sessions.json and session/<id>.json) and on a real
OpenSearch node (the session documents in <prefix>-sessions-*, by _id "id@sensor"): each of the
two sessions names the other in ashiato.linked as "id@sensor", the third names nobody, and the
records' own fields are as the sensors wrote them. Each document carries ashiato.segments, the
source's and the destination's segment by the aggregator's [segments] (both segments for the
linked pair, "outside" for the lone flow's destination), and the query language finds them on
both stores: `ashiato.linked == EXISTS!` returns exactly the pair, `ashiato.linked == <id>`
the one that names it, `ashiato.segments == outside` the lone flow. The OpenSearch test runs under the
integration lock (flock /tmp/ashiato-itest.lock)."""
import json
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import api_env as env  # noqa: E402
from detect_env import BUILD_DIR, SENSOR  # noqa: E402

BIN = BUILD_DIR / "bin"
AGG = BIN / "ashiato-aggregator"
T0 = 1632830400.0


def _csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _frame(src, dst, sport, dport, flags, seq, ack, payload=b""):
    ip_src, ip_dst = bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = ip_src + ip_dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, ip_src, ip_dst)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp


def _flow(src, dst, sport, dport, t):
    """a whole TCP session (handshake, a request and an answer, both FINs): [(time, frame)]"""
    SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
    a, b = 1000, 5000
    return [(t, _frame(src, dst, sport, dport, SYN, a, 0)),
            (t + 0.001, _frame(dst, src, dport, sport, SYN | ACK, b, a + 1)),
            (t + 0.002, _frame(src, dst, sport, dport, ACK, a + 1, b + 1)),
            (t + 0.003, _frame(src, dst, sport, dport, PSH | ACK, a + 1, b + 1, b"hello\n")),
            (t + 0.004, _frame(dst, src, dport, sport, PSH | ACK, b + 1, a + 7, b"world\n")),
            (t + 0.005, _frame(src, dst, sport, dport, FIN | ACK, a + 7, b + 7)),
            (t + 0.006, _frame(dst, src, dport, sport, FIN | ACK, b + 7, a + 8)),
            (t + 0.007, _frame(src, dst, sport, dport, ACK, a + 8, b + 8))]


def _pcap(path, packets):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, fr in sorted(packets, key=lambda p: p[0]):
            f.write(struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)), len(fr), len(fr)))
            f.write(fr)


def captures(work):
    """cap-1.pcap (dept-1's uplink) and cap-2.pcap (dept-2's): the cross flow in both, 80 ms
    apart; a flow to an address in no segment only in cap-1."""
    cross = ("198.18.1.10", "198.18.2.20", 40001, 445)
    alone = ("198.18.1.10", "198.18.9.21", 40002, 22)       # to no segment: "outside"
    _pcap(work / "cap-1.pcap", _flow(*cross, T0) + _flow(*alone, T0 + 2))
    _pcap(work / "cap-2.pcap", _flow(*cross, T0 + 0.08))
    ini = work / "aggregator.ini"
    ini.write_text("[segments]\ndept-1 = 198.18.1.0/24\ndept-2 = 198.18.2.0/24\n"
                   "[sensors]\ndept-1 = dept-1\ndept-2 = dept-2\n")
    return [work / "cap-1.pcap", work / "cap-2.pcap"], ini


def by_port(docs):
    return {(d["observer"]["name"], d["destination"]["port"]): d for d in docs}


def check_links(docs):
    """the two copies of the cross flow name each other, the lone flow nobody"""
    s = by_port(docs)
    assert set(s) == {("dept-1", 445), ("dept-2", 445), ("dept-1", 22)}, sorted(s)
    one, two, alone = s["dept-1", 445], s["dept-2", 445], s["dept-1", 22]
    id1, id2 = one["ashiato"]["session_id"], two["ashiato"]["session_id"]
    assert one["ashiato"].get("linked") == [f"{id2}@dept-2"], one["ashiato"]
    assert two["ashiato"].get("linked") == [f"{id1}@dept-1"], two["ashiato"]
    assert "linked" not in alone["ashiato"], alone["ashiato"]
    assert one["network"]["community_id"] == two["network"]["community_id"]
    # both segments on each copy of the cross flow; the lone flow's destination is outside
    assert one["ashiato"].get("segments") == ["dept-1", "dept-2"], one["ashiato"]
    assert two["ashiato"].get("segments") == ["dept-1", "dept-2"], two["ashiato"]
    assert alone["ashiato"].get("segments") == ["dept-1", "outside"], alone["ashiato"]
    print(f"linked: {id1}@dept-1 <-> {id2}@dept-2 segments {one['ashiato']['segments']}; "
          f"lone {alone['ashiato']['session_id']} segments {alone['ashiato']['segments']}")
    return id1, id2


def queries(id1, id2, lone):
    """expression -> the session ids it must select (the pair, one of them, the lone flow)"""
    return {"ashiato.linked == EXISTS!": {id1, id2},
            "ashiato.linked != EXISTS!": {lone},
            f'ashiato.linked == "{id2}@dept-2"': {id1},
            "linked == *@dept-1": {id2},
            "ashiato.segments == outside": {lone},
            "ashiato.segments == ]dept-1,dept-2[": {id1, id2},
            "ashiato.segments != dept-2": {lone},
            "ashiato.segments == dept-1 && ashiato.linked == EXISTS!": {id1, id2}}


def test_links_sqlite_api(tmp_path):
    caps, ini = captures(tmp_path)
    users = tmp_path / "users"
    env.add_user(BIN / "ashiato", users, "alice", "secret")
    st = env.Stack(BIN, tmp_path / "run", caps, users, extra_agg=["--detect-config", str(ini)],
                   serve=False)
    try:
        docs, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline:
            status, d = env.get_json(st.url, "/sessions.json", {"date": -1, "length": 100})
            docs = d.get("data", []) if status == 200 else []
            if len(docs) == 3 and sum("linked" in x["ashiato"] for x in docs) == 2:
                break
            time.sleep(0.5)
        id1, id2 = check_links(docs)
        # session/<id>.json: the document names the other, and the other comes whole
        status, one = env.get_json(st.url, f"/session/{id1}.json")
        assert status == 200, one
        assert one["data"]["ashiato"]["linked"] == [f"{id2}@dept-2"]
        got = [(x["observer"]["name"], x["ashiato"]["session_id"]) for x in one["linked"]]
        assert ("dept-2", id2) in got, got
        status, two = env.get_json(st.url, f"/session/{id2}.json")
        assert status == 200 and ("dept-1", id1) in [
            (x["observer"]["name"], x["ashiato"]["session_id"]) for x in two["linked"]], two
        # the query language on both fields, through sessions.json
        lone = by_port(docs)["dept-1", 22]["ashiato"]["session_id"]
        for expr, want in queries(id1, id2, lone).items():
            status, d = env.get_json(st.url, "/sessions.json",
                                     {"date": -1, "length": 100, "expression": expr})
            assert status == 200, (expr, d)
            got = {x["ashiato"]["session_id"] for x in d["data"]}
            assert got == want, (expr, got, want)
            print(f"sqlite: {expr!r}: {len(got)} sessions")
        # SIGHUP with renamed segments: the same store answers by the new map at once (the
        # documents are rendered at read, the expression expanded by the map in force)
        ini.write_text("[segments]\nwest = 198.18.1.0/24\neast = 198.18.2.0/24\n"
                       "[sensors]\ndept-1 = west\ndept-2 = east\n")
        st.agg.send_signal(signal.SIGHUP)
        deadline, got = time.monotonic() + 30, set()
        while time.monotonic() < deadline:
            status, d = env.get_json(st.url, "/sessions.json", {
                "date": -1, "length": 100, "expression": "ashiato.segments == west"})
            got = {x["ashiato"]["session_id"] for x in d.get("data", [])} if status == 200 else set()
            if len(got) == 3:
                break
            time.sleep(0.3)
        assert got == {id1, id2, lone}, got
        segs = {x["ashiato"]["session_id"]: x["ashiato"]["segments"] for x in d["data"]}
        assert segs == {id1: ["west", "east"], id2: ["west", "east"], lone: ["west", "outside"]}
        status, d = env.get_json(st.url, "/sessions.json", {
            "date": -1, "length": 100, "expression": "ashiato.segments == dept-1"})
        assert status == 200 and d["data"] == [], d
        print(f"after SIGHUP: {segs}")
        # the records as the sensors wrote them, apart from the link and the segments
        mine = by_port(st.all_sessions())
        for k, d in by_port(docs).items():
            d = json.loads(json.dumps(d))
            d["ashiato"].pop("linked", None)
            d["ashiato"].pop("segments", None)
            assert d["ashiato"]["session_id"] == mine[k]["ashiato"]["session_id"]
            assert d["network"] == mine[k]["network"] and d["source"] == mine[k]["source"]
    finally:
        st.close()
    log = st.agg_log.read_text()
    assert "links put=1 dropped=0" in log, log[-2000:]
    assert "reload: store segments=2" in log, log[-2000:]


def test_links_opensearch(tmp_path):
    from opensearch_node import OpenSearchNode, build, free_port, unavailable_reason
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    r = subprocess.run([str(AGG), "--store", "http://127.0.0.1:1", "--insecure", "--listen",
                        "tcp://127.0.0.1:1"], capture_output=True, text=True, timeout=30)
    if "not built into this binary" in r.stderr:
        pytest.skip("the aggregator was built without libcurl: no Elasticsearch store")
    caps, ini = captures(tmp_path)
    build()
    node = OpenSearchNode(tmp_path / "node")
    node.start()
    try:
        port = free_port()
        log = open(tmp_path / "aggregator.log", "w")
        agg = subprocess.Popen([str(AGG), "--listen", f"tcp://127.0.0.1:{port}", "--insecure",
                                "--store", node.url, "--detect-config", str(ini),
                                "--exit-after-idle", "4000"], stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.5)
            for i, cap in enumerate(caps, 1):
                s = subprocess.run([str(SENSOR), "--read", str(cap), "--name", f"dept-{i}",
                                    "--aggregator", f"tcp://127.0.0.1:{port}", "--insecure",
                                    "--outbox-dir", str(tmp_path / f"ob-{i}")],
                                   capture_output=True, text=True, timeout=120)
                assert s.returncode == 0, s.stderr[-2000:]
            assert agg.wait(timeout=120) == 0, (tmp_path / "aggregator.log").read_text()[-3000:]
        finally:
            if agg.poll() is None:
                agg.kill()
                agg.wait()
            log.close()
        text = (tmp_path / "aggregator.log").read_text()
        assert "links put=1 dropped=0" in text, text[-2000:]
        status, _ = node.request("POST", "/ashiato-sessions-*/_refresh")
        assert status == 200
        status, res = node.request("POST", "/ashiato-sessions-*/_search", {"size": 100})
        assert status == 200, res
        hits = res["hits"]["hits"]
        id1, id2 = check_links([h["_source"] for h in hits])
        assert {h["_id"] for h in hits} >= {f"{id1}@dept-1", f"{id2}@dept-2"}
        # the link is a keyword field: found by a term query (and by exists)
        status, res = node.request("POST", "/ashiato-sessions-*/_count",
                                   {"query": {"term": {"ashiato.linked": f"{id2}@dept-2"}}})
        assert status == 200 and res["count"] == 1, res
        status, res = node.request("POST", "/ashiato-sessions-*/_count",
                                   {"query": {"exists": {"field": "ashiato.linked"}}})
        assert status == 200 and res["count"] == 2, res
        # the query language on both fields, through store.h (tests/query_driver)
        lone = by_port([h["_source"] for h in hits])["dept-1", 22]["ashiato"]["session_id"]
        for expr, want in queries(id1, id2, lone).items():
            r = subprocess.run([str(BUILD_DIR / "tests" / "query_driver"), "--store", node.url,
                                "--segments", str(ini), expr], capture_output=True, text=True,
                               timeout=60)
            got = json.loads(r.stdout)
            assert "error" not in got, got
            assert set(got["ids"]) == want, (expr, got, want)
            print(f"opensearch: {expr!r}: {len(want)} sessions")
    finally:
        node.stop()
