"""icmp_pcap.py -- byte-built pcap files of UDP probes answered by ICMP/ICMPv6 errors, for
test_detect_icmp.py (no scapy: struct and the RFCs only).

Owns:  the frame builders (Ethernet, IPv4, IPv6, UDP, ICMP errors quoting a packet) and
       write_pcap(). Never: sends anything; every address is from documentation ranges.
"""
import ipaddress
import struct

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64, ident: int = 1) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0, ttl, proto,
                    0, ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    h = h[:10] + struct.pack("!H", _csum(h)) + h[12:]
    return h + payload


def ipv6(src: str, dst: str, nh: int, payload: bytes, hlim: int = 64) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hlim,
                       ipaddress.IPv6Address(src).packed,
                       ipaddress.IPv6Address(dst).packed) + payload


def udp(sport: int, dport: int, data: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def icmp_error(typ: int, code: int, quoted: bytes, keep: int = 28) -> bytes:
    """an ICMP(v6) error quoting the first `keep` bytes of the packet `quoted`"""
    body = struct.pack("!BBHI", typ, code, 0, 0) + quoted[:keep]
    return body[:2] + struct.pack("!H", _csum(body)) + body[4:]


def ether(ip: bytes, v6: bool = False, a_to_b: bool = True) -> bytes:
    src, dst = (MAC_A, MAC_B) if a_to_b else (MAC_B, MAC_A)
    return dst + src + struct.pack("!H", 0x86DD if v6 else 0x0800) + ip


def write_pcap(path, frames):
    """frames: (time in seconds as float, frame bytes)"""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, fr in frames:
            sec = int(t)
            f.write(struct.pack("<IIII", sec, int(round((t - sec) * 1e6)), len(fr), len(fr)))
            f.write(fr)
    return path


def udp_scan(scanner, target, ports, t0=1700000000.0, answered=True, probes=True, v6=False):
    """A UDP scan of `ports` of `target` from `scanner` (source port 40000), each probe
    answered by port unreachable (ICMP 3/3, ICMPv6 1/4) from the target. probes=False leaves
    the probes out: the errors alone, as a spoofed scan's victim sees its backscatter."""
    frames = []
    t = t0
    for i, p in enumerate(ports):
        if v6:
            probe = ipv6(scanner, target, 17, udp(40000, p, b"x"))
            err = ipv6(target, scanner, 58, icmp_error(1, 4, probe, keep=48))
        else:
            probe = ipv4(scanner, target, 17, udp(40000, p, b"x"), ident=i)
            err = ipv4(target, scanner, 1, icmp_error(3, 3, probe), ident=i)
        if probes:
            frames.append((t, ether(probe, v6)))
        if answered:
            frames.append((t + 0.0004, ether(err, v6, a_to_b=False)))
        t += 0.01
    return frames


def udp_sweep(scanner, targets, port, t0=1700000000.0, answered=True, probes=True):
    """one UDP probe to each target on `port`, each answered by port unreachable (options as
    udp_scan's)"""
    frames = []
    t = t0
    for i, dst in enumerate(targets):
        probe = ipv4(scanner, dst, 17, udp(40001, port, b"y"), ident=i)
        err = ipv4(dst, scanner, 1, icmp_error(3, 3, probe), ident=i)
        if probes:
            frames.append((t, ether(probe)))
        if answered:
            frames.append((t + 0.0004, ether(err, a_to_b=False)))
        t += 0.01
    return frames
