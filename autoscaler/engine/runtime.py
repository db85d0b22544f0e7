"""The engine's runtime state as one value, and the two clocks it is read with."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from autoscaler.engine.demand import DemandBook
from autoscaler.engine.state import Agent, AgentState, Backoff, TokenBucket
from autoscaler.engine.stats import Stats


@dataclass(frozen=True)
class Now:
    """One instant on both clocks: ``mono`` for timers, ``wall`` for display and records."""

    mono: float
    wall: float

    def to_wall(self, t: float) -> float:
        return self.wall - (self.mono - t)

    def from_wall(self, t: float) -> float:
        return self.mono - (self.wall - t)


@dataclass
class RuntimeState:
    """Everything the engine knows. Owned by the engine loop; views read it on that thread."""

    demand: DemandBook
    bucket: TokenBucket
    agents: dict[str, Agent] = field(default_factory=dict)
    backoff: dict[str, Backoff] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=500))
    blocked: dict[str, str] = field(default_factory=dict)
    """Per label, what holds back launches it needs (for ``autoscaler pools``)."""
    min_ready: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Per label, the ``min-ready`` in force at the last plan and where it came from (``label`` or
    a schedule entry; for ``autoscaler pools``)."""
    ready: bool = False
    """True once the first adoption pass and the first look at Jenkins are done."""
    seen: dict[str, float] = field(default_factory=dict)
    """Per controller, when ``/computer`` was last read successfully (engine clock)."""
    in_flight: set[str] = field(default_factory=set)
    """I/O under way that must not run twice at once (``computers:C``, ``offline:NAME``, ``driver``)."""
    last_failure: dict[str, str] = field(default_factory=dict)
    """Per label, what its last agent failure was (the cause a backoff names)."""
    failure_reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Agent failures per (label, reason), reason one of :data:`autoscaler.engine.failures.REASONS`:
    the ``reason`` label of ``autoscaler_agent_failures_total``."""

    def record(self, kind: str, agent: Agent | None, message: str, wall: float) -> None:
        self.history.append(
            {
                "time": wall,
                "kind": kind,
                "agent": agent.name if agent else None,
                "label": agent.label if agent else None,
                "message": message,
            }
        )

    def counts(self) -> Counter[tuple[str, AgentState]]:
        return Counter((a.label, a.state) for a in self.agents.values())
