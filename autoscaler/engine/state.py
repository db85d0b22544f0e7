"""Runtime state: agents and per-label backoff. Owned by the engine loop alone."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from autoscaler.ratelimit import TokenBucket

_NONE_YET: Mapping[str, float] = MappingProxyType({})
"""Shared, read-only: an agent's ``seconds`` until its first count."""


class AgentState(enum.StrEnum):
    REQUESTED = "requested"
    """Launch sent to the driver."""
    PENDING = "pending"
    """The resource exists but does not run yet."""
    BOOTING = "booting"
    """Running, not yet online in Jenkins."""
    READY = "ready"
    """Online and idle."""
    BUSY = "busy"
    """A build runs on it."""
    DISCONNECTED = "disconnected"
    """Was online; its node is now disconnected or missing in Jenkins. Not counted as supply;
    retired if it stays so for ``boot-timeout``."""
    RETIRING = "retiring"
    """Taken offline, stop requested."""
    HELD = "held"
    """Kept for debugging; untouched until released or the hold expires."""
    FAILED = "failed"
    """Could not start or died before it came online; about to be cleaned up."""


SUPPLY = frozenset({AgentState.REQUESTED, AgentState.PENDING, AgentState.BOOTING, AgentState.READY})
"""States that will take a queued build (what the planner counts as supply)."""
NOT_YET_ONLINE = frozenset({AgentState.REQUESTED, AgentState.PENDING, AgentState.BOOTING})


@dataclass(slots=True)
class Agent:
    """One launched unit (pod or process) = one Jenkins node of the same name. Slotted: no
    per-agent ``__dict__`` (less memory, and the planner's passes over 100,000 agents touch one
    object each, not two)."""

    name: str
    label: str
    controller: str
    state: AgentState
    created: float
    state_since: float
    build: str | None = None
    """URL or key of the build running (or last run) on it."""
    used: bool = False
    """A build ran on it and finished (a one-shot agent is then retired)."""
    online_once: bool = False
    comment: str = ""
    hold_until: float | None = None
    hold_reason: str = ""
    atoms: frozenset[str] = frozenset()
    """Labels a catch-all agent was launched with (empty for other labels)."""
    held_from: AgentState | None = None
    retire_requested: bool = False
    """Retire as soon as it is not busy (``autoscaler delete`` without ``--now``)."""
    offline_requested: bool = False
    """Jenkins confirmed our request to take it offline (a one-shot agent at build start)."""
    finished_builds: set[str] = field(default_factory=set)
    retire_attempts: int = 0
    retry_at: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    """Start-up phases reached (engine clock), see :mod:`autoscaler.engine.phases`."""
    phase_notes: dict[str, str] = field(default_factory=dict)
    """Why a phase has no time (the driver cannot see it)."""
    seconds: Mapping[str, float] = field(default_factory=lambda: _NONE_YET)
    """Seconds spent per state up to ``counted_since`` (for utilization; made at the first count,
    as is ``stretches``: a tracked agent that has not changed state yet costs no container)."""
    counted_since: float = 0.0
    stretches: Sequence[tuple[str, float, float]] = ()
    """(state, start, end) on the engine clock: its time per state, for ``autoscaler usage``."""

    def count_time(self, now: float) -> None:
        """Add the time since it was last counted to its current state."""
        start = max(self.counted_since, self.state_since)
        if now > start:
            state = str(self.state)
            seconds = self.seconds if isinstance(self.seconds, dict) else {}
            seconds[state] = seconds.get(state, 0.0) + now - start
            stretches = self.stretches if isinstance(self.stretches, list) else []
            last = stretches[-1] if stretches else None
            if last is not None and last[0] == state and last[2] == start:
                stretches[-1] = (state, last[1], now)
            else:
                stretches.append((state, start, now))
            self.seconds, self.stretches = seconds, stretches
        self.counted_since = max(self.counted_since, now)

    def set_state(self, state: AgentState, now: float, comment: str | None = None) -> None:
        if state != self.state:
            self.count_time(now)
            self.state = state
            self.state_since = now
        if comment is not None:
            self.comment = comment


@dataclass(frozen=True)
class Backoff:
    """A label whose agents fail waits before launching again; the wait doubles per failure."""

    failures: int = 0
    until: float = 0.0

    def active(self, now: float) -> bool:
        return now < self.until

    def failed(self, now: float, initial: float, maximum: float) -> Backoff:
        failures = self.failures + 1
        wait = min(maximum, initial * 2 ** (failures - 1))
        return Backoff(failures, now + wait)


class AgentLabels(Mapping[str, str]):
    """Agent name -> its label, read from the agents at each lookup: no copy of 100,000 names
    for every demand update (read within the engine's step, like the agents themselves)."""

    __slots__ = ("agents",)

    def __init__(self, agents: Mapping[str, Agent]) -> None:
        self.agents = agents

    def __getitem__(self, name: str) -> str:
        return self.agents[name].label

    def __iter__(self) -> Iterator[str]:
        return iter(self.agents)

    def __len__(self) -> int:
        return len(self.agents)


__all__ = ["NOT_YET_ONLINE", "SUPPLY", "Agent", "AgentLabels", "AgentState", "Backoff", "TokenBucket"]
