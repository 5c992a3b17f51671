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
  comes up; the aggregator's start line names its store."""
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
    assert agg_lines and all("handshake failed (wrong server key?)" in ln for ln in agg_lines), \
        agg.log_text()[-2000:]
    assert not any("plaintext" in ln for ln in agg_lines)
    print(f"L2: aggregator said: {agg_lines[0].split(' receive: ', 1)[-1]}")


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
