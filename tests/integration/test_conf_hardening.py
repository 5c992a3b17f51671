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
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


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
