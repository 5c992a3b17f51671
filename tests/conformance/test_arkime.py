"""Arkime conformance: ashiato-sensor against Arkime capture's own regression results.

The corpus (../shared/corpus/arkime-tests/, see its SOURCE.md) pairs 25 pcaps with the
sessions Arkime capture wrote for them (X.test, from `capture --tests`). This suite runs
`ashiato-sensor -c arkime.ini --read X.pcap --emit-json - --name test` on each pcap and
compares session by session: endpoints, ipProtocol, packets and bytes per direction,
firstPacket/lastPacket (ms), network.community_id, http.host (Arkime puts HTTP Host and the
TLS/QUIC SNI there: ours is url.domain + tls.client.server_name) and dns.host (Arkime's
dns[].host: the question names and CNAME targets, which is what our dns.question.name holds so
that the query `host.dns == x` finds the same sessions in both) and protocols.transport (the
transport names Arkime puts in `protocol`, our ashiato.protocols: tcp, udp, icmp for ICMP and
ICMPv6, sctp, esp, igmp, ospf, pim; so that the query `protocols == tcp` finds the same sessions).

Sessions are paired by (ipProtocol, the two endpoints in either order, firstPacket,
lastPacket), then without lastPacket, then by nearest firstPacket (see pair_sessions), so
one shifted session does not cascade. Every mismatch is one line: file, session, field,
expected, got. The report also lands in $ASHIATO_BUILD_DIR/conformance/arkime-report.txt.

differences.txt lists what we deliberately do not copy from Arkime, one per line:
    file.pcap <session key> <field or *> -- reason
where <session key> is as printed in the report (or * for every session of the file); the
field `session` stands for a session present on one side only, `empty-segment` for such a
record that holds no packet (the last segment of a session saved in segments). An entry
that excuses nothing fails test_differences_all_needed, so the list stays as short as it
is honest.
"""
import calendar
import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", HERE.parent.parent))
BUILD_DIR = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build"))
CORPUS = SOURCE_DIR.parent / "shared" / "corpus" / "arkime-tests"
SENSOR = BUILD_DIR / "bin" / "ashiato-sensor"
INI = HERE / "arkime.ini"
DIFFERENCES = HERE / "differences.txt"
REPORT = BUILD_DIR / "conformance" / "arkime-report.txt"

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(),
    reason=f"Arkime test corpus not found at {CORPUS} "
           "(it lives in ../shared next to the source tree)")

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6", 132: "sctp"}
FIELDS = ("ipProtocol", "source.ip", "source.port", "destination.ip", "destination.port",
          "source.packets", "destination.packets", "source.bytes", "destination.bytes",
          "firstPacket", "lastPacket", "network.community_id", "http.host", "dns.host",
          "protocols.transport")
# the transport names among Arkime's `protocol` values (its tcp.c, udp.c, icmp.c for both ICMP
# versions, sctp.c, esp.c, and the names it gives IGMP, OSPF and PIM)
TRANSPORTS = {"tcp", "udp", "icmp", "sctp", "esp", "igmp", "ospf", "pim"}
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "ERROR: ThreadSanitizer", "ERROR: MemorySanitizer",
                   "SUMMARY: UndefinedBehaviorSanitizer")
TIME_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$")


# ---------------------------------------------------------------- reading both sides

def norm_ip(text):
    if text is None:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def iso_to_ms(text):
    """event.start/end ('2013-11-25T14:55:58.382123Z') to ms since the epoch, truncated as
    Arkime's firstPacket is. Integer arithmetic: a float would round some values up."""
    m = TIME_RE.match(text or "")
    if not m:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    secs = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    frac = (frac or "").ljust(9, "0")
    return secs * 1000 + int(frac[:3])


def dig(doc, path, default=None):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return default
        doc = doc[part]
    return doc


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def arkime_session(body):
    return {
        "ipProtocol": body.get("ipProtocol"),
        "source.ip": norm_ip(dig(body, "source.ip")),
        "source.port": dig(body, "source.port"),
        "destination.ip": norm_ip(dig(body, "destination.ip")),
        "destination.port": dig(body, "destination.port"),
        "source.packets": dig(body, "source.packets", 0),
        "destination.packets": dig(body, "destination.packets", 0),
        "source.bytes": dig(body, "source.bytes", 0),
        "destination.bytes": dig(body, "destination.bytes", 0),
        "firstPacket": body.get("firstPacket"),
        "lastPacket": body.get("lastPacket"),
        "network.community_id": dig(body, "network.community_id"),
        "http.host": sorted(set(as_list(dig(body, "http.host")))),
        # dns is one object per query/response pair; its host lists the question name and the
        # CNAME targets of the answers (what Arkime's host.dns finds), the root left out
        "dns.host": sorted({h for e in as_list(body.get("dns")) if isinstance(e, dict)
                            for h in as_list(e.get("host"))}),
        "protocols.transport": sorted(set(as_list(body.get("protocol"))) & TRANSPORTS),
        "_ethertype": body.get("ethertype"),     # names non-IP sessions; not compared
    }


def our_session(doc):
    proto = dig(doc, "network.iana_number")
    try:
        proto = int(proto)
    except (TypeError, ValueError):
        pass
    # Arkime writes port 0 for protocols without ports (ICMP, ESP, ...); we leave it out
    return {
        "ipProtocol": proto,
        "source.ip": norm_ip(dig(doc, "source.ip")),
        "source.port": dig(doc, "source.port", 0),
        "destination.ip": norm_ip(dig(doc, "destination.ip")),
        "destination.port": dig(doc, "destination.port", 0),
        "source.packets": dig(doc, "source.packets", 0),
        "destination.packets": dig(doc, "destination.packets", 0),
        "source.bytes": dig(doc, "source.bytes", 0),
        "destination.bytes": dig(doc, "destination.bytes", 0),
        "firstPacket": iso_to_ms(dig(doc, "event.start")),
        "lastPacket": iso_to_ms(dig(doc, "event.end")),
        "network.community_id": dig(doc, "network.community_id"),
        "http.host": sorted(set(as_list(dig(doc, "url.domain")) +
                                as_list(dig(doc, "tls.client.server_name")))),
        "dns.host": sorted(set(as_list(dig(doc, "dns.question.name")))),
        "protocols.transport": sorted(set(as_list(dig(doc, "ashiato.protocols"))) & TRANSPORTS),
    }


def session_key(s):
    """file-unique, space-free name of a session: tcp/10.0.0.1:54869>10.0.0.2:80@1401385380102,
    or for Arkime's non-IP sessions the ethertype: ether-0x0806@1737752424000"""
    if s["source.ip"] is None and s["destination.ip"] is None and s.get("_ethertype") is not None:
        return f"ether-0x{s['_ethertype']:04x}@{s['firstPacket']}"
    def ep(ip, port):
        ip = "-" if ip is None else (f"[{ip}]" if ":" in ip else ip)
        return f"{ip}:{'-' if port is None else port}"
    proto = PROTO_NAMES.get(s["ipProtocol"], str(s["ipProtocol"]))
    return (f"{proto}/{ep(s['source.ip'], s['source.port'])}>"
            f"{ep(s['destination.ip'], s['destination.port'])}@{s['firstPacket']}")


# ---------------------------------------------------------------- pairing and comparing

def endpoints(s):
    a = (s["source.ip"] or "", s["source.port"] or 0)
    b = (s["destination.ip"] or "", s["destination.port"] or 0)
    return (s["ipProtocol"],) + tuple(sorted([a, b]))


def packets(s):
    return (s["source.packets"] or 0) + (s["destination.packets"] or 0)


def pair_sessions(expected, got):
    """[(exp or None, got or None)] in the order of expected, then our leftovers.

    Three passes, each on what the previous left: same flow and first and last packet, same
    flow and first packet, same flow. Within a pass the closest pairs go first (packets per
    direction, then first packet), so the segments of one long session (same flow, same
    firstPacket, as Arkime keeps it across segments) pair with their like."""
    def gap(e, g):
        return (abs((e["source.packets"] or 0) - (g["source.packets"] or 0)) +
                abs((e["destination.packets"] or 0) - (g["destination.packets"] or 0)))

    def apart(e, g):
        return abs((e["firstPacket"] or 0) - (g["firstPacket"] or 0))

    passes = (
        (lambda s: endpoints(s) + (s["firstPacket"], s["lastPacket"]), lambda e, g: (gap(e, g),)),
        (lambda s: endpoints(s) + (s["firstPacket"],), lambda e, g: (gap(e, g),)),
        (endpoints, lambda e, g: (apart(e, g), gap(e, g))),
    )
    exp_left, got_left, match = set(range(len(expected))), set(range(len(got))), {}
    for keyf, rank in passes:
        by_key = {}
        for j in got_left:
            by_key.setdefault(keyf(got[j]), []).append(j)
        cands = sorted((rank(expected[i], got[j]), i, j) for i in exp_left
                       for j in by_key.get(keyf(expected[i]), ()))
        for _, i, j in cands:
            if i in exp_left and j in got_left:
                exp_left.discard(i)
                got_left.discard(j)
                match[i] = j
    pairs = [(e, got[match[i]] if i in match else None) for i, e in enumerate(expected)]
    return pairs + [(None, got[j]) for j in sorted(got_left)]


def fmt(v):
    if isinstance(v, list):
        return "[" + ",".join(v) + "]"
    return "-" if v is None else str(v)


# ---------------------------------------------------------------- differences.txt

def load_differences():
    entries = []
    if not DIFFERENCES.exists():
        return entries
    for n, raw in enumerate(DIFFERENCES.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, sep, reason = line.partition(" -- ")
        parts = head.split()
        if not sep or not reason.strip() or len(parts) != 3:
            raise AssertionError(f"{DIFFERENCES.name}:{n}: expected "
                                 f"'file.pcap <session key> <field or *> -- reason', got {raw!r}")
        if parts[2] != "*" and parts[2] not in FIELDS + ("session", "empty-segment"):
            raise AssertionError(f"{DIFFERENCES.name}:{n}: unknown field {parts[2]!r}")
        entries.append({"line": n, "file": parts[0], "key": parts[1], "field": parts[2],
                        "reason": reason.strip(), "used": 0})
    return entries


def excuse(entries, file, key, field):
    for e in entries:
        if e["file"] == file and e["key"] in (key, "*") and e["field"] in (field, "*"):
            e["used"] += 1
            return e
    return None


# ---------------------------------------------------------------- running the sensor

def pcaps():
    return sorted(p for p in CORPUS.glob("*.pcap") if p.with_suffix(".test").exists())


@pytest.fixture(scope="module")
def runs():
    if not SENSOR.exists():
        pytest.fail(f"{SENSOR} not built (set ASHIATO_BUILD_DIR to the build tree)")
    out = {}
    for pcap in pcaps():
        cmd = [str(SENSOR), "-c", str(INI), "--read", str(pcap), "--emit-json", "-",
               "--name", "test"]
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "detect_leaks=1"))
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
            out[pcap.name] = (p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            out[pcap.name] = (None, e.stdout or "", f"timed out after 120 s: {' '.join(cmd)}")
    return out


@pytest.fixture(scope="module")
def comparison(runs):
    entries = load_differences()
    lines, matched, excused_sessions, total, unexcused = [], 0, 0, 0, 0
    for pcap in pcaps():
        name = pcap.name
        expected = [arkime_session(s["body"]) for s in
                    json.loads(pcap.with_suffix(".test").read_text())["sessions3"]]
        total += len(expected)
        rc, stdout, _ = runs[name]
        got = []
        for n, line in enumerate(stdout.splitlines(), 1):
            if not line.strip():
                continue
            try:
                got.append(our_session(json.loads(line)))
            except json.JSONDecodeError as err:
                lines.append(f"{name} output:{n} - not JSON ({err}): {line[:120]}")
                unexcused += 1
        for exp, ours in pair_sessions(expected, got):
            key = session_key(exp if exp is not None else ours)
            if exp is None or ours is None:
                # a record without packets is the empty last segment of a long session
                what = "empty-segment" if packets(exp or ours) == 0 else "session"
                diffs = [(what, "present" if exp else "absent", "present" if ours else "absent")]
            else:
                diffs = [(f, exp[f], ours[f]) for f in FIELDS if exp[f] != ours[f]]
            open_diffs = 0
            for field, e, g in diffs:
                why = excuse(entries, name, key, field)
                tag = "excused" if why else "MISMATCH"
                lines.append(f"{tag} {name} {key} {field} expected={fmt(e)} got={fmt(g)}"
                             + (f"  ({why['reason']})" if why else ""))
                open_diffs += why is None
            unexcused += open_diffs
            if exp is not None:
                if not diffs:
                    matched += 1
                elif not open_diffs:
                    excused_sessions += 1
    unused = [e for e in entries if not e["used"]]
    lines.append(f"{excused_sessions} more session(s) differ only as differences.txt allows")
    lines.append(f"matched {matched} of {total} sessions")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return {"unexcused": unexcused, "unused": unused, "matched": matched, "total": total,
            "report": lines}


# ---------------------------------------------------------------- the tests

def test_sensor_exits_cleanly(runs):
    bad = []
    for name, (rc, _, stderr) in sorted(runs.items()):
        if rc != 0:
            bad.append(f"{name}: exit status {rc}: {stderr.strip()[-400:]}")
        marks = [m for m in SANITIZER_MARKS if m in stderr]
        if marks:
            bad.append(f"{name}: sanitizer report ({', '.join(marks)}):\n{stderr[-2000:]}")
    assert not bad, "\n".join(bad)


def test_sessions_match_arkime(comparison):
    assert comparison["unexcused"] == 0, (
        f"{comparison['unexcused']} difference(s) from Arkime not listed in {DIFFERENCES.name} "
        f"(report: {REPORT}):\n" +
        "\n".join(l for l in comparison["report"] if not l.startswith("excused ")))


def test_differences_all_needed(comparison):
    stale = [f"{DIFFERENCES.name}:{e['line']}: {e['file']} {e['key']} {e['field']} excuses nothing"
             for e in comparison["unused"]]
    assert not stale, "\n".join(stale)
