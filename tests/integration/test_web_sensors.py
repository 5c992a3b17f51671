"""test_web_sensors.py -- the page's sensor side (issue 12) in Debian's chromium driven by
playwright-core (web_sensors.mjs), against a real aggregator (SQLite store) fed by three live
sensors that replay campusgen traffic of the last two minutes and keep serving their packets
(stats every 500 ms).

Checks (screenshots in <build>/test-artefacts/web-sensors/):
 - a sensor stopped mid-run: sensors/history.json has a down interval from its last stats
   sample to now, the others none; the chart shades it (a band named after the sensor, in
   the legend and in the list under the chart);
 - the Sensors panel shows each sensor's oldest kept packet, equal to the earliest first_us
   of the files its pcap catalogue has not expired;
 - stacked by sensor, the chart has one series per sensor whose total equals sessions.json's
   count for `node == <sensor>` in the same range;
 - an alert expression's error is shown under the alert filter box;
 - axe-core finds no serious or critical violation with the shading, the stacking and the
   alert filter on screen.
Needs: /usr/bin/chromium, npm (scripts/install-deps.sh --test)."""
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import api_env as env
from test_web import BIN, BUILD_DIR, CHROMIUM, SHARED, node_modules

pytestmark = [
    pytest.mark.skipif(not (SHARED / "tools" / "campusgen.py").exists(), reason="campusgen not found"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (install-deps.sh --test)"),
    pytest.mark.skipif(not shutil.which("npm"), reason="no npm (install-deps.sh --test)"),
]
STOPPED = "dept-3"
BAD_ALERT = "ip.src == 198.18.3.7 &&& ip.dst == 198.18.100.10"   # a syntax error at "&&&"


def catalogue_oldest(pcap_dir):
    """The earliest first_us of the files the catalogue has not expired (last line per id
    wins, as pcap_catalog.c replays it)."""
    files = {}
    for ln in (pcap_dir / "catalogue").read_text().splitlines():
        kv = dict(w.split("=", 1) for w in ln.split()[1:] if "=" in w)
        if ln.startswith("file ") and "id" in kv:
            files[kv["id"]] = kv
    firsts = [int(f["first_us"]) for f in files.values()
              if f.get("state") != "expired" and int(f.get("first_us", 0)) > 0]
    return min(firsts)


def stats_sensors(st):
    status, s = env.get_json(st.url, "/stats.json")
    assert status == 200, s
    return {d["sensor"]: d for d in s["data"]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("web-sensors")
    camp = work / "campus"
    start = (datetime.now(timezone.utc) - timedelta(seconds=150)).strftime("%Y-%m-%dT%H:%M:%SZ")
    subprocess.run([sys.executable, str(SHARED / "tools" / "campusgen.py"), "--out", str(camp),
                    "--sensors", "2,3,6", "--duration", "120", "--rate", "10", "--events", "scan",
                    "--scan-at", "+40", "--scan-ports", "200", "--start", start, "--quiet"],
                   check=True, timeout=600)
    users = work / "users"
    env.add_user(BIN / "ashiato", users, "alice", "secret")
    st = env.Stack(BIN, work / "run", sorted(camp.glob("sensor-*.pcap")), users)
    try:
        want = None
        for _ in range(600):             # every session the sensors wrote is stored
            status, d = env.get_json(st.url, "/sessions.json", {"date": -1, "length": 0})
            try:
                total = sum(len(st.sessions(n)) for n in st.sensors)
            except ValueError:
                total = -1
            stats = stats_sensors(st)
            if status == 200 and d["recordsTotal"] == total > 0 and len(stats) == 3 and all(
                    x["oldest_packet_us"] > 0 for x in stats.values()):
                if want == total:
                    break
                want = total
            time.sleep(0.5)
        else:
            pytest.fail("sessions or stats never all arrived:\n" + st.logs()[-3000:])
        yield st
    finally:
        st.close()
        assert env.no_sanitizer_report(st.logs()), st.logs()[-5000:]


def test_sensor_stats_on_the_page(stack):
    out = BUILD_DIR / "test-artefacts" / "web-sensors"
    out.mkdir(parents=True, exist_ok=True)
    # a sensor stopped mid-run: its stats stop; three 500 ms intervals later it is down
    before = stats_sensors(stack)
    stack.stop_sensor(STOPPED)
    stopped_ms = int(time.time() * 1000)
    time.sleep(4)
    status, h = env.get_json(stack.url, "/sensors/history.json", {"date": 1})
    assert status == 200, h
    hist = {x["name"]: x for x in h["sensors"]}
    print("history:", json.dumps({n: {k: x[k] for k in ("samples", "intervalMs", "lastSeen",
                                                        "down", "dropping")}
                                  for n, x in hist.items()}))
    gone = hist[STOPPED]
    assert gone["intervalMs"] == 500 and gone["samples"] >= 2, gone
    assert len(gone["down"]) == 1, gone
    down_from, down_to = gone["down"][0]
    assert down_from == gone["lastSeen"] and stopped_ms - 2000 <= down_from <= stopped_ms + 1000, \
        (gone, stopped_ms)
    assert down_to >= stopped_ms + 3000, (gone, stopped_ms)
    for name, x in hist.items():
        if name != STOPPED:
            assert x["down"] == [] and x["samples"] >= 2, x

    # per-sensor counts in the range the page will show (the last hour)
    counts = {}
    for name in stack.sensors:
        status, d = env.get_json(stack.url, "/sessions.json", {"date": 1, "length": 0,
                                                               "expression": f"node == {name}"})
        assert status == 200, d
        counts[name] = d["recordsFiltered"]
    oldest = {name: catalogue_oldest(stack.work / name / "pcap") for name in stack.sensors}
    cfg = {"url": stack.url, "user": "alice", "password": "secret", "out": str(out),
           "nodeModules": str(node_modules()), "stopped": STOPPED,
           "badAlertExpr": BAD_ALERT}
    r = subprocess.run(["node", str(Path(__file__).with_name("web_sensors.mjs")), json.dumps(cfg)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in res.items() if k != "screenshots"}, indent=1)[:6000])

    # the chart shades the stopped sensor's down time, named after it; no other sensor's
    bands = res["shades"]
    assert [b for b in bands if b["sensor"] == STOPPED and b["kind"] == "down"], bands
    assert all(b["sensor"] == STOPPED for b in bands if b["kind"] == "down"), bands
    band = [b for b in bands if b["sensor"] == STOPPED][0]
    assert band["from"] == down_from and band["width"] >= 2, band
    assert any(f"{STOPPED} down" in t for t in res["shadeTitles"]), res["shadeTitles"]
    assert any(f"{STOPPED} down" in t for t in res["shadeList"]), res["shadeList"]
    assert any(f"{STOPPED} down" in t for t in res["legend"]), res["legend"]
    assert STOPPED in res["chartCaption"] and "Down:" in res["chartCaption"], res["chartCaption"]
    # the Sensors panel: the oldest kept packet is the catalogue's, for every sensor
    print("oldest kept packet, page vs catalogue:", {n: (res["oldest"].get(n), oldest[n]) for n in oldest})
    for name, us in oldest.items():
        assert res["oldest"][name]["us"] == us, (name, res["oldest"][name], us)
        text = datetime.fromtimestamp(us / 1e6, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        assert res["oldest"][name]["text"].startswith(text + " UTC"), (res["oldest"][name], text)
        assert before[name]["oldestPacket"].replace("T", " ").startswith(text), before[name]
    assert res["sensorRows"] == 3
    assert res["sensorsLastSeen"][STOPPED]["bad"], res["sensorsLastSeen"]
    # stacked by sensor: one series per sensor, each as many sessions as sessions.json counts
    print("stacked series totals vs sessions.json per sensor:", res["series"], counts)
    assert res["series"] == {n: c for n, c in counts.items() if c}, (res["series"], counts)
    assert "stack=sensor" in res["hashAfterStack"]
    assert res["stackBars"] >= len(res["series"])
    # the alert filter: a wrong expression shows an error under the box, no alerts
    assert res["alertError"], res
    if res["alertErrorPosition"] is not None:     # an aggregator that filters alerts
        status, e = env.get_json(stack.url, "/sessions.json", {"expression": BAD_ALERT})
        assert status == 400 and res["alertErrorPosition"] == e["position"], (res, e)
    assert res["alertRows"] == 0 and "aexpr=" in res["hashAfterAlert"]
    # accessibility: no serious or critical violation on any of these views
    serious = {view: [v for v in vs if v["impact"] in ("serious", "critical")]
               for view, vs in res["axe"].items()}
    assert not any(serious.values()), serious
    assert res["pageErrors"] == [], res["pageErrors"]
