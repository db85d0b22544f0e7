"""Plain text tables for the CLI (and the demo's live view), readable in 80 columns."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from autoscaler.config.units import format_duration
from autoscaler.metrics.startup import summary as startup_summary


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 80, shrink: int | None = None
) -> str:
    """Left-aligned columns two spaces apart; column ``shrink`` is cut to fit ``max_width``."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    total = sum(widths) + 2 * (len(widths) - 1)
    if shrink is not None and total > max_width:
        widths[shrink] = max(len(headers[shrink]), widths[shrink] - (total - max_width))
    lines = []
    for row in cells:
        parts = []
        for i, cell in enumerate(row):
            text = cell if len(cell) <= widths[i] else cell[: max(1, widths[i] - 1)] + "…"
            parts.append(text.ljust(widths[i]))
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


POOL_HEADERS = ("LABEL", "DEMAND", "REQ", "PEND", "BOOT", "READY", "BUSY", "RETIRE", "HELD", "MIN", "MAX", "LIMIT")


def pools_table(pools: list[dict[str, Any]]) -> str:
    rows = []
    for p in pools:
        note = ""
        if p.get("blocked_by"):  # what binds now: max, max-agents, rate or backoff (README: Why is my build waiting?)
            note = str(p["blocked_by"])
        if p.get("backoff_seconds") and p.get("blocked_by") in (None, "backoff"):
            note = f"backoff {format_duration(p['backoff_seconds'])}"
        if p.get("failed"):
            note = (note + f" failed={p['failed']}").strip()
        rows.append(
            (
                p["label"],
                p["demand"],
                p["requested"],
                p["pending"],
                p["booting"],
                p["ready"],
                p["busy"],
                p["retiring"],
                p["held"],
                f"{p['min_ready']}*" if p.get("min_ready_source", "label") != "label" else p["min_ready"],
                p["max"],
                note,
            )
        )
    if len({p.get("controller") for p in pools}) > 1:  # pools of several controllers: say whose
        headers = (POOL_HEADERS[0], "CONTROLLER", *POOL_HEADERS[1:])
        with_controller = [(r[0], p.get("controller"), *r[1:]) for r, p in zip(rows, pools, strict=True)]
        return table(headers, with_controller, shrink=12) + _scheduled(pools)
    return table(POOL_HEADERS, rows, shrink=11) + _scheduled(pools)


def _scheduled(pools: list[dict[str, Any]]) -> str:
    """Under the pools table: where each ``MIN`` marked ``*`` comes from (a schedule entry in force)."""
    notes = [
        f"* {p['label']}: min-ready {p['min_ready']} from {p['min_ready_source']}"
        for p in pools
        if p.get("min_ready_source", "label") != "label"
    ]
    return "".join("\n" + note for note in notes)


def agents_table(agents: list[dict[str, Any]], *, wide: bool = False) -> str:
    headers = ("NAME", "LABEL", "STATE", "AGE", "IN-STATE", "BUILD")
    rows: list[tuple[Any, ...]] = []
    for a in agents:
        row: tuple[Any, ...] = (
            a["name"],
            a["label"],
            agent_state(a),
            format_duration(a["age_seconds"]),
            format_duration(a["in_state_seconds"]),
            _build(a["build"]),
        )
        rows.append((*row, a["controller"], startup_summary(a), a["comment"]) if wide else row)
    if wide:
        return table((*headers, "CONTROLLER", "STARTUP", "COMMENT"), rows, max_width=240)
    return table(headers, rows, shrink=5)


def demand_table(demand: dict[str, Any]) -> str:
    lines = []
    per_label = demand["per_label"]
    lines.append(table(("LABEL", "DEMAND"), sorted(per_label.items())) if per_label else "no demand")
    lines.append("")
    rows = [(d["listener"], d["controller"], d["items"], d["error"] or "ok") for d in demand["listeners"]]
    lines.append(table(("LISTENER", "CONTROLLER", "ITEMS", "STATUS"), rows, shrink=3))
    unmatched = [i for i in demand["items"] if i["label"] is None]
    if unmatched:
        lines.append("")
        lines.append("Queued work no configured label serves:")
        lines.append(table(("KEY", "WANTS", "WHAT"), [(i["key"], i["wants"], i["what"]) for i in unmatched], shrink=2))
    return "\n".join(lines)


def events_table(events: list[dict[str, Any]]) -> str:
    """The one format of events (``autoscaler events``, the demo): UTC time, kind, agent, and the
    message without a repeat of the kind (``held: inspect`` under ``held`` reads ``inspect``)."""
    rows = [
        (e["time"][11:19] if e["time"] else "", e["kind"], e["agent"] or "-", detail(e["kind"], e["message"]))
        for e in events
    ]
    return table(("TIME", "EVENT", "AGENT", "MESSAGE"), rows, shrink=3)


def detail(word: str, text: str | None) -> str:
    """``text`` less a leading repeat of ``word`` (``held: inspect`` after ``held`` is ``inspect``)."""
    text = text or ""
    if text == word:
        return ""
    return text[len(word) + 2 :] if text.startswith(f"{word}: ") else text


def agent_state(agent: dict[str, Any]) -> str:
    """The state, and for a hold that expires, how long it has left (``held (1h59m left)``)."""
    state = str(agent["state"])
    until = agent.get("hold_until")
    if state != "held" or not until:
        return state
    left = datetime.fromisoformat(str(until).replace("Z", "+00:00")).timestamp() - time.time()
    return f"held ({format_duration(max(0.0, left))} left)"


def _build(url: str | None) -> str:
    if not url:
        return ""
    parts = [p for p in url.rstrip("/").split("/") if p]
    if len(parts) >= 3 and parts[-3] == "job":
        return f"{parts[-2]}#{parts[-1]}"
    return url


def plural(count: int, noun: str) -> str:
    """``1 controller``, ``2 controllers``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
