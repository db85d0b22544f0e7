"""What a pod's status tells about a waiting or failed agent: the scheduler's message, the image
being pulled, the last exit of a restarting container (autoscaler.drivers.kubernetes.status)."""

from __future__ import annotations

from typing import Any

from autoscaler.drivers.kubernetes.status import handle_of
from autoscaler.engine import failures
from autoscaler.plugin import DriverStatus


def pod(status: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": "p", "annotations": {"autoscaler.jenkins.io/label": "python"}}
    return {"metadata": meta, "status": status}


def test_an_unschedulable_pod_carries_the_schedulers_message() -> None:
    message = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available."
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
    handle = handle_of(pod({"phase": "Pending", "conditions": [condition]}), "main")
    assert (handle.status, handle.detail) == (DriverStatus.PENDING, f"unschedulable: {message}")


def test_a_pod_creating_its_container_names_the_image_it_pulls() -> None:
    container = {"image": "jenkins/inbound-agent:3283", "state": {"waiting": {"reason": "ContainerCreating"}}}
    scheduled = {"type": "PodScheduled", "status": "True"}
    handle = handle_of(pod({"phase": "Pending", "conditions": [scheduled], "containerStatuses": [container]}), "main")
    assert handle.detail == "ContainerCreating: pulling image jenkins/inbound-agent:3283"


def test_an_image_pull_error_keeps_its_message_and_is_classified() -> None:
    waiting = {"reason": "ErrImagePull", "message": "pull access denied for nope, repository does not exist"}
    handle = handle_of(pod({"phase": "Pending", "containerStatuses": [{"state": {"waiting": waiting}}]}), "main")
    assert handle.status == DriverStatus.FAILED
    assert handle.detail == "ErrImagePull: pull access denied for nope, repository does not exist"
    assert failures.classify(handle.detail) == "image-pull"


def test_a_crash_loop_names_the_last_exit() -> None:
    container = {
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}},
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
    }
    handle = handle_of(pod({"phase": "Running", "containerStatuses": [container]}), "main")
    assert handle.detail == (
        "CrashLoopBackOff (last exit: OOMKilled, exit code 137): back-off 10s restarting failed container"
    )
    assert failures.classify(handle.detail) == "oom-killed"
