"""The daemon as a subprocess with a config file, against the simulated Jenkins, as a user runs it."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import BIN, Daemon, agent_processes, sim_config, write

pytestmark = pytest.mark.e2e


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins() as jenkins:
        jenkins.add_job("unit", label="python", duration=1.0)
        jenkins.add_job("pipe", kind="pipeline", label="python", duration=1.0)
        jenkins.add_job("image", label="linux&&docker", duration=1.0)
        jenkins.add_job("slow", label="python", duration=6.0)
        yield jenkins


def test_agents_appear_go_busy_and_are_retired(sim: SimJenkins, daemon: Daemon) -> None:
    daemon.start()
    for job in ("unit", "pipe", "image", "slow"):
        sim.trigger(job)
    seen: dict[str, set[str]] = {}

    def observe() -> bool:
        for agent in daemon.cli("agents"):
            seen.setdefault(agent["name"], set()).add(agent["state"])
        return any("busy" in states for states in seen.values())

    daemon.wait(observe, 60, "an agent to go busy")
    sim.wait_for(lambda: sim.model.builds_done() == 4, 60, "all builds")
    daemon.wait(lambda: daemon.cli("agents") == [], 60, "every agent to be retired")
    assert len(seen) >= 3
    assert {name.rsplit("-", 1)[0] for name in seen} <= {"e2e-python", "e2e-docker"}
    assert len([n for n in sim.model.node_history if not n.endswith("placeholder")]) == 4  # one per build
    pools = {p["label"]: p for p in daemon.cli("pools")}
    assert pools["python"]["retired_total"] == 3 and pools["docker"]["retired_total"] == 1
    assert agent_processes("e2e") == []
    assert sim.token not in daemon.log()
    assert daemon.stop() == 0


def test_sigkill_restart_adopts_every_live_agent(sim: SimJenkins, daemon: Daemon, tmp_path: Path) -> None:
    daemon.start()
    for _ in range(3):
        sim.trigger("slow")
    sim.wait_for(lambda: sum(len(n.running) for n in sim.model.nodes.values()) == 3, 60, "3 busy agents")
    before = {a["name"] for a in daemon.cli("agents")}
    assert len(before) == 3
    pids = set(agent_processes("e2e"))
    daemon.stop(signal.SIGKILL)
    assert set(agent_processes("e2e")) == pids  # killing the daemon kills no agent

    daemon.start()
    after = {a["name"]: a for a in daemon.cli("agents")}
    assert set(after) == before
    sim.wait_for(lambda: sim.model.builds_done() == 3, 60, "the slow builds")
    daemon.wait(lambda: daemon.cli("agents") == [], 60, "adopted agents to be retired")
    assert sim.model.builds_done("ABORTED") == 0  # no build was cut short
    assert len([n for n in sim.model.node_history if not n.endswith("placeholder")]) == 3  # none duplicated
    assert agent_processes("e2e") == []  # none leaked
    assert "adopted" in daemon.log()


def test_sigterm_leaves_agents_running_for_the_next_start(sim: SimJenkins, daemon: Daemon) -> None:
    daemon.start()
    sim.trigger("slow")
    sim.wait_for(lambda: any(n.running for n in sim.model.nodes.values()), 60, "a busy agent")
    assert daemon.stop(signal.SIGTERM) == 0
    assert len(agent_processes("e2e")) == 1
    daemon.start()
    sim.wait_for(lambda: sim.model.builds_done() == 1, 60, "the build")
    daemon.wait(lambda: agent_processes("e2e") == [], 60, "the adopted agent to be retired")


def test_sighup_reloads_and_a_broken_config_keeps_the_old_one(sim: SimJenkins, daemon: Daemon) -> None:
    daemon.start()
    config = daemon.config_file.read_text()
    daemon.config_file.write_text(config.replace("max: 4", "max: 1"))
    daemon.send(signal.SIGHUP)
    daemon.wait(lambda: {p["label"]: p["max"] for p in daemon.cli("pools")}["python"] == 1, 20, "the reload")
    daemon.config_file.write_text(config.replace("max: 4", "max: -5"))
    daemon.send(signal.SIGHUP)
    daemon.wait(lambda: "reload refused" in daemon.log(), 20, "the refusal")
    assert {p["label"]: p["max"] for p in daemon.cli("pools")}["python"] == 1
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_bad_config_exits_with_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("controllers:\n  - url: http://j/\nlabels:\n  - name: python\n    max: lots\n")
    run = subprocess.run(
        [str(BIN / "autoscaler"), "run", "-c", str(bad)], capture_output=True, text=True, timeout=30, check=False
    )
    assert run.returncode == 2
    assert f"{bad}:5: labels[0].max: expected a whole number, got 'lots'" in run.stderr
    check = subprocess.run(
        [str(BIN / "autoscaler"), "config", "validate", "-c", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert check.returncode == 1 and "labels[0].max" in check.stderr


def test_once_dry_run_plans_without_launching(sim: SimJenkins, tmp_path: Path) -> None:
    config = write(tmp_path / "config.yaml", sim_config(sim, tmp_path))
    sim.model.create_node("builder", labels="python", executors=1)  # any agent node: labels are named
    sim.trigger("unit")
    sim.trigger("image")
    run = subprocess.run(
        [str(BIN / "autoscaler"), "run", "-c", str(config), "--once", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "dry run: would launch e2e-python-" in run.stderr
    assert "dry run: would launch e2e-docker-" in run.stderr
    assert agent_processes("e2e") == []
    assert set(sim.model.nodes) == {"builder", "e2e-python-placeholder", "e2e-docker-placeholder"}


def test_a_taken_api_port_is_a_clear_error(sim: SimJenkins, tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write(tmp_path / "config.yaml", sim_config(sim, tmp_path, api={"listen": f"127.0.0.1:{port}"}))
        run = subprocess.run(
            [str(BIN / "autoscaler"), "run", "-c", str(config)], capture_output=True, text=True, timeout=60, check=False
        )
    assert run.returncode == 2
    assert f"API cannot listen on 127.0.0.1:{port}: Address already in use" in run.stderr
    assert "Traceback" not in run.stderr
