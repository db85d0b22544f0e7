"""The queue as typed records: ``/queue/api/json`` decoded straight into the few fields the
listener reads (msgspec), instead of a dict per item and per task.

A payload that does not fit these types (never seen from Jenkins, but a proxy or a plugin may
send anything) is decoded again as plain JSON and each item normalised by :func:`from_dict`, the
lenient reading the listener always had: an odd item is skipped or counted, never fatal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec


class Task(msgspec.Struct, frozen=True, gc=False):
    name: str | None = None
    url: str | None = None
    labelExpression: str | None = None  # Jenkins' field name


class QueueItem(msgspec.Struct, frozen=True, gc=False):
    """One queue entry, with only what the listener reads."""

    id: int | str
    why: str | None = None
    blocked: bool | None = None
    buildable: bool | None = None
    pending: bool | None = None
    inQueueSince: int | float | None = None  # Jenkins' field name
    task: Task | None = None
    cls: str | None = msgspec.field(default=None, name="_class")

    @property
    def expression(self) -> str | None:
        """The task's own label expression (a freestyle job's), stripped; None if it has none."""
        value = self.task.labelExpression if self.task is not None else None
        if value is not None:
            value = value.strip()
        return value or None

    @property
    def what(self) -> str:
        task = self.task
        return ((task.name or task.url) if task is not None else None) or "pipeline node block"

    @property
    def since(self) -> float | None:
        return float(self.inQueueSince) / 1000.0 if self.inQueueSince is not None else None


class Queue(msgspec.Struct, gc=False):
    items: list[QueueItem] | None = None


DECODER = msgspec.json.Decoder(Queue)


def decode(body: str | bytes) -> list[QueueItem] | None:
    """The queue's items, typed; None when the payload does not fit the types (then read it with
    :func:`from_dict`). Raises :class:`msgspec.DecodeError` if it is not JSON at all."""
    try:
        return DECODER.decode(body).items
    except msgspec.ValidationError:
        return None


def from_dict(raw: Mapping[str, Any]) -> QueueItem:
    """A plain-JSON item (it has an ``id``) normalised as the listener has always read it:
    anything but a string is no ``why``, no ``_class``, no label expression; a non-object task
    is no task; ``blocked``/``pending`` by truth; ``buildable`` only when exactly ``false``."""
    cls = raw.get("_class")
    why = raw.get("why")
    since = raw.get("inQueueSince")
    raw_task = raw.get("task")
    task = None
    if isinstance(raw_task, Mapping):
        name, url, expression = raw_task.get("name"), raw_task.get("url"), raw_task.get("labelExpression")
        task = Task(
            str(name) if name else None,
            str(url) if url else None,
            expression if isinstance(expression, str) else None,
        )
    return QueueItem(
        id=raw["id"],
        why=why if isinstance(why, str) else None,
        blocked=bool(raw.get("blocked")),
        buildable=False if raw.get("buildable") is False else None,
        pending=bool(raw.get("pending")),
        inQueueSince=since if isinstance(since, int | float) else None,
        task=task,
        cls=cls if isinstance(cls, str) else None,
    )
