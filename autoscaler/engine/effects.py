"""What a state transition asks the engine to do: values, not actions. The transitions in
:mod:`~autoscaler.engine.lifecycle` and :mod:`~autoscaler.engine.commands` return them; the
engine carries them out (in worker threads, for I/O), so the transitions stay pure enough to
test with no thread, socket or clock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Refresh:
    """Read ``/computer`` of the controller again."""

    controller: str


@dataclass(frozen=True)
class TakeOffline:
    """Take a one-shot agent's node offline (its build started)."""

    name: str


@dataclass(frozen=True)
class MarkHold:
    """Record a hold (or its release, ``reason`` None) on the agent itself."""

    name: str
    reason: str | None
    until: float | None
    """Engine clock."""


@dataclass(frozen=True)
class StartRetire:
    name: str
    reason: str
    failed: bool = False
    force: bool = False


Effect = Refresh | TakeOffline | MarkHold | StartRetire
