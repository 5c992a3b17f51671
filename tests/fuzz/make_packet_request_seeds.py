#!/usr/bin/env python3
"""Seeds for fuzz_packet_request (tests/fuzz/corpus/fuzz_packet_request/).

The fuzz target builds a fixed store at startup: 100-byte frames in records of 116 bytes from
offset 24, 564 records per 64 KiB file (2000 packets: files 1-3 full, file 4 being written),
file 1 expired, file 2 cut at offset 10000, a fake record header inside the payload of every
7th packet, packet i at time T0 + i ms. The seeds aim at each of those. Each seed is a packed
PacketRequest (proto/ashiato.proto); the target also reads every input as raw packet_pos.

    python3 tests/fuzz/make_packet_request_seeds.py      # rewrites the corpus directory
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from pcap_positions import positions, varint  # noqa: E402

OUT = Path(__file__).resolve().parent / "corpus" / "fuzz_packet_request"
T0 = 1632833400000000
PER_FILE, REC = 564, 116


def where(i):
    return i // PER_FILE + 1, 24 + (i % PER_FILE) * REC


def request(rid=1, pos=None, files=(), start=None, end=None, bpf=None, max_bytes=None, max_packets=None):
    out = bytearray(b"\x08" + varint(rid))
    if pos is not None:
        out += b"\x1a" + varint(len(pos)) + pos
    for f in files:
        sub = b"\x08" + varint(f)
        out += b"\x22" + varint(len(sub)) + sub
    if start is not None:
        out += b"\x28" + varint(start)
    if end is not None:
        out += b"\x30" + varint(end)
    if bpf is not None:
        out += b"\x3a" + varint(len(bpf)) + bpf.encode()
    if max_bytes is not None:
        out += b"\x40" + varint(max_bytes)
    if max_packets is not None:
        out += b"\x48" + varint(max_packets)
    return bytes(out)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    flow = [where(i) for i in range(1200, 1800, 3)]            # files 3 and 4
    seeds = {
        "session_files_3_4": request(pos=positions(flow), files=(3, 4)),
        "session_expired_file_1": request(pos=positions([where(i) for i in range(0, 40, 5)])),
        "session_cut_file_2": request(pos=positions([where(i) for i in range(600, 700, 4)])),
        "session_open_file_4": request(pos=positions([where(1900), where(1999)])),
        "offset_at_fake_header": request(pos=positions([(3, where(1134)[1] + 16 + 54)])),
        "offset_plus_one": request(pos=positions([(3, where(1130)[1] + 1)])),
        "offset_outside": request(pos=positions([(3, 1 << 20)])),
        "unknown_file": request(pos=positions([(77, 24)])),
        "limits": request(pos=positions(flow), max_packets=3, max_bytes=500),
        "incomplete_flag": request(pos=positions(flow[:5], flags=1)),
        "time_bpf": request(start=T0 + 1000000, end=T0 + 1500000, bpf="tcp and port 2"),
        "time_expired_only": request(start=T0, end=T0 + 100000),
        "time_bad_bpf": request(start=T0, end=T0 + 5, bpf="port and"),
        "time_files": request(start=T0, end=T0 + 3000000, files=(3,), max_packets=10),
        "raw_positions": positions(flow[:20]),
        "raw_positions_two_files": positions([where(500), where(600), where(1300)]),
        # a store id no store has (the target's is random): MISMATCH (found by the fuzzer once
        # the status was new)
        "v2_other_store": bytes.fromhex("02010005e8b8c09c013b9805b80548f4"),
        "empty": b"",
    }
    for name, data in seeds.items():
        (OUT / name).write_bytes(data)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
