"""test_http_api_opensearch.py -- the seed's query through the HTTP API on the OpenSearch
store (issue 10 acceptance: "This holds on SQLite and on the OpenSearch node").

A real OpenSearch node (opensearch_node.py), an aggregator storing into it and serving the API,
three sensors shipping campusgen traffic; the seed's expression verbatim (campus prefix in place
of 131.206.0.0/16) through `curl --anyauth 'http://user:pass@127.0.0.1:PORT/sessions.json?...'`
must return exactly the sessions a brute-force filter of the sensors' JSON selects, and the same
as the SQLite store gives for the same traffic.
"""
import ipaddress
import json
import os
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

import api_env as env
from opensearch_node import OpenSearchNode, build, unavailable_reason

SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build"))
BIN = BUILD_DIR / "bin"
SHARED = SOURCE_DIR.parent / "shared"
CAMPUS = ipaddress.ip_network("198.18.0.0/16")
SEED = ("packets == 1 && ip.protocol == tcp && ip.src != 198.18.0.0/16 && "
        "ip.dst != 198.18.0.0/16")
MORE = ["port.dst == 53 && ip.protocol == udp", "ip.dst == 198.18.100.10 && port.dst < 1024",
        "host.dns == *.example* || tls.sni == EXISTS!", "node == dept-6 && packets > 10"]

pytestmark = [
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
    pytest.mark.skipif(not (SHARED / "tools" / "campusgen.py").exists(), reason="no campusgen"),
]


def in_campus(ip):
    return ipaddress.ip_address(ip) in CAMPUS


def wait_all(st):
    want = None
    for _ in range(600):
        total = sum(len(st.sessions(n)) for n in st.sensors)
        status, d = env.get_json(st.url, "/sessions.json", {"date": -1, "length": 0})
        if status == 200 and d["recordsTotal"] == total > 0 and all(
                p.poll() is not None for p in st.sensors.values()):
            if want == total:
                return total
            want = total
        time.sleep(0.5)
    pytest.fail("sessions never all arrived:\n" + st.logs()[-3000:])


def test_seed_query_on_opensearch_and_sqlite(tmp_path):
    caps = sorted(env.campusgen(SHARED, tmp_path / "campus").glob("sensor-*.pcap"))
    users = tmp_path / "users"
    env.add_user(BIN / "ashiato", users, "alice", "secret")
    build()
    node = OpenSearchNode(tmp_path / "os")
    node.start()
    answers = {}
    try:
        for kind, store in (("opensearch", node.url), ("sqlite", None)):
            st = env.Stack(BIN, tmp_path / kind, caps, users, serve=False, store=store)
            try:
                total = wait_all(st)
                everything = st.all_sessions()
                want = {d["ashiato"]["session_id"] for d in everything
                        if d["network"].get("packets") == 1
                        and d["network"].get("transport") == "tcp"
                        and not in_campus(d["source"]["ip"])
                        and not in_campus(d["destination"]["ip"])}
                q = "date=-1&length=100000&expression=" + urllib.parse.quote(SEED)
                r = subprocess.run(["curl", "-sS", "--anyauth",
                                    f"http://alice:secret@127.0.0.1:{st.http_port}/sessions.json?{q}"],
                                   capture_output=True, timeout=60)
                d = json.loads(r.stdout)
                got = {s["id"] for s in d["data"]}
                print(f"{kind}: seed query {len(got)} sessions, brute force {len(want)}, "
                      f"of {total} stored")
                assert want and got == want
                answers[kind] = [got]
                for e in MORE:
                    status, a = env.get_json(st.url, "/sessions.json",
                                             {"date": -1, "length": 100000, "expression": e})
                    assert status == 200, (kind, e, a)
                    answers[kind].append({s["id"] for s in a["data"]})
            finally:
                st.close()
    finally:
        node.stop()
    assert answers["opensearch"] == answers["sqlite"]
    print("the same sessions on both stores for", 1 + len(MORE), "expressions:",
          [len(x) for x in answers["sqlite"]])
