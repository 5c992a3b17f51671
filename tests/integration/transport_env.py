"""transport_env.py -- the pieces the transport tests start: keys, namespaces joined to the root
namespace by veth pairs, an aggregator process, sensor processes inside namespaces, and the
store's contents. Not a test module; test_transport.py uses it.

Owns:  the processes and namespaces it starts (cleaned up in close(), even after a failure).
Never: touches interfaces or processes it did not create."""
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path


class Aggregator:
    """ashiato-aggregator in the root namespace; restartable on the same store and keys."""

    def __init__(self, binary, workdir, port, args):
        self.binary, self.workdir, self.port, self.args = binary, Path(workdir), port, list(args)
        self.proc = None
        self.log = self.workdir / "aggregator.log"
        self.starts = 0

    def start(self):
        self.starts += 1
        out = open(self.log, "a")
        self.proc = subprocess.Popen([str(self.binary), "--listen", f"tcp://0.0.0.0:{self.port}",
                                      *self.args], stdout=out, stderr=subprocess.STDOUT,
                                     cwd=self.workdir)
        out.close()
        time.sleep(0.3)
        assert self.proc.poll() is None, f"aggregator exited at start:\n{self.log.read_text()}"

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def log_text(self):
        return self.log.read_text() if self.log.exists() else ""


class Namespaces:
    """One namespace per sensor, each joined to the root namespace by a veth pair:
    root side 10.231.N.1/24, namespace side 10.231.N.2/24."""

    def __init__(self, tag, count):
        self.tag, self.count = tag, count
        self.names = [f"ash{tag}{i}" for i in range(1, count + 1)]
        self.created = []
        for i, ns in enumerate(self.names, 1):
            root, inner = f"{ns}r", f"{ns}s"
            self._sh("ip", "netns", "add", ns)
            self.created.append(("ns", ns))
            self._sh("ip", "link", "add", root, "type", "veth", "peer", "name", inner)
            self.created.append(("link", root))
            self._sh("ip", "link", "set", inner, "netns", ns)
            self._sh("ip", "addr", "add", f"10.231.{i}.1/24", "dev", root)
            self._sh("ip", "link", "set", root, "up")
            self._sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"10.231.{i}.2/24", "dev", inner)
            self._sh("ip", "netns", "exec", ns, "ip", "link", "set", inner, "up")
            self._sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    @staticmethod
    def _sh(*argv):
        subprocess.run(argv, check=True, capture_output=True, timeout=30)

    def aggregator_address(self, i):
        return f"10.231.{i}.1"

    def link(self, i, up):
        self._sh("ip", "link", "set", f"{self.names[i - 1]}r", "up" if up else "down")

    def close(self):
        for kind, name in reversed(self.created):
            if kind == "link":
                subprocess.run(["ip", "link", "del", name], capture_output=True)
            else:
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.created = []


class Sensor:
    """ashiato-sensor reading a capture inside a namespace and shipping to the aggregator."""

    def __init__(self, binary, workdir, ns, name, pcap, endpoint, extra):
        self.binary, self.workdir = binary, Path(workdir)
        self.ns, self.name, self.pcap, self.endpoint, self.extra = ns, name, pcap, endpoint, list(extra)
        self.proc = None
        self.runs = 0

    def argv(self):
        ns = ["ip", "netns", "exec", self.ns] if self.ns else []
        return ns + [str(self.binary), "--read", str(self.pcap), "--name", self.name,
                     "--aggregator", self.endpoint, "--outbox-dir", str(self.workdir / f"outbox-{self.name}"),
                     *self.extra]

    def start(self):
        self.runs += 1
        log = open(self.workdir / f"sensor-{self.name}-{self.runs}.log", "w")
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.DEVNULL, stderr=log)
        log.close()

    def kill9(self):
        # `ip netns exec` execs the sensor, so the pid is the sensor's
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def log_text(self):
        return "".join(p.read_text() for p in sorted(self.workdir.glob(f"sensor-{self.name}-*.log")))


def session_ids(json_path):
    """{id: observer} of the sessions a sensor wrote with --emit-json."""
    out = {}
    with open(json_path) as f:
        for line in f:
            doc = __import__("json").loads(line)
            out[doc["ashiato"]["session_id"]] = doc["observer"]["name"]
    return out


def stored(db_path):
    """(id, sensor) rows of the SQLite store, and the row count."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("SELECT id, sensor FROM sessions").fetchall()
    finally:
        con.close()
    return rows


def hold_exclusive_lock(db_path, seconds):
    """Start a process that holds the store's write lock for `seconds` (a stalled store)."""
    code = ("import sqlite3,sys,time\n"
            "c=sqlite3.connect(sys.argv[1],isolation_level=None,timeout=30)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked',flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n"
            "c.execute('COMMIT')\n")
    p = subprocess.Popen(["python3", "-c", code, str(db_path), str(seconds)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "locked"
    return p


def keygen(cli, path, name=None):
    argv = [str(cli), "keygen", "--out", str(path), "--force"]
    if name:
        argv += ["--name", name]
    r = subprocess.run(argv, capture_output=True, text=True, check=True)
    for line in Path(f"{path}.pub").read_text().splitlines():
        if line.startswith("public"):
            return line.split("=", 1)[1].strip()
    raise AssertionError(f"no public key in {path}.pub: {r.stdout}")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_root_with_netns():
    return os.geteuid() == 0 and subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0
