"""``run --once`` tells a script whether its one pass could see Jenkins and the driver."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import BIN, free_port, sim_config, write

pytestmark = pytest.mark.e2e


def run_once(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "autoscaler"), "run", "-c", str(config), "--once", "--log-level", "warning"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_once_against_a_reachable_jenkins_exits_zero(tmp_path: Path) -> None:
    with SimJenkins() as sim:
        run = run_once(write(tmp_path / "c.yaml", sim_config(sim, tmp_path)))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "cannot reach" not in run.stderr


def test_once_against_a_jenkins_that_refuses_connections_exits_non_zero(tmp_path: Path) -> None:
    with SimJenkins() as sim:
        config = sim_config(sim, tmp_path)
    config["controllers"][0]["url"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    run = run_once(write(tmp_path / "c.yaml", config))
    assert run.returncode == 1, run.stderr[-3000:]
    assert "autoscaler: cannot reach controller 'main'" in run.stderr
    assert "autoscaler: cannot reach demand listener 'queue'" in run.stderr
    assert time.monotonic() - started < 30


def test_once_refuses_to_act_outside_leader_election(tmp_path: Path) -> None:
    """With replicas electing a leader, a --once pass would launch and retire behind the leader's back."""
    with SimJenkins() as sim:
        config = sim_config(sim, tmp_path)
    config["driver"] = {"type": "kubernetes", "url": "http://127.0.0.1:9", "namespace": "ci"}
    config["labels"] = [{"name": "java", "connect": "inbound", "image": "jenkins/inbound-agent:latest"}]
    config["daemon"]["leader-election"] = {"enabled": True}
    run = run_once(write(tmp_path / "c.yaml", config))
    assert run.returncode == 2, run.stderr[-3000:]
    assert "--once would act outside leader election" in run.stderr
