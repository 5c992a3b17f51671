"""test_http_graph.py -- sessions.json's graph from the store's aggregation (issue 10: the
histogram without a walk over the rows; issue 12: graph.stack by sensor and by segment) and
session/<id>.json naming the sensor, on SQLite and on the OpenSearch node.

Real processes: campusgen captures, an aggregator (with a [segments] config: the campus /16
holding the departments' /24s, so a source belongs to its longest prefix), three sensors
shipping to it. Every graph is compared with a brute-force histogram over the sensors' own JSON
output, written here: buckets of floor(start_ms / interval) * interval, sums of source and
destination packets and bytes and of the data bytes; expressions selected with the independent
evaluator query_oracle.py. Windows are cut inside minutes and seconds so that SQLite's
per-minute rollup answers with its edges read from rows. Both stores must give the same graphs.
Then two sensors holding one id (a row copied under another sensor's name, the forged-id case
of issue 14): the old form answers 409 naming both, ?sensor= picks each.
"""
import ipaddress
import json
import os
import sqlite3
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import api_env as env
import query_oracle as oracle
from opensearch_node import OpenSearchNode, build, unavailable_reason

SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build"))
BIN = BUILD_DIR / "bin"
SHARED = SOURCE_DIR.parent / "shared"

pytestmark = pytest.mark.skipif(not (SHARED / "tools" / "campusgen.py").exists(),
                                reason="no campusgen")

EXPRESSIONS = [None, "ip.protocol == udp", "ip.protocol == tcp && packets > 3",
               "node == dept-3 || port.dst == 53", "ip.dst == 198.18.100.0/24"]
HISTOS = [("source.packetsHisto", ("source", "packets")),
          ("destination.packetsHisto", ("destination", "packets")),
          ("source.bytesHisto", ("source", "bytes")),
          ("destination.bytesHisto", ("destination", "bytes")),
          ("client.bytesHisto", ("ashiato", "data_bytes", "source")),
          ("server.bytesHisto", ("ashiato", "data_bytes", "destination"))]


def at(doc, path):
    for k in path:
        doc = doc.get(k, {}) if isinstance(doc, dict) else {}
    return doc if isinstance(doc, int) else 0


def start_us(d):
    if "_start_us" not in d:                      # parsed once per document
        d["_start_us"] = oracle.to_us(d["event"]["start"])
    return d["_start_us"]


def brute(docs, ids, lo, hi, iv):
    """{key_ms: [sessions, sums...]} of the documents with ids, event.start in [lo, hi)"""
    out = {}
    for d in docs:
        s = start_us(d)
        if d["ashiato"]["session_id"] not in ids or (lo is not None and not lo <= s < hi):
            continue
        k = (s // 1000) // (iv * 1000) * (iv * 1000)
        b = out.setdefault(k, [0] * (1 + len(HISTOS)))
        b[0] += 1
        for i, (_, path) in enumerate(HISTOS):
            b[1 + i] += at(d, path)
    return out


def cases(docs):
    """(params, lo_us, hi_us, interval) of the windows asked: all time, 20 minutes cut inside a
    second (1 s buckets), 100 minutes cut inside minutes (by minute and by hour)"""
    t0 = min(start_us(d) for d in docs) // 1_000_000 * 1_000_000
    a = t0 + 30_500_000                           # 30.5 s in (exact as a decimal and a double)
    b = t0 + 17_250_000
    out = [({"date": -1}, None, None, 3600)]
    out.append(({"startTime": f"{a / 1e6:.6f}", "stopTime": f"{(a + 1_200_000_000) / 1e6:.6f}"},
                a, a + 1_200_000_000 + 1, 1))
    for iv, name in ((60, None), (3600, "hour")):
        p = {"startTime": f"{b / 1e6:.6f}", "stopTime": f"{(b + 6_000_000_000) / 1e6:.6f}"}
        if name:
            p["interval"] = name
        out.append((p, b, b + 6_000_000_000 + 1, iv))
    return out


def check_graph(st, docs, params, lo, hi, iv, expr, stack=None, segments=None):
    q = dict(params, length=3)
    if expr:
        q["expression"] = expr
    if stack:
        q["stack"] = stack
    status, d = env.get_json(st.url, "/sessions.json", q)
    assert status == 200, (q, d)
    g = d["graph"]
    ids = oracle.select(expr, docs) if expr else {x["ashiato"]["session_id"] for x in docs}
    want = brute(docs, ids, lo, hi, iv)
    keys = sorted(want)
    assert g["interval"] == iv
    assert [k for k, _ in g["sessionsHisto"]] == keys, (q, len(keys))
    assert [n for _, n in g["sessionsHisto"]] == [want[k][0] for k in keys], q
    for i, (name, _) in enumerate(HISTOS):
        assert [v for _, v in g[name]] == [want[k][1 + i] for k in keys], (q, name)
    n = sum(w[0] for w in want.values())
    assert d["recordsFiltered"] == g["sessionsTotal"] == n, q
    assert g["network.packetsTotal"] == sum(w[1] + w[2] for w in want.values())
    assert len(d["data"]) == min(3, n)
    if stack:
        s = g["stack"]
        assert s["by"] == stack
        if stack == "sensor":
            kept = want_ids(docs, ids, lo, hi)
            names = sorted({x["observer"]["name"] for x in docs
                            if x["ashiato"]["session_id"] in kept})
            split = lambda x: x["observer"]["name"]
        else:
            names = [name for name, _ in segments] + ["outside"]
            split = lambda x: env.segment_of(x["source"]["ip"], segments)
        assert [x["name"] for x in s["series"]] == names, q
        total = [0] * len(keys)
        for ser in s["series"]:
            sub = {x["ashiato"]["session_id"] for x in docs
                   if x["ashiato"]["session_id"] in ids and split(x) == ser["name"]}
            w = brute(docs, sub, lo, hi, iv)
            assert [k for k, _ in ser["sessionsHisto"]] == keys, (q, ser["name"])
            got = [c for _, c in ser["sessionsHisto"]]
            assert got == [w.get(k, [0])[0] for k in keys], (q, ser["name"])
            total = [t + c for t, c in zip(total, got)]
        assert total == [want[k][0] for k in keys], q
    return g


def want_ids(docs, ids, lo, hi):
    return {x["ashiato"]["session_id"] for x in docs if x["ashiato"]["session_id"] in ids
            and (lo is None or lo <= start_us(x) < hi)}


def graphs_of(st, docs, segments):
    """every case and expression checked; the graphs, and the time of the all-time graph"""
    out = []
    for params, lo, hi, iv in cases(docs):
        for expr in EXPRESSIONS:
            out.append(check_graph(st, docs, params, lo, hi, iv, expr))
        out.append(check_graph(st, docs, params, lo, hi, iv, None, "sensor"))
        out.append(check_graph(st, docs, params, lo, hi, iv, EXPRESSIONS[2], "sensor"))
        out.append(check_graph(st, docs, params, lo, hi, iv, None, "segment", segments))
        out.append(check_graph(st, docs, params, lo, hi, iv, EXPRESSIONS[1], "segment", segments))
    t = time.monotonic()
    status, _ = env.get_json(st.url, "/sessions.json", {"date": -1, "length": 0})
    assert status == 200
    return out, (time.monotonic() - t) * 1000


@pytest.fixture(scope="module")
def campus(tmp_path_factory):
    work = tmp_path_factory.mktemp("graph")
    camp = env.campusgen(SHARED, work / "campus")
    truth = json.loads((camp / "truth.json").read_text())
    segments = [("campus", ["198.18.0.0/16"])]
    segments += [(f"dept-{d}", [n]) for d, n in sorted(truth["departments"].items())]
    segments.append(("servers", [truth["server_segment"]]))
    ini = work / "aggregator.ini"
    ini.write_text("[segments]\n" + "".join(f"{n} = {' '.join(p)}\n" for n, p in segments))
    users = work / "users"
    env.add_user(BIN / "ashiato", users, "alice", "secret")
    nets = [(n, [ipaddress.ip_network(x) for x in p]) for n, p in segments]
    return work, sorted(camp.glob("sensor-*.pcap")), users, ini, nets


def test_graph_sqlite_and_session_by_sensor(campus):
    work, caps, users, ini, segments = campus
    st = env.Stack(BIN, work / "sqlite", caps, users, serve=False,
                   extra_agg=["--detect-config", str(ini)])
    try:
        total = env.wait_all_sessions(st)
        docs = st.all_sessions()
        graphs, ms = graphs_of(st, docs, segments)
        print(f"sqlite: {len(graphs)} graphs equal to the brute force over {total} sessions; "
              f"all-time sessions.json {ms:.1f} ms")
        (work / "sqlite-graphs.json").write_text(json.dumps(graphs))
        status, d = env.get_json(st.url, "/sessions.json", {"date": -1, "stack": "nope"})
        assert status == 400 and "stack" in d["error"]
    finally:
        st.close()
    assert env.no_sanitizer_report(st.logs()), st.logs()[-3000:]

    # two sensors holding one id: a row copied under another sensor's name
    db_path = work / "sqlite" / "sessions.db"
    db = sqlite3.connect(db_path)
    sid, sensor = db.execute("SELECT id, sensor FROM sessions ORDER BY start_us LIMIT 1").fetchone()
    other = db.execute("SELECT id FROM sessions WHERE id != ? LIMIT 1", (sid,)).fetchone()[0]
    db.execute("INSERT INTO sessions (id, start_us, end_us, sensor, src_ip, src_port, dst_ip,"
               " dst_port, transport, protocol, packets, bytes, doc) SELECT id, start_us, end_us,"
               " 'forger', src_ip, src_port, dst_ip, dst_port, transport, protocol, packets,"
               " bytes, doc FROM sessions WHERE id = ? AND sensor = ?", (sid, sensor))
    db.commit()
    db.close()
    st = env.Stack(BIN, work / "serve", [], users, store=f"sqlite://{db_path}")
    try:
        shared_id_checks(st, sid, sensor, other)
    finally:
        st.close()
    assert env.no_sanitizer_report(st.logs()), st.logs()[-3000:]


def shared_id_checks(st, sid, sensor, other):
    status, d = env.get_json(st.url, f"/session/{sid}.json")
    assert status == 409 and sorted(d["sensors"]) == sorted([sensor, "forger"]), d
    assert "sensor=" in d["error"]
    for who in (sensor, "forger"):
        status, d = env.get_json(st.url, f"/session/{sid}.json", {"sensor": who})
        assert status == 200, d
        assert d["sensor"] == who and d["data"]["observer"]["name"] == who
        assert d["data"]["ashiato"]["session_id"] == sid
    status, d = env.get_json(st.url, f"/session/{sid}.json", {"sensor": "nobody"})
    assert status == 404, d
    status, d = env.get_json(st.url, f"/session/{other}.json")
    assert status == 200 and d["data"]["ashiato"]["session_id"] == other, d
    status, _, body = env.curl(st.url, f"/session/{sid}.pcap")
    assert status == 409, body
    # ids= with sensor=: only that sensor is asked for packets (none serves them here)
    status, headers, body = env.curl(st.url, "/sessions.pcap", {"ids": sid, "sensor": "forger"})
    failed = [ln for ln in headers.splitlines() if ln.lower().startswith("x-ashiato-failed")]
    assert failed and "forger" in failed[0] and sensor not in failed[0], (status, headers)
    print(f"shared id {sid}: 409 naming {sensor} and forger; ?sensor= gives each; "
          f"unique id {other}: 200")


@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_graph_opensearch_equals_sqlite(campus):
    work, caps, users, ini, segments = campus
    build()
    node = OpenSearchNode(work / "os")
    node.start()
    try:
        st = env.Stack(BIN, work / "opensearch", caps, users, serve=False, store=node.url,
                       extra_agg=["--detect-config", str(ini)])
        try:
            total = env.wait_all_sessions(st)
            docs = st.all_sessions()
            graphs, ms = graphs_of(st, docs, segments)
            print(f"opensearch: {len(graphs)} graphs equal to the brute force over {total} "
                  f"sessions; all-time sessions.json {ms:.1f} ms")
            mine = work / "sqlite-graphs.json"
            if mine.exists():
                assert json.loads(mine.read_text()) == graphs
                print("opensearch graphs identical to sqlite's")
            # a second sensor's copy of one session, under its own _id (id@sensor)
            d = docs[0]
            sid, sensor = d["ashiato"]["session_id"], d["observer"]["name"]
            status, hits = node.request("GET", f"/ashiato-sessions-*/_search?q=ashiato.session_id:{sid}")
            assert status == 200, hits
            hit = hits["hits"]["hits"][0]
            src = dict(hit["_source"], observer=dict(hit["_source"]["observer"], name="forger"))
            status, r = node.request("PUT", f"/{hit['_index']}/_doc/{sid}@forger?refresh=true", src)
            assert status in (200, 201), r
            other = docs[1]["ashiato"]["session_id"]
            shared_id_checks(st, sid, sensor, other)
        finally:
            st.close()
        assert env.no_sanitizer_report(st.logs()), st.logs()[-3000:]
    finally:
        node.stop()
