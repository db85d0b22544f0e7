"""One Kafka message -> one engine event, per the listener's ``format`` (WIRE §5).

- ``zmq-json``: the zmq-event-publisher's JSON; its topic word (``onStarted``, ``onFinalized``...)
  is in the message key, in a header, or in a field of the JSON (``topic-word``).
- ``cloudevents``: binary mode (``ce_`` headers, data in the value) or structured mode.
- ``mapping``: any JSON, with configurable paths for node, phase, status, build number, job.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from autoscaler.plugin import BuildFinished, BuildStarted, Event, LifecycleHint, SettingsModel
from autoscaler.wire.cloudevents import InvalidEvent, from_binary, from_structured, to_engine_event
from autoscaler.wire.zmq import FrameError, parse_frame

Headers = Sequence[tuple[str, bytes | None]]


class MalformedMessage(ValueError):
    pass


class FieldMapping(SettingsModel):
    """Where the build facts are in a message of ``format: mapping`` (dotted JSON paths)."""

    node: str = "build.node_name"
    """Path of the Jenkins node name (empty or missing: a build that names no agent)."""
    phase: str = "build.phase"
    """Path of the phase."""
    status: str = "build.status"
    """Path of the result."""
    number: str = "build.number"
    """Path of the build number."""
    job: str = "name"
    """Path of the job name."""
    url: str = "build.full_url"
    """Path of the build URL."""
    started: tuple[str, ...] = ("STARTED",)
    """Phase values that mean the build started."""
    finished: tuple[str, ...] = ("FINISHED", "FINALIZED")
    """Phase values that mean the build is over (its agent may be retired)."""


def to_event(
    key: bytes | None,
    headers: Headers | None,
    value: bytes | None,
    *,
    fmt: str,
    topic_word: str,
    mapping: FieldMapping,
    controller: str | None,
    source: str,
) -> Event | None:
    """The event a message means, None for messages to ignore; raises :class:`MalformedMessage`."""
    if value is None:
        raise MalformedMessage("message has no value")
    try:
        if fmt == "zmq-json":
            word = _topic_word(key, headers or (), value, topic_word)
            return parse_frame(word.encode() + b" " + value, controller=controller, source=source)
        if fmt == "cloudevents":
            return _cloudevent(headers or (), value, controller, source)
        return _mapped(_json(value), mapping, controller, source)
    except (FrameError, InvalidEvent) as exc:
        raise MalformedMessage(str(exc)) from None


def _topic_word(key: bytes | None, headers: Headers, value: bytes, where: str) -> str:
    if where == "key":
        if not key:
            raise MalformedMessage("no message key (expected the topic word, e.g. onFinalized)")
        return key.decode("utf-8", "replace")
    if where.startswith("header:"):
        name = where[len("header:") :]
        for header, raw in headers:
            if header == name and raw:
                return raw.decode("utf-8", "replace")
        raise MalformedMessage(f"no {name!r} header (expected the topic word)")
    word = path(_json(value), where[len("field:") :])
    if not isinstance(word, str) or not word:
        raise MalformedMessage(f"no topic word at {where[len('field:') :]!r}")
    return word


def _cloudevent(headers: Headers, value: bytes, controller: str | None, source: str) -> Event | None:
    attrs = {k: (v or b"").decode("utf-8", "replace") for k, v in headers}
    if any(k.lower().startswith("ce_") for k in attrs):
        event = from_binary(attrs, value, prefix="ce_")
    else:
        events = from_structured(value)
        if len(events) != 1:
            raise MalformedMessage("a Kafka message carries one structured CloudEvent")
        event = events[0]
    return to_engine_event(event, controller=controller, source=source)


def _mapped(data: Any, mapping: FieldMapping, controller: str | None, source: str) -> Event | None:
    if not isinstance(data, dict):
        raise MalformedMessage("message is not a JSON object")
    node = path(data, mapping.node)
    phase = path(data, mapping.phase)
    if node is not None and not isinstance(node, str):
        raise MalformedMessage(f"{mapping.node} is not a string")
    if not node:
        return LifecycleHint(controller, source)
    number = path(data, mapping.number)
    number = number if isinstance(number, int) and not isinstance(number, bool) else None
    job = str(path(data, mapping.job) or "")
    url = path(data, mapping.url)
    url = url if isinstance(url, str) else None
    if phase in mapping.started:
        return BuildStarted(node, controller, job, number, url, source)
    if phase in mapping.finished:
        status = path(data, mapping.status)
        return BuildFinished(node, controller, job, number, url, status if isinstance(status, str) else None, source)
    return LifecycleHint(controller, source)


def path(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _json(value: bytes) -> Any:
    try:
        return json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"value is not JSON: {exc}") from None
    except RecursionError:
        raise MalformedMessage("value is nested too deeply to parse") from None
