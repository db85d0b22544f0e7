"""The engine with the real kubernetes driver on the API double: backoff, quota, adoption, leaks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autoscaler.drivers.kubernetes.driver import KubernetesDriver
from autoscaler.drivers.kubernetes.podspec import build_pod
from autoscaler.engine.messages import Reconcile, Tick
from tests.integration.k8s_world import NS, EngineRun, K8sWorld

Run = EngineRun


@pytest.fixture
def world() -> Iterator[K8sWorld]:
    w = K8sWorld()
    yield w
    w.close()


def test_a_bad_image_backs_off_instead_of_storming(world: K8sWorld) -> None:
    run = Run(world)
    run.demand("broken", 3)
    assert world.api.store.calls["POST pods"] == 3
    run.settle(lambda: run.engine.state.backoff.get("broken") is not None, what="the failures")
    run.settle(lambda: not run.engine.state.agents, what="the failed pods retired")
    for _ in range(50):  # five more seconds of demand and ticks inside the backoff
        run.clock.advance(0.1)
        run.engine.submit(Tick())
        run.demand("broken", 3)
    assert world.api.store.calls["POST pods"] == 3
    assert world.api.store.calls["DELETE pods"] == 3
    assert run.engine.state.backoff["broken"].failures == 3
    assert run.engine.state.stats.failures["broken"] == 3


def test_quota_refusal_is_retried_later_without_backoff_growth() -> None:
    world = K8sWorld(pod_quota=1)
    try:
        run = Run(world)
        run.demand("python", 2)
        assert world.api.store.calls["POST pods"] == 2  # one created, one refused by the quota
        assert len(run.engine.state.agents) == 1
        assert run.engine.state.backoff["python"].failures == 0
        world.api.store.pod_quota = 2  # the quota is raised
        run.clock.advance(11)
        run.engine.submit(Tick())
        run.engine.drain()
        assert world.api.store.calls["POST pods"] == 3
        assert len(run.engine.state.agents) == 2 and run.engine.state.stats.launch_failures["python"] == 1
    finally:
        world.close()


def test_a_restarted_engine_adopts_running_pods(world: K8sWorld) -> None:
    first = Run(world)
    first.demand("python", 2)
    first.settle(
        lambda: len(world.sim.model.nodes) == 2 and all(n.connected for n in world.sim.model.nodes.values()),
        "two agents online",
        timeout=30,
    )
    creates = world.api.store.calls["POST pods"]
    restarted_driver = KubernetesDriver(world.settings, world.context)  # a new process: no memory at all
    second = Run(world, restarted_driver)
    try:
        assert sorted(second.engine.state.agents) == sorted(first.engine.state.agents)
        assert second.engine.state.stats.adopted == 2
        second.demand("python", 2)
        assert world.api.store.calls["POST pods"] == creates  # nothing launched twice
    finally:
        restarted_driver.close()


def test_an_unknown_pod_of_ours_is_adopted_after_two_passes_and_retired_safely(world: K8sWorld) -> None:
    """A pod whose create timed out on our side but succeeded on the server is never killed
    blindly: seen twice, it is adopted, and retires like any agent (here: never online)."""
    run = Run(world)
    label = world.config.label("python")
    world.api.store.create(
        "pods", NS, build_pod("ci-python-leaked", label, world.config.controllers[0], "test", world.settings, 0)
    )
    world.api.store.create(
        "pods", NS, build_pod("ci-python-theirs", label, world.config.controllers[0], "other", world.settings, 0)
    )
    run.settle(lambda: "ci-python-leaked" in {h.name for h in run.driver.list()}, what="the watch to see it")
    run.engine.submit(Reconcile())
    run.engine.drain()
    assert "ci-python-leaked" not in run.engine.state.agents and run.engine.state.stats.leaks == 0  # once may be a race
    run.engine.submit(Reconcile())
    run.settle(lambda: "ci-python-leaked" in run.engine.state.agents, what="the second pass to adopt it")
    assert run.engine.state.stats.leaks == 1
    assert "ci-python-leaked" in world.api.pods(NS)  # adopted, not deleted
    run.clock.advance(world.config.limits.boot_timeout + 1)
    run.engine.submit(Tick())
    run.settle(lambda: "ci-python-leaked" not in run.engine.state.agents, what="the boot timeout to retire it")
    world.api.wait_for(lambda: "ci-python-leaked" not in world.api.pods(NS), 20, "the pod deleted")
    assert "ci-python-theirs" in world.api.pods(NS)  # another instance's pod is left alone
