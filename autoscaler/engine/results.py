"""What the results of the engine's own I/O do to the state: a launch that failed, a retirement
Jenkins could not confirm, a take-offline that failed, a listing of the driver.

Each function updates the state and returns the effects it needs; none performs I/O."""

from __future__ import annotations

import logging
from collections.abc import Collection

from autoscaler.config.models import Config
from autoscaler.engine import failures, lifecycle
from autoscaler.engine.cleanup import Strays
from autoscaler.engine.effects import Effect, Refresh
from autoscaler.engine.messages import Launched, OfflineTaken, Retired
from autoscaler.engine.runtime import Now, RuntimeState
from autoscaler.engine.state import AgentState, Backoff
from autoscaler.plugin import AgentHandle

log = logging.getLogger(__name__)


def fail_label(rt: RuntimeState, config: Config, label: str, now: float, why: str = "", reason: str = "") -> None:
    """An agent of ``label`` failed: the label's backoff grows. ``why``: what failed, in words;
    ``reason``: its class (:mod:`autoscaler.engine.failures`; classified from ``why`` if not given)."""
    limits = config.limits
    rt.backoff[label] = rt.backoff.get(label, Backoff()).failed(now, limits.backoff_initial, limits.backoff_max)
    rt.stats.failures[label] += 1
    rt.failure_reasons[(label, reason or failures.classify(why))] += 1
    if why:
        rt.last_failure[label] = why


def pause_label(rt: RuntimeState, config: Config, label: str, now: float) -> None:
    """A transient refusal (a quota): wait before the next try, without growing the backoff."""
    old = rt.backoff.get(label, Backoff())
    rt.backoff[label] = Backoff(old.failures, max(old.until, now + config.limits.backoff_initial))


def launched(rt: RuntimeState, config: Config, result: Launched, now: Now) -> bool:
    """Returns whether the launch failed (the plan may change)."""
    agent = rt.agents.get(result.name)
    if agent is None:
        return False
    if result.handle is not None:
        # the create call's answer is the oldest news of the agent: a driver's watch event that
        # arrived first (Pending: unschedulable; Running) already moved it on
        if agent.state == AgentState.REQUESTED:
            lifecycle.apply_handle(rt, agent, result.handle, now)
        return False
    del rt.agents[result.name]
    rt.stats.launch_failures[agent.label] += 1
    log.error("launch of %s (%s) failed: %s", agent.name, agent.label, result.error)
    rt.record("launch-failed", agent, result.error or "", now.wall)
    if result.transient:
        pause_label(rt, config, agent.label, now.mono)
    else:
        fail_label(rt, config, agent.label, now.mono, f"launch failed: {result.error or '?'}", "launch-error")
    return True


def offline_taken(rt: RuntimeState, result: OfflineTaken, now: Now) -> None:
    rt.in_flight.discard(f"offline:{result.name}")
    agent = rt.agents.get(result.name)
    if agent is None:
        return
    if result.ok:
        agent.offline_requested = True
    else:
        rt.stats.errors["jenkins"] += 1
        rt.record("offline-failed", agent, f"take offline failed (will retry): {result.error}", now.wall)


def retired(rt: RuntimeState, config: Config, result: Retired, now: Now) -> list[Effect] | None:
    """The effects, or None when the agent is gone (the plan may change)."""
    agent = rt.agents.get(result.name)
    if agent is None:
        return []
    if result.busy:
        agent.retire_requested = True  # retired when this build ends
        lifecycle.mark_busy(rt, agent, now, "a build started on it while it was retiring")
        return [Refresh(agent.controller)]
    if not result.ok:
        limits = config.limits
        agent.retire_attempts += 1
        wait = Backoff(agent.retire_attempts - 1).failed(now.mono, limits.backoff_initial, limits.backoff_max)
        agent.retry_at = wait.until
        agent.comment = f"retire failed (will retry): {result.error}"
        rt.record("retire-failed", agent, agent.comment, now.wall)
        log.warning("retiring %s failed, will retry: %s", agent.name, result.error)
        return []
    del rt.agents[result.name]
    rt.stats.retired[agent.label] += 1
    rt.record("gone", agent, agent.comment, now.wall)
    return None


def driver_listed(
    rt: RuntimeState,
    config: Config,
    strays: Strays,
    handles: list[AgentHandle],
    controllers: Collection[str],
    now: Now,
) -> list[Effect]:
    """The driver's listing: adopt what runs without a record, and note what stopped by itself."""
    effects: list[Effect] = []
    first = not strays.adopted_once
    for handle in strays.sort_listing(handles, rt.agents):
        if not first:  # seen twice with no record: a launch that failed on our side only
            log.warning("%s runs with this daemon's identity but no record: adopting it", handle.name)
            rt.stats.leaks += 1
            rt.stats.metrics.leaked.labels(handle.label).inc()
        if handle.controller not in controllers:
            log.warning("adopting %s of unknown controller %r", handle.name, handle.controller)
        effects += lifecycle.adopt(rt, config, handle, now)
    listed = {h.name: h for h in handles}
    for agent in list(rt.agents.values()):
        listing = listed.get(agent.name)
        if listing is not None:
            lifecycle.apply_handle(rt, agent, listing, now)
        elif agent.state not in (AgentState.REQUESTED, AgentState.RETIRING):
            lifecycle.lost(rt, agent, "its process or pod is gone", now)
    return effects
