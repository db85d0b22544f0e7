"""Agent pods run restricted by default (issue 10 §4), and a label's ``pod-template`` can relax it.

The pods are checked as the official client sent them to the Kubernetes API double.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from autoscaler.drivers.kubernetes.podspec import build_pod
from autoscaler.drivers.kubernetes.settings import KubernetesSettings
from autoscaler.plugin import LaunchSpec
from tests.integration.k8s_world import K8sWorld

RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


@pytest.fixture
def world() -> Iterator[K8sWorld]:
    w = K8sWorld()
    yield w
    w.close()


def sent_pod(world: K8sWorld, name: str) -> dict[str, Any]:
    (pod,) = [b for b in world.api.created if b["kind"] == "Pod" and b["metadata"]["name"] == name]
    return pod


def launch(world: K8sWorld, name: str, label: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    config = world.config.label(label)
    if template is not None:
        config = config.model_copy(update={"pod_template": template})
    world.driver.launch(LaunchSpec(name, config, world.config.default_controller, "test", credential=world.sim.token))
    return sent_pod(world, name)


@pytest.mark.parametrize(("name", "label"), [("ci-python-sec001", "python"), ("ci-java-sec002", "java")])
def test_every_pod_is_restricted_by_default(world: K8sWorld, name: str, label: str) -> None:
    spec = launch(world, name, label)["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == RESTRICTED_POD
    (container,) = spec["containers"]
    assert container["name"] == "agent" and container["securityContext"] == RESTRICTED_CONTAINER
    assert "readOnlyRootFilesystem" not in container["securityContext"]  # the agent writes its workspace


def test_a_label_pod_template_overrides_each_default_and_keeps_the_rest(world: K8sWorld) -> None:
    template = {
        "spec": {
            "automountServiceAccountToken": True,
            "securityContext": {"runAsUser": 1001, "seccompProfile": {"type": "Unconfined"}},
            "containers": [{"name": "agent", "securityContext": {"capabilities": {"add": ["SYS_PTRACE"]}}}],
        }
    }
    spec = launch(world, "ci-python-sec003", "python", template)["spec"]
    assert spec["automountServiceAccountToken"] is True
    assert spec["securityContext"] == {**RESTRICTED_POD, "runAsUser": 1001, "seccompProfile": {"type": "Unconfined"}}
    (container,) = spec["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["SYS_PTRACE"]},
    }
    assert container["image"] == "registry.example.org/ci/swarm-agent:3.47"  # the generated pod still wins
    other = launch(world, "ci-python-sec004", "python")["spec"]  # the override is this label's only
    assert other["securityContext"] == RESTRICTED_POD


def test_label_template_wins_over_the_driver_template_which_wins_over_the_defaults(world: K8sWorld) -> None:
    settings = KubernetesSettings.model_validate(
        {
            "type": "kubernetes",
            "service-account": "agents",
            "pod-template": {"spec": {"securityContext": {"runAsUser": 2000, "fsGroup": 2000}}},
        }
    )
    label = world.config.label("python").model_copy(
        update={"pod_template": {"spec": {"securityContext": {"runAsUser": 3000}}}}
    )
    pod = build_pod("ci-python-sec005", label, world.config.default_controller, "test", settings, 0)
    assert pod["spec"]["securityContext"] == {**RESTRICTED_POD, "runAsUser": 3000, "fsGroup": 2000}
    assert pod["spec"]["automountServiceAccountToken"] is True  # a service account was asked for
    assert pod["spec"]["serviceAccountName"] == "agents"
