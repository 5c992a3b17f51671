#!/usr/bin/env python3
"""summarize_sessions.py -- what a set of session JSON files holds: sessions per sensor, by
transport and application, top talkers, and the 1-packet TCP sessions the misconfiguration
query of DESIGN.md looks for. Reads the lines ashiato-sensor --emit-json writes."""
import collections
import json
import sys


def main(paths):
    per_sensor = collections.Counter()
    by_proto = collections.Counter()
    talkers = collections.Counter()
    one_packet_tcp = 0
    for path in paths:
        with open(path) as f:
            for line in f:
                s = json.loads(line)
                per_sensor[s["observer"]["name"]] += 1
                net = s["network"]
                by_proto[net.get("protocol") or net["transport"]] += 1
                talkers[s["source"]["ip"]] += 1
                if net["packets"] == 1 and net["transport"] == "tcp":
                    one_packet_tcp += 1
    print("sessions per sensor:")
    for name, n in sorted(per_sensor.items()):
        print(f"  {name:20} {n:8}")
    print("sessions by protocol:")
    for name, n in by_proto.most_common():
        print(f"  {name:20} {n:8}")
    print("top talkers (sessions started):")
    for ip, n in talkers.most_common(5):
        print(f"  {ip:20} {n:8}")
    print(f"1-packet TCP sessions: {one_packet_tcp}")


if __name__ == "__main__":
    main(sys.argv[1:])
