"""What the engine needs of the outside world: a controller (Jenkins) and a driver.

The engine holds these protocols, not the implementations: the Jenkins client and the drivers
satisfy them structurally, and tests hand in fakes (``autoscaler.testing.fakes``)."""

from __future__ import annotations

from typing import Any, Protocol

from autoscaler.inbound import NodeRegistry
from autoscaler.jenkins.computers import NodeView
from autoscaler.plugin import Driver


class ControllerAPI(NodeRegistry, Protocol):
    """The part of :class:`~autoscaler.jenkins.client.JenkinsClient` the engine uses (with
    :class:`~autoscaler.inbound.NodeRegistry`: registering an inbound agent's node)."""

    name: str

    def computers(self) -> dict[str, NodeView]: ...
    def node(self, name: str) -> dict[str, Any] | None: ...
    def take_offline(self, name: str, message: str) -> bool: ...
    def delete_node(self, name: str) -> bool: ...


__all__ = ["ControllerAPI", "Driver"]
