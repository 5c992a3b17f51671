#!/usr/bin/env python3
"""gen_flows.py -- a capture of N distinct, simultaneously live TCP flows, for
bench/session_memory.sh.

    gen_flows.py --flows N --out FILE [--seconds S]

Classic pcap, Ethernet, microsecond timestamps, correct checksums. First N SYNs, one per flow,
spread evenly over S seconds (default 2): flow i goes from 10.x.y.z (the i-th address of
10.0.0.0/8, so every flow has its own client) port 1024 + i mod 64000 to 192.0.2.(1 + i mod 200)
port 443. Then, over the next S seconds and in the same order, one more packet per flow: the
server's SYN-ACK. Every flow therefore has two packets and all N are live at once when the
capture ends (far inside any idle timeout). Python 3 standard library only; deterministic.
"""

import argparse
import struct
import sys


def csum(data):
    """Internet checksum: the ones' complement sum is the big-endian number mod 65535"""
    if len(data) & 1:
        data += b"\0"
    r = int.from_bytes(data, "big") % 65535
    return 0xffff - r if r else 0


def frame(src, dst, sport, dport, seq, ack, flags, ident):
    opts = b"\x02\x04\x05\xb4"                       # MSS 1460
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (24 >> 2) << 4, flags, 64240, 0, 0)
    tcp += opts
    c = csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ident, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    f = b"\x02\x00" + dst + b"\x02\x00" + src + b"\x08\x00" + ip + tcp
    return f + b"\0" * (60 - len(f)) if len(f) < 60 else f


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--flows", type=int, required=True, help="distinct TCP flows (1 .. 16777214)")
    p.add_argument("--out", required=True, help="pcap file to write")
    p.add_argument("--seconds", type=float, default=2.0, help="span of each pass (default 2)")
    a = p.parse_args(argv)
    if not 1 <= a.flows <= (1 << 24) - 2:
        p.error("--flows must be 1 .. 16777214")
    t0 = 1_709_629_200_000_000                         # 2024-03-05T09:00:00Z
    step = a.seconds * 1_000_000 / a.flows
    rec = struct.Struct("<IIII").pack
    with open(a.out, "wb", buffering=1 << 20) as fh:
        fh.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for second in (0, 1):
            base = t0 + int(second * a.seconds * 1_000_000)
            for i in range(a.flows):
                n = i + 1                              # 10.0.0.1 .. 10.255.255.254
                cli = bytes((10, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff))
                srv = bytes((192, 0, 2, 1 + i % 200))
                sport = 1024 + i % 64000
                isn_c = (i * 2654435761) & 0xffffffff
                isn_s = (i * 40503 + 12345) & 0xffffffff
                if second == 0:
                    f = frame(cli, srv, sport, 443, isn_c, 0, 0x02, i & 0xffff)
                else:
                    f = frame(srv, cli, 443, sport, isn_s, (isn_c + 1) & 0xffffffff, 0x12,
                              i & 0xffff)
                t = base + int(i * step)
                fh.write(rec(t // 1_000_000, t % 1_000_000, len(f), len(f)) + f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
