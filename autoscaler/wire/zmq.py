"""Parse one zmq-event-publisher frame: ``"<topic> <json>"`` (WIRE §3).

Shared by the ``zmq`` listener (frames off a SUB socket) and the ``kafka`` listener's ``zmq-json``
format (the same JSON, with its topic word in the message key, a header or a field).

``onStarted`` -> :class:`BuildStarted`; ``onFinalized`` (phase ``FINISHED``) -> :class:`BuildFinished`;
``onCompleted`` is only a hint (the build is not finalized yet). An event whose ``build.node_name``
is missing or empty (pipelines, the built-in node) becomes a :class:`LifecycleHint`: the engine
then reads ``/computer`` to learn which agent is busy or idle.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from autoscaler.events import BuildFinished, BuildStarted, Event, LifecycleHint

TOPICS = ("onStarted", "onCompleted", "onFinalized")


class FrameError(ValueError):
    """A frame that is not a zmq-event-publisher event."""


def parse_frame(frame: bytes, *, controller: str | None, source: str) -> Event | None:
    """The event a frame means, ``None`` for frames to ignore, :class:`FrameError` if malformed."""
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("frame is not UTF-8") from None
    topic, sep, body = text.partition(" ")
    if not sep:
        raise FrameError(f"frame has no space between topic and JSON: {text[:60]!r}")
    if topic not in TOPICS:
        return None  # another topic on the same socket: not ours to judge
    try:  # the usual event, typed (msgspec): about a tenth of json.loads; any other shape below
        typed = _DECODER.decode(body)
    except msgspec.MsgspecError:
        typed = None
    if typed is not None and typed.build is not None:
        return _event(topic, typed.build, typed.name or "", controller, source)
    return parse_plain(topic, body, controller=controller, source=source)


def parse_plain(topic: str, body: str, *, controller: str | None, source: str) -> Event | None:
    """The body read as plain JSON, leniently (what :func:`parse_frame` falls back to)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise FrameError(f"{topic}: body is not JSON: {exc}") from None
    except RecursionError:
        raise FrameError(f"{topic}: body is nested too deeply to parse") from None
    if not isinstance(data, dict):
        raise FrameError(f"{topic}: body is not a JSON object")
    build = data.get("build")
    if not isinstance(build, dict):
        raise FrameError(f"{topic}: no 'build' object")
    job = data.get("name")
    job = job if isinstance(job, str) else ""
    number = build.get("number")
    number = number if isinstance(number, int) and not isinstance(number, bool) else None
    url = _str(build.get("full_url")) or _str(build.get("url"))
    node = build.get("node_name")
    if node is not None and not isinstance(node, str):
        raise FrameError(f"{topic}: build.node_name is not a string")
    if not node:
        return LifecycleHint(controller=controller, source=source)
    if topic == "onStarted":
        return BuildStarted(node, controller, job, number, url, source)
    if topic == "onFinalized":
        phase = build.get("phase")
        if phase not in (None, "FINISHED", "FINALIZED"):
            raise FrameError(f"onFinalized with unexpected phase {phase!r}")
        return BuildFinished(node, controller, job, number, url, _str(build.get("status")), source)
    return LifecycleHint(controller=controller, source=source)


class _Build(msgspec.Struct, gc=False):
    """The fields of ``build`` read, with the types Jenkins sends (others: the plain reading)."""

    number: int | None = None
    full_url: str | None = None
    url: str | None = None
    node_name: str | None = None
    phase: str | None = None
    status: str | None = None


class _Body(msgspec.Struct, gc=False):
    name: str | None = None
    build: _Build | None = None


_DECODER = msgspec.json.Decoder(_Body)


def _event(topic: str, build: _Build, job: str, controller: str | None, source: str) -> Event | None:
    """What the plain reading below makes of the same fields."""
    url = build.full_url or build.url or None
    node = build.node_name
    if not node:
        return LifecycleHint(controller=controller, source=source)
    if topic == "onStarted":
        return BuildStarted(node, controller, job, build.number, url, source)
    if topic == "onFinalized":
        if build.phase not in (None, "FINISHED", "FINALIZED"):
            raise FrameError(f"onFinalized with unexpected phase {build.phase!r}")
        return BuildFinished(node, controller, job, build.number, url, build.status or None, source)
    return LifecycleHint(controller=controller, source=source)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
