"""opensearch_node -- a real OpenSearch 2.19.6 node for integration tests (helper, not a test).

Owns:  one JVM started through tests/opensearch/opensearch.sh run (Launcher.java), its log
       DATA_DIR/node.log (appended across restarts) and the port picked at construction.
Lends: url, for the code under test to talk HTTP to; request() for the tests themselves.
Never: deletes data_dir (a test restarts on the same data path) or kills a process it did not start.
Trap:  the port is picked once, so url stays the same across stop()/start(); a node killed with
       kill() leaves its data as a crash would (translog replay on the next start).

    node = OpenSearchNode(tmp_path / "os", settings={"thread_pool.write.queue_size": "2"})
    node.start()          # builds the launcher if needed, waits for READY and health yellow
    node.request("GET", "/")
    node.stop()           # SIGTERM, clean close
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
SCRIPT = SOURCE_DIR / "tests" / "opensearch" / "opensearch.sh"
VERSION = "2.19.6"


def unavailable_reason():
    """Why a node cannot be started here (a pytest skip reason), or None."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH: the OpenSearch test node needs java 17 and maven"
    if not SCRIPT.is_file():
        return f"{SCRIPT} missing"
    return None


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(timeout=900):
    """Compile the launcher and write its classpath file (a no-op when up to date)."""
    t0 = time.monotonic()
    r = subprocess.run(["bash", str(SCRIPT), "build"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"opensearch.sh build failed ({r.returncode}):\n{r.stdout[-4000:]}")
    return time.monotonic() - t0


class OpenSearchNode:
    def __init__(self, data_dir, port=None, settings=None):
        self.data_dir = Path(data_dir).resolve()
        self.port = port if port else free_port()
        self.auto_port = not port
        self.settings = dict(settings or {})
        self.proc = None
        self.log_path = self.data_dir / "node.log"
        self.start_seconds = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=180):
        """Start the node and return once cluster health is yellow. A port picked here is
        free when picked, not when the JVM binds it: another process may take it in between
        (seen once after the rollout test's many connections), so a node that exits with
        "Address already in use" is started again on another free port, up to three times."""
        for attempt in range(3):
            try:
                return self._start(timeout)
            except RuntimeError as e:
                if not (self.auto_port and "Address already in use" in str(e)) or attempt == 2:
                    raise
                print(f"opensearch_node: port {self.port} was taken before the node bound it; "
                      f"trying another", file=sys.stderr)
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start(self, timeout):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"node already running (pid {self.proc.pid})")
        build()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = ["bash", str(SCRIPT), "run", str(self.data_dir), str(self.port)]
        args += [f"{k}={v}" for k, v in self.settings.items()]
        t0 = time.monotonic()
        mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            # own session: a SIGINT to pytest does not reach the JVM before stop() does
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = t0 + timeout
        while not self._ready_since(mark):
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited ({self.proc.returncode}) during startup:\n"
                                   + self.log_tail())
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"no READY line within {timeout} s:\n" + self.log_tail())
            time.sleep(0.1)
        self.wait_yellow(timeout=max(1.0, deadline - time.monotonic()))
        self.start_seconds = time.monotonic() - t0
        return self

    def _ready_since(self, mark):
        with open(self.log_path, "rb") as f:
            f.seek(mark)
            return f"READY port={self.port}\n".encode() in f.read()

    def wait_yellow(self, timeout=120, index=None):
        """Poll _cluster/health (of one index if given) until status is yellow or green."""
        path = "/_cluster/health" + (f"/{index}" if index else "")
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("node exited while waiting for yellow:\n" + self.log_tail())
            try:
                status, body = self.request("GET", path + "?wait_for_status=yellow&timeout=1s",
                                            timeout=10)
                last = (status, body)
                if status == 200 and body.get("status") in ("yellow", "green"):
                    return body
            except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
                last = e
            time.sleep(0.2)
        raise RuntimeError(f"health not yellow within {timeout} s (last: {last}):\n"
                           + self.log_tail())

    def stop(self, timeout=60):
        """SIGTERM and wait for a clean close; SIGKILL if it takes longer than timeout."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def request(self, method, path, body=None, content_type="application/json", timeout=60):
        """One HTTP request; returns (status, parsed JSON or text). Non-2xx is not an error."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def log_tail(self, lines=40):
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
