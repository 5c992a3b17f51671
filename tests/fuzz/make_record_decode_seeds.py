#!/usr/bin/env python3
"""Seeds for fuzz_record_decode (tests/fuzz/corpus/fuzz_record_decode/).

Real batches: the first batch of each segment of a sensor's journal (bench/.cache/ingest/
journal-s1, made by bench/aggregator_ingest.sh; entry format in sensor/outbox.c), cut to its
batch fields and a few records chosen to cover every field the campus records use, each as a
bare Batch and as the Envelope the shipper sends (wire_frame_batch: prev_seq appended). Then
hand-made ones for each rule record_decode.h lists (duplicates, merges, packed and unpacked,
unknown fields of every wire type, overlong varints, groups, field number 0, ...).

    python3 tests/fuzz/make_record_decode_seeds.py [JOURNAL_DIR]   # rewrites the corpus
"""

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "corpus" / "fuzz_record_decode"
JOURNAL = Path(sys.argv[1]) if len(sys.argv) > 1 else \
    HERE.parent.parent / "bench" / ".cache" / "ingest" / "journal-s1"


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """(number, wire type, whole field bytes) of a well-formed message"""
    i, out = 0, []
    while i < len(b):
        start = i
        key, i = read_varint(b, i)
        wt = key & 7
        if wt == 0:
            _, i = read_varint(b, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            n, i = read_varint(b, i)
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((key >> 3, wt, b[start:i]))
    return out


def payload(field_bytes):
    _, i = read_varint(field_bytes, 0)
    n, i = read_varint(field_bytes, i)
    return field_bytes[i:i + n]


def f(num, wt, value=b""):
    """a field: value is an int for wire type 0, bytes otherwise"""
    if wt == 0:
        return varint(num << 3) + varint(value)
    if wt == 2:
        return varint(num << 3 | 2) + varint(len(value)) + value
    return varint(num << 3 | wt) + value


def envelope(batch, prev_seq=None):
    if prev_seq is not None:
        batch += f(6, 0, prev_seq)
    return f(1, 2, batch)


def journal_batches():
    out = []
    for seg in sorted(JOURNAL.glob("seg-*.journal")):
        with open(seg, "rb") as fh:
            hdr = fh.read(24)
            if len(hdr) < 24 or hdr[:4] != b"ASHJ":
                continue
            (n,) = struct.unpack("<I", hdr[4:8])
            out.append(fh.read(n))
    return out


def cut(batch, per_seed=3):
    """the batch's own fields with a few records each, records picked so that together they
    cover every record field number present"""
    head = b"".join(fb for num, _, fb in fields(batch) if num != 3)
    records = [fb for num, _, fb in fields(batch) if num == 3]
    seen, picked = set(), []
    for rec in records:
        nums = {num for num, _, _ in fields(payload(rec))}
        if not nums <= seen:
            picked.append(rec)
            seen |= nums
    picked.append(min(records, key=len))
    return [head + b"".join(picked[i:i + per_seed]) for i in range(0, len(picked), per_seed)]


def hand_made():
    ep = f(1, 2, bytes([10, 0, 0, 1])) + f(2, 0, 443) + f(3, 0, 1500) + f(4, 0, 3) + \
        f(5, 0, 1200) + f(6, 2, bytes(range(6)))
    rec = f(1, 2, b"\x01" * 16) + f(2, 2, b"s1") + f(3, 0, 1632833400000000) + \
        f(4, 0, 1632833400500000) + f(5, 2, ep) + f(6, 2, ep) + f(7, 0, 6) + f(8, 0, 4) + \
        f(9, 2, b"1:abc=") + f(11, 2, b"http") + f(12, 2, b"tls") + \
        f(13, 2, f(1, 0, 1) + f(2, 0, 1) + f(3, 0, 5)) + f(14, 2, b"SF") + \
        f(15, 2, b"ShADadFf") + f(16, 0, 1) + f(20, 2, b"example.org") + f(21, 2, b"GET") + \
        f(22, 2, b"curl/8") + f(23, 0, 200) + f(24, 2, b"example.org") + \
        f(25, 2, b"NOERROR") + f(26, 2, b"example.org") + f(27, 2, b"1.3") + \
        f(28, 2, b"SSH-2.0-a") + f(29, 2, b"SSH-2.0-b") + f(30, 0, 1) + \
        f(40, 2, b"\x01\x00\x18") + f(41, 2, f(1, 0, 7)) + f(50, 2, b"\x02" * 16) + \
        f(51, 2, b"campus")
    batch = lambda *recs, extra=b"": f(1, 2, b"s1") + f(2, 0, 7) + \
        b"".join(f(3, 2, r) for r in recs) + f(4, 0, 99) + f(5, 0, 1234) + extra
    seeds = {
        "hand-full-record": batch(rec),
        "hand-empty-batch": b"",
        "hand-empty-record": batch(b""),
        "hand-scalar-twice": batch(rec + f(7, 0, 17) + f(2, 2, b"s2")) + f(2, 0, 8),
        "hand-source-merge": batch(f(5, 2, f(1, 2, b"\x0a\x00\x00\x01") + f(2, 0, 5)) +
                                   f(5, 2, f(3, 0, 7)) + f(5, 2, f(1, 2, b"") + f(6, 2, b"m"))),
        "hand-flags-twice": batch(f(13, 2, f(1, 0, 3)) + f(13, 2, f(2, 0, 4))),
        "hand-vlan-mixed": batch(f(10, 0, 7) + f(10, 2, varint(8) + varint(4095)) +
                                 f(10, 0, 10) + f(10, 2, b"") + f(23, 2, varint(200) + varint(404))),
        "hand-unknown-every-type": batch(rec + f(18, 0, 5) + f(19, 1, b"\x01" * 8) +
                                         f(99, 5, b"\x02" * 4) + f(1000, 2, b"new"),
                                         extra=f(7, 0, 1) + f(500, 2, b"x")) +
        f(9, 5, b"\0\0\0\0"),
        "hand-unknown-in-sub": batch(f(5, 2, f(7, 0, 1) + f(2, 0, 9)) +
                                     f(13, 2, f(8, 2, b"zz")) + f(41, 2, f(2, 1, b"\0" * 8))),
        "hand-overlong-varint": batch(f(7, 0, 0) [:1] + b"\x86\x80\x80\x80\x80\x80\x80\x80\x80\x00"),
        "hand-u64-into-u32": batch(f(7, 0, (1 << 64) - 1) + f(16, 0, 1 << 32 | 5)),
        "hand-bool-any": batch(f(30, 0, 2) + varint(30 << 3 | 1) + b"\0" * 7 + b"\x80" +
                               varint(30 << 3 | 2) + b"\x01\x00" + varint(30 << 3 | 5) + b"\0\0\x01\0"),
        "hand-empty-strings": batch(f(1, 2, b"") + f(2, 2, b"") + f(12, 2, b"") + f(50, 2, b"")),
        "hand-nul-in-string": batch(f(2, 2, b"a\0b") + f(12, 2, b"\0x")),
        "hand-group": batch(rec) + varint(3 << 3 | 3) + varint(3 << 3 | 4),
        "hand-tag-zero": batch(rec) + b"\x00\x01",
        "hand-tag-zero-long": batch(rec) + b"\x80\x00\x01",
        "hand-tag-5-bytes": b"\x88\x80\x80\x80\x00" + b"\x0a\x02s1" + b"\xf8\xff\xff\xff\x0f\x01",
        "hand-len-5-bytes": b"\x0a\x82\x80\x80\x80\x00s1",
        "hand-len-5-bytes-high": b"\x0a\x82\x80\x80\x80\x70s1",
        "hand-len-wrap": b"\x0a\xfb\xff\xff\xff\x0f" + b"x" * 8,
        "hand-truncated": batch(rec)[:-3],
        "hand-env-two-batches": envelope(batch(rec)) + envelope(batch(b"", b"")),
        "hand-env-batch-stats": envelope(batch(rec)) + f(2, 2, f(1, 2, b"s1")),
        "hand-env-unknown": envelope(batch(rec), 3) + f(77, 0, 1) + f(78, 2, b"q"),
    }
    seeds["hand-env-full"] = envelope(seeds["hand-full-record"], 6)
    return seeds


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    seeds = hand_made()
    if JOURNAL.is_dir():
        for k, b in enumerate(journal_batches()):
            for j, s in enumerate(cut(b)):
                seeds[f"journal-seg{k + 1}-{j}"] = s
                seeds[f"journal-seg{k + 1}-{j}-envelope"] = envelope(s, 5 + j)
    else:
        print(f"{JOURNAL} absent: hand-made seeds only", file=sys.stderr)
    for name, data in sorted(seeds.items()):
        (OUT / name).write_bytes(data)
    print(f"{len(seeds)} seeds in {OUT}, largest {max(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    main()
