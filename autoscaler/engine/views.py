"""Read-only views of the engine state, as JSON-ready dicts. Run on the engine thread (the API
asks through a :class:`~autoscaler.engine.messages.Command`), so they see consistent state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from autoscaler.engine.state import Agent, AgentState
from autoscaler.engine.stats import percentile

if TYPE_CHECKING:
    from autoscaler.engine.core import Engine

POOL_COLUMNS = ("demand", "requested", "pending", "booting", "ready", "busy", "retiring", "held")


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def agent_row(engine: Engine, agent: Agent) -> dict[str, Any]:
    now = engine.clock()
    return {
        "name": agent.name,
        "label": agent.label,
        "state": str(agent.state),
        "controller": agent.controller,
        "created": iso(engine.to_wall(agent.created)),
        "state_since": iso(engine.to_wall(agent.state_since)),
        "age_seconds": round(now - agent.created, 1),
        "in_state_seconds": round(now - agent.state_since, 1),
        "build": agent.build,
        "comment": agent.comment,
        "hold_until": iso(None if agent.hold_until is None else engine.to_wall(agent.hold_until)),
        "hold_reason": agent.hold_reason or None,
    }


def agents(engine: Engine, label: str | None = None) -> list[dict[str, Any]]:
    rows = [agent_row(engine, a) for a in engine.agents.values() if label is None or a.label == label]
    return sorted(rows, key=lambda r: (r["label"], r["created"], r["name"]))


def pools(engine: Engine) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, AgentState]] = engine.counts()
    demand = engine.demand.per_label()
    now = engine.clock()
    rows = []
    for lab in engine.config.labels:
        backoff = engine.backoff.get(lab.name)
        row: dict[str, Any] = {"label": lab.name, "demand": demand.get(lab.name, 0)}
        for state in AgentState:
            if state != AgentState.FAILED:
                row[str(state)] = counts[(lab.name, state)]
        row["failed"] = counts[(lab.name, AgentState.FAILED)]
        row.update(
            {
                "min_ready": lab.min_ready,
                "max": lab.max,
                "backoff_seconds": round(backoff.until - now, 1) if backoff and backoff.active(now) else 0,
                "blocked_by": engine.blocked.get(lab.name),
                "launched_total": engine.stats.launched[lab.name],
                "retired_total": engine.stats.retired[lab.name],
            }
        )
        rows.append(row)
    return rows


def demand(engine: Engine) -> dict[str, Any]:
    items = []
    listeners = []
    for name, listener in engine.demand.listeners.items():
        listeners.append(
            {
                "listener": name,
                "controller": listener.controller,
                "items": len(listener.items),
                "error": listener.error,
                "updated": iso(engine.to_wall(listener.updated) if listener.updated else None),
            }
        )
        for wanted in listener.items.values():
            items.append(
                {
                    "listener": name,
                    "key": wanted.key,
                    "wants": wanted.wants,
                    "label": wanted.label,
                    "what": wanted.what,
                    "since": iso(engine.to_wall(wanted.since)),
                }
            )
    return {"per_label": engine.demand.per_label(), "listeners": listeners, "items": items}


def events(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    rows = list(engine.history)[-limit:]
    return [{**row, "time": iso(row["time"])} for row in rows]


def status(engine: Engine) -> dict[str, Any]:
    latencies = list(engine.stats.queue_to_launch)
    return {
        "ready": engine.ready,
        "agents": len(engine.agents),
        "launched": sum(engine.stats.launched.values()),
        "retired": sum(engine.stats.retired.values()),
        "launch_failures": sum(engine.stats.launch_failures.values()),
        "adopted": engine.stats.adopted,
        "queue_to_launch_p50": percentile(latencies, 50),
        "queue_to_launch_p95": percentile(latencies, 95),
        "queue_to_launch_count": len(latencies),
    }


def metrics(engine: Engine) -> dict[str, Any]:
    stats = engine.stats
    return {
        "pools": pools(engine),
        "launched": dict(stats.launched),
        "retired": dict(stats.retired),
        "launch_failures": dict(stats.launch_failures),
        "failures": dict(stats.failures),
        "events": {f"{s}\x00{k}": v for (s, k), v in stats.events.items()},
        "errors": dict(stats.errors),
        "queue_to_launch": list(stats.queue_to_launch),
        "boot_seconds": list(stats.boot_seconds),
        "demand_errors": {n: ld.error for n, ld in engine.demand.listeners.items() if ld.error},
        "ready": engine.ready,
    }


QUERIES: dict[str, Callable[..., Any]] = {
    "pools": pools,
    "agents": agents,
    "demand": demand,
    "events": events,
    "status": status,
    "metrics": metrics,
}
