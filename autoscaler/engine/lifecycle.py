"""An agent's lifecycle: how what Jenkins and the driver show moves it between states.

Each transition updates the runtime state and returns the effects it needs (read Jenkins again,
take a node offline); it performs no I/O. Jenkins' view of a node is the truth about whether
its agent can take a build.
"""

from __future__ import annotations

import logging

from autoscaler.config.models import Config, LabelConfig
from autoscaler.engine import phases
from autoscaler.engine.effects import Effect, MarkHold, Refresh, TakeOffline
from autoscaler.engine.runtime import Now, RuntimeState
from autoscaler.engine.state import NOT_YET_ONLINE, Agent, AgentState
from autoscaler.jenkins.computers import NodeView
from autoscaler.plugin import AgentHandle, DriverStatus

log = logging.getLogger(__name__)
UNTOUCHED = (AgentState.RETIRING, AgentState.HELD)


def label_of(config: Config, agent: Agent) -> LabelConfig:
    for lab in config.labels:
        if lab.name == agent.label:
            return lab
    return LabelConfig(name=agent.label or "unknown", reuse=True)


def mark_busy(rt: RuntimeState, agent: Agent, now: Now, why: str) -> None:
    """A build runs on it: count the start against demand once."""
    agent.online_once = True
    if agent.state != AgentState.BUSY:
        if agent.state in NOT_YET_ONLINE:
            came_online(rt, agent, now)  # straight to busy: online all the same
        agent.set_state(AgentState.BUSY, now.mono, why)
        phases.reached(rt, agent, "build_started", now.mono)
        rt.demand.record_start(agent.label, now.mono, agent.atoms or None)
        rt.record("busy", agent, why, now.wall)


def came_online(rt: RuntimeState, agent: Agent, now: Now) -> None:
    """It is online in Jenkins for the first time (ready, busy at once, or a build already
    ended): the label works, so its backoff resets; its boot time is recorded."""
    rt.backoff.pop(agent.label, None)
    rt.stats.boot_seconds.append(now.mono - agent.created)
    rt.stats.metrics.boot.observe(max(0.0, now.mono - agent.created))
    phases.reached(rt, agent, "online", now.mono)


def mark_idle(rt: RuntimeState, agent: Agent, now: Now, why: str) -> None:
    if agent.state in NOT_YET_ONLINE:
        agent.online_once = True
        came_online(rt, agent, now)  # its build ended before Jenkins was read: it was online
    agent.used = True
    agent.set_state(AgentState.READY, now.mono, why)
    rt.record("idle", agent, why, now.wall)


def offline_needed(config: Config, agent: Agent) -> list[Effect]:
    """A one-shot agent goes offline in Jenkins when its build starts, so Jenkins hands it no
    second build; asked again until Jenkins confirms (``offline_requested``)."""
    if label_of(config, agent).reuse or agent.offline_requested or agent.state in UNTOUCHED:
        return []
    return [TakeOffline(agent.name)]


def build_started(rt: RuntimeState, config: Config, agent: Agent, key: str, url: str | None, now: Now) -> list[Effect]:
    if key in agent.finished_builds:
        return []  # a late or repeated event for a build that already ended
    agent.build = url or key
    if agent.state not in UNTOUCHED:
        mark_busy(rt, agent, now, f"build {key} started")
    return offline_needed(config, agent)


def build_finished(rt: RuntimeState, agent: Agent, key: str, status: str | None, now: Now) -> list[Effect]:
    if key in agent.finished_builds:
        return []
    agent.finished_builds.add(key)
    agent.used = True
    if agent.state in (AgentState.BUSY, AgentState.READY, *NOT_YET_ONLINE):
        mark_idle(rt, agent, now, f"build {key} finished ({status or '?'})")
    return [Refresh(agent.controller)]


def apply_node(
    rt: RuntimeState, config: Config, agent: Agent, node: NodeView | None, now: Now, observed_at: float | None = None
) -> list[Effect]:
    """What ``/computer`` shows of the agent's node. A read that began before the agent's last
    change (a build event that arrived while the read was on the wire) may show it busy, never
    idle or gone: that would end a build the engine knows has started."""
    if agent.state in (*UNTOUCHED, AgentState.FAILED):
        return []
    stale = observed_at is not None and agent.state_since > observed_at
    if stale and not (node is not None and node.busy):
        return []
    if node is None:
        if agent.online_once and agent.state in (AgentState.READY, AgentState.BUSY):
            disconnected(rt, agent, now, "its node is no longer in Jenkins")
        return []
    if node.busy:
        mark_busy(rt, agent, now, f"building {node.builds[0]}")
        agent.build = node.builds[0]
        # offline as it should be while its build runs; online again (a restart?): ask again
        agent.offline_requested = node.temporarily_offline and not label_of(config, agent).reuse
        return offline_needed(config, agent)
    if agent.state == AgentState.BUSY:
        mark_idle(rt, agent, now, "build finished")
    elif node.offline and not node.temporarily_offline:
        if agent.state == AgentState.READY:
            disconnected(rt, agent, now, "disconnected from Jenkins")
    else:
        _connected(rt, agent, node, now)
    return []


def _connected(rt: RuntimeState, agent: Agent, node: NodeView, now: Now) -> None:
    if agent.state in NOT_YET_ONLINE:
        agent.online_once = True
        came_online(rt, agent, now)
        agent.set_state(AgentState.READY, now.mono, "online")
        rt.record("ready", agent, f"online after {now.mono - agent.created:.1f}s", now.wall)
    elif agent.state == AgentState.DISCONNECTED:
        agent.set_state(AgentState.READY, now.mono, "connected again")
        rt.record("ready", agent, "connected again", now.wall)
    ours = agent.offline_requested or f"offline:{agent.name}" in rt.in_flight
    if node.temporarily_offline and not ours:
        agent.retire_requested = True
        agent.comment = "taken offline in Jenkins"


def disconnected(rt: RuntimeState, agent: Agent, now: Now, why: str) -> None:
    """It cannot take a build now: not supply; retired if it stays so for ``boot-timeout``."""
    if agent.state == AgentState.BUSY:
        agent.used = True
    if agent.state != AgentState.DISCONNECTED:
        agent.set_state(AgentState.DISCONNECTED, now.mono, why)
        rt.record("disconnected", agent, why, now.wall)


def lost(rt: RuntimeState, agent: Agent, why: str, now: Now) -> None:
    """The agent stopped by itself: a failure if it never came online."""
    if agent.state == AgentState.FAILED:
        return
    if agent.online_once:
        agent.retire_requested = True
        if agent.state == AgentState.BUSY:
            agent.set_state(AgentState.READY, now.mono)
        agent.comment = f"stopped: {why}"
        rt.record("stopped", agent, why, now.wall)
    else:
        agent.set_state(AgentState.FAILED, now.mono, f"failed before coming online: {why}")
        rt.record("failed", agent, why, now.wall)


def apply_handle(rt: RuntimeState, agent: Agent, handle: AgentHandle, now: Now) -> None:
    """What the driver shows of the agent's process or pod."""
    if agent.state in UNTOUCHED:
        return
    phases.handle_seen(rt, agent, handle, now)
    if handle.status in (DriverStatus.EXITED, DriverStatus.FAILED):
        lost(rt, agent, handle.detail or str(handle.status), now)
    elif handle.status == DriverStatus.RUNNING and agent.state in (AgentState.REQUESTED, AgentState.PENDING):
        agent.set_state(AgentState.BOOTING, now.mono, "running")
    elif handle.status == DriverStatus.PENDING and agent.state in (AgentState.REQUESTED, AgentState.PENDING):
        agent.set_state(AgentState.PENDING, now.mono, handle.detail or "pending")  # where it is: unschedulable...


def adopt(rt: RuntimeState, config: Config, handle: AgentHandle, now: Now) -> list[Effect]:
    """An agent found running (after a restart, or a launch whose answer was lost) joins the books."""
    if config.labels and handle.label not in {lab.name for lab in config.labels}:
        log.warning("adopting %s of unconfigured label %r: it will be retired", handle.name, handle.label)
    state = AgentState.PENDING if handle.status == DriverStatus.PENDING else AgentState.BOOTING
    created = min(now.from_wall(handle.created), now.mono)
    agent = Agent(handle.name, handle.label, handle.controller, state, created, now.mono, comment="adopted")
    rt.agents[agent.name] = agent
    rt.stats.adopted += 1
    rt.record("adopted", agent, f"adopted ({handle.status})", now.wall)
    apply_handle(rt, agent, handle, now)
    if handle.hold_reason is not None and agent.state != AgentState.FAILED:
        agent.held_from, agent.state = agent.state, AgentState.HELD
        agent.hold_reason = handle.hold_reason
        agent.hold_until = None if handle.hold_until is None else now.from_wall(handle.hold_until)
        agent.comment = f"held: {handle.hold_reason}" if handle.hold_reason else "held"
    return [Refresh(agent.controller)]


def release(rt: RuntimeState, agent: Agent, now: Now, why: str) -> list[Effect]:
    agent.set_state(agent.held_from or AgentState.BOOTING, now.mono, why)
    agent.hold_until = None
    agent.held_from = None
    agent.hold_reason = ""
    rt.record("released", agent, why, now.wall)
    return [MarkHold(agent.name, None, None), Refresh(agent.controller)]


def watched_controllers(rt: RuntimeState, config: Config) -> set[str]:
    """Controllers to read at every tick. Pipelines name no agent in their events: a one-shot
    agent's first build is seen in ``/computer`` only. Watched from the moment it runs (booting),
    so it goes offline before that build ends."""
    watched = (AgentState.BOOTING, AgentState.READY, AgentState.BUSY, AgentState.DISCONNECTED)
    return {a.controller for a in rt.agents.values() if a.state in watched and not label_of(config, a).reuse}
