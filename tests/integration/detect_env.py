"""detect_env.py -- what the detection tests share: turning captures into session JSON with the
real sensor, running the real `ashiato detect`, writing a campus's aggregator.ini, and scoring
alerts against campusgen's truth.json.

Owns:  the campus config (segments = departments + the server segment, sensors = uplinks),
       the matching rules alert -> truth event, precision and recall.
Never: starts anything but ashiato-sensor and ashiato (each to completion).
"""
import ipaddress
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", HERE.parents[1]))
BUILD_DIR = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build")).resolve()
SHARED_DIR = (SOURCE_DIR / ".." / "shared").resolve()
if not SHARED_DIR.exists():
    SHARED_DIR = Path("/work/shared")
SENSOR = BUILD_DIR / "bin" / "ashiato-sensor"
ASHIATO = BUILD_DIR / "bin" / "ashiato"


def sensor_json(pcap, out, name=None):
    """ashiato-sensor --read pcap --emit-json out [--name name]; returns out."""
    argv = [str(SENSOR), "--read", str(pcap), "--emit-json", str(out)]
    if name:
        argv += ["--name", name]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    assert r.returncode == 0, f"sensor on {pcap}: {r.stderr[-2000:]}"
    return Path(out)


def run_detect(files, config=None, sets=(), extra=(), stdin=None):
    """ashiato detect [-c config] [--set k=v].. files; returns (alerts, stderr)."""
    argv = [str(ASHIATO), "detect", "--stats"]
    if config:
        argv += ["-c", str(config)]
    for s in sets:
        argv += ["--set", s]
    argv += list(extra) + [str(f) for f in files]
    r = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=600)
    assert r.returncode == 0, f"ashiato detect: rc {r.returncode}: {r.stderr[-2000:]}"
    alerts = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    for a in alerts:        # the documented shape of every alert
        assert a["event"]["kind"] == "alert" and a["event"]["start"] <= a["event"]["end"]
        assert a["rule"]["name"] in ("address_scan", "port_scan", "scanner", "lateral_movement",
                                     "session_spike", "address_policy")
        assert isinstance(a["destination"]["ip"], list) and isinstance(a["destination"]["port"], list)
        assert isinstance(a["observer"]["name"], list) and a["message"]
        assert isinstance(a["ashiato"]["segments"], list) and isinstance(a["ashiato"]["evidence"], list)
        assert isinstance(a["tags"], list)
    return alerts, r.stderr


def stats(stderr):
    """the 'detect: k=v ...' line of --stats as a dict of ints"""
    for ln in stderr.splitlines():
        if ln.startswith("detect: "):
            return {k: int(v) for k, v in (kv.split("=") for kv in ln[8:].split())}
    raise AssertionError("no stats line in: " + stderr[-500:])


def campus_config(truth, path):
    """aggregator.ini for a campusgen campus: one segment per department, the server segment,
    sensor-D watching dept-D."""
    lines = ["[segments]"]
    for d, net in sorted(truth["departments"].items(), key=lambda kv: int(kv[0])):
        lines.append(f"dept-{d} = {net}")
    lines.append(f"servers = {truth['server_segment']}")
    lines.append("[sensors]")
    for d in sorted(truth["sensors"], key=int):
        lines.append(f"sensor-{d} = dept-{d}")
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def campus_sessions(outdir):
    """every sensor-D.pcap of a campusgen directory through the sensor, in parallel (2 cores)"""
    outdir = Path(outdir)
    pcaps = sorted(outdir.glob("sensor-*.pcap"))
    with ThreadPoolExecutor(max_workers=2) as ex:
        futs = [ex.submit(sensor_json, p, p.with_suffix(".json"), p.stem) for p in pcaps]
        return [f.result() for f in futs]


def _ip_in(ip, net):
    return ipaddress.ip_address(ip) in ipaddress.ip_network(net)


def _sources(e):
    s = e.get("source_ip")
    return set(s if isinstance(s, list) else [s] if s else [])


def alert_matches(a, e, truth):
    """is alert a about truth event e?"""
    rule = a["rule"]["name"]
    src = a.get("source", {}).get("ip")
    t0, t1 = e["start"], e["stop"]
    overlaps = a["event"]["start"] <= t1 and a["event"]["end"] >= t0[:17]
    if e["type"] == "spike":
        dept = f"dept-{e['sensors'][0]}"
        srcs = a["ashiato"].get("sources", [src] if src else [])
        return (rule == "session_spike" and a["ashiato"].get("prefix") == dept and overlaps and
                bool(srcs) and all(_ip_in(s, e["source_net"]) for s in srcs))
    if src in _sources(e):
        if rule == "session_spike":
            srcs = a["ashiato"].get("sources", [])
            return bool(srcs) and srcs[0] in _sources(e)
        return True
    return False


def score(alerts, truth):
    """(precision, recall, per-event found flags, unmatched alerts)"""
    events = truth["events"]
    found = {}
    for e in events:
        srcs = _sources(e)
        if e["type"] == "vuln-scan":
            ok = [a for a in alerts if a["rule"]["name"] == "port_scan" and
                  a["source"]["ip"] in srcs and e["target_ips"][0] in a["destination"]["ip"]]
        elif e["type"] == "lateral":
            want_segs = {f"dept-{d}" for d in e["details"]["target_departments"]}
            want_sensors = {f"sensor-{d}" for d in e["sensors"]}
            lat = [a for a in alerts if a["rule"]["name"] == "lateral_movement" and
                   a["source"]["ip"] in srcs]
            ok = [a for a in lat if want_segs <= set(a["ashiato"]["segments"]) and
                  want_sensors <= set(a["observer"]["name"]) and
                  a["ashiato"]["successes"] >= 1 and a["ashiato"]["failures"] >= 1]
            ok = ok if len(lat) == 1 else []        # reported once
        elif e["type"] == "misconfig":
            ok = [a for a in alerts if a["rule"]["name"] == "address_policy" and
                  a["source"]["ip"] in srcs and
                  f"sensor-{e['sensors'][0]}" in a["observer"]["name"]]
        elif e["type"] == "spike":
            ok = [a for a in alerts if alert_matches(a, e, truth)]
        else:
            ok = []
        found[e["type"]] = bool(ok)
    unmatched = [a for a in alerts if not any(alert_matches(a, e, truth) for e in events)]
    precision = (len(alerts) - len(unmatched)) / len(alerts) if alerts else 1.0
    recall = sum(found.values()) / len(found) if found else 1.0
    return precision, recall, found, unmatched
