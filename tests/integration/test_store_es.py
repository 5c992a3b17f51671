"""test_store_es.py -- the Elasticsearch/OpenSearch store end to end against a real OpenSearch
2.19.6 node (opensearch_node.py; nothing mocked): real sensors read campus captures and ship to
a real aggregator whose store is the node.

- end to end: three sensors -> aggregator -> OpenSearch; every emitted session exactly once
  (by _id and by a terms aggregation per sensor), each stored document equal to what the sensor
  emitted, in the daily index of its own start day, under the explicit mapping (IPs are ip, no
  dynamic fields, every emitted field mapped);
- same answers: the same sessions loaded into SQLite by a second run give the same counts per
  sensor, transport, protocol and hour through store_count_by on both backends (the C driver
  tests/unit/test_store_es.c, which also runs its own scenario against the node);
- a crafted record the mapping refuses (port 4000000000 into an integer field), sent by a small
  ZeroMQ client, ends in the dead-letter file with the node's reason; its batch is acked and the
  rest of it stored;
- faults: the node stopped for 60 s mid-load and started again on the same data path; the node
  answering 429 (a write queue of 1, and an indexing-pressure limit below the bulk size: both
  the per-item and the whole-request kind): zero loss, zero duplicates;
- TLS with a CA file, basic auth and an API key, against a stand-in HTTPS server (the test
  node has no security plugin).

The ground truth is each sensor's own --emit-json output."""
import collections
import datetime
import json
import os
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import transport_env as te  # noqa: E402
from opensearch_node import OpenSearchNode, build, unavailable_reason  # noqa: E402

_reason = unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")

SENSORS = ("s1", "s2", "s3")


@pytest.fixture(scope="module")
def bins(build_dir):
    b = {"sensor": build_dir / "bin" / "ashiato-sensor",
         "agg": build_dir / "bin" / "ashiato-aggregator",
         "driver": build_dir / "tests" / "test_store_es"}
    for k in ("sensor", "agg"):
        assert b[k].exists(), f"{b[k]} not built"
    r = subprocess.run([str(b["agg"]), "--store", "http://127.0.0.1:1", "--insecure",
                        "--listen", "tcp://127.0.0.1:1"], capture_output=True, text=True,
                       timeout=30)
    if "not built into this binary" in r.stderr:
        pytest.skip("the aggregator was built without libcurl: no Elasticsearch store")
    return b


@pytest.fixture(scope="module")
def campus(shared_dir, tmp_path_factory):
    """Two minutes of three departments across midnight UTC (two daily indices, three hours)."""
    out = tmp_path_factory.mktemp("campus")
    t0 = time.monotonic()
    subprocess.run([sys.executable, str(shared_dir / "tools" / "campusgen.py"), "--out", str(out),
                    "--sensors", "1,2,3", "--duration", "120", "--rate", "40",
                    "--start", "2021-09-28T23:59:00Z", "--quiet"], check=True, timeout=300)
    print(f"\ncampusgen: {time.monotonic() - t0:.1f} s")
    return out


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    build()
    n = OpenSearchNode(tmp_path_factory.mktemp("os-main") / "node")
    n.start()
    print(f"\nopensearch node up in {n.start_seconds:.1f} s at {n.url}")
    yield n
    n.stop()


def timed(what):
    class T:
        def __enter__(self):
            self.t0 = time.monotonic()
            return self

        def __exit__(self, *exc):
            print(f"{what}: {time.monotonic() - self.t0:.1f} s")
    return T()


def run_load(bins, campus, workdir, store, agg_ini=None, sensor_ini=None, pace=None,
             during=None, sensor_timeout=240):
    """Aggregator (insecure, on 127.0.0.1) + the three sensors until every batch is acked.
    `during(t0)` runs while the sensors run. Returns (aggregator, {sensor: {id: doc}})."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = te.free_port()
    args = ["--insecure", "--store", store, "--dead-letter", str(workdir / "dead.jsonl")]
    if agg_ini:
        (workdir / "agg.ini").write_text("[aggregator]\n" + agg_ini)
        args = ["-c", str(workdir / "agg.ini")] + args
    agg = te.Aggregator(bins["agg"], workdir, port, args)
    agg.start()
    extra = ["--insecure", "--drain-timeout", "200000"]
    if sensor_ini:
        (workdir / "sensor.ini").write_text("[sensor]\n" + sensor_ini)
        extra = ["-c", str(workdir / "sensor.ini")] + extra
    if pace:
        extra += ["--realtime", str(pace)]
    sensors = [te.Sensor(bins["sensor"], workdir, None, name, campus / f"sensor-{i}.pcap",
                         f"tcp://127.0.0.1:{port}",
                         extra + ["--emit-json", str(workdir / f"emitted-{name}.json")])
               for i, name in enumerate(SENSORS, 1)]
    try:
        for s in sensors:
            s.start()
        if during:
            during(time.monotonic())
        for s in sensors:
            assert s.wait(sensor_timeout) == 0, f"{s.name} failed:\n{s.log_text()[-3000:]}"
    finally:
        for s in sensors:
            if s.proc and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        agg.stop()
    emitted = {}
    for name in SENSORS:
        with open(workdir / f"emitted-{name}.json") as f:
            docs = [json.loads(line) for line in f]
        emitted[name] = {d["ashiato"]["session_id"]: d for d in docs}
        assert len(emitted[name]) == len(docs), f"{name}: the sensor emitted an id twice"
    return agg, emitted


def search(node, path, body):
    status, res = node.request("POST", path, body)
    assert status == 200, res
    return res


def all_docs(node, prefix):
    """Every stored session: [(index, _id, _source)], paged with search_after."""
    node.request("POST", f"/{prefix}-sessions-*/_refresh")
    out, after = [], None
    while True:
        body = {"size": 5000, "sort": [{"ashiato.session_id": "asc"}],
                "query": {"match_all": {}}}
        if after:
            body["search_after"] = after
        hits = search(node, f"/{prefix}-sessions-*/_search", body)["hits"]["hits"]
        out += [(h["_index"], h["_id"], h["_source"]) for h in hits]
        if len(hits) < 5000:
            return out
        after = hits[-1]["sort"]


def assert_exactly_once(node, prefix, emitted, what):
    docs = all_docs(node, prefix)
    # the _id is "<session id>@<sensor>" (issue 14, H1: one sensor cannot pre-empt another's)
    for _, _id, src in docs:
        assert _id == f"{src['ashiato']['session_id']}@{src['observer']['name']}", _id
    ids = [d[2]["ashiato"]["session_id"] for d in docs]
    want = {sid: s for s, m in emitted.items() for sid in m}
    assert len(ids) == len(set(ids)), f"{what}: {len(ids) - len(set(ids))} duplicate ids"
    missing, extra = set(want) - set(ids), set(ids) - set(want)
    assert not missing and not extra, (f"{what}: {len(missing)} sessions missing, {len(extra)} "
                                       f"unexpected (stored {len(ids)}, emitted {len(want)})")
    aggs = search(node, f"/{prefix}-sessions-*/_search", {
        "size": 0, "aggs": {"s": {"terms": {"field": "observer.name", "size": 100}}}})
    per_sensor = {b["key"]: b["doc_count"] for b in aggs["aggregations"]["s"]["buckets"]}
    assert per_sensor == {s: len(m) for s, m in emitted.items()}, per_sensor
    return docs


def leaf_paths(doc, prefix=""):
    for k, v in doc.items():
        if isinstance(v, dict):
            yield from leaf_paths(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


def mapped(mapping, path):
    """The mapping entry of a dotted path, or None."""
    node = mapping
    for part in path.split("."):
        props = node.get("properties")
        if not props or part not in props:
            return None
        node = props[part]
    return node


# ---- end to end -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def loaded(bins, campus, node, tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e")
    with timed("end to end load (3 sensors -> aggregator -> opensearch)"):
        agg, emitted = run_load(bins, campus, work, node.url)
    return {"agg": agg, "emitted": emitted, "work": work}


def test_end_to_end_every_session_once(node, loaded):
    emitted = loaded["emitted"]
    log = loaded["agg"].log_text()
    assert "store=opensearch" in log, log
    docs = assert_exactly_once(node, "ashiato", emitted, "end to end")
    flat = {sid: d for m in emitted.values() for sid, d in m.items()}
    days = collections.Counter()
    for index, _, src in docs:
        sid = src["ashiato"]["session_id"]
        # detection's cross-sensor links (store_put_links) are the one addition: another
        # sensor's session of the same flow, as id@sensor
        src = json.loads(json.dumps(src))
        for other in src["ashiato"].pop("linked", []):
            assert other.rsplit("@", 1)[1] != src["observer"]["name"], (sid, other)
        assert src == flat[sid], f"{sid}: stored document differs from the emitted one"
        day = src["event"]["start"][:10].replace("-", ".")
        assert index == f"ashiato-sessions-{day}", (index, src["event"]["start"])
        days[index] += 1
    assert len(days) == 2, f"the capture crosses midnight: expected two daily indices, {days}"
    assert not (loaded["work"] / "dead.jsonl").exists() or \
        (loaded["work"] / "dead.jsonl").read_text() == ""
    # a search for one session returns its ECS document
    sid, want = next(iter(emitted["s2"].items()))
    hits = search(node, "/ashiato-sessions-*/_search",
                  {"query": {"term": {"ashiato.session_id": sid}}})["hits"]["hits"]
    assert len(hits) == 1 and hits[0]["_source"] == want and hits[0]["_id"] == f"{sid}@s2"
    # the committed sequence of each stream, written after its sessions
    node.request("POST", "/ashiato-sensors/_refresh")
    seqs = search(node, "/ashiato-sensors/_search", {"size": 100})["hits"]["hits"]
    assert sorted(h["_source"]["sensor"] for h in seqs) == list(SENSORS)
    assert all(h["_source"]["seq"] >= 1 for h in seqs), seqs
    print(f"end to end: {len(docs)} sessions stored exactly once "
          f"({', '.join(f'{s}={len(m)}' for s, m in emitted.items())}) in {dict(days)}")


def test_mapping_is_the_explicit_one(node, loaded):
    status, tmpl = node.request("GET", "/_index_template/ashiato-sessions")
    assert status == 200, tmpl
    want = tmpl["index_templates"][0]["index_template"]["template"]["mappings"]
    want["dynamic"] = str(want["dynamic"]).lower()     # a template says false, an index "false"
    status, maps = node.request("GET", "/ashiato-sessions-*/_mapping")
    assert status == 200 and len(maps) == 2, maps
    for index, m in maps.items():
        got = m["mappings"]
        assert got == want, f"{index}: mapping grew beyond the template (dynamic fields?)"
        assert got["dynamic"] == "false"
        for f in ("source.ip", "destination.ip"):
            assert mapped(got, f)["type"] == "ip", f
        assert mapped(got, "event.start")["type"] == "date_nanos"
        assert mapped(got, "network.bytes")["type"] == "long"
        assert mapped(got, "observer.name")["type"] == "keyword"
        assert mapped(got, "ashiato.packet_pos") == {"type": "object", "enabled": False}
    # every field the sensors emitted is mapped (an unmapped one would be unsearchable)
    fields = {p for m in loaded["emitted"].values() for d in m.values() for p in leaf_paths(d)}
    unmapped = sorted(f for f in fields if mapped(want, f) is None)
    assert not unmapped, f"emitted but not in the mapping: {unmapped}"
    print(f"mapping: {len(fields)} distinct emitted fields, all mapped; IPs are type ip")


# ---- same answers from SQLite and OpenSearch ---------------------------------------------

def test_same_answers_sqlite_and_opensearch(bins, campus, node, loaded, tmp_path):
    if not bins["driver"].exists():
        pytest.skip(f"{bins['driver']} not built (cmocka missing?)")
    with timed("the same captures into sqlite"):
        _, emitted = run_load(bins, campus, tmp_path, f"sqlite://{tmp_path / 'sessions.db'}")
    assert {s: set(m) for s, m in emitted.items()} == \
        {s: set(m) for s, m in loaded["emitted"].items()}, "the second run emitted other ids"
    env = dict(os.environ, ASHIATO_TEST_ES_URL=node.url,
               ASHIATO_TEST_SQLITE_DB=str(tmp_path / "sessions.db"),
               ASHIATO_TEST_ES_PREFIX="ashiato")
    with timed("test_store_es driver (campus counts, scenario, dead letter)"):
        r = subprocess.run([str(bins["driver"])], env=env, capture_output=True, text=True,
                           timeout=600)
    print(r.stdout[-6000:], r.stderr[-3000:])
    assert r.returncode == 0, "test_store_es failed"
    out = r.stdout + r.stderr
    assert "SKIPPED" not in out, "a store test was skipped although the node runs"
    for f in ("observer.name", "network.transport", "network.protocol", "hour"):
        assert f"campus all: count_by {f}" in out


# ---- a document the mapping refuses --------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len(num, payload):
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _int(num, value):
    return _varint(num << 3) + _varint(value)


def _record(sid, start_us, sport, last, observer=b"crafted"):
    src = _len(1, bytes([10, 9, 8, last])) + _int(2, sport) + _int(3, 120) + _int(4, 2)
    dst = _len(1, bytes([10, 9, 9, 1])) + _int(2, 80) + _int(3, 60) + _int(4, 1)
    return (_len(1, sid.encode()) + _len(2, observer) + _int(3, start_us) +
            _int(4, start_us + 2000) + _len(5, src) + _len(6, dst) + _int(7, 6) + _int(8, 4) +
            _len(11, b"http"))


def _parse(buf):
    """{field number: [values]} of one protobuf message (varints and length-delimited)."""
    out, i = collections.defaultdict(list), 0
    while i < len(buf):
        key, shift = 0, 0
        while True:
            b = buf[i]; i += 1
            key |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        num, wire = key >> 3, key & 7
        val, shift = 0, 0
        while True:
            b = buf[i]; i += 1
            val |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        if wire == 2:
            out[num].append(buf[i:i + val]); i += val
        else:
            out[num].append(val)
    return out


def test_rejected_document_goes_to_dead_letter(bins, node, tmp_path):
    zmq = pytest.importorskip("zmq", reason="pyzmq is installed by scripts/test.sh")
    port = te.free_port()
    (tmp_path / "agg.ini").write_text("[aggregator]\nes_prefix = crafted\n")
    agg = te.Aggregator(bins["agg"], tmp_path, port,
                        ["-c", str(tmp_path / "agg.ini"), "--insecure", "--store", node.url,
                         "--dead-letter", str(tmp_path / "dead.jsonl")])
    agg.start()
    ctx = zmq.Context()
    t0 = 1632873540000000            # 2021-09-28T23:59:00Z
    ids = [f"crafted-{i}" for i in range(5)]
    records = b"".join(_len(3, _record(sid, t0 + i * 1000, 4000000000 if i == 2 else 40000 + i,
                                       i + 1)) for i, sid in enumerate(ids))
    batch = _len(1, b"crafted") + _int(2, 1) + records + _int(5, 77)
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.connect(f"tcp://127.0.0.1:{port}")
        sock.send(_len(1, batch))
        assert sock.poll(30000), "no acknowledgement within 30 s"
        ack = _parse(_parse(sock.recv())[4][0])
        assert ack[1] == [1] and ack[3] == [77], f"expected ack of seq 1 epoch 77, got {ack}"
        sock.close(0)
    finally:
        ctx.term()
        agg.stop()
    lines = (tmp_path / "dead.jsonl").read_text().splitlines()
    assert len(lines) == 1, lines
    dl = json.loads(lines[0])
    print(f"dead letter: id={dl['id']} reason={dl['reason']}")
    assert dl["id"] == "crafted-2" and dl["sensor"] == "crafted" and dl["seq"] == 1
    assert "mapper_parsing_exception" in dl["reason"] and "source.port" in dl["reason"]
    assert dl["doc"]["source"]["port"] == 4000000000
    node.request("POST", "/crafted-sessions-*/_refresh")
    hits = search(node, "/crafted-sessions-*/_search", {"size": 10})["hits"]["hits"]
    assert sorted(h["_id"] for h in hits) == [f"{i}@crafted" for i in ids if i != "crafted-2"]


# ---- issue 14, H1: one sensor cannot displace another's sessions ---------------------------

def _start_us(doc):
    """event.start ("2021-09-28T23:59:00.123456Z", maybe nanoseconds) in microseconds."""
    s = doc["event"]["start"].rstrip("Z")
    day, _, frac = s.partition(".")
    t = datetime.datetime.strptime(day, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1000000 + int((frac + "000000")[:6])


@pytest.mark.parametrize("backend", ["opensearch", "sqlite"])
def test_h1_other_sensor_cannot_displace_rows(bins, campus, node, tmp_path, backend):
    """Real processes: a crafted client as sensor s1 ships records carrying the ids (a public
    hash) and start times of s2's first 200 sessions, before the real s2 ships its capture.
    Every s2 session must be stored once, as the document s2 emitted; s1's forgeries are
    stored beside them, as s1's."""
    zmq = pytest.importorskip("zmq", reason="pyzmq is installed by scripts/test.sh")
    truth = tmp_path / "truth-s2.json"
    subprocess.run([str(bins["sensor"]), "--read", str(campus / "sensor-2.pcap"), "--name",
                    "s2", "--emit-json", str(truth)], check=True, capture_output=True,
                   timeout=240)
    want = {}
    for line in truth.read_text().splitlines():
        d = json.loads(line)
        want[d["ashiato"]["session_id"]] = d
    victims = list(want)[:200]
    prefix = f"h1-{os.getpid()}"
    db = tmp_path / "sessions.db"
    store = node.url if backend == "opensearch" else f"sqlite://{db}"
    (tmp_path / "agg.ini").write_text(f"[aggregator]\nes_prefix = {prefix}\n")
    port = te.free_port()
    agg = te.Aggregator(bins["agg"], tmp_path, port, ["-c", str(tmp_path / "agg.ini"),
                                                      "--insecure", "--store", store])
    agg.start()
    ctx = zmq.Context()
    try:
        records = b"".join(_len(3, _record(sid, _start_us(want[sid]), 50000 + i % 1000, 66,
                                           observer=b"s1"))
                           for i, sid in enumerate(victims))
        sock = ctx.socket(zmq.DEALER)
        sock.connect(f"tcp://127.0.0.1:{port}")
        sock.send(_len(1, _len(1, b"s1") + _int(2, 1) + records + _int(5, 5)))
        assert sock.poll(30000), "no acknowledgement of the forged batch within 30 s"
        ack = _parse(_parse(sock.recv())[4][0])
        assert ack[1] == [1], f"the forged batch was not acknowledged: {ack}"
        sock.close(0)
        s2 = te.Sensor(bins["sensor"], tmp_path, None, "s2", campus / "sensor-2.pcap",
                       f"tcp://127.0.0.1:{port}", ["--insecure", "--drain-timeout", "200000"])
        s2.start()
        assert s2.wait(240) == 0, s2.log_text()[-3000:]
    finally:
        ctx.term()
        agg.stop()
    if backend == "opensearch":
        docs = all_docs(node, prefix)
        by = collections.defaultdict(dict)
        for _, _id, src in docs:
            sid, sensor = src["ashiato"]["session_id"], src["observer"]["name"]
            assert _id == f"{sid}@{sensor}" and sid not in by[sensor], _id
            by[sensor][sid] = src
        assert by["s2"] == want, "s2's stored documents differ from what it emitted"
        forged = by["s1"]
    else:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        rows = con.execute("SELECT id, sensor, protocol, dst_ip FROM sessions").fetchall()
        con.close()
        s2rows = [r for r in rows if r[1] == "s2"]
        assert len(s2rows) == len(want) and {r[0] for r in s2rows} == set(want)
        forged = {r[0]: r for r in rows if r[1] == "s1"}
        assert all(r[3] == "10.9.9.1" for r in forged.values())
    assert set(forged) == set(victims), f"{len(forged)} forged documents stored"
    assert len(set(victims) & set(want)) == 200
    print(f"H1 {backend}: s1 forged {len(victims)} of s2's ids first; s2's {len(want)} "
          f"sessions all stored as s2's, {len(forged)} forgeries stored beside them as s1's")


# ---- faults ----------------------------------------------------------------------------

def test_node_stopped_60s_mid_load(bins, campus, tmp_path):
    """Sensors paced (4x real time, about 30 s of reading); the node is stopped (SIGTERM) 5 s
    in, kept down for 60 s and started again on the same data path."""
    n = OpenSearchNode(tmp_path / "node")
    n.start()
    events = {}

    def outage(t0):
        time.sleep(max(0.0, t0 + 5 - time.monotonic()))
        events["stop_rc"] = n.stop()
        events["down_at"] = time.monotonic()
        time.sleep(60)
        n.start()
        events["down_s"] = time.monotonic() - events["down_at"]
        print(f"node down for {events['down_s']:.1f} s (restart took {n.start_seconds:.1f} s)")

    try:
        with timed("load with a 60 s outage"):
            agg, emitted = run_load(bins, campus, tmp_path / "run", n.url, pace=4,
                                    sensor_ini="resend_ms = 2000\n", during=outage)
        assert events["down_s"] >= 60
        docs = assert_exactly_once(n, "ashiato", emitted, "node stopped 60 s")
        log = agg.log_text()
        assert "store busy, holding acks" in log, "the outage was never met by the store"
        print(f"outage: {len(docs)} sessions stored exactly once; aggregator: "
              + log.strip().splitlines()[-1])
    finally:
        n.stop()


def test_node_answering_429(bins, campus, tmp_path):
    """One write thread with a queue of 1 (per-item 429 inside HTTP 200) and an
    indexing-pressure limit of 12 KB, below the 32 KB bulk requests the store starts with
    (whole requests answered HTTP 429 until the store has cut its requests small enough);
    up to eight in flight, so that both kinds happen."""
    n = OpenSearchNode(tmp_path / "node", settings={
        "thread_pool.write.size": "1", "thread_pool.write.queue_size": "1",
        "indexing_pressure.memory.limit": "12kb"})
    n.start()
    try:
        with timed("load into a node answering 429"):
            agg, emitted = run_load(bins, campus, tmp_path / "run", n.url,
                                    agg_ini="bulk_bytes = 32768\nbulk_inflight = 8\n")
        docs = assert_exactly_once(n, "ashiato", emitted, "429")
        status, st = n.request("GET", "/_nodes/stats/thread_pool,indexing_pressure")
        assert status == 200, st
        ns = next(iter(st["nodes"].values()))
        queue_rejected = ns["thread_pool"]["write"]["rejected"]
        pressure = ns["indexing_pressure"]["memory"]["total"]
        pressure_rejected = pressure["coordinating_rejections"] + pressure["primary_rejections"]
        print(f"429: {len(docs)} sessions stored exactly once; the node rejected "
              f"{queue_rejected} shard writes (write queue) and {pressure_rejected} requests "
              f"(indexing pressure)")
        assert queue_rejected > 0, "no per-item 429 (write queue) was met"
        assert pressure_rejected > 0, "no whole-request HTTP 429 (indexing pressure) was met"
        assert not (tmp_path / "run" / "dead.jsonl").exists()
    finally:
        n.stop()


# ---- TLS and credentials -------------------------------------------------------------------

class _FakeCluster:
    """A stand-in for a secured cluster (a mock, said so: the real test node has no security
    plugin, so it can check neither TLS nor credentials). It speaks HTTPS with a certificate
    from a CA made by the test, answers GET / and the template PUTs as OpenSearch 2.19 does,
    and records each request's method, path and Authorization header."""

    def __init__(self, tmp_path):
        import http.server
        import ssl
        import threading
        d = tmp_path / "pki"
        d.mkdir()
        sh = lambda *a: subprocess.run(a, cwd=d, check=True, capture_output=True, timeout=60)
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
           "-out", "ca.pem", "-subj", "/CN=ashiato-test-ca", "-days", "1")
        sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out",
           "srv.csr", "-subj", "/CN=127.0.0.1")
        (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
        sh("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
           "-CAcreateserial", "-out", "srv.pem", "-days", "1", "-extfile", "san.cnf")
        self.ca = d / "ca.pem"
        self.seen = []
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                seen.append((self.command, self.path, self.headers.get("Authorization")))
                if self.command == "GET" and self.path == "/":
                    self._answer(200, {"cluster_name": "fake", "version": {
                        "distribution": "opensearch", "number": "2.19.6"}})
                elif self.command == "PUT" and self.path.startswith("/_index_template/"):
                    self._answer(200, {"acknowledged": True})
                else:
                    self._answer(404, {"error": {"type": "not_here", "reason": "fake"}})

            do_GET = do_PUT = do_POST = _any

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(d / "srv.pem", d / "srv.key")
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _aggregator_opens(bins, tmp_path, url, ini):
    """Start an aggregator on store `url` with [aggregator] `ini`; stop it once it listens (or
    see it exit): (whether it opened the store, its output)."""
    (tmp_path / "agg.ini").write_text("[aggregator]\n" + ini)
    log = tmp_path / "agg-open.log"
    port = te.free_port()
    with open(log, "w") as out:
        p = subprocess.Popen([str(bins["agg"]), "-c", str(tmp_path / "agg.ini"), "--insecure",
                              "--listen", f"tcp://127.0.0.1:{port}", "--store", url],
                             stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while p.poll() is None and "listening" not in log.read_text() and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    if p.poll() is None:
        p.terminate()
    p.wait(timeout=20)
    text = log.read_text()
    return "listening" in text, text


def test_tls_with_ca_file_and_credentials(bins, tmp_path):
    import base64
    fake = _FakeCluster(tmp_path)
    url = f"https://127.0.0.1:{fake.port}"
    try:
        ok, out = _aggregator_opens(bins, tmp_path, url, f"es_ca_file = {fake.ca}\n"
                                    "es_user = elastic\nes_password = s3cret\n")
        assert ok and "store=opensearch" in out, out
        basic = "Basic " + base64.b64encode(b"elastic:s3cret").decode()
        assert fake.seen and all(a == basic for _, _, a in fake.seen), fake.seen
        assert ("GET", "/", basic) in fake.seen
        assert {p for m, p, _ in fake.seen if m == "PUT"} == {
            f"/_index_template/ashiato-{k}" for k in ("sessions", "stats", "alerts", "sensors")}

        fake.seen.clear()
        ok, out = _aggregator_opens(bins, tmp_path, url, f"es_ca_file = {fake.ca}\n"
                                    "es_api_key = aWQ6a2V5\n")
        assert ok, out
        assert fake.seen and all(a == "ApiKey aWQ6a2V5" for _, _, a in fake.seen), fake.seen

        # without the CA the certificate is refused; a password in the URL is never shown
        fake.seen.clear()
        ok, out = _aggregator_opens(bins, tmp_path, f"https://u:pw@127.0.0.1:{fake.port}", "")
        assert not ok and "no answer from https://***@127.0.0.1" in out, out
        assert "pw@" not in out and not fake.seen
        print("tls: CA file honoured, basic auth and API key sent, an unknown CA refused: "
              + out.strip().splitlines()[-1][:160])
    finally:
        fake.close()


def test_es_gzip_setting_is_checked(bins, tmp_path):
    """[aggregator] es_gzip takes auto, always or never; anything else is refused by name."""
    ok, out = _aggregator_opens(bins, tmp_path, "null:", "es_gzip = sometimes\n")
    assert not ok and "es_gzip = 'sometimes': expected auto, always or never" in out, out
    for v in ("auto", "always", "never"):
        ok, out = _aggregator_opens(bins, tmp_path, "null:", f"es_gzip = {v}\n")
        assert ok, out
    print("es_gzip: auto/always/never accepted, 'sometimes' refused: " + out.strip().splitlines()[-1][:120])
