"""Counters the engine keeps for ``/metrics``, ``autoscaler usage`` and the demo summary."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from autoscaler.metrics.families import Metrics
from autoscaler.metrics.usage import UsageHistory


@dataclass
class Stats:
    launched: Counter[str] = field(default_factory=Counter)
    retired: Counter[str] = field(default_factory=Counter)
    launch_failures: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    """Agent failures per label (each grows the label's backoff)."""
    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(source, kind) -> count."""
    errors: Counter[str] = field(default_factory=Counter)
    adopted: int = 0
    leaks: int = 0
    """Agents found running with this daemon's identity but no record, and deleted."""
    queue_to_launch: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    """Seconds from a queued item's arrival to the launch made for it."""
    boot_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    """The last boot times (``/metrics`` has the cumulative histograms, in ``metrics``)."""
    metrics: Metrics = field(default_factory=Metrics)
    """The daemon's Prometheus families (its own registry)."""
    tracked: dict[str, Any] = field(default_factory=dict)
    """Agents whose time is counted (an agent stays here until its last seconds are counted)."""
    reported: dict[tuple[str, str], float] = field(default_factory=dict)
    """(agent, state) -> seconds already added to ``autoscaler_agent_seconds_total``."""
    usage: UsageHistory = field(default_factory=UsageHistory)
    annotated: dict[str, str] = field(default_factory=dict)
    """Agent -> the build its resource was last annotated with."""

    def count_event(self, source: str, kind: str) -> None:
        self.events[(source or "unknown", kind)] += 1
