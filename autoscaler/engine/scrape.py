"""Bringing the metrics up to date, on the engine's thread: the readings of the state that
``/metrics`` exports (agents per state, demand, backoff, the oldest waiting build...), every
labelled family created for every configured label, and the agent-seconds counted so far.

``harvest`` counts the time of every agent (at each tick and each scrape; an agent's state
changes count their own time as they happen, see :meth:`Agent.count_time`), so
``autoscaler_agent_seconds_total`` is exact and only grows; an agent gone is counted one last
time and kept, as an :class:`AgentRecord`, for ``autoscaler usage``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from autoscaler.config.models import Config
from autoscaler.engine import failures, phases
from autoscaler.engine.runtime import Now, RuntimeState
from autoscaler.engine.state import Agent, AgentState
from autoscaler.metrics.families import StateReading
from autoscaler.metrics.usage import HORIZON, AgentRecord, Stretch, breakdown, report

COUNTED = {
    str(AgentState.PENDING): "booting",
    str(AgentState.BOOTING): "booting",
    str(AgentState.READY): "idle",
    str(AgentState.DISCONNECTED): "idle",
    str(AgentState.BUSY): "busy",
}
"""Agent states -> the states of ``autoscaler_agent_seconds_total``."""


def sync(state: RuntimeState, config: Config, now: Now) -> dict[str, Any]:
    """Everything ``/metrics`` exports, brought up to ``now``; ``registry``: what to render (in
    process only: this reply is never sent as JSON)."""
    metrics = state.stats.metrics
    metrics.pools((config.controller_of(lab).name, lab.name) for lab in config.labels)
    harvest(state, now)
    metrics.state.set(reading(state, config, now))
    return {"registry": metrics.registry, "agents": len(state.agents), "ready": state.ready}


def harvest(state: RuntimeState, now: Now) -> None:
    """Count every agent's time up to ``now``; agents gone are counted a last time and recorded."""
    tracked = state.stats.tracked
    for name, agent in state.agents.items():
        tracked.setdefault(name, agent)
    for name, agent in list(tracked.items()):
        live = state.agents.get(name) is agent
        if live:
            agent.count_time(now.mono)
        _flush(state, agent)
        if not live:
            del tracked[name]
            for counted in ("booting", "idle", "busy"):
                state.stats.reported.pop((name, counted), None)
            state.stats.usage.add(record(agent, now, ended=True))
    for name in [n for n in state.stats.annotated if n not in state.agents]:
        del state.stats.annotated[name]


def _flush(state: RuntimeState, agent: Agent) -> None:
    totals: dict[str, float] = defaultdict(float)
    for agent_state, seconds in agent.seconds.items():
        counted = COUNTED.get(agent_state)
        if counted is not None:
            totals[counted] += seconds
    counter = state.stats.metrics.agent_seconds
    for counted, total in totals.items():
        key = (agent.name, counted)
        delta = total - state.stats.reported.get(key, 0.0)
        if delta > 0:
            counter.labels(agent.controller, agent.label, counted).inc(delta)
            state.stats.reported[key] = total


def leaked_node(state: RuntimeState, config: Config, name: str) -> None:
    """A Jenkins node named like this daemon's agents, with no agent behind it, was removed."""
    prefix = config.daemon.name_prefix + "-"
    label = next((lab.name for lab in config.labels if name.startswith(f"{prefix}{lab.slug}-")), "")
    state.stats.metrics.leaked.labels(label).inc()


def record(agent: Agent, now: Now, *, ended: bool) -> AgentRecord:
    """The agent as ``autoscaler usage`` sees it (wall clock)."""
    launched = agent.phases.get("launch_requested")
    queued = agent.phases.get("queued")
    stretches = tuple(
        Stretch(COUNTED[s], now.to_wall(start), now.to_wall(end)) for s, start, end in agent.stretches if s in COUNTED
    )
    failed = agent.state == AgentState.FAILED or (ended and launched is not None and "created" not in agent.phases)
    return AgentRecord(
        label=agent.label,
        controller=agent.controller,
        launched=None if launched is None else now.to_wall(launched),
        queue_wait=None if queued is None or launched is None else launched - queued,
        stretches=stretches,
        failed=failed,
        ended=now.wall,
        phases=tuple((p, s) for p, s in phases.durations(agent).items() if s is not None),
    )


def reading(state: RuntimeState, config: Config, now: Now) -> StateReading:
    """The values of the gauges and of the counters kept as plain counts, every configured
    label present (0 where nothing happened)."""
    labels = [lab.name for lab in config.labels]
    counts = state.counts()
    demand = state.demand.per_label()
    stats = state.stats
    out = StateReading(ready=1.0 if state.ready else 0.0)
    controller_of = {a.label: a.controller for a in state.agents.values()}
    controller_of.update({lab.name: config.controller_of(lab).name for lab in config.labels})
    for label, controller in controller_of.items():
        for kind in AgentState:
            out.agents[(controller, label, str(kind))] = counts[(label, kind)]
    for label in labels:
        backoff = state.backoff.get(label)
        out.demand[(controller_of[label], label)] = demand.get(label, 0)
        out.backoff[label] = max(0.0, backoff.until - now.mono) if backoff and backoff.active(now.mono) else 0.0
    for counter, source in (
        (out.launches, stats.launched),
        (out.retirements, stats.retired),
        (out.launch_failures, stats.launch_failures),
    ):
        counter.update(dict.fromkeys(labels, 0))
        counter.update(source)
    out.failures.update({(label, reason): 0 for label in labels for reason in failures.REASONS})
    out.failures.update(state.failure_reasons)
    out.events.update(stats.events)
    out.io_errors.update({"jenkins": 0, "driver": 0, **stats.errors})
    out.oldest_waiting.update(oldest_waiting(state, config, now))
    for name, listener in state.demand.listeners.items():
        out.demand_unknown[name] = 1.0 if listener.error else 0.0
    return out


def oldest_waiting(state: RuntimeState, config: Config, now: Now) -> dict[tuple[str, str], float]:
    """Per (controller, label): the age of the oldest queued build (label "": no label serves it)."""
    out = {(config.controller_of(lab).name, lab.name): 0.0 for lab in config.labels}
    for listener in state.demand.listeners.values():
        for wanted in listener.items.values():
            key = (listener.controller, wanted.label or "")
            out[key] = max(out.get(key, 0.0), round(max(0.0, now.wall - wanted.since), 3))
    return out


def usage(state: RuntimeState, config: Config, now: Now, since: float = 86400.0) -> dict[str, Any]:
    """``GET /v1/usage?since=SECONDS``: per label over the last ``since`` seconds."""
    since = min(max(0.0, float(since)), HORIZON)
    harvest(state, now)
    live = [record(agent, now, ended=False) for agent in state.agents.values()]
    records = [*state.stats.usage.records, *live]
    rows = report(records, [lab.name for lab in config.labels], now.wall - since, now.wall)
    every: dict[str, list[float]] = {}
    for rec in records:
        if rec.launched is not None and rec.launched >= now.wall - since:
            for phase, seconds in rec.phases:
                every.setdefault(phase, []).append(seconds)
    return {"since_seconds": since, "until": now.wall, "labels": rows, "startup": breakdown(every)}
