#!/usr/bin/env python3
"""check_app_corpus.py -- compare sensor/app*.c with Arkime on the corpus captures.

For every X.pcap/X.test in ../shared/corpus/arkime-tests, tshark gives each TCP/UDP
packet's innermost addresses, ports and L4 payload; packets are grouped into the sessions
the .test lists (same endpoints, inside [firstPacket, lastPacket]), fed in order to
app_parse() through app_corpus_driver.c (dir 0 when sent by Arkime's source), and what the
parsers kept is compared with Arkime's fields:

  protocol          Arkime's `protocol` names that ashiato knows (APP_PROTOS in app.h)
  http.host         url domain of HTTP plus the TLS SNI (Arkime puts both in http.host)
  http.method, http.useragent, http.statuscode
  dns.host          question names and answer CNAME targets
  dns.status        RCODE of the first response
  tls.version       the server's choice (TLSv1.3-draft-NN counts as 1.3)
  ssh.version       both banners, lower case

Usage: check_app_corpus.py [-v] [--build DIR] [FILE.pcap ...]
Prints one line per capture with the agreement per field, then the totals; -v lists every
disagreement. Exits 0 (it measures, it does not judge); exits 0 with "skipped" when the
corpus or tshark is missing.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, '..', '..'))
CORPUS = os.path.normpath(os.path.join(SRC, '..', 'shared', 'corpus', 'arkime-tests'))
FIELDS = ['protocol', 'http.host', 'http.method', 'http.useragent', 'http.statuscode',
          'dns.host', 'dns.status', 'tls.version', 'ssh.version']


def app_protos():
    text = open(os.path.join(SRC, 'sensor', 'app.h')).read()
    return {m for m in re.findall(r'X\(\w+,\s*"(\w*)"\)', text) if m}


def build_driver(outdir):
    exe = os.path.join(outdir, 'app_corpus_driver')
    srcs = sorted(os.path.join(SRC, 'sensor', f) for f in os.listdir(os.path.join(SRC, 'sensor'))
                  if re.match(r'app(_\w+)?\.c$', f))
    cmd = [os.environ.get('CC', 'cc'), '-std=c11', '-O1', '-g', '-Wall', '-Wextra', '-Werror',
           '-D_GNU_SOURCE', '-I', os.path.join(SRC, 'sensor'), '-I', os.path.join(SRC, 'common'),
           os.path.join(HERE, 'app_corpus_driver.c')] + srcs + ['-o', exe, '-lnettle']
    subprocess.run(cmd, check=True)
    return exe


def packets(pcap):
    out = subprocess.run(
        ['tshark', '-r', pcap, '-o', 'tcp.desegment_tcp_streams:FALSE',
         '-o', 'ip.defragment:TRUE', '-T', 'fields', '-E', 'occurrence=l',
         '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'ip.dst', '-e', 'ipv6.dst',
         '-e', 'tcp.srcport', '-e', 'udp.srcport', '-e', 'tcp.dstport', '-e', 'udp.dstport',
         '-e', 'tcp.payload', '-e', 'udp.payload', '-e', 'frame.time_epoch'],
        capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split('\t')
        if len(f) < 11:
            continue
        src, dst = f[0] or f[1], f[2] or f[3]
        if f[4]:
            proto, sp, dp, pl = 6, f[4], f[6], f[8]
        elif f[5]:
            proto, sp, dp, pl = 17, f[5], f[7], f[9]
        else:
            continue
        yield dict(src=src, dst=dst, proto=proto, sport=int(sp), dport=int(dp),
                   payload=pl.replace(':', ''), ms=int(float(f[10]) * 1000))


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def tls_version(name):
    m = {'SSLv3': 0x300, 'TLSv1': 0x301, 'TLSv1.1': 0x302, 'TLSv1.2': 0x303, 'TLSv1.3': 0x304}
    if name.startswith('TLSv1.3'):
        return 0x304
    return m.get(name, name)


def expected(body, known):
    http = body.get('http', {}) if isinstance(body.get('http'), dict) else {}
    dns = as_list(body.get('dns'))
    status = [d['status'] for d in dns if isinstance(d, dict) and 'status' in d]
    tls = body.get('tls', {}) if isinstance(body.get('tls'), dict) else {}
    ssh = body.get('ssh', {}) if isinstance(body.get('ssh'), dict) else {}
    return {
        'protocol': {p for p in body.get('protocol', []) if p in known},
        'http.host': {h.lower() for h in as_list(http.get('host'))},
        'http.method': set(as_list(http.get('method'))),
        'http.useragent': set(as_list(http.get('useragent'))),
        'http.statuscode': set(as_list(http.get('statuscode'))),
        'dns.host': {h for d in dns if isinstance(d, dict) for h in as_list(d.get('host'))},
        'dns.status': set(status[:1]),
        'tls.version': {tls_version(v) for v in as_list(tls.get('version'))[:1]},
        'ssh.version': {v.lower() for v in as_list(ssh.get('version'))},
    }


def ours(res):
    return {
        'protocol': set(res.get('tags', [])),
        'http.host': {h.lower() for h in res.get('http_host', []) + res.get('tls_sni', [])},
        'http.method': set(res.get('http_method', [])),
        'http.useragent': set(res.get('user_agent', [])),
        'http.statuscode': set(res.get('http_status', [])),
        'dns.host': set(res.get('dns_query', [])),
        'dns.status': {res['dns_rcode']} if 'dns_rcode' in res else set(),
        'tls.version': {res['tls_version']} if res.get('tls_version') else set(),
        'ssh.version': {v.lower() for v in (res.get('ssh_client', ''), res.get('ssh_server', ''))
                        if v},
    }


def check(pcap, driver, known, verbose):
    test = json.load(open(pcap[:-5] + '.test'))
    pk = list(packets(pcap))
    feed, bodies, skipped = [], [], 0
    for s in test['sessions3']:
        b = s['body']
        if b.get('ipProtocol') not in (6, 17) or 'ip' not in b.get('source', {}):
            continue
        a = (b['source']['ip'], b['source']['port'])
        z = (b['destination']['ip'], b['destination']['port'])
        mine = [p for p in pk if p['proto'] == b['ipProtocol'] and p['payload'] and
                {(p['src'], p['sport']), (p['dst'], p['dport'])} == {a, z} and
                b['firstPacket'] <= p['ms'] <= b['lastPacket']]
        if not mine or b['source'].get('packets', 0) + b['destination'].get('packets', 0) == 0:
            skipped += 1        # no payload of its own (a later segment, a bare handshake)
            continue
        feed.append('S')
        for p in mine:
            d = 0 if (p['src'], p['sport']) == a else 1
            feed.append('P %d %d %d %d %s' % (d, p['proto'], p['sport'], p['dport'], p['payload']))
        feed.append('E')
        bodies.append(b)
    out = subprocess.run([driver], input='\n'.join(feed) + '\n', capture_output=True,
                         text=True, check=True).stdout.splitlines()
    agree = {f: [0, 0] for f in FIELDS}
    full = 0
    for b, line in zip(bodies, out):
        exp, got = expected(b, known), ours(json.loads(line))
        ok = True
        for f in FIELDS:
            if not exp[f] and not got[f]:
                continue
            agree[f][1] += 1
            if exp[f] == got[f]:
                agree[f][0] += 1
            else:
                ok = False
                if verbose:
                    print('  %s %s:%s -> %s:%s %s: arkime %s ashiato %s' % (
                        os.path.basename(pcap), b['source']['ip'], b['source']['port'],
                        b['destination']['ip'], b['destination']['port'], f,
                        sorted(exp[f], key=str), sorted(got[f], key=str)))
        full += ok
    return len(bodies), skipped, full, agree


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-v', '--verbose', action='store_true')
    ap.add_argument('pcaps', nargs='*')
    args = ap.parse_args()
    if not os.path.isdir(CORPUS) or not shutil.which('tshark'):
        print('skipped: %s or tshark missing' % CORPUS)
        return 0
    pcaps = args.pcaps or sorted(os.path.join(CORPUS, f) for f in os.listdir(CORPUS)
                                 if f.endswith('.pcap'))
    known = app_protos()
    with tempfile.TemporaryDirectory() as tmp:
        driver = build_driver(tmp)
        total = {f: [0, 0] for f in FIELDS}
        ns = nf = nskip = 0
        for pcap in pcaps:
            n, skip, full, agree = check(pcap, driver, known, args.verbose)
            ns += n
            nskip += skip
            nf += full
            parts = []
            for f in FIELDS:
                total[f][0] += agree[f][0]
                total[f][1] += agree[f][1]
                if agree[f][1]:
                    parts.append('%s %d/%d' % (f, agree[f][0], agree[f][1]))
            print('%-32s sessions %3d agree %3d (no payload %d)  %s' % (
                os.path.basename(pcap), n, full, skip, ', '.join(parts)))
        print('%-32s sessions %3d agree %3d (no payload %d)  %s' % ('TOTAL', ns, nf, nskip, ', '.join(
            '%s %d/%d' % (f, a, t) for f, (a, t) in total.items() if t)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
