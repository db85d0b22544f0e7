"""``autoscaler why`` against the daemon as a user runs it: every kind of wait, grouped into two
daemon runs (capacity, agents and Jenkins in one; failures, rate and unknown demand in the other)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.swarm_agent import command_line
from tests.e2e.harness import BIN, Daemon, agent_processes, sim_config, write

pytestmark = pytest.mark.e2e


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins(agent_users={"agent": "agent-s3cret"}) as jenkins:
        jenkins.add_job("slow", label="python", duration=60.0)
        jenkins.add_job("dock", label="linux&&docker", duration=60.0)
        jenkins.add_job("boot", label="boot", duration=1.0)
        jenkins.add_job("stalled", label="idle", duration=1.0, assignable=False)
        jenkins.add_job("arm", label="linux&&arm64", duration=1.0)
        jenkins.add_job("calm", label="python", duration=1.0, quiet_period=120.0)
        jenkins.add_job("held", label="python", duration=1.0, blocked_by="upstream")
        jenkins.add_job("broke", label="broken", duration=1.0)
        jenkins.add_job("unit", label="python", duration=1.0)
        yield jenkins


STARTED: list[Daemon] = []


@pytest.fixture(autouse=True)
def no_why_agent_left_behind() -> Iterator[None]:
    yield
    while STARTED:
        daemon = STARTED.pop()
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop(signal.SIGKILL)
    for pid in agent_processes("e2e-why"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def configure(sim: SimJenkins, tmp: Path, labels: list[dict[str, Any]], limits: dict[str, Any]) -> Daemon:
    agent_token = tmp / "agent-token"
    agent_token.write_text("agent-s3cret")
    config = sim_config(sim, tmp)
    config["controllers"][0].update({"agent-user": "agent", "agent-token-file": str(agent_token)})
    config["labels"], config["limits"] = labels, limits
    # an id of its own: the local driver adopts every process that carries its daemon's id
    config["daemon"].update({"id": "e2e-why", "name-prefix": "why"})
    daemon = Daemon(write(tmp / "config.yaml", config), tmp / "daemon.log")
    STARTED.append(daemon)
    return daemon.start()


def why(daemon: Daemon, build: str) -> dict[str, Any]:
    items = daemon.cli("why", build)["items"]
    assert len(items) == 1, items
    reason: dict[str, Any] = items[0]["reason"]
    return reason


def waits_for(daemon: Daemon, build: str, kind: str, timeout: float) -> dict[str, Any]:
    """Ask ``autoscaler why BUILD`` until it names ``kind``; the reason it gave (each CLI call
    costs a second of start-up: none is repeated)."""
    seen: list[dict[str, Any]] = []

    def named() -> bool:
        seen.append(why(daemon, build))
        return bool(seen[-1]["kind"] == kind)

    daemon.wait(named, timeout, f"why {build} to name {kind}")
    return seen[-1]


def test_why_names_capacity_agents_and_jenkins(sim: SimJenkins, tmp_path: Path) -> None:
    swarm = command_line()
    labels = [
        {"name": "python", "command": swarm, "max": 1},
        {"name": "docker", "atoms": ["linux"], "command": swarm, "max": 3},
        {"name": "boot", "command": [sys.executable, "-c", "import time; time.sleep(120)"], "max": 1},
        {"name": "idle", "command": swarm, "max": 1},
    ]
    daemon = configure(sim, tmp_path, labels, {"max-agents": 3, "boot-timeout": "5m"})
    for job in ("slow", "boot", "stalled"):
        sim.trigger(job)
    online = waits_for(daemon, "stalled", "agent-online", 30)
    assert "is online and idle" in online["text"] and "waiting for Jenkins to assign the build to it" in online["text"]
    booting = why(daemon, "boot")
    assert booting["kind"] == "agent-booting" and "is booting since" in booting["text"]
    sim.wait_for(lambda: any(n.running for n in sim.model.nodes.values()), 30, "slow to start")
    for job in ("slow", "dock", "arm", "calm", "held"):
        sim.trigger(job)
    no_label = waits_for(daemon, "arm", "no-label", 10)
    assert no_label["text"] == "no configured label serves `linux&&arm64`"
    assert why(daemon, "slow")["kind"] == "max"
    max_agents = why(daemon, "dock")
    assert max_agents["kind"] == "max-agents"
    assert "limits.max-agents (3 agents in all labels; docker has 0 of its max 3)" in max_agents["text"]
    pools = {p["label"]: p["blocked_by"] for p in daemon.cli("pools")}
    assert pools["python"] == "max" and pools["docker"] == "max-agents"
    quiet = why(daemon, "calm")
    assert quiet["kind"] == "jenkins-quiet-period" and "quiet period" in quiet["text"]
    blocked = why(daemon, "held")
    assert (blocked["kind"], blocked["text"]) == ("jenkins-blocked", "Jenkins blocks it: Blocked by ‘upstream’")
    wide = subprocess.run(
        [str(BIN / "autoscaler"), "demand", "-o", "wide", "-c", str(daemon.config_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "KIND" in wide and "max-agents" in wide and "no-label" in wide and "agent-booting" in wide
    assert daemon.stop() == 0


def test_why_names_backoff_rate_and_unknown_demand(sim: SimJenkins, tmp_path: Path) -> None:
    broken = [sys.executable, "-c", "import sys; print('no java on PATH', file=sys.stderr); sys.exit(3)"]
    labels = [
        {"name": "broken", "command": broken, "max": 2},
        {"name": "python", "command": command_line(), "max": 2},
    ]
    limits = {"launches-per-second": 0.02, "backoff-initial": "2m", "boot-timeout": "5m"}
    daemon = configure(sim, tmp_path, labels, limits)
    sim.trigger("broke")
    backoff = waits_for(daemon, "broke", "backoff", 20)
    assert "label broken is backing off after 1 failure" in backoff["text"]
    assert "exited with code 3; last log lines: no java on PATH" in backoff["text"] and backoff["until"]
    failures = [e for e in daemon.cli("events") if e["kind"] == "failure"]
    assert failures and failures[0]["message"].startswith("exit-code: failed before coming online: exited with code 3")
    sim.trigger("unit")
    assert "launches-per-second: 0.02" in waits_for(daemon, "unit", "rate", 10)["text"]
    sim.faults.add("GET", "/queue/api/json", status=500)
    assert "listener queue cannot read its source" in waits_for(daemon, "unit", "demand-unknown", 10)["text"]
    assert daemon.stop() == 0
