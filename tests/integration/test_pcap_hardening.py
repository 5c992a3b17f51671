"""The packet path under a hostile or careless user (issue 14), with real processes and files:
the pcap store built by tests/integration/pcap_store_driver (the sensor's wiring of the store)
or by ashiato-sensor, served on a local endpoint, asked by `ashiato pcap`.

- H2: after pcap_dir is wiped and recreated (file ids restart at 1), an old session document
  gets MISMATCH (exit 2) and never another session's packets, with positions that carry the
  store id and with older positions that do not (checked against the session's flow and time);
- L11: addresses of a session document are checked (inet_pton) before they reach a filter;
- L8/L9: `ashiato pcap` refuses bad numbers, tells a missing socket, a refused permission and
  a stopped endpoint apart, and exits 1 on a bad document, as --help says.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pcap_positions import decode_positions, positions, store_id_of  # noqa: E402

SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build"))
CAMPUSGEN = SOURCE_DIR.parent / "shared" / "tools" / "campusgen.py"
DRIVER = BUILD_DIR / "tests" / "pcap_store_driver"
CLI = BUILD_DIR / "bin" / "ashiato"

pytestmark = [
    pytest.mark.skipif(not CAMPUSGEN.exists(),
                       reason=f"campusgen not found at {CAMPUSGEN} (../shared next to the source tree)"),
    pytest.mark.skipif(not DRIVER.exists() or not CLI.exists(),
                       reason=f"build {DRIVER} and {CLI} first (cmake --build)"),
]


@pytest.fixture(scope="module")
def campus(tmp_path_factory):
    out = tmp_path_factory.mktemp("campus")
    subprocess.run([sys.executable, str(CAMPUSGEN), "--out", str(out), "--sensors", "2,3",
                    "--duration", "30", "--quiet"], check=True, timeout=300)
    return out


class Server:
    """pcap_store_driver serving a store directory on an ipc endpoint."""

    def __init__(self, store, sock, log):
        self.endpoint = f"ipc://{sock}"
        self.proc = subprocess.Popen([str(DRIVER), "--pcap-dir", str(store), "--name", "test",
                                      "--endpoint", self.endpoint, "--serve"],
                                     stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready"), f"driver did not start: {line!r} {Path(log).read_text()}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def build_store(capture, store, sessions, *args):
    res = subprocess.run([str(DRIVER), "--read", str(capture), "--pcap-dir", str(store), "--name",
                          "test", "--emit-json", str(sessions), "--stats", *args],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr


def fetch(endpoint, *args, user=None):
    cmd = [str(CLI), "pcap", "--sensor", endpoint, *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]  # numeric ids
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def load_docs(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def read_records(path):
    data = Path(path).read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", "little-endian microsecond pcap"
    recs, off = [], 24
    while off < len(data):
        sec, usec, caplen = int.from_bytes(data[off:off + 4], "little"), \
            int.from_bytes(data[off + 4:off + 8], "little"), int.from_bytes(data[off + 8:off + 12], "little")
        recs.append((sec * 1000000 + usec, data[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return recs


@pytest.fixture(scope="module")
def served(campus, tmp_path_factory):
    """a store of sensor-3's capture, served; its session documents"""
    tmp = tmp_path_factory.mktemp("served")
    store, sessions = tmp / "store", tmp / "sessions.json"
    build_store(campus / "sensor-3.pcap", store, sessions, "--max-file-size", "256K")
    srv = Server(store, tmp / "ep.sock", tmp / "serve.log")
    yield srv, load_docs(sessions), tmp
    srv.stop()


def test_h2_wiped_store_answers_mismatch_never_other_packets(campus, tmp_path):
    """Sessions of a store that was wiped and recreated (same pcap_dir, file ids from 1 again,
    other traffic in it) come back MISMATCH with exit 2 and no packet: by the store id their
    positions carry, and, for positions from before store ids, by the check of each answer
    against the session's flow and time range."""
    store = tmp_path / "store"
    old = tmp_path / "old.json"
    build_store(campus / "sensor-2.pcap", store, old, "--max-file-size", "256K")
    docs = load_docs(old)
    first_id = store_id_of(base64.b64decode(docs[0]["ashiato"]["packet_pos"]))
    assert first_id, "positions carry the store id"
    shutil.rmtree(store)
    build_store(campus / "sensor-3.pcap", store, tmp_path / "new.json", "--max-file-size", "256K")
    new_docs = load_docs(tmp_path / "new.json")
    new_id = store_id_of(base64.b64decode(new_docs[0]["ashiato"]["packet_pos"]))
    assert new_id and new_id != first_id, "a recreated pcap_dir is a new store"
    sample = docs[:: max(1, len(docs) // 40)]
    # every old position still names a file of the new store: without the check they would be served
    new_files = {int(line.split()[1][3:]) for line in (store / "catalogue").read_text().splitlines()
                 if line.startswith("file ")}
    assert any(f in new_files for d in sample for f, _ in
               decode_positions(base64.b64decode(d["ashiato"]["packet_pos"])))
    (tmp_path / "sample.json").write_text("".join(json.dumps(d) + "\n" for d in sample))
    # positions as a sensor before store ids wrote them (version 1), and the worst case: they
    # land exactly on the records of another session of the new store (ids restarted at 1)
    def flow(d):
        return sorted([(d["source"]["ip"], d["source"].get("port")), (d["destination"]["ip"], d["destination"].get("port"))])
    others = [d for d in new_docs if "packet_pos" in d["ashiato"]]
    v1 = []
    for i, d in enumerate(sample):
        d = json.loads(json.dumps(d))
        o = next(x for x in others[i:] + others if flow(x) != flow(d))
        enc = base64.b64decode(o["ashiato"]["packet_pos"])
        d["ashiato"]["packet_pos"] = base64.b64encode(positions(decode_positions(enc), enc[1])).decode()
        d["ashiato"]["packet_files"] = o["ashiato"]["packet_files"]
        v1.append(d)
    (tmp_path / "v1.json").write_text("".join(json.dumps(d) + "\n" for d in v1))

    srv = Server(store, tmp_path / "ep.sock", tmp_path / "serve.log")
    try:
        for name in ("sample", "v1"):
            out = tmp_path / f"out-{name}"
            res = fetch(srv.endpoint, "--session-json", str(tmp_path / f"{name}.json"), "--out-dir", str(out))
            assert res.returncode == 2, res.stderr
            refusals = [line for line in res.stderr.splitlines() if "MISMATCH" in line or "BAD_REQUEST" in line]
            assert len(refusals) == len(sample), res.stderr
            mismatch = sum("MISMATCH" in line for line in refusals)
            written = list(out.iterdir()) if out.exists() else []
            assert written == [], f"{name}: packets written for an old session: {written}"
            print(f"\nH2 {name}: {len(sample)} old sessions after pcap_dir was recreated: "
                  f"{mismatch} MISMATCH, {len(sample) - mismatch} BAD_REQUEST, 0 packets; e.g. "
                  f"{refusals[0]}")
            assert mismatch == len(sample)
            if name == "sample":
                assert "pcap_dir was recreated" in refusals[0]
            else:
                assert "not of the session's flow" in res.stderr or "outside the session's time" in res.stderr
        # the new store's own sessions are still served
        (tmp_path / "own.json").write_text("".join(json.dumps(d) + "\n" for d in new_docs[:20]))
        res = fetch(srv.endpoint, "--session-json", str(tmp_path / "own.json"), "--out-dir", str(tmp_path / "own"))
        assert res.returncode == 0, res.stderr
        assert len(list((tmp_path / "own").iterdir())) == 20
    finally:
        srv.stop()


def test_l11_crafted_addresses_never_reach_the_filter(served, tmp_path):
    """A session document without positions is asked by time range and flow. Its addresses
    are checked with inet_pton: a crafted one that would widen the BPF filter to other flows
    is refused (exit 1) before any request, and no packet is written."""
    srv, docs, _ = served
    doc = json.loads(json.dumps(docs[0]))
    del doc["ashiato"]["packet_pos"]
    del doc["ashiato"]["packet_files"]
    for field, value in (("source", f"{doc['source']['ip']} or net 0.0.0.0/0 or host 1.1.1.1"),
                         ("destination", "0/0"), ("source", "10.0.0.1 and not 10.0.0.2")):
        bad = json.loads(json.dumps(doc))
        bad[field]["ip"] = value
        out = tmp_path / "x.pcap"
        res = fetch(srv.endpoint, "--session-json", json.dumps(bad), "--out", str(out))
        assert res.returncode == 1, res.stderr
        assert f"{field}.ip: expected an IPv" in res.stderr, res.stderr
        assert not out.exists() or out.stat().st_size == 0
    print(f"\nL11: {res.stderr.strip()}")
    # the genuine document, by flow: its own packets only
    res = fetch(srv.endpoint, "--session-json", json.dumps(doc), "--out", str(tmp_path / "own.pcap"))
    assert res.returncode == 0, res.stderr
    assert len(read_records(tmp_path / "own.pcap")) == doc["network"]["packets"]


def test_l8_pcap_numbers_checked(served, tmp_path):
    srv, docs, _ = served
    line = json.dumps(docs[0])
    for flag, value, want in (("--max-packets", "abc", "--max-packets: expected"),
                              ("--max-packets", "0", "--max-packets: expected"),
                              ("--max-bytes", "-1", "--max-bytes: expected"),
                              ("--max-bytes", "12x", "--max-bytes: expected"),
                              ("--timeout", "nan", "--timeout: expected"),
                              ("--timeout", "-5", "--timeout: expected")):
        res = fetch(srv.endpoint, "--session-json", line, "--out", str(tmp_path / "x.pcap"), flag, value)
        assert res.returncode == 1 and want in res.stderr, (flag, value, res.stderr)
    print(f"\nL8: {res.stderr.strip()}")
    res = fetch(srv.endpoint, "--session-json", line, "--out", str(tmp_path / "x.pcap"), "--max-packets", "2")
    assert res.returncode == 2 and "TOO_LARGE" in res.stderr or res.returncode == 0, res.stderr


def test_l9_pcap_messages_tell_failures_apart(served, tmp_path):
    """A missing socket, a socket nobody listens on, a refused permission and a bad document
    each get their own message; a bad document exits 1 as --help says."""
    srv, docs, tmp = served
    line = json.dumps(docs[0])
    out = str(tmp_path / "x.pcap")
    res = fetch(f"ipc://{tmp_path / 'nosuch.sock'}", "--session-json", line, "--out", out, "--timeout", "2")
    assert res.returncode == 1 and "no such socket" in res.stderr, res.stderr
    msgs = [res.stderr.strip()]
    # a socket left behind by a process that is gone
    dead = tmp_path / "dead"
    dead.mkdir(mode=0o700)
    p = subprocess.Popen([str(DRIVER), "--pcap-dir", str(dead / "store"), "--name", "t", "--endpoint",
                          f"ipc://{dead / 'ep.sock'}", "--serve"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("ready")
    p.kill()
    p.wait()
    assert (dead / "ep.sock").exists()
    res = fetch(f"ipc://{dead / 'ep.sock'}", "--session-json", line, "--out", out, "--timeout", "2")
    assert res.returncode == 1 and "nobody listens" in res.stderr, res.stderr
    msgs.append(res.stderr.strip())
    # permission: another user (nobody) may not reach the endpoint
    res = fetch(srv.endpoint, "--session-json", line, "--out", "/dev/null", "--timeout", "2", user=65534)
    assert res.returncode == 1 and "permission denied" in res.stderr, res.stderr
    msgs.append(res.stderr.strip())
    # bad documents: exit 1, as --help says
    helptext = subprocess.run([str(CLI), "pcap", "--help"], capture_output=True, text=True).stdout
    assert "1 usage error, a bad session document" in helptext
    for bad in ("{not json", '{"event": {}}'):
        res = fetch(srv.endpoint, "--session-json", bad, "--out", out)
        assert res.returncode == 1, res.stderr
    msgs.append(res.stderr.strip())
    print("\nL9:\n  " + "\n  ".join(msgs))


AGGREGATOR = BUILD_DIR / "bin" / "ashiato-aggregator"
SENSOR = BUILD_DIR / "bin" / "ashiato-sensor"


def test_m2_other_users_cannot_fetch_packets(campus, tmp_path):
    """Packet endpoints admit their owner and group only. Endpoints any local user could open
    (tcp://127.0.0.1, abstract ipc://@, a socket in a directory open to others) are refused at
    start by the sensor, the store driver and the aggregator; a socket in a closed directory is
    made 0660 even under umask 000, so another user (uid 54321, made up for the test) is
    refused, and a member of the socket's group (nobody:nogroup here) is served."""
    store = tmp_path / "store"
    build_store(campus / "sensor-3.pcap", store, tmp_path / "s.json", "--max-file-size", "256K")
    line = json.dumps(load_docs(tmp_path / "s.json")[0])
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o755)
    open_dir.chmod(0o755)
    refused = {"tcp://127.0.0.1:45713": "no authentication", f"ipc://@ashiato-{os.getpid()}": "no authentication",
               f"ipc://{open_dir / 'ep.sock'}": "closed to others", "ipc://relative.sock": "expected ipc:///PATH"}
    for ep, why in refused.items():
        res = subprocess.run([str(DRIVER), "--pcap-dir", str(store), "--name", "t", "--endpoint", ep, "--serve"],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode != 0 and why in res.stderr, (ep, res.stderr)
        res = subprocess.run([str(SENSOR), "--read", str(campus / "sensor-3.pcap"), "--name", "t", "--pcap-dir",
                              str(tmp_path / "sensor-store"), "--packet-endpoint", ep],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode != 0 and why in res.stderr, (ep, res.stderr)
        res = subprocess.run([str(AGGREGATOR), "--insecure", "--listen", "tcp://127.0.0.1:0", "--store", "null:",
                              "--packet-endpoint", ep], capture_output=True, text=True, timeout=30)
        assert res.returncode != 0 and why in res.stderr, (ep, res.stderr)
    print(f"\nM2 refused at start: {res.stderr.strip().splitlines()[-1]}")

    # a closed directory of root's, group nogroup (setgid: the socket gets that group), under
    # one that others may pass through (pytest's own temporary directories are closed)
    base = Path(tempfile.mkdtemp(prefix=f"ashiato-m2-{os.getpid()}-", dir="/tmp"))
    base.chmod(0o711)
    closed = base / "run"
    closed.mkdir()
    os.chown(closed, 0, 65534)
    closed.chmod(0o2750)
    sock = closed / "ep.sock"
    old = os.umask(0)
    try:
        srv = Server(store, sock, tmp_path / "serve.log")
    finally:
        os.umask(old)
    try:
        st = sock.stat()
        assert oct(st.st_mode & 0o777) == oct(0o660) and st.st_gid == 65534, oct(st.st_mode)
        stranger = fetch(srv.endpoint, "--session-json", line, "--out", "/dev/null", "--timeout", "3", user=54321)
        assert stranger.returncode == 1 and "DENIED" in stranger.stderr, stranger.stderr
        member = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(CLI), "pcap",
                                 "--sensor", srv.endpoint, "--session-json", line, "--out", "-"],
                                capture_output=True, timeout=60)
        assert member.returncode == 0, member.stderr
        assert len(member.stdout) > 24
        owner = fetch(srv.endpoint, "--session-json", line, "--out", str(tmp_path / "own.pcap"))
        assert owner.returncode == 0, owner.stderr
        print(f"M2 socket mode {oct(st.st_mode & 0o777)} group {st.st_gid}; uid 54321: "
              f"{stranger.stderr.strip()}; nobody (group member): {len(member.stdout)} bytes")
    finally:
        srv.stop()
        shutil.rmtree(base, ignore_errors=True)


def mount_tmpfs(mnt, mib):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()})")


def build_stats(capture, store, *args):
    res = subprocess.run([str(DRIVER), "--read", str(capture), "--pcap-dir", str(store), "--name", "test",
                          "--stats", *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1]), res.stderr


def test_l4_full_pcap_dir_counts_lost_packets(campus, tmp_path):
    """pcap_dir on a 1 MiB tmpfs with free-space retention off fills up: every packet that is
    not in a kept file is counted as dropped, and each "starting a new file" is followed by an
    attempt at one (an opened file, or a create or write that failed again)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mount_tmpfs(mnt, 1)
    try:
        stats, log = build_stats(campus / "sensor-3.pcap", mnt / "store", "--max-file-size", "128K",
                                 "--min-free-percent", "0")
        store = stats["store"]
        assert store["write_errors"] > 0, "the file system never filled up"
        kept = sum(int(kv["packets"]) for kv in (
            dict(t.split("=", 1) for t in line.split()[1:-1])
            for line in (mnt / "store" / "catalogue").read_text().splitlines() if line.startswith("file "))
            if kv["state"] == "closed")
        lost = store["packets"] - kept
        assert lost > 0
        # every packet not kept is counted (by 64 KiB segments: a failure may count up to one
        # segment's packets that reached the disk, and the last segment of a file still failing
        # when the report is made is counted as the store closes, after it)
        seg = 65536 // 76 + 1
        assert lost - seg <= store["lost_to_errors"] <= lost + store["write_errors"] * seg, (lost, store)
        assert store["dropped"] >= store["lost_to_errors"] > 0
        lines = log.splitlines()
        starts = [i for i, line in enumerate(lines) if "starting a new file" in line]
        assert starts, log[-2000:]
        for i in starts:
            assert any("opened file=" in x or "failed file=" in x for x in lines[i + 1:]), lines[i:]
        print(f"\nL4 full disk: {store['packets']} packets queued, {kept} kept, {lost} not kept, "
              f"dropped={store['dropped']} (lost_to_errors={store['lost_to_errors']}), "
              f"{len(starts)} new files asked for, write_errors={store['write_errors']}")
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_l4_retention_keeps_a_file_of_room(campus, tmp_path):
    """5% of a 1 MiB file system is 51 KiB, less than one 256 KiB file: retention keeps one
    file's size (and a quarter) free as well, so the store never writes into a full disk."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mount_tmpfs(mnt, 1)
    try:
        stats, log = build_stats(campus / "sensor-3.pcap", mnt / "store", "--max-file-size", "256K",
                                 "--min-free-percent", "5")
        store = stats["store"]
        assert stats["retention"]["free_space"] > 0, "retention never ran for free space"
        assert store["write_errors"] == 0 and store["dropped"] == 0, (store, log[-1500:])
        st = os.statvfs(mnt)
        print(f"\nL4 reserve: {stats['retention']['free_space']} files deleted for free space, "
              f"write_errors=0, {st.f_bavail * st.f_frsize >> 10} KiB free at the end")
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
