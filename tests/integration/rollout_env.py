"""rollout_env.py -- the real hosts test_rollout.py rolls ashiato out to: Debian 12 containers
booted with systemd-nspawn, each from an overlay of one cached root, each in its own network
namespace, joined by a bridge in a namespace of their own. Not a test module.

Owns:  the cached root (/var/cache/ashiato-rollout/root-<hash of its package list>, made once
       with mmdebstrap, or debootstrap when mmdebstrap is missing), the pinned Ansible venv
       (/var/cache/ashiato-rollout/venv-<versions>), and per test run: overlay mounts,
       namespaces, veths, nspawn processes; all of them are undone by Lab.close(), which the
       test's fixture calls through a finalizer even after a failure.
Never: touches the host's own interfaces, routes or processes it did not start; sends a
       packet outside the namespaces it made.
Trap:  an nspawn container's init is a grandchild of the nspawn process; Ansible's nsenter
       connection needs that pid (NSpid ends in 1), not nspawn's.
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("ASHIATO_ROLLOUT_CACHE", "/var/cache/ashiato-rollout"))
SUITE = "bookworm"
# what the containers need at run time, since they get no network: systemd, python3 for
# Ansible (python3-apt for its apt module), the .debs' libraries, ip/ethtool for the
# capture interface, tcpreplay
ROOT_PACKAGES = sorted("""adduser dbus ethtool iproute2 libcurl4 libinih1 libjson-c5
    libmicrohttpd12 libnettle8 libpcap0.8 libprotobuf-c1 libsqlite3-0 libzmq5 procps python3
    python3-apt systemd systemd-sysv tcpreplay zlib1g""".split())
TICKER = ("import socket,time\n"
          "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n"
          "s.bind(('feed0',0))\n"
          "f=b'\\xff'*6+b'\\x02\\0\\0\\0\\0\\x01'+b'\\x88\\xb5'+b'ashiato-tick'.ljust(46,b'\\0')\n"
          "while True:\n"
          "    s.send(f)\n"
          "    time.sleep(0.1)\n")
ANSIBLE_PINS = ("ansible==12.3.0", "ansible-core==2.19.14", "ansible-lint==26.10.1")


def sh(*argv, check=True, timeout=120, **kw):
    return subprocess.run([str(a) for a in argv], check=check, capture_output=True, text=True,
                          timeout=timeout, **kw)


def ansible_venv():
    """The pinned Ansible + ansible-lint venv, made once. Returns its bin/ or raises with why."""
    tag = hashlib.sha256(" ".join(ANSIBLE_PINS).encode()).hexdigest()[:12]
    venv = CACHE / f"venv-{tag}"
    if (venv / "bin" / "ansible-lint").exists() and (venv / "bin" / "ansible-playbook").exists():
        return venv / "bin"
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / f"venv-{tag}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    sh("python3", "-m", "venv", tmp, timeout=300)
    r = sh(tmp / "bin" / "pip", "install", "-q", *ANSIBLE_PINS, check=False, timeout=900)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"pip install {' '.join(ANSIBLE_PINS)} failed: {r.stderr[-800:]}")
    # a venv is not relocatable: make it again at its final path (fast, wheels are cached)
    shutil.rmtree(tmp, ignore_errors=True)
    sh("python3", "-m", "venv", venv, timeout=300)
    sh(venv / "bin" / "pip", "install", "-q", *ANSIBLE_PINS, timeout=900)
    return venv / "bin"


def debian_root():
    """The cached Debian 12 root keyed by its package list; made once (about a minute with
    mmdebstrap). Raises with the reason when it cannot be made."""
    key = hashlib.sha256(("\n".join(ROOT_PACKAGES) + f"\n{SUITE} minbase v1").encode()).hexdigest()[:12]
    root = CACHE / f"root-{key}"
    if (root / "usr" / "bin" / "python3").exists() and (root / ".ashiato-complete").exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = CACHE / f"root-{key}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    if shutil.which("mmdebstrap"):
        argv = ["mmdebstrap", "--variant=minbase", "--include=" + ",".join(ROOT_PACKAGES), SUITE, tmp]
    elif shutil.which("debootstrap"):
        argv = ["debootstrap", "--variant=minbase", "--include=" + ",".join(ROOT_PACKAGES), SUITE, tmp]
    else:
        raise RuntimeError("neither mmdebstrap nor debootstrap is installed (scripts/install-deps.sh --test)")
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"{argv[0]} failed: {r.stderr[-800:]}")
    # no host-name, machine-id or fstab from the host that built it; a container's journal
    # stays in memory
    (tmp / "etc" / "machine-id").write_text("")
    (tmp / ".ashiato-complete").write_text(" ".join(ROOT_PACKAGES) + "\n")
    os.rename(tmp, root)
    return root


def _init_pid(nspawn_pid):
    """The container's init: the descendant of nspawn whose innermost pid is 1."""
    unvisited = [nspawn_pid]
    while unvisited:
        pid = unvisited.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:"):
                ids = line.split()[1:]
                if len(ids) > 1 and ids[-1] == "1":
                    return pid
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            kids = []
        unvisited.extend(int(k) for k in kids)
    return None


class Host:
    """One booted container: name, netns, address, nspawn process, init pid."""

    def __init__(self, lab, name, index):
        self.lab, self.name, self.index = lab, name, index
        self.ns = f"{lab.tag}h{index}"
        self.address = f"10.77.{lab.net}.{index}"
        self.dir = lab.dir / name
        self.merged = self.dir / "merged"
        self.proc = None
        self.pid = None

    def run(self, *argv, check=True, timeout=120):
        """Run a command inside the container (all its namespaces), as root."""
        return sh("nsenter", "-t", self.pid, "-a", *argv, check=check, timeout=timeout)

    def unit(self, name, prop):
        return self.run("systemctl", "show", "-P", prop, name).stdout.strip()

    def journal(self, unit):
        return self.run("journalctl", "-q", "--no-pager", "-o", "cat", "-u", unit, check=False).stdout


class Lab:
    """Containers on one bridge. Everything made is recorded in self.undo, undone in close()."""

    def __init__(self, root, workdir, tag):
        self.root, self.dir, self.tag = Path(root), Path(workdir), tag
        self.net = 100 + (os.getpid() % 100)
        self.undo = []
        self.hosts = {}
        self.brns = f"{tag}br"
        sh("ip", "netns", "add", self.brns)
        self.undo.append(("netns", self.brns))
        sh("ip", "-n", self.brns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.brns, "link", "set", "br0", "up")
        sh("ip", "-n", self.brns, "link", "set", "lo", "up")

    def add(self, name, capture=False):
        """Make and boot one container; capture=True adds a veth pair cap0/feed0 inside its
        namespace (the sensor captures on cap0; tcpreplay writes into feed0)."""
        h = Host(self, name, len(self.hosts) + 1)
        for d in ("upper", "work", "merged"):
            (h.dir / d).mkdir(parents=True, exist_ok=True)
        sh("mount", "-t", "overlay", "overlay", "-o",
           f"lowerdir={self.root},upperdir={h.dir / 'upper'},workdir={h.dir / 'work'}", h.merged)
        self.undo.append(("mount", h.merged))
        (h.merged / "etc" / "hostname").write_text(name + "\n")
        (h.merged / "etc" / "hosts").write_text(
            "127.0.0.1 localhost\n" + f"127.0.1.1 {name}\n")
        sh("ip", "netns", "add", h.ns)
        self.undo.append(("netns", h.ns))
        # no IPv6 autoconfiguration chatter: the capture interface must see only the replay
        sh("ip", "netns", "exec", h.ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        sh("ip", "netns", "exec", h.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "-n", self.brns, "link", "add", f"p{h.index}", "type", "veth", "peer", "name",
           "eth0", "netns", h.ns)
        sh("ip", "-n", self.brns, "link", "set", f"p{h.index}", "master", "br0", "up")
        sh("ip", "-n", h.ns, "addr", "add", f"{h.address}/24", "dev", "eth0")
        sh("ip", "-n", h.ns, "link", "set", "eth0", "up")
        sh("ip", "-n", h.ns, "link", "set", "lo", "up")
        if capture:
            sh("ip", "-n", h.ns, "link", "add", "cap0", "type", "veth", "peer", "name", "feed0")
            sh("ip", "-n", h.ns, "link", "set", "feed0", "up")
            # A quiet link: the kernel hands libpcap a TPACKET_V3 block only when a later packet
            # arrives after the block's timeout, so an idle sensor never ticks and its sessions
            # never time out, and the last packets of a burst wait in an open block while the
            # sensor's session clock (the wall clock, at each read timeout) moves on. Held past
            # a session's timeout, they start a second session of the same flow (history "Aa..",
            # state OTH): the extra live sessions this lab used to count, seen with 10 s holds
            # without this frame. A mirror port is never quiet; here a non-IP frame (local
            # experimental ethertype 0x88b5, no session, counted as malformed) every 0.1 s stands
            # in for that background and bounds the hold to about 0.1 s, well under the lab's
            # shortest timeout (tcp_close_timeout 3 s: 2 s at least, the timers tick in seconds).
            h.ticker = subprocess.Popen(
                ["ip", "netns", "exec", h.ns, sys.executable, "-c", TICKER], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.undo.append(("ticker", h))
        log = open(h.dir / "console.log", "w")
        h.proc = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", str(h.merged), "--register=no", "--keep-unit", "-M", name,
             f"--network-namespace-path=/run/netns/{h.ns}", "-b"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.undo.append(("nspawn", h))
        self.hosts[name] = h
        return h

    def wait_booted(self, h, timeout=90):
        deadline = time.monotonic() + timeout
        while h.pid is None:
            assert h.proc.poll() is None, f"{h.name}: nspawn exited:\n{(h.dir / 'console.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"{h.name}: no container init after {timeout} s"
            h.pid = _init_pid(h.proc.pid)
            time.sleep(0.2)
        while True:
            r = h.run("systemctl", "is-system-running", check=False)
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                return state
            assert time.monotonic() < deadline, f"{h.name}: system {state!r} after {timeout} s"
            time.sleep(0.5)

    def stop(self, h):
        """Power a container off (its init gets SIGRTMIN+4, as machinectl poweroff sends)."""
        if h.proc and h.proc.poll() is None:
            if h.pid:
                try:
                    os.kill(h.pid, signal.SIGRTMIN + 4)
                except ProcessLookupError:
                    pass
            try:
                h.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(h.proc.pid, signal.SIGKILL)
                h.proc.wait(timeout=30)

    def close(self):
        for kind, what in reversed(self.undo):
            try:
                if kind == "ticker":
                    what.ticker.kill()
                    what.ticker.wait(timeout=10)
                elif kind == "nspawn":
                    self.stop(what)
                elif kind == "mount":
                    subprocess.run(["umount", "-l", str(what)], capture_output=True, timeout=60)
                elif kind == "netns":
                    subprocess.run(["ip", "netns", "del", what], capture_output=True, timeout=60)
            except Exception as e:          # keep undoing the rest
                print(f"rollout teardown: {kind} {what}: {e}")
        self.undo = []


def udp_pcap(path, flows, sport=40000, dport=9999):
    """A classic pcap of UDP flows, each (src, dst): a request and its answer."""
    recs = b""
    t = int(time.time())
    for i, (src, dst) in enumerate(flows):
        for j, (a, b, sp, dp) in enumerate(((src, dst, sport + i, dport), (dst, src, dport, sport + i))):
            payload = b"ashiato-rollout"
            udp = struct.pack(">HHHH", sp, dp, 8 + len(payload), 0) + payload
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                             socket.inet_aton(a), socket.inet_aton(b))
            frame = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + udp
            recs += struct.pack("<IIII", t, 1000 * (2 * i + j), len(frame), len(frame)) + frame
    Path(path).write_bytes(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1) + recs)
    return Path(path)


def recap(output):
    """{host: stats} from the ansible.posix.json callback's output."""
    doc = json.loads(output[output.index("{"):])
    return doc, doc.get("stats", {})


def changed_tasks(doc):
    """{host: [task names that changed, handlers included]}."""
    out = {}
    for play in doc.get("plays", []):
        for task in play.get("tasks", []):
            for host, res in task.get("hosts", {}).items():
                if res.get("changed"):
                    out.setdefault(host, []).append(task["task"]["name"].split(" : ", 1)[-1])
    return out
