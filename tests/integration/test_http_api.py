"""test_http_api.py -- the aggregator's HTTP API and the `ashiato` CLI over campusgen traffic
from three sensors (issue 10, parts 4-6): real ashiato-aggregator, ashiato-sensor and ashiato
processes, curl --anyauth as the analysts typed it, a hand-made digest client for the replay.

Acceptance points checked here:
- the seed's query, verbatim with campusgen's campus prefix, returns exactly the sessions a
  brute-force filter of the sensors' own JSON output selects (SQLite store);
- digest auth: curl --anyauth works, a wrong password and an unknown user answer alike,
  missing auth is 401, a replayed nonce+nc is refused;
- bad input gets the right status and message and nothing crashes;
- sessions.pcap across three sensors equals, byte for byte, the union of those sessions'
  packets in the original captures; with one sensor stopped the answer comes within 5 s and
  names it;
- the CLI (query, pcap, sensors, fields, user).
The ingest-while-querying measure is test_http_ingest.py.
"""
import ipaddress
import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

import api_env as env

SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build"))
BIN = BUILD_DIR / "bin"
SHARED = SOURCE_DIR.parent / "shared"
CAMPUS = ipaddress.ip_network("198.18.0.0/16")
SEED = ("packets == 1 && ip.protocol == tcp && ip.src != 198.18.0.0/16 && "
        "ip.dst != 198.18.0.0/16")

pytestmark = pytest.mark.skipif(not (SHARED / "tools" / "campusgen.py").exists(),
                                reason="campusgen not found (../shared next to the source tree)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("api")
    caps = env.campusgen(SHARED, work / "campus")
    users = work / "users"
    env.add_user(BIN / "ashiato", users, "alice", "secret")
    env.add_user(BIN / "ashiato", users, "bob", "hunter2", pcap=False)
    st = env.Stack(BIN, work / "run", sorted(caps.glob("sensor-*.pcap")), users)
    try:
        want = None
        for _ in range(600):                 # until every session the sensors wrote is stored
            status, d = env.get_json(st.url, "/sessions.json", {"date": -1, "length": 0})
            total = sum(len(st.sessions(n)) for n in st.sensors) if all(
                (st.work / n / "sessions.json").exists() for n in st.sensors) else -1
            if status == 200 and d["recordsTotal"] == total and total > 0:
                if want == total:
                    break
                want = total
            time.sleep(0.5)
        else:
            pytest.fail("sessions never all arrived:\n" + st.logs()[-3000:])
        st.users = users
        yield st
    finally:
        st.close()
        assert env.no_sanitizer_report(st.logs()), st.logs()[-5000:]


def ids(docs):
    return {d["ashiato"]["session_id"] for d in docs}


def in_campus(ip):
    return ipaddress.ip_address(ip) in CAMPUS


def test_seed_query_matches_brute_force(stack):
    everything = stack.all_sessions()
    want = {d["ashiato"]["session_id"] for d in everything
            if d["network"].get("packets") == 1 and d["network"].get("transport") == "tcp"
            and not in_campus(d["source"]["ip"]) and not in_campus(d["destination"]["ip"])}
    # verbatim, through curl --anyauth and user:pass@ in the URL, as the analysts typed it
    q = "date=-1&length=100000&expression=" + __import__("urllib.parse").parse.quote(SEED)
    r = subprocess.run(["curl", "-sS", "--anyauth",
                        f"http://alice:secret@127.0.0.1:{stack.http_port}/sessions.json?{q}"],
                       capture_output=True, timeout=60)
    d = json.loads(r.stdout)
    got = {s["id"] for s in d["data"]}
    print(f"seed query: {len(got)} sessions from API, {len(want)} by brute force over "
          f"{len(everything)} sessions of {len(stack.sensors)} sensors")
    assert want, "campusgen's misconfig event should give 1-packet TCP sessions outside the campus"
    assert got == want
    assert d["recordsFiltered"] == len(want) and d["recordsTotal"] == len(everything)


def test_digest_auth(stack):
    status, _, _ = env.curl(stack.url, "/stats.json")
    assert status == 200
    # no credentials: 401 with a digest challenge
    status, headers, body = env.curl(stack.url, "/sessions.json", user=None)
    assert status == 401 and 'WWW-Authenticate: Digest realm="ashiato"' in headers
    assert json.loads(body)["error"]
    # a wrong password and an unknown user answer alike (status, body, challenge)
    s1, h1, b1 = env.curl(stack.url, "/sessions.json", user="alice", password="nope")
    s2, h2, b2 = env.curl(stack.url, "/sessions.json", user="mallory", password="nope")
    assert s1 == s2 == 401 and b1 == b2
    strip = lambda h: sorted(ln.split("nonce=")[0] for ln in h.splitlines()
                             if ln.startswith(("HTTP/", "WWW-Authenticate", "Content-Type")))
    assert strip(h1) == strip(h2)
    # a replayed Authorization (same nonce, same nc) is refused
    dg = env.Digest(stack.url, "alice", "secret")
    ch = dg.challenge("/stats.json")
    auth = dg.authorization("/stats.json", ch, nc=1)
    first, _ = dg.get("/stats.json", auth)
    again, body = dg.get("/stats.json", auth)
    assert first == 200 and again == 401, (first, again, body)
    assert json.loads(body)["error"]
    # basic auth over plaintext is refused with a reason
    status, _, body = env.curl(stack.url, "/stats.json", user=None,
                               extra=["--basic", "-u", "alice:secret"])
    assert status == 401 and b"only over TLS" in body
    audit = [json.loads(ln) for ln in stack.audit.read_text().splitlines()]
    assert any(a["status"] == 401 and a["user"] in ("alice", "mallory") for a in audit)


def test_login_cookie_serves_parallel_requests(stack):
    """One digest check gives a session cookie (HttpOnly, SameSite=Strict); with it, eight
    parallel requests to eight URIs all answer 200. Without it, libmicrohttpd 0.9.75 binds
    each nonce to its URI, so a browser's parallel requests raced each other's fresh nonces
    into 401s (test_web at load 10). A made-up or absent cookie still gets the challenge."""
    import concurrent.futures
    import urllib.error
    import urllib.request
    dg = env.Digest(stack.url, "alice", "secret")
    ch = dg.challenge("/fields.json")
    req = urllib.request.Request(stack.url + "/fields.json",
                                 headers={"Authorization": dg.authorization("/fields.json", ch)})
    with urllib.request.urlopen(req, timeout=10) as r:
        cookie = r.headers.get("Set-Cookie")
    assert cookie and cookie.startswith("ashiato_session="), cookie
    attrs = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs, attrs
    token = attrs[0]
    assert len(token.split("=", 1)[1]) == 64

    def fetch(path, tok):
        rq = urllib.request.Request(stack.url + path, headers={"Cookie": tok} if tok else {})
        try:
            with urllib.request.urlopen(rq, timeout=30) as r:
                return r.status, r.headers.get("Set-Cookie")
        except urllib.error.HTTPError as e:
            return e.code, None

    paths = ["/", "/web/app.js", "/web/api.js", "/fields.json", "/stats.json", "/metrics",
             "/sessions.json?date=-1&length=1", "/alerts.json?date=-1"]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(lambda p: fetch(p, token), paths))
    print(f"cookie: {len(paths)} parallel requests: {[g[0] for g in got]}")
    assert [g[0] for g in got] == [200] * len(paths), list(zip(paths, got))
    assert all(g[1] is None for g in got), "a session already held got another cookie"
    assert fetch("/fields.json", "ashiato_session=" + "0" * 64)[0] == 401
    assert fetch("/fields.json", token + "0")[0] == 401
    assert fetch("/fields.json", None)[0] == 401
    audit = [json.loads(ln) for ln in stack.audit.read_text().splitlines()]
    assert any(a["user"] == "alice" and a["endpoint"] == "/web/api.js" and a["status"] == 200
               for a in audit), "requests by cookie are audited under the user"


def test_sessions_json_shapes(stack):
    status, d = env.get_json(stack.url, "/sessions.json", {"date": -1, "length": 5})
    assert status == 200
    assert set(d) >= {"data", "recordsTotal", "recordsFiltered", "graph"}
    g = d["graph"]
    assert g["interval"] == 3600                       # date=-1: an hour, as Arkime
    assert sum(c for _, c in g["sessionsHisto"]) == d["recordsFiltered"]
    for k in ("source.packetsHisto", "destination.packetsHisto", "source.bytesHisto",
              "destination.bytesHisto"):
        assert all(len(p) == 2 and p[0] % 3600000 == 0 for p in g[k])
    assert len(d["data"]) == 5 and all("id" in s for s in d["data"])
    start = min(s["event"]["start"] for s in stack.all_sessions())
    t0 = int(__import__("datetime").datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp())
    for span, interval in ((600, 1), (86400, 60), (10 * 86400, 3600)):
        status, d = env.get_json(stack.url, "/sessions.json",
                                 {"startTime": t0, "stopTime": t0 + span, "length": 0})
        assert status == 200 and d["graph"]["interval"] == interval, (span, d["graph"]["interval"])
    # paging: start/length walk the same order; order=desc reverses it
    _, a = env.get_json(stack.url, "/sessions.json", {"date": -1, "length": 20})
    _, b = env.get_json(stack.url, "/sessions.json", {"date": -1, "length": 10, "start": 10})
    assert [s["id"] for s in a["data"][10:]] == [s["id"] for s in b["data"]]
    _, c = env.get_json(stack.url, "/sessions.json", {"date": -1, "length": 3,
                                                      "order": "firstPacket:desc"})
    assert c["data"][0]["event"]["start"] >= a["data"][-1]["event"]["start"]
    # fields: only those (under their ECS names), plus the id
    _, f = env.get_json(stack.url, "/sessions.json", {"date": -1, "length": 3,
                                                      "fields": "ip.src,port.dst"})
    for s in f["data"]:
        assert set(s) <= {"source", "destination", "id"} and "ip" in s["source"]
    # csv: a header and one line per session
    status, _, body = env.curl(stack.url, "/sessions.csv", {"date": -1, "length": 7,
                                                            "fields": "ip.src,ip.dst,node"})
    lines = body.decode().strip().split("\r\n")
    assert status == 200 and lines[0] == "ip.src,ip.dst,node" and len(lines) == 8
    # one session, whole, with its linked sessions
    sid = a["data"][0]["id"]
    status, one = env.get_json(stack.url, f"/session/{sid}.json")
    assert status == 200 and one["data"]["ashiato"]["session_id"] == sid and "linked" in one
    status, _ = env.get_json(stack.url, "/session/000000-nosuchsession.json")
    assert status == 404


def test_aggregations(stack):
    everything = stack.all_sessions()
    status, _, body = env.curl(stack.url, "/unique.txt", {"date": -1, "field": "node", "counts": 1})
    assert status == 200
    got = dict((ln.split(", ")[0], int(ln.split(", ")[1])) for ln in body.decode().splitlines())
    want = {}
    for d in everything:
        want[d["observer"]["name"]] = want.get(d["observer"]["name"], 0) + 1
    assert got == want
    status, sg = env.get_json(stack.url, "/spigraph.json", {"date": -1, "field": "ip.protocol"})
    assert status == 200 and sum(i["count"] for i in sg["items"]) == len(everything)
    assert all(sum(c for _, c in i["graph"]["sessionsHisto"]) == i["count"] for i in sg["items"])
    status, cn = env.get_json(stack.url, "/connections.json",
                              {"date": -1, "srcField": "ip.src", "dstField": "ip.dst"})
    assert status == 200 and sum(l["value"] for l in cn["links"]) == len(everything)
    pairs = {(d["source"]["ip"], d["destination"]["ip"]) for d in everything}
    assert len(cn["links"]) == len(pairs)
    status, f = env.get_json(stack.url, "/fields.json")
    assert status == 200 and any(x["exp"] == "ip.src" for x in f)
    for _ in range(100):                     # each sensor sends its stats every 500 ms
        status, s = env.get_json(stack.url, "/stats.json")
        if status == 200 and {x["sensor"] for x in s["data"]} == set(stack.sensors):
            break
        time.sleep(0.1)
    assert status == 200 and {x["sensor"] for x in s["data"]} == set(stack.sensors), s
    assert s["aggregator"]["records"] >= len(everything)
    status, _, m = env.curl(stack.url, "/metrics")
    assert status == 200 and b"ashiato_aggregator_records_total" in m
    assert b'ashiato_sensor_packets_total{sensor="dept-2"}' in m
    status, al = env.get_json(stack.url, "/alerts.json", {"date": -1})
    assert status == 200 and set(al) >= {"data", "recordsTotal", "recordsFiltered"}



# unique.txt / spigraph.json against a brute-force tally of the sensors' own JSON output. The
# fields count_by answers (ip.dst, port.dst, node, ip.protocol, host.dns: several values or
# none) come from the store's buckets; the rule both ways follow (docs/api.md): a session
# counts once under each distinct non-empty value, sorted by count descending then by the
# value's text in byte order, so equal counts come in one documented order.
AGG_FIELDS = {"ip.dst": "destination.ip", "port.dst": "destination.port",
              "node": "observer.name", "ip.protocol": "network.transport",
              "host.dns": "dns.question.name"}
AGG_EXPRS = {
    None: lambda d: True,
    "ip.protocol == udp": lambda d: d["network"].get("transport") == "udp",
    "port.dst == [53,443]": lambda d: d.get("destination", {}).get("port") in (53, 443),
    "ip.src != 198.18.0.0/16": lambda d: not in_campus(d["source"]["ip"]),
}


def doc_values(d, path):
    """The distinct non-empty values at a dotted path (arrays walked), as unique.txt prints."""
    vals = [d]
    for part in path.split("."):
        nxt = []
        for v in vals:
            for x in (v if isinstance(v, list) else [v]):
                if isinstance(x, dict) and part in x:
                    nxt.append(x[part])
        vals = nxt
    flat = [x for v in vals for x in (v if isinstance(v, list) else [v])]
    return {str(x) for x in flat if str(x) != ""}


def tally(docs, path):
    counts = {}
    for d in docs:
        for v in doc_values(d, path):
            counts[v] = counts.get(v, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))


def start_ms(d):
    t = __import__("datetime").datetime.fromisoformat(d["event"]["start"].replace("Z", "+00:00"))
    return int(t.timestamp() * 1000)


@pytest.mark.parametrize("expr", list(AGG_EXPRS), ids=lambda e: e or "all")
def test_unique_and_spigraph_match_brute_force(stack, expr):
    docs = [d for d in stack.all_sessions() if AGG_EXPRS[expr](d)]
    base = {"date": -1, **({"expression": expr} if expr else {})}
    ties = 0
    for field, path in AGG_FIELDS.items():
        want = tally(docs, path)
        status, _, body = env.curl(stack.url, "/unique.txt", {**base, "field": field, "counts": 1})
        assert status == 200, body
        got = [(ln.rsplit(", ", 1)[0], int(ln.rsplit(", ", 1)[1]))
               for ln in body.decode().splitlines()]
        assert got == want, (field, expr)
        status, _, body = env.curl(stack.url, "/unique.txt", {**base, "field": field})
        assert status == 200 and body.decode().splitlines() == [k for k, _ in want]
        ties += sum(1 for i in range(1, len(want)) if want[i][1] == want[i - 1][1])
        for size in (1, 3, 20):
            status, sg = env.get_json(stack.url, "/spigraph.json",
                                      {**base, "field": field, "size": size})
            assert status == 200, sg
            assert sg["recordsFiltered"] == len(docs) and sg["interval"] == 3600
            assert [(i["name"], i["count"]) for i in sg["items"]] == want[:size], (field, size)
            for it in sg["items"]:
                h = {}
                for d in docs:
                    if it["name"] in doc_values(d, path):
                        k = start_ms(d) // 3600000 * 3600000
                        h[k] = h.get(k, 0) + 1
                assert it["graph"]["sessionsHisto"] == [[k, c] for k, c in sorted(h.items())]
        print(f"{expr or 'all'}: {field}: {len(want)} values, top {want[:3]}")
    assert ties, "the traffic should give equal counts to check their order"
    # a pseudo-field names several fields: refused by both, as before
    status, err = env.get_json(stack.url, "/unique.txt", {**base, "field": "protocols"})
    assert status == 400 and "several fields" in err["error"]


BAD = [
    # (params, status, text the error must contain)
    ({"date": -1, "expression": "ip.src == 1.2.3.4 &&"}, 400, "expected"),
    ({"date": -1, "expression": "(" * 5000 + "ip.src == 1.2.3.4" + ")" * 5000}, 400, "deep"),
    ({"date": -1, "expression": "ip.sorce == 1.2.3.4"}, 400, "ip.src"),
    ({"date": -1, "expression": "host.http == \"a'); DROP TABLE sessions; --\""}, 200, None),
    ({"date": -1, "expression": "host.http == \"x\\\"}],\\\"query\\\":{\\\"match_all\\\":{}}\""},
     200, None),
    ({"date": -1, "expression": "host.http == \"\\\\\""}, 200, None),
    ({"date": -1, "expression": "ip.src == 999.1.1.1"}, 400, "expression"),
    ({"date": -1, "length": 10**12}, 400, "length"),
    ({"date": -1, "length": "ten"}, 400, "length"),
    ({"date": -1, "start": -5}, 400, "start"),
    ({"startTime": "yesterday", "stopTime": "now"}, 400, "startTime"),
    ({"startTime": 100}, 400, "stopTime"),
    ({"startTime": 200, "stopTime": 100}, 400, "stopTime"),
    ({"date": "x"}, 400, "date"),
    ({"date": -1, "order": "start:sideways"}, 400, "order"),
    ({"date": -1, "fields": "ip.src,nonsense.field"}, 400, "nonsense.field"),
    ({"date": -1, "bounding": "middle"}, 400, "bounding"),
    ({"date": -1, "interval": "fortnight"}, 400, "interval"),
]


@pytest.mark.parametrize("params,status,text", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input(stack, params, status, text):
    got, body = env.get_json(stack.url, "/sessions.json", params)
    assert got == status, (params, got, body)
    if text:
        assert text in body["error"], body
        if "expression" in params and got == 400 and "position" in body:
            assert 0 <= body["position"] <= len(params["expression"])
    else:
        assert body["recordsFiltered"] == 0          # quotes and backslashes are just values


def test_bad_requests_and_headers(stack):
    # a NUL byte in a value, a bad id, a wrong method, an unknown path, an oversized header
    status, _, body = env.curl(stack.url, "/sessions.json?date=-1&expression=a%00b")
    assert status == 400 and b"NUL" in body
    assert env.curl(stack.url, "/session/..%2f..%2fetc.json")[0] == 404
    assert env.curl(stack.url, "/nothing.json")[0] == 404
    assert env.curl(stack.url, "/sessions.json", extra=["-X", "DELETE"])[0] == 405
    big = b"GET /stats.json HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n"
    status = env.raw_status(stack.http_port, big)
    assert status in (413, 431, 400), status
    long_uri = b"GET /sessions.json?expression=" + b"a" * 300000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status = env.raw_status(stack.http_port, long_uri)
    assert status in (413, 414, 431, 400), status
    assert env.raw_status(stack.http_port, b"\x00\x01garbage\r\n\r\n") in (0, 400)
    assert stack.agg.poll() is None, "the aggregator died"
    assert env.curl(stack.url, "/stats.json")[0] == 200


def test_pcap_permission(stack):
    status, _, body = env.curl(stack.url, "/sessions.pcap", {"date": -1, "expression": "port.dst == 53"},
                               user="bob", password="hunter2")
    assert status == 403 and b"may not download packets" in body
    audit = [json.loads(ln) for ln in stack.audit.read_text().splitlines()]
    assert any(a["user"] == "bob" and a["status"] == 403 for a in audit)


def test_cli(stack, tmp_path):
    e = dict(os.environ, ASHIATO_URL=stack.url, ASHIATO_USER="alice", ASHIATO_PASSWORD="secret",
             HOME=str(tmp_path))
    cli = str(BIN / "ashiato")
    r = subprocess.run([cli, "query", SEED, "--format", "json", "--limit", "0"], env=e,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    _, d = env.get_json(stack.url, "/sessions.json", {"date": -1, "expression": SEED, "length": 100000})
    assert {json.loads(ln)["id"] for ln in r.stdout.splitlines()} == {s["id"] for s in d["data"]}
    r = subprocess.run([cli, "query", SEED, "--format", "csv", "--fields", "ip.src,ip.dst"], env=e,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "ip.src,ip.dst"
    r = subprocess.run([cli, "query", "ip.sr == 1"], env=e, capture_output=True, text=True)
    assert r.returncode == 2 and "ip.src" in r.stderr and "at character" in r.stderr
    r = subprocess.run([cli, "query", "port.dst == 53", "--limit", "3"], env=e, capture_output=True,
                       text=True)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 4
    r = subprocess.run([cli, "sensors"], env=e, capture_output=True, text=True)
    assert r.returncode == 0 and all(n in r.stdout for n in stack.sensors)
    r = subprocess.run([cli, "fields"], env=e, capture_output=True, text=True)
    assert r.returncode == 0 and "ip.src" in r.stdout
    r = subprocess.run([cli, "fields", "--json"], env=e, capture_output=True, text=True)
    assert r.returncode == 0 and any(f["exp"] == "ip.src" for f in json.loads(r.stdout))
    # the table, and the window (cli/api_list.c): --until alone bounds it, as --since does
    r = subprocess.run([cli, "query", SEED, "--limit", "0"], env=e, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split()[:3] == ["start", "sensor", "src"]
    assert len(r.stdout.splitlines()) == len(d["data"]) + 1
    for window, n in ((["--until", "1"], 0), (["--since", "1"], len(d["data"])),
                      (["--since", "1", "--until", "2"], 0)):
        r = subprocess.run([cli, "query", SEED, "--format", "json", "--limit", "0", *window], env=e,
                           capture_output=True, text=True)
        assert r.returncode == 0 and len(r.stdout.splitlines()) == n, (window, r.stderr)
    r = subprocess.run([cli, "query", SEED, "--format", "xml"], env=e, capture_output=True, text=True)
    assert r.returncode == 1 and "expected table, json or csv, got 'xml'" in r.stderr
    bad = dict(e, ASHIATO_PASSWORD="wrong")
    r = subprocess.run([cli, "sensors"], env=bad, capture_output=True, text=True)
    assert r.returncode == 2 and "401" in r.stderr
    # the same through cli.ini (mode 0600), no environment
    ini = tmp_path / ".config" / "ashiato" / "cli.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text(f"[cli]\nurl = {stack.url}\nuser = alice\npassword = secret\n")
    ini.chmod(0o644)
    plain = {k: v for k, v in e.items() if not k.startswith("ASHIATO_")}
    r = subprocess.run([cli, "sensors"], env=plain, capture_output=True, text=True)
    assert r.returncode == 1 and "chmod 600" in r.stderr
    ini.chmod(0o600)
    r = subprocess.run([cli, "sensors"], env=plain, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # pcap through the API equals the API's own answer
    out = tmp_path / "cli.pcap"
    r = subprocess.run([cli, "pcap", "ip.dst == 198.18.100.10", "-o", str(out)], env=e,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    _, _, body = env.curl(stack.url, "/sessions.pcap", {"date": -1, "expression": "ip.dst == 198.18.100.10"})
    assert out.read_bytes() == body and len(body) > 24


def test_user_command(tmp_path):
    cli = str(BIN / "ashiato")
    users = tmp_path / "u"
    env.add_user(cli, users, "carol", "pw1")
    env.add_user(cli, users, "dave", "pw2", pcap=False)
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    text = users.read_text()
    assert "pw1" not in text and "pw2" not in text
    r = subprocess.run([cli, "user", "list", "--users", str(users)], capture_output=True, text=True)
    assert r.stdout.splitlines() == ["carol\trealm=ashiato\tpcap", "dave\trealm=ashiato\tnopcap"]
    # HA1 = MD5(name:realm:password), as RFC 7616 and htdigest
    import hashlib
    assert hashlib.md5(b"carol:ashiato:pw1").hexdigest() in text
    subprocess.run([cli, "user", "del", "--users", str(users), "carol"], check=True)
    r = subprocess.run([cli, "user", "list", "--users", str(users)], capture_output=True, text=True)
    assert r.stdout.splitlines() == ["dave\trealm=ashiato\tnopcap"]
    # a users file others may read is refused, by the CLI and by the aggregator
    users.chmod(0o644)
    r = subprocess.run([cli, "user", "list", "--users", str(users)], capture_output=True, text=True)
    assert r.returncode == 1 and "chmod 600" in r.stderr
    r = subprocess.run([str(BIN / "ashiato-aggregator"), "--insecure", "--store", "null:",
                        "--listen", f"tcp://127.0.0.1:{env.free_port()}",
                        "--http-listen", f"127.0.0.1:{env.free_port()}",
                        "--http-users", str(users)], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "chmod 600" in r.stderr


def test_sessions_pcap_three_sensors(stack):
    expr = "ip.dst == 198.18.100.53"           # the campus resolver: every department asks it
    want_docs = [d for d in stack.all_sessions() if d["destination"]["ip"] == "198.18.100.53"]
    sensors = {d["observer"]["name"] for d in want_docs}
    assert len(sensors) == 3, sensors
    caps = {n: env.pcap_records((stack.work.parent / "campus" / f"sensor-{n.split('-')[1]}.pcap")
                                .read_bytes())[1] for n in sensors}
    want = []
    for d in want_docs:
        want += [rec for _, rec in env.session_packets(caps[d["observer"]["name"]], d)]
    t0 = time.monotonic()
    status, headers, body = env.curl(stack.url, "/sessions.pcap", {"date": -1, "expression": expr})
    took = time.monotonic() - t0
    assert status == 200 and "X-Ashiato-Failed-Sensors" not in headers, headers
    _, got = env.pcap_records(body)
    times = [t for t, _ in got]
    print(f"sessions.pcap: {len(want_docs)} sessions of {len(sensors)} sensors, {len(got)} packets, "
          f"{len(body)} bytes in {took:.3f} s")
    assert times == sorted(times)
    assert sorted(rec for _, rec in got) == sorted(want)     # byte for byte, as a multiset
    # one sensor stopped: the answer comes within 5 s and names it
    stack.stop_sensor("dept-6")
    t0 = time.monotonic()
    status, headers, body = env.curl(stack.url, "/sessions.pcap", {"date": -1, "expression": expr},
                                     timeout=30)
    took = time.monotonic() - t0
    print(f"with dept-6 stopped: HTTP {status} in {took:.3f} s")
    assert took < 5.0
    assert status == 200 and "X-Ashiato-Failed-Sensors:" in headers and "dept-6" in headers
    _, partial = env.pcap_records(body)
    keep = sorted(rec for d in want_docs if d["observer"]["name"] != "dept-6"
                  for _, rec in env.session_packets(caps[d["observer"]["name"]], d))
    assert sorted(rec for _, rec in partial) == keep
    audit = [json.loads(ln) for ln in stack.audit.read_text().splitlines()]
    assert any(a["endpoint"] == "/sessions.pcap" and "dept-6" in a.get("note", "") for a in audit)


def test_tls_basic_and_plaintext_warning(tmp_path):
    """TLS when a certificate is configured: basic auth is accepted there (and digest still);
    plaintext on a non-loopback address is served with a warning in the log."""
    users = tmp_path / "users"
    env.add_user(BIN / "ashiato", users, "alice", "secret")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    port = env.free_port()
    log = tmp_path / "tls.log"
    with open(log, "w") as out:
        p = subprocess.Popen([str(BIN / "ashiato-aggregator"), "--insecure", "--store", "null:",
                              "--listen", f"tcp://127.0.0.1:{env.free_port()}",
                              "--http-listen", f"127.0.0.1:{port}", "--http-users", str(users),
                              "--http-tls-cert", str(cert), "--http-tls-key", str(key)],
                             stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"https://127.0.0.1:{port}"
        for _ in range(100):
            status, _, _ = env.curl(url, "/fields.json", extra=["--cacert", str(cert)])
            if status:
                break
            time.sleep(0.05)
        assert status == 200, log.read_text()
        status, _, _ = env.curl(url, "/fields.json", user=None,
                                extra=["--cacert", str(cert), "--basic", "-u", "alice:secret"])
        assert status == 200
        status, _, _ = env.curl(url, "/fields.json", user=None,
                                extra=["--cacert", str(cert), "--basic", "-u", "alice:wrong"])
        assert status == 401
        status, _, _ = env.curl(f"http://127.0.0.1:{port}", "/fields.json")
        assert status != 200                      # no plaintext on the TLS port
    finally:
        p.terminate()
        p.wait(timeout=20)
    assert "tls=yes" in log.read_text()
    # plaintext on a non-loopback address: served, with a warning
    port = env.free_port()
    r = subprocess.run([str(BIN / "ashiato-aggregator"), "--insecure", "--store", "null:",
                        "--listen", f"tcp://127.0.0.1:{env.free_port()}",
                        "--http-listen", f"0.0.0.0:{port}", "--http-users", str(users),
                        "--exit-after-idle", "300"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "plaintext HTTP on a non-loopback address" in r.stderr
