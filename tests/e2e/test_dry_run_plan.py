"""``autoscaler run --once --dry-run`` prints the plan against the simulated Jenkins, as a user runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import BIN, agent_processes, command_line, sim_config, write

pytestmark = pytest.mark.e2e


def test_once_dry_run_prints_demand_agents_launches_and_what_holds_each_label_back(tmp_path: Path) -> None:
    with SimJenkins() as sim:
        for i in range(3):
            sim.add_job(f"unit{i}", label="python", duration=1.0)
            sim.trigger(f"unit{i}")
        sim.add_job("image", label="linux&&docker", duration=1.0)
        sim.trigger("image")
        sim.model.create_node("builder", labels="python", executors=1)  # any agent node: labels are named
        config = sim_config(sim, tmp_path)
        (tmp_path / "at").write_text("agent-secret")
        config["controllers"][0].update(
            {"agent-user": "agentuser", "agent-token-file": str(tmp_path / "at")}
        )  # swarm agents need their own
        config["labels"] = [
            {"name": "python", "command": command_line(), "max": 2},
            {
                "name": "docker",
                "atoms": ["linux"],
                "command": command_line(),
                "max": 3,
                "schedule": [{"periods": ["0 0 1 1 *"], "min-ready": 5}, {"periods": ["* * * * *"], "min-ready": 1}],
            },
            {"name": "java", "command": command_line()},
        ]
        run = subprocess.run(
            [str(BIN / "autoscaler"), "run", "-c", str(write(tmp_path / "c.yaml", config)), "--once", "--dry-run"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        nodes = set(sim.model.nodes)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[0] == "Plan (dry run: nothing was launched or retired)"
    assert lines[1].split() == ["LABEL", "DEMAND", "AGENTS", "MIN-READY", "LAUNCH", "RETIRE", "HELD", "BACK", "BY"]
    rows = {line.split()[0]: line for line in lines[2:5]}
    assert rows["python"].split()[:6] == ["python", "3", "-", "0", "2", "0"]
    assert "label python is at its max of 2 agents" in rows["python"]
    assert rows["docker"].split() == ["docker", "1", "-", "1", "2", "0", "-"]  # 1 build + 1 kept ready
    assert rows["java"].split() == ["java", "0", "-", "0", "0", "0", "-"]
    assert '  docker: min-ready 1 from schedule[1] "* * * * *" UTC' in lines
    assert "dry run: would launch e2e-python-" in run.stderr
    assert agent_processes("e2e") == []
    assert nodes == {"builder", "e2e-python-placeholder", "e2e-docker-placeholder", "e2e-java-placeholder"}
