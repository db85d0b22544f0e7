"""The engine: the one owner of runtime state.

Everything reaches it as a message in its inbox (listener events, results of its own I/O,
timers, API commands). A handler updates the state through the transitions of
:mod:`~autoscaler.engine.lifecycle` and :mod:`~autoscaler.engine.commands`, which return
effects; the engine consults the pure planner and carries the effects out, handing I/O to
worker threads (:mod:`~autoscaler.engine.workers`) whose results come back as messages.
Nothing else mutates state.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor

from autoscaler.config.models import Config, LabelConfig
from autoscaler.engine import build_tags, failures, launches, lifecycle, reload, results, scrape, views, why
from autoscaler.engine.cleanup import Strays
from autoscaler.engine.commands import run_command
from autoscaler.engine.demand import DemandBook
from autoscaler.engine.effector import Effector
from autoscaler.engine.effects import StartRetire
from autoscaler.engine.fence import Fence
from autoscaler.engine.messages import (
    Command,
    ComputersSeen,
    DemandUpdate,
    DriverSeen,
    Launched,
    Message,
    NodeDeleted,
    OfflineTaken,
    Reconcile,
    Reload,
    Retired,
    Stop,
    Tick,
)
from autoscaler.engine.planner import burst_of, min_ready_changes, plan
from autoscaler.engine.ports import ControllerAPI
from autoscaler.engine.runtime import Now, RuntimeState
from autoscaler.engine.state import Agent, AgentLabels, AgentState, TokenBucket
from autoscaler.events import (
    AgentChanged,
    BuildFinished,
    BuildStarted,
    DemandRefresh,
    LifecycleHint,
    NodeOffline,
    NodeOnline,
)
from autoscaler.plugin import Driver

log = logging.getLogger(__name__)


class Engine:
    def __init__(
        self,
        config: Config,
        driver: Driver,
        controllers: Mapping[str, ControllerAPI],
        executor: Executor,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] | None = None,
        request_poll: Callable[[str | None], None] = lambda controller: None,
        credentials: Mapping[str, str | None] | None = None,
        dry_run: bool = False,
        fast_executor: Executor | None = None,
        fence: Fence | None = None,
    ) -> None:
        self.config = config
        self.driver = driver
        self.controllers = dict(controllers)
        self.clock = clock
        """The engine's timers run on this clock (monotonic: wall-clock steps change nothing)."""
        self.wall = wall or (time.time if clock is time.monotonic else clock)
        """Wall time, for display and for what is stored on agents (holds, creation times)."""
        self.request_poll = request_poll
        self.credentials: Mapping[str, str | None] = credentials if credentials is not None else {}
        self.dry_run = dry_run
        self.inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.state = RuntimeState(DemandBook(config), TokenBucket(burst_of(config), clock()))
        self._strays = Strays()
        self.fence = fence or Fence()  # may it act? (a replica: while it leads)
        self._stopped = False
        self.io = Effector(
            self.state,
            lambda: self.config,
            driver,
            self.controllers,
            self.submit,
            executor,
            fast_executor or executor,
            clock=clock,
            to_wall=self.to_wall,
            dry_run=dry_run,
        )

    # -- the state, read-only for everyone but the engine thread ------------------------------

    @property
    def ready(self) -> bool:
        return self.state.ready

    @property
    def stopped(self) -> bool:
        """True once a :class:`Stop` message was processed."""
        return self._stopped

    def now(self) -> Now:
        return Now(self.clock(), self.wall())

    def to_wall(self, t: float) -> float:
        return self.now().to_wall(t)

    # -- the loop ---------------------------------------------------------------------------

    def submit(self, message: Message) -> None:
        """Thread-safe: queue a message (a plugin event or an internal message)."""
        self.inbox.put(message)

    def run(self) -> None:
        """Process messages until :class:`Stop`."""
        while not self._stopped:
            self.step(self.inbox.get())

    def drain(self) -> None:
        """Process every queued message (tests and ``--once``)."""
        while True:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return
            self.step(message)

    def step(self, message: Message) -> None:
        try:
            if self.fence.admit(self, message):  # a standby only keeps its caches warm
                self._dispatch(message)
        except Exception:  # the loop must survive any one bad message
            log.exception("engine: error handling %s", type(message).__name__)

    def _dispatch(self, message: Message) -> None:
        """One handler per kind of message (a ``match``: every message is typed, none is ``Any``)."""
        match message:
            case BuildStarted():
                self._on_build_started(message)
            case BuildFinished():
                self._on_build_finished(message)
            case NodeOffline():
                self._on_node_event(message)
            case NodeOnline():
                self._on_node_event(message)
            case AgentChanged():
                self._on_agent_changed(message)
            case LifecycleHint():
                self._on_hint(message)
            case DemandRefresh():
                self._on_demand_refresh(message)
            case DemandUpdate():
                self._on_demand(message)
            case ComputersSeen():
                self._on_computers(message)
            case DriverSeen():
                self._on_driver(message)
            case Launched():
                self._on_launched(message)
            case Retired():
                self._on_retired(message)
            case OfflineTaken():
                self._on_offline_taken(message)
            case NodeDeleted():
                self._on_node_deleted(message)
            case Tick():
                self._on_tick(message)
            case Reconcile():
                self._on_reconcile(message)
            case Reload():
                self._on_reload(message)
            case Command():
                self._on_command(message)
            case Stop():
                self._on_stop(message)
            case _:
                log.warning("engine: ignoring unknown message %r", type(message).__name__)

    def idle(self) -> bool:
        """No I/O under way and nothing queued (for ``--once`` and tests)."""
        return not self.io.pending and self.inbox.empty()

    # -- plugin events ----------------------------------------------------------------------

    def _owned(self, node: str, controller: str | None) -> Agent | None:
        agent = self.state.agents.get(node)
        if agent is None or (controller is not None and agent.controller != controller):
            return None
        return agent

    def _on_build_started(self, event: BuildStarted) -> None:
        self.state.stats.count_event(event.source, "build_started")
        agent = self._owned(event.node, event.controller)
        if agent is not None:
            now = self.now()
            self.io.do(lifecycle.build_started(self.state, self.config, agent, event.build_key, event.url, now))
            build_tags.request(self.state, self.io, agent)
            self._plan(now)

    def _on_build_finished(self, event: BuildFinished) -> None:
        self.state.stats.count_event(event.source, "build_finished")
        agent = self._owned(event.node, event.controller)
        if agent is not None:
            now = self.now()
            self.io.do(lifecycle.build_finished(self.state, agent, event.build_key, event.status, now))
            self._plan(now)

    def _on_agent_changed(self, event: AgentChanged) -> None:
        agent = self.state.agents.get(event.handle.name)
        if agent is not None:  # adoption and strays are decided by the full listing at reconcile
            now = self.now()
            lifecycle.apply_handle(self.state, agent, event.handle, now)
            self._plan(now)

    def _on_node_event(self, event: NodeOffline | NodeOnline) -> None:
        self.state.stats.count_event(event.source, "node_offline" if isinstance(event, NodeOffline) else "node_online")
        agent = self._owned(event.node, event.controller)
        if agent is not None:
            self.io.refresh(agent.controller)

    def _on_hint(self, event: LifecycleHint) -> None:
        self.state.stats.count_event(event.source, "hint")
        for name in [event.controller] if event.controller else list(self.controllers):
            self.io.refresh(name)

    def _on_demand_refresh(self, event: DemandRefresh) -> None:
        self.state.stats.count_event(event.source, "demand_refresh")
        self.request_poll(event.controller)

    # -- results of our own I/O -------------------------------------------------------------

    def _on_demand(self, update: DemandUpdate) -> None:
        now = self.now()
        owners = AgentLabels(self.state.agents)
        self.state.demand.update(update, owners, now.wall, now.mono)
        if update.error:
            self.state.record("demand", None, f"{update.listener}: demand unknown: {update.error}", now.wall)
        self._plan(now)

    def _on_computers(self, seen: ComputersSeen) -> None:
        self.io.computers_read(seen.controller)
        if seen.nodes is None:
            self.state.stats.errors["jenkins"] += 1
            log.warning("cannot read /computer of %s: %s", seen.controller, seen.error)
            return
        now = self.now()
        self.state.seen[seen.controller] = now.mono
        for agent in list(self.state.agents.values()):
            if agent.controller == seen.controller:
                node = seen.nodes.get(agent.name)
                self.io.do(lifecycle.apply_node(self.state, self.config, agent, node, now, seen.observed_at))
                build_tags.request(self.state, self.io, agent)
        for name in self._strays.lingering_nodes(seen.controller, seen.nodes, self.state.agents, self.config):
            self.io.delete_node(seen.controller, name)
        self.state.ready = True
        self._plan(now)

    def _on_driver(self, seen: DriverSeen) -> None:
        self.state.in_flight.discard("driver")
        if seen.handles is None:
            self.state.stats.errors["driver"] += 1
            log.warning("cannot list agents from the driver: %s", seen.error)
            return
        now = self.now()
        self.io.do(results.driver_listed(self.state, self.config, self._strays, seen.handles, self.controllers, now))
        self._plan(now)

    def _on_launched(self, result: Launched) -> None:
        now = self.now()
        if results.launched(self.state, self.config, result, now):
            self._plan(now)

    def _on_offline_taken(self, result: OfflineTaken) -> None:
        results.offline_taken(self.state, result, self.now())

    def _on_retired(self, result: Retired) -> None:
        now = self.now()
        effects = results.retired(self.state, self.config, result, now)
        if effects is None:
            self._plan(now)
        else:
            self.io.do(effects)

    def _on_node_deleted(self, result: NodeDeleted) -> None:
        if result.error:
            log.warning("deleting lingering node %s failed: %s", result.name, result.error)
        else:
            scrape.leaked_node(self.state, self.config, result.name)

    # -- timers, reload, commands -----------------------------------------------------------

    def _on_tick(self, _: Tick) -> None:
        now = self.now()
        for agent in list(self.state.agents.values()):
            if agent.state == AgentState.HELD and agent.hold_until is not None and now.mono >= agent.hold_until:
                self.io.do(lifecycle.release(self.state, agent, now, "hold expired"))
            elif agent.state == AgentState.RETIRING and agent.retry_at and now.mono >= agent.retry_at:
                self.io.spawn_retire(agent)
            elif agent.state == AgentState.BUSY:
                self.io.do(lifecycle.offline_needed(self.config, agent))  # a failed take-offline, again
        for name in lifecycle.watched_controllers(self.state, self.config):
            self.io.refresh(name)
        scrape.harvest(self.state, now)  # agent-seconds and usage stay current between scrapes
        self._plan(now)

    def _on_reconcile(self, _: Reconcile) -> None:
        self.io.list_driver()
        for name in self.controllers:
            self.io.refresh(name)

    def _on_reload(self, message: Reload) -> None:
        new: Config = message.config
        if reload.refused(new):
            return
        reload.apply(self.state, self.config, new, self.wall())
        self.config = new
        self.controllers.update(message.controllers)
        if message.credentials:
            self.credentials = {**self.credentials, **message.credentials}
        for name in message.controllers:
            self.io.refresh(name)
        self._plan(self.now())

    def _on_stop(self, _: Stop) -> None:
        self._stopped = True

    def _on_command(self, cmd: Command) -> None:
        now = self.now()
        try:
            if cmd.op == "why":  # may read Jenkins' queue: answered from a worker then
                why.answer(self.state, self.config, now, self.controllers, self.io.fast_executor, cmd)
                return
            if cmd.op in views.QUERIES:
                cmd.reply.set_result(views.QUERIES[cmd.op](self.state, self.config, now, **cmd.args))
                return
            agent, effects = run_command(self.state, cmd.op, cmd.args, now)
            self.io.do(effects)
            cmd.reply.set_result(views.agent_row(agent, now))
            self._plan(now)
        except Exception as exc:
            if not cmd.reply.done():
                cmd.reply.set_exception(exc)

    # -- planning and acting ----------------------------------------------------------------

    def _plan(self, now: Now) -> None:
        if not self.fence.may_act():  # fenced: not the leader, or adopting after taking over
            return
        state = self.state
        result = plan(
            agents=list(state.agents.values()),
            demand=state.demand.per_label(),
            config=self.config,
            backoff=state.backoff,
            bucket=state.bucket,
            now=now.mono,
            seen=state.seen,
            catch_all=launches.catch_all_match(state, self.config),
            wall=now.wall,
        )
        state.bucket = result.bucket
        state.blocked = result.blocked
        for line in min_ready_changes(state.min_ready, result.min_ready):
            state.record("schedule", None, line, now.wall)
        state.min_ready = result.min_ready
        for retire in result.retires:
            if retire.failed:
                failed = state.agents[retire.name]
                why = failures.explain(retire.reason, failed.comment, str(failed.state))
                results.fail_label(state, self.config, failed.label, now.mono, why)
                state.record("failure", failed, f"{failures.classify(why)}: {why}", now.wall)
            self.io.do([StartRetire(retire.name, retire.reason, retire.failed)])
        for label_name, count in result.launches.items():
            lab = self.config.label(label_name)
            for _ in range(count):
                self._launch(lab, now)

    def _launch(self, lab: LabelConfig, now: Now) -> None:
        agent, lab, controller = launches.new_agent(self.state, self.config, lab, now)
        if self.dry_run:
            agent.comment = "dry run: not launched"
            log.info("dry run: would launch %s for %s", agent.name, lab.name)
            return
        self.io.launch(agent, lab, controller, self.credentials.get(controller.name))


__all__ = ["ControllerAPI", "Engine"]
