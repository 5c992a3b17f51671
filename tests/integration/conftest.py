"""conftest.py -- fixtures shared by the sensor's integration tests (real processes, real files).

Owns:  where the binaries and ../shared are found, how ashiato-sensor is run (in the
       foreground, or in the background until a signal), how its output is read (JSON sessions
       on stdout or in a file, the --stats totals on stderr), and the sanitizer check that every
       run passes (the same tests run against the ASan+UBSan build).
Lends: SensorRun results (rc, sessions, stderr); they hold plain copies, nothing to close.
Never: anything OpenSearch-specific (opensearch_node.py and its tests keep their own fixtures);
       kills a process it did not start.
Trap:  the sensor writes its --stats totals and one-line errors to stderr next to log lines, so
       stats are parsed by line prefix, never by line number.

    def test_x(run_sensor, shared_dir):
        pcap = shared_dir / "corpus/arkime-tests/dns-udp.pcap"
        run = run_sensor(["--read", pcap, "--emit-json", "-", "--stats"])
        assert run.rc == 0 and run.stats["malformed"] == 0 and len(run.sessions) == 3
"""
import collections
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", HERE.parents[1]))

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "ThreadSanitizer", "MemorySanitizer", "runtime error:")

# "packets: 16 (6465 bytes), ip: 16, not ip: 0, malformed: 0, truncated inputs: 0"
_PACKETS_RE = re.compile(r"^packets: (\d+) \((\d+) bytes\), ip: (\d+), not ip: (\d+), "
                         r"malformed: (\d+), truncated inputs: (\d+)\s*$")
# "sessions: 1 (records 1, segments 0, evicted 0), fragment orphans: 0"
_SESSIONS_RE = re.compile(r"^sessions: (\d+) \(records (\d+), segments (\d+), evicted (\d+)\), "
                          r"fragment orphans: (\d+)\s*$")
# "decoder.tcp.truncated: 3"
_EVENT_RE = re.compile(r"^(decoder\.[a-z0-9_.]+): (\d+)\s*$")


def assert_no_sanitizer_report(stderr, what):
    """Fail when a sanitizer spoke on stderr (ASan, LSan, UBSan's 'runtime error:')."""
    hits = [ln for ln in stderr.splitlines() if any(m in ln for m in SANITIZER_MARKS)]
    assert not hits, f"{what}: sanitizer report on stderr:\n" + "\n".join(stderr.splitlines()[:60])


def parse_sessions(text, what="sensor output"):
    """One JSON object per non-empty line; a line that is not a JSON object fails the test."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as e:
            pytest.fail(f"{what}: line {n} is not JSON ({e}): {line[:200]!r}")
        if not isinstance(doc, dict):
            pytest.fail(f"{what}: line {n} is not a JSON object: {line[:200]!r}")
        out.append(doc)
    return out


def parse_stats(stderr):
    """The --stats totals as a dict: packets, bytes, ip, not_ip, malformed, truncated_inputs,
    sessions, records, segments, evicted, fragment_orphans, plus 'events' (decoder.* counters).
    Empty when no totals were printed."""
    st = {}
    events = {}
    for line in stderr.splitlines():
        m = _PACKETS_RE.match(line)
        if m:
            keys = ("packets", "bytes", "ip", "not_ip", "malformed", "truncated_inputs")
            st.update(zip(keys, map(int, m.groups())))
            continue
        m = _SESSIONS_RE.match(line)
        if m:
            keys = ("sessions", "records", "segments", "evicted", "fragment_orphans")
            st.update(zip(keys, map(int, m.groups())))
            continue
        m = _EVENT_RE.match(line)
        if m:
            events[m.group(1)] = int(m.group(2))
    if st:
        st["events"] = events
    return st


class SensorRun(collections.namedtuple("SensorRun", "rc sessions stderr")):
    """What one sensor run left: exit status, the sessions it emitted, its stderr."""
    __slots__ = ()

    @property
    def stats(self):
        return parse_stats(self.stderr)

    @property
    def stderr_lines(self):
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    def require_stats(self, what):
        st = self.stats
        assert "packets" in st and "sessions" in st, \
            f"{what}: no --stats totals on stderr:\n{self.stderr[-3000:]}"
        return st


def _argv(sensor_bin, args, prefix):
    return [str(x) for x in prefix] + [str(sensor_bin)] + [str(a) for a in args]


def _read_emit(emit, stdout, what):
    if emit is None:
        return parse_sessions(stdout, what)
    path = Path(emit)
    text = path.read_text() if path.exists() else ""
    return parse_sessions(text, f"{what} ({path})")


@pytest.fixture(scope="session")
def build_dir():
    """$ASHIATO_BUILD_DIR, else <source>/build."""
    return Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build")).resolve()


@pytest.fixture(scope="session")
def sensor_bin(build_dir):
    path = build_dir / "bin" / "ashiato-sensor"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"{path} not found: build first (cmake --build {build_dir}) or set ASHIATO_BUILD_DIR")
    return path


@pytest.fixture(scope="session")
def shared_dir():
    """../shared next to the source tree ($ASHIATO_SHARED_DIR overrides); skip when absent."""
    path = Path(os.environ.get("ASHIATO_SHARED_DIR", SOURCE_DIR.parent / "shared")).resolve()
    if not path.is_dir():
        pytest.skip(f"test data not found at {path} (../shared next to the source tree): "
                    "these tests need its corpus or tools")
    return path


@pytest.fixture(scope="session")
def run_sensor(sensor_bin):
    """run_sensor(args, prefix=(), emit=None, timeout=600, sanitizer_check=True) -> SensorRun.

    Runs ashiato-sensor in the foreground. Sessions are read from stdout (--emit-json -), or
    from the file `emit` when the test wrote them to a file. `prefix` goes before the binary
    (e.g. ["ip", "netns", "exec", "ns1"] or a setpriv command line)."""
    def run(args, prefix=(), emit=None, timeout=600, sanitizer_check=True, env=None):
        argv = _argv(sensor_bin, args, prefix)
        what = " ".join(argv)
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, timeout=timeout, check=False, env=env)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{what}: still running after {timeout} s")
        stdout = r.stdout.decode("utf-8", "replace")
        stderr = r.stderr.decode("utf-8", "replace")
        if sanitizer_check:
            assert_no_sanitizer_report(stderr, what)
        assert r.returncode >= 0, \
            f"{what}: killed by signal {-r.returncode}; stderr:\n{stderr[-3000:]}"
        return SensorRun(r.returncode, _read_emit(emit, stdout, what), stderr)
    return run


class RunningSensor:
    """A sensor started in the background; stop() signals it and returns its SensorRun."""

    def __init__(self, argv, emit, stderr_path, stdout_path):
        self.argv = argv
        self.what = " ".join(argv)
        self.emit = emit
        self._stderr_path = stderr_path
        self._stdout_path = stdout_path
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    def stderr_so_far(self):
        return Path(self._stderr_path).read_text(errors="replace")

    def wait_for_stderr(self, pattern, timeout=10.0):
        """Wait until stderr matches the regex (e.g. the 'capturing' log line); fail if the
        process ends or the time runs out first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr_so_far()
            if rx.search(text):
                return text
            if self.proc.poll() is not None:
                pytest.fail(f"{self.what}: exited ({self.proc.returncode}) before printing "
                            f"/{pattern}/:\n{text[-3000:]}")
            time.sleep(0.05)
        pytest.fail(f"{self.what}: no /{pattern}/ on stderr within {timeout} s:\n"
                    f"{self.stderr_so_far()[-3000:]}")

    def stop(self, sig=signal.SIGTERM, timeout=60, sanitizer_check=True):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.what}: did not exit within {timeout} s of signal {sig}")
        stderr = self.stderr_so_far()
        stdout = Path(self._stdout_path).read_text(errors="replace")
        if sanitizer_check:
            assert_no_sanitizer_report(stderr, self.what)
        return SensorRun(self.proc.returncode, _read_emit(self.emit, stdout, self.what), stderr)

    def kill(self):
        """Only this process, by its pid (it may run under `ip netns exec`, which execs)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def start_sensor(sensor_bin, tmp_path):
    """start_sensor(args, prefix=(), emit=None) -> RunningSensor; anything still running at
    the end of the test is killed (the process this fixture started, nothing else)."""
    started = []

    def start(args, prefix=(), emit=None):
        n = len(started)
        rs = RunningSensor(_argv(sensor_bin, args, prefix), emit,
                           tmp_path / f"sensor-{n}.stderr", tmp_path / f"sensor-{n}.stdout")
        started.append(rs)
        return rs
    yield start
    for rs in started:
        rs.kill()
