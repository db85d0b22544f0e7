"""Immutable events that plugins send into the engine.

Listeners never touch the engine's state: they build one of these and hand it to
``context.emit``. Every event may be lost or repeated; the engine handles each idempotently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AgentChanged",
    "BuildFinished",
    "BuildStarted",
    "DemandItem",
    "DemandRefresh",
    "DemandReport",
    "Event",
    "LifecycleHint",
    "NodeOffline",
    "NodeOnline",
]


@dataclass(frozen=True)
class BuildStarted:
    """A build started on ``node`` (an exact Jenkins node name)."""

    node: str
    controller: str | None = None
    """Controller the event came from; ``None`` when the source cannot tell."""
    job: str = ""
    number: int | None = None
    url: str | None = None
    source: str = ""
    """Name of the listener that saw it (for logs and metrics)."""

    @property
    def build_key(self) -> str:
        return f"{self.job}#{self.number}" if self.number is not None else (self.url or self.job)


@dataclass(frozen=True)
class BuildFinished:
    """A build on ``node`` finished (ZMQ ``onFinalized``, CloudEvents ``job.finalized``...)."""

    node: str
    controller: str | None = None
    job: str = ""
    number: int | None = None
    url: str | None = None
    status: str | None = None
    source: str = ""

    @property
    def build_key(self) -> str:
        return f"{self.job}#{self.number}" if self.number is not None else (self.url or self.job)


@dataclass(frozen=True)
class NodeOffline:
    """Jenkins reports ``node`` offline."""

    node: str
    controller: str | None = None
    reason: str = ""
    source: str = ""


@dataclass(frozen=True)
class NodeOnline:
    """Jenkins reports ``node`` online."""

    node: str
    controller: str | None = None
    source: str = ""


@dataclass(frozen=True)
class LifecycleHint:
    """Something happened on a controller that names no agent (a pipeline build event):
    the engine refreshes that controller's ``/computer`` view now."""

    controller: str | None = None
    source: str = ""


@dataclass(frozen=True)
class DemandRefresh:
    """Demand changed on a controller (a queue event): poll its demand listeners now."""

    controller: str | None = None
    source: str = ""


@dataclass(frozen=True)
class AgentChanged:
    """A driver saw an agent change (a pod went Running, failed, or went away): drivers that
    watch their resources emit this so the engine reacts before the next reconcile."""

    handle: Any
    """The :class:`~autoscaler.plugin.AgentHandle` as the driver sees it now."""
    source: str = ""


Event = BuildStarted | BuildFinished | NodeOffline | NodeOnline | LifecycleHint | DemandRefresh | AgentChanged


@dataclass(frozen=True)
class DemandItem:
    """One unit of queued work.

    ``key`` identifies it across polls (a queue item id), so the same item is never
    counted twice. What it wants is given by ``expression`` (a Jenkins label expression), or,
    when Jenkins names a node instead of a label, by ``node`` and that node's labels.
    """

    key: str
    expression: str | None = None
    node: str | None = None
    node_labels: frozenset[str] = field(default_factory=frozenset)
    since: float | None = None
    """When the work was queued (epoch seconds), if known."""
    what: str = ""
    """Human description (job name) for ``autoscaler demand``."""


@dataclass(frozen=True)
class DemandReport:
    """Everything one demand listener sees queued right now on one controller."""

    items: tuple[DemandItem, ...]
    controller: str | None = None
