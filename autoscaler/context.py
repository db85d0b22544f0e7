"""What the core hands a plugin: :class:`PluginContext`, and the narrow views it gives of the core.

Public through :mod:`autoscaler.plugin` (import these names from there). A plugin sees the
configuration only through :class:`ControllerInfo` and :class:`LabelInfo`, read live, so a label or
controller added by a reload (SIGHUP) is seen without rebuilding the plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from autoscaler.config.models import Config, ControllerConfig
from autoscaler.events import Event
from autoscaler.jenkins.computers import NodeView
from autoscaler.supervision import Run, Supervisor

__all__ = ["ControllerInfo", "JenkinsAPI", "LabelInfo", "PluginContext"]


class JenkinsAPI(Protocol):
    """What a plugin may call on ``context.jenkins[controller]`` (one controller's client).

    Calls are thread-safe, retried when transient, and raise :class:`JenkinsError` on failure
    (``transient``: a later retry may succeed; ``not_found``: no such page or node).
    """

    @property
    def name(self) -> str:
        """The controller's name."""

    def get_json(self, path: str) -> Any:
        """GET ``<url>/<path>`` (``tree=`` included) and decode the JSON."""

    def get_text(self, path: str) -> str:
        """GET ``<url>/<path>`` as text."""

    def computers(self) -> Mapping[str, NodeView]:
        """Every agent node by exact name, as ``/computer`` shows it (the built-in node left out)."""

    def node(self, name: str) -> dict[str, Any] | None:
        """``/computer/NAME/api/json``, or ``None`` when there is no such node."""

    def create_node(self, name: str, *, labels: str, executors: int, description: str, exclusive: bool = True) -> None:
        """Create a permanent node with the inbound (JNLP) launcher."""

    def take_offline(self, name: str, message: str) -> bool:
        """Mark the node temporarily offline (unless it is); ``False`` when it does not exist."""

    def delete_node(self, name: str) -> bool:
        """Delete the node (gone already is success); returns whether it existed."""


@dataclass(frozen=True)
class ControllerInfo:
    """One configured Jenkins controller, as a plugin sees it."""

    name: str
    url: str
    """URL of its API (ends with ``/``)."""
    agent_url: str
    """URL agents connect to (``agent-url``, or ``url``)."""


@dataclass(frozen=True)
class LabelInfo:
    """One configured label (agent pool), as a plugin sees it."""

    name: str
    atoms: frozenset[str]
    """Every Jenkins label its agents carry (``name`` included)."""
    controller: str
    """Name of the controller its agents join."""
    slug: str
    """The name as a DNS label (used in agent and resource names)."""


class PluginContext:
    """What the core hands a plugin when it builds it.

    ``config`` is the configuration, or a function returning the current one: the daemon passes
    a function, so that :meth:`labels` and :meth:`controller` see what a reload (SIGHUP) changed.
    """

    def __init__(
        self,
        config: Config | Callable[[], Config],
        emit: Callable[[Event], None],
        jenkins: Mapping[str, JenkinsAPI] | None = None,
        log: logging.Logger | None = None,
        count: Callable[[str], None] | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self._config = config if callable(config) else (lambda: config)
        self.emit = emit
        """Send an event to the engine; thread-safe, never blocks for long."""
        self.jenkins: Mapping[str, JenkinsAPI] = jenkins if jenkins is not None else {}
        """A client per controller name (a controller added by a reload appears here too)."""
        self.log = log or logging.getLogger("autoscaler.plugin")
        self.count: Callable[[str], None] = count or (lambda reason: None)
        """Count a notable occurrence (``"malformed"``, ``"ignored"``...) in this plugin's metrics."""
        self.supervisor = supervisor or Supervisor()
        """Runs the plugin's receive loops; the daemon shares one across plugins (for ``/healthz``)."""

    @property
    def config(self) -> Config:
        """The whole current configuration. Internal: its shape may change; plugins use
        :meth:`controller`, :meth:`labels`, :attr:`daemon_id` and :attr:`name_prefix`."""
        return self._config()

    @property
    def daemon_id(self) -> str:
        """This daemon instance's id (``daemon.id``): a driver's :meth:`Driver.list` returns its agents only."""
        return self.config.daemon.id

    @property
    def name_prefix(self) -> str:
        """Prefix of the names of this daemon's agents and nodes (``daemon.name-prefix``)."""
        return self.config.daemon.name_prefix

    def controller(self, name: str | None = None) -> ControllerInfo:
        """The named controller, or the default one (the first configured) when ``name`` is ``None``;
        :class:`KeyError` when there is no such controller."""
        return _controller_info(_find_controller(self.config, name))

    def labels(self) -> tuple[LabelInfo, ...]:
        """Every configured label, as configured now."""
        config = self.config
        return tuple(
            LabelInfo(lab.name, lab.all_atoms, config.controller_of(lab).name, lab.slug) for lab in config.labels
        )

    def supervise(self, name: str, loop: Callable[[Run], None], *, stale_after: float | None = 60.0) -> Run:
        """Run ``loop`` in a thread, restart it when it raises, report it when it hangs.

        The loop returns once ``run.stopping`` is set and calls ``run.beat()`` (or
        :meth:`heartbeat`) at least every ``stale_after`` seconds while it is well.
        """
        return self.supervisor.supervise(name, loop, stale_after=stale_after)

    def heartbeat(self, name: str) -> None:
        """Report progress of the supervised loop ``name``."""
        self.supervisor.heartbeat(name)


def _find_controller(config: Config, name: str | None) -> ControllerConfig:
    return config.controller_named(name)


def _controller_info(c: ControllerConfig) -> ControllerInfo:
    return ControllerInfo(c.name, c.url, c.agent_endpoint)
