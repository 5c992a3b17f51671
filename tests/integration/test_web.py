"""test_web.py -- the analyst page (issue 12) end to end, in Debian's chromium driven by
playwright-core from npm (web_e2e.mjs), against a real aggregator (SQLite store, detection on
the campus's segments, the HTTP API) fed by six live sensors replaying campusgen traffic with
a misconfiguration, a port scan and a lateral sweep. The sensors keep serving their packets.

Steps (screenshots of each in <build>/test-artefacts/web/):
 1. log in with digest auth;  2. type the seed's expression: chart and rows;
 3. drag the chart to the scan minute, then its seconds: the scanner's sessions;
 4. the lateral-movement alert -> its evidence sessions in one click;
 5. one session's pcap and the alert's pcap, checked with tcpdump against the packet counts;
 6. the segment matrix: the lateral sweep's cell -> its sessions.
Also: a wrong expression's error at its position, an expired pcap's message, a wrong password
and no credentials show no data, keyboard focus is visible, no page-wide horizontal scroll at
1280x800 and 1920x1080, axe-core finds no serious or critical violation.
Needs: /usr/bin/chromium, npm (scripts/install-deps.sh --test); `npm ci` installs the pinned
playwright-core and axe-core into <build>/web-node (from npm's cache when offline)."""
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from datetime import datetime
from pathlib import Path

import pytest

import api_env as env

SOURCE_DIR = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE_DIR / "build")).resolve()
BIN = BUILD_DIR / "bin"
SHARED = (SOURCE_DIR / ".." / "shared").resolve()
CAMPUS = "198.18.0.0/16"
SEED = f"packets == 1 && ip.protocol == tcp && ip.src != {CAMPUS} && ip.dst != {CAMPUS}"
BAD = "packets == 1 && ip.protocol == tcp && ip.src !! 10.0.0.0/8"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.skipif(not (SHARED / "tools" / "campusgen.py").exists(), reason="campusgen not found"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (install-deps.sh --test)"),
    pytest.mark.skipif(not shutil.which("npm"), reason="no npm (install-deps.sh --test)"),
]


def node_modules():
    """npm ci of the pinned package.json/package-lock.json into the build tree."""
    d = BUILD_DIR / "web-node"
    d.mkdir(exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copy(SOURCE_DIR / f, d / f)
    stamp = d / "node_modules" / ".ashiato-lock"
    lock = (d / "package-lock.json").read_text()
    if not stamp.exists() or stamp.read_text() != lock:
        r = subprocess.run(["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=d,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        stamp.write_text(lock)
    return d / "node_modules"


def packets_in(pcap):
    r = subprocess.run(["tcpdump", "-nn", "-r", str(pcap)], capture_output=True, text=True)
    assert r.returncode == 0, f"tcpdump could not parse {pcap}: {r.stderr}"
    return len([ln for ln in r.stdout.splitlines() if ln.strip()])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("web")
    camp = work / "campus"
    subprocess.run([sys.executable, str(SHARED / "tools" / "campusgen.py"), "--out", str(camp),
                    "--duration", "150", "--events", "misconfig,scan,lateral", "--misconfig-at", "+20",
                    "--scan-at", "+50", "--scan-ports", "300", "--lateral-at", "+90", "--quiet"],
                   check=True, timeout=600)
    truth = json.loads((camp / "truth.json").read_text())
    ini = work / "aggregator.ini"
    scanner = [e for e in truth["events"] if e["type"] == "vuln-scan"][0]
    lines = ["[detect]", f"approved = {scanner['source_ip']}", "[segments]"]
    lines += [f"dept-{d} = {n}" for d, n in sorted(truth["departments"].items())]
    lines += [f"servers = {truth['server_segment']}", "[sensors]"]
    lines += [f"dept-{d} = dept-{d}" for d in sorted(truth["departments"])]
    ini.write_text("\n".join(lines) + "\n")
    users = work / "users"
    env.add_user(BIN / "ashiato", users, "alice", "secret")
    st = env.Stack(BIN, work / "run", sorted(camp.glob("sensor-*.pcap")), users,
                   extra_agg=["--detect-config", str(ini)])
    try:
        want = None
        for _ in range(600):             # every session the sensors wrote is stored, alerts too
            status, d = env.get_json(st.url, "/sessions.json", {"date": -1, "length": 0})
            try:                         # a sensor may be half-way through a line
                total = sum(len(st.sessions(n)) for n in st.sensors) if all(
                    (st.work / n / "sessions.json").exists() for n in st.sensors) else -1
            except ValueError:
                total = -1
            _, a = env.get_json(st.url, "/alerts.json", {"date": -1, "length": 500})
            lateral = [x for x in (a or {}).get("data", []) if x["rule"]["name"] == "lateral_movement"]
            if status == 200 and d["recordsTotal"] == total and total > 0 and lateral:
                if want == total:
                    break
                want = total
            time.sleep(0.5)
        else:
            pytest.fail("sessions or alerts never all arrived:\n" + st.logs()[-3000:])
        st.truth = truth
        yield st
    finally:
        st.close()
        assert env.no_sanitizer_report(st.logs()), st.logs()[-5000:]


def test_page_end_to_end(stack):
    truth = stack.truth
    out = BUILD_DIR / "test-artefacts" / "web"
    out.mkdir(parents=True, exist_ok=True)
    scan = [e for e in truth["events"] if e["type"] == "vuln-scan"][0]
    lateral = [e for e in truth["events"] if e["type"] == "lateral"][0]
    everything = stack.all_sessions()
    campus = ipaddress.ip_network(CAMPUS)
    seed_want = [d for d in everything if d["network"].get("packets") == 1 and
                 d["network"].get("transport") == "tcp" and
                 ipaddress.ip_address(d["source"]["ip"]) not in campus and
                 ipaddress.ip_address(d["destination"]["ip"]) not in campus]
    # an expired pcap: dept-6's packet files go away (the sensor answers EXPIRED)
    expired = [d for d in everything if d["observer"]["name"] == "dept-6"][0]
    gone = stack.work / "dept-6" / "pcap-expired"
    gone.mkdir()
    for f in (stack.work / "dept-6" / "pcap").glob("*.pcap"):
        f.rename(gone / f.name)
    to_ms = lambda t: int(round(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000))
    lat_dept = lateral["details"]["target_departments"][0]
    cfg = {
        "url": stack.url, "user": "alice", "password": "secret", "out": str(out),
        "nodeModules": str(node_modules()), "seed": SEED, "badExpr": BAD,
        "scanStartMs": to_ms(scan["start"]), "scanStopMs": to_ms(scan["stop"]),
        "lateralSrc": lateral["source_ip"],
        "lateralSrcSeg": "dept-" + lateral["source_ip"].split(".")[2],
        "lateralDstSeg": f"dept-{lat_dept}", "expiredId": expired["ashiato"]["session_id"],
    }
    r = subprocess.run(["node", str(Path(__file__).with_name("web_e2e.mjs")), json.dumps(cfg)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in res.items() if k not in ("screenshots", "focusRing")}, indent=1)[:6000])

    # 1. digest login, the page under a strict CSP
    assert res["loginStatus"] == 200
    assert "default-src 'self'" in res["csp"] and "unsafe-inline" not in res["csp"]
    # 2. the seed's expression: the brute-force count, every row in the chart and the table
    assert len(seed_want) > 0
    assert res["seedRows"] == min(len(seed_want), 50), (res["seedRows"], len(seed_want))
    assert res["seedCaption"].startswith(f"{len(seed_want)} matching")
    assert res["seedBars"] >= 1
    assert all(not ipaddress.ip_address(s.split(":")[0]) in campus for s in res["seedSrcs"])
    hash_state = urllib.parse.parse_qs(res["hashAfterSeed"].lstrip("#"))
    assert hash_state["expression"] == [SEED] and hash_state["date"] == ["-1"]   # state in the URL
    assert "ip.protocol" in res["completions"] and res["completed"].startswith("ip.protocol ")
    # 3. two drags: the minute, then the scan's seconds; the scanner fills the page
    assert "startTime=" in res["zoom1"] and res["zoom1"] != res["zoom2"]
    scanner_rows = [s for s in res["zoomSrcs"] if s.startswith(scan["source_ip"] + ":")]
    assert len(scanner_rows) >= len(res["zoomSrcs"]) // 2 > 0, res["zoomSrcs"]
    assert res["afterZoomOut"] == res["zoom1"]                  # one click back out
    # 4. alerts: the lateral one reached in one click, the approved scanner marked
    assert "lateral_movement" in res["alertRules"] and "approved" in res["approved"]
    assert res["filteredAlerts"] >= 1
    assert res["evidenceRows"] >= 1 and res["evidenceExpr"].startswith("id == [")
    assert all(s.startswith(lateral["source_ip"] + ":") for s in res["evidenceSrcs"])
    # 5. the pcaps parse and hold what the documents say
    n_session = packets_in(res["sessionPcap"])
    assert n_session == res["sessionPackets"] > 0
    ids = res["evidenceExpr"][len("id == ["):-1].split(",")
    status, d = env.get_json(stack.url, "/sessions.json", {"date": -1, "length": 1000,
                             "expression": res["evidenceExpr"], "fields": "network.packets"})
    want_alert = sum(x["network"]["packets"] for x in d["data"])
    assert status == 200 and len(d["data"]) == len(ids)
    n_alert = packets_in(res["alertPcap"])
    print(f"session pcap {n_session} packets (doc {res['sessionPackets']}); alert pcap {n_alert} "
          f"packets from {len(ids)} evidence sessions (docs {want_alert})")
    assert n_alert == want_alert > 0
    # 6. the matrix cell of the sweep, then its sessions
    assert "sessions" in res["matrixCell"] and "failed" in res["matrixCell"], res["matrixCell"]
    assert f"from {cfg['lateralSrcSeg']} to {cfg['lateralDstSeg']}" in res["matrixCellName"]
    assert f"ip.src == 198.18.{cfg['lateralSrcSeg'][5:]}.0/24" in res["matrixExpr"]
    assert int(res["matrixCaption"].split()[0]) > 0
    # a wrong expression: the caret under the API's position (the "!!")
    assert res["badPosition"] == BAD.index("!!"), res["badPosition"]
    assert "At character" in res["badMessage"]
    # an expired pcap: a clear message, nothing downloaded
    assert "expired" in res["expiredMsg"].lower() and res["expiredDownloads"] == 0
    # keyboard: the skip link first, a visible ring on every focused control, dialog by keys
    assert res["firstTab"] == "Skip to results"
    assert all(f["style"] != "none" and f["width"] >= 2 for f in res["focusRing"]), res["focusRing"]
    assert res["dialogFocus"] == "session-close" and res["dialogClosed"]
    for k, v in res["layout"].items():
        assert v["scroll"] <= v["client"], (k, v)
    serious = {view: [v for v in vs if v["impact"] in ("serious", "critical")]
               for view, vs in res["axe"].items()}
    assert not any(serious.values()), serious
    assert res["pageErrors"] == [], res["pageErrors"]
    # no data without the right credentials
    for name in ("wrongPassword", "loggedOut"):
        assert (res[name]["status"] == 401 or "ERR_INVALID_AUTH_CREDENTIALS" in res[name]["navError"]) \
            and res[name]["api"] == 401, res[name]
        assert res[name]["rows"] == 0 and not res[name]["hasAddresses"], res[name]
