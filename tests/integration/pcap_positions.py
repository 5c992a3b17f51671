"""SessionRecord.packet_pos, the sensor's encoding of where a session's packets are in its pcap
store (pcapstore/pcap_index.h), for the integration tests: encode (requests) and decode (checks)."""


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def positions(pairs, flags=0, store_id=None):
    """SessionRecord.packet_pos encoding of [(file_id, offset)] (pcapstore/pcap_index.h):
    version 2 with store_id (an int), else version 1 (no store id)."""
    out = bytearray([2, flags]) + store_id.to_bytes(8, "big") if store_id else bytearray([1, flags])
    last_file, last_off = 0, 0
    for f, o in pairs:
        if f != last_file:
            out += varint((f - last_file) << 1 | 1) + varint(o)
        else:
            out += varint((o - last_off) << 1)
        last_file, last_off = f, o
    return bytes(out)


def decode_positions(enc):
    """[(file_id, offset)] from a packet_pos string (the inverse of positions())."""
    assert enc[0] in (1, 2), "packet_pos version"
    out, i, f, o = [], 2 if enc[0] == 1 else 10, 0, 0

    def get():
        nonlocal i
        v = shift = 0
        while True:
            b = enc[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while i < len(enc):
        t = get()
        if t & 1:
            f, o = f + (t >> 1), get()
        else:
            o += t >> 1
        out.append((f, o))
    return out


def store_id_of(enc):
    """the store id of a version-2 packet_pos, None for version 1"""
    return int.from_bytes(enc[2:10], "big") if enc[0] == 2 else None
