#!/usr/bin/env python3
"""api_client.py -- the measuring client of bench/api_queries.sh: sessions.json latencies per
query shape (one digest login, then the login cookie: one round trip per request, kept alive),
the same shapes as hand-written _search bodies sent straight to an OpenSearch node in the same
run, and requests/s with N concurrent clients.

Owns:  its HTTP sessions (one ApiSession per thread: one digest login, the first request's
       401 challenge and its answer, then the aggregator's login cookie `ashiato_session`
       (aggregator/http_session.c) on every request: one round trip, no digest nonce reused
       on another URI, which libmicrohttpd 0.9.75 refuses; a 401 on the cookie logs in again).
Never: part of ctest; sends anything but to the URLs it is given (loopback in the bench).

  api_client.py latency --url U --user N --password P --spec SPEC.json --runs R [--es URL]
  api_client.py throughput --url U --user N --password P --spec SPEC.json --clients C --seconds S

SPEC.json: {"start": EPOCH_S, "stop": EPOCH_S, "length": 50,
            "queries": [{"name", "kind": "selective"|"broad"|"histogram", "expr",
                         "start"?, "stop"?, "es": <ES query clause or null = match_all>}]}
latency prints one JSON line per query: name, kind, recordsFiltered, interval, API p50/p99/
min ms over R runs after one warm-up (all runs listed; a shape whose warm-up took W ms
gets min(R, max(3, 60000 / W)) runs; when W > --slow-ms the warm-up is the only sample; no
answer within --timeout seconds prints {"timeout": true}; --only I measures shape I alone), and with --es the hand-written
_search's p50/p99 (R runs, interleaved with the API's, run by run) and its hits.total, which
must equal recordsFiltered. The hand-written body is what sessions.json answers in one
request: the query clause in a bool filter with the time range, the first `length` hits by
event.start with their _source, hits.total exact, and the graph (a date_histogram at the
interval the API chose, with the sums of the packets and bytes histograms).
throughput prints {"clients", "seconds", "requests", "rps", "errors", "digest_logins",
"p50_ms", "p99_ms"} (digest_logins: requests that went with digest auth, not the cookie):
each client loops over the selective queries (the kind an analyst sends most) in its own
order for S seconds (--names A,B: only those shapes).
"""
import argparse
import http.cookiejar
import json
import re
import statistics
import sys
import threading
import time
import urllib.parse

import requests
from requests.auth import HTTPDigestAuth


def pct(v, p):
    s = sorted(v)
    if not s:
        return None
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def api_path(spec, q):
    params = {"expression": q.get("expr", ""), "length": str(spec.get("length", 50)),
              "startTime": str(q.get("start", spec["start"])),
              "stopTime": str(q.get("stop", spec["stop"]))}
    return "/sessions.json?" + urllib.parse.urlencode(params)


def es_body(spec, q, interval_s):
    start_ms = int(q.get("start", spec["start"])) * 1000
    stop_ms = int(q.get("stop", spec["stop"])) * 1000
    filt = [{"range": {"event.start": {"gte": start_ms, "lt": stop_ms,
                                       "format": "epoch_millis"}}}]
    if q.get("es"):
        filt.append(q["es"])
    sums = {p: {"sum": {"field": p}} for p in (
        "source.packets", "destination.packets", "source.bytes", "destination.bytes",
        "ashiato.data_bytes.source", "ashiato.data_bytes.destination")}
    return {"size": spec.get("length", 50), "track_total_hits": True,
            "sort": [{"event.start": "asc"}],
            "query": {"bool": {"filter": filt}},
            "aggs": {"g": {"date_histogram": {"field": "event.start",
                                              "fixed_interval": f"{interval_s}s",
                                              "min_doc_count": 1},
                           "aggs": sums}}}


COOKIE = "ashiato_session"


class _NoJar(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie, request):
        return False

    def return_ok(self, cookie, request):
        return False


class ApiSession:
    """requests.Session with the aggregator's login cookie: digest once, then the cookie."""

    def __init__(self, user, password):
        self.s = requests.Session()
        self.s.cookies.set_policy(_NoJar())             # the token goes only as set below
        self.auth = HTTPDigestAuth(user, password)
        self.token = None
        self.logins = 0

    def get(self, url, timeout):
        if self.token:
            r = self.s.get(url, timeout=timeout, headers={"Cookie": f"{COOKIE}={self.token}"})
            if r.status_code != 401:
                return r
            self.token = None                       # expired or evicted: log in again
        for _ in range(3):                          # a stale nonce: a fresh challenge
            auth = HTTPDigestAuth(self.auth.username, self.auth.password)
            r = self.s.get(url, timeout=timeout, auth=auth)
            self.logins += 1
            if r.status_code != 401:
                break
        m = re.search(COOKIE + r"=([0-9A-Za-z]+)", r.headers.get("Set-Cookie", ""))
        if r.status_code == 200 and m:
            self.token = m.group(1)
        return r


def session(args):
    return ApiSession(args.user, args.password)


TIMEOUT = [600.0]


def timed_get(s, url):
    t = time.perf_counter()
    r = s.get(url, timeout=TIMEOUT[0])
    body = r.content
    return (time.perf_counter() - t) * 1000.0, r.status_code, body


def latency(args, spec):
    s = session(args)
    es = requests.Session() if args.es else None
    for i, q in enumerate(spec["queries"]):
        if args.only is not None and i != args.only:
            continue
        url = args.url + api_path(spec, q)
        try:
            ms, st, body = timed_get(s, url)                # warm-up, and the answer's shape
        except requests.exceptions.RequestException as e:
            print(json.dumps({"name": q["name"], "kind": q["kind"], "expr": q.get("expr", ""),
                              "timeout": True, "error": f"no answer within {TIMEOUT[0]:.0f} s "
                              f"({type(e).__name__})"}), flush=True)
            continue
        if st != 200:
            print(json.dumps({"name": q["name"], "error": f"status {st}: {body[:300]!r}"}),
                  flush=True)
            continue
        ans = json.loads(body)
        graph = ans.get("graph", {})
        interval = graph.get("interval", 60)
        api_ms, es_ms, es_total = [], [], None
        out = {"name": q["name"], "kind": q["kind"], "expr": q.get("expr", ""),
               "recordsFiltered": ans.get("recordsFiltered"), "rows": len(ans.get("data", [])),
               "bars": len(graph.get("sessionsHisto", [])), "interval": interval,
               "warmup_ms": round(ms, 1)}
        body_es = json.dumps(es_body(spec, q, interval)) if es else None
        if es:
            r = es.post(args.es + "/ashiato-sessions-*/_search", data=body_es,
                        headers={"Content-Type": "application/json"}, timeout=600)
            es_total = r.json().get("hits", {}).get("total", {}).get("value")
        runs = min(args.runs, max(3, int(60000 / max(ms, 1.0))))
        if ms > args.slow_ms:                               # a slow shape: the warm-up is
            runs = 0                                        # its only sample
            api_ms.append(ms)
            out["slow_single"] = True
            for _ in range(3 if es else 0):                 # the _search is timed alone
                t = time.perf_counter()
                r = es.post(args.es + "/ashiato-sessions-*/_search", data=body_es,
                            headers={"Content-Type": "application/json"}, timeout=600)
                _ = r.content
                es_ms.append((time.perf_counter() - t) * 1000.0)
        for _ in range(runs):
            ms, st, body = timed_get(s, url)
            if st != 200:
                out["error"] = f"status {st}"
                break
            api_ms.append(ms)
            if es:
                t = time.perf_counter()
                r = es.post(args.es + "/ashiato-sessions-*/_search", data=body_es,
                            headers={"Content-Type": "application/json"}, timeout=600)
                _ = r.content
                es_ms.append((time.perf_counter() - t) * 1000.0)
                if r.status_code != 200:
                    out["error"] = f"_search status {r.status_code}: {r.text[:300]}"
                    break
        out.update({"p50_ms": round(statistics.median(api_ms), 1) if api_ms else None,
                    "p99_ms": round(pct(api_ms, 99), 1) if api_ms else None,
                    "min_ms": round(min(api_ms), 1) if api_ms else None,
                    "runs_ms": [round(x, 1) for x in api_ms]})
        if es:
            out.update({"es_total": es_total,
                        "es_p50_ms": round(statistics.median(es_ms), 1) if es_ms else None,
                        "es_p99_ms": round(pct(es_ms, 99), 1) if es_ms else None,
                        "es_runs_ms": [round(x, 1) for x in es_ms],
                        "es_body": json.loads(body_es)})
        print(json.dumps(out), flush=True)


def throughput(args, spec):
    qs = [q for q in spec["queries"] if q["kind"] == "selective" and
          (not args.names or q["name"] in args.names.split(","))]
    urls = [args.url + api_path(spec, q) for q in qs]
    lat, errors, statuses, lock, logins = [], [0], {}, threading.Lock(), [0]
    barrier = threading.Barrier(args.clients + 1)
    stop_at = [0.0]

    def client(i):
        s = session(args)
        try:
            timed_get(s, urls[i % len(urls)])               # the digest challenge, once
        except requests.exceptions.RequestException:
            pass
        mine, bad = [], {}
        barrier.wait()
        k = i
        while time.perf_counter() < stop_at[0]:
            try:
                ms, st, _ = timed_get(s, urls[k % len(urls)])
            except requests.exceptions.RequestException:
                ms, st = 0.0, "timeout"
                logins[0] += s.logins
                s = session(args)
            k += 1
            if st == 200:
                mine.append(ms)
            else:
                bad[st] = bad.get(st, 0) + 1
        with lock:
            logins[0] += s.logins
            lat.extend(mine)
            for k, v in bad.items():
                errors[0] += v
                statuses[str(k)] = statuses.get(str(k), 0) + v

    ts = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in ts:
        t.start()
    stop_at[0] = time.perf_counter() + 1e9
    barrier.wait()
    t0 = time.perf_counter()
    stop_at[0] = t0 + args.seconds
    for t in ts:
        t.join()
    el = time.perf_counter() - t0
    print(json.dumps({"clients": args.clients, "shapes": [q["name"] for q in qs], "seconds": round(el, 2), "requests": len(lat),
                      "rps": round(len(lat) / el, 1), "errors": errors[0], "error_statuses": statuses,
                      "digest_logins": logins[0],
                      "p50_ms": round(statistics.median(lat), 1) if lat else None,
                      "p99_ms": round(pct(lat, 99), 1) if lat else None}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("latency", "throughput"))
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--es", default="")
    ap.add_argument("--slow-ms", type=float, default=20000)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--only", type=int, default=None)
    ap.add_argument("--names", default="")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    TIMEOUT[0] = args.timeout
    with open(args.spec) as f:
        spec = json.load(f)
    (latency if args.mode == "latency" else throughput)(args, spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
