"""Two controllers with the same label names: every queued build is served by an agent of the
controller it is queued on (issue 12: all launches went to the first controller's pool)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.swarm_agent import command_line
from tests.e2e.harness import Daemon, agent_processes, free_port, write

pytestmark = pytest.mark.e2e
ID = "e2e-controllers"
"""Its own daemon id: other test sessions on this host clean up agents of the id "e2e"."""


@pytest.fixture
def east() -> Iterator[SimJenkins]:
    with SimJenkins(agent_users={"agent": "agent-s3cret"}) as jenkins:
        jenkins.add_job("unit", label="python", duration=1.5)
        yield jenkins


@pytest.fixture
def west() -> Iterator[SimJenkins]:
    with SimJenkins(agent_users={"agent": "agent-s3cret"}) as jenkins:
        jenkins.add_job("unit", label="python", duration=1.5)
        yield jenkins


def two_controllers(east: SimJenkins, west: SimJenkins, tmp: Path) -> dict[str, Any]:
    controllers = []
    for name, sim in (("east", east), ("west", west)):
        token = tmp / f"{name}-token"
        token.write_text(sim.token)
        agent_token = tmp / f"{name}-agent-token"
        agent_token.write_text("agent-s3cret")
        credentials = {"token-file": str(token), "agent-user": "agent", "agent-token-file": str(agent_token)}
        controllers.append({"name": name, "url": sim.url, "user": sim.user, **credentials})
    pool = {"atoms": ["python"], "command": command_line(), "max": 3, "idle-timeout": "1s"}
    return {
        "controllers": controllers,
        "driver": {"type": "local", "work-dir": str(tmp / "agents"), "inherit-env": ["PATH", "HOME", "PYTHONPATH"]},
        "demand-listeners": [
            {"name": f"queue-{c}", "type": "jenkins-queue", "controller": c, "interval": "0.3s"}
            for c in ("east", "west")
        ],
        "destroy-listeners": [
            {"name": f"events-{c}", "type": "zmq", "controller": c, "endpoints": [sim.zmq_endpoint]}
            for c, sim in (("east", east), ("west", west))
        ],
        "labels": [
            {"name": "python-east", "controller": "east", **pool},
            {"name": "python-west", "controller": "west", **pool},
        ],
        "limits": {"max-agents": 6, "boot-timeout": "60s"},
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "daemon": {"id": ID, "name-prefix": "e2e", "tick": "0.3s", "reconcile-interval": "1s", "retire-grace": "5s"},
    }


def agent_nodes(sim: SimJenkins) -> list[str]:
    with sim.model.lock:
        return [n for n in sim.model.node_history if n.startswith("e2e-")]


def test_each_controllers_builds_are_served_by_its_own_pool(east: SimJenkins, west: SimJenkins, tmp_path: Path) -> None:
    daemon = Daemon(write(tmp_path / "config.yaml", two_controllers(east, west, tmp_path)), tmp_path / "daemon.log")
    try:
        daemon.start()
        for _ in range(2):
            east.trigger("unit")
            west.trigger("unit")
        east.wait_for(lambda: east.model.builds_done() == 2, 30, "east's builds")
        west.wait_for(lambda: west.model.builds_done() == 2, 30, "west's builds")
        assert sorted(agent_nodes(east)) and all(n.startswith("e2e-python-east-") for n in agent_nodes(east))
        assert sorted(agent_nodes(west)) and all(n.startswith("e2e-python-west-") for n in agent_nodes(west))
        assert len(agent_nodes(east)) == 2 and len(agent_nodes(west)) == 2  # one per build, none duplicated
        pools = {p["label"]: p for p in daemon.cli("pools")}
        assert pools["python-east"]["controller"] == "east" and pools["python-west"]["controller"] == "west"
        daemon.wait(lambda: daemon.cli("agents") == [], 30, "every agent to be retired")
        assert east.model.builds_done("ABORTED") == west.model.builds_done("ABORTED") == 0
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()
        left = agent_processes(ID)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    assert left == []
