"""The plan ``autoscaler run --once --dry-run`` prints: per label its demand, the agents it has (by
state), the ``min-ready`` in force, the launches and retirements it would make, and what holds it
back (the label's ``max``, ``max-agents``, the launch rate, a backoff)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from autoscaler.cli.tables import table
from autoscaler.config.models import Config, LabelConfig
from autoscaler.engine.reasons import label_limit
from autoscaler.engine.runtime import Now, RuntimeState
from autoscaler.engine.state import AgentState

NOT_LAUNCHED = "dry run: not launched"
"""The comment the engine leaves on an agent it would have launched (engine/core.py)."""

HEADERS = ("LABEL", "DEMAND", "AGENTS", "MIN-READY", "LAUNCH", "RETIRE", "HELD BACK BY")


def plan_rows(state: RuntimeState, config: Config, now: Now) -> list[dict[str, Any]]:
    """One row per label, from the engine's state after a dry-run pass."""
    would = {name for name, a in state.agents.items() if a.state == AgentState.REQUESTED and a.comment == NOT_LAUNCHED}
    demand = state.demand.per_label()
    rows = []
    for lab in config.labels:
        mine = [a for a in state.agents.values() if a.label == lab.name]
        agents = Counter(str(a.state) for a in mine if a.name not in would)
        min_ready, source = state.min_ready.get(lab.name, (lab.min_ready, "label"))
        kind = state.blocked.get(lab.name)
        rows.append(
            {
                "label": lab.name,
                "demand": demand.get(lab.name, 0),
                "agents": dict(sorted(agents.items())),
                "min_ready": min_ready,
                "min_ready_source": source,
                "launches": sum(1 for a in mine if a.name in would),
                "retires": state.stats.retired[lab.name],
                "held_back_by": kind,
                "held_back": _held_back(state, config, now, lab, kind),
            }
        )
    return rows


def _held_back(state: RuntimeState, config: Config, now: Now, lab: LabelConfig, kind: str | None) -> str | None:
    """The planner said what bound the label (``kind``); the reasons module says it in words."""
    if kind is None:
        return None
    limit = label_limit(state, config, now, lab)
    return limit.text if limit is not None else kind


def plan_text(rows: list[dict[str, Any]]) -> str:
    """The plan as a table, and where a scheduled ``min-ready`` came from under it."""
    cells = [
        (
            r["label"],
            r["demand"],
            " ".join(f"{state}={n}" for state, n in r["agents"].items()) or "-",
            r["min_ready"],
            r["launches"],
            r["retires"],
            r["held_back"] or "-",
        )
        for r in rows
    ]
    lines = ["Plan (dry run: nothing was launched or retired)", table(HEADERS, cells, max_width=120, shrink=6)]
    for r in rows:
        if r["min_ready_source"] != "label":
            lines.append(f"  {r['label']}: min-ready {r['min_ready']} from {r['min_ready_source']}")
    return "\n".join(lines)


def plan_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2)
