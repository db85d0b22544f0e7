"""Metrics of a real run: the daemon with the local driver against the simulated Jenkins; its
start-up phases (no ``scheduled``: a local process has no such step), process metrics,
listener health, per-agent phases and ``autoscaler usage``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from autoscaler.metrics.families import PHASES
from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import Daemon

pytestmark = pytest.mark.e2e


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins() as jenkins:
        jenkins.add_job("unit", label="python", duration=4.0)
        yield jenkins


def get(daemon: Daemon, path: str) -> requests.Response:
    listen = yaml.safe_load(daemon.config_file.read_text())["api"]["listen"]
    return requests.get(f"http://{listen}/{path}", timeout=5)


def scrape(daemon: Daemon) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = get(daemon, "metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_local_run_has_every_phase_but_scheduled(sim: SimJenkins, daemon: Daemon) -> None:
    daemon.start()
    sim.trigger("unit")
    rows: list[dict[str, Any]] = []

    def busy() -> bool:  # through the API, not the CLI: the build is short
        rows[:] = [a for a in get(daemon, "v1/agents").json() if a["state"] == "busy"]
        return bool(rows)

    daemon.wait(busy, 60, "an agent to go busy")
    sim.wait_for(lambda: sim.model.builds_done() == 1, 60, "the build")
    daemon.wait(lambda: daemon.cli("agents") == [], 60, "the agent to be retired")
    samples = scrape(daemon)
    labels = {("controller", "main"), ("label", "python")}

    def count(phase: str) -> float:
        return samples[("autoscaler_agent_startup_seconds_count", frozenset({*labels, ("phase", phase)}))]

    assert {p: count(p) for p in PHASES} == {p: 0 if p == "scheduled" else 1 for p in PHASES}
    assert samples[("autoscaler_boot_seconds_count", frozenset())] == 1
    busy_seconds = samples[("autoscaler_agent_seconds_total", frozenset({*labels, ("state", "busy")}))]
    assert busy_seconds > 0.5
    assert ("autoscaler_listener_up", frozenset({("listener", "events")})) in samples
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)
    assert [k for k in samples if k[0] == "autoscaler_build_info"]

    (row,) = rows
    assert row["phases"]["scheduled"] is None and "scheduled" in row["phase_notes"]
    assert row["phases"]["running"]["seconds"] is not None and row["phases"]["online"]["seconds"] is not None

    usage = {r["label"]: r for r in daemon.cli("usage", "--since", "1h")["labels"]}
    python = usage["python"]
    assert (python["launched"], python["failures"]) == (1, 0)
    assert python["agent_hours"] > 0 and 0 < python["busy_share"] < 1
    assert python["queue_wait_p50"] is not None
    assert usage["docker"]["launched"] == 0
    assert daemon.stop() == 0
