"""Every end-to-end test leaves no agent process behind, even when it fails; ``daemon`` runs the
daemon against the test module's ``sim`` with the standard end-to-end config."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import Daemon, agent_processes, sim_config, write


@pytest.fixture(autouse=True)
def no_agent_left_behind() -> Iterator[None]:
    yield
    for pid in agent_processes("e2e") + agent_processes("demo"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def daemon(sim: SimJenkins, tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(write(tmp_path / "config.yaml", sim_config(sim, tmp_path)), tmp_path / "daemon.log")
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.stop()
