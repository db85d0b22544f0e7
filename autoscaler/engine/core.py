"""The engine: the one owner of runtime state.

Everything reaches it as a message in its inbox (listener events, results of its own I/O,
timers, API commands); it updates state, consults the pure planner, and hands I/O to worker
threads whose results come back as messages. Nothing else mutates state.
"""

from __future__ import annotations

import logging
import queue
import secrets
import string
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from typing import Any, Protocol

from autoscaler.config.models import Config, LabelConfig
from autoscaler.engine import actions
from autoscaler.engine.demand import DemandBook, Match, match_free_agents
from autoscaler.engine.messages import (
    Command,
    ComputersSeen,
    DemandUpdate,
    DriverSeen,
    Launched,
    NodeDeleted,
    OfflineTaken,
    Reconcile,
    Reload,
    Retired,
    Stop,
    Tick,
)
from autoscaler.engine.planner import burst_of, plan
from autoscaler.engine.state import NOT_YET_ONLINE, SUPPLY, Agent, AgentState, Backoff, TokenBucket
from autoscaler.engine.stats import Stats
from autoscaler.events import (
    AgentChanged,
    BuildFinished,
    BuildStarted,
    DemandRefresh,
    LifecycleHint,
    NodeOffline,
    NodeOnline,
)
from autoscaler.jenkins.computers import NodeView
from autoscaler.plugin import AgentHandle, Driver, DriverStatus

log = logging.getLogger(__name__)
_RANDOM = string.ascii_lowercase + string.digits


class ControllerAPI(Protocol):
    """The part of :class:`~autoscaler.jenkins.client.JenkinsClient` the engine uses."""

    name: str

    def computers(self) -> dict[str, NodeView]: ...
    def node(self, name: str) -> dict[str, Any] | None: ...
    def take_offline(self, name: str, message: str) -> bool: ...
    def delete_node(self, name: str) -> bool: ...


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
    ) -> None:
        self.config = config
        self.driver = driver
        self.controllers = dict(controllers)
        self.executor = executor
        self.fast_executor = fast_executor or executor
        self.clock = clock
        """The engine's timers run on this clock (monotonic: wall-clock steps change nothing)."""
        self.wall = wall or (time.time if clock is time.monotonic else clock)
        """Wall time, for display and for what is stored on agents (holds, creation times)."""
        self.request_poll = request_poll
        self.credentials: Mapping[str, str | None] = credentials if credentials is not None else {}
        self.dry_run = dry_run
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.agents: dict[str, Agent] = {}
        self.backoff: dict[str, Backoff] = {}
        self.bucket = TokenBucket(burst_of(config), clock())
        self.demand = DemandBook(config)
        self.stats = Stats()
        self.history: deque[dict[str, Any]] = deque(maxlen=500)
        self.blocked: dict[str, str] = {}
        """Per label, what holds back launches it needs (for ``autoscaler pools``)."""
        self.ready = False
        """True once the first adoption pass and the first look at Jenkins are done."""
        self.seen: dict[str, float] = {}
        """Per controller, when ``/computer`` was last read successfully (engine clock)."""
        self._in_flight: set[str] = set()
        self._dirty: set[str] = set()
        self._lingering: dict[str, set[str]] = {}
        self._stopped = False
        self._adopted = False
        """The first driver listing adopts everything; later, unknown agents are leaks."""
        self._unknown: set[str] = set()
        """Agents with this daemon's identity but no record, seen in the last listing."""
        self._pending: set[Future[Any]] = set()

    # -- the loop ---------------------------------------------------------------------------

    def submit(self, message: Any) -> None:
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

    def step(self, message: Any) -> None:
        handler = _HANDLERS.get(type(message))
        if handler is None:
            log.warning("engine: ignoring unknown message %r", type(message).__name__)
            return
        try:
            handler(self, message)
        except Exception:  # the loop must survive any one bad message
            log.exception("engine: error handling %s", type(message).__name__)

    # -- plugin events ----------------------------------------------------------------------

    def _owned(self, node: str, controller: str | None) -> Agent | None:
        agent = self.agents.get(node)
        if agent is None or (controller is not None and agent.controller != controller):
            return None
        return agent

    def _on_build_started(self, event: BuildStarted) -> None:
        self.stats.count_event(event.source, "build_started")
        agent = self._owned(event.node, event.controller)
        if agent is None:
            return
        key = event.build_key
        if key in agent.finished_builds:
            return  # a late or repeated event for a build that already ended
        now = self.clock()
        agent.build = event.url or key
        if agent.state not in (AgentState.RETIRING, AgentState.HELD):
            self._mark_busy(agent, now, f"build {key} started")
        self._request_offline(agent)
        self._plan(now)

    def _on_build_finished(self, event: BuildFinished) -> None:
        self.stats.count_event(event.source, "build_finished")
        agent = self._owned(event.node, event.controller)
        if agent is None:
            return
        key = event.build_key
        if key in agent.finished_builds:
            return
        agent.finished_builds.add(key)
        now = self.clock()
        agent.used = True
        if agent.state in (AgentState.BUSY, AgentState.READY, *NOT_YET_ONLINE):
            self._mark_idle(agent, now, f"build {key} finished ({event.status or '?'})")
        self._refresh_computers(agent.controller)
        self._plan(now)

    def _mark_busy(self, agent: Agent, now: float, why: str) -> None:
        """A build runs on it: count the start against demand once, and watch it."""
        agent.online_once = True
        if agent.state != AgentState.BUSY:
            if agent.state in NOT_YET_ONLINE:
                self.backoff.pop(agent.label, None)  # it came online: the label works
            agent.set_state(AgentState.BUSY, now, why)
            self.demand.record_start(agent.label, self.wall(), agent.atoms or None)
            self._record("busy", agent, why)

    def _mark_idle(self, agent: Agent, now: float, why: str) -> None:
        agent.used = True
        agent.set_state(AgentState.READY, now, why)
        self._record("idle", agent, why)

    def _request_offline(self, agent: Agent) -> None:
        """A one-shot agent goes offline in Jenkins when its build starts, so Jenkins hands it no
        second build. Retried (at the next tick or ``/computer`` reading) until Jenkins confirms."""
        client = self.controllers.get(agent.controller)
        key = f"offline:{agent.name}"
        if client is None or self._label(agent).reuse or agent.offline_requested or key in self._in_flight:
            return
        if agent.state in (AgentState.RETIRING, AgentState.HELD) or self.dry_run:
            return
        self._in_flight.add(key)
        name = agent.name
        self._spawn_fast(
            actions.take_offline, client, name, fail=lambda why: OfflineTaken(client.name, name, ok=False, error=why)
        )

    def _on_offline_taken(self, result: OfflineTaken) -> None:
        self._in_flight.discard(f"offline:{result.name}")
        agent = self.agents.get(result.name)
        if agent is None:
            return
        if result.ok:
            agent.offline_requested = True
        else:
            self.stats.errors["jenkins"] += 1
            self._record("offline-failed", agent, f"take offline failed (will retry): {result.error}")

    def _on_agent_changed(self, event: AgentChanged) -> None:
        agent = self.agents.get(event.handle.name)
        if agent is None:
            return  # adoption and leaks are decided by the full listing at reconcile
        now = self.clock()
        self._apply_handle(agent, event.handle, now)
        self._plan(now)

    def _on_node_event(self, event: NodeOffline | NodeOnline) -> None:
        self.stats.count_event(event.source, "node_offline" if isinstance(event, NodeOffline) else "node_online")
        agent = self._owned(event.node, event.controller)
        if agent is not None:
            self._refresh_computers(agent.controller)

    def _on_hint(self, event: LifecycleHint) -> None:
        self.stats.count_event(event.source, "hint")
        for name in [event.controller] if event.controller else list(self.controllers):
            self._refresh_computers(name)

    def _on_demand_refresh(self, event: DemandRefresh) -> None:
        self.stats.count_event(event.source, "demand_refresh")
        self.request_poll(event.controller)

    # -- results of our own I/O -------------------------------------------------------------

    def _on_demand(self, update: DemandUpdate) -> None:
        now = self.clock()
        owners = {name: a.label for name, a in self.agents.items()}
        self.demand.update(update, owners, self.wall())  # the demand book keeps wall times
        if update.error:
            self._record("demand", None, f"{update.listener}: demand unknown: {update.error}")
        self._plan(now)

    def _on_computers(self, seen: ComputersSeen) -> None:
        key = f"computers:{seen.controller}"
        self._in_flight.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self._refresh_computers(seen.controller)
        if seen.nodes is None:
            self.stats.errors["jenkins"] += 1
            log.warning("cannot read /computer of %s: %s", seen.controller, seen.error)
            return
        now = self.clock()
        self.seen[seen.controller] = now
        for agent in list(self.agents.values()):
            if agent.controller == seen.controller:
                self._apply_node(agent, seen.nodes.get(agent.name), now)
        self._clean_lingering(seen.controller, seen.nodes)
        self.ready = True
        self._plan(now)

    def _apply_node(self, agent: Agent, node: NodeView | None, now: float) -> None:
        """Jenkins' view of the agent's node is the truth about whether it can take a build."""
        if agent.state in (AgentState.RETIRING, AgentState.HELD, AgentState.FAILED):
            return
        if node is None:
            if agent.online_once and agent.state in (AgentState.READY, AgentState.BUSY):
                self._disconnected(agent, now, "its node is no longer in Jenkins")
            return
        if node.busy:
            self._mark_busy(agent, now, f"building {node.builds[0]}")
            agent.build = node.builds[0]
            agent.offline_requested = agent.offline_requested and node.temporarily_offline
            if node.temporarily_offline and not self._label(agent).reuse:
                agent.offline_requested = True  # offline, as it should be while its build runs
            self._request_offline(agent)
            return
        if agent.state == AgentState.BUSY:
            self._mark_idle(agent, now, "build finished")
            return
        if node.offline and not node.temporarily_offline:
            if agent.state == AgentState.READY:
                self._disconnected(agent, now, "disconnected from Jenkins")
            return  # not connected: still booting, or lost its connection
        if agent.state in NOT_YET_ONLINE:
            agent.online_once = True
            agent.set_state(AgentState.READY, now, "online")
            self.backoff.pop(agent.label, None)
            self.stats.boot_seconds.append(now - agent.created)
            self._record("ready", agent, f"online after {now - agent.created:.1f}s")
        elif agent.state == AgentState.DISCONNECTED:
            agent.set_state(AgentState.READY, now, "connected again")
            self._record("ready", agent, "connected again")
        if node.temporarily_offline and not agent.offline_requested and f"offline:{agent.name}" not in self._in_flight:
            agent.retire_requested = True
            agent.comment = "taken offline in Jenkins"

    def _disconnected(self, agent: Agent, now: float, why: str) -> None:
        """It cannot take a build now: not supply; retired if it stays so for ``boot-timeout``."""
        if agent.state == AgentState.BUSY:
            agent.used = True
        if agent.state != AgentState.DISCONNECTED:
            agent.set_state(AgentState.DISCONNECTED, now, why)
            self._record("disconnected", agent, why)

    def _on_driver(self, seen: DriverSeen) -> None:
        self._in_flight.discard("driver")
        if seen.handles is None:
            self.stats.errors["driver"] += 1
            log.warning("cannot list agents from the driver: %s", seen.error)
            return
        now = self.clock()
        by_name = {h.name: h for h in seen.handles}
        unknown: set[str] = set()
        for handle in seen.handles:
            agent = self.agents.get(handle.name)
            if agent is None and (not self._adopted or handle.name in self._unknown):
                if self._adopted:  # seen twice with no record: a launch that failed on our side only
                    log.warning("%s runs with this daemon's identity but no record: adopting it", handle.name)
                    self.stats.leaks += 1
                self._adopt(handle, now)
            elif agent is None:
                unknown.add(handle.name)
            else:
                self._apply_handle(agent, handle, now)
        self._adopted = True
        self._unknown = unknown
        for agent in list(self.agents.values()):
            if agent.name not in by_name and agent.state not in (AgentState.REQUESTED, AgentState.RETIRING):
                self._lost(agent, "its process or pod is gone", now)
        self._plan(now)

    def _adopt(self, handle: AgentHandle, now: float) -> None:
        if self.config.labels and handle.label not in {lab.name for lab in self.config.labels}:
            log.warning("adopting %s of unconfigured label %r: it will be retired", handle.name, handle.label)
        if handle.controller not in self.controllers:
            log.warning("adopting %s of unknown controller %r", handle.name, handle.controller)
        state = AgentState.PENDING if handle.status == DriverStatus.PENDING else AgentState.BOOTING
        created = self.from_wall(handle.created)
        agent = Agent(handle.name, handle.label, handle.controller, state, min(created, now), now, comment="adopted")
        self.agents[agent.name] = agent
        self.stats.adopted += 1
        self._record("adopted", agent, f"adopted ({handle.status})")
        self._apply_handle(agent, handle, now)
        if handle.hold_reason is not None and agent.state != AgentState.FAILED:
            agent.held_from, agent.state = agent.state, AgentState.HELD
            agent.hold_reason = handle.hold_reason
            agent.hold_until = None if handle.hold_until is None else self.from_wall(handle.hold_until)
            agent.comment = f"held: {handle.hold_reason}" if handle.hold_reason else "held"
        self._refresh_computers(agent.controller)

    def _apply_handle(self, agent: Agent, handle: AgentHandle, now: float) -> None:
        if agent.state in (AgentState.RETIRING, AgentState.HELD):
            return
        if handle.status in (DriverStatus.EXITED, DriverStatus.FAILED):
            self._lost(agent, handle.detail or str(handle.status), now)
        elif handle.status == DriverStatus.RUNNING and agent.state in (AgentState.REQUESTED, AgentState.PENDING):
            agent.set_state(AgentState.BOOTING, now, "running")
        elif handle.status == DriverStatus.PENDING and agent.state == AgentState.REQUESTED:
            agent.set_state(AgentState.PENDING, now, handle.detail or "pending")

    def _lost(self, agent: Agent, why: str, now: float) -> None:
        """The agent stopped by itself: a failure if it never came online."""
        if agent.state == AgentState.FAILED:
            return
        if agent.online_once:
            agent.retire_requested = True
            if agent.state == AgentState.BUSY:
                agent.set_state(AgentState.READY, now)
            agent.comment = f"stopped: {why}"
            self._record("stopped", agent, why)
        else:
            agent.set_state(AgentState.FAILED, now, f"failed before coming online: {why}")
            self._record("failed", agent, why)

    def _on_launched(self, result: Launched) -> None:
        agent = self.agents.get(result.name)
        now = self.clock()
        if agent is None:
            return
        if result.handle is None:
            del self.agents[result.name]
            self.stats.launch_failures[agent.label] += 1
            log.error("launch of %s (%s) failed: %s", agent.name, agent.label, result.error)
            self._record("launch-failed", agent, result.error or "")
            if result.transient:
                self._pause_label(agent.label, now)
            else:
                self._fail_label(agent.label, now)
            self._plan(now)
            return
        self._apply_handle(agent, result.handle, now)

    def _on_retired(self, result: Retired) -> None:
        agent = self.agents.get(result.name)
        if agent is None:
            return
        now = self.clock()
        if result.busy:
            agent.retire_requested = True  # retired when this build ends
            self._mark_busy(agent, now, "a build started on it while it was retiring")
            self._refresh_computers(agent.controller)
            return
        if not result.ok:
            limits = self.config.limits
            agent.retire_attempts += 1
            wait = Backoff(agent.retire_attempts - 1).failed(now, limits.backoff_initial, limits.backoff_max)
            agent.retry_at = wait.until
            agent.comment = f"retire failed (will retry): {result.error}"
            self._record("retire-failed", agent, agent.comment)
            log.warning("retiring %s failed, will retry: %s", agent.name, result.error)
            return
        del self.agents[result.name]
        self.stats.retired[agent.label] += 1
        self._record("gone", agent, agent.comment)
        self._plan(now)

    def _on_node_deleted(self, result: NodeDeleted) -> None:
        if result.error:
            log.warning("deleting lingering node %s failed: %s", result.name, result.error)

    # -- timers -----------------------------------------------------------------------------

    def _on_tick(self, _: Tick) -> None:
        now = self.clock()
        for agent in self.agents.values():
            if agent.state == AgentState.HELD and agent.hold_until is not None and now >= agent.hold_until:
                self._release(agent, now, "hold expired")
            elif agent.state == AgentState.RETIRING and agent.retry_at and now >= agent.retry_at:
                self._spawn_retire(agent)
            elif agent.state == AgentState.BUSY:
                self._request_offline(agent)  # a take-offline that failed is tried again
        # Pipelines name no agent in their events: a one-shot agent's first build is seen in /computer
        # only. Watch from the moment it runs (booting), so it goes offline before that build ends.
        watched = (AgentState.BOOTING, AgentState.READY, AgentState.BUSY, AgentState.DISCONNECTED)
        for name in self.controllers:
            if any(
                a.controller == name and a.state in watched and not self._label(a).reuse for a in self.agents.values()
            ):
                self._refresh_computers(name)
        self._plan(now)

    def _on_reconcile(self, _: Reconcile) -> None:
        if "driver" not in self._in_flight:
            self._in_flight.add("driver")
            self._spawn(actions.list_driver, self.driver, fail=lambda why: DriverSeen(None, why))
        for name in self.controllers:
            self._refresh_computers(name)

    def _on_reload(self, message: Reload) -> None:
        new: Config = message.config
        old = self.config
        missing = {lab.controller for lab in new.labels if lab.controller} - {c.name for c in new.controllers}
        if missing:  # the loader refuses this; never let a bad config reach the planner
            log.error("reload refused: labels name unknown controllers %s", ", ".join(sorted(missing)))
            return
        self.config = new
        self.controllers.update(message.controllers)
        if message.credentials:
            self.credentials = {**self.credentials, **message.credentials}
        self.demand.reconfigure(new)
        self.backoff = {k: v for k, v in self.backoff.items() if k in {lab.name for lab in new.labels}}
        changed = [lab.name for lab in new.labels if lab not in old.labels]
        self._record("reload", None, f"config reloaded; labels changed: {', '.join(changed) or 'none'}")
        for name in message.controllers:
            self._refresh_computers(name)
        self._plan(self.clock())

    def _on_stop(self, _: Stop) -> None:
        self._stopped = True

    # -- commands ---------------------------------------------------------------------------

    def _on_command(self, cmd: Command) -> None:
        from autoscaler.engine import views

        try:
            if cmd.op in views.QUERIES:
                cmd.reply.set_result(views.QUERIES[cmd.op](self, **cmd.args))
                return
            agent = self.agents.get(str(cmd.args.get("name")))
            if agent is None:
                raise LookupError(f"no agent named {cmd.args.get('name')!r}")
            now = self.clock()
            if cmd.op == "hold":
                if agent.state == AgentState.RETIRING:
                    raise ValueError(f"{agent.name} is already retiring")
                if agent.state != AgentState.HELD:
                    agent.held_from = agent.state
                    agent.set_state(AgentState.HELD, now)
                duration = cmd.args.get("seconds")
                agent.hold_until = now + float(duration) if duration else None
                agent.hold_reason = str(cmd.args.get("reason") or "")
                agent.comment = f"held: {agent.hold_reason}" if agent.hold_reason else "held"
                self._record("held", agent, agent.comment)
                until = None if agent.hold_until is None else self.to_wall(agent.hold_until)
                self._spawn(actions.mark_hold, self.driver, agent.name, agent.hold_reason, until)
            elif cmd.op == "release":
                if agent.state != AgentState.HELD:
                    raise ValueError(f"{agent.name} is not held")
                self._release(agent, now, "released")
            elif cmd.op == "delete":
                if agent.state == AgentState.HELD:
                    self._release(agent, now, "released for deletion")
                if cmd.args.get("now") and agent.state != AgentState.RETIRING:
                    self._retire(agent, "deleted by request (now)", failed=False, force=True)
                else:
                    agent.retire_requested = True
                    agent.comment = "deletion requested; retires when its build ends"
            else:
                raise ValueError(f"unknown command {cmd.op!r}")
            cmd.reply.set_result(views.agent_row(self, agent))
            self._plan(now)
        except Exception as exc:
            if not cmd.reply.done():
                cmd.reply.set_exception(exc)

    def _release(self, agent: Agent, now: float, why: str) -> None:
        agent.set_state(agent.held_from or AgentState.BOOTING, now, why)
        agent.hold_until = None
        agent.held_from = None
        agent.hold_reason = ""
        self._record("released", agent, why)
        self._spawn(actions.mark_hold, self.driver, agent.name, None, None)
        self._refresh_computers(agent.controller)

    # -- planning and acting ----------------------------------------------------------------

    def _plan(self, now: float) -> None:
        result = plan(
            agents=list(self.agents.values()),
            demand=self.demand.per_label(),
            config=self.config,
            backoff=self.backoff,
            bucket=self.bucket,
            now=now,
            seen=self.seen,
            catch_all=self._catch_all_match(),
        )
        self.bucket = result.bucket
        self.blocked = result.blocked
        for retire in result.retires:
            agent = self.agents[retire.name]
            if retire.failed:
                self._fail_label(agent.label, now)
            self._retire(agent, retire.reason, retire.failed)
        for label_name, count in result.launches.items():
            lab = self.config.label(label_name)
            for _ in range(count):
                self._launch(lab, now)

    def _catch_all_match(self) -> Match | None:
        """Builds waiting for the catch-all label against its free agents (by the labels each carries)."""
        catch = self.config.catch_all
        if catch is None:
            return None
        free = {
            a.name: a.atoms or catch.all_atoms
            for a in self.agents.values()
            if a.label == catch.name and a.state in SUPPLY
        }
        return match_free_agents(self.demand.catch_all_wants(), free)

    def _launch(self, lab: LabelConfig, now: float) -> None:
        name = self._new_name(lab)
        controller = self.config.controller_of(lab)
        agent = Agent(name, lab.name, controller.name, AgentState.REQUESTED, now, now, comment="launch requested")
        self.agents[name] = agent
        self.stats.launched[lab.name] += 1
        lab, latency = self.demand.launch_label(lab, self.wall())
        if lab.catch_all:
            agent.atoms = lab.all_atoms
        if latency is not None:
            self.stats.queue_to_launch.append(latency)
        self._record("requested", agent, "launch requested")
        if self.dry_run:
            agent.comment = "dry run: not launched"
            log.info("dry run: would launch %s for %s", name, lab.name)
            return
        self._spawn(
            actions.launch,
            self.driver,
            name,
            lab,
            controller,
            self.config.daemon.id,
            self.credentials.get(controller.name),
            fail=lambda why: Launched(name, None, why, transient=True),
        )

    def _retire(self, agent: Agent, reason: str, failed: bool, *, force: bool = False) -> None:
        now = self.clock()
        agent.set_state(AgentState.RETIRING, now, reason)
        self._record("retiring", agent, reason)
        log.info("retiring %s (%s): %s", agent.name, agent.label, reason)
        if self.dry_run:
            log.info("dry run: would retire %s", agent.name)
            self.submit(Retired(agent.name, ok=True))
            return
        self._spawn_retire(agent, force=force)

    def _spawn_retire(self, agent: Agent, *, force: bool = False) -> None:
        agent.retry_at = 0.0
        if f"offline:{agent.name}" in self._in_flight:
            agent.retry_at = self.clock()  # never two take-offline calls at once: they would toggle
            return
        name = agent.name
        self._spawn(
            actions.retire,
            self.driver,
            self.controllers.get(agent.controller),
            name,
            self.config.daemon.retire_grace,
            force,
            fail=lambda why: Retired(name, ok=False, error=why),
        )

    def _fail_label(self, label: str, now: float) -> None:
        limits = self.config.limits
        self.backoff[label] = self.backoff.get(label, Backoff()).failed(now, limits.backoff_initial, limits.backoff_max)
        self.stats.failures[label] += 1

    def _pause_label(self, label: str, now: float) -> None:
        """A transient refusal (a quota): wait before the next try, without growing the backoff."""
        old = self.backoff.get(label, Backoff())
        self.backoff[label] = Backoff(old.failures, max(old.until, now + self.config.limits.backoff_initial))

    def _refresh_computers(self, controller: str) -> None:
        client = self.controllers.get(controller)
        if client is None:
            return
        key = f"computers:{controller}"
        if key in self._in_flight:
            self._dirty.add(key)
            return
        self._in_flight.add(key)
        self._spawn_fast(actions.read_computers, client, fail=lambda why: ComputersSeen(controller, None, why))

    def _clean_lingering(self, controller: str, nodes: Mapping[str, NodeView]) -> None:
        """Offline nodes named like ours that no agent owns, seen twice in a row, are deleted."""
        prefix = self.config.daemon.name_prefix + "-"
        slugs = {lab.slug for lab in self.config.labels}
        candidates = {
            name
            for name, node in nodes.items()
            if name.startswith(prefix)
            and name not in self.agents
            and node.offline
            and not node.busy
            and _matches_pattern(name[len(prefix) :], slugs)
        }
        previous = self._lingering.get(controller, set())
        self._lingering[controller] = candidates
        client = self.controllers.get(controller)
        for name in candidates & previous:
            if client is not None and not self.dry_run:
                log.info("deleting lingering node %s on %s", name, controller)
                self._spawn(actions.delete_node, client, name, fail=_node_deleted_failure(controller, name))

    def _spawn_fast(self, fn: Callable[..., Any], *args: Any, fail: Callable[[str], Any] | None = None) -> None:
        """Short Jenkins calls that must not wait behind slow driver work (a one-shot agent has to
        go offline while its build runs, whatever the launches and retirements are doing)."""
        self._spawn(fn, *args, fail=fail, executor=self.fast_executor)

    def _spawn(
        self,
        fn: Callable[..., Any],
        *args: Any,
        fail: Callable[[str], Any] | None = None,
        executor: Executor | None = None,
    ) -> None:
        """Run ``fn`` in a worker; its result comes back as a message, and so does ``fail(why)``
        if it raises (every in-flight marker is cleared by one or the other)."""
        try:
            future = (executor or self.executor).submit(actions.guarded, fn, self.submit, fail, *args)
        except RuntimeError:  # executor shut down while stopping
            log.debug("not running %s: shutting down", fn.__name__)
            return
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def idle(self) -> bool:
        """No I/O under way and nothing queued (for ``--once`` and tests)."""
        return not self._pending and self.inbox.empty()

    # -- helpers ----------------------------------------------------------------------------

    def _label(self, agent: Agent) -> LabelConfig:
        for lab in self.config.labels:
            if lab.name == agent.label:
                return lab
        return LabelConfig(name=agent.label or "unknown", reuse=True)

    def _controller(self, agent: Agent) -> ControllerAPI | None:
        return self.controllers.get(agent.controller)

    def _new_name(self, lab: LabelConfig) -> str:
        while True:
            suffix = "".join(secrets.choice(_RANDOM) for _ in range(6))
            name = f"{self.config.daemon.name_prefix}-{lab.slug}-{suffix}"
            if name not in self.agents:
                return name

    def _record(self, kind: str, agent: Agent | None, message: str) -> None:
        self.history.append(
            {
                "time": self.wall(),
                "kind": kind,
                "agent": agent.name if agent else None,
                "label": agent.label if agent else None,
                "message": message,
            }
        )

    def to_wall(self, t: float) -> float:
        """An engine-clock time as wall time (for display and for what is stored on agents)."""
        return self.wall() - (self.clock() - t)

    def from_wall(self, t: float) -> float:
        return self.clock() - (self.wall() - t)

    def counts(self) -> Counter[tuple[str, AgentState]]:
        return Counter((a.label, a.state) for a in self.agents.values())


def _node_deleted_failure(controller: str, name: str) -> Callable[[str], NodeDeleted]:
    return lambda why: NodeDeleted(controller, name, why)


def _matches_pattern(rest: str, slugs: set[str]) -> bool:
    slug, _, suffix = rest.rpartition("-")
    return slug in slugs and len(suffix) == 6 and all(ch in _RANDOM for ch in suffix)


_HANDLERS: dict[type, Callable[[Engine, Any], None]] = {
    BuildStarted: Engine._on_build_started,
    BuildFinished: Engine._on_build_finished,
    NodeOffline: Engine._on_node_event,
    AgentChanged: Engine._on_agent_changed,
    NodeOnline: Engine._on_node_event,
    LifecycleHint: Engine._on_hint,
    DemandRefresh: Engine._on_demand_refresh,
    DemandUpdate: Engine._on_demand,
    ComputersSeen: Engine._on_computers,
    DriverSeen: Engine._on_driver,
    Launched: Engine._on_launched,
    Retired: Engine._on_retired,
    NodeDeleted: Engine._on_node_deleted,
    OfflineTaken: Engine._on_offline_taken,
    Tick: Engine._on_tick,
    Reconcile: Engine._on_reconcile,
    Reload: Engine._on_reload,
    Command: Engine._on_command,
    Stop: Engine._on_stop,
}

__all__ = ["ControllerAPI", "Engine"]
