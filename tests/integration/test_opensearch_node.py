"""The real OpenSearch 2.19.6 test node: it answers, indexes, survives a restart on the same
data path, and rejects writes with 429 when its write queue is tiny (what the indexer's fault
test relies on). With write queue_size=2 the rejection comes back as HTTP 200, errors=true and
items with status 429 (rejected_execution_exception); a whole-request HTTP 429 comes instead from
the coordinating-node limit, e.g. indexing_pressure.memory.limit=1kb."""

import json
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from opensearch_node import VERSION, OpenSearchNode, build, unavailable_reason  # noqa: E402

_reason = unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")

NDJSON = "application/x-ndjson"


@pytest.fixture(scope="module", autouse=True)
def launcher_built():
    seconds = build()
    print(f"\nopensearch launcher build: {seconds:.1f} s")


def bulk_body(index, docs):
    lines = []
    for doc_id, doc in docs:
        lines.append(json.dumps({"index": {"_index": index, "_id": doc_id}}))
        lines.append(json.dumps(doc))
    return "\n".join(lines) + "\n"


def test_index_search_restart(tmp_path):
    node = OpenSearchNode(tmp_path / "os")
    try:
        node.start()
        print(f"first start: {node.start_seconds:.1f} s on {node.url}")

        status, root = node.request("GET", "/")
        assert status == 200, root
        assert root["version"]["distribution"] == "opensearch"
        assert root["version"]["number"] == VERSION

        status, _ = node.request("PUT", "/sessions-test", {
            "settings": {"number_of_shards": 1, "number_of_replicas": 0}})
        assert status == 200
        doc = {"source": {"ip": "10.1.2.3", "port": 51515},
               "destination": {"ip": "192.0.2.7", "port": 443},
               "network": {"transport": "tcp"}, "event": {"id": "sess-0001"}}
        status, res = node.request("POST", "/_bulk?refresh=wait_for",
                                   bulk_body("sessions-test", [("sess-0001", doc)]), NDJSON)
        assert status == 200, res
        assert res["errors"] is False, res
        assert res["items"][0]["index"]["status"] == 201

        query = {"query": {"term": {"event.id.keyword": "sess-0001"}}}
        status, res = node.request("POST", "/sessions-test/_search", query)
        assert status == 200, res
        assert res["hits"]["total"]["value"] == 1
        assert res["hits"]["hits"][0]["_source"]["destination"]["port"] == 443

        t0 = time.monotonic()
        rc = node.stop()
        assert rc in (0, 143), f"unclean stop, exit {rc}"  # a JVM ended by SIGTERM exits 143
        print(f"stop: {time.monotonic() - t0:.1f} s")

        node.start()
        print(f"restart on the same data path: {node.start_seconds:.1f} s")
        node.wait_yellow(index="sessions-test")
        status, res = node.request("POST", "/sessions-test/_search", query)
        assert status == 200, res
        assert res["hits"]["total"]["value"] == 1, res
        assert res["hits"]["hits"][0]["_source"]["source"]["ip"] == "10.1.2.3"
    finally:
        node.stop()


def test_tiny_write_queue_rejects_with_429(tmp_path):
    node = OpenSearchNode(tmp_path / "os", settings={"thread_pool.write.queue_size": "2",
                                                     "launcher.painless": "true"})
    try:
        node.start()
        status, res = node.request("GET", "/_cat/thread_pool/write?format=json&h=name,size,queue_size")
        assert status == 200 and res[0]["queue_size"] == "2", res
        status, _ = node.request("PUT", "/burst", {
            "settings": {"number_of_shards": 2, "number_of_replicas": 0}})
        assert status == 200

        n_requests, docs_per_request = 16, 200
        bodies = [bulk_body("burst", [(f"{r}-{i}", {"r": r, "i": i, "pad": "x" * 200})
                                      for i in range(docs_per_request)])
                  for r in range(n_requests)]
        results = [None] * n_requests
        barrier = threading.Barrier(n_requests)

        def fire(r):
            barrier.wait(timeout=30)
            try:
                results[r] = node.request("POST", "/_bulk", bodies[r], NDJSON, timeout=120)
            except Exception as e:  # recorded and asserted on below
                results[r] = (None, repr(e))

        threads = [threading.Thread(target=fire, args=(r,)) for r in range(n_requests)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        assert not any(t.is_alive() for t in threads)

        whole_429 = sum(1 for s, _ in results if s == 429)
        item_429 = sum(1 for s, body in results if s == 200 for it in body["items"]
                       if it["index"]["status"] == 429)
        other = [(s, str(b)[:300]) for s, b in results if s not in (200, 429)]
        print(f"burst of {n_requests} bulk requests x {docs_per_request} docs: "
              f"{whole_429} requests answered HTTP 429, {item_429} items with status 429")
        assert not other, other
        assert whole_429 + item_429 > 0, "no 429 under a burst with write queue_size=2"
        if item_429:
            reason = next(it["index"]["error"]["type"] for s, body in results if s == 200
                          for it in body["items"] if it["index"]["status"] == 429)
            assert reason == "rejected_execution_exception", reason
        # the node is still healthy after rejecting, and the opt-in Painless runs scripts
        node.wait_yellow()
        node.request("POST", "/burst/_refresh")
        status, res = node.request("POST", "/burst/_search", {
            "size": 1, "_source": True, "query": {"match_all": {}},
            "script_fields": {"twice": {"script": {"lang": "painless",
                                                   "source": "doc['i'].value * 2"}}}})
        assert status == 200, res
        hit = res["hits"]["hits"][0]
        assert hit["fields"]["twice"] == [hit["_source"]["i"] * 2], hit
    finally:
        node.stop()
