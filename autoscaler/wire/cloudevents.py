"""CloudEvents from the Jenkins cloudevents plugin (WIRE §4), in either content mode, and what
each means to the engine. Shared by the ``cloudevents`` HTTP receiver and the ``kafka`` listener's
``cloudevents`` format.

- ``org.jenkinsci.queue.entered_waiting`` / ``queue.left``: demand changed -> poll the queue now.
- ``org.jenkinsci.job.started`` / ``completed`` / ``finalized`` / ``failed``: the payload names no
  node -> re-read ``/computer`` now.
- ``org.jenkinsci.node.online`` / ``node.offline``: the named node changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autoscaler.events import DemandRefresh, Event, LifecycleHint, NodeOffline, NodeOnline

PREFIX = "org.jenkinsci."
REQUIRED = ("specversion", "id", "type", "source")


class InvalidEvent(ValueError):
    """Not a CloudEvent, or not a valid one."""


@dataclass(frozen=True)
class CloudEvent:
    id: str
    type: str
    source: str
    data: Any


def from_binary(headers: Mapping[str, str], body: bytes, *, prefix: str = "ce-") -> CloudEvent:
    """Binary mode: attributes in ``ce-`` headers (``ce_`` on Kafka), the body is the data."""
    attrs = {k.lower()[len(prefix) :]: v for k, v in headers.items() if k.lower().startswith(prefix)}
    return _event(attrs, _json(body) if body.strip() else None)


def from_structured(body: bytes) -> list[CloudEvent]:
    """Structured mode (one event) or batch mode (a JSON list of events)."""
    doc = _json(body)
    docs = doc if isinstance(doc, list) else [doc]
    out = []
    for item in docs:
        if not isinstance(item, dict):
            raise InvalidEvent("a structured event must be a JSON object")
        data = item.get("data")
        if data is None and "data_base64" in item:
            raise InvalidEvent("data_base64 is not supported: Jenkins sends JSON data")
        out.append(_event({k: v for k, v in item.items() if k != "data"}, data))
    return out


def _event(attrs: Mapping[str, Any], data: Any) -> CloudEvent:
    missing = [k for k in REQUIRED if not attrs.get(k)]
    if missing:
        raise InvalidEvent(f"missing CloudEvents attribute(s): {', '.join(missing)}")
    if str(attrs["specversion"]) != "1.0":
        raise InvalidEvent(f"unsupported specversion {attrs['specversion']!r} (expected 1.0)")
    return CloudEvent(str(attrs["id"]), str(attrs["type"]), str(attrs["source"]), data)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise InvalidEvent("body is nested too deeply to parse") from None


def to_engine_event(event: CloudEvent, *, controller: str | None, source: str) -> Event | None:
    """The engine event a Jenkins CloudEvent means, or None for types that do not matter here."""
    kind = event.type[len(PREFIX) :] if event.type.startswith(PREFIX) else ""
    if kind in ("queue.entered_waiting", "queue.left"):
        return DemandRefresh(controller, source)
    if kind in ("job.started", "job.completed", "job.finalized", "job.failed"):
        return LifecycleHint(controller, source)
    if kind in ("node.online", "node.offline"):
        node = _node_name(event)
        if kind == "node.online":
            return NodeOnline(node, controller, source)
        data = event.data if isinstance(event.data, dict) else {}
        return NodeOffline(node, controller, str(data.get("offlineCause") or ""), source)
    return None


def _node_name(event: CloudEvent) -> str:
    data = event.data if isinstance(event.data, dict) else {}
    name = data.get("nodeName")
    if isinstance(name, str) and name:
        return name
    if event.source.startswith("node/") and len(event.source) > len("node/"):
        return event.source[len("node/") :]
    raise InvalidEvent(f"{event.type} names no node (no data.nodeName, source {event.source!r})")
