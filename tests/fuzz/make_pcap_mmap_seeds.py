#!/usr/bin/env python3
"""make_pcap_mmap_seeds.py -- write the seed corpus of fuzz_pcap_mmap: small classic pcap files.

Each of the four variants (little- and big-endian, micro- and nanosecond timestamps) with three
packets, then the same cut in a record header and in record data, a header-only file, a file
whose snaplen is below its packets' caplen (libpcap cuts them), one with a caplen above 262144,
one with odd timestamps (fraction out of range, seconds above INT32_MAX), and the link types
the reader takes besides Ethernet (LINKTYPE_RAW, Linux cooked capture v1 and v2).

    tests/fuzz/make_pcap_mmap_seeds.py [--out tests/fuzz/corpus/fuzz_pcap_mmap]
"""
import argparse
import os
import struct

T0 = 1632833400


def frame(n, seed):
    eth_ip = bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, 0x45, 0])
    body = bytes((seed + i * 13) & 0xff for i in range(max(0, n - len(eth_ip))))
    return (eth_ip + body)[:n]


def pcap(records, *, be=False, nano=False, snaplen=65535, linktype=1):
    e = ">" if be else "<"
    out = [struct.pack(e + "IHHiIII", 0xa1b23c4d if nano else 0xa1b2c3d4, 2, 4, 0, 0, snaplen, linktype)]
    for sec, frac, data, wirelen in records:
        out.append(struct.pack(e + "IIII", sec, frac, len(data), wirelen) + data)
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "corpus", "fuzz_pcap_mmap"))
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    seeds = {}
    for be in (False, True):
        for nano in (False, True):
            name = ("be" if be else "le") + ("-ns" if nano else "-us")
            recs = [(T0, 5, frame(60, 1), 60), (T0 + 1, 999, frame(200, 2), 300), (T0 + 2, 7, frame(42, 3), 42)]
            whole = pcap(recs, be=be, nano=nano)
            seeds[name] = whole
            seeds[name + "-header-only"] = whole[:24]
            seeds[name + "-cut-header"] = whole[:24 + 16 + 60 + 9]
            seeds[name + "-cut-data"] = whole[:24 + 16 + 60 + 16 + 100]
            seeds[name + "-snaplen-64"] = pcap(recs, be=be, nano=nano, snaplen=64)
    seeds["le-us-caplen-huge"] = pcap([(T0, 1, frame(60, 1), 60)]) + struct.pack("<IIII", T0, 2, 262145, 262145) + bytes(64)
    seeds["le-us-snaplen-0"] = pcap([(T0, 1, frame(60, 1), 60)], snaplen=0)
    seeds["le-us-odd-times"] = pcap([(T0, 1000000, frame(60, 1), 60), (0x80000000, 0xffffffff, frame(60, 2), 60),
                                     (T0, 3, frame(100, 3), 40), (T0, 4, b"", 0)])
    seeds["be-us-odd-times"] = pcap([(T0, 1000000, frame(60, 1), 60), (0x80000000, 0xffffffff, frame(60, 2), 60)],
                                    be=True)
    seeds["le-us-raw"] = pcap([(T0, 1, frame(60, 1)[14:], 46)], linktype=101)
    seeds["le-us-sll"] = pcap([(T0, 1, bytes(14) + b"\x08\x00" + frame(60, 1)[14:], 62)], linktype=113)
    seeds["le-us-sll2"] = pcap([(T0, 1, b"\x08\x00" + bytes(18) + frame(60, 1)[14:], 66)], linktype=276)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"make_pcap_mmap_seeds: {len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
