"""Why a build waits and why an agent failed, with the real kubernetes driver on the API double:
a pod the scheduler cannot place, a pod pulling its image, a bad image, an OOM-killed container."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from autoscaler.engine.messages import Command
from autoscaler.engine.state import AgentState
from autoscaler.events import LifecycleHint
from tests.integration.k8s_world import EngineRun, K8sWorld

MESSAGE = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available."


class Run(EngineRun):
    def why(self, q: str) -> dict[str, Any]:
        command = Command("why", {"q": q})
        self.engine.submit(command)
        self.engine.drain()
        reason: dict[str, Any] = command.reply.result(timeout=5)["items"][0]["reason"]
        return reason

    def comment(self) -> str:
        return " ".join(a.comment for a in self.engine.state.agents.values())


@pytest.fixture
def world() -> Iterator[K8sWorld]:
    w = K8sWorld()
    yield w
    w.close()


def test_an_unschedulable_pod_is_named_with_the_schedulers_message_then_counted(world: K8sWorld) -> None:
    world.kubelet.unschedulable = MESSAGE
    run = Run(world)
    run.demand("python")
    run.settle(lambda: run.comment().startswith("unschedulable"), "the pod to be unschedulable")
    reason = run.why("python-job")
    assert reason["kind"] == "agent-unschedulable"
    assert MESSAGE in reason["text"]
    run.clock.advance(world.config.limits.boot_timeout + 1)
    run.engine.submit(LifecycleHint("main"))  # a fresh look at Jenkins: the agent never came online
    run.settle(lambda: ("python", "unschedulable") in run.engine.state.failure_reasons, "the failure")
    assert MESSAGE in run.engine.state.last_failure["python"]
    events = [e["message"] for e in run.engine.state.history if e["kind"] == "failure"]
    assert events and events[0].startswith("unschedulable: not online in Jenkins after")


def test_a_pod_pulling_its_image_is_named(world: K8sWorld) -> None:
    world.kubelet.pull_seconds = 30
    run = Run(world)
    run.demand("python")
    run.settle(lambda: "pulling image" in run.comment(), "the image pull")
    reason = run.why("main:python:0")
    assert reason["kind"] == "agent-pulling-image"
    assert "registry.example.org/ci/swarm-agent:3.47" in reason["text"]


def test_a_bad_image_backs_off_naming_the_pull_error(world: K8sWorld) -> None:
    run = Run(world)
    run.demand("broken")
    run.settle(lambda: ("broken", "image-pull") in run.engine.state.failure_reasons, "the image-pull failure")
    reason = run.why("broken-job")
    assert reason["kind"] == "backoff"
    assert 'ErrImagePull: Back-off pulling image "registry.example.org/ci/does-not-exist:1"' in reason["text"]


def test_an_oom_killed_agent_is_counted_as_such(world: K8sWorld) -> None:
    run = Run(world)
    run.demand("python")
    run.settle(lambda: any(a.state == AgentState.BOOTING for a in run.engine.state.agents.values()), "a running pod")
    (name,) = run.engine.state.agents
    world.kubelet.oom_kill(name)
    run.settle(lambda: ("python", "oom-killed") in run.engine.state.failure_reasons, "the OOM failure")
    assert "OOMKilled, exit code 137" in run.engine.state.last_failure["python"]
