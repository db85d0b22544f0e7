"""The engine's I/O, run in worker threads. Each function returns the message that reports its
result; :func:`guarded` posts it to the engine and, whatever the function raises, posts the
failure message it was given instead: every piece of I/O reports back, so no in-flight marker
is left set and no agent is left half-retired because a library raised something unexpected."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from autoscaler.config.models import ControllerConfig, LabelConfig
from autoscaler.engine.messages import ComputersSeen, DriverSeen, Launched, NodeDeleted, OfflineTaken, Retired
from autoscaler.engine.ports import ControllerAPI
from autoscaler.inbound import inbound_launch
from autoscaler.jenkins.client import JenkinsError
from autoscaler.plugin import Driver, DriverError, LaunchSpec

log = logging.getLogger(__name__)


def guarded(fn: Callable[..., Any], post: Callable[[Any], None], fail: Callable[[str], Any] | None, *args: Any) -> None:
    """Run ``fn(*args)`` and post its result; if it raises, post ``fail(reason)``."""
    try:
        result = fn(*args)
    except Exception as exc:
        log.exception("%s failed unexpectedly", fn.__name__)
        result = fail(f"{type(exc).__name__}: {exc}") if fail is not None else None
    if result is not None:
        post(result)


def launch(
    driver: Driver,
    client: ControllerAPI | None,
    name: str,
    label: LabelConfig,
    controller: ControllerConfig,
    daemon_id: str,
    credential: str | None,
) -> Launched:
    """Start one agent. An inbound label's node is registered in Jenkins first and its secret
    handed to the driver in the spec; if the launch fails, the node is removed again."""
    spec = LaunchSpec(name=name, label=label, controller=controller, daemon_id=daemon_id, credential=credential)
    try:
        with inbound_launch(spec, client) as ready:
            return Launched(name, driver.launch(ready))
    except DriverError as exc:
        return Launched(name, None, str(exc), transient=exc.transient)
    except Exception as exc:
        log.exception("driver crashed launching %s", name)
        return Launched(name, None, f"{type(exc).__name__}: {exc}", transient=False)


def retire(
    driver: Driver, client: ControllerAPI | None, name: str, grace: float, force: bool = False, unseen: bool = False
) -> Retired:
    """Take the node offline, make sure Jenkins shows it idle (or gone), stop the agent, then
    delete the node if it lingers.

    An agent is stopped only when Jenkins confirmed its node idle and offline, or gone. If Jenkins
    cannot be asked (down, 401, a reset), the agent is left running and the retirement reported
    as failed, to be tried again. ``force`` (the operator's ``delete --now``) skips the checks.
    ``unseen``: it never came online; it is frozen (where the driver can) before Jenkins is asked,
    so it cannot register and be handed a build between Jenkins' answer and its stop."""
    frozen = unseen and not force and client is not None and driver.freeze(name)
    if client is not None:
        try:
            exists = client.take_offline(name, "retired by autoscaler")
            info = client.node(name) if exists else None
        except JenkinsError as exc:
            if not force:
                _thaw(driver, name, frozen)
                return Retired(name, ok=False, error=f"Jenkins cannot confirm it is idle: {exc}")
            log.warning("could not take %s offline (stopping it anyway, as asked): %s", name, exc)
            info = None
        if not force and info is not None and info.get("idle") is False:
            # a build landed on it before it went offline: never stop a busy agent
            _thaw(driver, name, frozen)
            return Retired(name, ok=False, error="a build is running on it", busy=True)
    try:
        driver.delete(name, grace=grace)
    except Exception as exc:
        _thaw(driver, name, frozen)
        return Retired(name, ok=False, error=f"{type(exc).__name__}: {exc}")
    if client is not None:
        try:
            client.delete_node(name)
        except JenkinsError as exc:
            log.warning("could not delete node %s (reconcile will retry): %s", name, exc)
    return Retired(name, ok=True)


def _thaw(driver: Driver, name: str, frozen: bool) -> None:
    if frozen:
        try:
            driver.thaw(name)
        except Exception as exc:
            log.warning("could not resume %s: %s", name, exc)


def mark_hold(driver: Driver, name: str, reason: str | None, until: float | None) -> None:
    try:
        driver.mark_hold(name, reason, until)
    except Exception as exc:
        log.warning("could not record the hold of %s on the agent (kept in memory): %s", name, exc)


def take_offline(client: ControllerAPI, name: str) -> OfflineTaken:
    try:
        client.take_offline(name, "one build per agent: retiring after this build")
    except JenkinsError as exc:
        log.warning("could not take %s offline (will retry): %s", name, exc)
        return OfflineTaken(client.name, name, ok=False, error=str(exc))
    return OfflineTaken(client.name, name, ok=True)


def read_computers(client: ControllerAPI, started: float | None = None) -> ComputersSeen:
    try:
        return ComputersSeen(client.name, client.computers(), observed_at=started)
    except JenkinsError as exc:
        return ComputersSeen(client.name, None, str(exc))


def list_driver(driver: Driver) -> DriverSeen:
    try:
        return DriverSeen(driver.list())
    except Exception as exc:
        return DriverSeen(None, f"{type(exc).__name__}: {exc}")


def delete_node(client: ControllerAPI, name: str) -> NodeDeleted:
    try:
        client.delete_node(name)
        return NodeDeleted(client.name, name)
    except JenkinsError as exc:
        return NodeDeleted(client.name, name, str(exc))
