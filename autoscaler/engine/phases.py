"""Start-up by phase: queued -> launch requested -> resource created -> scheduled -> running ->
online in Jenkins -> build started.

Each phase is stamped on the agent (engine clock) the first time the engine sees it, and its
duration (seconds since the phase before it that has a time) goes to
``autoscaler_agent_startup_seconds{controller,label,phase}``. A phase the driver cannot see
(the local driver has no ``scheduled``) gets no time but a note; nothing is invented. Adopted
agents (launched before this daemon started) have no phases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from autoscaler.engine.runtime import Now, RuntimeState
from autoscaler.engine.state import Agent
from autoscaler.metrics.families import PHASES
from autoscaler.plugin import AgentHandle, DriverStatus

ORIGIN = "launch_requested"
NOT_REPORTED = "the driver does not report this phase"


def requested(rt: RuntimeState, agent: Agent, queue_wait: float | None) -> None:
    """A launch was recorded; ``queue_wait``: how long the build it serves had waited (None:
    launched for min-ready)."""
    agent.phases[ORIGIN] = agent.created
    if queue_wait is not None:
        agent.phases["queued"] = agent.created - queue_wait
        _observe(rt, agent, ORIGIN, queue_wait)
    rt.stats.tracked[agent.name] = agent


def reached(rt: RuntimeState, agent: Agent, phase: str, now: float) -> None:
    """``agent`` is seen in ``phase`` for the first time (a no-op after that, or if adopted)."""
    if phase in agent.phases or ORIGIN not in agent.phases:
        return
    if phase == "build_started" and "queued" not in agent.phases:
        return  # a warm agent's first build: its wait is for demand, not start-up
    before = [p for p in PHASES[: PHASES.index(phase)] if p in agent.phases]
    agent.phases[phase] = now
    _observe(rt, agent, phase, max(0.0, now - agent.phases[before[-1]]))


def handle_seen(rt: RuntimeState, agent: Agent, handle: AgentHandle, now: Now) -> None:
    """What the driver shows: the resource exists (created); scheduled, if the driver says so;
    running."""
    reached(rt, agent, "created", now.mono)
    scheduled = handle.scheduled
    if scheduled:
        reached(rt, agent, "scheduled", now.mono)
    if handle.status == DriverStatus.RUNNING:
        if scheduled is None and "scheduled" not in agent.phases:
            agent.phase_notes["scheduled"] = NOT_REPORTED
        reached(rt, agent, "running", now.mono)


def _observe(rt: RuntimeState, agent: Agent, phase: str, seconds: float) -> None:
    rt.stats.metrics.startup.labels(agent.controller, agent.label, phase).observe(seconds)


def durations(agent: Agent) -> dict[str, float | None]:
    """Seconds of each phase (since the phase before it that has a time); None: not seen."""
    out: dict[str, float | None] = {}
    previous = agent.phases.get("queued")
    for phase in PHASES:
        at = agent.phases.get(phase)
        if at is None:
            out[phase] = None
            continue
        out[phase] = None if previous is None else round(max(0.0, at - previous), 3)
        previous = at
    return out


def row(agent: Agent, now: Now) -> dict[str, Any]:
    """The agent's phases for ``agents -o json``: per phase its time and seconds (None: not
    seen), and notes for phases that will never have one."""
    seconds = durations(agent)
    phases: dict[str, Any] = {}
    for phase in ("queued", *PHASES):
        at = agent.phases.get(phase)
        phases[phase] = None if at is None else {"at": _iso(now.to_wall(at)), "seconds": seconds.get(phase)}
    return {"phases": phases, "phase_notes": dict(agent.phase_notes)}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
