"""Raw packets stay on the sensor (issue 3's acceptance), with real processes and files.

A multi-file pcap store is made from campusgen captures by tests/integration/pcap_store_driver
(the sensor's wiring of pcap_store + pcap_index, built only for tests, until ashiato-sensor
carries the store itself), which also serves the packet endpoint. `ashiato pcap` fetches
packets through that endpoint. The tests check:

- byte-identical retrieval of EVERY session, compared with the same packets selected from the
  original capture by tcpdump with a 5-tuple BPF and the session's time range;
- the Stenographer-style way (time range + BPF) on a sample of flows;
- retention by quota (oldest first, never the file being written, logged and counted) and by
  free space on a small tmpfs; requests for deleted packets answer EXPIRED;
- restart after kill -9 mid-write: the cut file is repaired to its last whole packet and
  never served as garbage; a clean restart keeps the catalogue intact;
- bad requests (malformed, unknown file, offsets outside a file or inside a packet, oversized)
  each get an error answer and the endpoint keeps serving.
"""

import base64
import concurrent.futures
import datetime
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pcap_positions import decode_positions, positions, varint  # noqa: E402

SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build"))
CAMPUSGEN = SOURCE_DIR.parent / "shared" / "tools" / "campusgen.py"
DRIVER = BUILD_DIR / "tests" / "pcap_store_driver"
CLI = BUILD_DIR / "bin" / "ashiato"
TCPDUMP = shutil.which("tcpdump")

pytestmark = [
    pytest.mark.skipif(not CAMPUSGEN.exists(),
                       reason=f"campusgen not found at {CAMPUSGEN} (../shared next to the source tree)"),
    pytest.mark.skipif(not DRIVER.exists() or not CLI.exists(),
                       reason=f"build {DRIVER} and {CLI} first (cmake --build)"),
    pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed"),
]


# ---- pcap and protobuf helpers ------------------------------------------------------------

def read_pcap(path):
    """(linktype, [(ts_us, record bytes: 16-byte header + data)]) of a classic pcap file."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise AssertionError(f"{path}: {len(data)} bytes, no pcap header")
    magic = data[:4]
    end = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(end + "I", data[20:24])[0]
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack(end + "IIII", data[off:off + 16])
        if off + 16 + caplen > len(data):
            raise AssertionError(f"{path}: record at {off} runs past the end")
        recs.append((sec * 1000000 + (frac // 1000 if nano else frac), data[off:off + 16 + caplen]))
        off += 16 + caplen
    assert off == len(data), f"{path}: {len(data) - off} trailing bytes"
    return linktype, recs


def iso_us(text):
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()) * 1000000 + dt.microsecond


def flow_bpf(doc):
    s, d = doc["source"], doc["destination"]
    proto = int(doc["network"]["iana_number"])
    names = {6: "tcp", 17: "udp", 132: "sctp"}
    if proto in names:
        a = f"src host {s['ip']} and src port {s['port']} and dst host {d['ip']} and dst port {d['port']}"
        b = f"src host {d['ip']} and src port {d['port']} and dst host {s['ip']} and dst port {s['port']}"
        return f"{names[proto]} and (({a}) or ({b}))"
    return f"ip proto {proto} and host {s['ip']} and host {d['ip']}"


def request(request_id=1, packet_pos=None, start_us=None, end_us=None, bpf=None, max_packets=None):
    """A PacketRequest (proto/ashiato.proto), encoded by hand."""
    out = bytearray(b"\x08" + varint(request_id))
    if packet_pos is not None:
        out += b"\x1a" + varint(len(packet_pos)) + packet_pos
    if start_us is not None:
        out += b"\x28" + varint(start_us)
    if end_us is not None:
        out += b"\x30" + varint(end_us)
    if bpf is not None:
        out += b"\x3a" + varint(len(bpf)) + bpf.encode()
    if max_packets is not None:
        out += b"\x48" + varint(max_packets)
    return bytes(out)


# ---- processes ----------------------------------------------------------------------------

class Server:
    """pcap_store_driver serving a store directory on an ipc endpoint."""

    def __init__(self, store, sock, log):
        self.endpoint = f"ipc://{sock}"
        self.log = log
        self.proc = subprocess.Popen([str(DRIVER), "--pcap-dir", str(store), "--name", "test",
                                      "--endpoint", self.endpoint, "--serve"],
                                     stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready"), f"driver did not start: {line!r} {Path(log).read_text()}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def alive(self):
        return self.proc.poll() is None


def build_store(capture, store, sessions, *args):
    """Read capture through the store; returns the driver's stats (and its log in store.log)."""
    log = Path(str(store) + ".log")
    res = subprocess.run([str(DRIVER), "--read", str(capture), "--pcap-dir", str(store), "--name",
                          "test", "--emit-json", str(sessions), "--stats", *args],
                         capture_output=True, text=True, timeout=300)
    log.write_text(res.stderr)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def fetch(endpoint, *args):
    return subprocess.run([str(CLI), "pcap", "--sensor", endpoint, *args], capture_output=True,
                          text=True, timeout=300)


def catalogue(store):
    files = {}
    for line in (Path(store) / "catalogue").read_text().splitlines():
        if line.startswith("file "):
            kv = dict(t.split("=", 1) for t in line.split()[1:])
            files[int(kv["id"])] = kv
    return files


class Expected:
    """The packets of a session as tcpdump selects them from the original capture: by flow
    (5-tuple BPF), then by the session's time range. One tcpdump run per flow."""

    def __init__(self, capture, workdir):
        self.capture, self.workdir, self.cache = capture, Path(workdir), {}
        self.workdir.mkdir(exist_ok=True)

    def _select(self, bpf):
        out = self.workdir / f"flow-{abs(hash(bpf))}.pcap"
        subprocess.run([TCPDUMP, "-r", str(self.capture), "-w", str(out), bpf],
                       check=True, capture_output=True, timeout=60)
        return read_pcap(out)[1]

    def prefetch(self, docs):
        """run tcpdump for every flow of docs, two at a time"""
        bpfs = sorted({flow_bpf(d) for d in docs} - self.cache.keys())
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for bpf, recs in zip(bpfs, pool.map(self._select, bpfs)):
                self.cache[bpf] = recs

    def of(self, doc):
        a, b = iso_us(doc["event"]["start"]), iso_us(doc["event"]["end"])
        bpf = flow_bpf(doc)
        if bpf not in self.cache:
            self.cache[bpf] = self._select(bpf)
        return [r for ts, r in self.cache[bpf] if a <= ts <= b]


# ---- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def campus(tmp_path_factory):
    out = tmp_path_factory.mktemp("campus")
    subprocess.run([sys.executable, str(CAMPUSGEN), "--out", str(out), "--sensors", "2,3",
                    "--duration", "90", "--scan-at", "+20", "--scan-ports", "400",
                    "--lateral-at", "+30", "--spike-at", "+50", "--spike-duration", "20",
                    "--misconfig-at", "+10", "--quiet"], check=True, timeout=300)
    return out


def load_docs(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


# ---- tests --------------------------------------------------------------------------------

@pytest.mark.parametrize("dept", [2, 3])
def test_every_session_byte_identical(campus, tmp_path, dept):
    capture = campus / f"sensor-{dept}.pcap"
    store, sessions = tmp_path / "store", tmp_path / "sessions.json"
    stats = build_store(capture, store, sessions, "--max-file-size", "256K")
    files = catalogue(store)
    assert len(files) >= 10, f"expected a multi-file store, got {len(files)} files"
    assert stats["store"]["dropped"] == 0 and stats["store_failures"] == 0
    assert stats["store"]["packets"] == stats["packets"]
    docs = load_docs(sessions)
    assert len(docs) == stats["sessions"] > 300
    multi_file = sum(1 for d in docs if len(d["ashiato"]["packet_files"]) > 1)
    assert multi_file > 0, "no session spans two files: the test would not cover that"

    srv = Server(store, tmp_path / "ep.sock", tmp_path / "serve.log")
    try:
        t0 = time.monotonic()
        res = fetch(srv.endpoint, "--session-json", str(sessions), "--out-dir", str(tmp_path / "out"))
        took = time.monotonic() - t0
        assert res.returncode == 0, res.stderr
        expected = Expected(capture, tmp_path / "expected")
        expected.prefetch(docs)
        checked = packets = 0
        for doc in docs:
            sid = doc["ashiato"]["session_id"]
            got = [r for _, r in read_pcap(tmp_path / "out" / f"{sid}.pcap")[1]]
            want = expected.of(doc)
            n = doc["network"]["packets"]
            assert len(got) == n, f"{sid}: {len(got)} packets retrieved, the record says {n}"
            assert got == want, f"{sid}: retrieved packets differ from tcpdump's selection ({flow_bpf(doc)})"
            checked += 1
            packets += n
        assert checked == len(docs)
        print(f"\nsensor-{dept}: {checked} sessions, {packets} packets in {len(files)} files "
              f"byte-identical; {multi_file} sessions span files; retrieval of all took {took:.2f} s")

        # the Stenographer way: time range + flow BPF, on a sample of flows
        for doc in docs[:: max(1, len(docs) // 25)]:
            out = tmp_path / "range.pcap"
            res = fetch(srv.endpoint, "--start", doc["event"]["start"], "--end", doc["event"]["end"],
                        "--bpf", flow_bpf(doc), "--out", str(out))
            assert res.returncode == 0, res.stderr
            assert [r for _, r in read_pcap(out)[1]] == expected.of(doc)
        assert srv.alive()
    finally:
        srv.stop()


SENSOR = BUILD_DIR / "bin" / "ashiato-sensor"


def test_sensor_keeps_and_serves_every_session(campus, tmp_path):
    """The product path: ashiato-sensor itself keeps the packets (--pcap-dir), writes each
    record's positions, serves them on its endpoint after the input (--serve), and every
    session comes back byte-identical to tcpdump's selection from the original capture."""
    capture = campus / "sensor-2.pcap"
    store, sessions = tmp_path / "store", tmp_path / "sessions.json"
    ini = tmp_path / "sensor.ini"
    ini.write_text("[sensor]\npcap_max_file_size = 256K\n")
    endpoint = f"ipc://{tmp_path / 'sensor.sock'}"
    log = open(tmp_path / "sensor.log", "w")
    proc = subprocess.Popen([str(SENSOR), "-c", str(ini), "--read", str(capture), "--name", "s2",
                             "--pcap-dir", str(store), "--emit-json", str(sessions),
                             "--packet-endpoint", endpoint, "--serve", "--stats"],
                            stderr=log, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while "answering packet requests until signalled" not in (tmp_path / "sensor.log").read_text():
            assert proc.poll() is None, (tmp_path / "sensor.log").read_text()
            assert time.monotonic() < deadline, "the sensor did not finish its input"
            time.sleep(0.1)
        files = catalogue(store)
        assert len(files) >= 10, f"expected a multi-file store, got {len(files)} files"
        docs = load_docs(sessions)
        assert len(docs) > 300 and all("packet_pos" in d["ashiato"] for d in docs)
        res = fetch(endpoint, "--session-json", str(sessions), "--out-dir", str(tmp_path / "out"))
        assert res.returncode == 0, res.stderr
        expected = Expected(capture, tmp_path / "expected")
        expected.prefetch(docs)
        packets = 0
        for doc in docs:
            sid = doc["ashiato"]["session_id"]
            got = [r for _, r in read_pcap(tmp_path / "out" / f"{sid}.pcap")[1]]
            assert len(got) == doc["network"]["packets"], sid
            assert got == expected.of(doc), f"{sid}: differs from tcpdump's selection ({flow_bpf(doc)})"
            packets += len(got)
        print(f"\nashiato-sensor: {len(docs)} sessions, {packets} packets in {len(files)} files "
              f"byte-identical")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "sensor.log").read_text()
        log.close()
    text = (tmp_path / "sensor.log").read_text()
    assert "pcap store: packets" in text and ", dropped 0," in text


def test_retention_quota_and_expired_answers(campus, tmp_path):
    capture = campus / "sensor-3.pcap"
    store, sessions = tmp_path / "store", tmp_path / "sessions.json"
    stats = build_store(capture, store, sessions, "--max-file-size", "256K", "--quota", "1M")
    log = Path(str(store) + ".log").read_text().splitlines()
    files = catalogue(store)
    expired = sorted(i for i, f in files.items() if f["state"] == "expired")
    live = sorted(i for i, f in files.items() if f["state"] != "expired")
    assert expired and live
    assert max(expired) < min(live), "retention must delete the oldest files first"
    # retention looks at each file as it closes: the newest file may grow past the quota after
    # the last look, by at most one file
    assert sum(int(files[i]["size"]) for i in live[:-1]) <= 1 << 20
    assert sum(int(files[i]["size"]) for i in live) <= (1 << 20) + (256 << 10)
    assert stats["retention"]["quota"] == len(expired) == stats["retention"]["deleted_files"]
    for i in expired:
        assert not (store / files[i]["name"]).exists()
    # every deletion was logged, and none hit the file being written at that moment
    opened = 0
    deletions = 0
    for line in log:
        if "pcap_store: opened file=" in line:
            opened = int(line.split(" id=")[1].split()[0])
        if "pcap_retention: deleted file=" in line:
            deletions += 1
            assert "reason=quota" in line
            assert int(line.split(" id=")[1].split()[0]) < opened
    assert deletions == len(expired)

    docs = load_docs(sessions)
    srv = Server(store, tmp_path / "ep.sock", tmp_path / "serve.log")
    try:
        res = fetch(srv.endpoint, "--session-json", str(sessions), "--out-dir", str(tmp_path / "out"))
        assert res.returncode == 2, "some sessions are in deleted files: exit status 2"
        n_expired = 0
        for doc in docs:
            sid = doc["ashiato"]["session_id"]
            gone = any(f in expired for f in doc["ashiato"]["packet_files"])
            if gone:
                n_expired += 1
                assert f"{sid}: EXPIRED: file " in res.stderr
                assert not (tmp_path / "out" / f"{sid}.pcap").exists()
            else:
                assert len(read_pcap(tmp_path / "out" / f"{sid}.pcap")[1]) == doc["network"]["packets"]
        assert res.stderr.count("EXPIRED") == n_expired > 0
        # a time range that only deleted files covered
        first = files[expired[0]]
        res = fetch(srv.endpoint, "--start", str(int(first["first_us"]) / 1e6),
                    "--end", str(int(first["first_us"]) / 1e6 + 0.001), "--out", str(tmp_path / "t.pcap"))
        assert res.returncode == 2 and "EXPIRED" in res.stderr
    finally:
        srv.stop()


def small_filesystem(kind, mnt, tmp_path, mib=6):
    """Mount a small file system of kind at mnt: tmpfs (the store writes it buffered) or ext4 on
    a loop device (the store writes it with O_DIRECT). Skips when it cannot be mounted here."""
    if kind == "tmpfs":
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(mnt)],
                           capture_output=True)
    else:
        img = tmp_path / "small.img"
        with open(img, "wb") as f:
            f.truncate(mib << 20)
        r = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", str(img)],
                           capture_output=True)
        if r.returncode == 0:
            r = subprocess.run(["mount", "-o", "loop", str(img), str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small {kind} here ({r.stderr.decode().strip()}): "
                    "free-space retention on it not tested")


@pytest.mark.parametrize("kind", ["tmpfs", "ext4"])
def test_retention_free_space_on_small_filesystem(campus, tmp_path, kind):
    mnt = tmp_path / "small"
    mnt.mkdir()
    small_filesystem(kind, mnt, tmp_path)
    try:
        store, sessions = mnt / "store", tmp_path / "sessions.json"
        stats = build_store(campus / "sensor-3.pcap", store, sessions, "--max-file-size", "256K",
                            "--min-free-bytes", "3M")
        assert stats["retention"]["free_space"] > 0
        assert stats["store"]["write_errors"] == 0
        st = os.statvfs(mnt)
        # the store may overshoot the threshold by the file being written, no more
        assert st.f_bavail * st.f_frsize >= (3 << 20) - (256 << 10) - 65536
        files = catalogue(store)
        assert any(f["state"] == "expired" for f in files.values())
        assert files[max(files)]["state"] == "closed"
        log = Path(str(store) + ".log").read_text()
        assert "reason=free_space" in log
        # ext4 has direct I/O: the store used it there, and only there
        assert ("direct_io=0" in log) == (kind == "tmpfs"), log[:2000]
        for f in files.values():               # every kept file exactly its records
            if f["state"] == "closed":
                assert (store / f["name"]).stat().st_size == int(f["size"]), f["name"]
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_with_direct_io_cuts_cleanly(campus, tmp_path):
    """A store on a small ext4 (O_DIRECT) with retention off fills the file system: the failed
    writes are counted, each failed file is cut to its last whole packet, and the store stays
    with direct I/O (a short direct write is ENOSPC, not "no direct I/O here")."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    capture = campus / "sensor-3.pcap"
    mib = max(2, capture.stat().st_size // 2 >> 20)   # room for about half of the capture
    small_filesystem("ext4", mnt, tmp_path, mib)
    try:
        store, sessions = mnt / "store", tmp_path / "sessions.json"
        stats = build_store(capture, store, sessions, "--max-file-size", "256K",
                            "--min-free-percent", "0")
        log = Path(str(store) + ".log").read_text()
        assert stats["store"]["write_errors"] > 0, "the file system never filled up"
        assert "No space left on device" in log, log[-2000:]
        assert "writing buffered from now on" not in log, log[-2000:]
        assert "direct_io=0" not in log
        # the catalogue appends into blocks reserved ahead: a full disk never refuses its lines
        assert "/catalogue: " not in log, [l for l in log.splitlines() if "/catalogue: " in l][:3]
        assert "no blocks could be reserved" not in log
        files = catalogue(store)
        kept = 0
        for f in files.values():
            path = store / f["name"]
            if f["state"] == "expired" or not path.exists():
                continue
            data = path.read_bytes()
            assert len(data) == int(f["size"]), f"{f['name']}: {len(data)} bytes, catalogue {f['size']}"
            off = 24
            while off < len(data):
                assert off + 16 <= len(data), f"{f['name']}: a torn record header at {off}"
                cl = struct.unpack_from("<I", data, off + 8)[0]
                assert 0 < cl <= 262144 and off + 16 + cl <= len(data), f"{f['name']}: bad record at {off}"
                off += 16 + cl
            kept += 1
        assert kept >= 2
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_restart_after_kill9_repairs_and_serves(campus, tmp_path):
    capture = campus / "sensor-3.pcap"
    store, sessions = tmp_path / "store", tmp_path / "sessions.json"
    proc = subprocess.Popen([str(DRIVER), "--read", str(capture), "--pcap-dir", str(store),
                             "--name", "test", "--max-file-size", "512K", "--emit-json", str(sessions),
                             "--pause-after", "4000"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().startswith("paused")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    files = catalogue(store)
    open_ids = [i for i, f in files.items() if f["state"] == "open"]
    assert open_ids == [max(files)], "the file being written when killed is still 'open'"
    victim = store / files[open_ids[0]]["name"]
    # a torn write that also takes packets some emitted sessions point at: the file now ends
    # 10 bytes into the last record that a session record references
    refs = sorted(o for d in load_docs(sessions)
                  for f, o in decode_positions(base64.b64decode(d["ashiato"]["packet_pos"]))
                  if f == open_ids[0])
    assert refs, "no emitted session has packets in the file being written"
    expect_size = refs[-1]
    os.truncate(victim, expect_size + 10)

    srv = Server(store, tmp_path / "ep.sock", tmp_path / "serve.log")
    try:
        repaired = catalogue(store)[open_ids[0]]
        assert repaired["state"] == "closed" and repaired["cut"] == "1"
        assert int(repaired["size"]) == expect_size == victim.stat().st_size
        assert "repaired file=" in Path(tmp_path / "serve.log").read_text()
        docs = load_docs(sessions)
        assert len(docs) > 50
        res = fetch(srv.endpoint, "--session-json", str(sessions), "--out-dir", str(tmp_path / "out"))
        expected = Expected(capture, tmp_path / "expected")
        expected.prefetch(docs)
        short = 0
        for doc in docs:
            sid = doc["ashiato"]["session_id"]
            want = expected.of(doc)
            out = tmp_path / "out" / f"{sid}.pcap"
            got = [r for _, r in read_pcap(out)[1]] if out.exists() else []
            assert got == want[:len(got)], f"{sid}: not a prefix of its packets: garbage served"
            if len(got) < len(want):
                short += 1
                assert f"{sid}: " in res.stderr and "lost" in res.stderr
        print(f"\nafter kill -9: {len(docs)} sessions, {short} lost their last packets with the cut file")
        assert short >= 1
        assert srv.alive()
    finally:
        srv.stop()

    # a clean restart: the catalogue is the same, old sessions still come back
    before = catalogue(store)
    srv = Server(store, tmp_path / "ep2.sock", tmp_path / "serve2.log")
    try:
        assert catalogue(store) == before
        assert "repaired file=" not in Path(tmp_path / "serve2.log").read_text()
        doc = load_docs(sessions)[0]
        res = fetch(srv.endpoint, "--session-json", json.dumps(doc), "--out", str(tmp_path / "again.pcap"))
        assert res.returncode == 0, res.stderr
        assert len(read_pcap(tmp_path / "again.pcap")[1]) == doc["network"]["packets"]
    finally:
        srv.stop()


def test_bad_requests_answered_not_crashing(campus, tmp_path):
    capture = campus / "sensor-3.pcap"
    store, sessions = tmp_path / "store", tmp_path / "sessions.json"
    build_store(capture, store, sessions, "--max-file-size", "256K")
    files = catalogue(store)
    first = store / files[1]["name"]
    _, recs = read_pcap(first)
    second_off = 24 + len(recs[0][1])
    size = first.stat().st_size
    srv = Server(store, tmp_path / "ep.sock", tmp_path / "serve.log")

    def send(raw):
        path = tmp_path / "req.bin"
        path.write_bytes(raw)
        res = subprocess.run([str(DRIVER), "--send", str(path), "--endpoint", srv.endpoint],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        return res.stdout.strip().splitlines()[-1]

    try:
        cases = [
            ("malformed message", b"\xff\xff\xff\xff", "BAD_REQUEST"),
            ("truncated message", request(packet_pos=positions([(1, 24)]))[:-1], "BAD_REQUEST"),
            ("empty request", b"", "BAD_REQUEST"),
            ("unknown file id", request(packet_pos=positions([(9999, 24)])), "NOT_FOUND"),
            ("offset outside file", request(packet_pos=positions([(1, size + 100)])), "BAD_REQUEST"),
            ("offset in the file header", request(packet_pos=positions([(1, 3)])), "BAD_REQUEST"),
            ("offset inside a packet", request(packet_pos=positions([(1, second_off + 20)])), "BAD_REQUEST"),
            ("offset one past a record start", request(packet_pos=positions([(1, 25)])), "BAD_REQUEST"),
            ("bad position encoding", request(packet_pos=b"\x01\x00\x04"), "BAD_REQUEST"),
            ("unknown encoding version", request(packet_pos=b"\x09\x00\x03\x18"), "BAD_REQUEST"),
            ("too many packets for the limit",
             request(packet_pos=positions([(1, 24), (1, second_off)]), max_packets=1), "TOO_LARGE"),
            ("more positions than the sensor allows",
             request(packet_pos=b"\x01\x00\x03\x18" + b"\x20" * 1100000), "TOO_LARGE"),
            ("bad BPF", request(start_us=1, end_us=2 ** 62, bpf="tcp and and"), "BAD_REQUEST"),
            ("reversed time range", request(start_us=100, end_us=50), "BAD_REQUEST"),
            ("positions and time range", request(packet_pos=positions([(1, 24)]), start_us=1, end_us=2),
             "BAD_REQUEST"),
            ("a good request still works", request(packet_pos=positions([(1, 24), (1, second_off)])), "OK"),
        ]
        for what, raw, status in cases:
            line = send(raw)
            assert f"status={status} " in line, f"{what}: {line}"
            if status != "OK":
                assert "error=" in line and not line.endswith("error="), f"{what}: no error text"
            assert srv.alive(), f"{what}: the endpoint died"
        # after all of that the endpoint still answers
        assert send(request(packet_pos=positions([(1, 24)]))).startswith("chunk=0 status=OK")
    finally:
        srv.stop()
    # the client's own usage errors
    assert subprocess.run([str(CLI), "pcap"], capture_output=True).returncode == 1
    assert subprocess.run([str(CLI), "pcap", "--help"], capture_output=True).returncode == 0


def libcurl_path():
    """the file the loader finds for libcurl.so.4, resolved (None if there is none)"""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("libcurl.so.4 ") and "=>" in line:
            return os.path.realpath(line.split("=>")[-1].strip())
    return None


def without_libcurl(lib, argv, env=None):
    """argv in a private mount namespace whose libcurl.so.4 is /dev/null: it cannot load"""
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           'mount --bind /dev/null "$0" && exec "$@"', lib, *map(str, argv)],
                          capture_output=True, text=True, timeout=300, env=env)


def test_cli_sensor_mode_without_libcurl(campus, tmp_path):
    """`ashiato pcap --sensor` never loads libcurl (cli/api_client.h dlopens it for the HTTP
    API's commands only, so the direct path starts without it and the 20 libraries it brings): with libcurl
    made unloadable it still fetches every packet, the loader never even looks for it, and an
    API command run the same way fails with a message that names libcurl. The positive
    control: the loader's trace of an API command does show libcurl."""
    lib = libcurl_path()
    if lib is None or os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root, unshare and an installed libcurl.so.4 (to hide it)")
    capture = campus / "sensor-2.pcap"
    store, sessions = tmp_path / "store", tmp_path / "sessions.json"
    build_store(capture, store, sessions, "--max-file-size", "256K")
    docs = load_docs(sessions)
    sample = docs[:: max(1, len(docs) // 40)]
    (tmp_path / "sample.json").write_text("".join(json.dumps(d) + "\n" for d in sample))
    srv = Server(store, tmp_path / "ep.sock", tmp_path / "serve.log")
    try:
        # the same fetch with libcurl there (and traced) and with it hidden: the same packets
        env = dict(os.environ, LD_DEBUG="libs")
        with_lib = fetch(srv.endpoint, "--session-json", str(tmp_path / "sample.json"),
                         "--out", str(tmp_path / "with.pcap"))
        assert with_lib.returncode == 0, with_lib.stderr
        traced = subprocess.run([str(CLI), "pcap", "--sensor", srv.endpoint, "--session-json",
                                 str(tmp_path / "sample.json"), "--out", str(tmp_path / "traced.pcap")],
                                capture_output=True, text=True, timeout=300, env=env)
        assert traced.returncode == 0, traced.stderr[-2000:]
        assert "find library=libzmq.so.5" in traced.stderr, "LD_DEBUG=libs traced nothing"
        assert "libcurl" not in traced.stderr, "ashiato pcap --sensor loaded libcurl"
        hidden = without_libcurl(lib, [CLI, "pcap", "--sensor", srv.endpoint, "--session-json",
                                       tmp_path / "sample.json", "--out", tmp_path / "hidden.pcap"])
        assert hidden.returncode == 0, hidden.stderr
        got = read_pcap(tmp_path / "hidden.pcap")[1]
        assert len(got) == sum(d["network"]["packets"] for d in sample) > 0
        assert got == read_pcap(tmp_path / "with.pcap")[1]
    finally:
        srv.stop()
    # the API commands: libcurl is loaded when they run, and its absence is said plainly
    api_env = dict(os.environ, ASHIATO_URL="http://127.0.0.1:1", LD_DEBUG="libs")
    traced = subprocess.run([str(CLI), "query", "ip.src == 10.0.0.1"], capture_output=True,
                            text=True, timeout=60, env=api_env)
    assert "find library=libcurl.so.4" in traced.stderr, traced.stderr[-2000:]
    api_env.pop("LD_DEBUG")
    for argv in (["query", "ip.src == 10.0.0.1"], ["fields"], ["pcap", "--id", "x", "-o", tmp_path / "a.pcap"]):
        r = without_libcurl(lib, [CLI, *argv], env=api_env)
        assert r.returncode == 1, (argv, r.returncode, r.stderr)
        assert "need libcurl, which did not load" in r.stderr and "apt install libcurl4" in r.stderr, r.stderr
    assert not (tmp_path / "a.pcap").exists() and not (tmp_path / "a.pcap.part").exists()
    # the dlopen is declared for packaging tools (the FDO .note.dlopen ELF note)
    if shutil.which("readelf"):
        note = subprocess.run(["readelf", "-p", ".note.dlopen", str(CLI)], capture_output=True,
                              text=True).stdout
        assert '"soname":["libcurl.so.4"]' in note and '"priority":"required"' in note, note
    print(f"\nashiato pcap --sensor without libcurl: {len(sample)} sessions, {len(got)} packets, "
          f"identical to the run with it; API commands without it: {r.stderr.strip()}")
