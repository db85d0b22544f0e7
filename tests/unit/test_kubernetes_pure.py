"""Pure parts of the kubernetes driver: the rate limiter, pod status meanings, the pod spec."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.agent_env import agent_env
from autoscaler.config.models import Config
from autoscaler.drivers.kubernetes.podspec import AGENT_FS, PASSWORD_ENV, build_pod
from autoscaler.drivers.kubernetes.settings import KubernetesSettings
from autoscaler.drivers.kubernetes.status import handle_of
from autoscaler.plugin import DriverStatus
from autoscaler.ratelimit import RateLimiter
from autoscaler.testing.fakes import FakeClock


def test_rate_limiter_allows_a_burst_then_spaces_calls() -> None:
    clock = FakeClock(0)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        clock.advance(seconds)

    limiter = RateLimiter(qps=2, burst=3, clock=clock, sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert slept == [0.5, 0.5]  # three at once, then one every 1/qps seconds
    clock.advance(10)
    limiter.acquire()
    assert slept == [0.5, 0.5]  # the bucket refilled (up to the burst) while idle


def pod(
    phase: str, *, waiting: str | None = None, terminated: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    state: dict[str, Any] = {"waiting": {"reason": waiting}} if waiting else {}
    if terminated:
        state = {"terminated": terminated}
    return {
        "metadata": {
            "name": "p",
            "annotations": {"autoscaler.jenkins.io/label": "python"},
            "creationTimestamp": "2026-11-22T03:00:00Z",
            **extra.pop("meta", {}),
        },
        "status": {"phase": phase, "containerStatuses": [{"state": state}], **extra},
    }


@pytest.mark.parametrize(
    ("obj", "status", "detail"),
    [
        (pod("Pending"), DriverStatus.PENDING, "pending"),
        (pod("Pending", waiting="ContainerCreating"), DriverStatus.PENDING, "ContainerCreating"),
        (pod("Pending", waiting="ErrImagePull"), DriverStatus.FAILED, "ErrImagePull"),
        (pod("Pending", waiting="ImagePullBackOff"), DriverStatus.FAILED, "ImagePullBackOff"),
        (pod("Running", waiting="CrashLoopBackOff"), DriverStatus.FAILED, "CrashLoopBackOff"),
        (pod("Running"), DriverStatus.RUNNING, "running"),
        (pod("Failed", reason="Evicted", message="low on memory"), DriverStatus.FAILED, "Evicted: low on memory"),
        (
            pod("Failed", terminated={"exitCode": 137, "reason": "OOMKilled"}),
            DriverStatus.FAILED,
            "pod failed (OOMKilled, exit code 137)",
        ),
        (pod("Succeeded"), DriverStatus.EXITED, "pod completed"),
        (pod("Running", meta={"deletionTimestamp": "2026-11-22T03:01:00Z"}), DriverStatus.EXITED, "terminating"),
    ],
)
def test_pod_status_meanings(obj: dict[str, Any], status: DriverStatus, detail: str) -> None:
    handle = handle_of(obj, "main")
    assert (handle.status, handle.detail) == (status, detail)
    assert (handle.label, handle.controller) == ("python", "main")
    assert handle.created == 1795316400.0


def test_service_account_and_pull_secrets_reach_the_pod() -> None:
    config = Config.model_validate(
        {"controllers": [{"url": "http://j/", "user": "bot"}], "labels": [{"name": "python", "image": "swarm-agent:1"}]}
    )
    settings = KubernetesSettings.model_validate(
        {"type": "kubernetes", "service-account": "agents", "image-pull-secrets": ["registry"]}
    )
    spec = build_pod("ci-python-abcdef", config.labels[0], config.default_controller, "d", settings, 0)["spec"]
    assert spec["serviceAccountName"] == "agents" and spec["automountServiceAccountToken"] is True
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    no_sa = build_pod(
        "ci-python-abcdef", config.labels[0], config.default_controller, "d", KubernetesSettings(type="kubernetes"), 0
    )["spec"]
    assert no_sa["automountServiceAccountToken"] is False and "serviceAccountName" not in no_sa


def test_rate_limiter_refuses_a_limit_that_would_never_let_a_call_through() -> None:
    with pytest.raises(ValueError, match="qps > 0 and burst >= 1"):
        RateLimiter(qps=0, burst=1)


ENV_CONFIG = {
    "controllers": [{"url": "http://j/", "agent-url": "http://agents/", "user": "bot"}],
    "labels": [
        {"name": "python", "image": "swarm-agent:1", "atoms": ["linux"], "executors": 2, "env": {"EXTRA": "1"}},
        {"name": "java", "connect": "inbound", "image": "jenkins/inbound-agent:1"},
    ],
}


def test_a_pod_carries_the_framework_agent_environment_with_identity_tags() -> None:
    config = Config.model_validate(ENV_CONFIG)
    settings = KubernetesSettings(type="kubernetes", web_socket=True)
    python, java = config.labels
    (container,) = build_pod("ci-python-aaaaaa", python, config.default_controller, "d1", settings, 0)["spec"][
        "containers"
    ]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    expected = agent_env(
        "ci-python-aaaaaa", python, config.default_controller, "d1", workdir=AGENT_FS, credential_env=PASSWORD_ENV
    )
    assert {k: env[k] for k in expected.values} == expected.values  # the one builder, as a process gets it
    assert (env["AUTOSCALER_DAEMON_ID"], env["AUTOSCALER_AGENT_NAME"]) == ("d1", "ci-python-aaaaaa")
    assert (env["AGENT_LABELS"], env["AGENT_EXECUTORS"], env["JENKINS_URL"]) == ("linux python", "2", "http://agents/")
    assert env["JENKINS_PASSWORD"] == {"secretKeyRef": {"name": "jenkins-agent", "key": "token"}}
    (inbound,) = build_pod("ci-java-bbbbbb", java, config.default_controller, "d1", settings, 0)["spec"]["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in inbound["env"]}
    assert env["JENKINS_SECRET"] == {"secretKeyRef": {"name": "ci-java-bbbbbb-agent-secret", "key": "secret"}}
    assert (env["JENKINS_AGENT_NAME"], env["JENKINS_WEB_SOCKET"]) == ("ci-java-bbbbbb", "true")
    assert "JENKINS_PASSWORD" not in env and "args" not in inbound
