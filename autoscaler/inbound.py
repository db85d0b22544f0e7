"""Inbound (JNLP) agents: the framework registers their Jenkins node, drivers only start them.

A label with ``connect: inbound`` runs an agent that does not register itself (the
``jenkins/inbound-agent`` image): its node is created in Jenkins first, and the agent is given
that node's secret (it grants that one node only, never the Jenkins user's credential). The engine's
launch step does this before ``driver.launch`` (:func:`inbound_launch`) and passes the secret in
the :class:`~autoscaler.plugin.LaunchSpec`; a driver reads it with :func:`node_secret_of`. If the
launch fails, the node is deleted again, so no node is left without an agent.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from autoscaler.jenkins.client import JenkinsError
from autoscaler.plugin import DriverError, LaunchSpec

__all__ = ["NodeRegistry", "forget_inbound", "inbound_launch", "node_secret_of", "register_inbound"]

log = logging.getLogger(__name__)
_JNLP_PAGES = ("jenkins-agent.jnlp", "slave-agent.jnlp")  # current Jenkins, then before 2.217


class NodeRegistry(Protocol):
    """The calls of a controller's client that register and remove an inbound node."""

    def create_node(
        self, name: str, *, labels: str, executors: int, description: str, exclusive: bool = True
    ) -> None: ...
    def get_text(self, path: str) -> str: ...
    def delete_node(self, name: str) -> bool: ...


def node_secret_of(spec: LaunchSpec) -> str | None:
    """The secret of the node registered for this inbound agent; ``None`` when none was."""
    return spec.node_secret


def with_node_secret(spec: LaunchSpec, secret: str) -> LaunchSpec:
    return dataclasses.replace(spec, node_secret=secret)


def register_inbound(client: NodeRegistry, spec: LaunchSpec) -> str:
    """Create the Jenkins node of ``spec`` (inbound launcher, the label's atoms and executors) and
    return its secret. Failures are :class:`DriverError` (transient when Jenkins's was)."""
    label = spec.label
    try:
        client.create_node(
            spec.name,
            labels=" ".join(sorted(label.all_atoms)),
            executors=label.executors,
            description=f"autoscaler agent ({label.name})",
        )
        for page in _JNLP_PAGES:
            try:
                return jnlp_secret(client.get_text(f"computer/{spec.name}/{page}"))
            except JenkinsError as exc:
                if not exc.not_found:
                    raise
        raise DriverError(f"Jenkins has no agent secret for {spec.name}", transient=False)
    except JenkinsError as exc:
        raise DriverError(f"registering inbound node {spec.name}: {exc}", transient=exc.transient) from None


def forget_inbound(client: NodeRegistry, name: str) -> None:
    """Delete the node registered for an agent whose launch failed (logged when it cannot be)."""
    try:
        client.delete_node(name)
    except JenkinsError as exc:
        log.warning("could not remove node %s after a failed launch: %s", name, exc)


@contextmanager
def inbound_launch(spec: LaunchSpec, client: NodeRegistry | None) -> Iterator[LaunchSpec]:
    """The spec to launch. For an inbound label it carries the node secret: the node is registered
    now unless ``spec`` already has one, and deleted again if the launch (the ``with`` body) fails.
    A swarm label's spec is yielded as it is."""
    if spec.label.connect != "inbound" or node_secret_of(spec) is not None:
        yield spec
        return
    if client is None:
        raise DriverError(f"no Jenkins client for controller {spec.controller.name!r}", transient=False)
    secret = register_inbound(client, spec)
    try:
        yield with_node_secret(spec, secret)
    except BaseException:
        forget_inbound(client, spec.name)
        raise


def jnlp_secret(xml: str) -> str:
    """The node secret in an agent's JNLP file (its first ``<argument>``)."""
    arguments = re.findall(r"<argument>([^<]*)</argument>", xml)
    if not arguments or not re.fullmatch(r"[0-9a-fA-F]{16,}", arguments[0]):
        raise DriverError("the agent's JNLP file has no secret", transient=False)
    return str(arguments[0])
