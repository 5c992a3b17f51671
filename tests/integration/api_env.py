"""api_env.py -- what the HTTP API tests start: campusgen captures, a users file, an
aggregator serving the API, sensors that ship to it and keep serving their packets, and small
clients (curl --anyauth, a hand-made digest client for replay tests, a pcap reader).
Not a test module; test_http_api.py uses it.

Owns:  the processes it starts (stopped in close(), even after a failure) and its temp files.
Never: touches processes it did not start; binds anything but 127.0.0.1 (free ports it asked
       the kernel for)."""
import hashlib
import ipaddress
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def campusgen(shared_dir, out, sensors="2,3,6", duration=120, rate=20):
    """Campus traffic of three departments; misconfig (1-packet SYNs from 192.168/16 out of
    dept 6, the seed query's target) and a port scan from dept 3, both inside the run."""
    out = Path(out)
    if not (out / "truth.json").exists():
        subprocess.run([sys.executable, str(Path(shared_dir) / "tools" / "campusgen.py"),
                        "--out", str(out), "--sensors", sensors, "--duration", str(duration), "--rate", str(rate),
                        "--events", "misconfig,scan", "--misconfig-at", "+30",
                        "--scan-at", "+60", "--quiet"], check=True, timeout=300)
    return out


def add_user(cli, users, name, password, pcap=True, realm="ashiato"):
    args = [str(cli), "user", "add", "--users", str(users), "--realm", realm, name]
    if not pcap:
        args.insert(-1, "--no-pcap")
    subprocess.run(args, input=password + "\n", text=True, check=True, capture_output=True)


class Stack:
    """An aggregator with the API on a free port, and sensors (one per capture) shipping to it
    and serving their packets afterwards (--serve) through the aggregator's packet broker."""

    def __init__(self, bin_dir, work, captures, users, extra_agg=(), serve=True, store=None):
        self.bin, self.work = Path(bin_dir), Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.port, self.http_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.audit = self.work / "audit.log"
        self.store = store or f"sqlite://{self.work}/sessions.db"
        sock = self.work / "sock"                # packet endpoints want a directory closed to others
        sock.mkdir(mode=0o700, exist_ok=True)
        self.broker = f"ipc://{sock}/broker.sock"
        self.procs, self.sensors = [], {}
        self.agg_log = self.work / "aggregator.log"
        log = open(self.agg_log, "w")
        self.agg = subprocess.Popen(
            [str(self.bin / "ashiato-aggregator"), "--insecure",
             "--listen", f"tcp://127.0.0.1:{self.port}", "--store", self.store,
             "--http-listen", f"127.0.0.1:{self.http_port}", "--http-users", str(users),
             "--http-audit-log", str(self.audit), "--packet-endpoint", self.broker,
             *extra_agg], stdout=log, stderr=subprocess.STDOUT, cwd=self.work)
        log.close()
        self.procs.append(self.agg)
        self._wait_port()
        for cap in captures:
            self.start_sensor(cap, serve)

    def _wait_port(self):
        for _ in range(100):
            if self.agg.poll() is not None:
                raise AssertionError("aggregator exited:\n" + self.agg_log.read_text())
            try:
                socket.create_connection(("127.0.0.1", self.http_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the API never listened:\n" + self.agg_log.read_text())

    def start_sensor(self, cap, serve=True):
        cap = Path(cap)
        name = "dept-" + cap.stem.split("-")[-1]
        d = self.work / name
        d.mkdir(exist_ok=True)
        ini = d / "sensor.ini"
        ini.write_text("[sensor]\nstats_interval_ms = 500\n")    # stats.json without waiting
        args = [str(self.bin / "ashiato-sensor"), "-c", str(ini), "--read", str(cap), "--name", name,
                "--aggregator", f"tcp://127.0.0.1:{self.port}", "--insecure",
                "--outbox-dir", str(d / "outbox"), "--emit-json", str(d / "sessions.json")]
        if serve:
            args += ["--pcap-dir", str(d / "pcap"), "--packet-endpoint",
                     f"ipc://{self.work}/sock/{name}.sock", "--serve"]
        log = open(d / "sensor.log", "w")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=d)
        log.close()
        self.procs.append(p)
        self.sensors[name] = p
        return p

    def sessions(self, name):
        """The sensor's own JSON output: the truth the API must agree with."""
        path = self.work / name / "sessions.json"
        if not path.exists():
            return []
        text = path.read_text()
        if not text.endswith("\n"):                 # the sensor is writing its last line
            text = text[:text.rfind("\n") + 1]
        return [json.loads(ln) for ln in text.splitlines() if ln.strip()]

    def all_sessions(self):
        return [s for n in self.sensors for s in self.sessions(n)]

    def stop_sensor(self, name):
        p = self.sensors[name]
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=20)

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def logs(self):
        text = self.agg_log.read_text()
        for n in self.sensors:
            text += (self.work / n / "sensor.log").read_text()
        return text


def curl(url, path, params=None, user="alice", password="secret", extra=(), timeout=60):
    """curl --anyauth, as the analysts typed it: returns (status, headers text, body bytes)."""
    q = ("?" + urllib.parse.urlencode(params)) if params else ""
    hdr = subprocess.run(["mktemp"], capture_output=True, text=True).stdout.strip()
    try:
        auth = ["--anyauth", "-u", f"{user}:{password}"] if user is not None else []
        r = subprocess.run(["curl", "-sS", "-g", *auth, "-D", hdr, *extra, url + path + q],
                           capture_output=True, timeout=timeout)
        headers = Path(hdr).read_text(errors="replace")
    finally:
        os.unlink(hdr)
    status = 0
    for ln in headers.splitlines():
        if ln.startswith("HTTP/"):
            status = int(ln.split()[1])
    return status, headers, r.stdout


def raw_status(port, request, timeout=10):
    """Send raw bytes, return the status code of the answer (0 if the server closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        try:
            c.sendall(request)
        except OSError:
            pass                                 # the server may stop reading early
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[0].startswith(b"HTTP/") else 0


def get_json(url, path, params=None, **kw):
    status, headers, body = curl(url, path, params, **kw)
    return status, json.loads(body) if body.strip() else None


class Digest:
    """A hand-made RFC 7616 MD5 digest client (qop=auth), to send the same nonce and nc
    twice (a replay) -- curl never does that."""

    def __init__(self, url, user, password):
        self.url, self.user, self.password = url, user, password

    def challenge(self, path):
        try:
            urllib.request.urlopen(self.url + path, timeout=10)
        except urllib.error.HTTPError as e:
            hdr = e.headers.get("WWW-Authenticate")
            assert e.code == 401 and hdr and hdr.startswith("Digest "), (e.code, hdr)
            fields = urllib.request.parse_keqv_list(urllib.request.parse_http_list(hdr[7:]))
            return fields
        raise AssertionError("no challenge")

    def authorization(self, path, ch, nc=1, cnonce="0a4f113b"):
        md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
        ha1 = md5(f"{self.user}:{ch['realm']}:{self.password}")
        ha2 = md5(f"GET:{path}")
        ncs = f"{nc:08x}"
        resp = md5(f"{ha1}:{ch['nonce']}:{ncs}:{cnonce}:auth:{ha2}")
        return (f'Digest username="{self.user}", realm="{ch["realm"]}", nonce="{ch["nonce"]}", '
                f'uri="{path}", algorithm=MD5, response="{resp}", opaque="{ch["opaque"]}", '
                f'qop=auth, nc={ncs}, cnonce="{cnonce}"')

    def get(self, path, authorization):
        req = urllib.request.Request(self.url + path, headers={"Authorization": authorization})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def pcap_records(data):
    """(linktype, [(ts_ns, record bytes incl. its 16-byte header)]) of a classic pcap."""
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        out.append((sec * 10**9 + frac * (1 if nano else 1000), data[off:off + 16 + incl]))
        off += 16 + incl
    return linktype, out


def flow_of(frame):
    """(proto, ip a, port a, ip b, port b) of an Ethernet/IPv4 frame, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ihl = (frame[14] & 15) * 4
    proto = frame[23]
    src, dst = str(ipaddress.ip_address(frame[26:30])), str(ipaddress.ip_address(frame[30:34]))
    sp = dp = 0
    if proto in (6, 17) and len(frame) >= 14 + ihl + 4:
        sp, dp = struct.unpack(">HH", frame[14 + ihl:18 + ihl])
    return proto, src, sp, dst, dp


def session_packets(capture_records, doc):
    """The records of a capture that belong to one session document: its flow (either
    direction) within its first and last packet times."""
    def us(t):
        return int(round(
            __import__("datetime").datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
            * 1e6))
    start, end = us(doc["event"]["start"]) * 1000, us(doc["event"]["end"]) * 1000
    proto = {"tcp": 6, "udp": 17, "icmp": 1}.get(doc["network"]["transport"])
    a = (doc["source"]["ip"], doc["source"].get("port", 0))
    b = (doc["destination"]["ip"], doc["destination"].get("port", 0))
    out = []
    for ts, rec in capture_records:
        if ts < start or ts > end:
            continue
        f = flow_of(rec[16:])
        if not f or f[0] != proto:
            continue
        x, y = (f[1], f[2]), (f[3], f[4])
        if proto == 1:
            x, y = (f[1], 0), (f[3], 0)
        if (x, y) in ((a, b), (b, a)):
            out.append((ts, rec))
    return out


def no_sanitizer_report(text):
    return not any(m in text for m in SANITIZER_MARKS)


def segment_of(ip, segments):
    """longest prefix; of equal prefixes the first listed; "outside" in none"""
    a, best, bits = ipaddress.ip_address(ip), "outside", -1
    for name, nets in segments:
        for n in nets:
            if a.version == n.version and a in n and n.prefixlen > bits:
                best, bits = name, n.prefixlen
    return best


def wait_all_sessions(st):
    """Until every session the sensors wrote is stored and every sensor has exited: their
    count (stable over two looks). The sensors are api_env.Stack's."""
    want = None
    for _ in range(600):
        try:
            total = sum(len(st.sessions(n)) for n in st.sensors)
        except ValueError:
            total = -1
        status, d = get_json(st.url, "/sessions.json", {"date": -1, "length": 0})
        if status == 200 and d["recordsTotal"] == total > 0 and all(
                p.poll() is not None for p in st.sensors.values()):
            if want == total:
                return total
            want = total
        time.sleep(0.5)
    pytest.fail("sessions never all arrived:\n" + st.logs()[-3000:])
