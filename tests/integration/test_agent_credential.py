"""Agents get a credential of their own, never the daemon's: the simulated Jenkins refuses an
agent user everything but connecting agents, the config is refused when swarm agents would have
no credential of their own, and a local swarm agent holds the agent user's token only."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from autoscaler.agent_env import AgentCredentials, agent_credential_problems
from autoscaler.config.models import Config
from autoscaler.drivers.local import LocalDriver, LocalSettings
from autoscaler.plugin import DriverError, LaunchSpec, PluginContext
from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.swarm_agent import command_line

AGENT_USER, AGENT_TOKEN = "agents", "agent-t0ken"


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    jenkins = SimJenkins(agent_users={AGENT_USER: AGENT_TOKEN}).start()
    yield jenkins
    jenkins.stop()


def _session(sim: SimJenkins, user: str, token: str) -> tuple[requests.Session, dict[str, str]]:
    session = requests.Session()
    session.auth = (user, token)
    crumb = session.get(sim.url + "crumbIssuer/api/json", timeout=5)
    assert crumb.status_code == 200
    data = crumb.json()
    return session, {data["crumbRequestField"]: data["crumb"]}


def test_the_agent_user_may_connect_agents_but_not_delete_or_offline_them(sim: SimJenkins) -> None:
    session, crumb = _session(sim, AGENT_USER, AGENT_TOKEN)
    form = {"name": "ci-python-aaaaaa", "executors": "1", "labels": "python", "mode": "EXCLUSIVE"}
    assert session.post(sim.url + "plugin/swarm/createSlave", data=form, headers=crumb, timeout=5).status_code == 200
    for path in ("computer/ci-python-aaaaaa/doDelete", "computer/ci-python-aaaaaa/toggleOffline"):
        answer = session.post(sim.url + path, headers=crumb, timeout=5, allow_redirects=False)
        assert answer.status_code == 403, path
    assert session.get(sim.url + "computer/api/json", timeout=5).status_code == 403
    assert "ci-python-aaaaaa" in sim.model.nodes and not sim.model.nodes["ci-python-aaaaaa"].temporarily_offline
    admin, admin_crumb = _session(sim, sim.user, sim.token)  # the daemon's user still may
    answer = admin.post(sim.url + "computer/ci-python-aaaaaa/doDelete", headers=admin_crumb, allow_redirects=False)
    assert answer.status_code == 302 and "ci-python-aaaaaa" not in sim.model.nodes
    assert session.get(sim.url + "api/json", auth=(AGENT_USER, "wrong"), timeout=5).status_code == 401


def _config(controller: dict[str, Any], **label: Any) -> Config:
    base = {"name": "main", "url": "http://jenkins:8080/", "user": "autoscaler", "token": "daemon-t0ken"}
    return Config.model_validate(
        {
            "controllers": [{**base, **controller}],
            "labels": [{"name": "python", "command": ["true"], **label}],
            "daemon": {"id": "cred-test"},
        }
    )


def _driver(config: Config, tmp_path: Path) -> LocalDriver:
    settings = LocalSettings(type="local", work_dir=str(tmp_path / "work"))
    return LocalDriver(settings, PluginContext(config=config, emit=lambda e: None))


def test_swarm_without_an_agent_credential_is_refused_with_both_choices(tmp_path: Path) -> None:
    config = _config({})
    with pytest.raises(DriverError) as info:
        _driver(config, tmp_path)
    message = str(info.value)
    assert "controller 'main'" in message and "python" in message
    assert "agent-user" in message and "agent-token-file" in message and "connect: inbound" in message
    assert not info.value.transient
    assert agent_credential_problems(config, token_needed=False)  # a user name is needed even for pods
    _driver(_config({}, connect="inbound"), tmp_path)  # inbound: the node's secret only
    _driver(_config({"agent-user": "agents", "agent-token-env": "AGENT_TOKEN"}), tmp_path)
    assert not agent_credential_problems(_config({"agent-user": "agents"}), token_needed=False)


def test_the_daemon_user_as_agent_user_is_refused() -> None:
    with pytest.raises(ValueError, match="agent-user is the daemon's own user"):
        _config({"agent-user": "autoscaler", "agent-token-env": "X"})
    with pytest.raises(ValueError, match="need agent-user"):
        _config({"agent-token-file": "/etc/autoscaler/agent-token"})


def test_a_swarm_agent_never_gets_the_daemon_token_even_when_handed_it(tmp_path: Path) -> None:
    config = _config({"agent-user": "agents", "agent-token-env": "AGENT_TOKEN"})
    driver = _driver(config, tmp_path)
    for credential in (None, "daemon-t0ken"):
        spec = LaunchSpec("ci-python-aaaaaa", config.labels[0], config.default_controller, "cred-test", credential)
        with pytest.raises(DriverError, match="daemon"):
            driver.launch(spec)
    assert driver.list() == []


def test_agent_credentials_are_read_at_each_launch(tmp_path: Path) -> None:
    token = tmp_path / "agent-token"
    token.write_text("first\n")
    config = _config({"agent-user": "agents", "agent-token-file": str(token)})
    credentials = AgentCredentials(lambda: config)
    assert dict(credentials) == {"main": "first"}
    token.write_text("rotated\n")
    assert credentials.get("main") == "rotated"
    token.unlink()
    assert credentials.get("main") is None  # logged; never someone else's token instead


def test_a_local_swarm_agent_connects_as_the_agent_user(tmp_path: Path, sim: SimJenkins) -> None:
    token = tmp_path / "agent-token"
    token.write_text(AGENT_TOKEN)
    controller = {"url": sim.url, "user": sim.user, "token": sim.token, "agent-user": AGENT_USER}
    config = _config({**controller, "agent-token-file": str(token)}, command=command_line(retry=0.2))
    os.environ.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    settings = LocalSettings(type="local", work_dir=str(tmp_path / "work"), inherit_env=("PATH", "PYTHONPATH"))
    driver = LocalDriver(settings, PluginContext(config=config, emit=lambda e: None))
    credential = AgentCredentials(lambda: config)["main"]
    driver.launch(LaunchSpec("ci-python-bbbbbb", config.labels[0], config.default_controller, "cred-test", credential))
    try:
        sim.wait_for(
            lambda: "ci-python-bbbbbb" in sim.model.nodes and sim.model.nodes["ci-python-bbbbbb"].connected,
            20,
            "the agent online",
        )
        pid = json.loads((driver.state_dir / "ci-python-bbbbbb.json").read_text())["pid"]
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode()
        assert sim.token not in environ and f"JENKINS_TOKEN={AGENT_TOKEN}" in environ.split("\0")
        assert sim.stats["unauthorized"] == 0 and sim.stats["forbidden"] == 0
    finally:
        driver.delete("ci-python-bbbbbb", grace=5)


def test_a_reload_that_drops_the_agent_credential_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from autoscaler.config.loader import load_config
    from autoscaler.daemon import Daemon

    path = tmp_path / "config.yaml"
    agent = "agent-user: agents, agent-token-env: AGENT_TOKEN"
    text = (
        f"controllers: [{{url: 'http://127.0.0.1:9/', user: u, token: t0ken, {agent}}}]\n"
        f"driver: {{type: local, work-dir: '{tmp_path / 'work'}'}}\n"
        "labels:\n  - {name: python, command: 'true', max: 4}\n"
    )
    path.write_text(text)
    daemon = Daemon(load_config(str(path)), serve_api=False)
    try:
        path.write_text(text.replace(", " + agent, "").replace("max: 4", "max: 5"))
        assert not daemon.reload()
        assert "reload refused" in caplog.text and "connect: inbound" in caplog.text
        assert daemon.config.controllers[0].agent_user == "agents" and daemon.config.labels[0].max == 4
    finally:
        daemon.pool.shutdown(wait=False)
        daemon.fast_pool.shutdown(wait=False)
