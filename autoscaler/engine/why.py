"""``why``: the reason one queued build waits. From the engine's books when it counts the build
as demand; otherwise from Jenkins' own queue (a quiet period, a build blocked by another: items a
listener does not count), read on a worker thread so the engine never waits on Jenkins."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

from autoscaler.config.models import Config
from autoscaler.engine import reasons, views
from autoscaler.engine.messages import Command
from autoscaler.engine.runtime import Now, RuntimeState

log = logging.getLogger(__name__)

QUEUE_TREE = "items[id,why,blocked,buildable,inQueueSince,task[name,url]]"


def answer(
    state: RuntimeState, config: Config, now: Now, controllers: Mapping[str, Any], io: Executor, cmd: Command
) -> None:
    """Reply to ``cmd`` (op ``why``, arg ``q``) now, or from a worker once Jenkins answered."""
    found = views.why(state, config, now, str(cmd.args.get("q", "")))
    if found["items"] or not found["query"].strip():
        cmd.reply.set_result(found)
        return
    clients = {name: c for name, c in controllers.items() if callable(getattr(c, "get_json", None))}
    io.submit(_from_jenkins, clients, found, cmd)


def _from_jenkins(clients: Mapping[str, Any], found: dict[str, Any], cmd: Command) -> None:
    query: str = found["query"]
    items: list[dict[str, Any]] = []
    errors: list[str] = list(found["errors"])
    try:
        for name, client in clients.items():
            try:
                payload = client.get_json(f"queue/api/json?tree={QUEUE_TREE}")
            except Exception as exc:  # Jenkins down: say so in the answer, never fail the command
                errors.append(f"controller {name}: cannot read its queue: {exc}")
                continue
            items += _matching(name, payload, query)
        if not items:
            items = [{"key": None, "what": query, "reason": reasons.not_queued(query, errors).as_dict()}]
        cmd.reply.set_result({**found, "items": items, "errors": errors})
    except Exception as exc:
        log.exception("why %s failed", query)
        if not cmd.reply.done():
            cmd.reply.set_exception(exc)


def _matching(controller: str, payload: Any, query: str) -> list[dict[str, Any]]:
    raw_items = payload.get("items") if isinstance(payload, dict) else None
    out = []
    for raw in raw_items if isinstance(raw_items, list) else []:
        if not isinstance(raw, dict) or "id" not in raw:
            continue
        raw_task = raw.get("task")
        task: dict[str, Any] = raw_task if isinstance(raw_task, dict) else {}
        key = f"{controller}:{raw['id']}"
        what = str(task.get("name") or task.get("url") or "pipeline node block")
        if not reasons.matches(query, key, what):
            continue
        reason = reasons.from_jenkins(raw.get("why"), blocked=bool(raw.get("blocked")))
        since = raw.get("inQueueSince")
        waited = round(max(0.0, time.time() - since / 1000.0), 1) if isinstance(since, int | float) else None
        out.append(
            {
                "controller": controller,
                "key": key,
                "what": what,
                "wants": None,
                "label": None,
                "since": views.iso(since / 1000.0) if isinstance(since, int | float) else None,
                "waiting_seconds": waited,
                "jenkins_why": raw.get("why"),
                "reason": reason.as_dict(),
            }
        )
    return out
