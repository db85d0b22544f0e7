"""Wall-clock steps (NTP, a resumed VM, ``date -s``) change none of the daemon's timers: its
ticks, polls and timeouts run on the monotonic clock. The daemon runs under libfaketime, which
steps the wall clock of that process alone (the monotonic clock is left as it is)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import Daemon, sim_config, write

pytestmark = pytest.mark.e2e
LIBFAKETIME = next(
    (p for p in Path("/usr/lib").glob("*/faketime/libfaketime.so.1")), Path("/usr/lib/faketime/libfaketime.so.1")
)


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins() as jenkins:
        jenkins.add_job("unit", label="python", duration=0.5)
        yield jenkins


@pytest.fixture
def clock_file(tmp_path: Path) -> Path:
    path = tmp_path / "faketime"
    path.write_text("+0\n")
    return path


@pytest.fixture
def daemon(sim: SimJenkins, tmp_path: Path, clock_file: Path) -> Iterator[Daemon]:
    if not LIBFAKETIME.exists():
        missing = f"libfaketime is needed (apt-get install libfaketime): {LIBFAKETIME} not found"
        if os.environ.get("CI"):
            pytest.fail(missing)  # .ci/run installs it: never let CI skip these rows
        pytest.skip(missing)
    env = {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(clock_file),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    config = sim_config(sim, tmp_path, limits={"max-agents": 6, "boot-timeout": "20s"})
    d = Daemon(write(tmp_path / "config.yaml", config), tmp_path / "daemon.log", env)
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.stop()


def test_a_backward_step_stops_no_timer(sim: SimJenkins, daemon: Daemon, clock_file: Path) -> None:
    daemon.start()
    sim.trigger("unit")
    sim.wait_for(lambda: sim.model.builds_done() == 1, 30, "a first build")
    clock_file.write_text("-3600\n")  # the daemon's wall clock goes back an hour
    for _ in range(3):
        sim.trigger("unit")
    sim.wait_for(lambda: sim.model.builds_done() == 4, 30, "builds queued after the step to be served")
    daemon.wait(lambda: daemon.cli("agents") == [], 30, "every agent retired")


def test_a_forward_step_fails_no_booting_agent(sim: SimJenkins, daemon: Daemon, clock_file: Path) -> None:
    register = sim.faults.add("POST", "/plugin/swarm/createSlave", hang=True)  # agents boot until released
    daemon.start()
    sim.trigger("unit")
    sim.wait_for(lambda: register.hits >= 1, 30, "an agent booting")
    reads = sim.requests[("GET", "/computer/api/json")]
    clock_file.write_text("+86400\n")  # a day ahead: nothing has been booting for a day
    # a booting one-shot agent is watched every tick: a few readings mean a few ticks went by
    sim.wait_for(lambda: sim.requests[("GET", "/computer/api/json")] >= reads + 3, 10, "ticks after the step")
    ticks = [e for e in daemon.cli("events") if "not online" in e["message"]]
    sim.faults.remove(register)
    sim.wait_for(lambda: sim.model.builds_done() == 1, 30, "the build")
    daemon.wait(lambda: daemon.cli("agents") == [], 30, "the agent retired")
    failed = [e for e in daemon.cli("events") if "not online" in e["message"] or e["kind"] == "failed"]
    assert ticks == [] and failed == []
    assert sum(p["launched_total"] for p in daemon.cli("pools")) == 1  # one agent, never relaunched
