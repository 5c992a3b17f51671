"""test_rollout.py -- rolling ashiato out with its .debs and Ansible roles to real hosts.

Lint and syntax: ansible-lint --profile production on ansible/ and ansible-playbook
--syntax-check, with pinned Ansible and ansible-lint from PyPI (a cached venv).
Packages: the .debs CPack makes from this build (Depends, conffiles, units, maintainer scripts).
A real run (issue 13): one aggregator and three sensors on two campuses, each a Debian 12
container booted by systemd-nspawn (overlay of one cached root, its own network namespace, a
bridge in a namespace the test makes), reached by Ansible through community.docker.nsenter:
site.yml installs the .debs; every unit is active; campusgen traffic replayed with tcpreplay on
each sensor's capture interface arrives in the aggregator's store; one session's packets come
back through the aggregator's packet endpoint (`ashiato pcap`); a second run changes nothing;
the inventory's segments are the aggregator's detection map (an address policy alert names
them) and a change of them reloads it without a restart; a fourth sensor changes only itself,
the allow-list and the segments map; removing it makes the aggregator refuse it; an upgrade to
N+1 (built from this tree with another version, which its binaries print) through site.yml
runs N+1 everywhere and loses and duplicates no session. Session counts are exact: the store
holds each offline session of every replay once (same flows), nothing else.
What cannot run here is skipped by name with the reason (no root, no nspawn, no network for
the root or the venv); nothing passes in silence. Nothing is mocked.
"""
import collections
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rollout_env as re_  # noqa: E402

SOURCE = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE / "build")).resolve()
SHARED = Path(os.environ.get("ASHIATO_SHARED_DIR", SOURCE.parent / "shared")).resolve()
ANSIBLE = SOURCE / "ansible"
# sensor settings for the lab: sessions close quickly so the store fills within seconds
LAB_SENSOR_SETTINGS = {"tcp_timeout": 8, "udp_timeout": 4, "icmp_timeout": 4, "other_timeout": 4,
                       "tcp_close_timeout": 3, "batch_ms": 300, "buffer_size": "8M",
                       "pcap_ring_size": "8M", "pcap_index_chunks": 65536, "max_sessions": 100000,
                       "app_fields_max": 4096}
SENSORS = {"s1": ("campus_a", 1), "s2": ("campus_a", 2), "s3": ("campus_b", 3), "s4": ("campus_b", 1)}


@pytest.fixture(scope="module")
def venv():
    try:
        return re_.ansible_venv()
    except Exception as e:   # no PyPI: say so, skip what needs Ansible
        pytest.skip(f"pinned Ansible venv could not be made ({e}); lint, syntax check and the "
                    "real run need it")


def run_ansible(venv, argv, cwd, env=None, timeout=900):
    e = dict(os.environ, PATH=f"{venv}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1",
             ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_RETRY_FILES_ENABLED="0",
             ANSIBLE_LOCAL_TEMP=str(Path(cwd) / ".ansible-tmp"), PYTHONWARNINGS="ignore")
    e.update(env or {})
    return subprocess.run([str(venv / argv[0]), *map(str, argv[1:])], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def test_ansible_lint_production(venv):
    r = run_ansible(venv, ["ansible-lint", "--offline", "--profile", "production", "--nocolor"], ANSIBLE)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "Profile 'production' was required, and it passed" in out, out[-2000:]
    print("\nansible-lint:", [ln for ln in out.splitlines() if "passed" in ln][-1].strip())


def test_ansible_syntax_check(venv):
    r = run_ansible(venv, ["ansible-playbook", "--syntax-check", "-i", "inventory/example", "site.yml"],
                    ANSIBLE)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "playbook: site.yml" in r.stdout


def make_debs(outdir, version=None):
    """cpack -G DEB from this build into outdir (optionally at another package version)."""
    argv = ["cpack", "-G", "DEB", "-B", str(outdir)]
    if version:
        argv += ["-D", f"CPACK_PACKAGE_VERSION={version}"]
    r = subprocess.run(argv, cwd=BUILD, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    shutil.rmtree(Path(outdir) / "_CPack_Packages", ignore_errors=True)
    return sorted(Path(outdir).glob("*.deb"))


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    if not shutil.which("cpack") or not shutil.which("dpkg-deb"):
        pytest.skip("cpack or dpkg-deb missing: cannot make the .debs")
    out = tmp_path_factory.mktemp("debs")
    return out, make_debs(out)


def project_version():
    for line in (SOURCE / "CMakeLists.txt").read_text().splitlines():
        if line.startswith("project(ashiato VERSION"):
            return line.split()[2]
    raise AssertionError("no project(ashiato VERSION x) in CMakeLists.txt")


def test_packages_contents(debs):
    out, files = debs
    v = project_version()
    names = sorted(p.name for p in files)
    assert names == [f"ashiato-aggregator_{v}_amd64.deb", f"ashiato-cli_{v}_amd64.deb",
                     f"ashiato-sensor_{v}_amd64.deb"], names

    def field(deb, f):
        return subprocess.run(["dpkg-deb", "-f", str(out / deb), f], capture_output=True, text=True).stdout.strip()

    def contents(deb):
        return subprocess.run(["dpkg-deb", "-c", str(out / deb)], capture_output=True, text=True).stdout

    for comp, libs in (("sensor", ("libpcap0.8", "libzmq5", "libprotobuf-c1", "libinih1", "adduser")),
                       ("aggregator", ("libzmq5", "libsqlite3-0", "libcurl4", "adduser"))):
        deb = f"ashiato-{comp}_{v}_amd64.deb"
        dep = field(deb, "Depends")
        for lib in libs:
            assert lib in dep, f"{deb}: Depends lacks {lib}: {dep}"
        c = contents(deb)
        for path in (f"./usr/bin/ashiato-{comp}", f"./etc/ashiato/{comp}.ini",
                     f"./lib/systemd/system/ashiato-{comp}.service"):
            assert path in c, f"{deb}: no {path}"
        ctl = subprocess.run(f"dpkg-deb --ctrl-tarfile {out / deb} | tar -t", shell=True,
                             capture_output=True, text=True).stdout
        for member in ("postinst", "prerm", "postrm", "conffiles"):
            assert member in ctl, f"{deb}: control lacks {member}"
        conff = subprocess.run(f"dpkg-deb --ctrl-tarfile {out / deb} | tar -xO ./conffiles", shell=True,
                               capture_output=True, text=True).stdout
        assert f"/etc/ashiato/{comp}.ini" in conff
    assert "./usr/bin/ashiato" in contents(f"ashiato-cli_{v}_amd64.deb")
    # `ashiato` dlopens libcurl (cli/api_client.h): dpkg-shlibdeps cannot see it, so it is stated
    cli_dep = field(f"ashiato-cli_{v}_amd64.deb", "Depends")
    assert "libcurl4" in cli_dep, f"ashiato-cli: Depends lacks libcurl4: {cli_dep}"
    print(f"\npackages: {', '.join(names)}; sensor Depends: {field(f'ashiato-sensor_{v}_amd64.deb', 'Depends')}")


def offline_flows(pcap):
    """Counter of (transport, src ip, src port, dst ip, dst port) of the offline sessions."""
    r = subprocess.run([str(BUILD / "bin" / "ashiato-sensor"), "--read", str(pcap), "--emit-json", "-"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = collections.Counter()
    for line in r.stdout.splitlines():
        j = json.loads(line)
        out[(j["network"]["transport"], j["source"]["ip"], str(j["source"].get("port", 0)),
             j["destination"]["ip"], str(j["destination"].get("port", 0)))] += 1
    return out


# ---- the real run ---------------------------------------------------------------------------

def _why_no_lab():
    if os.geteuid() != 0:
        return "not root: nspawn containers, overlay mounts and namespaces need root"
    for tool in ("systemd-nspawn", "nsenter", "tcpreplay", "ip"):
        if not shutil.which(tool):
            return f"{tool} is not installed (scripts/install-deps.sh --test installs it)"
    if not SHARED.joinpath("tools", "campusgen.py").exists():
        return f"{SHARED}/tools/campusgen.py not found (../shared next to the source tree)"
    return None


def offline_sessions(pcap):
    """How many sessions the sensor makes of a capture (offline, default timeouts)."""
    r = subprocess.run([str(BUILD / "bin" / "ashiato-sensor"), "--read", str(pcap), "--emit-json",
                        "/dev/null", "--stats"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for line in r.stderr.splitlines():
        if line.startswith("sessions: "):
            return int(line.split()[1])
    raise AssertionError(f"no sessions line: {r.stderr}")


class Rollout:
    """The lab, its inventory and the campusgen captures."""

    def __init__(self, lab, venv, tmp, debdir, version, pcaps):
        self.lab, self.venv, self.tmp = lab, venv, tmp
        self.debdir, self.version, self.pcaps = debdir, version, pcaps
        self.expected = {s: offline_sessions(p) for s, p in pcaps.items()}
        self.flows = {s: offline_flows(p) for s, p in pcaps.items()}
        self.replays = {s: 0 for s in pcaps}
        self.sent = {s: 0 for s in pcaps}          # sessions the store must hold, per sensor
        self.injected = {s: [] for s in pcaps}     # flows sent besides the replays
        self.extra_space = {}                      # sensor: more address space (the reload test)

    def inventory(self, sensors):
        lines = ["all:", "  vars:", "    ansible_connection: community.docker.nsenter",
                 "    ansible_python_interpreter: /usr/bin/python3",
                 "    ansible_become: false",      # nsenter enters as root; no sudo inside
                 f"    ashiato_version: '{self.version}'", f"    ashiato_deb_dir: {self.debdir}",
                 f"    ashiato_public_keys_dir: {self.tmp / 'public-keys'}",
                 "    ashiato_sensor_interface: cap0",
                 f"    ashiato_sensor_settings: {LAB_SENSOR_SETTINGS!r}".replace("'", '"'),
                 "  children:"]
        groups = {"aggregators": ["agg1"], "sensors": sensors,
                  "campus_a": ["agg1"] + [s for s in sensors if SENSORS[s][0] == "campus_a"],
                  "campus_b": [s for s in sensors if SENSORS[s][0] == "campus_b"]}
        for g, members in groups.items():
            lines.append(f"    {g}:")
            lines.append("      hosts:" + ("" if members else " {}"))
            for m in members:
                h = self.lab.hosts[m]
                lines.append(f"        {m}:")
                lines.append(f"          ansible_nsenter_pid: {h.pid}")
                if m == "agg1":
                    lines.append(f"          ashiato_aggregator_address: {h.address}")
                else:
                    seg = SENSORS[m][1]
                    lines.append(f"          ashiato_sensor_segment: dept{seg}")
                    space = [f"198.18.{seg}.0/24"] + self.extra_space.get(m, [])
                    lines.append(f"          ashiato_sensor_address_space: {space!r}")
                    lines.append(f"          ashiato_sensor_pcap_max_age_days: {seg}")
        path = self.tmp / "inventory.yml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def site(self, sensors, what):
        t0 = time.monotonic()
        r = run_ansible(self.venv, ["ansible-playbook", "-i", self.inventory(sensors), ANSIBLE / "site.yml"],
                        self.tmp, env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                                       "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
        (self.tmp / f"site-{what}.json").write_text(r.stdout)
        if r.returncode != 0:
            logs = "".join(f"--- {n} {u}:\n{h.journal(u)[-1500:]}\n" for n, h in self.lab.hosts.items()
                           if h.pid and h.proc.poll() is None
                           for u in ("ashiato-aggregator", "ashiato-sensor"))
            failed = [ln for ln in r.stdout.splitlines() if '"msg"' in ln]
            pytest.fail(f"site.yml ({what}) failed: {failed[-5:]}\n{r.stderr[-2000:]}\n{logs}")
        doc, stats = re_.recap(r.stdout)
        changed = re_.changed_tasks(doc)
        print(f"\nsite.yml {what}: {time.monotonic() - t0:.1f} s, changed="
              f"{ {h: s['changed'] for h, s in sorted(stats.items())} }")
        return stats, changed

    def replay(self, sensor):
        h = self.lab.hosts[sensor]
        r = re_.sh("ip", "netns", "exec", h.ns, "tcpreplay", "-q", "-i", "feed0", "--mbps", "50",
                   self.pcaps[sensor], timeout=300)
        self.replays[sensor] += 1
        self.sent[sensor] += self.expected[sensor]
        return r

    def inject(self, sensor, flows):
        """Send UDP flows (src, dst) on a sensor's capture link: one session each."""
        h = self.lab.hosts[sensor]
        n = sum(len(v) for v in self.injected.values())
        pcap = re_.udp_pcap(self.tmp / f"inject-{sensor}-{n}.pcap", flows, sport=41000 + n)
        re_.sh("ip", "netns", "exec", h.ns, "tcpreplay", "-q", "-i", "feed0", pcap, timeout=60)
        self.injected[sensor] += flows
        self.sent[sensor] += len(flows)

    def stored_flows(self, sensor):
        code = ("import sqlite3;c=sqlite3.connect('file:/var/lib/ashiato/store/sessions.db?mode=ro',"
                "uri=True,timeout=30);print('\\n'.join(' '.join(map(str,r)) for r in c.execute("
                f"\"SELECT transport,src_ip,src_port,dst_ip,dst_port FROM sessions WHERE sensor='{sensor}'\")))")
        out = self.lab.hosts["agg1"].run("python3", "-c", code).stdout
        return collections.Counter(tuple("0" if f == "None" else f for f in ln.split())
                                   for ln in out.splitlines() if ln.strip())

    def flow_diff(self, sensor):
        """What the store holds of a sensor beyond / short of its replays' offline flows."""
        want = collections.Counter()
        for _ in range(self.replays[sensor]):
            want.update(self.flows[sensor])
        for i, (src, dst) in enumerate(self.injected[sensor]):
            want[("udp", src, None, dst, None)] += 1
        got = self.stored_flows(sensor)
        for k in [k for k in want if k[2] is None]:         # injected: any ports
            for g in [g for g in got if (g[0], g[1], g[3]) == (k[0], k[1], k[3])]:
                got[k] += got.pop(g)
        return {"extra": dict(got - want), "missing": dict(want - got)}

    def alerts(self):
        code = ("import sqlite3;c=sqlite3.connect('file:/var/lib/ashiato/store/sessions.db?mode=ro',"
                "uri=True,timeout=30);print('\\n'.join(d for (d,) in c.execute('SELECT doc FROM alerts')))")
        r = self.lab.hosts["agg1"].run("python3", "-c", code, check=False)
        return [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]

    def wait_alert(self, sensor, prefix, timeout=90):
        """The address_policy alert of sensor and prefix, once stored."""
        deadline = time.monotonic() + timeout
        while True:
            for a in self.alerts():
                if (a["rule"]["name"], a["ashiato"].get("prefix"), a["observer"]["name"]) == \
                        ("address_policy", prefix, [sensor]):
                    return a
            assert time.monotonic() < deadline, (
                f"no address_policy alert {prefix!r} at {sensor}: "
                f"{[(a['rule']['name'], a['ashiato'].get('prefix'), a['observer']['name']) for a in self.alerts()]}\n"
                + self.logs(["agg1"]))
            time.sleep(1)

    def store_counts(self):
        """{sensor: (rows, distinct ids)} from the aggregator's SQLite store."""
        code = ("import sqlite3;c=sqlite3.connect('file:/var/lib/ashiato/store/sessions.db?mode=ro',"
                "uri=True,timeout=30);print('\\n'.join(f'{s} {n} {d}' for s,n,d in c.execute("
                "'SELECT sensor,count(*),count(DISTINCT id) FROM sessions GROUP BY sensor')))")
        r = self.lab.hosts["agg1"].run("python3", "-c", code, check=False)
        if r.returncode != 0:
            self.store_error = r.stderr[-500:]
            return {}
        return {ln.split()[0]: (int(ln.split()[1]), int(ln.split()[2])) for ln in r.stdout.split("\n") if ln.strip()}

    def logs(self, hosts):
        return "".join(f"--- {n}:\n{self.lab.hosts[n].journal(u)[-1500:]}\n" for n in hosts
                       for u in (("ashiato-aggregator",) if n == "agg1" else ("ashiato-sensor",)))

    def wait_stored(self, want, timeout=120):
        """Wait until the store holds want[sensor] rows of each sensor; return the counts."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.store_counts()
            if all(got.get(s, (0, 0))[0] >= n for s, n in want.items()):
                return got
            if time.monotonic() > deadline:
                return got
            time.sleep(1)


@pytest.fixture(scope="module")
def rollout(venv, debs, tmp_path_factory, request):
    why = _why_no_lab()
    if why:
        pytest.skip(f"real rollout run cannot run here: {why}")
    try:
        root = re_.debian_root()
    except Exception as e:
        pytest.skip(f"real rollout run cannot run here: the Debian 12 root could not be made ({e})")
    tmp = tmp_path_factory.mktemp("rollout")
    debdir, _ = debs
    gen = tmp / "campusgen"
    subprocess.run([sys.executable, str(SHARED / "tools" / "campusgen.py"), "--out", str(gen), "--depts", "3",
                    "--hosts", "10", "--rate", "20", "--duration", "20", "--seed", "13", "--quiet"],
                   check=True, timeout=300)
    pcaps = {"s1": gen / "sensor-1.pcap", "s2": gen / "sensor-2.pcap", "s3": gen / "sensor-3.pcap",
             "s4": gen / "sensor-1.pcap"}
    tag = "ar" + uuid.uuid4().hex[:5]
    lab = re_.Lab(root, tmp / "hosts", tag)
    request.addfinalizer(lab.close)
    t0 = time.monotonic()
    lab.add("agg1")
    for s in ("s1", "s2", "s3", "s4"):
        lab.add(s, capture=True)
    for h in lab.hosts.values():
        lab.wait_booted(h)
    print(f"\nlab {tag}: 5 containers booted in {time.monotonic() - t0:.1f} s from {root}")
    return Rollout(lab, venv, tmp, debdir, project_version(), pcaps)


def test_real_rollout_site_units_traffic_pcap(rollout):
    lab = rollout.lab
    stats, _ = rollout.site(["s1", "s2", "s3"], "first")
    assert all(stats[h]["failures"] == 0 and stats[h]["unreachable"] == 0 for h in stats)
    agg = lab.hosts["agg1"]
    assert agg.unit("ashiato-aggregator.service", "ActiveState") == "active", agg.journal("ashiato-aggregator")
    for s in ("s1", "s2", "s3"):
        h = lab.hosts[s]
        assert h.unit("ashiato-sensor.service", "ActiveState") == "active", h.journal("ashiato-sensor")
        assert h.run("dpkg-query", "-W", "-f=${Version}", "ashiato-sensor").stdout == rollout.version
        # own user, only the two capabilities, the secret key never left the host
        assert h.unit("ashiato-sensor.service", "User") == "ashiato-sensor"
        caps = h.unit("ashiato-sensor.service", "AmbientCapabilities")
        assert set(caps.split()) == {"cap_net_raw", "cap_net_admin"}, caps
        link = h.run("ip", "-o", "link", "show", "cap0").stdout
        assert "PROMISC" in link, link
        features = h.run("ethtool", "-k", "cap0").stdout
        for f in ("generic-receive-offload", "tcp-segmentation-offload", "generic-segmentation-offload"):
            assert f"{f}: off" in features, features
        assert not (rollout.tmp / "public-keys" / f"sensor-{s}").exists()
    keys = sorted(p.name for p in (rollout.tmp / "public-keys").iterdir())
    assert keys == ["aggregator-agg1.pub", "sensor-s1.pub", "sensor-s2.pub", "sensor-s3.pub"], keys
    assert all("secret" not in p.read_text() for p in (rollout.tmp / "public-keys").iterdir())
    assert agg.unit("ashiato-aggregator.service", "User") == "ashiato-aggregator"
    # systemd's own view of the sandbox (README "Rollout" records these figures)
    for h, unit in ((lab.hosts["s1"], "ashiato-sensor.service"), (agg, "ashiato-aggregator.service")):
        out = h.run("systemd-analyze", "security", "--no-pager", unit, check=False).stdout
        level = [ln for ln in out.splitlines() if "Overall exposure level" in ln]
        assert level, out[-2000:]
        score = float(level[0].split(":")[1].split()[0])
        assert score < 5.0, f"{unit}: exposure {score} (systemd-analyze security):\n{out}"
        print(f"systemd-analyze security {unit}: {level[0].split(':', 1)[1].strip()}")

    for s in ("s1", "s2", "s3"):
        rollout.replay(s)
    want = {s: rollout.sent[s] for s in ("s1", "s2", "s3")}
    rollout.wait_stored(want)
    time.sleep(3)                      # anything late would show up now
    got = rollout.store_counts()
    print(f"traffic: offline {want}, stored {got}")
    if os.environ.get("ASHIATO_ROLLOUT_HOLD") and any(got.get(s, (0, 0))[0] != n for s, n in want.items()):
        print(f"holding the lab: {[(n, h.pid) for n, h in lab.hosts.items()]}", flush=True)
        time.sleep(int(os.environ["ASHIATO_ROLLOUT_HOLD"]))
    for s, n in want.items():
        # live, each offline session once: same count, same flows
        assert got.get(s, (0, 0)) == (n, n) and rollout.flow_diff(s) == {"extra": {}, "missing": {}}, (
            f"{s}: offline {n} sessions, store has {got.get(s)} {getattr(rollout, 'store_error', '')}; "
            f"flows {rollout.flow_diff(s)}\n" + rollout.logs(["agg1", "s1", "s2", "s3"]))

    # one session's packets through the aggregator's packet endpoint
    code = ("import sqlite3;c=sqlite3.connect('file:/var/lib/ashiato/store/sessions.db?mode=ro',uri=True);"
            "print(*c.execute(\"SELECT start_us,end_us,src_ip,src_port,dst_ip,dst_port,packets FROM sessions "
            "WHERE sensor='s2' AND transport='tcp' AND packets>=6 ORDER BY packets DESC LIMIT 1\").fetchone())")
    start, end, sip, sport, dip, dport, packets = agg.run("python3", "-c", code).stdout.split()
    r = agg.run("ashiato", "pcap", "--sensor", "ipc:///run/ashiato-aggregator/packets.sock", "--name", "s2",
                "--start", f"{int(start) / 1e6 - 0.001:.6f}", "--end", f"{int(end) / 1e6 + 0.001:.6f}",
                "--bpf", f"host {sip} and host {dip} and port {sport} and port {dport}",
                "--out", "/root/session.pcap", check=False, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    data = (agg.merged / "root" / "session.pcap").read_bytes()
    n, off = 0, 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        off += 16 + incl
        n += 1
    assert n == int(packets), f"pcap via the aggregator: {n} packets, the session has {packets}"
    print(f"pcap: session {sip}:{sport} -> {dip}:{dport} on s2, {n} packets fetched via the aggregator")


def test_real_rollout_second_run_changes_nothing(rollout):
    stats, changed = rollout.site(["s1", "s2", "s3"], "second")
    assert all(s["changed"] == 0 for s in stats.values()), changed


def test_real_rollout_segments_in_effect_and_reloaded(rollout):
    """The inventory's segments are the aggregator's (an address policy alert names them), and
    a change of them reloads it: same PID, the next record gets the new map."""
    lab, agg = rollout.lab, rollout.lab.hosts["agg1"]
    ini = (agg.merged / "etc" / "ashiato" / "segments.ini").read_text()
    assert "dept1 = 198.18.1.0/24" in ini and "s3 = dept3" in ini, ini
    # at s1 (dept1) a flow between dept2 and dept3: dept2's space seen at the wrong sensor
    rollout.inject("s1", [("198.18.2.5", "198.18.3.5")])
    a = rollout.wait_alert("s1", "segment dept2")      # the prefix: the source's segment
    assert a["ashiato"]["segments"] == ["dept3"], a       # the segments: the destination's
    agg_pid = agg.unit("ashiato-aggregator.service", "MainPID")
    rollout.extra_space["s3"] = ["198.18.30.0/24"]         # dept3 grows
    stats, changed = rollout.site(["s1", "s2", "s3"], "segments")
    assert all(stats[h]["changed"] == 0 for h in ("s1", "s2", "s3")), changed
    assert sorted(changed["agg1"]) == ["Reload ashiato-aggregator",
                                       "Write the segments map from the inventory"], changed["agg1"]
    assert agg.unit("ashiato-aggregator.service", "MainPID") == agg_pid, "a segments change restarted it"
    assert "reload: detection segments=3 sensors=3" in agg.journal("ashiato-aggregator")
    # at s2 (dept2): 198.18.30.7 -> dept1. Under the old map its source was outside and the alert
    # would name dept1 (the one end in a segment); under the new one the source is dept3's
    rollout.inject("s2", [("198.18.30.7", "198.18.1.9")])
    b = rollout.wait_alert("s2", "segment dept3")
    assert b["ashiato"]["segments"] == ["dept1"], b
    assert agg.unit("ashiato-aggregator.service", "MainPID") == agg_pid
    print(f"segments: before the change {a['ashiato']['prefix']!r} at s1 {a['ashiato']['segments']}; "
          f"after it (reload, aggregator pid {agg_pid} kept) {b['ashiato']['prefix']!r} at s2 "
          f"{b['ashiato']['segments']}")


def test_real_rollout_add_and_remove_a_sensor(rollout):
    lab = rollout.lab
    agg = lab.hosts["agg1"]
    pids = {s: lab.hosts[s].unit("ashiato-sensor.service", "MainPID") for s in ("s1", "s2", "s3")}
    agg_pid = agg.unit("ashiato-aggregator.service", "MainPID")
    stats, changed = rollout.site(["s1", "s2", "s3", "s4"], "add-s4")
    assert stats["s4"]["changed"] > 0
    assert all(stats[s]["changed"] == 0 for s in ("s1", "s2", "s3")), changed
    assert sorted(changed["agg1"]) == ["Reload ashiato-aggregator",
                                       "Write the allow-list from the sensors' public keys",
                                       "Write the segments map from the inventory"], changed["agg1"]
    assert {s: lab.hosts[s].unit("ashiato-sensor.service", "MainPID") for s in pids} == pids
    assert agg.unit("ashiato-aggregator.service", "MainPID") == agg_pid, "a new sensor restarted the aggregator"
    assert "sensors_allowed=4" in agg.journal("ashiato-aggregator")
    assert lab.hosts["s4"].unit("ashiato-sensor.service", "ActiveState") == "active"
    rollout.replay("s4")
    n = rollout.expected["s4"]
    got = rollout.wait_stored({"s4": n})
    time.sleep(3)
    got = rollout.store_counts()
    assert got.get("s4") == (n, n) and rollout.flow_diff("s4") == {"extra": {}, "missing": {}}, (
        got, rollout.flow_diff("s4"))
    print(f"add s4: changed {changed}; s4 stored {got['s4'][0]} sessions; aggregator pid kept {agg_pid}")

    before = rollout.store_counts()["s4"]
    stats, changed = rollout.site(["s1", "s2", "s3"], "remove-s4")
    assert all(stats[s]["changed"] == 0 for s in ("s1", "s2", "s3")), changed
    assert "Reload ashiato-aggregator" in changed["agg1"]      # which restarts: a key left
    assert agg.unit("ashiato-aggregator.service", "MainPID") != agg_pid, "a removed key needs a restart"
    s4key = (rollout.tmp / "public-keys" / "sensor-s4.pub").read_text().split("public = ")[1].split()[0]
    assert s4key not in (agg.merged / "etc" / "ashiato" / "allow-list").read_text()
    rollout.replay("s4")
    deadline = time.monotonic() + 60
    while f"sensor refused: key not in allow-list key={s4key}" not in agg.journal("ashiato-aggregator"):
        assert time.monotonic() < deadline, agg.journal("ashiato-aggregator")[-3000:]
        time.sleep(1)
    time.sleep(12)                     # s4's sessions of that replay have closed by now
    assert rollout.store_counts()["s4"] == before, "a removed sensor's sessions were stored"
    print(f"remove s4: refused by the aggregator, store kept {before[0]} of its sessions, no more")
    lab.stop(lab.hosts["s4"])


def running_version(host, unit):
    """What the unit's running process prints with --version (its own image, /proc/PID/exe)."""
    pid = host.unit(unit, "MainPID")
    assert pid != "0", host.journal(unit.split(".")[0])[-2000:]
    return host.run(f"/proc/{pid}/exe", "--version").stdout.strip()


def make_next_debs(outdir, version):
    """Version N+1 from this tree: its own build (tests off) with ASHIATO_PACKAGE_VERSION set,
    so the binaries print it with --version; kept in the build tree for the next run."""
    bdir = BUILD / "rollout-next"
    for argv in (["cmake", "-S", SOURCE, "-B", bdir, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                  "-DASHIATO_TESTS=OFF", f"-DASHIATO_PACKAGE_VERSION={version}"],
                 ["cmake", "--build", bdir, "-j2", "--target", "ashiato-sensor", "ashiato-aggregator",
                  "ashiato"],
                 ["cpack", "-G", "DEB", "-B", outdir]):
        r = subprocess.run([str(a) for a in argv], cwd=bdir if argv[0] == "cpack" else SOURCE,
                           capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, f"{argv}: {r.stdout[-3000:]}{r.stderr[-3000:]}"
    shutil.rmtree(Path(outdir) / "_CPack_Packages", ignore_errors=True)
    return sorted(Path(outdir).glob("*.deb"))


def test_real_rollout_upgrade_loses_and_duplicates_nothing(rollout):
    lab = rollout.lab
    old, new = rollout.version, rollout.version + "+rollout1"
    debdir = rollout.tmp / "debs-next"
    t0 = time.monotonic()
    debs = make_next_debs(debdir, new)
    assert len(debs) == 3, debs
    print(f"\nN+1: built {new} from the tree in {time.monotonic() - t0:.0f} s: {[d.name for d in debs]}")
    units = {"agg1": "ashiato-aggregator.service", "s1": "ashiato-sensor.service",
             "s2": "ashiato-sensor.service", "s3": "ashiato-sensor.service"}
    for h, u in units.items():
        assert running_version(lab.hosts[h], u).endswith(f" {old}")
    rollout.debdir, rollout.version = debdir, new
    pids = {h: lab.hosts[h].unit(u, "MainPID") for h, u in units.items()}
    before = rollout.store_counts()
    for s in ("s1", "s2", "s3"):
        rollout.replay(s)            # sessions still open in the sensors while they are upgraded
    stats, changed = rollout.site(["s1", "s2", "s3"], "upgrade")
    versions = {}
    for h, u in units.items():
        pkg = u.split(".")[0]
        assert lab.hosts[h].run("dpkg-query", "-W", "-f=${Version}", pkg).stdout == new
        versions[h] = running_version(lab.hosts[h], u)
        assert versions[h] == f"{pkg} {new}", f"{h} runs {versions[h]!r}, not {new}"
    # the second replay's sessions were made by version N (open in its session table, or in
    # its outbox) and must all arrive, once, through the restarts
    want = {s: rollout.sent[s] for s in ("s1", "s2", "s3")}
    rollout.wait_stored(want)
    time.sleep(3)
    got = rollout.store_counts()
    for s, n in want.items():
        assert got.get(s) == (n, n) and rollout.flow_diff(s) == {"extra": {}, "missing": {}}, (
            f"{s}: after the upgrade {got.get(s)}, expected {n} (before it {before.get(s)}, + "
            f"{rollout.expected[s]} of the second replay); flows {rollout.flow_diff(s)}\n"
            + rollout.logs(["agg1", "s1", "s2", "s3"]))
    after = {h: lab.hosts[h].unit(u, "MainPID") for h, u in units.items()}
    assert all(after[h] != pids[h] for h in units), f"not every daemon restarted: {pids} -> {after}"
    print(f"upgrade {old} -> {new}: running {versions}; stored {got} = {want} exactly (before "
          f"{before}), every id once; daemons restarted {pids} -> {after}")
