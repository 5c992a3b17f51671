"""test_detect_campus.py -- detection on campusgen's synthetic campus, offline: one campusgen run
per case (all events on), every sensor's pcap through the real ashiato-sensor, then
`ashiato detect` over all sensors' JSON with the campus's aggregator.ini; alerts are scored
against truth.json (detect_env.score: each event found, precision = alerts about some event /
all alerts). The vulnerability scan, the cross-segment lateral sweep (one alert naming every
segment and sensor), the spike (attributed to sources inside its department) and the
misconfiguration must be found; benign background alone raises nothing.

Targets: recall 1.0, precision >= 0.95, printed per run.
"""
import json
import subprocess
import sys

import pytest

from detect_env import SHARED_DIR, campus_config, campus_sessions, run_detect, score, stats

CAMPUSGEN = SHARED_DIR / "tools" / "campusgen.py"

RUNS = [
    ("seed1-rate20", ["--seed", "1", "--rate", "20"]),
    ("seed2-rate20", ["--seed", "2", "--rate", "20"]),
    ("seed3-rate20", ["--seed", "3", "--rate", "20"]),
    ("seed1-rate50", ["--seed", "1", "--rate", "50"]),
    ("seed2-rate50", ["--seed", "2", "--rate", "50"]),
    ("seed3-rate50", ["--seed", "3", "--rate", "50"]),
    ("campus10-8depts-vlan", ["--seed", "4", "--campus", "10.20.0.0/16", "--depts", "8",
                              "--vlan"]),
]


def generate(out, args):
    r = subprocess.run([sys.executable, str(CAMPUSGEN), "--out", str(out), "--quiet"] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads((out / "truth.json").read_text())


@pytest.mark.parametrize("name,args", RUNS, ids=[r[0] for r in RUNS])
def test_campus_events_found(tmp_path, name, args):
    truth = generate(tmp_path, args)
    files = campus_sessions(tmp_path)
    ini = campus_config(truth, tmp_path / "aggregator.ini")
    alerts, err = run_detect(files, config=ini)
    precision, recall, found, unmatched = score(alerts, truth)
    st = stats(err)
    print(f"{name}: records {st['records']} alerts {len(alerts)} "
          + " ".join(f"{k}={'found' if v else 'MISSED'}" for k, v in found.items())
          + f" precision {precision:.3f} recall {recall:.3f}")
    for a in alerts:
        print(f"  {a['rule']['name']:16} {a.get('source', {}).get('ip', '-'):15} "
              f"{a['message'][:160]}")
    assert not unmatched, "false positives: " + "; ".join(a["message"] for a in unmatched)
    assert recall == 1.0, f"missed: {[k for k, v in found.items() if not v]}"
    assert precision >= 0.95
    lat = [a for a in alerts if a["rule"]["name"] == "lateral_movement"]
    assert len(lat) == 1 and lat[0]["ashiato"]["evidence"]


def test_benign_background_raises_nothing(tmp_path):
    truth = generate(tmp_path, ["--seed", "5", "--events", "none"])
    files = campus_sessions(tmp_path)
    alerts, err = run_detect(files, config=campus_config(truth, tmp_path / "aggregator.ini"))
    print(f"benign only: records {stats(err)['records']}, alerts {len(alerts)}")
    assert alerts == [], [a["message"] for a in alerts]
