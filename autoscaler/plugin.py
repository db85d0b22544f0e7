"""The plugin API: everything a demand listener, a destroy listener or a driver may use.

This module (re-exported by :mod:`autoscaler`) and :mod:`autoscaler.wire` are the whole contract
between the core and its plugins; ``docs/plugins.md`` lists every name. Anything else under
``autoscaler.`` is internal and may change without notice.

A plugin is a class registered under the entry-point group of its :class:`PluginKind`::

    [project.entry-points."autoscaler.demand_listeners"]
    my-queue = "my_package:MyQueueListener"

The ``type:`` of a config section is the entry-point name. The class declares ``settings_model``,
a pydantic model (derived from :class:`ListenerSettings` or :class:`DriverSettings`) for its own
section; the core validates the section with it, so a plugin's config errors read like the core's.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ConfigDict

from autoscaler.config.base import Model
from autoscaler.config.models import ControllerConfig, LabelConfig
from autoscaler.config.units import Duration, Quantity
from autoscaler.context import ControllerInfo, JenkinsAPI, LabelInfo, PluginContext
from autoscaler.events import (
    AgentChanged,
    BuildFinished,
    BuildStarted,
    DemandItem,
    DemandRefresh,
    DemandReport,
    Event,
    LifecycleHint,
    NodeOffline,
    NodeOnline,
)
from autoscaler.jenkins.computers import NodeView
from autoscaler.labels import Expr, LabelExpressionError
from autoscaler.labels import matches as expression_matches
from autoscaler.labels import parse as parse_expression
from autoscaler.ratelimit import RateLimiter
from autoscaler.secrets import SecretError, read_secret
from autoscaler.supervision import Run

if TYPE_CHECKING:
    from autoscaler.jenkins.client import JenkinsError
else:

    def __getattr__(name: str) -> Any:  # JenkinsError loads python-jenkins: only when a plugin asks
        if name == "JenkinsError":
            from autoscaler.jenkins.client import JenkinsError

            return JenkinsError
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AgentChanged",
    "AgentHandle",
    "BuildFinished",
    "BuildStarted",
    "ControllerInfo",
    "DemandItem",
    "DemandListener",
    "DemandRefresh",
    "DemandReport",
    "DemandUnknown",
    "DestroyListener",
    "Driver",
    "DriverError",
    "DriverSettings",
    "DriverStatus",
    "Duration",
    "Event",
    "Expr",
    "JenkinsAPI",
    "JenkinsError",
    "LabelExpressionError",
    "LabelInfo",
    "LaunchSpec",
    "LifecycleHint",
    "ListenerSettings",
    "NodeOffline",
    "NodeOnline",
    "NodeView",
    "PluginContext",
    "PluginKind",
    "Quantity",
    "RateLimiter",
    "Run",
    "SecretError",
    "SettingsModel",
    "expression_matches",
    "parse_expression",
    "read_secret",
    "singular_alias",
]


class SettingsModel(Model):
    """Base of a nested section in a plugin's settings: kebab-case keys, unknown keys rejected,
    immutable, field docstrings in the reference."""


class ListenerSettings(SettingsModel):
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


class DriverSettings(SettingsModel):
    """Base of a driver's config model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    """Entry-point name of the driver."""


def singular_alias(data: Any, one: str, many: str) -> Any:
    """For a ``mode="before"`` model validator: accept ``one: x`` for ``many: [x]``; both keys
    at once is an error naming both."""
    if not isinstance(data, dict) or one not in data:
        return data
    if many in data:
        raise ValueError(f"{one}: give {one} (a single value) or {many} (a list), not both")
    out = {k: v for k, v in data.items() if k != one}
    out[many] = data[one]
    return out


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
    scheduled: bool | None = None
    """Whether it has been placed where it will run (a pod bound to a node); None: the driver
    cannot tell (a local process has no such step). Feeds the ``scheduled`` start-up phase."""


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a driver needs to start one agent."""

    name: str
    """Agent name = Jenkins node name, exactly."""
    label: LabelConfig
    """The label's configuration as loaded (the built-in drivers read their keys from it: ``image``,
    ``command``, ``cpu``...). Internal model: a driver outside the core reads ``label.name``,
    ``label.all_atoms`` and ``label.executors`` only."""
    controller: ControllerConfig
    """The controller the agent joins (``name``, ``url``, ``agent_endpoint``, ``user``)."""
    daemon_id: str
    credential: str | None = field(default=None, repr=False)
    """The Jenkins token for the agent; drivers must pass it only through a secret channel."""
    node_secret: str | None = field(default=None, repr=False)
    """The secret of the Jenkins node the framework registered for an inbound agent; pass it
    only through a secret channel."""


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

    def freeze(self, name: str) -> bool:
        """Suspend the agent so it does nothing more (registers no node, takes no build) until
        :meth:`thaw` or :meth:`delete`. Returns whether it was frozen. Optional: the default
        cannot and returns False.

        The core freezes an agent that never came online before it asks Jenkins whether the
        node exists: an agent that registers between Jenkins' answer and its stop would lose
        the build Jenkins hands it at once."""
        return False

    def thaw(self, name: str) -> None:  # noqa: B027 - optional, with freeze
        """Resume an agent :meth:`freeze` suspended."""

    def mark_hold(self, name: str, reason: str | None, until: float | None) -> None:  # noqa: B027
        """Record a hold on the agent's resource (``reason`` None: released), so that
        :meth:`list` reports it after a restart. Optional; the default keeps holds in memory only."""

    def annotate(self, name: str, annotations: dict[str, str]) -> None:  # noqa: B027 - optional
        """Record facts about the agent on its resource, once known: the job and the build it ran
        (keys ``autoscaler.jenkins.io/job`` and ``autoscaler.jenkins.io/build``), so cost tools can
        attribute it. Optional; the default records nothing. Errors are logged, never fatal."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Must not stop running agents."""


class PluginKind(enum.StrEnum):
    """The three kinds of plugin, each with its entry-point group, base class and config section."""

    DEMAND = "demand"
    DESTROY = "destroy"
    DRIVER = "driver"

    @property
    def group(self) -> str:
        """Entry-point group its plugins register under."""
        return f"autoscaler.{_KIND_GROUP[self]}"

    @property
    def base(self) -> type[DemandListener | DestroyListener | Driver]:
        """Class its plugins derive from."""
        return _KIND_BASE[self]

    @property
    def word(self) -> str:
        """How messages name it (``demand listener``)."""
        return "driver" if self is PluginKind.DRIVER else f"{self.value} listener"

    @property
    def section(self) -> str:
        """Config section its plugins are configured in (``demand-listeners``)."""
        return "driver" if self is PluginKind.DRIVER else f"{self.value}-listeners"


_KIND_GROUP = {
    PluginKind.DEMAND: "demand_listeners",
    PluginKind.DESTROY: "destroy_listeners",
    PluginKind.DRIVER: "drivers",
}
_KIND_BASE: dict[PluginKind, type[DemandListener | DestroyListener | Driver]] = {
    PluginKind.DEMAND: DemandListener,
    PluginKind.DESTROY: DestroyListener,
    PluginKind.DRIVER: Driver,
}
ENTRY_POINT_GROUPS = {kind: kind.group for kind in PluginKind}
"""Entry-point group of each kind (kept for callers that index it by ``"demand"``...)."""
