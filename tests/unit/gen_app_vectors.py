#!/usr/bin/env python3
"""gen_app_vectors.py -- write app_vectors.h: real L4 payloads from the corpus captures.

Each vector is the payload of one packet of ../shared/corpus/arkime-tests/<pcap>, chosen by a
tshark display filter and the index among the matching packets that carry payload. The
unit tests (test_app_*.c) feed them to app_parse() and derive their malformed variants
(every truncation length, bogus lengths) in C. Run again after changing the table:

    python3 tests/unit/gen_app_vectors.py > tests/unit/app_vectors.h
    python3 tests/unit/gen_app_vectors.py --seeds tests/fuzz/corpus/fuzz_app

--seeds writes the fuzz_app seeds instead: the sessions in SEEDS as fuzz_app.c inputs.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.normpath(os.path.join(HERE, '..', '..', '..', 'shared', 'corpus', 'arkime-tests'))

# name, pcap, display filter, index of the payload-carrying packet among the matches
VECTORS = [
    ('http_get', 'http-simple-get.pcap', 'tcp.dstport==80', 0),
    ('http_403', 'http-simple-get.pcap', 'tcp.srcport==80', 0),
    ('http_v6_get', 'v6-http.pcap', 'tcp.dstport==80', 0),
    ('http_rpc_in_data', 'arkime_synthetic.pcap', 'tcp.srcport==51001', 0),
    ('http_rpc_200', 'arkime_synthetic.pcap', 'tcp.dstport==51001', 0),
    ('dns_udp_query', 'dns-udp.pcap', 'udp.srcport==62563', 0),
    ('dns_udp_cname', 'dns-udp.pcap', 'udp.dstport==62563', 0),
    ('dns_tcp_query', 'dns-tcp.pcap', 'tcp.srcport==49342', 0),
    ('dns_tcp_answer', 'dns-tcp.pcap', 'tcp.dstport==49342', 0),
    ('dns_badvers', 'arkime_synthetic.pcap', 'udp.dstport==33001', 0),
    ('dns_nxdomain', '6-4-gre-ppp-udp-4-dns.pcap', 'udp.dstport==40768', 0),
    ('mdns_query', 'v6-http.pcap', 'udp.srcport==5353', 0),
    ('tls13_client_hello', 'tls13.pcap', 'tcp.dstport==443', 0),
    ('tls13_server_hello', 'tls13.pcap', 'tcp.srcport==443', 0),
    ('tls12_client_hello', 'openssl-tls1_2.pcap', 'tcp.dstport==443', 0),
    ('tls12_server_hello', 'openssl-tls1_2.pcap', 'tcp.srcport==443', 0),
    ('ssh_server_banner', 'ssh2.pcap', 'tcp.srcport==22', 0),
    ('ssh_client_banner', 'ssh2.pcap', 'tcp.dstport==22', 0),
    ('smb1_negotiate', 'smb-smbclient.pcap', 'tcp.dstport==445', 0),
    ('smb2_negotiate', 'wireshark-smb-on-windows10.pcap', 'tcp.srcport==49671 && tcp.dstport==445', 0),
    ('nbss_request', 'wireshark-smb-on-windows10.pcap', 'tcp.srcport==49671 && tcp.dstport==139', 0),
    ('rdp_cr', 'arkime_synthetic.pcap', 'tcp.srcport==50400', 0),
    ('dcerpc_bind', 'arkime_synthetic.pcap', 'tcp.srcport==50100', 0),
    ('krb5_tcp_as_req', 'arkime_synthetic.pcap', 'tcp.srcport==49501', 0),
    ('krb5_tcp_no_prefix', 'arkime_synthetic.pcap', 'tcp.srcport==55011', 0),
    ('krb5_udp_as_req', 'arkime_synthetic.pcap', 'udp.srcport==49700', 0),
    ('krb5_udp_garbage', 'arkime_synthetic.pcap', 'udp.srcport==54340', 0),
    ('ntp_client', 'gre-sample.pcap', 'udp.dstport==123 && ip.dst==18.26.4.105', 0),
    ('mysql_greeting', 'no-syn-ack.pcap', 'tcp.srcport==3306', 0),
    ('mysql_login', 'no-syn-ack.pcap', 'tcp.dstport==3306', 0),
    ('netflow_v5', 'arkime_synthetic.pcap', 'udp.srcport==40000 && ip.src==10.0.0.1', 0),
    ('netflow_v7', 'arkime_synthetic.pcap', 'udp.srcport==40001 && ip.src==10.0.0.3', 0),
    ('netflow_v9', 'arkime_synthetic.pcap', 'udp.srcport==40002 && ip.src==10.0.0.5', 0),
    ('smtp_banner', 'arkime_synthetic.pcap', 'tcp.dstport==55005', 0),
    ('smtp_ehlo', 'arkime_synthetic.pcap', 'tcp.srcport==55005', 0),
    ('ftp_banner', 'arkime_synthetic.pcap', 'tcp.dstport==56007', 0),
    ('ftp_user', 'arkime_synthetic.pcap', 'tcp.srcport==56007', 0),
    ('ldap_bind', 'arkime_synthetic.pcap', 'tcp.srcport==55013', 0),
    ('nbns_query', 'arkime_synthetic.pcap', 'udp.srcport==49200 && udp.dstport==137', 0),
    ('dhcp_request', 'arkime_synthetic.pcap', 'udp.srcport==68 && udp.length > 270', 0),
    ('dhcp_short', 'arkime_synthetic.pcap', 'udp.srcport==68 && udp.length < 270', 0),
    ('quic_initial', 'arkime_synthetic.pcap', 'udp.srcport==10000', 0),
    ('gquic_chlo', 'arkime_synthetic.pcap', 'udp.srcport==52001 && ip.src==10.9.4.1', 0),
    ('snmp_get', 'arkime_synthetic.pcap', 'udp.srcport==55008', 0),
    ('udp_text', 'arkime_synthetic.pcap', 'udp.srcport==40100', 0),
]


# keep in step with `ports` in tests/fuzz/fuzz_app.c
SEED_PORTS = [80, 443, 53, 5353, 5355, 88, 123, 137, 67, 3306, 445, 139, 389, 25, 21, 22,
              3389, 135, 2055, 161, 9999]

# seed name, TCP?, server port, [(dir, vector name), ...]
SEEDS = [
    ('http', True, 80, [(0, 'http_get'), (1, 'http_403')]),
    ('http_v6', True, 80, [(0, 'http_v6_get')]),
    ('http_rpc', True, 80, [(0, 'http_rpc_in_data'), (1, 'http_rpc_200')]),
    ('dns_udp', False, 53, [(0, 'dns_udp_query'), (1, 'dns_udp_cname')]),
    ('dns_tcp', True, 53, [(0, 'dns_tcp_query'), (1, 'dns_tcp_answer')]),
    ('dns_badvers', False, 53, [(1, 'dns_badvers')]),
    ('dns_nxdomain', False, 53, [(1, 'dns_nxdomain')]),
    ('mdns', False, 5353, [(0, 'mdns_query')]),
    ('tls13', True, 443, [(0, 'tls13_client_hello'), (1, 'tls13_server_hello')]),
    ('tls12', True, 443, [(0, 'tls12_client_hello'), (1, 'tls12_server_hello')]),
    ('ssh', True, 22, [(1, 'ssh_server_banner'), (0, 'ssh_client_banner')]),
    ('smb1', True, 445, [(0, 'smb1_negotiate')]),
    ('smb2', True, 445, [(0, 'smb2_negotiate')]),
    ('nbss', True, 139, [(0, 'nbss_request'), (0, 'smb1_negotiate')]),
    ('rdp', True, 3389, [(0, 'rdp_cr')]),
    ('dcerpc', True, 135, [(0, 'dcerpc_bind')]),
    ('krb5_tcp', True, 88, [(0, 'krb5_tcp_as_req')]),
    ('krb5_udp', False, 88, [(0, 'krb5_udp_as_req')]),
    ('ntp', False, 123, [(0, 'ntp_client')]),
    ('mysql', True, 3306, [(1, 'mysql_greeting'), (0, 'mysql_login')]),
    ('netflow5', False, 2055, [(0, 'netflow_v5')]),
    ('netflow9', False, 2055, [(0, 'netflow_v9')]),
    ('smtp', True, 25, [(1, 'smtp_banner'), (0, 'smtp_ehlo')]),
    ('ftp', True, 21, [(1, 'ftp_banner'), (0, 'ftp_user')]),
    ('ldap', True, 389, [(0, 'ldap_bind')]),
    ('nbns', False, 137, [(0, 'nbns_query')]),
    ('dhcp', False, 67, [(0, 'dhcp_request')]),
    ('quic', False, 443, [(0, 'quic_initial')]),
    ('gquic', False, 443, [(0, 'gquic_chlo')]),
    ('snmp', False, 161, [(0, 'snmp_get')]),
]


def write_seeds(outdir):
    table = {name: (pcap, flt, index) for name, pcap, flt, index in VECTORS}
    os.makedirs(outdir, exist_ok=True)
    for name, tcp, port, pkts in SEEDS:
        dirs = 0
        body = b''
        for i, (d, vec) in enumerate(pkts):
            data = payload(*table[vec])
            dirs |= d << i
            body += len(data).to_bytes(2, 'big') + data
        head = bytes([(SEED_PORTS.index(port) << 1) | (1 if tcp else 0), dirs])
        with open(os.path.join(outdir, name), 'wb') as f:
            f.write(head + body)


def payload(pcap, flt, index):
    out = subprocess.run(
        ['tshark', '-r', os.path.join(CORPUS, pcap), '-o', 'tcp.desegment_tcp_streams:FALSE',
         '-Y', flt, '-T', 'fields', '-E', 'occurrence=l', '-e', 'tcp.payload', '-e', 'udp.payload'],
        capture_output=True, text=True, check=True).stdout
    found = [b for b in (bytes.fromhex((t + u).replace(':', ''))
                         for t, u in (line.split('\t')[:2] for line in out.splitlines()))
             if b]
    if index >= len(found):
        sys.exit('gen_app_vectors: %s [%s] has %d payload packets, wanted #%d' %
                 (pcap, flt, len(found), index))
    return found[index]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--seeds':
        write_seeds(sys.argv[2])
        return
    print('/* app_vectors.h -- real payloads from ../shared/corpus/arkime-tests, generated by')
    print(' * gen_app_vectors.py (do not edit; rerun the script). One array per packet. */')
    print('#ifndef ASHIATO_APP_VECTORS_H')
    print('#define ASHIATO_APP_VECTORS_H')
    print('#include <stdint.h>')
    print()
    for name, pcap, flt, index in VECTORS:
        data = payload(pcap, flt, index)
        print('/* %s: %s [%s] #%d, %d bytes */' % (name, pcap, flt, index, len(data)))
        print('static const uint8_t v_%s[] = {' % name)
        for i in range(0, len(data), 16):
            print('    ' + ' '.join('0x%02x,' % b for b in data[i:i + 16]))
        print('};')
        print()
    print('#endif')


if __name__ == '__main__':
    main()
