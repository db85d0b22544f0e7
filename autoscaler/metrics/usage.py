"""What ``autoscaler usage`` reports, per label over a window: agents launched, agent-hours,
busy share, queue wait p50/p95, failures. Agents still on the books are read live; agents gone
are kept here as :class:`AgentRecord` (bounded: the newest ``MAX_RECORDS`` within ``HORIZON``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

HORIZON = 7 * 24 * 3600.0
"""How far back ``--since`` can look (seconds)."""
MAX_RECORDS = 50_000


@dataclass(frozen=True)
class Stretch:
    """A stretch of time (wall clock) an agent spent in one counted state."""

    state: str
    start: float
    end: float

    def overlap(self, since: float, until: float) -> float:
        return max(0.0, min(self.end, until) - max(self.start, since))


@dataclass(frozen=True)
class AgentRecord:
    """One agent as usage sees it (wall clock)."""

    label: str
    controller: str
    launched: float | None
    """When its launch was requested (None: adopted, launched before this daemon started)."""
    queue_wait: float | None
    """Seconds the build it was launched for had waited (None: launched for min-ready)."""
    stretches: tuple[Stretch, ...]
    failed: bool
    ended: float
    phases: tuple[tuple[str, float], ...] = ()
    """(phase, seconds since the phase before) of each start-up phase seen."""


@dataclass
class UsageHistory:
    records: deque[AgentRecord] = field(default_factory=lambda: deque(maxlen=MAX_RECORDS))

    def add(self, record: AgentRecord) -> None:
        self.records.append(record)
        while self.records and self.records[0].ended < record.ended - HORIZON:
            self.records.popleft()


@dataclass
class _Tally:
    launched: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: {"booting": 0.0, "idle": 0.0, "busy": 0.0})
    waits: list[float] = field(default_factory=list)
    failures: int = 0
    phases: dict[str, list[float]] = field(default_factory=dict)


def report(records: Iterable[AgentRecord], labels: Iterable[str], since: float, until: float) -> list[dict[str, Any]]:
    """One row per label (configured ones first, then any other seen) for ``[since, until]``."""
    tallies: dict[str, _Tally] = {name: _Tally() for name in labels}
    for rec in records:
        tally = tallies.setdefault(rec.label, _Tally())
        if rec.launched is not None and since <= rec.launched <= until:
            tally.launched += 1
            if rec.queue_wait is not None:
                tally.waits.append(rec.queue_wait)
            for phase, seconds in rec.phases:
                tally.phases.setdefault(phase, []).append(seconds)
        if rec.failed and since <= rec.ended <= until:
            tally.failures += 1
        for stretch in rec.stretches:
            tally.seconds[stretch.state] = tally.seconds.get(stretch.state, 0.0) + stretch.overlap(since, until)
    return [_row(label, tally) for label, tally in tallies.items()]


def _row(label: str, tally: _Tally) -> dict[str, Any]:
    total = sum(tally.seconds.values())
    return {
        "label": label,
        "launched": tally.launched,
        "agent_hours": round(total / 3600, 3),
        "seconds": {k: round(v, 1) for k, v in tally.seconds.items()},
        "busy_share": round(tally.seconds.get("busy", 0.0) / total, 3) if total else None,
        "queue_wait_p50": percentile(tally.waits, 50),
        "queue_wait_p95": percentile(tally.waits, 95),
        "failures": tally.failures,
        "startup": breakdown(tally.phases),
    }


def breakdown(phases: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Per start-up phase: p50, p95 and how many agents were seen in it."""
    return {
        phase: {"p50": percentile(values, 50), "p95": percentile(values, 95), "count": len(values)}
        for phase, values in phases.items()
    }


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
