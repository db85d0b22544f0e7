"""One active daemon per identity on one host: a second ``autoscaler run`` with the same config
stands by while the first lives, and takes over within seconds of a SIGKILL, adopting the agents
the first one left running: no duplicate launch, no agent killed, none leaked."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.standby import DaemonLock, lock_path
from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import BIN, Daemon, agent_processes, sim_config, write

pytestmark = pytest.mark.e2e
ID = "e2e-standby"


@pytest.fixture(autouse=True)
def no_agent_of_ours_left() -> Iterator[None]:
    yield
    for pid in agent_processes(ID):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins(agent_users={"agent": "agent-s3cret"}) as jenkins:
        jenkins.add_job("slow", label="python", duration=4.0)
        yield jenkins


def standard_config(sim: SimJenkins, tmp: Path) -> Path:
    """The standard end-to-end config, its agents connecting with a credential of their own."""
    config = sim_config(sim, tmp)
    config["daemon"]["id"] = ID  # its own: other test sessions on this host clean up "e2e" agents
    agent_token = tmp / "agent-token"
    agent_token.write_text("agent-s3cret")
    config["controllers"][0].update({"agent-user": "agent", "agent-token-file": str(agent_token)})
    return write(tmp / "config.yaml", config)


def agent_nodes(sim: SimJenkins) -> list[str]:
    with sim.model.lock:
        return [n for n in sim.model.node_history if not n.endswith("placeholder")]


def start_standby(config: Path, log_file: Path) -> Daemon:
    """The second daemon: started without waiting for an API (the first one's answers)."""
    second = Daemon(config, log_file)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    with open(log_file, "ab") as log:
        second.proc = subprocess.Popen(
            [str(BIN / "autoscaler"), "run", "-c", str(config), "--log-level", "debug"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return second


def test_a_standby_takes_over_a_killed_daemon_and_adopts_its_agents(sim: SimJenkins, tmp_path: Path) -> None:
    config = standard_config(sim, tmp_path)
    first = Daemon(config, tmp_path / "first.log").start()
    second = start_standby(config, tmp_path / "second.log")
    try:
        assert first.proc is not None
        second.wait(lambda: "standby: another daemon holds" in second.log(), 15, "the second to stand by")
        assert f"(pid {first.proc.pid})" in second.log()
        sim.trigger("slow")
        sim.trigger("slow")
        sim.wait_for(lambda: sum(len(n.running) for n in sim.model.nodes.values()) == 2, 30, "2 busy agents")
        before = {a["name"] for a in first.cli("agents")}
        pids = set(agent_processes(ID))
        assert len(before) == 2 and len(pids) == 2
        assert "launch requested" not in second.log() and "adopted" not in second.log()  # it never acted

        first.stop(signal.SIGKILL)
        killed = time.monotonic()
        second.wait(lambda: {a["name"] for a in second.cli("agents")} == before, 10, "the standby to adopt")
        handover = time.monotonic() - killed
        print(f"hand-over after SIGKILL: {handover:.2f}s")
        assert handover < 10
        assert set(agent_processes(ID)) == pids  # no agent killed in the hand-over

        sim.wait_for(lambda: sim.model.builds_done() == 2, 30, "the builds")
        second.wait(lambda: second.cli("agents") == [], 30, "adopted agents to be retired")
        assert sim.model.builds_done("ABORTED") == 0
        assert len(agent_nodes(sim)) == 2  # no duplicate launch
        assert agent_processes(ID) == []  # none leaked
    finally:
        for d in (first, second):
            if d.proc is not None and d.proc.poll() is None:
                d.stop()


def test_a_standby_stops_on_sigterm_without_acting(sim: SimJenkins, tmp_path: Path) -> None:
    config = standard_config(sim, tmp_path)
    held = DaemonLock(lock_path(tmp_path / "agents", ID))  # the active daemon's lock, held here
    assert held.acquire()
    second = start_standby(config, tmp_path / "second.log")
    try:
        second.wait(lambda: "standby: another daemon holds" in second.log(), 15, "the second to stand by")
        assert f"(pid {os.getpid()})" in second.log()
        assert second.stop(signal.SIGTERM, timeout=5) == 0
        command = [str(BIN / "autoscaler"), "run", "--once", "-c", str(config)]
        once = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        assert once.returncode == 1 and "another daemon holds" in once.stderr  # --once does not act either
        assert sim.model.node_history == [] and agent_processes(ID) == []
    finally:
        held.release()
        if second.proc is not None and second.proc.poll() is None:
            second.stop()
