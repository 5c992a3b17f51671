"""query_oracle.py -- an independent brute-force evaluator of Arkime expressions over the
sessions' JSON documents (the sensors' --emit-json lines), for the differential test. Not a
test module.

Written from Arkime's viewer semantics and docs/fields.md, not from the C code: its own
tokenizer and parser, its own field table (Arkime name -> ECS path), Python's ipaddress,
fnmatch and re for the values. Semantics: `==` on a field with several values matches when any
value matches; `!=` is "not ==" (so a document without the field matches it); `[a,b]` is any of
them, `]a,b[` all of them; ip, port, host and protocols match any of their fields; protocols
holds the transport; times are UTC and `==` on a time is its whole second.

Owns:  nothing but the parsed trees it returns.
Never: calls the C code."""
import datetime
import fnmatch
import ipaddress
import re

IP, INT, KW, TIME, BOOL, FLOAT = "ip", "int", "kw", "time", "bool", "float"

# name: (type, ECS path) | (type, [parts]) for any-of fields | ("sum", [a, b])
FIELDS = {
    "ip.src": (IP, "source.ip"), "ip.dst": (IP, "destination.ip"),
    "ip": (IP, ["ip.src", "ip.dst"]),
    "port.src": (INT, "source.port"), "port.dst": (INT, "destination.port"),
    "port": (INT, ["port.src", "port.dst"]),
    "ip.protocol": ("proto", "network.transport"),
    "network.protocol": (KW, "network.protocol"), "tags": (KW, "ashiato.protocols"),
    "protocols": (KW, ["ip.protocol", "network.protocol", "tags"]),
    "node": (KW, "observer.name"), "segment": (KW, "ashiato.segment_name"),
    "id": (KW, "ashiato.session_id"), "rootId": (KW, "ashiato.root_id"),
    "communityId": (KW, "network.community_id"), "vlan": (INT, "network.vlan.id"),
    "ip.version": (KW, "network.type"), "mac.src": (KW, "source.mac"),
    "mac.dst": (KW, "destination.mac"),
    "starttime": (TIME, "event.start"), "stoptime": (TIME, "event.end"),
    "packets": (INT, "network.packets"), "packets.src": (INT, "source.packets"),
    "packets.dst": (INT, "destination.packets"), "bytes": (INT, "network.bytes"),
    "bytes.src": (INT, "source.bytes"), "bytes.dst": (INT, "destination.bytes"),
    "databytes": ("sum", ["databytes.src", "databytes.dst"]),
    "databytes.src": (INT, "ashiato.data_bytes.source"),
    "databytes.dst": (INT, "ashiato.data_bytes.destination"),
    "tcpflags.syn": (INT, "ashiato.tcp_flags.syn"),
    "tcpflags.syn-ack": (INT, "ashiato.tcp_flags.syn_ack"),
    "tcpflags.ack": (INT, "ashiato.tcp_flags.ack"), "tcpflags.psh": (INT, "ashiato.tcp_flags.psh"),
    "tcpflags.fin": (INT, "ashiato.tcp_flags.fin"), "tcpflags.rst": (INT, "ashiato.tcp_flags.rst"),
    "tcpflags.urg": (INT, "ashiato.tcp_flags.urg"),
    "conn.state": (KW, "ashiato.conn_state"), "conn.history": (KW, "ashiato.history"),
    "host.http": (KW, "url.domain"), "http.method": (KW, "http.request.method"),
    "http.user-agent": (KW, "user_agent.original"),
    "http.statuscode": (INT, "http.response.status_code"),
    "host.dns": (KW, "dns.question.name"), "dns.status": (KW, "dns.response_code"),
    "tls.sni": (KW, "tls.client.server_name"), "tls.version": (KW, "tls.version"),
    "host": (KW, ["host.http", "host.dns", "tls.sni"]),
    "ssh.client": (KW, "ashiato.ssh.client"), "ssh.server": (KW, "ashiato.ssh.server"),
    "truncated": (BOOL, "ashiato.truncated"),
    # computed by the aggregator's store, not written by the sensors: the caller puts them into
    # the documents first (add_segments here, ashiato.linked from the store's links)
    "ashiato.segments": (KW, "ashiato.segments"), "segments": (KW, "ashiato.segments"),
    "ashiato.linked": (KW, "ashiato.linked"), "linked": (KW, "ashiato.linked"),
}
# The alert documents' fields (docs/fields.md "Alert fields", docs/detection.md), for
# select(..., fields=ALERT_FIELDS, key=...): alerts.json expressions.
ALERT_FIELDS = {
    "id": (KW, "event.id"), "rule.name": (KW, "rule.name"),
    "ip": (IP, ["source.ip", "destination.ip", "ashiato.sources"]),
    "source.ip": (IP, "source.ip"), "destination.ip": (IP, "destination.ip"),
    "destination.port": (INT, "destination.port"), "observer.name": (KW, "observer.name"),
    "ashiato.segments": (KW, "ashiato.segments"), "ashiato.score": (FLOAT, "ashiato.score"),
    "tags": (KW, "tags"), "event.start": (TIME, "event.start"), "event.end": (TIME, "event.end"),
    "message": (KW, "message"), "ashiato.evidence": (KW, "ashiato.evidence"),
    "ashiato.sessions": (INT, "ashiato.sessions"), "ashiato.successes": (INT, "ashiato.successes"),
    "ashiato.failures": (INT, "ashiato.failures"),
    "ashiato.targets.hosts": (INT, "ashiato.targets.hosts"),
    "ashiato.targets.ports": (INT, "ashiato.targets.ports"),
    "ashiato.sources": (IP, "ashiato.sources"), "ashiato.prefix": (KW, "ashiato.prefix"),
}
ALERT_ALIASES = {
    "alert.id": "id", "rule": "rule.name", "type": "rule.name", "ip.src": "source.ip",
    "ip.dst": "destination.ip", "port.dst": "destination.port", "port": "destination.port",
    "node": "observer.name", "sensor": "observer.name", "segment": "ashiato.segments",
    "segments": "ashiato.segments", "score": "ashiato.score", "starttime": "event.start",
    "firstPacket": "event.start", "stoptime": "event.end", "lastPacket": "event.end",
    "evidence": "ashiato.evidence", "sessions": "ashiato.sessions",
    "successes": "ashiato.successes", "failures": "ashiato.failures",
    "targets.hosts": "ashiato.targets.hosts", "targets.ports": "ashiato.targets.ports",
    "sources": "ashiato.sources", "prefix": "ashiato.prefix",
}
PROTO_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "132": "sctp",
                 "icmp6": "ipv6-icmp", "icmpv6": "ipv6-icmp"}

TOKEN = re.compile(r"""\s*(?:
    (?P<exists>EXISTS!) |
    (?P<op><=|>=|!=|==|<|>|=) | (?P<and>&&|&) | (?P<or>\|\||\|) | (?P<not>!) |
    (?P<lp>\() | (?P<rp>\)) |
    (?P<quoted>"(?:\\.|[^"\\])*") | (?P<regex>/(?:\\.|[^/\\])+/) |
    (?P<any>\[(?:\\.|[^\]\\])*\]) | (?P<all>\](?:\\.|[^\[\\])*\[) |
    (?P<word>[-+\w.@:*?/]+))""", re.X)


def tokenize(text):
    out, at = [], 0
    text = text.rstrip()
    while at < len(text):
        m = TOKEN.match(text, at)
        if not m or m.end() == at:
            raise ValueError(f"bad input at {at}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        at = m.end()
    return out


def split_list(body):
    items, cur, i, quote = [], "", 0, None
    while i < len(body):
        c = body[i]
        if quote:
            cur += c
            if c == "\\" and i + 1 < len(body):
                cur += body[i + 1]
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"/" and not cur.strip():
            quote, cur = c, c
        elif c == "\\" and i + 1 < len(body):
            cur += body[i + 1]
            i += 1
        elif c == ",":
            items.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    items.append(cur.strip())
    return items


class Parser:
    def __init__(self, text):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i][0] if self.i < len(self.toks) else None

    def take(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def parse(self):
        e = self.orx()
        if self.i != len(self.toks):
            raise ValueError("trailing tokens")
        return e

    def orx(self):
        e = self.andx()
        while self.peek() == "or":
            self.take()
            e = ("or", e, self.andx())
        return e

    def andx(self):
        e = self.unary()
        while self.peek() == "and":
            self.take()
            e = ("and", e, self.unary())
        return e

    def unary(self):
        if self.peek() == "not":
            self.take()
            return ("not", self.unary())
        if self.peek() == "lp":
            self.take()
            e = self.orx()
            assert self.take()[0] == "rp"
            return e
        field = self.take()[1]
        op = self.take()[1]
        op = "==" if op == "=" else op
        kind, raw = self.take()
        if kind == "exists":
            return ("exists", field, op)
        if kind in ("any", "all"):
            return ("cmp", field, op, kind, [value_of(v) for v in split_list(raw[1:-1])])
        return ("cmp", field, op, "any", [value_of(raw)])


def value_of(raw):
    if raw.startswith('"'):
        return ("text", re.sub(r"\\(.)", r"\1", raw[1:-1]))
    if raw.startswith("/") and raw.endswith("/") and len(raw) > 1:
        return ("regex", raw[1:-1].replace("\\/", "/"))
    if "*" in raw or "?" in raw:
        return ("wild", raw)
    return ("word", raw)


# ---- evaluation --------------------------------------------------------------------------

def values_at(doc, path):
    o = doc
    for part in path.split("."):
        if not isinstance(o, dict) or part not in o:
            return []
        o = o[part]
    return o if isinstance(o, list) else [o]


def to_us(text):
    """ISO (2021-09-28T12:50:09.187000Z), 2021/09/28 12:50:09, or epoch seconds -> us."""
    if re.fullmatch(r"\d+", text):
        return int(text) * 1000000
    t = text.replace("/", "-").replace(" ", "T").rstrip("Z")
    frac = 0
    if "." in t:
        t, f = t.split(".")
        frac = int((f + "000000")[:6])
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1000000 + frac


def ip_block(word):
    """(network, port) of Arkime's ip value forms."""
    port = None
    if word.count(":") > 1:                       # IPv6, port after '.'
        if "." in word:
            word, p = word.split(".", 1)
            port = int(p)
        return ipaddress.ip_network(word, strict=False), port
    if ":" in word:
        word, p = word.split(":")
        port = int(p)
    addr, _, bits = word.partition("/")
    parts = addr.split(".")
    if not bits:
        bits = str(8 * len(parts))
    parts += ["0"] * (4 - len(parts))
    return ipaddress.ip_network(".".join(parts) + "/" + bits, strict=False), port


def one_field_match(doc, name, op, val, fields=FIELDS):
    ftype, where = fields[name]
    if isinstance(where, list) and ftype != "sum":
        return any(one_field_match(doc, p, op, val, fields) for p in where)
    kind, v = val
    if ftype == "sum":
        total = sum(sum(values_at(doc, FIELDS[p][1]) or [0]) for p in where)
        return compare_int([total], op, v)
    vals = values_at(doc, where)
    if ftype == IP:
        net, port = ip_block(v)
        for i, x in enumerate(vals):
            if ipaddress.ip_address(x) in net:
                if port is None:
                    return True
                side = "source" if where.startswith("source") else "destination"
                if port in values_at(doc, side + ".port"):
                    return True
        return False
    if ftype in (INT,):
        return compare_int(vals, op, v)
    if ftype == FLOAT:
        m = re.fullmatch(r"([\d.]+)-([\d.]+)", v)
        if op == "==":
            lo, hi = (float(m.group(1)), float(m.group(2))) if m else (float(v), float(v))
            return any(lo <= float(x) <= hi for x in vals)
        return any(ordered(float(x), op, float(v)) for x in vals)
    if ftype == TIME:
        t = to_us(v)
        us = [to_us(x) for x in vals]
        if op == "==":
            hi = t + (999999 if t % 1000000 == 0 else 0)
            return any(t <= x <= hi for x in us)
        return any(ordered(x, op, t) for x in us)
    if ftype == BOOL:
        want = v in ("true", "1")
        have = any(x is True for x in vals)
        return have == want
    if ftype == "proto" and kind == "word":
        v = PROTO_NUMBERS.get(v.lower(), v.lower())
    if kind == "regex":
        return any(isinstance(x, str) and re.fullmatch(v, x) for x in vals)
    if kind == "wild":
        return any(isinstance(x, str) and fnmatch.fnmatchcase(x, v.replace("[", "[[]"))
                   for x in vals)
    return any(str(x) == v for x in vals)


def ordered(x, op, v):
    return {"<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v}[op]


def compare_int(vals, op, v):
    if op == "==":
        m = re.fullmatch(r"(\d+)-(\d+)", v)
        lo, hi = (int(m.group(1)), int(m.group(2))) if m else (int(v), int(v))
        return any(lo <= int(x) <= hi for x in vals)
    return any(ordered(int(x), op, int(v)) for x in vals)


def exists(doc, name, fields=FIELDS):
    ftype, where = fields[name]
    if isinstance(where, list):
        return any(exists(doc, p, fields) for p in where)
    return any(x not in ("", None) for x in values_at(doc, where))


def evaluate(e, doc, fields=FIELDS, aliases=None):
    k = e[0]
    if k == "and":
        return evaluate(e[1], doc, fields, aliases) and evaluate(e[2], doc, fields, aliases)
    if k == "or":
        return evaluate(e[1], doc, fields, aliases) or evaluate(e[2], doc, fields, aliases)
    if k == "not":
        return not evaluate(e[1], doc, fields, aliases)
    name = (aliases or {}).get(e[1], e[1])
    if k == "exists":
        return exists(doc, name, fields) == (e[2] == "==")
    _, _, op, mode, vals = e
    positive = "==" if op == "!=" else op
    hits = [one_field_match(doc, name, positive, v, fields) for v in vals]
    m = all(hits) if mode == "all" else any(hits)
    return not m if op == "!=" else m


def segment_of(ip, segments):
    """The segment of an address by [segments] (a list of (name, "prefix") in file order): the
    longest matching prefix, the first listed of equal ones; "outside" when none matches."""
    addr, best, bits = ipaddress.ip_address(ip), "outside", -1
    for name, prefix in segments:
        net = ipaddress.ip_network(prefix, strict=False)
        if net.version == addr.version and addr in net and net.prefixlen > bits:
            best, bits = name, net.prefixlen
    return best


def add_segments(doc, segments):
    """doc with ashiato.segments: [source's segment, destination's segment]"""
    doc.setdefault("ashiato", {})["segments"] = [
        segment_of(doc["source"]["ip"], segments), segment_of(doc["destination"]["ip"], segments)]
    return doc


def select(text, docs):
    """The session ids of docs (an iterable of documents) that text selects."""
    tree = Parser(text).parse()
    return {d["ashiato"]["session_id"] for d in docs if evaluate(tree, d)}


def select_alerts(text, docs):
    """The alert ids (event.id) of alert documents that text selects (ALERT_FIELDS)."""
    tree = Parser(text).parse()
    return {d["event"]["id"] for d in docs if evaluate(tree, d, ALERT_FIELDS, ALERT_ALIASES)}
