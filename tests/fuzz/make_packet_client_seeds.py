#!/usr/bin/env python3
"""Seeds for fuzz_packet_client (tests/fuzz/corpus/fuzz_packet_client/): a session document,
a NUL byte, then an answer's pcap bytes.

    python3 tests/fuzz/make_packet_client_seeds.py      # rewrites the corpus directory
"""

import base64
import json
import struct
from pathlib import Path

OUT = Path(__file__).resolve().parent / "corpus" / "fuzz_packet_client"
T0 = 1632833400


def doc(sip="10.0.0.1", dip="10.0.0.2", proto="6", pos=True, vlan=None):
    d = {"event": {"start": "2021-09-28T12:50:00.000000Z", "end": "2021-09-28T12:50:10.000000Z"},
         "source": {"ip": sip, "port": 1111}, "destination": {"ip": dip, "port": 80},
         "network": {"iana_number": proto}, "observer": {"name": "s1"},
         "ashiato": {"session_id": "210928-x"}}
    if vlan:
        d["network"]["vlan"] = {"id": vlan}
    if pos:
        d["ashiato"]["packet_pos"] = base64.b64encode(bytes([2, 0]) + (7).to_bytes(8, "big") + b"\x03\x18").decode()
        d["ashiato"]["packet_files"] = [1]
    return json.dumps(d).encode()


def frame(src=(10, 0, 0, 1), dst=(10, 0, 0, 2), sport=1111, dport=80):
    eth = b"\x00" * 12 + b"\x08\x00"
    ip = struct.pack(">BBHHHBBH4B4B", 0x45, 0, 40, 0, 0, 64, 6, 0, *src, *dst)
    tcp = struct.pack(">HHIIBBHHH", sport, dport, 0, 0, 0x50, 0x18, 0, 0, 0)
    return eth + ip + tcp


def pcap(*recs):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for ts, f in recs:
        out += struct.pack("<IIII", T0 + ts, 0, len(f), len(f)) + f
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    seeds = {
        "own_packets": doc() + b"\0" + pcap((1, frame()), (2, frame((10, 0, 0, 2), (10, 0, 0, 1), 80, 1111))),
        "other_flow": doc() + b"\0" + pcap((1, frame(sport=2222))),
        "outside_time": doc() + b"\0" + pcap((100, frame())),
        "cut_record": doc() + b"\0" + pcap((1, frame()))[:-5],
        "by_flow_v6": doc("2001:db8::1", "2001:db8::2", pos=False) + b"\0",
        "crafted_address": doc("10.0.0.1 or net 0/0") + b"\0" + pcap((1, frame())),
        "vlan": doc(vlan=[7, 4095]) + b"\0" + pcap((1, frame())),
        "not_json": b"{\"event\": [" + b"\0" + b"\xd4\xc3\xb2\xa1",
    }
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)


if __name__ == "__main__":
    main()
