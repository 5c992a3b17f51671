"""test_rollout_index.py -- the ashiato_index role against a real OpenSearch 2.19 node (the
tests' node, tests/opensearch, started through opensearch_node.py) with the pinned Ansible of
test_rollout.py. Nothing is mocked.

A real ashiato-aggregator opens its store on the node first (it installs its own templates,
priority 200); then the role runs from the controller (uri tasks, connection local): a site
template per index family at priority 300, copying the aggregator's mapping and adding the
site's replicas and shards, and a lifecycle policy per family (OpenSearch ISM). A second run
changes nothing; a changed setting puts only the templates again. What the node holds is read
back through its REST API, and a new index shows the site settings in effect.

The tests' node is OpenSearch core from Maven Central with the netty4, analysis-common and
painless modules: it has no index-management plugin, so no /_plugins/_ism. The ISM part is
then run with ashiato_index_lifecycle=false and its own test says so and skips; it runs when
the node answers /_plugins/_ism.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rollout_env as re_  # noqa: E402
from opensearch_node import OpenSearchNode, build, unavailable_reason  # noqa: E402

SOURCE = Path(os.environ.get("ASHIATO_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("ASHIATO_BUILD_DIR", SOURCE / "build")).resolve()
FAMILIES = ("sessions", "stats", "alerts")

_reason = unavailable_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def venv():
    try:
        return re_.ansible_venv()
    except Exception as e:   # no PyPI: say so
        pytest.skip(f"pinned Ansible venv could not be made ({e}): the role cannot run")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    build()
    n = OpenSearchNode(tmp_path_factory.mktemp("os") / "node")
    n.start()
    try:
        tmp = tmp_path_factory.mktemp("agg")
        log = open(tmp / "aggregator.log", "w")
        agg = subprocess.Popen([str(BUILD / "bin" / "ashiato-aggregator"), "--listen",
                                f"tcp://127.0.0.1:{free_port()}", "--insecure", "--store", n.url,
                                "--http-listen", ""], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        # its templates are put when the store opens; its signal handlers come after "listening"
        while n.request("GET", "/_index_template/ashiato-alerts")[0] != 200 or \
                "listening endpoint=" not in (tmp / "aggregator.log").read_text():
            assert agg.poll() is None, (tmp / "aggregator.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp / "aggregator.log").read_text()[-3000:]
            time.sleep(0.5)
        time.sleep(0.5)
        agg.send_signal(signal.SIGTERM)
        assert agg.wait(timeout=60) == 0, (tmp / "aggregator.log").read_text()[-3000:]
        yield n
    finally:
        n.stop()


def has_ism(node):
    return node.request("GET", "/_plugins/_ism/policies")[0] == 200


class Play:
    def __init__(self, venv, node, tmp):
        self.venv, self.node, self.tmp = venv, node, tmp
        (tmp / "index.yml").write_text(
            "---\n- name: Index templates and lifecycle policies\n  hosts: localhost\n"
            "  connection: local\n  gather_facts: false\n  roles:\n    - role: ashiato_index\n")

    def run(self, what, **extra):
        ev = {"ansible_python_interpreter": str(self.venv / "python3"),     # not a pyenv shim
              "ashiato_index_url": self.node.url, "ashiato_index_replicas": 0,
              "ashiato_index_lifecycle": has_ism(self.node)}
        ev.update(extra)
        env = dict(os.environ, PATH=f"{self.venv}:{os.environ['PATH']}", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_ROLES_PATH=str(SOURCE / "ansible" / "roles"),
                   ANSIBLE_LOCAL_TEMP=str(self.tmp / ".ansible-tmp"), PYTHONWARNINGS="ignore",
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
        r = subprocess.run([str(self.venv / "ansible-playbook"), "-i", "localhost,", "-e", json.dumps(ev),
                            str(self.tmp / "index.yml")], cwd=self.tmp, env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{what}: {r.stdout[-4000:]}\n{r.stderr[-2000:]}"
        doc, stats = re_.recap(r.stdout)
        changed = re_.changed_tasks(doc).get("localhost", [])
        print(f"\nashiato_index {what}: changed={stats['localhost']['changed']} {sorted(set(changed))}")
        return stats["localhost"], changed


@pytest.fixture(scope="module")
def play(venv, node, tmp_path_factory):
    return Play(venv, node, tmp_path_factory.mktemp("play"))


def site_template(node, family):
    status, body = node.request("GET", f"/_index_template/ashiato-{family}-site")
    assert status == 200, body
    return body["index_templates"][0]["index_template"]


def test_index_role_templates_on_a_real_node(play, node):
    stats, changed = play.run("first")
    puts = [t for t in changed if t.startswith("Put the site template")]
    assert len(puts) == 3, changed
    for family in FAMILIES:
        base = node.request("GET", f"/_index_template/ashiato-{family}")[1]["index_templates"][0]["index_template"]
        site = site_template(node, family)
        assert site["priority"] == 300 and base["priority"] == 200, site
        assert site["index_patterns"] == base["index_patterns"] == [f"ashiato-{family}-*"], site
        assert site["template"]["mappings"] == base["template"]["mappings"], family
        idx = site["template"]["settings"]["index"]
        assert (idx["number_of_replicas"], idx["number_of_shards"]) == ("0", "1"), idx
        assert idx["translog"]["durability"] == "request", idx     # the aggregator's, kept
        assert site["_meta"]["ashiato_digest"], site

    stats, changed = play.run("second")
    assert stats["changed"] == 0, changed

    # a site setting changes: only the templates are put again, and a new index takes them
    stats, changed = play.run("shards", ashiato_index_shards=2)
    assert sorted(set(changed)) == ["Put the site template (the aggregator's mapping, site settings, "
                                    "lifecycle)"] and len(changed) == 3, changed
    assert site_template(node, "sessions")["template"]["settings"]["index"]["number_of_shards"] == "2"
    status, body = node.request("PUT", "/ashiato-sessions-rollout-check")
    assert status == 200, body
    idx = node.request("GET", "/ashiato-sessions-rollout-check/_settings")[1][
        "ashiato-sessions-rollout-check"]["settings"]["index"]
    assert (idx["number_of_shards"], idx["number_of_replicas"]) == ("2", "0"), idx
    node.request("DELETE", "/ashiato-sessions-rollout-check")
    stats, changed = play.run("again", ashiato_index_shards=2)
    assert stats["changed"] == 0, changed
    print(f"templates: ashiato-{{{','.join(FAMILIES)}}}-site at priority 300 over the aggregator's 200, "
          f"same mappings, replicas 0, shards 1 then 2 (a new index took 2), second runs changed=0")


def test_index_role_ism_policy_on_a_real_node(play, node):
    if not has_ism(node):
        pytest.skip("the tests' OpenSearch node (core 2.19.6 + netty4, analysis-common, painless from "
                    "Maven Central) has no index-management plugin (GET /_plugins/_ism/policies is not "
                    "200): the ISM lifecycle policy cannot be applied or checked here")
    play.run("ism first")
    stats, changed = play.run("ism second")
    assert stats["changed"] == 0, changed
    for family, days in zip(FAMILIES, (30, 90, 365)):
        status, body = node.request("GET", f"/_plugins/_ism/policies/ashiato-{family}")
        assert status == 200, body
        pol = body["policy"]
        assert pol["description"].startswith("ashiato digest-"), pol
        assert pol["ism_template"][0]["index_patterns"] == [f"ashiato-{family}-*"], pol
        hot = [s for s in pol["states"] if s["name"] == "hot"][0]
        assert hot["transitions"][0]["conditions"]["min_index_age"] == f"{days}d", hot
