"""Start-up by phase and build annotations with the real kubernetes driver on the API double
(its kubelet binds the pod to a node: the scheduled phase is seen, unlike a local process)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from autoscaler.engine.core import Engine
from autoscaler.engine.messages import DemandUpdate, DriverSeen
from autoscaler.engine.state import Agent, AgentState
from autoscaler.events import DemandItem, DemandReport, LifecycleHint
from autoscaler.metrics.families import PHASES
from autoscaler.testing.fakes import InlineExecutor
from tests.integration.k8s_world import NS, K8sWorld


@pytest.fixture
def world() -> Iterator[K8sWorld]:
    w = K8sWorld()
    yield w
    w.close()


def settle(engine: Engine, predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Let the watch's events reach the engine, and read /computer, until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {engine.state.agents}"
        engine.submit(LifecycleHint("main"))
        engine.drain()
        time.sleep(0.05)


def test_a_pod_goes_through_every_phase_and_is_annotated_with_its_build(world: K8sWorld) -> None:
    engine = Engine(world.config, world.driver, {"main": world.jenkins}, InlineExecutor())
    world.context.emit = engine.submit  # the driver's watch reports into this engine
    engine.step(DriverSeen(world.driver.list()))
    world.sim.add_job("unit", label="python", duration=3.0)
    world.sim.trigger("unit")
    item = DemandItem("main:unit", expression="python")
    engine.submit(DemandUpdate("queue", "main", DemandReport((item,), "main")))
    engine.drain()
    (agent,) = engine.state.agents.values()

    def state() -> AgentState:
        current: Agent = engine.state.agents[agent.name]
        return current.state

    settle(engine, lambda: state() == AgentState.BUSY, "the pod's agent to take the build")
    assert [p for p in PHASES if p in agent.phases] == list(PHASES)  # scheduled too
    assert agent.phase_notes == {}
    startup = engine.state.stats.metrics.startup
    counts = {
        s.labels["phase"]: s.value
        for m in startup.collect()
        for s in m.samples
        if s.name.endswith("_count") and s.labels["label"] == "python"
    }
    assert counts == dict.fromkeys(PHASES, 1.0)

    def annotations() -> dict[str, str]:
        pod = world.api.store.objects[("pods", NS, agent.name)]
        return dict(pod["metadata"].get("annotations") or {})

    settle(engine, lambda: "autoscaler.jenkins.io/build" in annotations(), "the pod's build annotations")
    assert annotations()["autoscaler.jenkins.io/job"] == "unit"
    assert annotations()["autoscaler.jenkins.io/build"] == "1"
