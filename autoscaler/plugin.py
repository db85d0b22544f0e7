"""The plugin API: what a demand listener, a destroy listener or a driver implements.

A plugin is a class registered under one of three entry-point groups::

    [project.entry-points."autoscaler.demand_listeners"]
    my-queue = "my_package:MyQueueListener"

The ``type:`` of a config section is the entry-point name. The class declares ``settings_model``,
a pydantic model (derived from :class:`ListenerSettings` or :class:`DriverSettings`) for its own
section; the core validates the section with it, so a plugin's config errors read like the core's.
"""

from __future__ import annotations

import abc
import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from pydantic import ConfigDict

from autoscaler.config.base import Model
from autoscaler.config.models import Config, ControllerConfig, LabelConfig
from autoscaler.events import DemandReport, Event
from autoscaler.supervision import Run, Supervisor

if TYPE_CHECKING:
    from autoscaler.jenkins.client import JenkinsClient

__all__ = [
    "AgentHandle",
    "DemandListener",
    "DemandUnknown",
    "DestroyListener",
    "Driver",
    "DriverError",
    "DriverSettings",
    "DriverStatus",
    "LaunchSpec",
    "ListenerSettings",
    "PluginContext",
]

ENTRY_POINT_GROUPS = {
    "demand": "autoscaler.demand_listeners",
    "destroy": "autoscaler.destroy_listeners",
    "driver": "autoscaler.drivers",
}


class ListenerSettings(Model):
    """Base of a listener's config model. Subclasses add their own keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    """Entry-point name of the plugin."""
    name: str | None = None
    """Name of this listener in logs and metrics; defaults to the type."""
    controller: str | None = None
    """Controller this listener observes; defaults to the first one."""

    @property
    def display_name(self) -> str:
        return self.name or self.type


class DriverSettings(Model):
    """Base of a driver's config model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    """Entry-point name of the driver."""


@dataclass
class PluginContext:
    """What the core hands a plugin when it builds it."""

    config: Config
    """The whole validated configuration (read-only)."""
    emit: Callable[[Event], None]
    """Send an event to the engine; thread-safe, never blocks for long."""
    jenkins: Mapping[str, JenkinsClient] = field(default_factory=dict)
    """A client per controller name."""
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("autoscaler.plugin"))
    count: Callable[[str], None] = lambda reason: None
    """Count a notable occurrence (``"malformed"``, ``"ignored"``...) in this plugin's metrics."""
    supervisor: Supervisor = field(default_factory=Supervisor)
    """Runs the plugin's receive loops; the daemon shares one across plugins (for ``/healthz``)."""

    def supervise(self, name: str, loop: Callable[[Run], None], *, stale_after: float | None = 60.0) -> Run:
        """Run ``loop`` in a thread, restart it when it raises, report it when it hangs.

        The loop returns once ``run.stopping`` is set and calls ``run.beat()`` (or
        :meth:`heartbeat`) at least every ``stale_after`` seconds while it is well.
        """
        return self.supervisor.supervise(name, loop, stale_after=stale_after)

    def heartbeat(self, name: str) -> None:
        """Report progress of the supervised loop ``name``."""
        self.supervisor.heartbeat(name)

    def controller(self, name: str | None) -> ControllerConfig:
        """The named controller, or the first one when ``name`` is ``None``."""
        if name is None:
            return self.config.controllers[0]
        for c in self.config.controllers:
            if c.name == name:
                return c
        raise KeyError(f"no controller named {name!r}")


class DemandUnknown(Exception):
    """Raised by :meth:`DemandListener.poll` when demand cannot be read right now.

    The engine then keeps the last known demand of this listener (never scales to zero
    because a dependency is down) and logs the reason once per outage.
    """


class DemandListener(abc.ABC):
    """Observes queued work. Polled every ``interval`` seconds by the core's scheduler."""

    settings_model: ClassVar[type[ListenerSettings]] = ListenerSettings

    def __init__(self, settings: ListenerSettings, context: PluginContext) -> None:
        self.settings = settings
        self.context = context

    @property
    def interval(self) -> float:
        """Seconds between polls."""
        return float(getattr(self.settings, "interval", 5.0))

    def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections. Called once before the first poll."""

    @abc.abstractmethod
    def poll(self) -> DemandReport:
        """Return everything queued now, or raise :class:`DemandUnknown`. Runs in a worker
        thread; must respect its own timeouts."""

    def stop(self) -> None:  # noqa: B027 - optional hook
        """Close connections; return within a few seconds."""


class DestroyListener(abc.ABC):
    """Observes build lifecycle and pushes events through ``context.emit``."""

    settings_model: ClassVar[type[ListenerSettings]] = ListenerSettings

    def __init__(self, settings: ListenerSettings, context: PluginContext) -> None:
        self.settings = settings
        self.context = context

    @abc.abstractmethod
    def start(self) -> None:
        """Start receiving (usually in a thread of its own); return promptly."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop receiving and release sockets; return within a few seconds."""


class DriverStatus(enum.StrEnum):
    PENDING = "pending"
    """The resource exists but does not run yet."""
    RUNNING = "running"
    EXITED = "exited"
    """Stopped on its own or was stopped."""
    FAILED = "failed"
    """Cannot run (image pull error, crash loop, spawn error)."""


@dataclass(frozen=True)
class AgentHandle:
    """What a driver knows of one agent it runs."""

    name: str
    label: str
    controller: str
    status: DriverStatus
    created: float
    """Epoch seconds."""
    detail: str = ""
    """Why it is in this status (an exit code, a pod reason)."""
    hold_reason: str | None = None
    """Set when the agent is held (recorded with :meth:`Driver.mark_hold`), so a hold outlives a restart."""
    hold_until: float | None = None
    """When that hold expires (epoch seconds); None for no expiry."""


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a driver needs to start one agent."""

    name: str
    """Agent name = Jenkins node name, exactly."""
    label: LabelConfig
    controller: ControllerConfig
    daemon_id: str
    credential: str | None = field(default=None, repr=False)
    """The Jenkins token for the agent; drivers must pass it only through a secret channel."""


class DriverError(Exception):
    """A driver operation failed. ``transient`` says whether retrying later may help."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class Driver(abc.ABC):
    """Runs agents. Calls come from the core's worker threads and must be thread-safe."""

    settings_model: ClassVar[type[DriverSettings]] = DriverSettings

    def __init__(self, settings: DriverSettings, context: PluginContext) -> None:
        self.settings = settings
        self.context = context

    @abc.abstractmethod
    def launch(self, spec: LaunchSpec) -> AgentHandle:
        """Start one agent; raise :class:`DriverError` on failure."""

    @abc.abstractmethod
    def delete(self, name: str, *, grace: float) -> None:
        """Stop and remove an agent. An agent that is already gone is success."""

    @abc.abstractmethod
    def list(self) -> list[AgentHandle]:
        """Every agent of this daemon instance that exists now (used for adoption)."""

    def mark_hold(self, name: str, reason: str | None, until: float | None) -> None:  # noqa: B027
        """Record a hold on the agent's resource (``reason`` None: released), so that
        :meth:`list` reports it after a restart. Optional; the default keeps holds in memory only."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Must not stop running agents."""
