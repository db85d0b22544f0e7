"""Why each queued build waits: a function of ``(state, config, now)`` like the views.

Every waiting item gets a :class:`Reason`: a stable machine ``kind`` and a ``text`` in plain words.
The items of a label are paired, oldest first, with the agents that will take them (the most
advanced first: online, booting, pending, requested); the items no agent is coming for wait for
whatever binds the label's launches now (:func:`label_limit`): its ``max``, the global
``max-agents``, the launch rate, or its backoff. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from autoscaler.config.models import Config, LabelConfig
from autoscaler.config.units import format_duration
from autoscaler.engine.demand import Wanted
from autoscaler.engine.launches import catch_all_match
from autoscaler.engine.planner import burst_of
from autoscaler.engine.runtime import Now, RuntimeState
from autoscaler.engine.state import SUPPLY, Agent, AgentState

KINDS = (
    "no-label",
    "demand-unknown",
    "max",
    "max-agents",
    "rate",
    "backoff",
    "launching",
    "agent-requested",
    "agent-pending",
    "agent-unschedulable",
    "agent-pulling-image",
    "agent-booting",
    "agent-online",
    "jenkins-quiet-period",
    "jenkins-blocked",
    "jenkins-shutdown",
    "jenkins",
    "not-queued",
)
"""Every ``kind`` a reason can have (stable: scripts may match on them)."""

_ORDER = {AgentState.READY: 0, AgentState.BOOTING: 1, AgentState.PENDING: 2, AgentState.REQUESTED: 3}


@dataclass(frozen=True)
class Reason:
    kind: str
    text: str
    label: str | None = None
    agent: str | None = None
    until: float | None = None
    """Wall time the wait ends, when known (a backoff)."""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "label": self.label, "agent": self.agent, "until": self.until}


def _ago(seconds: float) -> str:
    return format_duration(max(0.0, round(seconds)))


def label_need(state: RuntimeState, config: Config, lab: LabelConfig) -> int:
    """Agents the label lacks: for queued builds and for ``min-ready`` (the planner's sum)."""
    supply = sum(1 for a in state.agents.values() if a.label == lab.name and a.state in SUPPLY)
    min_ready = state.min_ready.get(lab.name, (lab.min_ready, "label"))[0]  # a schedule's, if in force
    if lab.catch_all:
        match = catch_all_match(state, config)
        if match is not None:
            return sum(match.unmet.values()) + max(0, min_ready - len(match.spare))
    return max(0, state.demand.per_label().get(lab.name, 0) + min_ready - supply)


def label_limit(state: RuntimeState, config: Config, now: Now, lab: LabelConfig) -> Reason | None:
    """What stops the next launch of ``lab`` right now, whichever binds first: the label's own
    ``max``, the global ``max-agents``, its backoff, the launch rate. None: nothing does."""
    total = sum(1 for a in state.agents.values() if a.label == lab.name)
    everyone = len(state.agents)
    if total >= lab.max:
        return Reason("max", f"label {lab.name} is at its max of {lab.max} agents ({total} running)", lab.name)
    if everyone >= config.limits.max_agents:
        return Reason(
            "max-agents",
            f"the daemon is at limits.max-agents ({config.limits.max_agents} agents in all labels; "
            f"{lab.name} has {total} of its max {lab.max})",
            lab.name,
        )
    backoff = state.backoff.get(lab.name)
    if backoff is not None and backoff.active(now.mono):
        cause = state.last_failure.get(lab.name)
        because = f" after {backoff.failures} failure{'s' if backoff.failures != 1 else ''}"
        if cause:
            because += f" (last: {cause})"
        left = backoff.until - now.mono
        return Reason(
            "backoff",
            f"label {lab.name} is backing off{because}; next launch in {_ago(left)}",
            lab.name,
            until=now.to_wall(backoff.until),
        )
    rate = config.limits.launches_per_second
    if math.floor(state.bucket.available(now.mono, rate, burst_of(config)) + 1e-9) < 1:
        return Reason("rate", f"the launch rate (limits.launches-per-second: {rate:g}) is used up", lab.name)
    return None


def binding(state: RuntimeState, config: Config, now: Now, lab: LabelConfig) -> str | None:
    """The LIMIT column: what binds a label that lacks agents (None when it lacks none)."""
    if label_need(state, config, lab) <= 0:
        return None
    limit = label_limit(state, config, now, lab)
    return None if limit is None else limit.kind


def agent_reason(agent: Agent, now: Now) -> Reason:
    """Where an agent launched for a waiting build is."""
    since = _ago(now.mono - agent.state_since)
    name, lab = agent.name, agent.label
    detail = agent.comment
    if agent.state == AgentState.READY:
        return Reason(
            "agent-online",
            f"agent {name} is online and idle for {since}: waiting for Jenkins to assign the build to it",
            lab,
            name,
        )
    if agent.state == AgentState.BOOTING:
        return Reason("agent-booting", f"agent {name} is booting since {since} (not yet online in Jenkins)", lab, name)
    if agent.state == AgentState.PENDING:
        low = detail.lower()
        if low.startswith("unschedulable"):
            return Reason("agent-unschedulable", f"agent {name} cannot be scheduled for {since}: {detail}", lab, name)
        if "pulling image" in low:
            return Reason("agent-pulling-image", f"agent {name} is {detail} ({since})", lab, name)
        return Reason("agent-pending", f"agent {name} is pending for {since}: {detail or 'pending'}", lab, name)
    return Reason("agent-requested", f"agent {name} was requested {since} ago; the driver has not answered", lab, name)


def item_reasons(state: RuntimeState, config: Config, now: Now) -> dict[str, Reason]:
    """A reason for every queued item the daemon knows, by item key."""
    items: dict[str, tuple[str, Wanted]] = {}
    for listener_name, listener in state.demand.listeners.items():
        for wanted in listener.items.values():
            items.setdefault(wanted.key, (listener_name, wanted))
    by_label: dict[str, list[Wanted]] = {}
    out: dict[str, Reason] = {}
    for _, wanted in items.values():
        if wanted.label is None:
            out[wanted.key] = _no_label(wanted)
        else:
            by_label.setdefault(wanted.label, []).append(wanted)
    labels = {lab.name: lab for lab in config.labels}
    for label, waiting in by_label.items():
        out.update(_label_reasons(state, config, now, labels.get(label), label, waiting))
    for key, (listener_name, _) in items.items():
        listener = state.demand.listeners[listener_name]
        if listener.error is not None:
            out[key] = Reason(
                "demand-unknown",
                f"demand unknown: listener {listener_name} cannot read its source ({listener.error}); "
                f"this build is from its last report. Meanwhile: {out[key].text}",
                out[key].label,
                out[key].agent,
                out[key].until,
            )
    return out


def _no_label(wanted: Wanted) -> Reason:
    if wanted.wants.startswith("node "):
        return Reason("no-label", f"it waits for {wanted.wants}, which no configured label provides")
    return Reason("no-label", f"no configured label serves `{wanted.wants}`")


def _label_reasons(
    state: RuntimeState, config: Config, now: Now, lab: LabelConfig | None, label: str, waiting: list[Wanted]
) -> dict[str, Reason]:
    agents = sorted(
        (a for a in state.agents.values() if a.label == label and a.state in SUPPLY),
        key=lambda a: (_ORDER[a.state], a.created, a.name),
    )
    out: dict[str, Reason] = {}
    limit: Reason | None = None
    if lab is not None:
        limit = label_limit(state, config, now, lab) or Reason(
            "launching", f"no limit binds: an agent of {label} is launched at the next planning pass", label
        )
    for i, wanted in enumerate(sorted(waiting, key=lambda w: (w.since, w.key))):
        if i < len(agents):
            out[wanted.key] = agent_reason(agents[i], now)
        elif limit is not None:
            out[wanted.key] = limit
        else:
            out[wanted.key] = Reason("no-label", f"label {label} is no longer configured", label)
    return out


def matches(query: str, key: str, what: str) -> bool:
    """``query`` names this item: its key (``main:17``), its queue id (``17``), or its job's name."""
    q = query.strip()
    return bool(q) and (q in (key, what) or key.rsplit(":", 1)[-1] == q)


def lookup(state: RuntimeState, config: Config, now: Now, query: str) -> list[dict[str, Any]]:
    """The waiting items ``query`` names, each with its reason."""
    reasons = item_reasons(state, config, now)
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name, listener in state.demand.listeners.items():
        for wanted in listener.items.values():
            if wanted.key not in seen and matches(query, wanted.key, wanted.what):
                seen.add(wanted.key)
                found.append(_item(name, listener.controller, wanted, reasons[wanted.key]))
    return sorted(found, key=lambda d: (d["since"] or 0, d["key"]))


def _item(listener: str, controller: str, wanted: Wanted, reason: Reason) -> dict[str, Any]:
    return {
        "listener": listener,
        "controller": controller,
        "key": wanted.key,
        "wants": wanted.wants,
        "label": wanted.label,
        "what": wanted.what,
        "since": wanted.since,
        "reason": reason.as_dict(),
    }


_QUIET = re.compile(r"^In the quiet period\. Expires in (?P<left>.+)$")


def from_jenkins(why: str | None, *, blocked: bool = False) -> Reason:
    """A queued item the daemon does not count as demand: what Jenkins says holds it."""
    text = (why or "").strip()
    if text.startswith("Jenkins is about to shut down"):
        return Reason("jenkins-shutdown", "Jenkins is quieting down (about to shut down): it starts no build")
    quiet = _QUIET.match(text)
    if quiet:
        return Reason("jenkins-quiet-period", f"Jenkins holds it in the quiet period (expires in {quiet['left']})")
    if blocked or text.startswith(("Blocked by ", "Build #", "A build is already in progress", "Waiting for")):
        return Reason("jenkins-blocked", f"Jenkins blocks it: {text or 'blocked'}")
    return Reason("jenkins", f"Jenkins says: {text or '(no reason given)'}")


def not_queued(query: str, errors: Iterable[str]) -> Reason:
    errs = list(errors)
    if errs:
        return Reason(
            "demand-unknown",
            f"{query} is not among the queued builds the daemon knows, and demand is unknown: " + "; ".join(errs),
        )
    return Reason("not-queued", f"{query} is not waiting in any queue the daemon reads (started, done, or unknown)")
