#!/usr/bin/env python3
"""make_decode_seeds.py -- write the seed corpus of fuzz_decode from the shared test pcaps.

Each seed is one byte naming the link type (its index in fuzz_decode.c's dlts[] table),
then one frame: a few frames taken from Arkime's and Community ID's test captures (one per
encapsulation the decoder knows), plus frames re-wrapped into the link types no capture
has (SLL, SLL2, null/loopback, raw IP, PPP, NFLOG, radiotap + 802.11), and the first and last
fragment of a fragmented IPv4 datagram.

    tests/fuzz/make_decode_seeds.py [--corpus ../shared/corpus] [--out tests/fuzz/corpus/fuzz_decode]

Exits 0 with a message, writing nothing, when the shared corpus is not there.
"""
import argparse
import os
import struct
import sys

# index in fuzz_decode.c's dlts[]
EN10MB, NULL, LOOP, RAW, IPV4, IPV6, SLL, SLL2, FRELAY, PPP, RAW14, RAW101, NFLOG, RADIOTAP, \
    WLAN = range(15)

# (pcap under the corpus, 1-based frame numbers, seed name prefix)
PICKS = [
    ("arkime-tests/6-4-gre-ppp-udp-4-dns.pcap", [1], "gre-ppp-4in6"),
    ("arkime-tests/gre-sample.pcap", [1, 2], "gre"),
    ("arkime-tests/vxlan.pcap", [1, 3], "vxlan"),
    ("arkime-tests/tcpdump-geneve.pcap", [1], "geneve"),
    ("arkime-tests/icmp-frame-relay.pcap", [1], "frame-relay"),
    ("arkime-tests/ipv6-in-ipv4.pcap", [1], "6in4"),
    ("arkime-tests/twovlan.pcap", [1], "twovlan"),
    ("arkime-tests/dot1ad.pcap", [1], "dot1ad"),
    ("arkime-tests/v6-http.pcap", [4], "v6-hopopts"),
    ("arkime-tests/padded-udp.pcap", [1], "padded-udp"),
    ("arkime-tests/dns-tcp.pcap", [1], "tcp"),
    ("arkime-tests/bigendian.pcap", [1], "icmp"),
    ("arkime-tests/arkime_synthetic.pcap",
     [302, 305, 307, 313, 314, 315, 528, 618, 622, 818, 914], "synthetic"),
    ("community-id/sctp.pcap", [1], "sctp"),
    ("community-id/icmp6.pcap", [7], "icmp6-error"),
    ("community-id/arp.pcap", [1], "arp"),
]

LINKTYPE_TO_INDEX = {1: EN10MB, 107: FRELAY}


def read_pcap(path):
    """(linktype, [frame bytes]) of a classic pcap file, either byte order."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap file")
    linktype = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    frames, off = [], 24
    while off + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        frames.append(data[off:off + caplen])
        off += caplen
    return linktype, frames


def derived(udp4_eth, tcp6_eth):
    """Frames of the link types no test capture has, re-wrapped around real packets."""
    ip4 = udp4_eth[14:]
    ip6 = tcp6_eth[14:]
    sll = struct.pack(">HHH8sH", 0, 1, 6, udp4_eth[6:12] + b"\0\0", 0x0800)
    sll2 = struct.pack(">HHIHBB8s", 0x86DD, 0, 2, 1, 4, 6, tcp6_eth[6:12] + b"\0\0")
    return {
        "derived-null-ipv4": (NULL, struct.pack("<I", 2) + ip4),
        "derived-loop-ipv6": (LOOP, struct.pack(">I", 30) + ip6),
        "derived-raw-ipv4": (RAW, ip4),
        "derived-raw-ipv6": (RAW, ip6),
        "derived-ipv4": (IPV4, ip4),
        "derived-ipv6": (IPV6, ip6),
        "derived-sll-ipv4": (SLL, sll + ip4),
        "derived-sll2-ipv6": (SLL2, sll2 + ip6),
        "derived-ppp-ipv4": (PPP, b"\xff\x03\x00\x21" + ip4),
        "derived-ppp-ipv6": (PPP, b"\xff\x03\x00\x57" + ip6),
        "derived-nflog-ipv4": (NFLOG, nflog(ip4)),
        "derived-radiotap-ipv4": (RADIOTAP, radiotap_wlan(udp4_eth[6:12], udp4_eth[0:6], ip4)),
        "derived-ipv4-frag-first": (IPV4, fragment(ip4, 0, True)),
        "derived-ipv4-frag-last": (IPV4, fragment(ip4, 1, False)),
        # ICMP errors quoting those packets (issue 11: the quoted flow), whole and cut short
        "derived-icmp4-unreach": (IPV4, icmp_error(ip4, 28, v6=False)),
        "derived-icmp4-unreach-cut": (IPV4, icmp_error(ip4, 22, v6=False)),
        "derived-icmp6-unreach": (IPV6, icmp_error(ip6, 48, v6=True)),
        "derived-icmp6-unreach-cut": (IPV6, icmp_error(ip6, 30, v6=True)),
    }


def icmp_error(ip, keep, v6):
    """Port unreachable (ICMP 3/3, ICMPv6 1/4) from the packet's destination back to its
    source, quoting its first `keep` bytes."""
    body = struct.pack(">BBHI", 1 if v6 else 3, 4 if v6 else 3, 0, 0) + ip[:keep]
    if v6:
        return (struct.pack(">IHBB", 6 << 28, len(body), 58, 64) + ip[24:40] + ip[8:24] +
                body)
    return (struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(body), 7, 0, 64, 1, 0) + ip[16:20] +
            ip[12:16] + body)


def nflog(ip):
    """NFLOG record (little-endian TLVs): packet header, prefix, then the payload."""
    def tlv(kind, value):
        body = struct.pack("<HH", 4 + len(value), kind) + value
        return body + b"\0" * (-len(body) % 4)
    return (struct.pack(">BBH", 2, 0, 7) + tlv(1, b"\x08\x00\x03\x00") + tlv(10, b"seed\0") +
            tlv(9, ip))


def radiotap_wlan(sa, da, ip):
    """radiotap (flags: FCS, rate), 802.11 QoS data to the AP, LLC/SNAP, IP, FCS."""
    rt = struct.pack("<BBHI", 0, 0, 12, 0x06) + b"\x10\x6c\0\0"
    bssid = b"\x02\xbb\0\0\0\x02"
    wlan = b"\x88\x01\x00\x2c" + bssid + sa + da + b"\x00\x10" + b"\0\0"
    return rt + wlan + b"\xaa\xaa\x03\0\0\0\x08\x00" + ip + b"\xde\xad\xbe\xef"


def fragment(ip4, part, more):
    """Split an IPv4 packet's payload at 8 bytes: part 0 (MF set) or part 1 (offset 1)."""
    hl = (ip4[0] & 15) * 4
    data = ip4[hl:]
    piece = data[:8] if part == 0 else data[8:]
    flags = (0x2000 if more else 0) | (0 if part == 0 else 1)
    hdr = bytearray(ip4[:hl])
    struct.pack_into(">HHH", hdr, 2, hl + len(piece), 0x4242, flags)
    return bytes(hdr) + piece


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=os.path.join(repo, "..", "shared", "corpus"))
    ap.add_argument("--out", default=os.path.join(here, "corpus", "fuzz_decode"))
    args = ap.parse_args()
    if not os.path.isdir(args.corpus):
        print(f"make_decode_seeds: {args.corpus} not found, no seeds written")
        return 0

    seeds = {}
    for rel, numbers, name in PICKS:
        linktype, frames = read_pcap(os.path.join(args.corpus, rel))
        for n in numbers:
            seeds[f"{name}-{n}"] = (LINKTYPE_TO_INDEX[linktype], frames[n - 1])
    _, udp = read_pcap(os.path.join(args.corpus, "arkime-tests/dns-udp.pcap"))
    _, tcp6 = read_pcap(os.path.join(args.corpus, "arkime-tests/tls13.pcap"))
    seeds.update(derived(udp[0], tcp6[0]))

    os.makedirs(args.out, exist_ok=True)
    for name, (index, frame) in sorted(seeds.items()):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(bytes([index]) + frame)
    print(f"make_decode_seeds: wrote {len(seeds)} seeds to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
