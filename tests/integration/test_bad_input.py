"""Bad input: ashiato-sensor on truncated, corrupt and odd capture files, and on inputs it
cannot open at all.

Acceptance (issue 2, "Bad input"): truncated and corrupt pcaps, snaplen-cut packets, bogus
length fields, random bytes are counted as malformed, never a crash or an out-of-bounds read
(the same tests run against the ASan+UBSan build: every run's stderr is checked for sanitizer
reports); unknown link type, missing file, missing interface, no permission give a one-line
error naming the thing and a non-zero exit.

The captures are written here in Python (no ../shared needed): a small sample of sessions
(an HTTP exchange, a rejected TCP connection, DNS over UDP, an ICMP echo), in every file format
the sensor reads (pcap either byte order, micro- and nanosecond, pcapng), then cut and
corrupted. Where ../shared is present, the same cuts are also made in two of Arkime's corpus
captures. The oracle for "sessions that decoded are still emitted" is the sensor's own output
on the intact part of the file: a file cut inside record k must give exactly the sessions of
the valid file holding records 0..k-1.
"""
import os
import random
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

# small tables: these runs hold a handful of sessions, and allocating the default tables
# (~200 MB) costs more than reading the file; app_fields_max has no flag, hence the INI
SMALL = ["--max-sessions", "4096"]
SMALL_INI = "[sensor]\nmax_sessions = 4096\napp_fields_max = 256\n"
T0 = 1632833400           # 2021-09-28T12:50:00Z


# ---------------------------------------------------------------- writing packets and files

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def ether(payload, ethertype=0x0800):
    macs = bytes.fromhex("00005e000101") + bytes.fromhex("001b17000101")
    return macs + struct.pack("!H", ethertype) + payload


def ipv4(src, dst, proto, l4, ident=1):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, 0x4000, 64, proto, 0, ip4(src), ip4(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + l4


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", ident=1):
    h = struct.pack("!HHIIHHHH", sport, dport, seq, ack, (5 << 12) | flags, 64240, 0, 0)
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(h) + len(payload))
    h = h[:16] + struct.pack("!H", csum(pseudo + h + payload)) + h[18:]
    return ether(ipv4(src, dst, 6, h + payload, ident))


def udp(src, dst, sport, dport, payload, ident=1):
    h = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 17, len(h) + len(payload))
    c = csum(pseudo + h + payload) or 0xffff
    return ether(ipv4(src, dst, 17, h[:6] + struct.pack("!H", c) + payload, ident))


def icmp_echo(src, dst, typ, ident, seq, data, ip_id=1):
    h = struct.pack("!BBHHH", typ, 0, 0, ident, seq)
    h = h[:2] + struct.pack("!H", csum(h + data)) + h[4:]
    return ether(ipv4(src, dst, 1, h + data, ip_id))


def dns_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def sample_frames():
    """[(ts_us, frame)]: 4 sessions, 18 packets, every header complete and checksummed.
    TCP carries no options, so a 60-byte snaplen keeps every header whole."""
    c, s = "10.1.0.5", "10.2.0.80"
    get = b"GET /index.html HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: itest/1.0\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
    ci, si = 1000, 5000
    http = [
        (c, s, SYN, b""), (s, c, SYN | ACK, b""), (c, s, ACK, b""), (c, s, PSH | ACK, get),
        (s, c, ACK, b""), (s, c, PSH | ACK, resp), (c, s, ACK, b""), (c, s, FIN | ACK, b""),
        (s, c, FIN | ACK, b""), (c, s, ACK, b""),
    ]
    seq = {c: ci, s: si}
    frames = []
    t = T0 * 1000000 + 100000
    for n, (a, b, fl, pay) in enumerate(http):
        ack = 0 if fl == SYN else seq[b]
        sp, dp = (40001, 80) if a == c else (80, 40001)
        frames.append((t, tcp(a, b, sp, dp, seq[a], ack, fl, pay, ident=n + 1)))
        seq[a] += len(pay) + (1 if fl & (SYN | FIN) else 0)
        t += 1500
    # a rejected connection
    frames.append((T0 * 1000000 + 104000, tcp("10.1.0.6", "10.2.0.22", 40002, 22, 777, 0, SYN)))
    frames.append((T0 * 1000000 + 104300, tcp("10.2.0.22", "10.1.0.6", 22, 40002, 0, 778, RST | ACK)))
    # DNS over UDP
    question = dns_name("www.example.test") + struct.pack("!HH", 1, 1)
    q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + question
    r = (struct.pack("!HHHHHH", 0x4242, 0x8180, 1, 1, 0, 0) + question +
         b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + ip4(s))
    frames.append((T0 * 1000000 + 90000, udp(c, "10.2.0.53", 53001, 53, q)))
    frames.append((T0 * 1000000 + 91000, udp("10.2.0.53", c, 53, 53001, r)))
    # ICMP echo, two rounds
    for i in range(2):
        t = T0 * 1000000 + 200000 + i * 1000000
        frames.append((t, icmp_echo(c, "10.2.0.1", 8, 0x1234, i + 1, b"ping" * 8, 100 + i)))
        frames.append((t + 400, icmp_echo("10.2.0.1", c, 0, 0x1234, i + 1, b"ping" * 8, 200 + i)))
    frames.sort(key=lambda x: x[0])
    return frames


def pcap_bytes(records, *, linktype=1, snaplen=65535, big_endian=False, nano=False):
    """records: [(ts_ns, data, wirelen)] -> a classic pcap file."""
    e = ">" if big_endian else "<"
    out = [struct.pack(e + "IHHiIII", 0xa1b23c4d if nano else 0xa1b2c3d4, 2, 4, 0, 0, snaplen, linktype)]
    for ts_ns, data, wirelen in records:
        frac = ts_ns % 10**9 if nano else ts_ns % 10**9 // 1000
        out.append(struct.pack(e + "IIII", ts_ns // 10**9, frac, len(data), wirelen) + data)
    return b"".join(out)


def pcapng_bytes(records, *, linktype=1, big_endian=False, nano=False):
    """records: [(ts_ns, data, wirelen)] -> a pcapng file: SHB, one IDB (if_tsresol 6 or 9), EPBs."""
    e = ">" if big_endian else "<"

    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)

    shb = block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = struct.pack(e + "HH", 9, 1) + bytes([9 if nano else 6]) + b"\0\0\0" + struct.pack(e + "HH", 0, 0)
    idb = block(1, struct.pack(e + "HHI", linktype, 0, 65535) + opts)
    out = [shb, idb]
    for ts_ns, data, wirelen in records:
        ts = ts_ns if nano else ts_ns // 1000
        epb = struct.pack(e + "IIIII", 0, ts >> 32, ts & 0xffffffff, len(data), wirelen)
        out.append(block(6, epb + data))
    return b"".join(out)


def read_pcap(data):
    """A classic pcap of either byte order -> (header bytes,
    [(offset, ts_ns, caplen, wirelen, data)])."""
    magic = struct.unpack("<I", data[:4])[0]
    e = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    nano = struct.unpack(e + "I", data[:4])[0] == 0xa1b23c4d
    recs = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, cl, wl = struct.unpack_from(e + "IIII", data, off)
        if off + 16 + cl > len(data):
            break
        ts_ns = sec * 10**9 + (frac if nano else frac * 1000)
        recs.append((off, ts_ns, cl, wl, data[off + 16:off + 16 + cl]))
        off += 16 + cl
    return data[:24], recs


def sample_records():
    return [(ts * 1000, f, len(f)) for ts, f in sample_frames()]


# ---------------------------------------------------------------- running and comparing

def key(doc):
    """What identifies a session here: transport, the two ends (source = initiator)."""
    return (doc["network"]["iana_number"], doc["source"]["ip"], doc["source"].get("port"),
            doc["destination"]["ip"], doc["destination"].get("port"))


def counts(doc):
    return (doc["source"]["packets"], doc["destination"]["packets"])


def one_line_error(run, must_name, what):
    """A failed start: non-zero exit and exactly one stderr line that names the thing."""
    assert run.rc != 0, f"{what}: exit status 0, expected non-zero; stderr:\n{run.stderr}"
    lines = run.stderr_lines
    assert len(lines) == 1, f"{what}: expected one stderr line, got {len(lines)}:\n{run.stderr}"
    for name in must_name:
        assert str(name) in lines[0], f"{what}: error line does not name {name!r}: {lines[0]!r}"
    assert run.sessions == [], f"{what}: sessions emitted by a failed start"


@pytest.fixture
def write(tmp_path):
    def w(name, data):
        p = tmp_path / name
        p.write_bytes(data)
        return p
    return w


@pytest.fixture(scope="session")
def small_ini(tmp_path_factory):
    p = tmp_path_factory.mktemp("ini") / "small.ini"
    p.write_text(SMALL_INI)
    return p


@pytest.fixture
def sensor(run_sensor, small_ini):
    """Runs the sensor on one file with --stats, JSON on stdout, small tables."""
    def go(path, *extra):
        return run_sensor(["-c", small_ini, "--read", path, "--emit-json", "-", "--stats",
                           "--name", "bad"] + list(extra))
    return go


@pytest.fixture(params=["generated", "http-simple-get.pcap", "dns-udp.pcap"])
def capture(request):
    """(name, bytes) of a little-endian microsecond pcap: ours, or one of Arkime's corpus."""
    if request.param == "generated":
        return "generated", pcap_bytes(sample_records())
    shared = request.getfixturevalue("shared_dir")
    path = shared / "corpus" / "arkime-tests" / request.param
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return request.param, path.read_bytes()


# ---------------------------------------------------------------- the sample itself

def test_sample_is_clean(sensor, write):
    """The baseline the other tests cut up: 4 sessions, nothing malformed."""
    run = sensor(write("sample.pcap", pcap_bytes(sample_records())))
    assert run.rc == 0, run.stderr
    st = run.require_stats("sample")
    assert (st["packets"], st["ip"], st["malformed"], st["truncated_inputs"]) == (18, 18, 0, 0), run.stderr
    got = {key(d): counts(d) for d in run.sessions}
    assert got == {
        ("6", "10.1.0.5", 40001, "10.2.0.80", 80): (6, 4),
        ("6", "10.1.0.6", 40002, "10.2.0.22", 22): (1, 1),
        ("17", "10.1.0.5", 53001, "10.2.0.53", 53): (1, 1),
        ("1", "10.1.0.5", 0, "10.2.0.1", 0): (2, 2),
    }, run.sessions
    assert len(run.sessions) == 4


# ---------------------------------------------------------------- truncated files

def test_cut_in_file_header(capture, run_sensor, write, small_ini):
    """Fewer than 24 bytes is no capture at all: one line naming the file, non-zero exit."""
    name, data = capture
    for cut in (0, 1, 4, 8, 12, 16, 20, 23):
        p = write(f"head-{cut}.pcap", data[:cut])
        run = run_sensor(["-c", small_ini, "--read", p, "--emit-json", "-"])
        one_line_error(run, [p], f"{name} cut at {cut}")


def test_header_only(capture, sensor, write):
    name, data = capture
    run = sensor(write("header-only.pcap", data[:24]))
    assert run.rc == 0, run.stderr
    st = run.require_stats(name)
    assert (st["packets"], st["sessions"], st["truncated_inputs"]) == (0, 0, 0), run.stderr
    assert run.sessions == []


def test_cut_in_records(capture, sensor, write):
    """Cut in every record: inside its 16-byte header and inside its data. Exit 0, the input
    counted as truncated, and the sessions are exactly those of the complete records before
    the cut (a cut on a record boundary is a valid, shorter file). A cut in the first record
    leaves no packet at all: that is an error naming the file, non-zero (issue 14 L6)."""
    name, data = capture
    _, recs = read_pcap(data)
    assert recs, f"{name}: no records"
    prefix_runs = {}

    def prefix(k):
        if k not in prefix_runs:
            end = recs[k][0] if k < len(recs) else len(data)
            run = sensor(write(f"prefix-{k}.pcap", data[:end]))
            assert run.rc == 0, f"{name} first {k} records: {run.stderr}"
            st = run.require_stats(f"{name} first {k} records")
            assert (st["packets"], st["truncated_inputs"]) == (k, 0), run.stderr
            prefix_runs[k] = run.sessions
        return prefix_runs[k]

    failures = []
    for k, (off, _, cl, _, _) in enumerate(recs):
        data_at = off + 16
        cuts = sorted({off + 1, off + 8, off + 15, data_at + 1, data_at + cl // 2, data_at + cl - 1}
                      - {data_at + cl})
        for cut in cuts:
            run = sensor(write(f"cut-{cut}.pcap", data[:cut]))
            st = run.stats
            where = "record header" if cut < off + 16 else "packet data"
            if k == 0:
                if run.rc == 0 or not run.stderr_lines[-1].startswith("ashiato-sensor: no packets read: "):
                    failures.append(f"{name} cut at {cut} ({where} of record 0): exit {run.rc}, "
                                    f"expected non-zero and 'no packets read'; stderr {run.stderr!r}")
                elif (st["packets"], st["truncated_inputs"]) != (0, 1) or run.sessions:
                    failures.append(f"{name} cut at {cut} in record 0: packets {st['packets']} "
                                    f"truncated inputs {st['truncated_inputs']}, sessions {run.sessions}")
                continue
            if run.rc != 0 or not st:
                failures.append(f"{name} cut at {cut} ({where} of record {k}): exit {run.rc}, "
                                f"stderr {run.stderr!r}")
                continue
            if (st["packets"], st["truncated_inputs"]) != (k, 1):
                failures.append(f"{name} cut at {cut} ({where} of record {k}): packets {st['packets']} "
                                f"truncated inputs {st['truncated_inputs']}, expected {k} and 1")
            if run.sessions != prefix(k):
                failures.append(f"{name} cut at {cut} ({where} of record {k}): sessions differ from "
                                f"the {k} complete records: {run.sessions} vs {prefix(k)}")
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} failures)"


# ---------------------------------------------------------------- corrupt record lengths

def _patch_record(data, k, caplen=None, wirelen=None):
    _, recs = read_pcap(data)
    off = recs[k][0]
    b = bytearray(data)
    if caplen is not None:
        struct.pack_into("<I", b, off + 8, caplen)
    if wirelen is not None:
        struct.pack_into("<I", b, off + 12, wirelen)
    return bytes(b), recs


@pytest.mark.parametrize("caplen", [262145, 1 << 20, 0x7fffffff, 0xfffffff0])
def test_caplen_huge(capture, sensor, write, caplen):
    """A record claiming more captured bytes than any snaplen: the rest of the file is
    unreadable. Exit 0, the input counted as truncated, the records before it still made
    into sessions."""
    name, data = capture
    _, recs = read_pcap(data)
    k = len(recs) // 2
    bad, _ = _patch_record(data, k, caplen=caplen)
    run = sensor(write("huge.pcap", bad))
    assert run.rc == 0, f"{name} record {k} caplen {caplen}: {run.stderr}"
    st = run.require_stats(name)
    assert (st["packets"], st["truncated_inputs"]) == (k, 1), \
        f"{name} record {k} caplen {caplen}: {run.stderr}"
    good = sensor(write("good.pcap", data[:recs[k][0]]))
    assert run.sessions == good.sessions


def test_caplen_above_file_snaplen(capture, sensor, write):
    """The file header says snaplen 64 but the records hold whole frames: libpcap keeps the
    first 64 bytes of each, so these are snaplen-cut packets, held to what test_snaplen_cut
    asks of them."""
    name, data = capture
    hdr, recs = read_pcap(data)
    run = sensor(write("snap64.pcap", hdr[:16] + struct.pack("<I", 64) + data[20:]))
    full = sensor(write("full.pcap", data))
    check_snaplen_cut(f"{name} with file snaplen 64", run, full, recs, 64)


def test_caplen_above_wirelen(capture, sensor, write):
    """A record with more captured bytes than were on the wire (bogus length field): counted
    malformed, no crash, exit 0, and every session still emitted."""
    name, data = capture
    _, recs = read_pcap(data)
    full = sensor(write("full.pcap", data))
    for k, wl in ((len(recs) // 2, recs[len(recs) // 2][2] - 10), (1, 0)):
        bad, _ = _patch_record(data, k, wirelen=wl)
        run = sensor(write(f"wl-{k}.pcap", bad))
        assert run.rc == 0, run.stderr
        st = run.require_stats(name)
        assert st["packets"] == len(recs)
        assert st["malformed"] >= 1, (
            f"{name}: record {k} has caplen {recs[k][2]} > wire length {wl}; expected malformed >= 1, "
            f"got {st['malformed']}")
        assert {key(d) for d in run.sessions} == {key(d) for d in full.sessions}


# ---------------------------------------------------------------- snaplen-cut packets

def header_ends(frame):
    """(end of the IP header, end of the transport header) in a frame of our sample or the
    corpus captures used here (Ethernet, optional 802.1Q, IPv4 or IPv6 without extension
    headers). The transport header is TCP with its options, UDP's 8 bytes, ICMP's fixed 4
    (type, code, checksum: the rest depends on the type). Non-IP frames: the link header."""
    off, et = 14, struct.unpack("!H", frame[12:14])[0]
    while et in (0x8100, 0x88a8):
        et = struct.unpack("!H", frame[off + 2:off + 4])[0]
        off += 4
    if et == 0x0800:
        proto = frame[off + 9]
        off += (frame[off] & 15) * 4
    elif et == 0x86dd:
        proto = frame[off + 6]
        off += 40
    else:
        return off, off
    if proto == 6:
        return off, off + (frame[off + 12] >> 4) * 4
    if proto in (1, 58):
        return off, off + 4
    return off, off + 8


def headers_len(frame):
    return header_ends(frame)[1]


def ip_totals(sessions):
    """{(transport, the two addresses): packets}: what is left to compare when ports are not."""
    out = {}
    for d in sessions:
        k = (d["network"]["iana_number"], tuple(sorted([d["source"]["ip"], d["destination"]["ip"]])))
        out[k] = out.get(k, 0) + d["network"]["packets"]
    return out


def snap(data, n):
    hdr, recs = read_pcap(data)
    out = [hdr[:16] + struct.pack("<I", n) + hdr[20:]]
    for _, ts_ns, cl, wl, pkt in recs:
        pkt = pkt[:n]
        out.append(struct.pack("<IIII", ts_ns // 10**9, ts_ns % 10**9 // 1000, len(pkt), wl) + pkt)
    return b"".join(out), recs


def check_snaplen_cut(what, run, full, recs, snaplen):
    """Exit 0, every packet counted; malformed at least the packets whose link/IP/transport
    headers (TCP with its options) do not fit in snaplen bytes and at most the packets cut at
    all; what decoded still makes sessions: with every header whole, the same sessions as the
    intact file (same ends, same packets each way); with the IP headers whole but not the
    transport headers, the same packets between the same addresses per transport (the ports
    are lost, the packets are not)."""
    assert run.rc == 0, f"{what}: exit {run.rc}\n{run.stderr}"
    st = run.require_stats(what)
    problems = []
    if st["packets"] != len(recs):
        problems.append(f"packets {st['packets']}, expected {len(recs)}")
    cut_hdr = sum(1 for r in recs if headers_len(r[4]) > snaplen)
    cut_any = sum(1 for r in recs if r[2] > snaplen)
    if not cut_hdr <= st["malformed"] <= cut_any:
        problems.append(f"malformed {st['malformed']}, expected between {cut_hdr} (packets whose headers "
                        f"are cut) and {cut_any} (packets cut at all)")
    if cut_hdr == 0:
        want, got = {key(d): counts(d) for d in full.sessions}, {key(d): counts(d) for d in run.sessions}
        if got != want:
            problems.append(f"sessions differ from the intact file's: {got} vs {want}")
    elif all(header_ends(r[4])[0] <= snaplen for r in recs):
        want, got = ip_totals(full.sessions), ip_totals(run.sessions)
        if got != want:
            problems.append(f"IP headers whole, but packets per address pair differ from the intact "
                            f"file's: {got} vs {want}")
    assert not problems, f"{what}: " + "; ".join(problems)


@pytest.mark.parametrize("snaplen", [60, 54, 40, 34, 20])
def test_snaplen_cut(capture, sensor, write, snaplen):
    """Packets cut short by the capture's snaplen (as `editcap -s N` does; written here in
    Python). The issue counts snaplen-cut packets as malformed; see check_snaplen_cut."""
    name, data = capture
    cut, recs = snap(data, snaplen)
    run = sensor(write(f"snap{snaplen}.pcap", cut))
    full = sensor(write("full.pcap", data))
    check_snaplen_cut(f"{name} cut to {snaplen} bytes", run, full, recs, snaplen)


def test_snaplen_cut_editcap(sensor, write, tmp_path):
    """The same cut made by editcap (Wireshark's tool), when installed."""
    if shutil.which("editcap") is None:
        pytest.skip("editcap not installed (Debian package wireshark-common/tshark)")
    src = write("sample.pcap", pcap_bytes(sample_records()))
    dst = tmp_path / "sample-s60.pcap"
    subprocess.run(["editcap", "-F", "pcap", "-s", "60", str(src), str(dst)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run = sensor(dst)
    full = sensor(src)
    assert run.rc == 0, run.stderr
    assert run.require_stats("editcap -s 60")["packets"] == 18
    assert {key(d): counts(d) for d in run.sessions} == {key(d): counts(d) for d in full.sessions}


# ---------------------------------------------------------------- bogus header lengths

def _sample_with(k, patch):
    """The sample with frame k changed by patch(bytearray) -> (file bytes, frame)."""
    recs = sample_records()
    ts, frame, wl = recs[k]
    b = bytearray(frame)
    patch(b)
    recs[k] = (ts, bytes(b), len(b))
    return pcap_bytes(recs), bytes(b)


def _frame_index(pred):
    for i, (_, f, _) in enumerate(sample_records()):
        if pred(f):
            return i
    raise AssertionError("no such frame in the sample")


IS_TCP_DATA = lambda f: f[23] == 6 and len(f) > 54          # noqa: E731
IS_UDP = lambda f: f[23] == 17                              # noqa: E731
IS_ICMP = lambda f: f[23] == 1                              # noqa: E731


def _set_u8(off, v):
    def p(b):
        b[off] = v
    return p


def _set_u16(off, v):
    def p(b):
        struct.pack_into("!H", b, off, v)
    return p


BOGUS = {
    "ipv4 header length 4": (IS_TCP_DATA, _set_u8(14, 0x44)),
    "ipv4 header length 15": (IS_UDP, _set_u8(14, 0x4f)),
    "ipv4 total length 10": (IS_TCP_DATA, _set_u16(16, 10)),
    "ipv4 total length 65535": (IS_TCP_DATA, _set_u16(16, 65535)),
    "ip version 7": (IS_ICMP, _set_u8(14, 0x75)),
    "tcp data offset 2": (IS_TCP_DATA, _set_u8(14 + 20 + 12, 0x20)),
    "tcp data offset 15": (lambda f: f[23] == 6 and len(f) == 54, _set_u8(14 + 20 + 12, 0xf0)),
    "udp length 3": (IS_UDP, _set_u16(14 + 20 + 4, 3)),
    "udp length 4000": (IS_UDP, _set_u16(14 + 20 + 4, 4000)),
}


@pytest.mark.parametrize("what", sorted(BOGUS))
def test_bogus_header_length(sensor, write, what):
    """One packet whose IP/TCP/UDP length field lies (the frame itself is whole, caplen ==
    wire length): exactly that packet counted as malformed, exit 0, and every session that does
    not contain it emitted exactly as from the clean sample."""
    pred, patch = BOGUS[what]
    k = _frame_index(pred)
    data, frame = _sample_with(k, patch)
    run = sensor(write("bogus.pcap", data))
    clean = sensor(write("clean.pcap", pcap_bytes(sample_records())))
    assert run.rc == 0, run.stderr
    st = run.require_stats(what)
    assert st["packets"] == 18
    assert st["malformed"] == 1, f"{what} (frame {k}): malformed {st['malformed']}, expected 1\n{run.stderr}"
    clean_frame = sample_records()[k][1]
    hit = ("6" if clean_frame[23] == 6 else "17" if clean_frame[23] == 17 else "1")
    ip_a, ip_b = ".".join(map(str, clean_frame[26:30])), ".".join(map(str, clean_frame[30:34]))
    untouched = [d for d in clean.sessions
                 if not (d["network"]["iana_number"] == hit and
                         {d["source"]["ip"], d["destination"]["ip"]} == {ip_a, ip_b})]
    for d in untouched:
        assert d in run.sessions, f"{what}: session lost or changed: {d}"


# ---------------------------------------------------------------- random bytes

@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_after_header(sensor, write, seed):
    """A valid file header, then random bytes: no crash; whatever libpcap makes of it is
    counted (packets, or the input counted as truncated). If no packet came out of it at all,
    the run fails naming the file (issue 14 L6), else it exits 0."""
    rng = random.Random(seed)
    data = pcap_bytes([]) + rng.randbytes(rng.choice((1, 15, 16, 100, 4096, 65536)))
    p = write(f"random-{seed}.pcap", data)
    run = sensor(p)
    st = run.require_stats(f"random seed {seed}")
    assert st["packets"] > 0 or st["truncated_inputs"] == 1, run.stderr
    if st["packets"] == 0:
        assert run.rc != 0, run.stderr
        assert run.stderr_lines[-1].startswith(f"ashiato-sensor: no packets read: {p}: "), run.stderr
    else:
        assert run.rc == 0, run.stderr


@pytest.mark.parametrize("seed", range(4))
def test_random_frames(sensor, write, seed):
    """Valid records holding random frames, half of them claiming IPv4 (ethertype 0x0800,
    first byte 0x45): exit 0, no crash, every packet counted, malformed > 0."""
    rng = random.Random(1000 + seed)
    recs = []
    for i in range(400):
        n = rng.randrange(1, 200)
        f = bytearray(rng.randbytes(n))
        if i % 2 and n >= 15:
            f[12:14] = b"\x08\x00"
            f[14] = 0x45
        recs.append(((T0 + i) * 10**9, bytes(f), n + rng.choice((0, 0, 0, 100))))
    run = sensor(write(f"frames-{seed}.pcap", pcap_bytes(recs)))
    assert run.rc == 0, run.stderr
    st = run.require_stats(f"random frames seed {seed}")
    assert st["packets"] == 400
    assert st["malformed"] > 0, run.stderr


def test_random_tail_after_capture(capture, sensor, write):
    """A valid capture followed by random bytes: its sessions are all still emitted."""
    name, data = capture
    good = sensor(write("good.pcap", data))
    run = sensor(write("tail.pcap", data + random.Random(7).randbytes(3000)))
    assert run.rc == 0, run.stderr
    st = run.require_stats(name)
    assert st["malformed"] + st["truncated_inputs"] > 0, run.stderr
    for d in good.sessions:
        assert d in run.sessions, f"{name}: session lost after a random tail: {d}"


# ---------------------------------------------------------------- other formats

FORMATS = {
    "pcap big-endian": lambda r: pcap_bytes(r, big_endian=True),
    "pcap nanosecond": lambda r: pcap_bytes(r, nano=True),
    "pcap nanosecond big-endian": lambda r: pcap_bytes(r, nano=True, big_endian=True),
    "pcapng": lambda r: pcapng_bytes(r),
    "pcapng big-endian": lambda r: pcapng_bytes(r, big_endian=True),
    "pcapng nanosecond": lambda r: pcapng_bytes(r, nano=True),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_formats_same_sessions(sensor, write, fmt):
    """The same packets in another byte order, timestamp precision or pcapng: the very same
    session documents (the nanosecond files carry 789 ns more per packet, which microsecond
    times drop)."""
    base = sensor(write("base.pcap", pcap_bytes(sample_records())))
    recs = [(ts + (789 if "nanosecond" in fmt else 0), f, wl) for ts, f, wl in sample_records()]
    run = sensor(write("other.bin", FORMATS[fmt](recs)))
    assert run.rc == 0, run.stderr
    st = run.require_stats(fmt)
    assert (st["packets"], st["malformed"], st["truncated_inputs"]) == (18, 0, 0), run.stderr
    assert run.sessions == base.sessions


@pytest.mark.parametrize("fmt", ["pcapng", "pcap nanosecond big-endian"])
def test_formats_truncated(sensor, write, fmt):
    """Other formats cut in their last packet: exit 0, input counted truncated, the sessions of
    the packets before it as from the same packets in a plain pcap."""
    recs = [(ts + (789 if "nanosecond" in fmt else 0), f, wl) for ts, f, wl in sample_records()]
    data = FORMATS[fmt](recs)
    run = sensor(write("cut.bin", data[:-20]))
    ref = sensor(write("ref.pcap", pcap_bytes(sample_records()[:-1])))
    assert run.rc == 0, run.stderr
    st = run.require_stats(fmt)
    assert (st["packets"], st["truncated_inputs"]) == (17, 1), run.stderr
    assert run.sessions == ref.sessions


# ---------------------------------------------------------------- inputs that cannot be read

def test_unknown_link_type(run_sensor, write, small_ini):
    p = write("dlt147.pcap", pcap_bytes(sample_records(), linktype=147))
    run = run_sensor(["-c", small_ini, "--read", p, "--emit-json", "-", "--name", "bad"])
    one_line_error(run, [p, "147"], "link type 147")


def test_missing_file(run_sensor, tmp_path):
    p = tmp_path / "no-such-capture.pcap"
    run = run_sensor(["--read", p, "--emit-json", "-"] + SMALL)
    one_line_error(run, [p], "missing file")


def test_missing_file_among_good_ones(run_sensor, write, tmp_path):
    good = write("good.pcap", pcap_bytes(sample_records()))
    p = tmp_path / "no-such-capture.pcap"
    run = run_sensor(["--read", good, "--read", p, "--emit-json", "-"] + SMALL)
    one_line_error(run, [p], "missing second file")


def test_missing_read_dir(run_sensor, tmp_path):
    p = tmp_path / "no-such-dir"
    run = run_sensor(["--read-dir", p, "--emit-json", "-"] + SMALL)
    one_line_error(run, [p], "missing --read-dir")


def test_missing_interface(run_sensor):
    run = run_sensor(["--interface", "nosuch0", "--emit-json", "-"] + SMALL)
    one_line_error(run, ["nosuch0"], "missing interface")


@pytest.fixture(scope="session")
def unprivileged(sensor_bin):
    """argv prefix that runs a command as nobody without capabilities when we are root (after
    checking that nobody can run the sensor at all); () when we are not root."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv"):
        prefix = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                  "--inh-caps=-all", "--bounding-set=-all", "--")
    elif shutil.which("runuser"):
        prefix = ("runuser", "-u", "nobody", "--")
    else:
        pytest.skip("running as root and neither setpriv nor runuser is installed to drop privileges")
    r = subprocess.run(list(prefix) + [str(sensor_bin), "--version"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    if r.returncode != 0:
        pytest.skip(f"user nobody cannot run {sensor_bin} ({r.stdout.strip()}): a private build directory?")
    return prefix


@pytest.fixture
def open_dir():
    """A directory user nobody may enter (pytest's tmp_path is private to its owner)."""
    d = Path(tempfile.mkdtemp(prefix="ashiato-itest-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_no_permission_file(run_sensor, open_dir, unprivileged):
    p = open_dir / "secret.pcap"
    p.write_bytes(pcap_bytes(sample_records()))
    p.chmod(0)
    run = run_sensor(["--read", p, "--emit-json", "-"] + SMALL, prefix=unprivileged)
    one_line_error(run, [p], "unreadable file")


def test_no_permission_interface(run_sensor, unprivileged):
    """Live capture without CAP_NET_RAW, on an interface that exists."""
    if not unprivileged:
        pytest.skip("not root: whether this user may capture depends on its capabilities")
    run = run_sensor(["--interface", "lo", "--emit-json", "-"] + SMALL, prefix=unprivileged)
    one_line_error(run, ["lo"], "capture without permission")


def test_unwritable_json_output(run_sensor, open_dir, unprivileged):
    """--emit-json into a directory we may not write: one line naming the file."""
    prefix = unprivileged
    if not prefix:
        pytest.skip("not root: no second user to lock out")
    src = open_dir / "sample.pcap"
    src.write_bytes(pcap_bytes(sample_records()))
    src.chmod(0o644)
    locked = open_dir / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    out = locked / "out.json"
    run = run_sensor(["--read", src, "--emit-json", out] + SMALL, prefix=prefix)
    one_line_error(run, [out], "unwritable --emit-json")
