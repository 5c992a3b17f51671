"""test_conf_hardening.py -- issue 14's configuration and key-file defects, end to end: the real
ashiato-sensor and ashiato binaries given the files and flags an operator would give them.

Owns:  the test_m4_* (INI lines) and test_l8_* / test_l9_* (validation, key files) checks that
       need a process; the unit-level halves are in tests/unit/test_config.c and test_curve.c.
Never: opens sockets beyond a sensor connecting to a loopback port nobody listens on.
"""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import assert_no_sanitizer_report

BPF_312 = ("not (host 10.20.0.5 or host 10.20.0.6 or host 10.20.0.7) and not (net 192.168.100.0/24 "
           "and port 9200) and not (src host 10.1.1.1 and port 514) and not (udp port 123) and "
           "not (tcp port 22 and host 10.30.4.40) and not (ip multicast or ether broadcast) and not "
           "(tcp port 312 and src net 10.0.0.0/8) and not port 999")


@pytest.fixture(scope="session")
def cli_bin(build_dir):
    path = build_dir / "bin" / "ashiato"
    if not path.is_file():
        pytest.fail(f"{path} not found: build first")
    return path


@pytest.fixture(scope="session")
def dns_pcap(shared_dir):
    return shared_dir / "corpus/arkime-tests/dns-udp.pcap"


def run(argv, timeout=60):
    r = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    err = r.stderr.decode("utf-8", "replace")
    assert_no_sanitizer_report(err, " ".join(map(str, argv)))
    return r.returncode, r.stdout.decode("utf-8", "replace"), err


def test_m4_long_bpf_cannot_inject_a_setting(run_sensor, tmp_path, dns_pcap):
    """A 312-character BPF loads whole, and the tail of a long line is never a setting."""
    assert len(BPF_312) == 312
    ini = tmp_path / "sensor.ini"
    ini.write_text(f"[sensor]\nname = dept-3\nbpf = {BPF_312}\n")
    r = run_sensor(["-c", ini, "--read", dns_pcap, "--emit-json", "-"])
    assert r.rc == 0, r.stderr
    assert r.sessions and all(s["observer"]["name"] == "dept-3" for s in r.sessions)
    # the injection: the part after character 199 used to be read as "name = injected"
    pad = "not host 10.0.0.1".ljust(194)
    ini.write_text(f"[sensor]\nname = dept-3\nbpf = {pad}name = injected\n")
    r = run_sensor(["-c", ini, "--read", dns_pcap, "--emit-json", "-"])
    names = {s["observer"]["name"] for s in r.sessions}
    print(f"injection attempt: rc={r.rc} names={sorted(names)} stderr={r.stderr.strip()[:160]!r}")
    assert "injected" not in names
    assert r.rc != 0 and "bpf" in r.stderr     # "name = injected" is not valid BPF syntax


def test_m4_indented_line_is_an_error_at_its_line(run_sensor, tmp_path, dns_pcap):
    ini = tmp_path / "sensor.ini"
    ini.write_text("[sensor]\nbpf = not port 53\n  udp\n")
    r = run_sensor(["-c", ini, "--read", dns_pcap, "--emit-json", "-"])
    print(r.stderr.strip())
    assert r.rc != 0 and not r.sessions
    assert f"{ini}:3: indented line" in r.stderr


def test_l8_config_directory_is_refused(run_sensor, tmp_path, dns_pcap):
    r = run_sensor(["-c", tmp_path, "--read", dns_pcap, "--emit-json", "-"])
    print(r.stderr.strip())
    assert r.rc != 0 and f"{tmp_path}: cannot read config: is a directory" in r.stderr


def test_l8_misspelled_section_and_sectionless_key(run_sensor, tmp_path, dns_pcap):
    ini = tmp_path / "sensor.ini"
    ini.write_text("[sensorx]\nname = typo\n")
    r = run_sensor(["-c", ini, "--read", dns_pcap, "--emit-json", "-"])
    print(r.stderr.strip())
    assert r.rc != 0 and f"{ini}:1: [sensorx]: unknown section" in r.stderr
    ini.write_text("name = nowhere\n[sensor]\n")
    r = run_sensor(["-c", ini, "--read", dns_pcap, "--emit-json", "-"])
    print(r.stderr.strip())
    assert r.rc != 0 and f"{ini}:1: name: key before any [section]" in r.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "2x", ""])
def test_l8_realtime_rejects_nan_and_garbage(run_sensor, dns_pcap, value):
    r = run_sensor(["--realtime", value, "--read", dns_pcap, "--emit-json", "-"])
    print(value, "->", r.stderr.strip())
    assert r.rc != 0 and "realtime" in r.stderr and not r.sessions


def keygen(cli_bin, out, *extra):
    return run([cli_bin, "keygen", "--out", out, *extra])


def test_l8_keygen_refuses_a_name_the_allow_list_would_refuse(cli_bin, tmp_path):
    rc, out, err = keygen(cli_bin, tmp_path / "s.key", "--name", "a b")
    print(err.strip())
    assert rc == 2 and "--name: ' ' at 2" in err and not (tmp_path / "s.key").exists()
    rc, out, err = keygen(cli_bin, tmp_path / "s.key", "--name", "dept-3")
    assert rc == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("allow-list line: "))
    name, key = line[len("allow-list line: "):].split(" ")
    assert name == "dept-3" and len(key) == 40
    assert (tmp_path / "s.key").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.key", "s.key.pub"]   # no temporaries


def test_l8_server_key_refuses_the_aggregators_secret_key(run_sensor, cli_bin, tmp_path, dns_pcap):
    assert keygen(cli_bin, tmp_path / "agg.key")[0] == 0
    assert keygen(cli_bin, tmp_path / "s.key", "--name", "dept-3")[0] == 0
    r = run_sensor(["--read", dns_pcap, "--name", "dept-3", "--aggregator", "tcp://127.0.0.1:9",
                    "--key-file", tmp_path / "s.key", "--server-key", tmp_path / "agg.key",
                    "--outbox-dir", tmp_path / "outbox"])
    print(r.stderr.strip())
    assert r.rc != 0 and f"{tmp_path / 'agg.key'} holds a secret key" in r.stderr
    assert "agg.key.pub" in r.stderr


def test_l8_l9_key_file_mode_warning_and_visible_bom(run_sensor, cli_bin, tmp_path, dns_pcap):
    assert keygen(cli_bin, tmp_path / "agg.key")[0] == 0
    assert keygen(cli_bin, tmp_path / "s.key", "--name", "dept-3")[0] == 0
    os.chmod(tmp_path / "s.key", 0o644)
    common = ["--read", dns_pcap, "--name", "dept-3", "--aggregator", "tcp://127.0.0.1:9",
              "--server-key", tmp_path / "agg.key.pub", "--outbox-dir", tmp_path / "outbox",
              "--drain-timeout", "1"]
    r = run_sensor(common + ["--key-file", tmp_path / "s.key"])
    warn = [ln for ln in r.stderr.splitlines() if "readable by others" in ln]
    print(warn)
    assert warn and "mode=0644" in warn[0] and str(tmp_path / "s.key") in warn[0]
    (tmp_path / "bom.key").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "s.key").read_bytes())
    os.chmod(tmp_path / "bom.key", 0o600)
    r = run_sensor(common + ["--key-file", tmp_path / "bom.key"])
    print(r.stderr.strip())
    assert r.rc != 0 and f"{tmp_path / 'bom.key'}:1:1: byte 0xEF (a UTF-8 byte order mark" in r.stderr
    assert r.stderr.isascii()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_l8_keygen_line_loads_in_the_aggregator(cli_bin, build_dir, tmp_path):
    """What keygen prints for --name is an allow-list line the aggregator takes; a name keygen
    refuses is refused by the aggregator the same way, at its line."""
    agg = build_dir / "bin" / "ashiato-aggregator"
    assert keygen(cli_bin, tmp_path / "agg.key")[0] == 0
    rc, out, err = keygen(cli_bin, tmp_path / "s.key", "--name", "dept-3.lab_1")
    assert rc == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("allow-list line: "))
    allow = tmp_path / "allow-list"
    allow.write_text("# sensors\n" + line[len("allow-list line: "):] + "\n")
    argv = [agg, "--key-file", tmp_path / "agg.key", "--allow-list", allow, "--store", "null:",
            "--listen", f"tcp://127.0.0.1:{free_port()}", "--exit-after-idle", "300"]
    rc, out, err = run(argv)
    print(err.strip().splitlines()[-1:])
    assert rc == 0 and "sensors_allowed=1" in err, err
    key = line.split(" ")[-1]
    allow.write_text(f"# sensors\na b {key}\n")
    rc, out, err = run(argv)
    print(err.strip())
    assert rc != 0 and f"{allow}:2: expected 'sensor-name public-key'" in err
    allow.write_text(f"dépt-3 {key}\n")
    rc, out, err = run(argv)
    print(err.strip())
    assert rc != 0 and f"{allow}:1: name: byte 0xC3 at 2" in err and err.isascii()
