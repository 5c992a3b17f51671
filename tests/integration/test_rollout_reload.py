"""test_rollout_reload.py -- the aggregator's SIGHUP reload of its detection config (the
segments map the ashiato_aggregator role writes from the inventory), with real processes: one
ashiato-aggregator (plaintext on loopback, SQLite store) and ashiato-sensor reading small
captures (--read) and shipping to it. Nothing is mocked.

The address policy alert shows which segments a record got: at a sensor placed on segment
"lab", a flow between private addresses in no segment is "private space" (prefix 10.0.0.0/8,
segments ["outside"]); once a reload maps 10.9.0.0/24 to segment "eng", the same kind of flow is "segment
eng seen at the wrong sensor" (ashiato.segments ["eng"]). A reload of a file that does not parse
keeps the old map, and the log names the file, line and key. The process is the same one
throughout (no restart).
"""
import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import time
from pathlib import Path

BUILD = Path(os.environ.get("ASHIATO_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
AGG = BUILD / "bin" / "ashiato-aggregator"
SENSOR = BUILD / "bin" / "ashiato-sensor"
T0 = 1700000000


def udp_frame(src, dst, sport, dport, payload=b"ashiato-reload"):
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + udp


def write_pcap(path, src, dst, t):
    """one UDP flow src -> dst, a request and its answer, at time t"""
    recs = b""
    for i, (a, b, sp, dp) in enumerate(((src, dst, 40000, 9999), (dst, src, 9999, 40000))):
        frame = udp_frame(a, b, sp, dp)
        recs += struct.pack("<IIII", t, 1000 * i, len(frame), len(frame)) + frame
    path.write_bytes(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1) + recs)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, tmp):
        self.tmp = tmp
        self.ini = tmp / "detect.ini"
        self.port = free_port()
        self.db = tmp / "store.db"
        self.log = tmp / "aggregator.log"
        self.proc = None
        self.shipped = 0

    def start(self):
        self.proc = subprocess.Popen(
            [str(AGG), "--listen", f"tcp://127.0.0.1:{self.port}", "--insecure", "--store",
             f"sqlite://{self.db}", "--detect-config", str(self.ini), "--http-listen", ""],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT)

    def text(self):
        return self.log.read_text()

    def hup_and_wait(self, line):
        """SIGHUP, then wait for the log line the reload writes"""
        seen = self.text().count(line)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while self.text().count(line) <= seen:
            assert self.proc.poll() is None, self.text()[-3000:]
            assert time.monotonic() < deadline, f"no '{line}' after SIGHUP:\n{self.text()[-3000:]}"
            time.sleep(0.1)

    def ship(self, src, dst):
        """one flow through a real sensor; returns when its batch is acknowledged"""
        self.shipped += 1
        pcap = write_pcap(self.tmp / f"flow{self.shipped}.pcap", src, dst, T0 + 60 * self.shipped)
        r = subprocess.run([str(SENSOR), "--read", str(pcap), "--name", "sA", "--aggregator",
                            f"tcp://127.0.0.1:{self.port}", "--insecure",
                            "--outbox-dir", str(self.tmp / "outbox"),
                            "--pcap-dir", str(self.tmp / "pcap"), "--stats"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "lost 0 records" in r.stderr, r.stderr[-3000:]

    def alerts(self):
        if not self.db.exists():
            return []
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as c:
            return [json.loads(d) for (d,) in c.execute("SELECT doc FROM alerts ORDER BY start_us")]

    def wait_alert(self, prefix, sessions):
        """the address_policy alert of prefix once it counts `sessions` sessions"""
        deadline = time.monotonic() + 30
        while True:
            for a in self.alerts():
                if a["rule"]["name"] == "address_policy" and a["ashiato"].get("prefix") == prefix \
                        and a["ashiato"]["sessions"] == sessions:
                    return a
            assert time.monotonic() < deadline, (
                f"no address_policy alert for {prefix} with {sessions} sessions: "
                f"{[(a['rule']['name'], a['ashiato']) for a in self.alerts()]}\n{self.text()[-3000:]}")
            time.sleep(0.3)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        return self.proc.returncode if self.proc else None


def test_sighup_changes_the_segments_records_get(tmp_path):
    lab = Lab(tmp_path)
    lab.ini.write_text("[segments]\nlab = 192.0.2.0/24\n[sensors]\nsA = lab\n")
    lab.start()
    try:
        deadline = time.monotonic() + 20
        while "detection on segments=1 sensors=1" not in lab.text():
            assert lab.proc.poll() is None and time.monotonic() < deadline, lab.text()
            time.sleep(0.1)
        pid = lab.proc.pid

        # before: 10.9.0.0/24 is in no segment, so private space at sA
        lab.ship("10.9.0.1", "10.9.0.2")
        before = lab.wait_alert("10.0.0.0/8", 1)
        assert before["ashiato"]["segments"] == ["outside"], before

        # the inventory adds segment eng: reload, same process
        lab.ini.write_text("[segments]\nlab = 192.0.2.0/24\neng = 10.9.0.0/24\n[sensors]\nsA = lab\n")
        lab.hup_and_wait("reload: detection segments=2 sensors=1 approved=0 darknet=0")
        lab.ship("10.9.0.3", "10.9.0.4")
        after = lab.wait_alert("segment eng", 1)
        assert after["ashiato"]["segments"] == ["eng"], after
        assert sorted(after["destination"]["ip"]) == ["10.9.0.3", "10.9.0.4"], after

        # a file that does not parse: the old map stays, the log names the key
        lab.ini.write_text("[segments]\nlab = 192.0.2.0/24\neng = 10.9.0.0/33\n[sensors]\nsA = lab\n")
        lab.hup_and_wait("reload: detection config kept:")
        kept = [ln for ln in lab.text().splitlines() if "reload: detection config kept:" in ln][-1]
        assert f"{lab.ini}:3: eng: expected an address or prefix, got '10.9.0.0/33'" in kept, kept
        lab.ship("10.9.0.5", "10.9.0.6")
        grown = lab.wait_alert("segment eng", 2)
        assert grown["ashiato"]["segments"] == ["eng"], grown
        assert "10.9.0.5" in grown["destination"]["ip"], grown
        assert lab.proc.poll() is None and lab.proc.pid == pid
        assert lab.text().count("listening endpoint=") == 1, "the aggregator started again"
        print(f"\nreload: before {before['ashiato']['prefix']!r} segments {before['ashiato']['segments']}; "
              f"after SIGHUP {after['ashiato']['prefix']!r} segments {after['ashiato']['segments']}; "
              f"bad file kept the map ({kept.split('kept: ', 1)[1]}); pid {pid} throughout")
        assert lab.stop() == 0, lab.text()[-3000:]      # a clean exit (and no sanitizer report)
    finally:
        lab.stop()
