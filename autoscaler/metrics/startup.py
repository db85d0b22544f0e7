"""An agent's start-up phases in one line, for ``agents -o wide`` and the demo."""

from __future__ import annotations

from typing import Any

from autoscaler.metrics.families import PHASES

SHORT = {
    "launch_requested": "queued",
    "created": "created",
    "scheduled": "sched",
    "running": "run",
    "online": "online",
    "build_started": "build",
}
"""Each phase's word in the line (each: seconds since the phase before it)."""


def summary(row: dict[str, Any]) -> str:
    """``queued 2.0s created 0.1s sched n/a run 0.0s online 4.1s``, from an agent row's
    ``phases`` and ``phase_notes`` (``n/a``: the driver cannot see that phase)."""
    phases = row.get("phases") or {}
    notes = row.get("phase_notes") or {}
    parts = []
    for phase in PHASES:
        entry = phases.get(phase)
        if entry is not None and entry.get("seconds") is not None:
            parts.append(f"{SHORT[phase]} {_secs(entry['seconds'])}")
        elif phase in notes:
            parts.append(f"{SHORT[phase]} n/a")
    return " ".join(parts) or "-"


def breakdown_rows(startup: dict[str, Any]) -> list[tuple[str, float | None, float | None, int]]:
    """(phase, p50, p95, agents) in phase order, from ``/v1/usage``'s ``startup``."""
    return [
        (phase, startup[phase]["p50"], startup[phase]["p95"], startup[phase]["count"])
        for phase in PHASES
        if phase in startup
    ]


def _secs(value: float) -> str:
    return f"{value:.0f}s" if value >= 10 else f"{value:.1f}s"
