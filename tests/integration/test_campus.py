"""Campus traffic: ashiato-sensor on campusgen captures against campusgen's truth.json.

Acceptance (issue 2, "Campus traffic"): on campusgen captures (all events on), each sensor's
session count and the sessions of each injected event agree with truth.json (sessions, packets,
1-packet sessions), and the seed's misconfiguration filter over the JSON output selects exactly
the injected ones.

campusgen (../shared/tools/campusgen.py, its README) runs once per test session with its
defaults: 20 minutes from 2021-09-28T12:50Z, 6 departments = 6 sensor files, all four events,
~0.6 M packets, seed 1 (deterministic). The sensor reads each sensor-D.pcap with
`--emit-json - --name D --stats` and its own defaults (Arkime's timeouts).

How sessions are counted and identified:
- A session is a root_id: a long session saved in several segments (Arkime's maxPackets /
  tcpSaveTimeout) is one session of truth.json.
- truth.json counts the flows campusgen generated. The sensor keys sessions as Arkime does:
  TCP/UDP by the 5-tuple, ICMP by the address pair (no echo identifier), and a session ends
  after its idle timeout (TCP 480 s, UDP 60 s, ICMP 10 s) or 5 s after a TCP close. So two
  generated flows that share a key while the first is still live are ONE session (e.g. two
  pings between the same hosts 6 s apart with different identifiers, a DNS client port reused
  40 s later), and a generated flow idle longer than its timeout is TWO. The test reads the
  pcaps itself (class ArkimeModel), finds each generated flow's first packet (TCP: a SYN with
  a new ISN; UDP: a DNS query, or campusgen's UDP payload with sequence 0; ICMP: echo request
  seq 1), checks that it finds exactly truth.json's flows, and expects
  truth - merged + split sessions, listing every merge and split in the failure message.
- Event sessions: vuln-scan by its event-only source host, the target, the source port and the
  port range; lateral by its event-only source host, the target hosts and ports; misconfig by
  the (source, destination, port) flows truth.json lists; all must lie in the event's time
  window (plus the inter-sensor delay). The spike by the sessions that start in its window at
  its sensor (injected + background, as truth.json counts them).
"""
import calendar
import ipaddress
import json
import re
import struct
import subprocess
import sys
import time
from collections import Counter, defaultdict

import pytest

TCP_TIMEOUT, UDP_TIMEOUT, ICMP_TIMEOUT, TCP_CLOSE_TIMEOUT = 480, 60, 10, 5   # sensor defaults = Arkime's
UDP_APP_MAGIC = b"\x7a\x3c\xff\xff"        # campusgen's high-port UDP payload: magic, then a counter
TIME_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


# ---------------------------------------------------------------- session-scoped inputs

@pytest.fixture(scope="session")
def campus(shared_dir, tmp_path_factory):
    """(directory, truth) of one campusgen run with every event."""
    tool = shared_dir / "tools" / "campusgen.py"
    if not tool.is_file():
        pytest.skip(f"{tool} missing")
    out = tmp_path_factory.mktemp("campus")
    t = time.monotonic()
    r = subprocess.run([sys.executable, str(tool), "--out", str(out), "--events", "all", "--quiet"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600, check=False)
    assert r.returncode == 0, f"campusgen failed ({r.returncode}):\n{r.stderr[-3000:]}"
    print(f"campusgen: {time.monotonic() - t:.1f} s into {out}")
    truth = json.loads((out / "truth.json").read_text())
    assert truth.get("events_not_reached") == [], truth.get("events_not_reached")
    return out, truth


@pytest.fixture(scope="session")
def campus_runs(campus, run_sensor):
    """{sensor id: SensorRun} of ashiato-sensor on each sensor-D.pcap."""
    out, truth = campus
    runs = {}
    for d, s in sorted(truth["sensors"].items()):
        run = run_sensor(["--read", out / s["file"], "--emit-json", "-", "--name", d, "--stats"])
        assert run.rc == 0, f"sensor {d}: exit {run.rc}\n{run.stderr[-3000:]}"
        runs[d] = run
    return runs


@pytest.fixture(scope="session")
def campus_sessions(campus_runs):
    """{sensor id: [session]} (see sessions_of)."""
    return {d: sessions_of(run) for d, run in campus_runs.items()}


@pytest.fixture(scope="session")
def campus_model(campus):
    """{sensor id: ArkimeModel} read from the pcaps by this test."""
    out, truth = campus
    return {d: ArkimeModel(out / s["file"]) for d, s in sorted(truth["sensors"].items())}


# ---------------------------------------------------------------- helpers

def iso_us(text):
    m = TIME_RE.match(text or "")
    assert m, f"not an ISO 8601 UTC time: {text!r}"
    y, mo, d, h, mi, s, frac = m.groups()
    return calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0)) * 1000000 + \
        int((frac or "").ljust(6, "0")[:6])


def epoch_us(x):
    return int(round(x * 1e6))


def us_iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1000000)) + f".{t % 1000000:06d}Z"


def sessions_of(run):
    """Records grouped into sessions by root_id: [{'first': segment-1 record, 'packets': ...}]."""
    by_root = defaultdict(list)
    for doc in run.sessions:
        root = doc["ashiato"]["root_id"]
        by_root[root].append(doc)
    out = []
    for root, docs in by_root.items():
        docs.sort(key=lambda x: x["ashiato"]["segment"])
        first = docs[0]
        out.append({
            "root": root, "first": first, "records": docs,
            "proto": first["network"]["iana_number"],
            "src": first["source"]["ip"], "sport": first["source"].get("port"),
            "dst": first["destination"]["ip"], "dport": first["destination"].get("port"),
            "start": iso_us(first["event"]["start"]),
            "end": max(iso_us(x["event"]["end"]) for x in docs),
            "packets": sum(x["network"]["packets"] for x in docs),
            "src_packets": sum(x["source"]["packets"] for x in docs),
            "dst_packets": sum(x["destination"]["packets"] for x in docs),
            "syn_ack": sum(x.get("ashiato", {}).get("tcp_flags", {}).get("syn_ack", 0) for x in docs),
            "src_data": sum(x.get("ashiato", {}).get("data_bytes", {}).get("source", 0) for x in docs),
            "dst_data": sum(x.get("ashiato", {}).get("data_bytes", {}).get("destination", 0) for x in docs),
        })
    return out


def sensor_key(proto, a, ap, b, bp):
    """The sensor's (Arkime's) session key: ICMP without ports."""
    if proto in (1, 58, "1", "58"):
        ap = bp = 0
    return (int(proto),) + tuple(sorted([(a, ap or 0), (b, bp or 0)]))


# ---------------------------------------------------------------- the test's own reading

class ArkimeModel:
    """One sensor file read packet by packet: campusgen's flows (their first packets) and the
    sessions Arkime's keying and timeouts make of the same packets.

    Classic little-endian microsecond pcap, Ethernet, IPv4 (campusgen without --vlan)."""

    def __init__(self, path):
        self.path = path
        self.packets = 0
        self.flow_starts = 0              # generated flows found
        self.sessions = Counter()         # sensor key -> sessions Arkime makes
        self.merged = []                  # (time, key, why): a flow start inside a live session
        self.split = []                   # (time, key, gap): a session ended by its timeout mid-flow
        live = {}                         # key -> [last packet us, closed at us or None, fins set]
        isns = defaultdict(set)           # 5-tuple -> ISNs of SYNs seen
        with open(path, "rb") as f:
            data = f.read()
        magic, _, _, _, _, _, dlt = struct.unpack_from("<IHHiIII", data, 0)
        assert magic == 0xa1b2c3d4 and dlt == 1, f"{path}: not a little-endian microsecond Ethernet pcap"
        off, end = 24, len(data)
        unpack_rec = struct.Struct("<IIII").unpack_from
        while off + 16 <= end:
            sec, usec, cl, _ = unpack_rec(data, off)
            p = off + 16
            off = p + cl
            t = sec * 1000000 + usec
            self.packets += 1
            if data[p + 12:p + 14] != b"\x08\x00":
                continue
            ip = p + 14
            ihl = (data[ip] & 15) * 4
            proto = data[ip + 9]
            src, dst = data[ip + 12:ip + 16], data[ip + 16:ip + 20]
            l4 = ip + ihl
            start = False
            closing = None
            if proto == 6:
                sp, dp = struct.unpack_from("!HH", data, l4)
                seq = struct.unpack_from("!I", data, l4 + 4)[0]
                flags = data[l4 + 13]
                k5 = (6,) + tuple(sorted([(src, sp), (dst, dp)]))
                if flags & 0x12 == 0x02 and seq not in isns[k5]:
                    isns[k5].add(seq)
                    start = True
                closing = flags & 0x05        # FIN or RST
                key = k5
            elif proto == 17:
                sp, dp = struct.unpack_from("!HH", data, l4)
                pay = data[l4 + 8:l4 + 16]
                if dp == 53 and len(pay) >= 4 and not pay[2] & 0x80:
                    start = True              # a DNS query
                elif pay == UDP_APP_MAGIC + b"\0\0\0\0":
                    start = True              # campusgen UDP, first datagram
                key = (17,) + tuple(sorted([(src, sp), (dst, dp)]))
            elif proto == 1:
                typ = data[l4]
                seqn = struct.unpack_from("!H", data, l4 + 6)[0]
                start = typ == 8 and seqn == 1
                key = (1,) + tuple(sorted([(src, 0), (dst, 0)]))
            else:
                continue
            if start:
                self.flow_starts += 1
            s = live.get(key)
            timeout = TCP_TIMEOUT if proto == 6 else UDP_TIMEOUT if proto == 17 else ICMP_TIMEOUT
            expired = s is None or t - s[0] > timeout * 1000000 or \
                (s[1] is not None and t - s[1] > TCP_CLOSE_TIMEOUT * 1000000)
            if expired:
                self.sessions[key] += 1
                if s is not None and not start:
                    self.split.append((t, key, (t - s[0]) / 1e6))
                s = live[key] = [t, None, set()]
            elif start:
                self.merged.append((t, key, f"{(t - s[0]) / 1e6:.3f} s after the previous packet"))
            s[0] = t
            if closing:
                if flags & 0x04:
                    s[1] = t
                else:
                    s[2].add(src)
                    if len(s[2]) == 2 and s[1] is None:
                        s[1] = t

    def total_sessions(self):
        return sum(self.sessions.values())

    @staticmethod
    def show(key):
        proto, (a, ap), (b, bp) = key
        ip = lambda x: str(ipaddress.IPv4Address(x))  # noqa: E731
        return f"{proto} {ip(a)}:{ap} <-> {ip(b)}:{bp}"


# ---------------------------------------------------------------- per sensor

def test_sensor_packets_and_session_counts(campus, campus_runs, campus_sessions, campus_model):
    """Each sensor: every packet read, none malformed, and as many sessions as truth.json
    counts, corrected for Arkime's keying and timeouts (see the module docstring)."""
    _, truth = campus
    problems = []
    report = []
    for d, s in sorted(truth["sensors"].items()):
        run, model = campus_runs[d], campus_model[d]
        st = run.require_stats(f"sensor {d}")
        if (st["packets"], st["malformed"], st["truncated_inputs"]) != (s["packets"], 0, 0):
            problems.append(f"sensor {d}: packets {st['packets']} malformed {st['malformed']} "
                            f"truncated inputs {st['truncated_inputs']}, expected {s['packets']}, 0, 0")
        assert model.packets == s["packets"], \
            f"sensor {d}: the test read {model.packets} packets, truth {s['packets']}"
        # the test's reading of campusgen's flows must agree with campusgen itself
        assert model.flow_starts == s["sessions"], (
            f"sensor {d}: the test found {model.flow_starts} generated flows in {model.path}, truth.json "
            f"says {s['sessions']}: the test's reading of campusgen output is out of date")
        expected = s["sessions"] - len(model.merged) + len(model.split)
        assert model.total_sessions() == expected
        ours = campus_sessions[d]
        why = [f"  merged: {ArkimeModel.show(k)} at {us_iso(t)} ({w})" for t, k, w in model.merged] + \
              [f"  split: {ArkimeModel.show(k)} at {us_iso(t)} (idle {g:.1f} s)" for t, k, g in model.split]
        report.append(f"sensor {d}: truth {s['sessions']}, merged {len(model.merged)}, "
                      f"split {len(model.split)}, expected {expected}, got {len(ours)}")
        report += why
        if len(ours) != expected:
            got = Counter(sensor_key(x["proto"], x["src"], x["sport"], x["dst"], x["dport"]) for x in ours)
            want = Counter()
            for (proto, (a, ap), (b, bp)), n in model.sessions.items():
                want[sensor_key(proto, str(ipaddress.IPv4Address(a)), ap, str(ipaddress.IPv4Address(b)), bp)] += n
            diff = [f"    {k}: sensor {got.get(k, 0)}, expected {want.get(k, 0)}"
                    for k in sorted(set(got) | set(want), key=str) if got.get(k, 0) != want.get(k, 0)]
            problems.append(f"sensor {d}: {len(ours)} sessions, expected {expected} = truth {s['sessions']} "
                            f"- {len(model.merged)} merged + {len(model.split)} split; keys that differ "
                            f"({len(diff)}):\n" + "\n".join(diff[:30]) + "\n" + "\n".join(why))
    print("\n".join(report))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- events

def event(truth, typ):
    evs = [e for e in truth["events"] if e["type"] == typ]
    assert len(evs) == 1, f"truth.json: {len(evs)} events of type {typ}"
    return evs[0]


def outside_window(sessions, ev, slack_us):
    """Sessions not wholly within the event's start .. stop + slack."""
    t0, t1 = epoch_us(ev["start_epoch"]), epoch_us(ev["stop_epoch"]) + slack_us
    return [x for x in sessions if not (t0 <= x["start"] and x["end"] <= t1)]


def test_vuln_scan(campus, campus_runs, campus_sessions):
    _, truth = campus
    ev = event(truth, "vuln-scan")
    det, tp = ev["details"], ev["target_ports"]
    xd = truth["inter_sensor_delay_us"]
    for d in map(str, ev["sensors"]):
        ss = [x for x in campus_sessions[d]
              if x["proto"] == "6" and x["src"] == ev["source_ip"] and x["dst"] == ev["target_ips"][0]
              and x["sport"] == det["source_port"] and tp["from"] <= x["dport"] <= tp["to"]]
        tag = f"vuln-scan at sensor {d}"
        assert len(ss) == ev["expected_sessions_per_sensor"][d], f"{tag}: {len(ss)} sessions"
        assert sum(x["packets"] for x in ss) == ev["expected_packets_per_sensor"][d], f"{tag}: packets"
        one = [x for x in ss if x["packets"] == 1]
        assert len(one) == det["one_packet_sessions"], f"{tag}: {len(one)} 1-packet sessions"
        assert sorted(x["dport"] for x in ss) == list(range(tp["from"], tp["to"] + 1)), f"{tag}: ports"
        openp = sorted(x["dport"] for x in ss if x["syn_ack"] > 0)
        assert openp == det["open_ports"], f"{tag}: ports that answered SYN-ACK {openp}"
        rst = [x for x in ss if x["syn_ack"] == 0 and x["dst_packets"] == 1]
        assert len(rst) == det["rst_ports"], f"{tag}: {len(rst)} ports answered RST"
        late = outside_window(ss, ev, 2 * xd)
        assert not late, f"{tag}: {len(late)} sessions outside {ev['start']} .. {ev['stop']}: {late[:3]}"
        # the scanner is an event-only host: nothing else of it at any sensor
        mine = {x["root"] for x in ss}
        for e, ses in campus_sessions.items():
            other = [x for x in ses if ev["source_ip"] in (x["src"], x["dst"]) and
                     (e != d or x["root"] not in mine)]
            assert not other, f"vuln-scan: other sessions of {ev['source_ip']} at sensor {e}: {other[:3]}"


def test_lateral(campus, campus_runs, campus_sessions):
    _, truth = campus
    ev = event(truth, "lateral")
    targets, ports = set(ev["target_ips"]), set(ev["target_ports"])
    src = ev["source_ip"]
    xd = truth["inter_sensor_delay_us"]
    src_dept = next(k for k, net in truth["departments"].items()
                    if ipaddress.IPv4Address(src) in ipaddress.IPv4Network(net))
    assert sorted(ev["expected_sessions_per_sensor"]) == sorted(map(str, ev["sensors"]))
    for d in sorted(campus_runs):
        ss = [x for x in campus_sessions[d]
              if x["proto"] == "6" and x["src"] == src and x["dst"] in targets and x["dport"] in ports]
        tag = f"lateral at sensor {d}"
        if d not in ev["expected_sessions_per_sensor"]:
            assert not ss, f"{tag}: {len(ss)} sessions at a sensor truth.json does not list"
            continue
        assert len(ss) == ev["expected_sessions_per_sensor"][d], f"{tag}: {len(ss)} sessions"
        assert sum(x["packets"] for x in ss) == ev["expected_packets_per_sensor"][d], f"{tag}: packets"
        # every probe has 2 packets or more (SYN + RST-ACK, SYN + retransmission, a handshake)
        one = [x for x in ss if x["packets"] == 1]
        assert not one, f"{tag}: {len(one)} 1-packet sessions, expected none: {one[:3]}"
        net = ipaddress.IPv4Network(truth["departments"][d])
        want_ok = sorted(s for s in ev["details"]["successful"]
                         if d == src_dept or ipaddress.IPv4Address(s.split(":")[0]) in net)
        ok = sorted(f"{x['dst']}:{x['dport']}" for x in ss if x["src_data"] > 0 and x["dst_data"] > 0)
        assert ok == want_ok, f"{tag}: sessions with data both ways {ok}, expected {want_ok}"
        late = outside_window(ss, ev, xd)
        assert not late, f"{tag}: {len(late)} sessions outside {ev['start']} .. {ev['stop']}: {late[:3]}"
        mine = {x["root"] for x in ss}
        other = [x for x in campus_sessions[d] if src in (x["src"], x["dst"]) and x["root"] not in mine]
        assert not other, f"{tag}: other sessions of the event-only host {src}: {other[:3]}"


def test_misconfig(campus, campus_runs, campus_sessions):
    _, truth = campus
    ev = event(truth, "misconfig")
    flows = Counter((f["src"], f["dst"], f["dport"]) for f in ev["details"]["flows"])
    for d in sorted(campus_runs):
        ss = [x for x in campus_sessions[d]
              if x["proto"] == "6" and (x["src"], x["dst"], x["dport"]) in flows]
        tag = f"misconfig at sensor {d}"
        if d not in ev["expected_sessions_per_sensor"]:
            assert not ss, f"{tag}: {len(ss)} sessions at a sensor truth.json does not list"
            continue
        assert len(ss) == ev["expected_sessions_per_sensor"][d], f"{tag}: {len(ss)} sessions"
        assert sum(x["packets"] for x in ss) == ev["expected_packets_per_sensor"][d], f"{tag}: packets"
        assert Counter((x["src"], x["dst"], x["dport"]) for x in ss) == flows, f"{tag}: flows"
        assert all(x["packets"] == 1 for x in ss), f"{tag}: not all 1-packet sessions: {ss}"
        late = outside_window(ss, ev, 0)
        assert not late, f"{tag}: sessions outside {ev['start']} .. {ev['stop']}: {late}"


def test_spike(campus, campus_runs, campus_sessions, campus_model):
    """Sessions starting in the spike's minute at its sensor: the injected ones plus the
    background ones truth.json counts there (no other way tells them apart)."""
    _, truth = campus
    ev = event(truth, "spike")
    t0, t1 = epoch_us(ev["start_epoch"]), epoch_us(ev["stop_epoch"])
    for d in map(str, ev["sensors"]):
        model = campus_model[d]
        merged = [m for m in model.merged if t0 <= m[0] < t1]
        split = [m for m in model.split if t0 <= m[0] < t1]
        injected = ev["expected_sessions_per_sensor"][d]
        background = ev["details"]["background_sessions_in_window_at_sensor"]
        want = injected + background - len(merged) + len(split)
        got = [x for x in campus_sessions[d] if t0 <= x["start"] < t1]
        assert len(got) == want, (
            f"spike at sensor {d}: {len(got)} sessions start in {ev['start']} .. {ev['stop']}, "
            f"expected {want} = {injected} injected + {background} background - {len(merged)} merged "
            f"+ {len(split)} split")
        net = ipaddress.IPv4Network(ev["source_net"])
        outside = [x for x in got if ipaddress.IPv4Address(x["src"]) not in net
                   and ipaddress.IPv4Address(x["dst"]) not in net]
        assert not outside, f"spike at sensor {d}: sessions not touching {net}: {outside[:3]}"


def test_misconfig_filter_selects_exactly_the_injected(campus, campus_runs):
    """DESIGN.md's query with campusgen's campus prefix instead of 131.206.0.0/16, in Python
    over every record of every sensor:
        packets == 1 && ip.protocol == tcp && ip.src != CAMPUS && ip.dst != CAMPUS"""
    _, truth = campus
    ev = event(truth, "misconfig")
    campus_net = ipaddress.IPv4Network(truth["campus"])
    for d, run in sorted(campus_runs.items()):
        hits = [doc for doc in run.sessions
                if doc["network"]["packets"] == 1 and doc["network"]["iana_number"] == "6"
                and ipaddress.ip_address(doc["source"]["ip"]) not in campus_net
                and ipaddress.ip_address(doc["destination"]["ip"]) not in campus_net]
        got = Counter((x["source"]["ip"], x["destination"]["ip"], x["destination"]["port"]) for x in hits)
        want = Counter((f["src"], f["dst"], f["dport"]) for f in ev["details"]["flows"]) \
            if d in ev["expected_sessions_per_sensor"] else Counter()
        assert got == want, (f"sensor {d}: the misconfig query selects {sorted(got.elements())}, "
                             f"expected {sorted(want.elements())}")
