"""SessionRecord.packet_pos, the sensor's encoding of where a session's packets are in its pcap
store (pcapstore/pcap_index.h), for the integration tests: encode (requests) and decode (checks)."""


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def positions(pairs, flags=0):
    """SessionRecord.packet_pos encoding of [(file_id, offset)] (pcapstore/pcap_index.h)."""
    out, last_file, last_off = bytearray([1, flags]), 0, 0
    for f, o in pairs:
        if f != last_file:
            out += varint((f - last_file) << 1 | 1) + varint(o)
        else:
            out += varint((o - last_off) << 1)
        last_file, last_off = f, o
    return bytes(out)


def decode_positions(enc):
    """[(file_id, offset)] from a packet_pos string (the inverse of positions())."""
    assert enc[0] == 1, "packet_pos version"
    out, i, f, o = [], 2, 0, 0

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
