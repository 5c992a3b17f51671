"""test_detect_icmp.py -- ICMP errors' quoted flows through the sensor and `ashiato detect`
(issue 11 point 2). Captures are built byte by byte (icmp_pcap.py): UDP scans whose probes
are answered by ICMP/ICMPv6 port unreachable, and the same errors without their probes (what
the victim of a spoofed scan sees: backscatter).

- the sensor links each error to the probe it quotes: the probe's record carries
  ashiato.icmp_error, the error's record ashiato.icmp_quoted (same Community ID as the probe);
- the scan alerts name the prober, count each probe once (probe + error = one failed
  attempt), and an answered UDP sweep now feeds TRW (scanner) where an unanswered one does not;
- the host sending the errors is never a source, and errors alone raise nothing.
"""
import json

from detect_env import run_detect, sensor_json, stats
from icmp_pcap import udp_scan, udp_sweep, write_pcap

SCANNER, TARGET = "198.51.100.7", "203.0.113.9"


def records(js):
    return [json.loads(ln) for ln in js.read_text().splitlines()]


def run(tmp_path, frames, name):
    js = sensor_json(write_pcap(tmp_path / f"{name}.pcap", frames), tmp_path / f"{name}.json",
                     name="s1")
    alerts, err = run_detect([js])
    return records(js), alerts, stats(err)


def test_sensor_links_error_and_probe(tmp_path):
    recs, _, _ = run(tmp_path, udp_scan(SCANNER, TARGET, range(1, 31)), "scan")
    udp = [r for r in recs if r["network"]["transport"] == "udp"]
    icmp = [r for r in recs if r["network"]["transport"] == "icmp"]
    assert len(udp) == 30 and len(icmp) == 1
    assert all(r["ashiato"]["icmp_error"] == {"type": 3, "code": 3} for r in udp)
    assert all(r["ashiato"]["conn_state"] == "S0" for r in udp)
    q = icmp[0]["ashiato"]["icmp_quoted"]
    assert icmp[0]["source"]["ip"] == TARGET          # the error's sender starts its session
    assert q["source"] == {"ip": SCANNER, "port": 40000}
    assert q["destination"] == {"ip": TARGET, "port": 1}
    assert q["iana_number"] == "17" and q["type"] == 3 and q["code"] == 3 and q["count"] == 30
    probe1 = [r for r in udp if r["destination"]["port"] == 1][0]
    assert q["community_id"] == probe1["network"]["community_id"]
    assert "icmp_error" not in icmp[0]["ashiato"]
    print(f"sensor: {len(udp)} probes marked icmp_error 3/3, one ICMP record quoting "
          f"{q['count']} of them, quoted community_id {q['community_id']}")


def test_udp_port_scan_answered(tmp_path):
    _, alerts, st = run(tmp_path, udp_scan(SCANNER, TARGET, range(1, 31)), "scan")
    ps = [a for a in alerts if a["rule"]["name"] == "port_scan"]
    print("udp port scan + ICMP: " + "; ".join(f"{a['rule']['name']} {a['source']['ip']} "
                                              f"failures={a['ashiato']['failures']}"
                                              for a in alerts) + f"; stats {st}")
    assert len(ps) == 1 and ps[0]["source"]["ip"] == SCANNER
    assert ps[0]["destination"]["ip"] == [TARGET]
    # one failed attempt per probe: the error is not a second one, nor anybody's attempt
    assert ps[0]["ashiato"]["failures"] == 30 and ps[0]["ashiato"]["targets"]["ports"] == 30
    assert st["failed"] == 30 and st["ok"] == 0
    assert {a["source"]["ip"] for a in alerts} == {SCANNER}


def test_udp_port_scan_answered_v6(tmp_path):
    src, dst = "2001:db8::7", "2001:db8::9"
    _, alerts, st = run(tmp_path, udp_scan(src, dst, range(1, 31), v6=True), "scan6")
    ps = [a for a in alerts if a["rule"]["name"] == "port_scan"]
    print(f"udp port scan + ICMPv6: {[(a['rule']['name'], a['source']['ip']) for a in alerts]}")
    assert len(ps) == 1 and ps[0]["source"]["ip"] == src and ps[0]["ashiato"]["failures"] == 30
    assert {a["source"]["ip"] for a in alerts} == {src}
    assert st["failed"] == 30


def test_udp_sweep_answered_feeds_trw(tmp_path):
    hosts = [f"203.0.113.{i}" for i in range(1, 41)]
    _, alerts, st = run(tmp_path, udp_sweep(SCANNER, hosts, 161), "sweep")
    rules = sorted(a["rule"]["name"] for a in alerts)
    print(f"udp sweep + ICMP: {rules}, sources {sorted({a['source']['ip'] for a in alerts})}")
    assert rules == ["address_scan", "scanner"]
    assert {a["source"]["ip"] for a in alerts} == {SCANNER}
    sc = [a for a in alerts if a["rule"]["name"] == "scanner"][0]
    assert sc["ashiato"]["failures"] >= 4 and sc["ashiato"]["successes"] == 0
    assert st["failed"] == 40
    # the same sweep without answers: an address scan (S0 is a failure), but TRW, which
    # counts UDP only when an ICMP error made the failure sure, does not walk
    _, alerts, _ = run(tmp_path, udp_sweep(SCANNER, hosts, 161, answered=False), "quiet")
    print(f"udp sweep, no answers: {sorted(a['rule']['name'] for a in alerts)}")
    assert sorted(a["rule"]["name"] for a in alerts) == ["address_scan"]


def test_errors_alone_raise_nothing(tmp_path):
    """Backscatter: a victim's address was spoofed on a UDP scan; the sensor sees only the
    errors coming back to it. Neither the victim (the quoted source) nor the hosts sending
    the errors made an attempt."""
    frames = (udp_scan(SCANNER, TARGET, range(1, 301), probes=False) +
              udp_sweep(SCANNER, [f"203.0.113.{i}" for i in range(1, 201)], 53,
                        t0=1700000010.0, probes=False))
    recs, alerts, st = run(tmp_path, sorted(frames), "backscatter")
    print(f"errors alone: {len(recs)} records, alerts {len(alerts)}, stats {st}")
    assert all("icmp_quoted" in r["ashiato"] for r in recs)
    assert alerts == []
    # one ICMP session per (error sender, victim): 200 hosts, 203.0.113.9 among them
    assert st["failed"] == 0 and st["ok"] == 0 and st["records"] == len(recs) == 200


def test_through_the_aggregator(tmp_path):
    """sensor -> aggregator -> SQLite: the stored documents keep both fields (the packed
    record rendered again), the new fields are queryable, and the aggregator's detection
    (records from protobuf, not JSON) says what ashiato detect says."""
    import signal
    import sqlite3
    import subprocess

    from detect_env import BUILD_DIR
    from transport_env import free_port

    # a port scan of TARGET, then a sweep of 40 other hosts on 161: the scanner alert needs
    # the ICMP marks (TRW counts UDP only when an error answered it)
    frames = (udp_scan(SCANNER, TARGET, range(1, 31)) +
              udp_sweep(SCANNER, [f"203.0.113.{i}" for i in range(101, 141)], 161,
                        t0=1700000005.0))
    pcap = write_pcap(tmp_path / "scan.pcap", frames)
    offline, _ = run_detect([sensor_json(pcap, tmp_path / "offline.json", name="s1")])
    port, db = free_port(), tmp_path / "store.db"
    with open(tmp_path / "aggregator.log", "w") as log:
        agg = subprocess.Popen([str(BUILD_DIR / "bin" / "ashiato-aggregator"), "--listen",
                                f"tcp://127.0.0.1:{port}", "--insecure", "--store",
                                f"sqlite://{db}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        r = subprocess.run([str(BUILD_DIR / "bin" / "ashiato-sensor"), "--read", str(pcap),
                            "--name", "s1", "--aggregator", f"tcp://127.0.0.1:{port}",
                            "--insecure", "--outbox-dir", str(tmp_path / "outbox"),
                            "--drain-timeout", "60000"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        agg.send_signal(signal.SIGTERM)             # closes: every alert put as final
        assert agg.wait(timeout=60) == 0, (tmp_path / "aggregator.log").read_text()[-2000:]
    finally:
        if agg.poll() is None:
            agg.kill()
            agg.wait()
    con = sqlite3.connect(db)
    alerts = [json.loads(d) for (d,) in con.execute("SELECT doc FROM alerts")]
    print("aggregator: " + "; ".join(f"{a['rule']['name']} {a['source']['ip']} failures="
                                     f"{a['ashiato']['failures']}" for a in alerts))
    def said(al):
        return sorted((a["rule"]["name"], a["source"]["ip"], a["ashiato"]["failures"])
                      for a in al)
    print(f"offline: {said(offline)}")
    assert said(alerts) == said(offline)
    assert [r for r, _, _ in said(alerts)] == ["address_scan", "port_scan", "scanner"]
    assert ("port_scan", SCANNER, 30) in said(alerts) and ("address_scan", SCANNER, 40) in \
        said(alerts)

    exprs = [f"icmp.quoted.ip.src == {SCANNER}", "icmp.quoted.ip.dst == 203.0.113.0/24",
             "icmp.quoted.port.dst == 1", "icmp.quoted.iana == 17", "icmp.quoted.count >= 30",
             "icmp.quoted.type == 3 && icmp.quoted.code == 3", "icmp.error.type == 3",
             "icmp.error.code == 3 && port.dst == 5",
             f"ip.src == {SCANNER} && icmp.error.type != EXISTS!",
             "icmp.quoted.communityId == \"1:QgaF728A+Y22s+Hk96vEcjTwgOM=\""]
    out = subprocess.run([str(BUILD_DIR / "tests" / "query_driver"), "--store", f"sqlite://{db}",
                          "--file", "/dev/stdin"], input="".join(e + "\n" for e in exprs),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    totals = {j["expr"]: j.get("total", j.get("error")) for j in
              map(json.loads, out.stdout.splitlines())}
    print(f"queries: {totals}")
    assert list(totals.values()) == [41, 41, 1, 41, 1, 41, 70, 1, 0, 1]
