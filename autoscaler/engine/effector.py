"""Carrying out effects: every piece of I/O the engine starts goes through here, to a worker
thread (:mod:`~autoscaler.engine.workers`) whose result, or failure, comes back as a message.

It also keeps the rules about I/O that must not run twice at once: one ``/computer`` read per
controller (a request made meanwhile is served by one more read when it ends), one take-offline
per agent (``toggleOffline`` toggles), and no retirement while a take-offline is in flight."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from typing import Any

from autoscaler.config.models import Config, ControllerConfig, LabelConfig
from autoscaler.engine import workers
from autoscaler.engine.effects import Effect, MarkHold, Refresh, StartRetire, TakeOffline
from autoscaler.engine.messages import ComputersSeen, DriverSeen, Launched, Message, NodeDeleted, OfflineTaken, Retired
from autoscaler.engine.ports import ControllerAPI
from autoscaler.engine.runtime import RuntimeState
from autoscaler.engine.state import Agent, AgentState
from autoscaler.plugin import Driver

log = logging.getLogger(__name__)


class Effector:
    def __init__(
        self,
        state: RuntimeState,
        config: Callable[[], Config],
        driver: Driver,
        controllers: Mapping[str, ControllerAPI],
        submit: Callable[[Message], None],
        executor: Executor,
        fast_executor: Executor,
        *,
        clock: Callable[[], float],
        to_wall: Callable[[float], float],
        dry_run: bool,
    ) -> None:
        self.state = state
        self.config = config
        self.driver = driver
        self.controllers = controllers
        self.submit = submit
        self.executor = executor
        self.fast_executor = fast_executor
        """Short Jenkins calls that must not wait behind slow driver work."""
        self.clock = clock
        self.to_wall = to_wall
        self.dry_run = dry_run
        self.dirty: set[str] = set()
        self.pending: set[Future[Any]] = set()

    def launch(self, agent: Agent, lab: LabelConfig, controller: ControllerConfig, credential: str | None) -> None:
        fail = _launch_failure(agent.name)
        daemon_id = self.config().daemon.id
        client = self.controllers.get(controller.name)
        self.spawn(workers.launch, self.driver, client, agent.name, lab, controller, daemon_id, credential, fail=fail)

    def list_driver(self) -> None:
        if "driver" not in self.state.in_flight:
            self.state.in_flight.add("driver")
            self.spawn(workers.list_driver, self.driver, fail=_listing_failure)

    def delete_node(self, controller: str, name: str) -> None:
        client = self.controllers.get(controller)
        if client is not None and not self.dry_run:
            log.info("deleting lingering node %s on %s", name, controller)
            self.spawn(workers.delete_node, client, name, fail=_node_deleted_failure(controller, name))

    def computers_read(self, controller: str) -> None:
        """A ``/computer`` read ended: if another was asked for meanwhile, read again."""
        key = f"computers:{controller}"
        self.state.in_flight.discard(key)
        if key in self.dirty:
            self.dirty.discard(key)
            self.refresh(controller)

    def do(self, effects: list[Effect]) -> None:
        """Carry out what the transitions asked for."""
        for effect in effects:
            if isinstance(effect, Refresh):
                self.refresh(effect.controller)
            elif isinstance(effect, TakeOffline):
                self.take_offline(effect.name)
            elif isinstance(effect, MarkHold):
                until = None if effect.until is None else self.to_wall(effect.until)
                self.spawn(workers.mark_hold, self.driver, effect.name, effect.reason, until)
            elif isinstance(effect, StartRetire):
                self.retire(effect)

    def take_offline(self, name: str) -> None:
        agent = self.state.agents.get(name)
        key = f"offline:{name}"
        client = self.controllers.get(agent.controller) if agent is not None else None
        if client is None or key in self.state.in_flight or self.dry_run:
            return
        self.state.in_flight.add(key)
        fail = _offline_failure(client.name, name)
        self.spawn(workers.take_offline, client, name, fail=fail, executor=self.fast_executor)

    def retire(self, effect: StartRetire) -> None:
        agent = self.state.agents[effect.name]
        agent.set_state(AgentState.RETIRING, self.clock(), effect.reason)
        self.state.record("retiring", agent, effect.reason, self.to_wall(agent.state_since))
        log.info("retiring %s (%s): %s", agent.name, agent.label, effect.reason)
        if self.dry_run:
            log.info("dry run: would retire %s", agent.name)
            self.submit(Retired(agent.name, ok=True))
            return
        self.spawn_retire(agent, force=effect.force)

    def spawn_retire(self, agent: Agent, *, force: bool = False) -> None:
        agent.retry_at = 0.0
        if f"offline:{agent.name}" in self.state.in_flight:
            agent.retry_at = self.clock()  # never two take-offline calls at once: they would toggle
            return
        client = self.controllers.get(agent.controller)
        grace = self.config().daemon.retire_grace
        fail = _retire_failure(agent.name)
        unseen = not agent.online_once
        self.spawn(workers.retire, self.driver, client, agent.name, grace, force, unseen, fail=fail)

    def refresh(self, controller: str) -> None:
        client = self.controllers.get(controller)
        if client is None:
            return
        key = f"computers:{controller}"
        if key in self.state.in_flight:
            self.dirty.add(key)
            return
        self.state.in_flight.add(key)
        fail = _computers_failure(controller)
        self.spawn(workers.read_computers, client, self.clock(), fail=fail, executor=self.fast_executor)

    def spawn(
        self,
        fn: Callable[..., Any],
        *args: Any,
        fail: Callable[[str], Message] | None = None,
        executor: Executor | None = None,
    ) -> None:
        """Run ``fn`` in a worker; its result comes back as a message, and so does ``fail(why)``
        if it raises (every in-flight marker is cleared by one or the other). The fast executor
        runs short Jenkins calls that must not wait behind slow driver work."""
        try:
            future = (executor or self.executor).submit(workers.guarded, fn, self.submit, fail, *args)
        except RuntimeError:  # executor shut down while stopping
            log.debug("not running %s: shutting down", fn.__name__)
            return
        self.pending.add(future)
        future.add_done_callback(self.pending.discard)


def _listing_failure(why: str) -> Message:
    return DriverSeen(None, why)


def _launch_failure(name: str) -> Callable[[str], Message]:
    return lambda why: Launched(name, None, why, transient=True)


def _offline_failure(controller: str, name: str) -> Callable[[str], Message]:
    return lambda why: OfflineTaken(controller, name, ok=False, error=why)


def _retire_failure(name: str) -> Callable[[str], Message]:
    return lambda why: Retired(name, ok=False, error=why)


def _computers_failure(controller: str) -> Callable[[str], Message]:
    return lambda why: ComputersSeen(controller, None, why)


def _node_deleted_failure(controller: str, name: str) -> Callable[[str], Message]:
    return lambda why: NodeDeleted(controller, name, why)
