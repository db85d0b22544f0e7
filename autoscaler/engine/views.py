"""Read-only views of the engine state, as JSON-ready dicts: functions of ``(state, config, now)``.
Run on the engine thread (the API asks through a :class:`~autoscaler.engine.messages.Command`),
so they see consistent state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from autoscaler.config.models import Config
from autoscaler.engine import failures, phases, reasons, scrape
from autoscaler.engine.runtime import Now, RuntimeState
from autoscaler.engine.state import Agent, AgentState
from autoscaler.metrics.usage import percentile

POOL_COLUMNS = ("demand", "requested", "pending", "booting", "ready", "busy", "retiring", "held")


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def agent_row(agent: Agent, now: Now) -> dict[str, Any]:
    return {
        "name": agent.name,
        "label": agent.label,
        "state": str(agent.state),
        "controller": agent.controller,
        "created": iso(now.to_wall(agent.created)),
        "state_since": iso(now.to_wall(agent.state_since)),
        "age_seconds": round(now.mono - agent.created, 1),
        "in_state_seconds": round(now.mono - agent.state_since, 1),
        "build": agent.build,
        "comment": agent.comment,
        "hold_until": iso(None if agent.hold_until is None else now.to_wall(agent.hold_until)),
        "hold_reason": agent.hold_reason or None,
        "failure": failures.classify(agent.comment) if agent.state == AgentState.FAILED else None,
        **phases.row(agent, now),
    }


def agents(state: RuntimeState, config: Config, now: Now, label: str | None = None) -> list[dict[str, Any]]:
    rows = [agent_row(a, now) for a in state.agents.values() if label is None or a.label == label]
    return sorted(rows, key=lambda r: (r["label"], r["created"], r["name"]))


def pools(state: RuntimeState, config: Config, now: Now) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, AgentState]] = state.counts()
    demand = state.demand.per_label()
    rows = []
    for lab in config.labels:
        backoff = state.backoff.get(lab.name)
        row: dict[str, Any] = {"label": lab.name, "demand": demand.get(lab.name, 0)}
        row["controller"] = config.controller_of(lab).name
        for kind in AgentState:
            if kind != AgentState.FAILED:
                row[str(kind)] = counts[(lab.name, kind)]
        row["failed"] = counts[(lab.name, AgentState.FAILED)]
        row.update(
            {
                "min_ready": state.min_ready.get(lab.name, (lab.min_ready, "label"))[0],  # in force now
                "min_ready_source": state.min_ready.get(lab.name, (lab.min_ready, "label"))[1],  # or a schedule
                "max": lab.max,
                "backoff_seconds": round(backoff.until - now.mono, 1) if backoff and backoff.active(now.mono) else 0,
                "blocked_by": reasons.binding(state, config, now, lab),
                "launched_total": state.stats.launched[lab.name],
                "retired_total": state.stats.retired[lab.name],
            }
        )
        rows.append(row)
    return rows


def demand(state: RuntimeState, config: Config, now: Now) -> dict[str, Any]:
    items = []
    why = reasons.item_reasons(state, config, now)
    listeners = []
    for name, listener in state.demand.listeners.items():
        listeners.append(
            {
                "listener": name,
                "controller": listener.controller,
                "items": len(listener.items),
                "error": listener.error,
                "updated": iso(listener.updated or None),
            }
        )
        for wanted in listener.items.values():
            items.append(
                {
                    "listener": name,
                    "controller": listener.controller,
                    "key": wanted.key,
                    "wants": wanted.wants,
                    "label": wanted.label,
                    "what": wanted.what,
                    "since": iso(wanted.since),
                    "waiting_seconds": round(max(0.0, now.wall - wanted.since), 1),
                    "reason": why[wanted.key].as_dict() | {"until": iso(why[wanted.key].until)},
                }
            )
    return {"per_label": state.demand.per_label(), "listeners": listeners, "items": items}


def events(state: RuntimeState, config: Config, now: Now, limit: int = 100) -> list[dict[str, Any]]:
    rows = list(state.history)[-limit:]
    return [{**row, "time": iso(row["time"])} for row in rows]


def status(state: RuntimeState, config: Config, now: Now) -> dict[str, Any]:
    latencies = list(state.stats.queue_to_launch)
    return {
        "ready": state.ready,
        "agents": len(state.agents),
        "launched": sum(state.stats.launched.values()),
        "retired": sum(state.stats.retired.values()),
        "launch_failures": sum(state.stats.launch_failures.values()),
        "adopted": state.stats.adopted,
        "queue_to_launch_p50": percentile(latencies, 50),
        "queue_to_launch_p95": percentile(latencies, 95),
        "queue_to_launch_count": len(latencies),
    }


def metrics(state: RuntimeState, config: Config, now: Now) -> dict[str, Any]:
    """Brings what ``/metrics`` exports up to date (the registry is rendered by the API)."""
    return scrape.sync(state, config, now)


def why(state: RuntimeState, config: Config, now: Now, q: str = "") -> dict[str, Any]:
    """The waiting builds ``q`` names (a job, a queue id, a key), each with its reason; ``errors``:
    listeners whose demand is unknown."""
    found = reasons.lookup(state, config, now, q)
    for item in found:
        item["waiting_seconds"] = round(max(0.0, now.wall - item["since"]), 1)
        item["since"] = iso(item["since"])
        item["reason"]["until"] = iso(item["reason"]["until"])
    errors = [f"listener {n}: {ld.error}" for n, ld in state.demand.listeners.items() if ld.error]
    return {"query": q, "items": found, "errors": errors}


QUERIES: dict[str, Callable[..., Any]] = {
    "pools": pools,
    "agents": agents,
    "demand": demand,
    "events": events,
    "status": status,
    "metrics": metrics,
    "why": why,
    "usage": scrape.usage,
}
