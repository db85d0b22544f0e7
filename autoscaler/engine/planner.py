"""The pure planning function: ``plan(agents, demand, config, now) -> actions``.

No I/O, no clock, no randomness: the same inputs always give the same plan, so it is tested
with tables of cases and property tests, and it stays fast for 10,000 queued items.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress

from autoscaler import schedule
from autoscaler.config.models import Config, LabelConfig
from autoscaler.config.units import format_duration
from autoscaler.engine.demand import Match
from autoscaler.engine.state import NOT_YET_ONLINE, Agent, AgentState, Backoff, TokenBucket

_STATE = operator.attrgetter("state")
_LABEL = operator.attrgetter("label")
_CREATED = operator.attrgetter("created")
_SINCE = operator.attrgetter("state_since")
_READY = frozenset({AgentState.READY})
_ASKED = operator.attrgetter("retire_requested")
_USED = operator.attrgetter("used")
_CONSIDERED = frozenset(AgentState) - {AgentState.HELD, AgentState.RETIRING, AgentState.BUSY}
"""States an agent may be retired from (busy, held and retiring agents never are)."""

MinReady = dict[str, tuple[int, str]]
"""Per label, the ``min-ready`` in force and where it comes from (``label`` or a schedule entry)."""


@dataclass(frozen=True)
class Retire:
    name: str
    reason: str
    failed: bool = False
    """The agent failed: its label's backoff grows."""


@dataclass(frozen=True)
class Plan:
    launches: dict[str, int]
    """Agents to launch now, per label."""
    retires: tuple[Retire, ...]
    bucket: TokenBucket
    """The launch-rate bucket after the launches."""
    blocked: dict[str, str] = field(default_factory=dict)
    """Per label with unmet need, what holds it back (``max``, ``max-agents``, ``rate``, ``backoff``)."""
    min_ready: MinReady = field(default_factory=dict)
    """Per label, the ``min-ready`` this plan kept to, and where it came from."""


def burst_of(config: Config) -> float:
    return max(1.0, config.limits.launches_per_second)


def plan(
    *,
    agents: Sequence[Agent],
    demand: Mapping[str, int],
    config: Config,
    backoff: Mapping[str, Backoff],
    bucket: TokenBucket,
    now: float,
    seen: Mapping[str, float] | None = None,
    catch_all: Match | None = None,
    wall: float | None = None,
) -> Plan:
    """``seen``: per controller, when ``/computer`` was last read successfully. A boot or
    reconnect timeout is only decided on a reading taken after it ran out (a Jenkins that cannot be
    read is no evidence that an agent failed). ``None``: every controller is read just now.
    ``wall``: the wall-clock time (epoch seconds) a label's ``schedule`` is read at; ``None``: every
    label keeps its own ``min-ready``."""
    labels = {lab.name: lab for lab in config.labels}
    in_force = {name: schedule.in_force(lab, wall) for name, lab in labels.items()}
    min_ready = {name: value for name, (value, _) in in_force.items()}
    catch = config.catch_all.name if config.catch_all is not None and catch_all is not None else None
    retiring, supply = _retirements(agents, demand, labels, min_ready, config, now, seen, catch_all if catch else None)
    retires = [retire for retire, _ in retiring]
    failing = {agent.label for retire, agent in retiring if retire.failed}
    total = Counter(map(_LABEL, agents))  # counted in C: plan() stays fast with 100,000 agents

    rate = config.limits.launches_per_second
    tokens = math.floor(bucket.available(now, rate, burst_of(config)) + 1e-9)
    room = max(0, config.limits.max_agents - len(agents))
    budget = min(room, tokens)
    blocked: dict[str, str] = {}
    for_demand, for_min_ready = _needs(labels, min_ready, demand, supply, total, blocked, catch_all if catch else None)
    for name in [n for n in for_demand if n in failing or backoff.get(n, Backoff()).active(now)]:
        blocked[name] = "backoff"
        del for_demand[name], for_min_ready[name]

    launches = _share(for_demand, total, budget)
    left = budget - sum(launches.values())
    extra = _share(for_min_ready, total + Counter(launches), left)
    for name, count in extra.items():
        launches[name] = launches.get(name, 0) + count
    for name in set(for_demand) | set(for_min_ready):
        if launches.get(name, 0) < for_demand[name] + for_min_ready[name] and name not in blocked:
            blocked[name] = "max-agents" if room <= tokens else "rate"
    launched = sum(launches.values())
    new_bucket = bucket.take(launched, now, rate, burst_of(config))
    return Plan({k: v for k, v in launches.items() if v}, tuple(retires), new_bucket, blocked, in_force)


def _needs(
    labels: Mapping[str, LabelConfig],
    min_ready: Mapping[str, int],
    demand: Mapping[str, int],
    supply: Mapping[str, int],
    total: Mapping[str, int],
    blocked: dict[str, str],
    catch_all: Match | None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Per label: launches wanted for queued builds, and for ``min-ready``, within the label's ``max``."""
    for_demand: dict[str, int] = {}
    for_min_ready: dict[str, int] = {}
    for name, lab in labels.items():
        wanted = demand.get(name, 0)
        need = max(0, wanted - supply.get(name, 0))
        need_min = max(0, wanted + min_ready[name] - supply.get(name, 0)) - need
        if lab.catch_all and catch_all is not None:  # free agents serve only builds they carry labels for
            need = sum(catch_all.unmet.values())
            need_min = max(0, min_ready[name] - len(catch_all.spare))
        if need + need_min == 0:
            continue
        label_room = max(0, lab.max - total.get(name, 0))
        if label_room < need + need_min:
            blocked[name] = "max"
        for_demand[name] = min(need, label_room)
        for_min_ready[name] = min(need_min, label_room - for_demand[name])
    return for_demand, for_min_ready


def _share(wants: Mapping[str, int], current: Mapping[str, int], budget: int) -> dict[str, int]:
    """Water-filling: hand out ``budget`` one at a time to the label that has the fewest agents
    (current plus given so far), so a busy label never starves a quiet one."""
    given: dict[str, int] = {}
    heap = [(current.get(name, 0), name) for name, want in wants.items() if want > 0]
    heapq.heapify(heap)
    while budget > 0 and heap:
        count, name = heapq.heappop(heap)
        given[name] = given.get(name, 0) + 1
        budget -= 1
        if given[name] < wants[name]:
            heapq.heappush(heap, (count + 1, name))
    return given


def _retirements(
    agents: Iterable[Agent],
    demand: Mapping[str, int],
    labels: Mapping[str, LabelConfig],
    min_ready: Mapping[str, int],
    config: Config,
    now: float,
    seen: Mapping[str, float] | None,
    catch_all: Match | None = None,
) -> tuple[list[tuple[Retire, Agent]], Counter[str]]:
    """Agents to retire, each with its agent, and the supply per label left after them (agents
    that will take a build). Busy, held and retiring agents are passed over, and agents that need
    no look of their own (see :func:`_plain`) are counted in C (``map``/``compress``): with 100,000
    agents only the few others are looked at one by one in Python."""
    retires: list[tuple[Retire, Agent]] = []
    supply: Counter[str] = Counter()
    boot_timeout = config.limits.boot_timeout

    def timed_out(agent: Agent, since: float) -> bool:
        deadline = since + boot_timeout
        return now >= deadline and (seen is None or seen.get(agent.controller, -math.inf) >= deadline)

    candidates = list(compress(agents, map(_CONSIDERED.__contains__, map(_STATE, agents))))
    flags = _plain(candidates, tuple(labels), now - boot_timeout + 1.0)
    for agent in compress(candidates, map(operator.not_, flags)):
        lab = labels.get(agent.label)
        reason: Retire | None = None
        if agent.state == AgentState.FAILED:
            reason = Retire(agent.name, agent.comment or "failed", failed=True)
        elif agent.retire_requested:
            reason = Retire(agent.name, "deleted by request")
        elif lab is None:
            reason = Retire(agent.name, "its label is no longer configured")
        elif agent.state in NOT_YET_ONLINE and timed_out(agent, agent.created):
            reason = Retire(agent.name, f"not online in Jenkins after {format_duration(boot_timeout)}", failed=True)
        elif agent.state == AgentState.DISCONNECTED and timed_out(agent, agent.state_since):
            reason = Retire(agent.name, f"disconnected from Jenkins for {format_duration(boot_timeout)}")
        elif agent.state == AgentState.READY and agent.used and not lab.reuse:
            reason = Retire(agent.name, "its build finished (one build per agent)")
        if reason is not None:
            retires.append((reason, agent))
        elif agent.state != AgentState.DISCONNECTED:
            supply[agent.label] += 1
    supply.update(map(_LABEL, compress(candidates, flags)))
    retires.extend(_idle_retirements(candidates, supply, demand, labels, min_ready, retires, catch_all, now))
    return retires, supply


def _plain(candidates: list[Agent], names: tuple[str, ...], young_after: float) -> list[bool]:
    """Per candidate, whether it needs no look of its own: not asked to go, of a configured label,
    and either ready and unused, or not yet online and created after ``young_after`` (a second
    short of its boot timeout: it cannot have timed out). One C pass per attribute, no tuples."""
    known = set(names)
    states = list(map(_STATE, candidates))
    stay = map(operator.not_, map(_ASKED, candidates))
    if not known.issuperset(map(_LABEL, candidates)):  # a label was removed: its agents are retired
        stay = map(operator.and_, stay, map(known.__contains__, map(_LABEL, candidates)))
    ready = map(operator.and_, map(_READY.__contains__, states), map(operator.not_, map(_USED, candidates)))
    young = map(
        operator.and_, map(NOT_YET_ONLINE.__contains__, states), map(young_after.__lt__, map(_CREATED, candidates))
    )
    return list(map(operator.and_, stay, map(operator.or_, ready, young)))


def _idle_retirements(
    candidates: list[Agent],
    supply: Mapping[str, int],
    demand: Mapping[str, int],
    labels: Mapping[str, LabelConfig],
    min_ready: Mapping[str, int],
    retired: list[tuple[Retire, Agent]],
    catch_all: Match | None,
    now: float,
) -> list[tuple[Retire, Agent]]:
    """Idle agents beyond what demand and ``min-ready`` need, idle for their label's ``idle-timeout``,
    longest idle first. Only labels with a surplus are looked at, and of their agents (in C) only
    those idle for about the shortest ``idle-timeout``: no other can be retired (a catch-all label
    counts its spare agents, so all of its idle agents are looked at)."""
    spare = {
        name
        for name, count in supply.items()
        if name in labels
        and ((labels[name].catch_all and catch_all is not None) or count - demand.get(name, 0) - min_ready[name] > 0)
    }
    if not spare:
        return []
    whole = {name for name in spare if labels[name].catch_all and catch_all is not None}
    pool = candidates
    if not whole:  # few agents are idle that long: drop the others first
        oldest = now - min(labels[name].idle_timeout for name in spare) + 1.0
        pool = list(compress(pool, map(oldest.__ge__, map(_SINCE, pool))))
    pool = list(compress(pool, map(spare.__contains__, map(_LABEL, pool))))
    pool = list(compress(pool, map(_READY.__contains__, map(_STATE, pool))))
    if whole and len(whole) < len(spare):
        oldest = now - min(labels[name].idle_timeout for name in spare - whole) + 1.0
        long_idle = map(oldest.__ge__, map(_SINCE, pool))
        pool = list(compress(pool, map(operator.or_, map(whole.__contains__, map(_LABEL, pool)), long_idle)))
    gone = {agent.name for _, agent in retired}
    idle: dict[str, list[Agent]] = {}
    for agent in pool:
        if agent.name not in gone:
            idle.setdefault(agent.label, []).append(agent)
    retires: list[tuple[Retire, Agent]] = []
    for name, idle_agents in idle.items():
        lab = labels[name]
        surplus = supply[name] - demand.get(name, 0) - min_ready[name]
        ready = idle_agents
        if name in whole:  # only agents no waiting build can use are spare
            ready = [a for a in idle_agents if a.name in catch_all.spare]  # type: ignore[union-attr]
            surplus = len(ready) - min_ready[name]
        timed_out = [a for a in ready if now - a.state_since >= lab.idle_timeout]
        for agent in sorted(timed_out, key=lambda a: (a.state_since, a.name)):
            if surplus <= 0:
                break
            retires.append((Retire(agent.name, f"idle for {format_duration(now - agent.state_since)}"), agent))
            surplus -= 1
    return retires


def min_ready_changes(before: MinReady, after: MinReady) -> list[str]:
    """One line per label whose ``min-ready`` in force changed (a schedule period began or ended),
    for the engine's event history; a label seen for the first time is named if a schedule sets it."""
    lines = []
    for name, (value, source) in sorted(after.items()):
        old = before.get(name)
        if old is None and source != "label":
            lines.append(f"{name}: min-ready {value} from {source}")
        elif old is not None and old != (value, source):
            lines.append(f"{name}: min-ready {value} from {source} (was {old[0]} from {old[1]})")
    return lines
