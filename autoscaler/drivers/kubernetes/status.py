"""What a pod's status means for its agent. Pure: no I/O."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from autoscaler.drivers.kubernetes.podspec import ANN_CONTROLLER, ANN_HOLD, ANN_LABEL
from autoscaler.plugin import AgentHandle, DriverStatus

FATAL_WAITING = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CrashLoopBackOff",
        "CreateContainerError",
        "RunContainerError",
    }
)


def handle_of(pod: dict[str, Any], default_controller: str) -> AgentHandle:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    annotations = meta.get("annotations") or {}
    created = _epoch(meta.get("creationTimestamp"))
    kind, detail = _status(meta, status)
    hold = _hold(annotations.get(ANN_HOLD))
    return AgentHandle(
        name=meta.get("name", ""),
        label=annotations.get(ANN_LABEL, ""),
        controller=annotations.get(ANN_CONTROLLER, default_controller),
        status=kind,
        created=created,
        detail=detail,
        hold_reason=None if hold is None else str(hold.get("reason") or ""),
        hold_until=None if hold is None or hold.get("until") is None else float(hold["until"]),
    )


def _hold(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"reason": text}
    return value if isinstance(value, dict) else {"reason": str(value)}


def _status(meta: dict[str, Any], status: dict[str, Any]) -> tuple[DriverStatus, str]:
    if meta.get("deletionTimestamp"):
        return DriverStatus.EXITED, "terminating"
    phase = status.get("phase") or "Pending"
    if status.get("reason") == "Evicted":
        return DriverStatus.FAILED, f"Evicted: {status.get('message', '')}".strip(": ")
    containers = status.get("containerStatuses") or []
    state = (containers[0].get("state") or {}) if containers else {}
    if phase == "Failed":
        term = state.get("terminated") or {}
        return (
            DriverStatus.FAILED,
            f"pod failed ({term.get('reason') or status.get('reason') or 'Error'}, "
            f"exit code {term.get('exitCode', '?')})",
        )
    if phase == "Succeeded":
        return DriverStatus.EXITED, "pod completed"
    waiting = state.get("waiting") or {}
    if waiting.get("reason") in FATAL_WAITING:
        last = _last_exit(containers[0])
        return DriverStatus.FAILED, f"{waiting['reason']}{last}: {waiting.get('message', '')}".rstrip(": ")
    if phase == "Running":
        return DriverStatus.RUNNING, "running"
    return DriverStatus.PENDING, _pending(status, containers[0] if containers else {}, waiting)


def _pending(status: dict[str, Any], container: dict[str, Any], waiting: dict[str, Any]) -> str:
    """Where a pending pod is, in words ``autoscaler why`` shows: the scheduler's message when it
    cannot be placed (``unschedulable: 0/3 nodes are available: 3 Insufficient cpu.``), the image
    being pulled while its container is created."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            why = condition.get("reason") or "not scheduled"
            text = "unschedulable" if why == "Unschedulable" else why
            return f"{text}: {condition['message']}" if condition.get("message") else text
    reason = waiting.get("reason")
    if reason == "ContainerCreating" and container.get("image"):
        return f"ContainerCreating: pulling image {container['image']}"
    return str(reason or "pending")


def _last_exit(container: dict[str, Any]) -> str:
    """`` (last exit: OOMKilled, exit code 137)`` for a container that is restarting, else ``""``."""
    term = (container.get("lastState") or {}).get("terminated") or {}
    if not term:
        return ""
    return f" (last exit: {term.get('reason') or 'Error'}, exit code {term.get('exitCode', '?')})"


def _epoch(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
