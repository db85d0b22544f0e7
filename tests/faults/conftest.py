"""Fixtures of the fault matrix: a simulated Jenkins with jobs, and the daemon against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.testing.jenkins import SimJenkins
from tests.faults.harness import Fleet


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins() as jenkins:
        jenkins.add_job("unit", label="python", duration=0.5)
        jenkins.add_job("long", label="python", duration=6.0)
        jenkins.add_job("pipe", kind="pipeline", label="python", duration=0.5)
        # events name no agent for a pipeline: only /computer shows its agent busy, and its
        # build outlasts the boot timeout (2 s), so a daemon that cannot read Jenkins and
        # retires by the clock kills it
        jenkins.add_job("longpipe", kind="pipeline", label="python", duration=3.0)
        jenkins.add_job("onebyone", label="solo", duration=1.5)
        yield jenkins


@pytest.fixture
def fleet(sim: SimJenkins, tmp_path: Path) -> Iterator[Fleet]:
    with Fleet(sim, tmp_path) as running:
        yield running
