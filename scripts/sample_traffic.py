#!/usr/bin/env python3
"""sample_traffic.py -- ashiato's own sample traffic: a small campus seen by one sensor per
department, written as classic pcap files (Ethernet, microsecond timestamps), one per sensor.

    sample_traffic.py --out DIR [--sensors N] [--minutes M] [--seed S] [--hosts H] [--rate R]

Python 3 standard library only; the same options give byte-identical files. Defaults (3 sensors,
2 minutes) make about 4,000 sessions in a couple of seconds.

What it makes (campus 10.20.0.0/16):
  department D = 10.20.D.0/24 for D = 1..N, one sensor per department uplink: clients .10..,
      department servers .5 (SMB files), .6 (web), .7 (SSH);
  server segment 10.20.100.0/24 (no sensor): .10 server, .20 files, .22 SSH, .53 DNS resolver,
      .80 intranet web, .89 remote desktop;
  outside: 203.0.113.0/24 and 198.51.100.0/24 (web and TLS servers, ping targets).
Sensor D sees what crosses department D's uplink. Traffic between departments D and E is in both
files: at t in the sender's department file, at t + 150 us in the other one.
Background, per department: DNS over UDP (A and AAAA, some NXDOMAIN), HTTP/1.1 (Host,
User-Agent, 200 and 404 answers), TLS 1.2 (resumed) and TLS 1.3 ClientHello with SNI and
ServerHello then encrypted records, SSH (banners, KEXINIT, ECDH, NEWKEYS, encrypted packets),
SMB2 (negotiate, tree connect), RDP (X.224 connection request and confirm), ICMP echo.
Injected events (listed in DIR/truth.json with their sessions and packets):
  horizontal-scan  one host of department 2 sends a SYN to port 445 of every address of
                   department 3 (of the server segment when there are fewer departments): the
                   file server answers, some hosts reset, most stay silent;
  vertical-scan    one host of department 1 sends a SYN to ports 1..1024 of 10.20.100.10:
                   a few open (SYN-ACK, then the scanner's RST), the rest RST-ACK;
  misconfig        a misconfigured router behind department N sends 1-packet SYNs from
                   192.168.x.x to outside addresses (the DESIGN.md query finds exactly these).
Every packet has correct IPv4/TCP/UDP/ICMP checksums and lengths, frames shorter than 60 bytes
are padded as a mirror port delivers them, and TCP sessions have a handshake, consistent
sequence/ack numbers and a FIN or RST teardown.
"""

import argparse
import json
import os
import random
import struct
import sys

CAMPUS = (10, 20)
SERVERS = 100                      # third octet of the server segment
XDELAY_US = 150                    # second sensor of an inter-department packet
MSS = 1460
START_US = 1_709_629_200_000_000   # 2024-03-05T09:00:00Z
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

SRV_HOST, SRV_FILES, SRV_SSH, SRV_DNS, SRV_WEB, SRV_RDP = 10, 20, 22, 53, 80, 89
DEPT_FILES, DEPT_WEB, DEPT_SSH = 5, 6, 7

OUTSIDE_WEB = [("www.example.com", "203.0.113.10"), ("news.example.net", "203.0.113.20"),
               ("downloads.example.org", "198.51.100.30")]
OUTSIDE_TLS = [("login.example.org", "203.0.113.40"), ("mail.example.com", "203.0.113.41"),
               ("cdn.example.net", "198.51.100.50"), ("api.example.com", "198.51.100.51"),
               ("update.example.org", "198.51.100.52")]
NXDOMAIN_NAMES = ["wpad.campus.example", "printer-3f.campus.example", "exmaple.com",
                  "intranet.campus.exmaple"]
USER_AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
               "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/122.0.0.0 Safari/537.36",
               "curl/7.88.1", "Microsoft-CryptoAPI/10.0", "Debian APT-HTTP/1.3 (2.6.1)"]
HTTP_PATHS = ["/", "/index.html", "/news/today", "/static/app.js", "/images/logo.png",
              "/api/v1/status", "/docs/handbook.pdf"]
SSH_CLIENTS = ["SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2", "SSH-2.0-PuTTY_Release_0.80",
               "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"]
SSH_SERVER = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2"
SHARES = ["IPC$", "home", "projects", "scratch"]
RDP_USERS = ["alice", "bob", "carol", "admin"]
VSCAN_OPEN = (22, 80, 135, 139, 443, 445)


# ---------------------------------------------------------------- checksums and headers
def csum(data):
    """Internet checksum. The ones' complement sum of 16-bit words is the big-endian number
    modulo 65535 (2**16 == 1 mod 65535), with 0xffff standing for a non-zero multiple."""
    if len(data) & 1:
        data += b"\0"
    r = int.from_bytes(data, "big") % 65535
    return 0xffff - r if r else 0       # r == 0: sum is 0xffff, checksum 0


def ip_bytes(s):
    return bytes(int(x) for x in s.split("."))


def mac_of(ip):
    return b"\x02\x00" + ip           # locally administered, derived from the address


def frame(src, dst, proto, l4, ident, ttl):
    """Ethernet + IPv4 around an L4 segment whose checksum field is still zero."""
    total = 20 + len(l4)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, 0x4000 if proto == 6 else 0,
                      ttl, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    if proto in (6, 17):
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4))
        c = csum(pseudo + l4)
        if proto == 17 and c == 0:
            c = 0xffff
        off = 16 if proto == 6 else 6
    else:                               # ICMP: no pseudo header
        c, off = csum(l4), 2
    l4 = l4[:off] + struct.pack("!H", c) + l4[off + 2:]
    f = mac_of(dst) + mac_of(src) + b"\x08\x00" + hdr + l4
    if len(f) < 60:
        f += b"\0" * (60 - len(f))
    return f


# ---------------------------------------------------------------- application payloads
def tls_record(ctype, body, version=0x0303):
    return struct.pack("!BHH", ctype, version, len(body)) + body


def tls_handshake(htype, body):
    return bytes([htype]) + len(body).to_bytes(3, "big") + body


def tls_ext(etype, body):
    return struct.pack("!HH", etype, len(body)) + body


def vec(body, n=2):
    return len(body).to_bytes(n, "big") + body


def tls_client_hello(r, sni, tls13, sid):
    suites = [0x1301, 0x1302, 0x1303] if tls13 else []
    suites += [0xc02b, 0xc02f, 0xc030, 0x009c]
    ext = tls_ext(0x0000, vec(b"\0" + vec(sni.encode())))
    ext += tls_ext(0x000a, vec(struct.pack("!HH", 0x001d, 0x0017)))
    ext += tls_ext(0x000b, vec(b"\0", 1))
    ext += tls_ext(0x000d, vec(struct.pack("!HHHH", 0x0403, 0x0804, 0x0401, 0x0201)))
    ext += tls_ext(0x0010, vec(vec(b"h2", 1) + vec(b"http/1.1", 1)))
    ext += tls_ext(0xff01, b"\0")
    if tls13:
        ext += tls_ext(0x002b, vec(struct.pack("!HH", 0x0304, 0x0303), 1))
        ext += tls_ext(0x0033, vec(struct.pack("!H", 0x001d) + vec(r.randbytes(32))))
        ext += tls_ext(0x002d, vec(b"\x01", 1))
    body = struct.pack("!H", 0x0303) + r.randbytes(32) + vec(sid, 1)
    body += vec(b"".join(struct.pack("!H", s) for s in suites)) + vec(b"\0", 1) + vec(ext)
    return tls_record(22, tls_handshake(1, body), 0x0301)


def tls_server_hello(r, tls13, sid):
    if tls13:
        ext = tls_ext(0x002b, struct.pack("!H", 0x0304))
        ext += tls_ext(0x0033, struct.pack("!H", 0x001d) + vec(r.randbytes(32)))
        suite = 0x1301
    else:
        ext = tls_ext(0xff01, b"\0") + tls_ext(0x000b, vec(b"\0", 1))
        suite = 0xc02f
    body = struct.pack("!H", 0x0303) + r.randbytes(32) + vec(sid, 1)
    body += struct.pack("!HB", suite, 0) + vec(ext)
    return tls_record(22, tls_handshake(2, body))


def ssh_packet(r, payload):
    pad = 8 - (len(payload) + 5) % 8
    if pad < 4:
        pad += 8
    return struct.pack("!IB", len(payload) + pad + 1, pad) + payload + r.randbytes(pad)


def ssh_str(b):
    return struct.pack("!I", len(b)) + b


def ssh_kexinit(r):
    lists = [b"curve25519-sha256,ecdh-sha2-nistp256", b"rsa-sha2-512,rsa-sha2-256,ssh-rsa",
             b"aes128-ctr,aes256-ctr", b"aes128-ctr,aes256-ctr",
             b"hmac-sha2-256,hmac-sha2-512", b"hmac-sha2-256,hmac-sha2-512",
             b"none", b"none", b"", b""]
    return ssh_packet(r, b"\x14" + r.randbytes(16) + b"".join(ssh_str(x) for x in lists)
                      + b"\0" + b"\0\0\0\0")


def ssh_mpint(n):
    b = n.to_bytes((n.bit_length() + 8) // 8, "big")
    return ssh_str(b)


def ssh_ecdh_reply(r):
    host_key = ssh_str(b"ssh-rsa") + ssh_mpint(65537) + ssh_mpint(
        int.from_bytes(r.randbytes(256), "big") | (1 << 2047) | 1)
    # signature type ssh-rsa: the only one Wireshark 4.0 decodes without a warning
    sig = ssh_str(b"ssh-rsa") + ssh_str(r.randbytes(256))
    return ssh_packet(r, b"\x1f" + ssh_str(host_key) + ssh_str(r.randbytes(32)) + ssh_str(sig))


def ssh_encrypted(r, n):
    """n bytes of ciphertext (a multiple of 16) followed by a 32-byte hmac-sha2-256 tag"""
    return r.randbytes((n + 15) // 16 * 16 + 32)


def nbss(msg):
    return struct.pack("!I", len(msg)) + msg


def smb2_header(cmd, mid, response, status=0, tid=0, sid=0):
    flags = 1 if response else 0
    return (b"\xfeSMB" + struct.pack("<HHIHHIIQIIQ", 64, 1, status, cmd, 1 if not response else 31,
                                     flags, 0, mid, 0xfeff, tid, sid) + b"\0" * 16)


def smb2_negotiate(r, guid, response):
    if not response:
        dialects = (0x0202, 0x0210, 0x0300, 0x0302)
        body = struct.pack("<HHHHI", 36, len(dialects), 1, 0, 0x7f) + guid + b"\0" * 8
        body += b"".join(struct.pack("<H", d) for d in dialects)
        return nbss(smb2_header(0, 0, False) + body)
    body = struct.pack("<HHHH", 65, 1, 0x0302, 0) + r.randbytes(16)
    body += struct.pack("<IIIIQQHHI", 0x2f, 8 << 20, 8 << 20, 8 << 20,
                        132_000_000_000_000_000 + r.randrange(1 << 32), 0, 128, 0, 0)
    return nbss(smb2_header(0, 0, True) + body + b"\0")


def smb2_tree_connect(path, sid, mid):
    p = path.encode("utf-16-le")
    return nbss(smb2_header(3, mid, False, sid=sid) + struct.pack("<HHHH", 9, 0, 72, len(p)) + p)


def smb2_tree_connect_resp(ok, tid, sid, mid):
    if ok:
        body = struct.pack("<HBBIII", 16, 1, 0, 0, 0, 0x001f01ff)
        return nbss(smb2_header(3, mid, True, tid=tid, sid=sid) + body)
    body = struct.pack("<HBBI", 9, 0, 0, 0) + b"\0"   # error response, STATUS_ACCESS_DENIED
    return nbss(smb2_header(3, mid, True, status=0xc0000022, sid=sid) + body)


def rdp_connection_request(r, user):
    cookie = b"Cookie: mstshash=" + user.encode() + b"\r\n"
    neg = struct.pack("<BBHI", 1, 0, 8, 3)           # RDP_NEG_REQ: TLS | CredSSP
    x224 = struct.pack("!BHHB", 0xe0, 0, r.randrange(1, 0xffff), 0) + cookie + neg
    x224 = bytes([len(x224)]) + x224
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224


def rdp_connection_confirm(r):
    neg = struct.pack("<BBHI", 2, 0x1f, 8, 1)         # RDP_NEG_RSP: TLS selected
    x224 = struct.pack("!BHHB", 0xd0, r.randrange(1, 0xffff), 0, 0) + neg
    x224 = bytes([len(x224)]) + x224
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224


def dns_name(name):
    return b"".join(vec(p.encode(), 1) for p in name.split(".")) + b"\0"


def dns_query(qid, name, qtype):
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack(
        "!HH", qtype, 1)


def dns_answer(qid, name, qtype, rdata):
    q = dns_name(name) + struct.pack("!HH", qtype, 1)
    if rdata is None:                                 # NXDOMAIN with the zone's SOA
        zone = ".".join(name.split(".")[-2:])
        soa = (dns_name("ns1." + zone) + dns_name("hostmaster." + zone)
               + struct.pack("!IIIII", 2024030501, 7200, 3600, 1209600, 300))
        auth = dns_name(zone) + struct.pack("!HHIH", 6, 1, 300, len(soa)) + soa
        return struct.pack("!HHHHHH", qid, 0x8183, 1, 0, 1, 0) + q + auth
    ans = b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 300, len(rdata)) + rdata
    return struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + q + ans


# ---------------------------------------------------------------- flows
class Flow:
    """One conversation. views[d] lists (sensor, delay_us) for packets sent in direction d
    (0 = initiator to responder)."""

    def __init__(self, gen, t, ips, ports, views, rtt_us):
        self.g, self.t, self.ips, self.ports, self.views = gen, t, ips, ports, views
        self.half = max(rtt_us // 2, 2 * XDELAY_US + 50)
        self.ident = [gen.r.randrange(1 << 16), gen.r.randrange(1 << 16)]
        self.ttl = [64 if ips[0][0] == CAMPUS[0] else 52, 64 if ips[1][0] == CAMPUS[0] else 52]
        self.last_dir = 0
        self.packets = 0

    def advance(self, d):
        """time of the next packet in direction d: a half round trip after a turn"""
        if d != self.last_dir:
            self.t += self.half + self.g.r.randrange(0, 60)
        else:
            self.t += self.g.r.randrange(8, 40)
        self.last_dir = d

    def emit(self, d, proto, l4):
        self.ident[d] = (self.ident[d] + 1) & 0xffff
        f = frame(self.ips[d], self.ips[1 - d], proto, l4, self.ident[d], self.ttl[d])
        for sensor, delay in self.views[d]:
            self.g.put(sensor, self.t + delay, f)
        self.packets += 1


class Tcp(Flow):
    def __init__(self, gen, t, ips, ports, views, rtt_us):
        super().__init__(gen, t, ips, ports, views, rtt_us)
        self.seq = [gen.r.randrange(1 << 32), gen.r.randrange(1 << 32)]
        self.ack = [0, 0]

    def seg(self, d, flags, payload=b"", opts=b""):
        self.advance(d)
        hlen = 20 + len(opts)
        ack = self.ack[d] if flags & ACK else 0
        win = 64240 if flags & SYN else 502
        l4 = struct.pack("!HHIIBBHHH", self.ports[d], self.ports[1 - d], self.seq[d], ack,
                         hlen << 2, flags, win, 0, 0) + opts + payload
        self.emit(d, 6, l4)
        n = len(payload) + (1 if flags & (SYN | FIN) else 0)
        self.seq[d] = (self.seq[d] + n) & 0xffffffff
        self.ack[1 - d] = self.seq[d]

    SYN_OPTS = b"\x02\x04\x05\xb4\x01\x03\x03\x07\x01\x01\x04\x02"   # MSS, NOP, WS 7, SACK ok

    def handshake(self):
        self.seg(0, SYN, opts=self.SYN_OPTS)
        self.seg(1, SYN | ACK, opts=self.SYN_OPTS)
        self.seg(0, ACK)

    def refuse(self):
        """a closed port answers a SYN: RST-ACK with sequence number 0"""
        self.seq[1] = 0
        self.seg(1, RST | ACK)

    def send(self, d, data):
        """data in MSS segments, the receiver acking every second one"""
        n = 0
        for i in range(0, len(data), MSS):
            chunk = data[i:i + MSS]
            last = i + MSS >= len(data)
            self.seg(d, ACK | (PSH if last else 0), chunk)
            n += 1
            if n % 2 == 0 and not last:
                self.seg(1 - d, ACK)

    def close(self, d=0, rst=False):
        if rst:
            self.seg(d, RST | ACK)
            return
        self.seg(d, FIN | ACK)
        self.seg(1 - d, FIN | ACK)
        self.seg(d, ACK)


class Udp(Flow):
    def send(self, d, payload):
        self.advance(d)
        self.emit(d, 17, struct.pack("!HHHH", self.ports[d], self.ports[1 - d],
                                     8 + len(payload), 0) + payload)


# ---------------------------------------------------------------- the campus
def pareto(r, lo, cap):
    return min(cap, int(lo / (1.0 - r.random()) ** (1 / 1.3)))


class Gen:
    def __init__(self, a):
        self.a = a
        self.r = random.Random(a.seed)
        self.out = {s: [] for s in range(1, a.sensors + 1)}
        self.n = 0
        self.next_port = {}
        self.truth = {"events": []}
        self.dur_us = int(a.minutes * 60_000_000)

    def put(self, sensor, t, f):
        self.n += 1
        self.out[sensor].append((t, self.n, f))

    # addresses
    def campus(self, third, fourth):
        return bytes((CAMPUS[0], CAMPUS[1], third, fourth))

    def dept_of(self, ip):
        if ip[0] == CAMPUS[0] and ip[1] == CAMPUS[1] and 1 <= ip[2] <= self.a.sensors:
            return ip[2]
        return 0

    def views(self, src, dst):
        """who sees packets src -> dst, and dst -> src"""
        def one(a, b):
            v, da, db = [], self.dept_of(a), self.dept_of(b)
            if da:
                v.append((da, 0))
            if db and db != da:
                v.append((db, XDELAY_US if da else 0))
            return v
        return [one(src, dst), one(dst, src)]

    def eport(self, ip):
        p = self.next_port.get(ip)
        if p is None:
            p = 32768 + self.r.randrange(20000)
        p = p + 1 if p < 60999 else 32768
        self.next_port[ip] = p
        return p

    def rtt(self, dst):
        if dst[0] == CAMPUS[0]:
            return self.r.randrange(300, 2000)
        return self.r.randrange(8000, 40000)

    def tcp(self, t, cli, srv, dport, sport=None):
        return Tcp(self, t, (cli, srv), (sport or self.eport(cli), dport), self.views(cli, srv),
                   self.rtt(srv))

    # background sessions
    def pick_server(self, dept, local, remote_dept_host):
        """a campus server: the server segment, or (1 in 4) another department's server"""
        others = [e for e in range(1, self.a.sensors + 1) if e != dept]
        if others and self.r.random() < 0.25:
            return self.campus(self.r.choice(others), remote_dept_host)
        return self.campus(SERVERS, local)

    def dns(self, t, cli):
        r = self.r
        f = Udp(self, t, (cli, self.campus(SERVERS, SRV_DNS)), (self.eport(cli), 53),
                self.views(cli, self.campus(SERVERS, SRV_DNS)), self.rtt(self.campus(SERVERS, 1)))
        x = r.random()
        qid = r.randrange(1 << 16)
        if x < 0.1:
            name, qtype, rdata = r.choice(NXDOMAIN_NAMES), 1, None
        else:
            name, ip = r.choice(OUTSIDE_WEB + OUTSIDE_TLS)
            if x < 0.7:
                qtype, rdata = 1, ip_bytes(ip)
            else:
                qtype = 28
                rdata = bytes.fromhex("20010db8000000000000000000") + ip_bytes(ip)[1:]
        f.send(0, dns_query(qid, name, qtype))
        f.send(1, dns_answer(qid, name, qtype, rdata))

    def http(self, t, cli, dept):
        r = self.r
        if r.random() < 0.5:
            host, ip = r.choice(OUTSIDE_WEB)
            srv = ip_bytes(ip)
        else:
            srv = self.pick_server(dept, SRV_WEB, DEPT_WEB)
            host = ("intranet.campus.example" if srv[2] == SERVERS
                    else "www.dept%d.campus.example" % srv[2])
        c = self.tcp(t, cli, srv, 80)
        c.handshake()
        for i in range(r.choice((1, 1, 1, 2, 3))):
            path = r.choice(HTTP_PATHS)
            req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n"
                   "Connection: keep-alive\r\n\r\n" % (path, host, r.choice(USER_AGENTS)))
            c.send(0, req.encode())
            if r.random() < 0.12:
                body = b"<html><body><h1>404 Not Found</h1></body></html>\n"
                status = "404 Not Found"
            else:
                body = r.randbytes(pareto(r, 600, 400_000))
                status = "200 OK"
            head = ("HTTP/1.1 %s\r\nServer: nginx/1.22.1\r\nContent-Type: %s\r\n"
                    "Content-Length: %d\r\n\r\n" % (status, "text/html" if status[0] == "4"
                                                    else "application/octet-stream", len(body)))
            c.send(1, head.encode() + body)
        c.close(0)

    def tls(self, t, cli):
        r = self.r
        sni, ip = r.choice(OUTSIDE_TLS)
        tls13 = r.random() < 0.7
        c = self.tcp(t, cli, ip_bytes(ip), 443)
        c.handshake()
        sid = r.randbytes(32)
        c.send(0, tls_client_hello(r, sni, tls13, sid))
        ccs = tls_record(20, b"\x01")
        if tls13:
            c.send(1, tls_server_hello(r, True, sid) + ccs
                   + tls_record(23, r.randbytes(r.randrange(2500, 4500))))
            c.send(0, ccs + tls_record(23, r.randbytes(53)))
        else:                                        # abbreviated (resumed) handshake
            c.send(1, tls_server_hello(r, False, sid) + ccs + tls_record(22, r.randbytes(40)))
            c.send(0, ccs + tls_record(22, r.randbytes(40)))
        for _ in range(r.randrange(1, 4)):
            c.send(0, tls_record(23, r.randbytes(r.randrange(200, 900))))
            size = pareto(r, 800, 300_000)
            recs = b"".join(tls_record(23, r.randbytes(min(16384, size - i)))
                            for i in range(0, size, 16384))
            c.send(1, recs)
        c.close(0, rst=r.random() < 0.15)

    def ssh(self, t, cli, dept):
        r = self.r
        srv = self.pick_server(dept, SRV_SSH, DEPT_SSH)
        c = self.tcp(t, cli, srv, 22)
        c.handshake()
        c.send(0, (r.choice(SSH_CLIENTS) + "\r\n").encode())
        c.send(1, (SSH_SERVER + "\r\n").encode())
        c.send(0, ssh_kexinit(r))
        c.send(1, ssh_kexinit(r))
        c.send(0, ssh_packet(r, b"\x1e" + ssh_str(r.randbytes(32))))
        c.send(1, ssh_ecdh_reply(r) + ssh_packet(r, b"\x15"))
        c.send(0, ssh_packet(r, b"\x15"))
        for _ in range(r.randrange(2, 12)):
            c.send(0, ssh_encrypted(r, r.randrange(16, 120)))
            c.send(1, ssh_encrypted(r, pareto(r, 60, 20000)))
        c.close(0)

    def smb(self, t, cli, dept):
        r = self.r
        srv = self.pick_server(dept, SRV_FILES, DEPT_FILES)
        c = self.tcp(t, cli, srv, 445)
        c.handshake()
        guid = r.randbytes(16)
        c.send(0, smb2_negotiate(r, guid, False))
        c.send(1, smb2_negotiate(r, guid, True))
        sid = r.randrange(1, 1 << 48)
        for mid, share in enumerate(r.sample(SHARES, r.randrange(1, 3)), start=2):
            path = "\\\\%d.%d.%d.%d\\%s" % (*srv, share)
            c.send(0, smb2_tree_connect(path, sid, mid))
            ok = r.random() < 0.85
            c.send(1, smb2_tree_connect_resp(ok, r.randrange(1, 1 << 16) if ok else 0, sid, mid))
        c.close(0)

    def rdp(self, t, cli, dept):
        r = self.r
        srv = self.pick_server(dept, SRV_RDP, r.randrange(10, 10 + self.a.hosts))
        c = self.tcp(t, cli, srv, 3389)
        c.handshake()
        c.send(0, rdp_connection_request(r, r.choice(RDP_USERS)))
        c.send(1, rdp_connection_confirm(r))
        c.close(0)

    def ping(self, t, cli):
        r = self.r
        dst = (ip_bytes(r.choice(OUTSIDE_WEB + OUTSIDE_TLS)[1]) if r.random() < 0.5
               else self.campus(SERVERS, r.choice((SRV_HOST, SRV_FILES, SRV_WEB))))
        f = Flow(self, t, (cli, dst), (0, 0), self.views(cli, dst), self.rtt(dst))
        ident = r.randrange(1 << 16)
        for seq in range(1, r.randrange(2, 6)):
            data = struct.pack("<QQ", f.t // 1_000_000, f.t % 1_000_000) + bytes(range(16, 56))
            f.advance(0)
            f.emit(0, 1, struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data)
            f.advance(1)
            f.emit(1, 1, struct.pack("!BBHHH", 0, 0, 0, ident, seq) + data)
            f.t += 1_000_000 - 2 * f.half
            f.last_dir = 0

    def background(self):
        a, r = self.a, self.r
        kinds = [(self.dns, 30), (self.http, 22), (self.tls, 28), (self.ssh, 5),
                 (self.smb, 8), (self.rdp, 2), (self.ping, 5)]
        total = sum(w for _, w in kinds)
        sessions = 0
        for dept in range(1, a.sensors + 1):
            t = START_US
            while True:
                t += int(r.expovariate(a.rate) * 1_000_000) + 1
                if t >= START_US + self.dur_us:
                    break
                cli = self.campus(dept, 10 + r.randrange(a.hosts))
                x = r.randrange(total)
                for fn, w in kinds:
                    if x < w:
                        break
                    x -= w
                if fn in (self.dns, self.tls, self.ping):
                    fn(t, cli)
                else:
                    fn(t, cli, dept)
                sessions += 1
        self.truth["background_sessions"] = sessions

    # injected events
    def horizontal_scan(self):
        a, r = self.a, self.r
        dept = min(2, a.sensors)
        scanner = self.campus(dept, 245)
        target = 3 if a.sensors >= 3 else (1 if a.sensors == 2 else SERVERS)
        t = START_US + self.dur_us // 4
        events = {"event": "horizontal-scan", "src": "10.20.%d.245" % dept,
                  "dst": "10.20.%d.1-254" % target, "port": 445, "sessions": 0, "packets": 0,
                  "one_packet_sessions": 0, "sensors": sorted({dept, target} - {SERVERS})}
        for host in range(1, 255):
            t += r.randrange(3000, 12000)
            c = self.tcp(t, scanner, self.campus(target, host), 445)
            c.seg(0, SYN, opts=c.SYN_OPTS[:4])
            if host == DEPT_FILES:                      # open: SYN-ACK, the scanner resets
                c.seg(1, SYN | ACK, opts=c.SYN_OPTS[:4])
                c.seg(0, RST)
            elif 10 <= host < 10 + a.hosts and r.random() < 0.3:
                c.refuse()
            events["sessions"] += 1
            events["packets"] += c.packets
            events["one_packet_sessions"] += c.packets == 1
        self.truth["events"].append(events)

    def vertical_scan(self):
        a, r = self.a, self.r
        scanner, srv = self.campus(1, 250), self.campus(SERVERS, SRV_HOST)
        t = START_US + self.dur_us // 2
        sport = self.eport(scanner)
        events = {"event": "vertical-scan", "src": "10.20.1.250", "dst": "10.20.100.10",
                  "ports": "1-1024", "sessions": 0, "packets": 0, "one_packet_sessions": 0,
                  "sensors": [1]}
        for port in range(1, 1025):
            t += r.randrange(1000, 4000)
            c = self.tcp(t, scanner, srv, port, sport)
            c.seg(0, SYN, opts=c.SYN_OPTS[:4])
            if port in VSCAN_OPEN:
                c.seg(1, SYN | ACK, opts=c.SYN_OPTS[:4])
                c.seg(0, RST)
            else:
                c.refuse()
            events["sessions"] += 1
            events["packets"] += c.packets
        self.truth["events"].append(events)

    def misconfig(self):
        a, r = self.a, self.r
        sensor = a.sensors
        events = {"event": "misconfig", "src": "192.168.0.0/16", "sessions": 0, "packets": 0,
                  "one_packet_sessions": 0, "sensors": [sensor]}
        t = START_US + 5_000_000
        for i in range(12):
            t += r.randrange(2_000_000, self.dur_us // 14)
            src = bytes((192, 168, r.randrange(1, 5), r.randrange(2, 250)))
            dst = ip_bytes(r.choice(OUTSIDE_WEB + OUTSIDE_TLS)[1])
            c = Tcp(self, t, (src, dst), (self.eport(src), r.choice((80, 443))),
                    [[(sensor, 0)], []], 20000)
            c.seg(0, SYN, opts=c.SYN_OPTS)
            events["sessions"] += 1
            events["packets"] += 1
            events["one_packet_sessions"] += 1
        self.truth["events"].append(events)

    def write(self):
        os.makedirs(self.a.out, exist_ok=True)
        counts = {}
        for sensor, pkts in self.out.items():
            pkts.sort(key=lambda p: (p[0], p[1]))
            path = os.path.join(self.a.out, "sensor-%d.pcap" % sensor)
            with open(path, "wb") as fh:
                fh.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
                rec = struct.Struct("<IIII").pack
                fh.write(b"".join(rec(t // 1_000_000, t % 1_000_000, len(f), len(f)) + f
                                  for t, _, f in pkts))
            counts["sensor-%d" % sensor] = len(pkts)
        self.truth["packets"] = counts
        self.truth["options"] = {k: v for k, v in vars(self.a).items() if k != "out"}
        with open(os.path.join(self.a.out, "truth.json"), "w") as fh:
            json.dump(self.truth, fh, indent=1, sort_keys=True)
            fh.write("\n")
        return counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--out", required=True, help="output directory (sensor-N.pcap, truth.json)")
    p.add_argument("--sensors", type=int, default=3, help="departments = sensors (default 3)")
    p.add_argument("--minutes", type=float, default=2.0, help="background duration (default 2)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--hosts", type=int, default=40, help="clients per department (default 40)")
    p.add_argument("--rate", type=float, default=8.0,
                   help="background sessions per second per department (default 8)")
    a = p.parse_args(argv)
    if not 1 <= a.sensors <= 99 or not 1 <= a.hosts <= 230 or a.minutes <= 0 or a.rate <= 0:
        p.error("need 1 <= --sensors <= 99, 1 <= --hosts <= 230, --minutes > 0, --rate > 0")
    g = Gen(a)
    g.background()
    g.horizontal_scan()
    g.vertical_scan()
    g.misconfig()
    counts = g.write()
    for name, n in counts.items():
        print("%s/%s.pcap: %d packets" % (a.out, name, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
