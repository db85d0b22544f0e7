"""A recognisable fake secret in every credential slot (the daemon's Jenkins token, the agent
user's token, the API token, the CloudEvents secret); the daemon and its agents run, and every log
line, CLI and API answer, event, agent command line, agent environment (beyond the one credential
the agent is meant to hold) and pod spec sent to the cluster is searched for it. Zero hits."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.kubernetes import KubeApi, Kubelet
from autoscaler.testing.swarm_agent import command_line
from tests.e2e.harness import BIN, Daemon, free_port, sim_config, write

pytestmark = pytest.mark.e2e

CANARY = "CANARY-5ecret-"
DAEMON_TOKEN = CANARY + "daemon-7d1f"
AGENT_TOKEN = CANARY + "agent-93ab"
API_TOKEN = CANARY + "api-51c0"
CE_SECRET = CANARY + "cloudevents-e4a2"
NS = "ci-agents"


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins(token=DAEMON_TOKEN, agent_users={"agent": AGENT_TOKEN}) as jenkins:
        jenkins.add_job("unit", label="python", duration=1.0)
        jenkins.add_job("pipe", kind="pipeline", label="python", duration=1.0)
        jenkins.add_job("build", kind="pipeline", label="java", duration=1.0)
        yield jenkins


class Agents:
    """What every agent process of the daemon showed while it ran: command line and environment."""

    def __init__(self, daemon_id: str, swarm: set[str]) -> None:
        self.daemon_id = daemon_id
        self.swarm = swarm
        """Labels whose agents are meant to hold the agent token (in ``JENKINS_TOKEN``)."""
        self.seen: dict[int, tuple[str, dict[str, str]]] = {}

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                raw = (entry / "environ").read_bytes()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            env = dict(p.decode(errors="replace").split("=", 1) for p in raw.split(b"\0") if b"=" in p)
            if env.get("AUTOSCALER_DAEMON_ID") == self.daemon_id and cmdline:
                self.seen[int(entry.name)] = (cmdline.replace(b"\0", b" ").decode(errors="replace"), env)

    def holding_the_agent_token(self) -> int:
        """Agents seen with the agent token in their credential variable: the slot was filled."""
        return sum(env.get("JENKINS_TOKEN") == AGENT_TOKEN for _, env in self.seen.values())

    def check(self) -> list[str]:
        """Where a canary showed, beyond a swarm agent's own token in its credential variable."""
        hits = []
        for pid, (cmdline, env) in self.seen.items():
            if CANARY in cmdline:
                hits.append(f"/proc/{pid}/cmdline")
            for key, value in env.items():
                meant = key == "JENKINS_TOKEN" and value == AGENT_TOKEN and env.get("AGENT_LABEL") in self.swarm
                if CANARY in value and not meant:
                    hits.append(f"/proc/{pid}/environ {key}")
        return hits


def scan(where: str, text: str) -> list[str]:
    return [f"{where}: ...{text[max(0, i - 60) : i + 40]}..." for i in _find_all(text, CANARY)]


def _find_all(text: str, needle: str) -> list[int]:
    found, i = [], text.find(needle)
    while i >= 0:
        found.append(i)
        i = text.find(needle, i + 1)
    return found


def secret_slots(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The API token and a CloudEvents listener's secret, each in a file, added to ``config``."""
    (tmp_path / "api-token").write_text(API_TOKEN)
    (tmp_path / "ce-secret").write_text(CE_SECRET)
    config["api"] = {**config["api"], "token-file": str(tmp_path / "api-token")}
    listener = {"name": "ce", "type": "cloudevents", "listen": f"127.0.0.1:{free_port()}"}
    config["destroy-listeners"] = [
        *config["destroy-listeners"],
        {**listener, "secret-file": str(tmp_path / "ce-secret")},
    ]
    return config


def outputs(daemon: Daemon, url: str) -> list[str]:
    """Every CLI and API answer an operator would look at, as text."""
    hits: list[str] = []
    for args in (["pools"], ["agents"], ["demand"], ["events"], ["config", "validate"], ["config", "render", "python"]):
        for output in ([], ["-o", "json"]) if args[0] != "config" else ([],):
            run = subprocess.run(
                [str(BIN / "autoscaler"), *args, "-c", str(daemon.config_file), *output],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            hits += scan(" ".join(["autoscaler", *args, *output]), run.stdout + run.stderr)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    for path in ("/v1/pools", "/v1/agents", "/v1/demand", "/v1/events", "/v1/status", "/metrics", "/healthz"):
        hits += scan(f"GET {path}", requests.get(url + path, headers=headers, timeout=10).text)
    return hits


def test_no_secret_shows_anywhere_a_local_daemon_or_its_agents_put_it(sim: SimJenkins, tmp_path: Path) -> None:
    config = secret_slots(tmp_path, sim_config(sim, tmp_path))
    inbound = [sys.executable, "-m", "autoscaler.testing.inbound_agent"]
    config["labels"] = [
        {"name": "python", "command": command_line(), "max": 3, "idle-timeout": "2s"},
        {"name": "java", "connect": "inbound", "command": inbound, "max": 2, "idle-timeout": "2s"},
    ]
    daemon = Daemon(write(tmp_path / "config.yaml", config), tmp_path / "daemon.log").start()
    agents = Agents("e2e", {"python"})
    try:
        for job in ("unit", "pipe", "build"):
            sim.trigger(job)

        def done() -> bool:
            agents.sample()
            return sim.model.builds_done() == 3

        daemon.wait(done, 90, "the builds")
        hits = outputs(daemon, f"http://{config['api']['listen']}")
        daemon.wait(lambda: daemon.cli("agents") == [], 60, "every agent retired")
        assert daemon.stop() == 0
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()
    labels = {env.get("AGENT_LABEL") for _, env in agents.seen.values()}
    assert {"python", "java"} <= labels, labels  # both kinds of agent were looked at while they ran
    assert agents.holding_the_agent_token() > 0
    hits += agents.check()
    hits += scan("daemon log", daemon.log())
    for log in (tmp_path / "agents" / "logs").glob("*.log"):
        hits += scan(f"agent log {log.name}", log.read_text(errors="replace"))
    assert hits == []


def test_no_secret_is_in_a_pod_spec_or_anything_a_kubernetes_daemon_says(sim: SimJenkins, tmp_path: Path) -> None:
    with KubeApi() as api:
        kubelet = Kubelet(api.store, NS).start()
        secret = {"metadata": {"name": "jenkins-agent"}, "stringData": {"token": AGENT_TOKEN}}
        api.store.create("secrets", NS, secret)
        config = secret_slots(tmp_path, sim_config(sim, tmp_path))
        config["driver"] = {
            "type": "kubernetes",
            "url": api.url,
            "namespace": NS,
            "credentials-secret": "jenkins-agent",
        }
        config["labels"] = [
            {"name": "python", "image": "registry.example.org/ci/swarm-agent:3.47", "max": 3, "idle-timeout": "2s"},
            {"name": "java", "connect": "inbound", "image": "jenkins/inbound-agent:latest", "idle-timeout": "2s"},
        ]
        daemon = Daemon(write(tmp_path / "config.yaml", config), tmp_path / "daemon.log").start()
        try:
            for job in ("unit", "pipe", "build"):
                sim.trigger(job)
            sim.wait_for(lambda: sim.model.builds_done() == 3, 90, "the builds")
            hits = outputs(daemon, f"http://{config['api']['listen']}")
            daemon.wait(lambda: daemon.cli("agents") == [], 60, "every agent retired")
            assert daemon.stop() == 0
        finally:
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.stop()
            kubelet.stop()
        sent = [body for body in api.created if body.get("kind") != "Secret"]
        assert len([b for b in sent if b.get("kind") == "Pod"]) == 3
        hits += scan("objects sent to the cluster", json.dumps(sent))
        hits += scan("daemon log", daemon.log())
        assert hits == []


DEMO = """
import sys
from autoscaler.testing.jenkins import server

class _AgentUsers(dict):  # whatever agent token the demo makes up, the canary it is
    def __setitem__(self, key, value):
        super().__setitem__(key, {agent!r})

_init = server.SimJenkins.__init__

def _canary_init(self, *args, **kwargs):
    kwargs.setdefault("token", {daemon!r})
    _init(self, *args, **kwargs)
    self.agent_users = _AgentUsers(self.agent_users)

server.SimJenkins.__init__ = _canary_init
from autoscaler.cli.main import main
sys.argv = ["autoscaler", "demo", "--jobs", "6", "--no-live", "--build-seconds", "0.5"]
main()
"""


def test_no_secret_shows_anywhere_the_demo_or_its_agents_put_it(tmp_path: Path) -> None:
    script = tmp_path / "demo.py"
    script.write_text(DEMO.format(agent=AGENT_TOKEN, daemon=DAEMON_TOKEN))
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    agents = Agents("demo", {"python", "java", "docker"})
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        demo = subprocess.Popen([sys.executable, str(script)], stdout=stdout, stderr=stderr)
        try:
            while demo.poll() is None:
                agents.sample()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    demo.wait(0.1)
        finally:
            if demo.poll() is None:
                demo.kill()
            demo.wait()
    text = out.read_text(errors="replace")
    assert demo.returncode == 0 and text.rstrip().endswith("result: OK"), text[-2000:]
    assert agents.check() + scan("demo output", text + err.read_text(errors="replace")) == []
    assert agents.holding_the_agent_token() > 0  # the slot was filled, and the canary looked for
