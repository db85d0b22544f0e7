"""The CLI reads cleanly: a hold's expiry in the table, comments said once, one event format,
plain help texts, and --watch on pools and agents."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoscaler.cli.main import cli
from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import BIN, Daemon, sim_config, write

pytestmark = pytest.mark.e2e


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins() as jenkins:
        yield jenkins


def commands(group: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(group, "commands", {}).items():
        yield from commands(sub, (*path, name))


def test_no_help_text_shows_rst_markup() -> None:
    for path in commands(cli):
        out = CliRunner().invoke(cli, [*path, "--help"]).output
        assert "``" not in out, (path, out)
    daemon = subprocess.run([str(BIN / "autoscalerd"), "--help"], capture_output=True, text=True, check=True)
    assert "``" not in daemon.stdout and "'autoscalerd'" in daemon.stdout
    assert "AUTOSCALER_API_TOKEN" in CliRunner().invoke(cli, ["--help"]).output


def run(config: Path, *args: str) -> str:
    cmd = [str(BIN / "autoscaler"), *args, "-c", str(config)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_hold_expiry_events_and_watch(sim: SimJenkins, tmp_path: Path) -> None:
    config = sim_config(sim, tmp_path)
    config["labels"][0]["min-ready"] = 1
    (tmp_path / "api-token").write_text("a-long-enough-api-token-for-the-test")
    config["api"]["token-file"] = str(tmp_path / "api-token")  # mutations over TCP need it
    daemon = Daemon(write(tmp_path / "config.yaml", config), tmp_path / "daemon.log").start()
    try:
        daemon.wait(lambda: any(a["state"] == "ready" for a in daemon.cli("agents")), 30, "a ready agent")
        name = next(a["name"] for a in daemon.cli("agents") if a["state"] == "ready")
        assert run(daemon.config_file, "hold", name, "--reason", "inspect", "--for", "2h").strip() == (
            f"{name}: held (inspect)"
        )
        row = next(line for line in run(daemon.config_file, "agents").splitlines() if line.startswith(name))
        assert re.search(r"held \((1h59m|2h) left\)", row), row
        held = [line for line in run(daemon.config_file, "events").splitlines() if " held " in line]
        assert held and held[-1].split()[-1] == "inspect" and "held: inspect" not in held[-1], held
        watcher = subprocess.Popen(
            [str(BIN / "autoscaler"), "pools", "--watch", "0.2", "-c", str(daemon.config_file)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert watcher.stdout is not None
        frames = []
        for line in watcher.stdout:  # frames arrive one by one until interrupted
            if line.startswith("every 0.2s"):
                frames.append(time.monotonic())
            if len(frames) == 3:
                break
        watcher.send_signal(signal.SIGINT)
        out, _ = watcher.communicate(timeout=10)
        assert watcher.returncode == 0, out
        assert len(frames) == 3 and frames[2] - frames[0] >= 0.4, frames
    finally:
        daemon.stop()
