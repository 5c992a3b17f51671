"""test_detect_store_es.py -- alerts in the Elasticsearch/OpenSearch store: a real OpenSearch
2.19.6 node (opensearch_node.py; nothing mocked), a real ashiato-aggregator with detection on
and the node as its store, real sensors reading two scan captures (masscan's vertical TCP scan,
Zeek's port-445 scan: a TRW scanner at the defaults). The aggregator's alert_out writes each
alert through store_put_alert, so the documents in <prefix>-alerts-YYYY.MM are the detectors' own
ECS documents (Alert.doc).

Checked: the alerts index has the template's mapping and nothing more (no dynamic field), with
rule.name, observer.name, ashiato.segments, ashiato.evidence and tags keyword, source.ip and
destination.ip ip, destination.port integer, event.start/end date_nanos, ashiato.score double,
the counts long, message text; every field of every stored alert is mapped; and the alerts are
found by a term query on rule.name, on source.ip (exact and as a CIDR, which only an ip field
answers), on destination.port, by a range on event.start and a match on message. The stored
(rule, source) pairs equal what `ashiato detect` finds offline in the same captures.
"""
import subprocess
import time

import pytest

from detect_env import ASHIATO, BUILD_DIR, SENSOR, SHARED_DIR, run_detect, sensor_json
from opensearch_node import OpenSearchNode, build, free_port, unavailable_reason

_reason = unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")

AGG = BUILD_DIR / "bin" / "ashiato-aggregator"
SCANS = SHARED_DIR / "corpus" / "scans"
CAPTURES = {"edge-tcp": SCANS / "esnet_masscan_tcp_0-1000_vertical.pcap",
            "edge-445": SCANS / "brosimplescan_445_scan.pcap"}

TYPES = {"rule.name": "keyword", "observer.name": "keyword", "tags": "keyword",
         "ashiato.segments": "keyword", "ashiato.evidence": "keyword", "event.id": "keyword",
         "source.ip": "ip", "destination.ip": "ip", "ashiato.sources": "ip",
         "destination.port": "integer", "event.start": "date_nanos", "event.end": "date_nanos",
         "@timestamp": "date_nanos", "ashiato.score": "double", "ashiato.sessions": "long",
         "ashiato.failures": "long", "ashiato.successes": "long",
         "ashiato.targets.hosts": "long", "ashiato.targets.ports": "long", "message": "text"}


def mapped(mapping, path):
    node = mapping
    for part in path.split("."):
        props = node.get("properties")
        if not props or part not in props:
            return None
        node = props[part]
    return node


def leaf_paths(doc, prefix=""):
    for k, v in doc.items():
        if isinstance(v, dict):
            yield from leaf_paths(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    assert AGG.exists() and SENSOR.exists() and ASHIATO.exists()
    r = subprocess.run([str(AGG), "--store", "http://127.0.0.1:1", "--insecure", "--listen",
                        "tcp://127.0.0.1:1"], capture_output=True, text=True, timeout=30)
    if "not built into this binary" in r.stderr:
        pytest.skip("the aggregator was built without libcurl: no Elasticsearch store")
    work = tmp_path_factory.mktemp("alerts-es")
    build()
    node = OpenSearchNode(work / "node")
    node.start()
    print(f"\nopensearch node up in {node.start_seconds:.1f} s at {node.url}")
    try:
        ini = work / "aggregator.ini"
        ini.write_text("[detect]\n")
        port = free_port()
        log = open(work / "aggregator.log", "w")
        agg = subprocess.Popen([str(AGG), "--listen", f"tcp://127.0.0.1:{port}", "--insecure",
                                "--store", node.url, "--detect-config", str(ini),
                                "--exit-after-idle", "4000"], stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.5)
            for name, pcap in CAPTURES.items():
                s = subprocess.run([str(SENSOR), "--read", str(pcap), "--name", name,
                                    "--aggregator", f"tcp://127.0.0.1:{port}", "--insecure",
                                    "--outbox-dir", str(work / f"ob-{name}")],
                                   capture_output=True, text=True, timeout=300)
                assert s.returncode == 0, s.stderr[-2000:]
            assert agg.wait(timeout=120) == 0, (work / "aggregator.log").read_text()[-3000:]
        finally:
            if agg.poll() is None:
                agg.kill()
                agg.wait()
            log.close()
        status, _ = node.request("POST", "/ashiato-alerts-*/_refresh")
        assert status == 200
        status, res = node.request("POST", "/ashiato-alerts-*/_search", {"size": 1000})
        assert status == 200, res
        docs = [h["_source"] for h in res["hits"]["hits"]]
        files = [sensor_json(p, work / f"{n}.json", name=n) for n, p in CAPTURES.items()]
        offline, _ = run_detect(files, config=ini)
        yield node, docs, offline
    finally:
        node.stop()


def count(node, query):
    status, res = node.request("POST", "/ashiato-alerts-*/_count", {"query": query})
    assert status == 200, res
    return res["count"]


def test_alert_mapping_is_the_ecs_document(stored):
    node, docs, _ = stored
    assert docs, "no alert reached the alerts index"
    status, tmpl = node.request("GET", "/_index_template/ashiato-alerts")
    assert status == 200, tmpl
    want = tmpl["index_templates"][0]["index_template"]["template"]["mappings"]
    want["dynamic"] = str(want["dynamic"]).lower()
    status, maps = node.request("GET", "/ashiato-alerts-*/_mapping")
    assert status == 200 and maps, maps
    for index, m in maps.items():
        got = m["mappings"]
        assert got == want, f"{index}: mapping grew beyond the template (dynamic fields?)"
        for field, typ in TYPES.items():
            assert (mapped(got, field) or {}).get("type") == typ, (index, field, mapped(got, field))
    fields = {p for d in docs for p in leaf_paths(d)}
    unmapped = sorted(f for f in fields if mapped(want, f) is None)
    assert not unmapped, f"stored alert fields not in the mapping: {unmapped}"
    print(f"alerts mapping: {len(maps)} index(es) {sorted(maps)}, {len(docs)} alerts, "
          f"{len(fields)} distinct fields all mapped: {sorted(fields)}")


def test_alerts_searchable_by_rule_and_source(stored):
    node, docs, offline = stored
    stored_keys = {(d["rule"]["name"], d.get("source", {}).get("ip", "")) for d in docs}
    offline_keys = {(a["rule"]["name"], a.get("source", {}).get("ip", "")) for a in offline}
    print(f"stored alerts (rule, source): {sorted(stored_keys)}; offline: {sorted(offline_keys)}")
    assert stored_keys == offline_keys
    rules = {d["rule"]["name"] for d in docs}
    assert "port_scan" in rules and len(rules) >= 2, rules     # masscan's, and TRW's scanner
    for rule in rules:
        n = count(node, {"term": {"rule.name": rule}})
        assert n == sum(d["rule"]["name"] == rule for d in docs), rule
    for src in {d["source"]["ip"] for d in docs if "source" in d}:
        n = count(node, {"term": {"source.ip": src}})
        assert n == sum(d.get("source", {}).get("ip") == src for d in docs), src
        if ":" not in src:     # a CIDR term query works on an ip field only
            net = src.rsplit(".", 1)[0] + ".0/24"
            want = sum(d.get("source", {}).get("ip", "").rsplit(".", 1)[0] + ".0/24" == net
                       for d in docs)
            assert count(node, {"term": {"source.ip": net}}) == want, net
        both = count(node, {"bool": {"filter": [{"term": {"source.ip": src}},
                                                 {"terms": {"rule.name": sorted(rules)}}]}})
        assert both == n
    port = next(p for d in docs for p in d["destination"]["port"])
    assert count(node, {"term": {"destination.port": port}}) >= 1
    first = min(d["event"]["start"] for d in docs)
    assert count(node, {"range": {"event.start": {"gte": first}}}) == len(docs)
    assert count(node, {"match": {"message": "scanned"}}) >= 1
    print(f"searchable: {len(rules)} rules by rule.name, sources by source.ip (exact and /24), "
          f"destination.port {port}, event.start >= {first}, message 'scanned'")
