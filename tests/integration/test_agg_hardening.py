"""test_agg_hardening.py -- the hardening issue's aggregator/shipper defects, with real
processes: ashiato-aggregator on 127.0.0.1 (a free port) with a real SQLite store, real
ashiato-sensor processes reading a corpus capture and shipping over CurveZMQ.

- H1: a sensor allowed as dept-1 running --name dept-3 is refused (told why, counted), and
  the real dept-3's rows are all stored, under dept-3; two sensors sharing a --name by
  accident: the one whose key is not allowed under that name is refused.
- H2(b)/L8: duplicate allow-list names stop the aggregator at start with file:line; an
  empty allow-list is warned about.
- L2: a wrong --server-key: the sensor backs off (a handful of lines, not 7-27 a second), the
  aggregator says "handshake failed (wrong server key?)".
- L9: an unreachable aggregator is logged by the sensor, and so is the connection when it
  comes up; the aggregator's start line names its store.
- M1: a record dated 2103 under the default config goes to the dead-letter file beside the
  database, the rest is stored, the stream goes on, and the sensor is told why (Ack.reason).
  Spoken by a pyzmq DEALER with hand-built protobuf (no sensor emits such a record any more).
- M7: the database directory removed under a running aggregator: no more acks, an error.
  Same DEALER."""
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transport_env as te  # noqa: E402
from conftest import assert_no_sanitizer_report  # noqa: E402

CAPTURE = "corpus/arkime-tests/arkime_synthetic.pcap"
SMALL = "corpus/arkime-tests/wireshark-smb-on-windows10.pcap"


@pytest.fixture(scope="module")
def bins(build_dir):
    b = {k: build_dir / "bin" / v for k, v in
         (("sensor", "ashiato-sensor"), ("agg", "ashiato-aggregator"), ("cli", "ashiato"))}
    for p in b.values():
        assert p.exists(), f"{p} not built"
    return b


@pytest.fixture
def keys(bins, tmp_path):
    k = {"agg": te.keygen(bins["cli"], tmp_path / "agg.key")}
    for name in ("dept-1", "dept-3", "other"):
        k[name] = te.keygen(bins["cli"], tmp_path / f"{name}.key", name)
    (tmp_path / "allow.txt").write_text(f"dept-1 {k['dept-1']}\ndept-3 {k['dept-3']}\n")
    return k


def start_agg(bins, tmp_path, port, db, extra=()):
    agg = te.Aggregator(bins["agg"], tmp_path, port,
                        ["--key-file", str(tmp_path / "agg.key"), "--allow-list",
                         str(tmp_path / "allow.txt"), "--store", f"sqlite://{db}", *extra])
    agg.start()
    return agg


def run_sensor(bins, tmp_path, name, key, pcap, port, drain_ms, server_key=None, tag=""):
    """ashiato-sensor in the foreground; (rc, stderr)."""
    argv = [str(bins["sensor"]), "--read", str(pcap), "--name", name,
            "--aggregator", f"tcp://127.0.0.1:{port}", "--key-file", str(tmp_path / f"{key}.key"),
            "--server-key", str(server_key or tmp_path / "agg.key.pub"),
            "--outbox-dir", str(tmp_path / f"outbox-{name}-{key}{tag}"),
            "--drain-timeout", str(drain_ms)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=drain_ms / 1000 + 60)
    assert_no_sanitizer_report(r.stderr, f"sensor {name} ({key}'s key)")
    return r.returncode, r.stderr


def truth(bins, tmp_path, pcap, name):
    js = tmp_path / f"truth-{name}.json"
    subprocess.run([str(bins["sensor"]), "--read", str(pcap), "--name", name, "--emit-json",
                    str(js)], check=True, capture_output=True, timeout=120)
    return te.session_ids(js)


def stop_agg(agg):
    agg.stop()
    assert_no_sanitizer_report(agg.log_text(), "aggregator")


def stop_line(agg):
    m = re.search(r"stopping batches=(\d+) records=(\d+).*identity_refused=(\d+)", agg.log_text())
    assert m, f"no stop line:\n{agg.log_text()[-2000:]}"
    return {"batches": int(m[1]), "records": int(m[2]), "identity_refused": int(m[3])}


def test_h1_spoofed_name_is_refused_and_the_real_sensor_stored(bins, keys, tmp_path, shared_dir):
    pcap = shared_dir / CAPTURE
    want = truth(bins, tmp_path, pcap, "dept-3")
    db = tmp_path / "sessions.db"
    port = te.free_port()
    agg = start_agg(bins, tmp_path, port, db)
    try:
        # A: dept-1's key, --name dept-3, first
        rc_a, err_a = run_sensor(bins, tmp_path, "dept-3", "dept-1", pcap, port, 4000)
        # then the real dept-3, same capture
        rc_b, err_b = run_sensor(bins, tmp_path, "dept-3", "dept-3", pcap, port, 30000)
    finally:
        stop_agg(agg)
    rows = te.stored(db)
    got = dict(rows)
    print(f"H1: A rc={rc_a}, real dept-3 rc={rc_b}, stored {len(got)} of {len(want)} "
          f"dept-3 sessions, sensors in the store: {sorted(set(got.values()))}")
    assert rc_b == 0, err_b[-2000:]
    assert rc_a != 0, "the spoofing sensor drained as if its batches were taken"
    assert set(got) == set(want), f"{len(set(want) - set(got))} of dept-3's sessions missing"
    assert set(got.values()) == {"dept-3"}
    st = stop_line(agg)
    assert st["identity_refused"] >= 1 and st["records"] == len(want)
    refusals = [ln for ln in err_a.splitlines() if "aggregator refused batch" in ln]
    assert refusals and "Batch.sensor is 'dept-3'" in refusals[0] and "'dept-1'" in refusals[0]
    agg_lines = [ln for ln in agg.log_text().splitlines() if "refused batch sensor=dept-1" in ln]
    assert 1 <= len(agg_lines) <= 2, "refusals are logged at most once every 10 s"
    print(f"H1: sensor A said: {refusals[0].split(' ship: ', 1)[-1]}")
    print(f"H1: aggregator said: {agg_lines[0].split(' receive: ', 1)[-1]}; stop line {st}")


def test_h1_two_sensors_sharing_a_name_by_accident(bins, keys, tmp_path, shared_dir):
    pcap1, pcap2 = shared_dir / CAPTURE, shared_dir / SMALL
    want = truth(bins, tmp_path, pcap1, "dept-1")
    db = tmp_path / "sessions.db"
    port = te.free_port()
    agg = start_agg(bins, tmp_path, port, db)
    try:
        # dept-3's box was set up with --name dept-1 by mistake
        rc_x, err_x = run_sensor(bins, tmp_path, "dept-1", "dept-3", pcap2, port, 4000)
        rc_1, err_1 = run_sensor(bins, tmp_path, "dept-1", "dept-1", pcap1, port, 30000)
    finally:
        stop_agg(agg)
    got = dict(te.stored(db))
    print(f"shared name: misnamed rc={rc_x}, dept-1 rc={rc_1}, stored {len(got)} "
          f"(dept-1 emitted {len(want)})")
    assert rc_1 == 0 and rc_x != 0
    assert set(got) == set(want) and set(got.values()) == {"dept-1"}
    assert "allowed as 'dept-3'" in err_x
    assert stop_line(agg)["identity_refused"] >= 1


def test_h2_duplicate_allow_list_name_stops_the_aggregator(bins, keys, tmp_path):
    allow = tmp_path / "allow.txt"
    allow.write_text(f"dept-1 {keys['dept-1']}\n# dept-3\ndept-1 {keys['dept-3']}\n")
    r = subprocess.run([str(bins["agg"]), "--listen", f"tcp://127.0.0.1:{te.free_port()}",
                        "--key-file", str(tmp_path / "agg.key"), "--allow-list", str(allow),
                        "--store", f"sqlite://{tmp_path / 's.db'}"], capture_output=True,
                       text=True, timeout=30)
    print(f"H2: rc={r.returncode}: {r.stderr.strip()}")
    assert r.returncode == 1
    assert f"{allow}:3: dept-1: this name is already on line 1" in r.stderr
    # L8: an empty allow-list starts, with a warning
    allow.write_text("# nobody yet\n")
    r = subprocess.run([str(bins["agg"]), "--listen", f"tcp://127.0.0.1:{te.free_port()}",
                        "--key-file", str(tmp_path / "agg.key"), "--allow-list", str(allow),
                        "--store", f"sqlite://{tmp_path / 's.db'}", "--exit-after-idle", "300"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    warn = [ln for ln in r.stderr.splitlines() if "names no sensor" in ln]
    assert warn, r.stderr
    print(f"L8: {warn[0]}")


def test_l2_wrong_server_key_backs_off(bins, keys, tmp_path, shared_dir):
    db = tmp_path / "sessions.db"
    port = te.free_port()
    agg = start_agg(bins, tmp_path, port, db)
    try:
        t0 = time.monotonic()
        rc, err = run_sensor(bins, tmp_path, "dept-1", "dept-1", shared_dir / SMALL, port, 8000,
                             server_key=tmp_path / "other.key.pub")
        took = time.monotonic() - t0
    finally:
        stop_agg(agg)
    lines = [ln for ln in err.splitlines() if "handshake refused" in ln]
    print(f"L2: {len(lines)} handshake lines from the sensor in {took:.1f} s "
          f"(was 7-27 a second); last: {lines[-1].split(' ship: ', 1)[-1] if lines else None}")
    assert rc != 0
    assert 2 <= len(lines) <= 5, "\n".join(lines)
    assert "retrying in 4 s" in err
    agg_lines = [ln for ln in agg.log_text().splitlines() if "connection refused at handshake" in ln]
    wrong_key = [ln for ln in agg_lines if "handshake failed (wrong server key?)" in ln]
    assert wrong_key, agg.log_text()[-2000:]
    assert not any("plaintext client" in ln for ln in agg_lines)
    print(f"L2: aggregator said: {wrong_key[0].split(' receive: ', 1)[-1]}")


def test_l9_unreachable_aggregator_is_logged_and_start_line_names_store(bins, keys, tmp_path,
                                                                         shared_dir):
    db = tmp_path / "sessions.db"
    port = te.free_port()
    argv = [str(bins["sensor"]), "--read", str(shared_dir / SMALL), "--name", "dept-1",
            "--aggregator", f"tcp://127.0.0.1:{port}", "--key-file", str(tmp_path / "dept-1.key"),
            "--server-key", str(tmp_path / "agg.key.pub"), "--outbox-dir",
            str(tmp_path / "outbox"), "--drain-timeout", "40000"]
    log = tmp_path / "sensor.log"
    with open(log, "w") as out:
        sensor = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out)
    agg = None
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "no connection to endpoint" not in log.read_text():
            time.sleep(0.2)
        text = log.read_text()
        assert "no connection to endpoint" in text, text
        agg = start_agg(bins, tmp_path, port, db)
        assert sensor.wait(timeout=40) == 0, log.read_text()
    finally:
        if sensor.poll() is None:
            sensor.kill()
            sensor.wait()
        if agg:
            stop_agg(agg)
    text = log.read_text()
    down = [ln for ln in text.splitlines() if "no connection to endpoint" in ln]
    up = [ln for ln in text.splitlines() if "without a connection" in ln]
    assert len(down) == 1 and len(up) == 1, text
    print(f"L9: {down[0].split(' ship: ', 1)[-1]}")
    print(f"L9: {up[0].split(' ship: ', 1)[-1]}")
    start = [ln for ln in agg.log_text().splitlines() if "aggregator: store kind=" in ln]
    assert start and f"path={db}" in start[0], agg.log_text()
    listening = [ln for ln in agg.log_text().splitlines() if "listening endpoint=" in ln]
    assert listening and listening[0].rstrip().endswith(f"store={db}"), listening
    print(f"L9: {start[0].split(' aggregator: ', 1)[-1]}")


# ---- M1 end to end: hand-built batches (protobuf by hand, as test_store_es.py does) ----------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len(num, payload):
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _int(num, value):
    return _varint(num << 3) + _varint(value)


def _fields(buf):
    """{field number: [values]} of one protobuf message (varints and length-delimited)."""
    out, i = {}, 0
    while i < len(buf):
        key, shift = 0, 0
        while True:
            b = buf[i]; i += 1
            key |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        num, wt = key >> 3, key & 7
        val, shift = 0, 0
        while True:
            b = buf[i]; i += 1
            val |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        if wt == 2:
            out.setdefault(num, []).append(buf[i:i + val]); i += val
        else:
            out.setdefault(num, []).append(val)
    return out


def _batch(sensor, seq, prev, epoch, starts):
    recs = b"".join(_len(3, _len(1, f"{sensor}-{seq}-{i}".encode()) + _len(2, sensor.encode()) +
                           _int(3, t) + _int(4, t + 1000) + _int(7, 6) + _int(8, 4))
                    for i, t in enumerate(starts))
    return _len(1, _len(1, sensor.encode()) + _int(2, seq) + recs + _int(5, epoch) + _int(6, prev))


def test_m1_bad_time_never_stalls_a_stream_under_the_default_config(bins, tmp_path):
    zmq = pytest.importorskip("zmq", reason="pyzmq is installed by scripts/test.sh")
    db = tmp_path / "sessions.db"
    port = te.free_port()
    agg = te.Aggregator(bins["agg"], tmp_path, port, ["--insecure", "--store", f"sqlite://{db}"])
    agg.start()
    t0 = 1700000000000000
    acks = []
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.connect(f"tcp://127.0.0.1:{port}")
        # seq 1: its record 1 starts in 2103 (what a signed ts_sec >= 2^31 used to give)
        sock.send(_batch("m1", 1, 0, 5, [t0, 4200000000000000, t0 + 2]))
        sock.send(_batch("m1", 2, 1, 5, [t0 + 3, t0 + 4]))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (acks and acks[-1].get(1, [0])[0] == 2):
            if sock.poll(1000):
                acks.append(_fields(_fields(sock.recv())[4][0]))
        sock.close(0)
    finally:
        ctx.term()
        stop_agg(agg)
    assert acks and acks[-1].get(1) == [2], f"the stream stalled: acks {acks}"
    reasons = [a[4][0].decode() for a in acks if 4 in a]
    assert reasons and "time outside 1970..2100" in reasons[0], acks
    assert all(a.get(6, [0]) == [0] for a in acks), "nothing was refused"
    ids = sorted(r[0] for r in te.stored(db))
    assert ids == ["m1-1-0", "m1-1-2", "m1-2-0", "m1-2-1"]
    dead = (tmp_path / "sessions.db.dead-letter.jsonl").read_text().splitlines()
    dl = json.loads(dead[0]) if len(dead) == 1 else {}
    assert dl.get("id") == b"m1-1-1".hex() and "start_us" in dl.get("reason", ""), dead
    print(f"M1: acked up to {acks[-1][1][0]}, told: {reasons[0]}; stored {len(ids)}, "
          f"dead-lettered {len(dead)} in sessions.db.dead-letter.jsonl")


def test_m7_deleted_database_directory_stops_acks(bins, tmp_path):
    zmq = pytest.importorskip("zmq", reason="pyzmq is installed by scripts/test.sh")
    import shutil
    dbdir = tmp_path / "db"
    dbdir.mkdir()
    port = te.free_port()
    agg = te.Aggregator(bins["agg"], tmp_path, port,
                        ["--insecure", "--store", f"sqlite://{dbdir / 'sessions.db'}"])
    agg.start()
    t0 = 1700000000000000
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.connect(f"tcp://127.0.0.1:{port}")
        sock.send(_batch("m7", 1, 0, 9, [t0, t0 + 1]))
        assert sock.poll(30000), "batch 1 was never acknowledged"
        first = _fields(_fields(sock.recv())[4][0])
        shutil.rmtree(dbdir)                          # the operator's mistake
        sock.send(_batch("m7", 2, 1, 9, [t0 + 2]))
        later = []
        end = time.monotonic() + 3
        while time.monotonic() < end:
            if sock.poll(200):
                later.append(_fields(_fields(sock.recv())[4][0]))
        sock.close(0)
    finally:
        ctx.term()
        stop_agg(agg)
    assert first.get(1) == [1]
    assert not any(a.get(1, [0])[0] >= 2 for a in later), f"acked into a deleted file: {later}"
    err = [ln for ln in agg.log_text().splitlines() if " error receive: store file" in ln]
    assert err and "removed or replaced" in err[0], agg.log_text()[-2000:]
    print(f"M7: batch 1 acked, then the directory removed: batch 2 not acked "
          f"({len(later)} acks after); {err[0].split(' receive: ', 1)[-1][:160]}...")
