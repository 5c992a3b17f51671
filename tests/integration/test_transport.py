"""test_transport.py -- sensors to aggregator over CurveZMQ: exactly the emitted sessions arrive,
through aggregator kills, a cut link, a killed sensor and a stalled store; strangers, plaintext
and garbage are refused. Real processes, real sockets, one network namespace per sensor.

The ground truth is each sensor's own --emit-json: session ids are deterministic (sensor, flow
key, first-packet time), so a sensor that is killed and re-reads its capture makes the same ids
again, and the store must end with each exactly once."""
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transport_env as te  # noqa: E402

pytestmark = pytest.mark.skipif(not te.is_root_with_netns(),
                                reason="needs root and `ip netns` (network namespaces per sensor)")


@pytest.fixture(scope="module")
def bins(build_dir):
    b = {k: build_dir / "bin" / v for k, v in
         (("sensor", "ashiato-sensor"), ("agg", "ashiato-aggregator"), ("cli", "ashiato"))}
    for k, p in b.items():
        assert p.exists(), f"{p} not built"
    return b


@pytest.fixture(scope="module")
def campus(shared_dir, tmp_path_factory):
    """Four minutes of a three-department campus with every event inside the window."""
    out = tmp_path_factory.mktemp("campus")
    subprocess.run([sys.executable, str(shared_dir / "tools" / "campusgen.py"), "--out", str(out),
                    "--sensors", "1,2,3", "--duration", "240", "--misconfig-at", "+20",
                    "--scan-at", "+40", "--scan-ports", "1000", "--lateral-at", "+80",
                    "--spike-at", "+120", "--quiet"], check=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def truth(bins, campus, tmp_path_factory):
    """Each sensor's sessions from an offline run with no aggregator: {sensor: {id: observer}}."""
    out = tmp_path_factory.mktemp("truth")
    t = {}
    for i in (1, 2, 3):
        js = out / f"s{i}.json"
        subprocess.run([str(bins["sensor"]), "--read", str(campus / f"sensor-{i}.pcap"), "--name",
                        f"s{i}", "--emit-json", str(js)], check=True, timeout=300,
                       capture_output=True)
        t[f"s{i}"] = te.session_ids(js)
        n = len(t[f"s{i}"])
        assert n > 500, f"s{i}: only {n} sessions"
    return t


@pytest.fixture
def keys(bins, tmp_path):
    k = {"agg": te.keygen(bins["cli"], tmp_path / "agg.key")}
    lines = []
    for name in ("s1", "s2", "s3"):
        k[name] = te.keygen(bins["cli"], tmp_path / f"{name}.key", name)
        lines.append(f"{name} {k[name]}")
    te.keygen(bins["cli"], tmp_path / "stranger.key")
    (tmp_path / "allow.txt").write_text("# sensors allowed in\n" + "\n".join(lines) + "\n")
    return k


@pytest.fixture
def net():
    n = te.Namespaces(f"t{os.getpid() % 1000}", 3)
    yield n
    n.close()


def secure_args(tmp_path, db):
    return ["--key-file", str(tmp_path / "agg.key"), "--allow-list", str(tmp_path / "allow.txt"),
            "--store", f"sqlite://{db}"]


def sensor(bins, tmp_path, net, i, port, campus, extra=(), name=None, key=None):
    name = name or f"s{i}"
    return te.Sensor(bins["sensor"], tmp_path, net.names[i - 1], name, campus / f"sensor-{i}.pcap",
                     f"tcp://{net.aggregator_address(i)}:{port}",
                     ["--key-file", str(tmp_path / f"{key or name}.key"),
                      "--server-key", str(tmp_path / "agg.key.pub"), *extra])


def assert_store_equals(db, truth_ids, what):
    rows = te.stored(db)
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), f"{what}: duplicate ids in the store"
    want = {sid: obs for t in truth_ids.values() for sid, obs in t.items()}
    got = dict(rows)
    missing = set(want) - set(got)
    extra = set(got) - set(want)
    assert not missing and not extra, (f"{what}: {len(missing)} sessions missing, {len(extra)} "
                                       f"unexpected (store {len(got)}, emitted {len(want)})")
    wrong = [sid for sid in want if got[sid] != want[sid]]
    assert not wrong, f"{what}: {len(wrong)} sessions attributed to the wrong sensor"
    return len(got)


def test_three_sensors_one_aggregator(bins, campus, truth, keys, net, tmp_path):
    db = tmp_path / "sessions.db"
    port = te.free_port()
    agg = te.Aggregator(bins["agg"], tmp_path, port, secure_args(tmp_path, db))
    agg.start()
    try:
        sensors = [sensor(bins, tmp_path, net, i, port, campus,
                          ["--emit-json", str(tmp_path / f"emitted-s{i}.json")]) for i in (1, 2, 3)]
        for s in sensors:
            s.start()
        for s in sensors:
            assert s.wait(180) == 0, f"{s.name} failed:\n{s.log_text()}"
    finally:
        agg.stop()
    emitted = {f"s{i}": te.session_ids(tmp_path / f"emitted-s{i}.json") for i in (1, 2, 3)}
    for name in emitted:
        assert emitted[name] == truth[name], f"{name}: shipping changed what the sensor emits"
    n = assert_store_equals(db, emitted, "three sensors")
    print(f"three sensors: {n} sessions stored, exactly the emitted ones")
    log = agg.log_text()
    for name in ("s1", "s2", "s3"):
        assert f"sensor accepted name={name}" in log


def test_faults_lose_nothing_store_nothing_twice(bins, campus, truth, keys, net, tmp_path):
    """Sensors paced so the run lasts about a minute; meanwhile the aggregator is SIGKILLed three
    times, s2's link is cut for 30 s, s3 is SIGKILLed and restarted on its journal (re-reading
    its capture), and the store is locked for 20 s."""
    db = tmp_path / "sessions.db"
    port = te.free_port()
    agg = te.Aggregator(bins["agg"], tmp_path, port, secure_args(tmp_path, db) + ["--log-level", "info"])
    ini = tmp_path / "sensor.ini"
    ini.write_text("[sensor]\nresend_ms = 1000\nheartbeat_ms = 500\nbatch_ms = 300\n")
    pace = ["-c", str(ini), "--realtime", "4", "--drain-timeout", "120000"]
    sensors = {i: sensor(bins, tmp_path, net, i, port, campus, pace) for i in (1, 2, 3)}
    lock = None
    agg.start()
    try:
        for s in sensors.values():
            s.start()
        t0 = time.monotonic()

        def at(sec):
            delay = t0 + sec - time.monotonic()
            if delay > 0:
                time.sleep(delay)

        at(5); agg.kill9(); at(6.5); agg.start()
        at(10); net.link(2, up=False)
        at(15); agg.kill9(); at(16.5); agg.start()
        at(20); sensors[3].kill9(); at(22); sensors[3].start()
        at(25); agg.kill9(); at(26.5); agg.start()
        at(40); net.link(2, up=True)
        at(42); lock = te.hold_exclusive_lock(db, 20)
        for i, s in sensors.items():
            assert s.wait(240) == 0, f"{s.name} failed:\n{s.log_text()}"
        assert lock.wait(60) == 0
        lock = None
    finally:
        if lock:
            lock.kill()
        agg.stop()
        net.link(2, up=True)
    n = assert_store_equals(db, truth, "faults")
    log = agg.log_text()
    assert agg.starts == 4
    assert "store busy, holding acks" in log, "the locked store was never met"
    assert "journal bound" not in sensors[1].log_text() + sensors[2].log_text() + sensors[3].log_text()
    print(f"faults: {n} sessions stored exactly once after 3 aggregator kills, a 30 s link cut, "
          f"a sensor kill and a 20 s store lock")


def test_strangers_and_plaintext_are_refused(bins, campus, keys, net, tmp_path):
    db = tmp_path / "sessions.db"
    port = te.free_port()
    agg = te.Aggregator(bins["agg"], tmp_path, port, secure_args(tmp_path, db))
    agg.start()
    try:
        quick = ["--drain-timeout", "3000"]
        stranger = sensor(bins, tmp_path, net, 1, port, campus, quick, name="x", key="stranger")
        stranger.start()
        assert stranger.wait(60) != 0, "a sensor outside the allow-list got its batches acknowledged"
        plain = te.Sensor(bins["sensor"], tmp_path, net.names[1], "p", campus / "sensor-2.pcap",
                          f"tcp://{net.aggregator_address(2)}:{port}", ["--insecure", *quick])
        plain.start()
        assert plain.wait(60) != 0, "a plaintext sensor got its batches acknowledged"
        # the allowed sensor names itself "evil": refused (H1, test_agg_hardening.py), told
        # why, and nothing of it is stored under either name
        liar = sensor(bins, tmp_path, net, 3, port, campus, quick, name="evil", key="s3")
        liar.start()
        assert liar.wait(120) != 0, liar.log_text()
    finally:
        agg.stop()
    log = agg.log_text()
    assert "sensor refused: key not in allow-list" in log
    assert "plaintext needs insecure = true" in log
    assert "refused batch sensor=s3" in log
    assert te.stored(db) == [], "a refused or unknown sensor's records were stored"
    assert "handshake refused" in stranger.log_text()
    assert "allowed as 's3'" in liar.log_text()


def test_insecure_mode_accepts_plaintext(bins, campus, net, tmp_path):
    db = tmp_path / "sessions.db"
    port = te.free_port()
    agg = te.Aggregator(bins["agg"], tmp_path, port, ["--insecure", "--store", f"sqlite://{db}"])
    agg.start()
    try:
        s = te.Sensor(bins["sensor"], tmp_path, net.names[0], "s1", campus / "sensor-1.pcap",
                      f"tcp://{net.aggregator_address(1)}:{port}",
                      ["--insecure", "--emit-json", str(tmp_path / "s1.json")])
        s.start()
        assert s.wait(120) == 0, s.log_text()
    finally:
        agg.stop()
    assert_store_equals(db, {"s1": te.session_ids(tmp_path / "s1.json")}, "insecure")


def test_garbage_from_an_allowed_sensor_disturbs_no_one(bins, campus, keys, net, tmp_path):
    zmq = pytest.importorskip("zmq", reason="pyzmq is installed by scripts/test.sh")
    db = tmp_path / "sessions.db"
    port = te.free_port()
    agg = te.Aggregator(bins["agg"], tmp_path, port, secure_args(tmp_path, db))
    agg.start()
    ctx = zmq.Context()
    try:
        kp = {}
        for line in (tmp_path / "s1.key").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                kp[k.strip()] = v.strip()
        bad = ctx.socket(zmq.DEALER)
        bad.curve_publickey = kp["public"].encode()
        bad.curve_secretkey = kp["secret"].encode()
        bad.curve_serverkey = keys["agg"].encode()
        bad.connect(f"tcp://127.0.0.1:{port}")
        rnd = random.Random(7)
        good_batch = bytes.fromhex("0a0b0a02733110071a00")     # Envelope{batch{sensor, seq, empty record}}
        junk = [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 400))) for _ in range(200)]
        junk += [good_batch[:n] for n in range(1, len(good_batch))]
        junk += [b"\x0a\xff\xff\xff\xff\x0f" + b"x" * 10, b""]
        s2 = sensor(bins, tmp_path, net, 2, port, campus, ["--emit-json", str(tmp_path / "s2.json")])
        s2.start()
        for j in junk:
            bad.send(j)
        bad.send_multipart([b"a", b"b", b"c"])
        assert s2.wait(120) == 0, s2.log_text()
        bad.close(0)
    finally:
        ctx.term()
        agg.stop()
    log = agg.log_text()
    assert "rejected message sensor=s1" in log
    assert agg.proc.returncode == 0
    assert_store_equals(db, {"s2": te.session_ids(tmp_path / "s2.json")}, "garbage")


def test_packets_fetched_through_the_aggregator(bins, campus, keys, net, tmp_path):
    """A sensor keeps its packets; an analyst asks the aggregator's packet endpoint, which
    passes the request over the sensor's own outbound connection (no inbound port on the
    sensor). The answer equals what the sensor's local endpoint serves for the same session."""
    db = tmp_path / "sessions.db"
    port = te.free_port()
    agg_ep = f"ipc://{tmp_path / 'agg-packets.sock'}"
    agg = te.Aggregator(bins["agg"], tmp_path, port,
                        secure_args(tmp_path, db) + ["--packet-endpoint", agg_ep])
    agg.start()
    local_ep = f"ipc://{tmp_path / 's2-packets.sock'}"
    s = sensor(bins, tmp_path, net, 2, port, campus,
               ["--pcap-dir", str(tmp_path / "pcap-s2"), "--packet-endpoint", local_ep, "--serve",
                "--emit-json", str(tmp_path / "s2.json")])
    s.start()
    try:
        deadline = time.monotonic() + 120
        while ("answering packet requests until signalled" not in s.log_text() or
               "sensor stream name=s2" not in agg.log_text()):
            assert s.proc.poll() is None, s.log_text()
            assert time.monotonic() < deadline, "the sensor did not finish its input or connect"
            time.sleep(0.2)
        docs = [line for line in (tmp_path / "s2.json").read_text().splitlines()]
        sample = docs[:: max(1, len(docs) // 20)]
        (tmp_path / "sample.json").write_text("\n".join(sample) + "\n")

        def fetch(endpoint, outdir):
            return subprocess.run([str(bins["cli"]), "pcap", "--sensor", endpoint, "--session-json",
                                   str(tmp_path / "sample.json"), "--out-dir", str(outdir)],
                                  capture_output=True, text=True, timeout=120)
        via_agg = fetch(agg_ep, tmp_path / "via-agg")
        assert via_agg.returncode == 0, via_agg.stderr
        direct = fetch(local_ep, tmp_path / "direct")
        assert direct.returncode == 0, direct.stderr
        files = sorted(p.name for p in (tmp_path / "direct").iterdir())
        assert len(files) == len(sample)
        for name in files:
            a = (tmp_path / "via-agg" / name).read_bytes()
            assert a == (tmp_path / "direct" / name).read_bytes(), f"{name}: differs via the aggregator"
            assert len(a) > 24, f"{name}: no packets"
        # a sensor the aggregator does not know: a clear refusal, not a hang
        other = tmp_path / "other.json"
        other.write_text(sample[0].replace('"name":"s2"', '"name":"nosuch"') + "\n")
        res = subprocess.run([str(bins["cli"]), "pcap", "--sensor", agg_ep, "--session-json", str(other),
                              "--out", str(tmp_path / "x.pcap"), "--timeout", "10"],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 2 and "not connected" in res.stderr, res.stderr
        print(f"\npackets via the aggregator: {len(sample)} sessions, byte-identical to the "
              f"sensor's own endpoint")
    finally:
        s.proc.send_signal(__import__("signal").SIGTERM)
        s.wait(60)
        agg.stop()
