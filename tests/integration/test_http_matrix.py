"""test_http_matrix.py -- matrix.json (sessions between network segments) and graph.stack by
segment agree with the stores' `ashiato.segments` and the detectors: an address belongs to its
LONGEST matching prefix, and the segment map is the one the aggregator read at start or at its
last SIGHUP (docs/api.md "Which map").

Real processes: campusgen captures of three departments, an aggregator (SQLite store) with a
[segments] map of NESTED prefixes (the campus /16 listed first, two departments' /24s inside
it, so a department's host is in that department and not in "campus"), three sensors shipping
to it. Checked against a brute force over the sensors' own JSON output, written here:
 - each cell's sessions, failed sessions (conn_state S0 REJ RSTOS0 RSTRH SH SHR) and distinct
   destination hosts;
 - each cell's `expressions[src|dst]`, asked back through sessions.json, selects exactly the
   cell's sessions (a /16 segment's expression leaves out its /24s' addresses);
 - the documents' `ashiato.segments` pairs tally to the same cells;
 - after the config file is edited, matrix.json and stack=segment keep the old map until the
   aggregator gets SIGHUP, and then follow the new one.
"""
import ipaddress
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

import api_env as env

SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build"))
BIN = BUILD_DIR / "bin"
SHARED = SOURCE_DIR.parent / "shared"
FAILED = {"S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR"}

pytestmark = pytest.mark.skipif(not (SHARED / "tools" / "campusgen.py").exists(),
                                reason="no campusgen")


def write_map(path, segments):
    path.write_text("[segments]\n" + "".join(f"{n} = {', '.join(p)}\n" for n, p in segments))
    return [(n, [ipaddress.ip_network(x) for x in p]) for n, p in segments]


def brute(docs, segments):
    """{(src segment, dst segment): [sessions, failed, {destination hosts}]}"""
    out = {}
    for d in docs:
        k = (env.segment_of(d["source"]["ip"], segments), env.segment_of(d["destination"]["ip"], segments))
        c = out.setdefault(k, [0, 0, set()])
        c[0] += 1
        c[1] += d.get("ashiato", {}).get("conn_state") in FAILED
        c[2].add(d["destination"]["ip"])
    return out


def check_matrix(st, docs, segments):
    """matrix.json against the brute force; every cell's expression against its count"""
    status, m = env.get_json(st.url, "/matrix.json", {"date": -1})
    assert status == 200, m
    names = [n for n, _ in segments] + ["outside"]
    assert m["segments"] == names
    want = brute(docs, segments)
    got = {(c["src"], c["dst"]): c for c in m["cells"]}
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for k, (n, failed, hosts) in want.items():
        c = got[k]
        assert (c["sessions"], c["failed"], c["hosts"]) == (n, failed, len(hosts)), (k, c)
    assert m["recordsFiltered"] == len(docs)
    for (s, d), c in got.items():
        expr = m["expressions"][f"{s}|{d}"]
        status, r = env.get_json(st.url, "/sessions.json",
                                 {"date": -1, "length": 0, "expression": expr})
        assert status == 200, (expr, r)
        assert r["recordsFiltered"] == c["sessions"], (s, d, expr, r["recordsFiltered"])
    # the stored documents' ashiato.segments (SQLite renders them by the current map)
    status, r = env.get_json(st.url, "/sessions.json", {"date": -1, "length": len(docs) + 10})
    assert status == 200 and len(r["data"]) == len(docs)
    tally = Counter(tuple(x["ashiato"]["segments"]) for x in r["data"])
    assert tally == Counter({k: v[0] for k, v in want.items()})
    return m, want


def stack_names(st):
    status, d = env.get_json(st.url, "/sessions.json", {"date": -1, "length": 0,
                                                        "stack": "segment"})
    assert status == 200, d
    return [s["name"] for s in d["graph"]["stack"]["series"]], d["graph"]["stack"]["series"]


def test_matrix_nested_prefixes_and_sighup(tmp_path):
    camp = env.campusgen(SHARED, tmp_path / "campus")
    truth = json.loads((camp / "truth.json").read_text())
    dept = truth["departments"]
    server = truth["server_segment"]
    ini = tmp_path / "aggregator.ini"
    first = write_map(ini, [("campus", ["198.18.0.0/16"]), ("dept-2", [dept["2"]]),
                            ("dept-3", [dept["3"]]), ("servers", [server])])
    users = tmp_path / "users"
    env.add_user(BIN / "ashiato", users, "alice", "secret")
    st = env.Stack(BIN, tmp_path / "run", sorted(camp.glob("sensor-*.pcap")), users, serve=False,
                   extra_agg=["--detect-config", str(ini)])
    try:
        total = env.wait_all_sessions(st)
        docs = st.all_sessions()
        m, want = check_matrix(st, docs, first)
        # the nested case is really there: department hosts in their /24, others in the /16
        assert any(k[0] == "dept-2" for k in want) and any(k[0] == "campus" for k in want)
        print(f"nested map: {len(m['cells'])} cells over {total} sessions equal to the brute "
              f"force; each cell's expression selects its sessions; "
              + ", ".join(f"{s}->{d} {c[0]}" for (s, d), c in sorted(want.items())[:6]))
        print("campus|campus: " + m["expressions"]["campus|campus"])
        names, series = stack_names(st)
        assert names == [n for n, _ in first] + ["outside"]
        by_src = Counter(env.segment_of(x["source"]["ip"], first) for x in docs)
        assert {s["name"]: sum(c for _, c in s["sessionsHisto"]) for s in series} == \
            {n: by_src.get(n, 0) for n in names}

        # edit the file: dept-3 renamed "lab" and given dept-6 too; no SIGHUP yet
        second = write_map(ini, [("campus", ["198.18.0.0/16"]), ("dept-2", [dept["2"]]),
                                 ("lab", [dept["3"], dept["6"]]), ("servers", [server])])
        time.sleep(0.5)
        status, still = env.get_json(st.url, "/matrix.json", {"date": -1})
        assert status == 200 and still["segments"] == m["segments"], still["segments"]
        assert {(c["src"], c["dst"], c["sessions"]) for c in still["cells"]} == \
            {(c["src"], c["dst"], c["sessions"]) for c in m["cells"]}
        assert stack_names(st)[0] == names
        print("config edited without SIGHUP: matrix.json and stack=segment keep the map read "
              "at start")

        st.agg.send_signal(signal.SIGHUP)
        for _ in range(100):
            status, now = env.get_json(st.url, "/matrix.json", {"date": -1})
            if status == 200 and "lab" in now["segments"]:
                break
            time.sleep(0.1)
        else:
            pytest.fail("matrix.json never took the reloaded map:\n" + st.logs()[-3000:])
        m2, want2 = check_matrix(st, docs, second)
        assert any(k[0] == "lab" for k in want2)
        names2, _ = stack_names(st)
        assert names2 == [n for n, _ in second] + ["outside"]
        print(f"after SIGHUP: matrix.json ({len(m2['cells'])} cells), the cells' expressions, "
              f"the documents' ashiato.segments and stack=segment follow the new map")
    finally:
        st.close()
    assert env.no_sanitizer_report(st.logs()), st.logs()[-3000:]


def test_no_map_answers_404_and_400(tmp_path):
    """Without a segment map: matrix.json 404, stack=segment 400, each saying why."""
    users = tmp_path / "users"
    env.add_user(BIN / "ashiato", users, "alice", "secret")
    st = env.Stack(BIN, tmp_path / "run", [], users)
    try:
        status, d = env.get_json(st.url, "/matrix.json", {"date": -1})
        assert status == 404 and "no segments configured" in d["error"], (status, d)
        status, d = env.get_json(st.url, "/sessions.json", {"date": -1, "stack": "segment"})
        assert status == 400 and "no segments configured" in d["error"], (status, d)
        print(f"no map: matrix.json 404, stack=segment 400 ({d['error']})")
    finally:
        st.close()
    assert env.no_sanitizer_report(st.logs()), st.logs()[-3000:]
