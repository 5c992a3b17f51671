"""test_query_differential.py -- Arkime expressions give the same sessions on SQLite, on a real
OpenSearch 2.19.6 node, and in an independent brute-force evaluator over the sensors' JSON
(query_oracle.py). Nothing is mocked.

Campus traffic (campusgen: departments 1, 3 and 6 of six, campus 131.206.0.0/16 as in the
seed's query, 802.1Q tags, every injected event early enough to be in 90 s: the misconfigured
host's single SYNs from 192.168.x.x to the outside that the seed's query finds, the scan, the
lateral sweep, the spike) is read by three real sensors that ship to a real
aggregator, once with a SQLite store and once with the OpenSearch node as its store. The
expressions run through tests/query_driver (store.h -> the query compilers -> the store),
the same path the HTTP API takes. The table holds EXPRESSIONS (every operator, every field
family, precedence, lists, CIDR and partial IPs, ip:port, wildcards, regex, EXISTS!, times)
and the negation of each; values such as a host name are picked from the traffic so that
most expressions select some sessions but not all.

The aggregator runs with detection and a [segments] map (SEGMENTS: the three departments, a
lab nested inside one, the campus around them), so the stores' documents carry
ashiato.segments and the cross-department flows that two sensors saw carry ashiato.linked.
The oracle computes each document's segments itself (query_oracle.segment_of, Python's
ipaddress), checks that both stores rendered the same, and takes ashiato.linked from the
documents each store hands out (the links are the detection's finding, not the query
language's).

Run under the integration lock: flock /tmp/ashiato-itest.lock ctest -R test_query_differential"""
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import query_oracle  # noqa: E402
import transport_env as te  # noqa: E402
from opensearch_node import OpenSearchNode, unavailable_reason  # noqa: E402

SENSORS = ("s1", "s2", "s3")
DEPTS = (1, 3, 6)                    # the departments whose uplinks s1, s2, s3 watch
CAMPUS = "131.206.0.0/16"
SEED = ("packets == 1 && ip.protocol == tcp && ip.src != 131.206.0.0/16 && "
        "ip.dst != 131.206.0.0/16")

# the aggregator's [segments] and [sensors] (longest prefix wins: lab-3 inside dept-3 inside
# the campus); the same list, in file order, is the oracle's
SEGMENTS = [("dept-1", "131.206.1.0/24"), ("dept-3", "131.206.3.0/24"),
            ("dept-6", "131.206.6.0/24"), ("lab-3", "131.206.3.128/25"),
            ("campus", "131.206.0.0/16")]
SEGMENTS_INI = ("[segments]\n" + "".join(f"{n} = {p}\n" for n, p in SEGMENTS) +
                "[sensors]\n" + "".join(f"{s} = dept-{d}\n" for s, d in zip(SENSORS, DEPTS)))

# {name} placeholders are filled from the traffic (facts() below).
EXPRESSIONS = [
    # the seed's query, verbatim, and with one department instead of the campus
    SEED,
    "packets == 1 && ip.protocol == tcp && ip.src != 131.206.1.0/24 && ip.dst != 131.206.1.0/24",
    # IPs: CIDR, partial, lists, ip:port, either side
    "ip.src == 131.206.1.0/24",
    "ip.dst == 131.206",
    "ip == 131.206.2",
    "ip.src != 131.206.0.0/16",
    "ip == [131.206.3.0/24, 203.0.113]",
    "ip.src == ]131.206.0.0/16,131.206.2.0/24[",
    "ip == {server_ip}",
    "ip == {server_ip}:{server_port}",
    "ip.dst == {server_ip}:{server_port}",
    "ip.dst != [192.0.2.0/24, 198.51.100.0/24]",
    # ports: ==, ranges, lists (any, all), < <= > >=
    "port.dst == 443",
    "port.dst == [22,53,80]",
    "port == 80-90",
    "port.src < 1024",
    "port.dst <= 53",
    "port.src > 50000",
    "port.dst >= 40000",
    "port.src == ]1024-65535,50000-60000[",
    "port != [53,443]",
    # protocols
    "ip.protocol == tcp",
    "ip.protocol == [udp, icmp]",
    "ip.protocol == 17",
    "protocols == tcp",
    "protocols == http",
    "protocols == ]tcp,tls[",
    "protocols == /s.*/",
    "network.protocol == dns",
    "tags == smb",
    "tags != [http,tls]",
    # sensor, ids, community id, vlan, type, mac
    "node == s2",
    "node == [s1,s3]",
    "node == s*",
    "id == {session_id}",
    "communityId == \"{community_id}\"",
    "vlan == 102",
    "vlan != [101,103]",
    "ip.version == ipv4",
    "mac.src == \"{mac}\"",
    # counters
    "packets == 1",
    "packets > 40",
    "packets.src == 1 && packets.dst == 0",
    "bytes < 200",
    "bytes.dst > 100000",
    "bytes.src >= 1000",
    "databytes > 10000",
    "databytes <= 100",
    "databytes.src == 0",
    "databytes.dst > 5000",
    # TCP
    "tcpflags.syn == 1 && tcpflags.syn-ack == 0",
    "tcpflags.rst >= 1",
    "tcpflags.fin > 0",
    "tcpflags.ack > 20",
    "conn.state == [S0,REJ]",
    "conn.history == /Sh.*/",
    "conn.state != SF",
    # application fields: exact, wildcard, regex, lists, EXISTS!
    "host.http == {host_http}",
    "host.http != {host_http}",
    "host.http == *.org",
    "host == {dns_name}",
    "host == /(img|cdn)\\..*/",
    "host.dns == *.io",
    "host.dns == [{dns_name}, {host_http}]",
    "tls.sni == {sni}",
    "tls.sni == img.*",
    "tls.version == \"1.3\"",
    "http.method == GET",
    "http.user-agent == curl*",
    "http.user-agent == \"{user_agent}\"",
    "http.statuscode == 404",
    "http.statuscode == ]200,304[",
    "http.statuscode >= 400",
    "dns.status == NXDOMAIN",
    "ssh.client == EXISTS!",
    "ssh.server == *OpenSSH_7*",
    "host.http == EXISTS!",
    "tls.sni != EXISTS!",
    "host == EXISTS!",
    "truncated == false",
    # times
    "starttime >= \"{t_mid}\"",
    "stoptime < \"{t_mid}\"",
    "starttime == \"{t_second}\"",
    "starttime >= {t_mid_epoch} && stoptime <= \"{t_late}\"",
    # precedence and nesting
    "port.dst == 53 || port.dst == 443 && ip.protocol == tcp",
    "(port.dst == 53 || port.dst == 443) && ip.protocol == tcp",
    "!port.dst == 53 && ip.protocol == udp",
    "ip.protocol == udp && !port.dst == 53 || node == s3 && !(vlan == 103)",
    "((node == s1 || node == s2) && !(port.dst == 443 || protocols == dns)) || tcpflags.rst == 1",
    # segments (the current map, expanded into ip.src / ip.dst prefixes) and links
    "ashiato.segments == dept-1",
    "ashiato.segments == outside",
    "segments == [lab-3, dept-6]",
    "ashiato.segments == ]dept-1,campus[",
    "ashiato.segments == dept-*",
    "ashiato.segments == /(lab|camp)[a-z]*-?[0-9]*/",
    "ashiato.segments != campus",
    "ashiato.segments == dept-3 && port.dst == 445",
    "ashiato.linked == EXISTS!",
    "ashiato.linked == \"{linked_id}\"",
    "linked == *@s2",
    "ashiato.segments == dept-6 && ashiato.linked == EXISTS!",
]


def facts(docs):
    """Values for the placeholders, taken from the traffic: common ones, so they match some."""
    def common(path, pred=lambda v: True):
        c = collections.Counter()
        for d in docs:
            for v in query_oracle.values_at(d, path):
                if isinstance(v, str) and pred(v):
                    c[v] += 1
        return c.most_common(1)[0][0]
    servers = collections.Counter((d["destination"]["ip"], d["destination"]["port"]) for d in docs
                                  if not d["destination"]["ip"].startswith("131.206."))
    (server_ip, server_port), _ = servers.most_common(1)[0]
    starts = sorted(query_oracle.to_us(d["event"]["start"]) for d in docs)
    mid, late = starts[len(starts) // 2], starts[len(starts) * 9 // 10]
    fmt = "%Y/%m/%d %H:%M:%S"
    import datetime
    utc = datetime.timezone.utc
    one = starts[len(starts) // 3] // 1000000
    linked = sorted(x for d in docs for x in d["ashiato"].get("linked", []))
    return {
        "linked_id": linked[len(linked) // 2] if linked else "none@none",
        "server_ip": server_ip, "server_port": server_port,
        "session_id": docs[len(docs) // 2]["ashiato"]["session_id"],
        "community_id": docs[len(docs) // 3]["network"]["community_id"],
        "mac": common("source.mac"),
        "host_http": common("url.domain"), "dns_name": common("dns.question.name"),
        "sni": common("tls.client.server_name"), "user_agent": common("user_agent.original"),
        "t_mid": datetime.datetime.fromtimestamp(mid // 1000000, utc).strftime(fmt),
        "t_mid_epoch": mid // 1000000,
        "t_late": datetime.datetime.fromtimestamp(late // 1000000, utc).strftime(fmt),
        "t_second": datetime.datetime.fromtimestamp(one, utc).strftime(fmt),
    }


def table(docs):
    f = facts(docs)
    base = [e.format(**f) for e in EXPRESSIONS]
    return base + [f"!({e})" for e in base]


# ---- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bins(build_dir):
    b = {"sensor": build_dir / "bin" / "ashiato-sensor",
         "agg": build_dir / "bin" / "ashiato-aggregator",
         "driver": build_dir / "tests" / "query_driver"}
    for k, p in b.items():
        assert p.exists(), f"{p} not built"
    return b


@pytest.fixture(scope="module")
def campus(shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("campus")
    subprocess.run([sys.executable, str(shared_dir / "tools" / "campusgen.py"), "--out", str(out),
                    "--sensors", ",".join(map(str, DEPTS)), "--duration", "90", "--rate", "30",
                    "--campus", CAMPUS, "--vlan", "--events", "all", "--misconfig-at", "+20",
                    "--misconfig-span", "40", "--scan-at", "+40", "--scan-ports", "300",
                    "--lateral-at", "+50", "--spike-at", "+10", "--spike-dept", "1",
                    "--spike-duration", "20", "--quiet"], check=True, timeout=300)
    return out


def run_load(bins, campus, workdir, store):
    """Aggregator (insecure, 127.0.0.1) + the three sensors until every batch is acked; the
    sensors' emitted documents, {id: doc}."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = te.free_port()
    ini = workdir / "aggregator.ini"
    ini.write_text(SEGMENTS_INI)
    agg = te.Aggregator(bins["agg"], workdir, port, ["--insecure", "--store", store,
                                                     "--detect-config", str(ini)])
    agg.start()
    sensors = [te.Sensor(bins["sensor"], workdir, None, name, campus / f"sensor-{dept}.pcap",
                         f"tcp://127.0.0.1:{port}",
                         ["--insecure", "--drain-timeout", "200000",
                          "--emit-json", str(workdir / f"emitted-{name}.json")])
               for dept, name in zip(DEPTS, SENSORS)]
    try:
        for s in sensors:
            s.start()
        for s in sensors:
            assert s.wait(240) == 0, f"{s.name} failed:\n{s.log_text()[-3000:]}"
    finally:
        for s in sensors:
            if s.proc and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        agg.stop()
    docs = {}
    for name in SENSORS:
        with open(workdir / f"emitted-{name}.json") as f:
            for line in f:
                d = json.loads(line)
                docs[d["ashiato"]["session_id"]] = d
    return docs


def stored_fields(bins, url, docs, tmp_path):
    """The sensors' documents with what the store adds: ashiato.segments computed here (and
    checked against the store's own), ashiato.linked as the store hands it out."""
    path = tmp_path / "all.txt"
    path.write_text("id == EXISTS!\n")
    r = subprocess.run([str(bins["driver"]), "--store", url, "--file", str(path), "--docs",
                        "--segments", str(tmp_path / "aggregator.ini")],
                       capture_output=True, text=True, timeout=600)
    got = json.loads(r.stdout.splitlines()[0])
    assert "error" not in got, got
    stored = {d["ashiato"]["session_id"]: d for d in got["docs"]}
    assert set(stored) == set(docs)
    linked = 0
    for sid, d in docs.items():
        query_oracle.add_segments(d, SEGMENTS)
        assert stored[sid]["ashiato"].get("segments") == d["ashiato"]["segments"], sid
        if "linked" in stored[sid]["ashiato"]:
            d["ashiato"]["linked"] = stored[sid]["ashiato"]["linked"]
            linked += 1
    print(f"{url}: {len(docs)} documents with the oracle's ashiato.segments, {linked} linked")
    assert linked >= 2
    return docs


@pytest.fixture(scope="module")
def sqlite_store(bins, campus, tmp_path_factory):
    work = tmp_path_factory.mktemp("sqlite")
    t0 = time.monotonic()
    docs = run_load(bins, campus, work, f"sqlite://{work / 'sessions.db'}")
    print(f"\nsqlite load: {len(docs)} sessions from 3 sensors in {time.monotonic() - t0:.1f} s")
    docs = stored_fields(bins, f"sqlite://{work / 'sessions.db'}", docs, work)
    return {"url": f"sqlite://{work / 'sessions.db'}", "docs": docs, "work": work}


@pytest.fixture(scope="module")
def os_store(bins, campus, tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    node = OpenSearchNode(tmp_path_factory.mktemp("os") / "node",
                          settings={"launcher.painless": "true"})   # databytes is a script
    node.start()
    print(f"\nopensearch node up in {node.start_seconds:.1f} s at {node.url}")
    work = tmp_path_factory.mktemp("osload")
    try:
        t0 = time.monotonic()
        docs = run_load(bins, campus, work, node.url)
        status, _ = node.request("POST", "/ashiato-sessions-*/_refresh")
        assert status == 200
        print(f"opensearch load: {len(docs)} sessions in {time.monotonic() - t0:.1f} s")
        docs = stored_fields(bins, node.url, docs, work)
        yield {"url": node.url, "docs": docs, "node": node, "work": work}
    finally:
        node.stop()


def drive(bins, url, exprs, tmp_path, extra=()):
    path = tmp_path / f"exprs-{abs(hash(url))}.txt"
    path.write_text("".join(e + "\n" for e in exprs))
    ini = tmp_path / "segments.ini"                    # the aggregator's map, as it had it
    ini.write_text(SEGMENTS_INI)
    r = subprocess.run([str(bins["driver"]), "--store", url, "--file", str(path),
                        "--segments", str(ini), *extra],
                       capture_output=True, text=True, timeout=900)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == len(exprs), f"driver: {r.returncode}\n{r.stderr[-3000:]}"
    out, errors = {}, []
    for want, got in zip(exprs, lines):
        assert got["expr"] == want
        if "error" in got:
            errors.append(f"{want}: {got['error']} (pos {got.get('pos')})")
            continue
        assert got["total"] == len(got["ids"]) == len(set(got["ids"])), want
        out[want] = set(got["ids"])
    assert not errors, "\n".join(errors)
    return out


def compare(name, answers, docs, exprs):
    ds = list(docs.values())
    bad, sizes = [], []
    for e in exprs:
        want = query_oracle.select(e, ds)
        got = answers[e]
        sizes.append(len(want))
        if got != want:
            bad.append(f"{e}: {name} {len(got)}, oracle {len(want)} "
                       f"(missing {sorted(want - got)[:3]}, extra {sorted(got - want)[:3]})")
    for e, n in zip(exprs, sizes):
        if not e.startswith("!("):
            print(f"  {n:5d}  {e}")
    some = sum(1 for n in sizes if 0 < n < len(ds))
    print(f"{name}: {len(exprs)} expressions over {len(ds)} sessions, {len(exprs) - len(bad)} "
          f"identical to the oracle; {some} select some but not all sessions")
    assert not bad, f"{len(bad)} of {len(exprs)} differ:\n" + "\n".join(bad)
    return sizes


# ---- tests -------------------------------------------------------------------------------

def test_sqlite_equals_oracle(bins, sqlite_store, tmp_path):
    docs = sqlite_store["docs"]
    exprs = table(list(docs.values()))
    assert len(exprs) >= 160
    answers = drive(bins, sqlite_store["url"], exprs, tmp_path)
    sizes = compare("sqlite", answers, docs, exprs)
    # the table is meaningful: most expressions select some sessions but not all
    assert sum(1 for n in sizes if 0 < n < len(docs)) >= 0.8 * len(exprs)
    # every stored session came from the sensors
    assert answers[exprs[EXPRESSIONS.index("packets == 1")]] | \
        answers[f"!({exprs[EXPRESSIONS.index('packets == 1')]})"] == set(docs)


def test_opensearch_equals_oracle(bins, os_store, sqlite_store, tmp_path):
    docs = os_store["docs"]
    assert set(docs) == set(sqlite_store["docs"]), "the two loads emitted different sessions"
    exprs = table(list(sqlite_store["docs"].values()))
    answers = drive(bins, os_store["url"], exprs, tmp_path)
    compare("opensearch", answers, docs, exprs)


def test_seed_query(bins, sqlite_store, os_store, tmp_path):
    """The seed's expression verbatim (the misconfigured host's SYNs), and with one department
    for the campus (the scan's SYNs and more)."""
    docs = list(sqlite_store["docs"].values())
    for e in EXPRESSIONS[:2]:
        want = query_oracle.select(e, docs)
        for name, url in (("sqlite", sqlite_store["url"]), ("opensearch", os_store["url"])):
            got = drive(bins, url, [e], tmp_path)[e]
            assert got == want, f"{name}: {e}"
        assert want, f"{e}: selects nothing in this traffic"
        print(f"seed: {e!r}: {len(want)} sessions on sqlite, opensearch and the oracle")


def test_count_by_honours_the_expression(bins, sqlite_store, os_store, tmp_path):
    """store_count_by with an expression: the same buckets on both stores and in Python."""
    docs = list(sqlite_store["docs"].values())
    e = "ip.src == 131.206.1.0/24 && packets > 1"
    sel = [d for d in docs if d["ashiato"]["session_id"] in query_oracle.select(e, docs)]
    for field, path in (("port.dst", "destination.port"), ("host.dns", "dns.question.name"),
                        ("node", "observer.name"), ("vlan", "network.vlan.id"),
                        ("http.statuscode", "http.response.status_code")):
        want = collections.Counter()
        for d in sel:
            for v in set(query_oracle.values_at(d, path)):
                want[v] += 1
        for url in (sqlite_store["url"], os_store["url"]):
            path_txt = tmp_path / "one.txt"
            path_txt.write_text(e + "\n")
            r = subprocess.run([str(bins["driver"]), "--store", url, "--count-by", field,
                                "--file", str(path_txt)], capture_output=True, text=True,
                               timeout=120)
            got = json.loads(r.stdout)
            assert "error" not in got, got
            assert {b["key"]: b["count"] for b in got["buckets"]} == dict(want), (url, field)
        print(f"count_by {field} of {e!r}: {len(want)} buckets, equal on both stores")
