"""Internal messages of the engine's inbox: results of its own I/O, timers, and commands."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from autoscaler.config.models import Config
from autoscaler.engine.ports import ControllerAPI
from autoscaler.events import DemandReport, Event
from autoscaler.jenkins.computers import NodeView
from autoscaler.plugin import AgentHandle


@dataclass(frozen=True)
class Tick:
    """Timers: holds, boot and idle timeouts, one-shot busy checks, planning."""


@dataclass(frozen=True)
class Reconcile:
    """Compare every agent with the driver and with Jenkins."""


@dataclass(frozen=True)
class DemandUpdate:
    listener: str
    controller: str
    report: DemandReport | None
    error: str | None = None
    observed_at: float | None = None
    """When the poll that produced the report began, on the engine's clock (``time.monotonic``)."""


@dataclass(frozen=True)
class ComputersSeen:
    controller: str
    nodes: dict[str, NodeView] | None
    error: str | None = None
    observed_at: float | None = None
    """When the read began, on the engine's clock: a state the engine reached after it (a build
    event) is newer than the read, which then cannot undo it."""


@dataclass(frozen=True)
class DriverSeen:
    handles: list[AgentHandle] | None
    error: str | None = None


@dataclass(frozen=True)
class Launched:
    name: str
    handle: AgentHandle | None
    error: str | None = None
    transient: bool = True


@dataclass(frozen=True)
class Retired:
    name: str
    ok: bool
    error: str | None = None
    busy: bool = False
    """Not retired because a build was found running on it."""


@dataclass(frozen=True)
class OfflineTaken:
    """The result of taking a one-shot agent's node offline at build start."""

    controller: str
    name: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class NodeDeleted:
    controller: str
    name: str
    error: str | None = None


@dataclass(frozen=True)
class Command:
    """From the API: ``hold``, ``release``, ``delete``, or a query (``pools``, ``agents``...)."""

    op: str
    args: dict[str, Any] = field(default_factory=dict)
    reply: Future[Any] = field(default_factory=Future, compare=False)


@dataclass(frozen=True)
class Reload:
    config: Config
    """The new validated configuration."""
    controllers: Mapping[str, ControllerAPI] = field(default_factory=dict)
    """Clients of controllers the new config adds (existing ones are kept)."""
    credentials: dict[str, str | None] = field(default_factory=dict)
    """Agent credentials per controller, re-read."""


@dataclass(frozen=True)
class Stop:
    pass


Internal = (
    Tick
    | Reconcile
    | DemandUpdate
    | ComputersSeen
    | DriverSeen
    | Launched
    | Retired
    | OfflineTaken
    | NodeDeleted
    | Command
    | Reload
    | Stop
)
Message = Event | Internal
"""Everything the engine's inbox takes: a plugin event or one of its own messages."""
