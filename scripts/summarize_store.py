#!/usr/bin/env python3
"""summarize_store.py -- what an aggregator's SQLite store holds: sessions per sensor, by
transport and application, the top talkers, and the 1-packet TCP sessions that DESIGN.md's
misconfiguration query looks for, and the alerts detection raised. Reads only the indexed
columns of the sessions and alerts tables."""
import sqlite3
import sys


def main(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    q = con.execute
    total = q("SELECT count(*) FROM sessions").fetchone()[0]
    print(f"{total} sessions stored")
    print("sessions per sensor:")
    for name, n in q("SELECT sensor, count(*) FROM sessions GROUP BY sensor ORDER BY sensor"):
        print(f"  {name:20} {n:8}")
    print("sessions by protocol:")
    for proto, n in q("SELECT coalesce(nullif(protocol, ''), transport), count(*) FROM sessions "
                      "GROUP BY 1 ORDER BY 2 DESC"):
        print(f"  {proto:20} {n:8}")
    print("top talkers (sessions started):")
    for ip, n in q("SELECT src_ip, count(*) FROM sessions GROUP BY src_ip ORDER BY 2 DESC LIMIT 5"):
        print(f"  {ip:20} {n:8}")
    n = q("SELECT count(*) FROM sessions WHERE packets = 1 AND transport = 'tcp'").fetchone()[0]
    print(f"1-packet TCP sessions: {n}")
    alerts = q("SELECT kind, summary FROM alerts ORDER BY start_us").fetchall()
    print(f"alerts raised by detection: {len(alerts)}")
    for kind, summary in alerts:
        print(f"  {kind:16} {summary}")
    con.close()


if __name__ == "__main__":
    main(sys.argv[1])
