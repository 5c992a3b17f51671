"""test_alert_query.py -- alerts.json with an expression over the alert fields (issue 11
point 5), the same on SQLite, on a real OpenSearch node and in a brute-force evaluator.

The test writes its own alert documents (detect_alert_json()'s shape, docs/detection.md: every
field, several rules, IPv4 and IPv6, absent and empty fields, decimal scores), puts them in
each store through store_put_alert (tests/alert_put, as alert_out.c does), serves each store
with the aggregator's HTTP API and no sensor, and asks alerts.json for every expression of a
table. Each answer's alert ids must equal query_oracle.select_alerts() over the documents the
test wrote (its own parser and field table, not the C code), on both stores; bad expressions
get 400 with the position of the fault; fields.json?type=alerts lists the alert fields; and
`ashiato alerts --expression` prints what alerts.json answers.

Run under the integration lock: flock /tmp/ashiato-itest.lock ctest -R test_alert_query"""
import datetime
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

import api_env as env
import query_oracle as oracle
from opensearch_node import OpenSearchNode, unavailable_reason

SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build"))
BIN = BUILD_DIR / "bin"
PUT = BUILD_DIR / "tests" / "alert_put"
T0 = datetime.datetime(2026, 12, 6, 10, 0, 0, tzinfo=datetime.timezone.utc)
RULES = ["address_scan", "port_scan", "scanner", "lateral_movement", "session_spike",
         "address_policy"]
SENSORS = ["dept-1", "dept-2", "dept-3", "dept-4"]
SCORES = [0.25, 0.5, 0.75, 1.0, 1.2, 1.5, 2.0, 3.75, 6.4, 12.0]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_alerts(n=60, seed=11):
    """n alert documents in detect_alert_json()'s shape, varied on every field."""
    rnd = random.Random(seed)
    docs = []
    for i in range(n):
        rule = RULES[i % len(RULES)]
        start = T0 + datetime.timedelta(seconds=450 * i, microseconds=(i * 1234) % 1000000)
        if i == 7:                                 # a whole second: starttime == matches it
            start = T0 + datetime.timedelta(seconds=450 * i)
        end = start + datetime.timedelta(seconds=rnd.randint(0, 3600))
        v6 = i % 9 == 4
        src = (f"2001:db8:{i % 3}::{i + 1:x}" if v6 else
               rnd.choice(["10.1.{}.{}", "10.4.{}.{}", "198.18.{}.{}"]).format(i % 5, i + 1))
        hosts = sorted({rnd.choice(["10.2.3.{}", "10.9.9.{}", "198.19.0.{}"]).format(
            rnd.choice([4, 5, 9, 77])) for _ in range(rnd.randint(0, 5))})
        if i % 10 == 3:
            hosts = ["10.2.3.4", "10.2.3.5"]
        ports = sorted({rnd.choice([22, 80, 445, 3389, 8080, 61000, 5353])
                        for _ in range(rnd.randint(0, 4))})
        sensors = sorted(rnd.sample(SENSORS, rnd.randint(1, 3)))
        segments = sorted(rnd.sample(SENSORS + ["outside"], rnd.randint(0, 3)))
        approved = i % 7 == 2
        evidence = [f"{rnd.getrandbits(64):016x}{i:04x}" for _ in range(rnd.randint(0, 4))]
        sessions = rnd.randint(1, 400)
        failures = rnd.randint(0, sessions)
        d = {"@timestamp": iso(start),
             "event": {"kind": "alert", "id": f"alert-{i:04d}-{rule}", "start": iso(start),
                       "end": iso(end)},
             "rule": {"name": rule}}
        if rule != "session_spike":
            d["source"] = {"ip": src}
        d["destination"] = {"ip": hosts, "port": ports}
        d["observer"] = {"name": sensors}
        d["tags"] = ["approved"] if approved else []
        d["message"] = (f"{rule.replace('_', ' ')} from {src}: {len(hosts)} hosts, "
                        f"{len(ports)} ports" if rule != "session_spike" else
                        f"session spike on {sensors[0]}: {sessions} sessions")
        d["ashiato"] = {"segments": segments, "score": SCORES[(i * 3) % len(SCORES)],
                        "evidence": evidence,
                        "targets": {"hosts": len(hosts) * 10 + i % 4, "ports": len(ports) * 5},
                        "sessions": sessions, "successes": sessions - failures,
                        "failures": failures}
        if rule == "session_spike":
            d["ashiato"]["sources"] = [f"10.4.{i % 5}.{k}" for k in range(1, 1 + i % 4)] + \
                                      ["198.18.7.7"]
        if rule == "address_policy":
            d["ashiato"]["prefix"] = "192.168.0.0/16" if i % 2 else "10.3.0.0/16"
        docs.append(d)
    return docs


def expressions(docs):
    """The table: every alert field, every operator that applies to its type, lists, CIDR and
    partial addresses, wildcards, regex, EXISTS!, ranges, decimals, and the negations."""
    one = docs[15]
    return [
        "rule.name == address_scan",
        "rule.name != [address_scan,port_scan]",
        "rule == port_scan && tags != approved",
        "type == /.*_scan/",
        "tags == approved",
        "tags == EXISTS!",
        "tags != EXISTS!",
        "source.ip == 10.1.0.0/16",
        "ip.src != 10.1",
        "source.ip == EXISTS!",
        "source.ip != EXISTS!",
        "source.ip == 2001:db8::/32",
        "destination.ip == 10.2.3.0/24",
        "destination.ip != 10.2.3.0/24",
        "ip.dst == ]10.2.3.4,10.2.3.5[",
        "ip.dst == [10.9.9.9,198.19.0.77]",
        "ip == 10.9.9.9",
        "ip == 198.18.0.0/15",
        "ip != 10.4",
        "destination.port == 445",
        "port == [22,3389]",
        "destination.port == 1-1024",
        "destination.port > 60000",
        "port.dst <= 80",
        "destination.port != EXISTS!",
        "observer.name == dept-1",
        "node == ]dept-1,dept-2[",
        "sensor == dept-*",
        "observer.name != [dept-3,dept-4]",
        "ashiato.segments == outside",
        "segment != [dept-1,dept-3]",
        "segments == EXISTS!",
        "score >= 2",
        "score < 1.5",
        "ashiato.score == 0.25-1",
        "ashiato.score == 3.75",
        "score != 12",
        "score > 1.2 && score <= 6.4",
        'event.start >= "2026/12/06 14:00:00"',
        f'starttime == "{docs[7]["event"]["start"][:19].replace("T", " ").replace("-", "/")}"',
        "event.end < 2026-12-06T12:00:00Z",
        "stoptime > 1765022400",
        "message == *scan*",
        r"message == /.*from 10\.1\..*/",
        f'message == "{one["message"]}"',
        "message != *hosts*",
        f"evidence == {one['ashiato']['evidence'][0][:3]}*" if one["ashiato"]["evidence"]
        else "evidence == 0*",
        "ashiato.evidence == EXISTS!",
        f"id == [{docs[3]['event']['id']},{docs[40]['event']['id']}]",
        "id == alert-001*",
        "alert.id != /alert-00[0-4].*/",
        "sessions > 100",
        "failures >= 10 && successes == 0-50",
        "targets.hosts >= 25 || targets.ports >= 15",
        "sources == EXISTS!",
        "ashiato.sources == 10.4.2.0/24",
        'prefix == "192.168.0.0/16"',
        "prefix != EXISTS!",
        "!(rule.name == session_spike) && score > 1",
        "(rule.name == lateral_movement || rule.name == scanner) && !(tags == approved)",
        "rule.name == address_policy || ip == 2001:db8:1::/48 && port == 445",
        "!(ip == 10.0.0.0/8 || observer.name == dept-2)",
    ]


BAD = [   # (expression, position of the fault, a word the message must hold)
    ("rule.nam == address_scan", 0, "rule.name"),
    ("packets == 1", 0, "unknown field"),
    ("score >= abc", 9, "decimal"),
    ("tags == approved &&", 19, "expected"),
    ("source.ip == 10.1.2.3:80", 13, "port"),
    ("message > abc", 10, "numbers and times"),
    ("destination.port == 10-2", 20, "range"),
    ("(rule.name == scanner", 21, "')'"),
]


def ids_of(answer):
    return [d["event"]["id"] for d in answer["data"]]


def ask(url, expr, **extra):
    params = {"date": -1, "length": 100000, "expression": expr}
    params.update(extra)
    return env.get_json(url, "/alerts.json", params)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The documents, a users file, and one aggregator per store that holds them."""
    tmp = tmp_path_factory.mktemp("alert_query")
    docs = make_alerts()
    lines = tmp / "alerts.jsonl"
    lines.write_text("".join(json.dumps(d) + "\n" for d in docs))
    users = tmp / "users"
    env.add_user(BIN / "ashiato", users, "alice", "secret")
    stacks, node = {}, None
    try:
        db = tmp / "sqlite" / "alerts.db"
        db.parent.mkdir()
        r = subprocess.run([str(PUT), "--store", f"sqlite://{db}", str(lines)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stdout.strip() == f"put {len(docs)}", r.stderr
        stacks["sqlite"] = env.Stack(BIN, tmp / "sqlite", [], users, store=f"sqlite://{db}")
        if unavailable_reason() is None:
            node = OpenSearchNode(tmp / "os")
            node.start()
            print(f"\nopensearch node up in {node.start_seconds:.1f} s at {node.url}")
            r = subprocess.run([str(PUT), "--store", node.url, str(lines)],
                               capture_output=True, text=True, timeout=300)
            assert r.returncode == 0 and r.stdout.strip() == f"put {len(docs)}", r.stderr
            node.request("POST", "/ashiato-alerts-*/_refresh")
            stacks["opensearch"] = env.Stack(BIN, tmp / "opensearch", [], users, store=node.url)
        yield {"docs": docs, "stacks": stacks, "users": users, "tmp": tmp}
    finally:
        for st in stacks.values():
            st.close()
        if node:
            node.stop()


def test_expressions_equal_the_oracle(world):
    docs, exprs = world["docs"], expressions(world["docs"])
    assert len(exprs) >= 25
    newest_first = [d["event"]["id"] for d in sorted(docs, key=lambda d: d["event"]["id"])]
    newest_first.sort(key=lambda i: next(oracle.to_us(d["event"]["start"]) for d in docs
                                         if d["event"]["id"] == i), reverse=True)
    sizes, answers = [], {}
    for name, st in world["stacks"].items():
        status, a = ask(st.url, "")
        assert status == 200 and a["recordsTotal"] == len(docs), (name, a)
        assert ids_of(a) == newest_first, name
        answers[name] = []
        for e in exprs:
            want = oracle.select_alerts(e, docs)
            status, a = ask(st.url, e)
            assert status == 200, (name, e, a)
            got = ids_of(a)
            assert set(got) == want, (name, e, sorted(set(got) ^ want))
            assert a["recordsFiltered"] == len(want) and a["recordsTotal"] == len(docs)
            assert got == [i for i in newest_first if i in want], (name, e)
            answers[name].append(got)
            if name == "sqlite":
                sizes.append(len(want))
    for e, n in zip(exprs, sizes):
        print(f"{n:3d} of {len(docs)}  {e}")
    nonempty = sum(1 for n in sizes if 0 < n < len(docs))
    print(f"{len(exprs)} expressions, {nonempty} select some but not all; stores: "
          f"{', '.join(world['stacks'])}")
    assert nonempty >= len(exprs) * 0.8          # the table discriminates
    if "opensearch" in answers:
        assert answers["opensearch"] == answers["sqlite"]


def test_paging_and_window_with_an_expression(world):
    docs = world["docs"]
    e = "rule.name != session_spike && score >= 1"
    want = oracle.select_alerts(e, docs)
    for name, st in world["stacks"].items():
        status, full = ask(st.url, e)
        assert status == 200
        status, page = ask(st.url, e, length=4, start=3)
        assert status == 200 and ids_of(page) == ids_of(full)[3:7], name
        assert page["recordsFiltered"] == len(want)
        # a time window and the expression together: startTime/stopTime on event.start
        lo, hi = T0 + datetime.timedelta(hours=2), T0 + datetime.timedelta(hours=5)
        status, w = env.get_json(st.url, "/alerts.json", {
            "startTime": lo.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "stopTime": hi.strftime("%Y-%m-%dT%H:%M:%SZ"), "expression": e, "length": 1000})
        assert status == 200, w
        inside = {i for i in want for d in docs if d["event"]["id"] == i and
                  lo.timestamp() * 1e6 <= oracle.to_us(d["event"]["start"]) <=
                  hi.timestamp() * 1e6}
        assert set(ids_of(w)) == inside and inside and inside != want, name
        print(f"{name}: page 4 from 3 of {len(want)}, window {len(inside)}")


def test_bad_expressions_get_400_with_the_position(world):
    for name, st in world["stacks"].items():
        for e, pos, word in BAD:
            status, a = ask(st.url, e)
            assert status == 400, (name, e, a)
            assert a.get("position") == pos and word in a["error"], (name, e, a)
        print(f"{name}: {len(BAD)} bad expressions answered 400 with their positions")


def test_fields_json_lists_the_alert_fields(world):
    st = world["stacks"]["sqlite"]
    status, f = env.get_json(st.url, "/fields.json", {"type": "alerts"})
    assert status == 200
    names = {x["exp"] for x in f}
    assert names == set(oracle.ALERT_FIELDS), names ^ set(oracle.ALERT_FIELDS)
    types = {x["exp"]: x["ashiatoType"] for x in f}
    assert types["ashiato.score"] == "float" and types["destination.ip"] == "ip"
    status, s = env.get_json(st.url, "/fields.json")
    assert status == 200 and "ip.src" in {x["exp"] for x in s} and "rule.name" not in \
        {x["exp"] for x in s}
    status, bad = env.get_json(st.url, "/fields.json", {"type": "bogus"})
    assert status == 400 and "type" in bad["error"]
    print(f"fields.json?type=alerts: {len(f)} fields; sessions: {len(s)}")


def test_cli_alerts_expression(world):
    docs = world["docs"]
    e = "tags == approved || score >= 6"
    want = oracle.select_alerts(e, docs)
    for name, st in world["stacks"].items():
        environ = dict(os.environ, ASHIATO_URL=st.url, ASHIATO_USER="alice",
                       ASHIATO_PASSWORD="secret", HOME=str(world["tmp"]))
        r = subprocess.run([str(BIN / "ashiato"), "alerts", "--expression", e, "--format",
                            "json", "--limit", "0"], capture_output=True, text=True,
                           env=environ, timeout=60)
        assert r.returncode == 0, r.stderr
        got = [json.loads(x)["event"]["id"] for x in r.stdout.splitlines()]
        assert set(got) == want and len(got) == len(want), name
        r = subprocess.run([str(BIN / "ashiato"), "alerts", e], capture_output=True, text=True,
                           env=environ, timeout=60)
        assert r.returncode == 0 and f"of {len(want)} matching alerts" in r.stderr
        assert len(r.stdout.splitlines()) == 1 + len(want)
        r = subprocess.run([str(BIN / "ashiato"), "alerts", "--expression", "score >= x"],
                           capture_output=True, text=True, env=environ, timeout=60)
        assert r.returncode == 2 and "9" in r.stderr, r.stderr
        r = subprocess.run([str(BIN / "ashiato"), "alerts", "--list-fields"],
                           capture_output=True, text=True, env=environ, timeout=60)
        assert r.returncode == 0 and "ashiato.score" in r.stdout
        print(f"{name}: ashiato alerts --expression {e!r}: {len(got)} alerts")



def test_servers_stopped_clean(world):
    """Last: each aggregator stops on SIGTERM with no sanitizer report in its log (the ASan
    build's leak check runs at exit)."""
    for name, st in world["stacks"].items():
        st.close()
        assert st.agg.returncode == 0, (name, st.agg_log.read_text()[-2000:])
        log = st.agg_log.read_text()
        assert env.no_sanitizer_report(log), (name, log[-3000:])
        print(f"{name}: aggregator exited 0, no sanitizer report")
