"""The planner's passes in C (``map``/``compress``, for 100,000 agents) decide exactly what the plain
per-agent reading below decides: the same retirements (with the same reasons) and launches, for
any mix of states, labels (some no longer configured), ages, idle times, requests and seen times."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.config.models import Config, LabelConfig
from autoscaler.config.units import format_duration
from autoscaler.engine.planner import _needs, plan
from autoscaler.engine.state import NOT_YET_ONLINE, SUPPLY, Agent, AgentState, TokenBucket

NOW = 10_000.0
LABELS = ["a", "b", "c"]


def reference(agents: list[Agent], demand: dict[str, int], config: Config, seen: dict[str, float] | None) -> Any:
    """Retirements (name, reason, failed) and launches per label, agent by agent."""
    labels = {lab.name: lab for lab in config.labels}
    min_ready = {name: lab.min_ready for name, lab in labels.items()}
    retires = _reference_retirements(agents, demand, labels, min_ready, config, seen)
    retiring = {name for name, _, _ in retires}
    supply: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for agent in agents:
        total[agent.label] += 1
        if agent.state in SUPPLY and agent.name not in retiring:
            supply[agent.label] += 1
    for_demand, for_min = _needs(labels, min_ready, demand, supply, total, {}, None)
    return sorted(retires), {k: v for k, v in for_demand.items() if v}, {k: v for k, v in for_min.items() if v}


def _reference_retirements(
    agents: list[Agent],
    demand: dict[str, int],
    labels: dict[str, LabelConfig],
    min_ready: dict[str, int],
    config: Config,
    seen: dict[str, float] | None,
) -> list[tuple[str, str, bool]]:
    retires: list[tuple[str, str, bool]] = []
    idle: dict[str, list[Agent]] = {}
    supply: Counter[str] = Counter()
    boot = config.limits.boot_timeout

    def timed_out(agent: Agent, since: float) -> bool:
        return since + boot <= NOW and (seen is None or seen.get(agent.controller, -math.inf) >= since + boot)

    for agent in agents:
        if agent.state in (AgentState.HELD, AgentState.RETIRING, AgentState.BUSY):
            continue
        lab = labels.get(agent.label)
        reason: tuple[str, str, bool] | None = None
        if agent.state == AgentState.FAILED:
            reason = (agent.name, agent.comment or "failed", True)
        elif agent.retire_requested:
            reason = (agent.name, "deleted by request", False)
        elif lab is None:
            reason = (agent.name, "its label is no longer configured", False)
        elif agent.state in NOT_YET_ONLINE and timed_out(agent, agent.created):
            reason = (agent.name, f"not online in Jenkins after {format_duration(boot)}", True)
        elif agent.state == AgentState.DISCONNECTED and timed_out(agent, agent.state_since):
            reason = (agent.name, f"disconnected from Jenkins for {format_duration(boot)}", False)
        elif agent.state == AgentState.READY and agent.used and not lab.reuse:
            reason = (agent.name, "its build finished (one build per agent)", False)
        if reason is not None:
            retires.append(reason)
            continue
        if agent.state == AgentState.DISCONNECTED:
            continue
        supply[agent.label] += 1
        if agent.state == AgentState.READY:
            idle.setdefault(agent.label, []).append(agent)
    for name, idle_agents in idle.items():
        surplus = supply[name] - demand.get(name, 0) - min_ready[name]
        for agent in sorted(idle_agents, key=lambda a: (a.state_since, a.name)):
            if surplus <= 0:
                break
            if NOW - agent.state_since >= labels[name].idle_timeout:
                retires.append((agent.name, f"idle for {format_duration(NOW - agent.state_since)}", False))
                surplus -= 1
    return retires


@st.composite
def fleets(draw: st.DrawFn) -> tuple[Config, list[Agent], dict[str, int], dict[str, float] | None]:
    configured = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=3, unique=True))
    labels = [
        {
            "name": n,
            "max": 50,
            "min-ready": draw(st.integers(0, 2)),
            "reuse": draw(st.booleans()),
            "idle-timeout": draw(st.sampled_from([0, 60, 600])),
        }
        for n in configured
    ]
    cfg = Config.model_validate(
        {
            "controllers": [{"name": "main", "url": "http://j/"}, {"name": "other", "url": "http://k/"}],
            "labels": labels,
            "limits": {"launches-per-second": 1000, "max-agents": 1000, "boot-timeout": 300},
        }
    )
    ages = st.one_of(st.floats(0, 1000), st.sampled_from([299.0, 299.5, 300.0, 300.5, 301.0, 599.5, 600.0, 60.0]))
    agents = [
        Agent(
            f"x{i:03d}",
            draw(st.sampled_from(LABELS)),
            draw(st.sampled_from(["main", "other"])),
            draw(st.sampled_from(list(AgentState))),
            NOW - draw(ages),
            NOW - draw(ages),
            used=draw(st.booleans()),
            retire_requested=draw(st.integers(0, 5)) == 0,
            comment=draw(st.sampled_from(["", "boom"])),
        )
        for i in range(draw(st.integers(0, 40)))
    ]
    demand = {n: draw(st.integers(0, 8)) for n in LABELS}
    seen = draw(st.one_of(st.none(), st.fixed_dictionaries({"main": st.floats(NOW - 400, NOW)})))
    return cfg, agents, demand, seen


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_the_plan_is_the_per_agent_reading(fleet: tuple[Config, list[Agent], dict[str, int], Any]) -> None:
    cfg, agents, demand, seen = fleet
    result = plan(
        agents=agents, demand=demand, config=cfg, backoff={}, bucket=TokenBucket(1000.0, NOW), now=NOW, seen=seen
    )
    retires, for_demand, for_min = reference(agents, demand, cfg, seen)
    assert sorted((r.name, r.reason, r.failed) for r in result.retires) == retires
    wanted = Counter(for_demand) + Counter(for_min)
    failing = {a.label for a in agents if any(r.failed and r.name == a.name for r in result.retires)}
    assert result.launches == {k: v for k, v in wanted.items() if k not in failing}
