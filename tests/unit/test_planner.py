"""The pure planner: tables of cases, then properties that must hold for any input."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.config.models import Config
from autoscaler.engine.planner import plan
from autoscaler.engine.state import Agent, AgentState, Backoff, TokenBucket

NOW = 10_000.0


def config(labels: list[dict[str, Any]], **limits: Any) -> Config:
    return Config.model_validate(
        {
            "controllers": [{"url": "http://j/"}],
            "labels": labels,
            "limits": {"launches-per-second": 1000, **limits},
        }
    )


def agent(
    name: str, label: str, state: AgentState, *, age: float = 0.0, in_state: float = 0.0, used: bool = False, **kw: Any
) -> Agent:
    return Agent(name, label, "main", state, NOW - age, NOW - in_state, used=used, **kw)


def run(
    cfg: Config,
    agents: list[Agent],
    demand: dict[str, int],
    *,
    backoff: dict[str, Backoff] | None = None,
    tokens: float = 1000.0,
) -> Any:
    return plan(
        agents=agents, demand=demand, config=cfg, backoff=backoff or {}, bucket=TokenBucket(tokens, NOW), now=NOW
    )


PY = {"name": "python", "max": 5}


def test_launches_one_agent_per_unit_of_demand() -> None:
    assert run(config([PY]), [], {"python": 3}).launches == {"python": 3}


def test_supply_in_flight_counts_against_demand() -> None:
    agents = [
        agent("a", "python", AgentState.REQUESTED),
        agent("b", "python", AgentState.BOOTING),
        agent("c", "python", AgentState.BUSY),
    ]
    assert run(config([PY]), agents, {"python": 3}).launches == {"python": 1}


def test_label_max_caps_launches_and_says_so() -> None:
    result = run(config([PY]), [agent("a", "python", AgentState.BUSY)], {"python": 9})
    assert result.launches == {"python": 4}
    assert result.blocked == {"python": "max"}


def test_min_ready_only_while_capacity_remains() -> None:
    cfg = config([{"name": "python", "max": 5, "min-ready": 2}, {"name": "java", "max": 5}], **{"max-agents": 3})
    result = run(cfg, [], {"java": 2})
    assert result.launches == {"java": 2, "python": 1}  # demand first, min-ready from what is left


def test_global_cap_is_shared_fairly() -> None:
    cfg = config([{"name": "a", "max": 50}, {"name": "b", "max": 50}, {"name": "c", "max": 50}], **{"max-agents": 9})
    existing = [agent(f"a{i}", "a", AgentState.BUSY) for i in range(3)]
    result = run(cfg, existing, {"a": 40, "b": 40, "c": 1})
    assert result.launches == {"b": 4, "a": 1, "c": 1}  # b catches up with a; c still gets its one
    assert sum(result.launches.values()) == 6


def test_launch_rate_limits_and_consumes_tokens() -> None:
    result = run(config([PY]), [], {"python": 5}, tokens=2.0)
    assert result.launches == {"python": 2}
    assert result.blocked == {"python": "rate"}
    assert result.bucket.tokens == 0


def test_backoff_blocks_a_label_but_not_others() -> None:
    cfg = config([PY, {"name": "java"}])
    result = run(cfg, [], {"python": 2, "java": 1}, backoff={"python": Backoff(1, NOW + 5)})
    assert result.launches == {"java": 1}
    assert result.blocked == {"python": "backoff"}


def test_one_shot_agent_is_retired_after_its_build() -> None:
    result = run(config([PY]), [agent("a", "python", AgentState.READY, used=True)], {})
    assert [(r.name, r.failed) for r in result.retires] == [("a", False)]


def test_reusable_agent_stays_until_idle_timeout() -> None:
    cfg = config([{"name": "python", "reuse": True, "idle-timeout": "10m"}])
    fresh = agent("a", "python", AgentState.READY, used=True, in_state=599)
    stale = agent("b", "python", AgentState.READY, used=True, in_state=601)
    assert [r.name for r in run(cfg, [fresh, stale], {}).retires] == ["b"]


def test_idle_agents_needed_by_demand_or_min_ready_are_kept() -> None:
    cfg = config([{"name": "python", "min-ready": 1, "idle-timeout": "1m"}])
    agents = [agent(n, "python", AgentState.READY, in_state=300) for n in "abc"]
    result = run(cfg, agents, {"python": 1})
    assert len(result.retires) == 1  # 3 idle, 1 wanted by demand, 1 by min-ready
    assert result.launches == {}


def test_boot_timeout_retires_as_failure() -> None:
    cfg = config([PY], **{"boot-timeout": "5m"})
    slow = agent("a", "python", AgentState.BOOTING, age=301)
    result = run(cfg, [slow], {"python": 1})
    assert [(r.name, r.failed) for r in result.retires] == [("a", True)]
    assert result.launches == {}  # a failure this round backs the label off before any relaunch
    assert result.blocked == {"python": "backoff"}


def test_failed_agents_are_cleaned_up_as_failures() -> None:
    result = run(config([PY]), [agent("a", "python", AgentState.FAILED, comment="exit 127")], {})
    assert [(r.name, r.reason, r.failed) for r in result.retires] == [("a", "exit 127", True)]


def test_busy_and_held_agents_are_never_retired() -> None:
    agents = [
        agent("a", "python", AgentState.BUSY, age=10_000, retire_requested=True),
        agent("b", "python", AgentState.HELD, age=10_000, used=True),
        agent("c", "gone-label", AgentState.BUSY),
    ]
    assert run(config([PY], **{"boot-timeout": "1s"}), agents, {}).retires == ()


def test_agents_of_a_removed_label_are_retired_when_idle() -> None:
    result = run(config([PY]), [agent("a", "old", AgentState.READY)], {})
    assert [r.reason for r in result.retires] == ["its label is no longer configured"]


def test_retiring_agents_still_count_against_caps() -> None:
    cfg = config([{"name": "python", "max": 2}])
    agents = [agent("a", "python", AgentState.RETIRING), agent("b", "python", AgentState.RETIRING)]
    assert run(cfg, agents, {"python": 2}).launches == {}


# -- properties ---------------------------------------------------------------------------------

STATES = list(AgentState)
LABELS = ["a", "b", "c"]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Config, list[Agent], dict[str, int], float]:
    labels = [
        {
            "name": n,
            "max": draw(st.integers(0, 6)),
            "min-ready": draw(st.integers(0, 2)),
            "reuse": draw(st.booleans()),
            "idle-timeout": draw(st.sampled_from([0, 60, 600])),
        }
        for n in LABELS
    ]
    cfg = config(labels, **{"max-agents": draw(st.integers(0, 12)), "boot-timeout": 300})
    count = draw(st.integers(0, 14))
    agents = [
        agent(
            f"x{i}",
            draw(st.sampled_from(LABELS)),
            draw(st.sampled_from(STATES)),
            age=draw(st.floats(0, 1000)),
            in_state=draw(st.floats(0, 1000)),
            used=draw(st.booleans()),
            retire_requested=draw(st.booleans()),
        )
        for i in range(count)
    ]
    demand = {n: draw(st.integers(0, 10)) for n in LABELS}
    tokens = draw(st.floats(0, 20))
    return cfg, agents, demand, tokens


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_caps_are_never_exceeded(scenario: tuple[Config, list[Agent], dict[str, int], float]) -> None:
    cfg, agents, demand, tokens = scenario
    result = run(cfg, agents, demand, tokens=tokens)
    launched = sum(result.launches.values())
    assert launched <= max(0, cfg.limits.max_agents - len(agents)) or launched == 0
    assert len(agents) + launched <= max(cfg.limits.max_agents, len(agents))
    assert launched <= int(tokens + 1e-9)
    for lab in cfg.labels:
        existing = sum(1 for a in agents if a.label == lab.name)
        assert result.launches.get(lab.name, 0) <= max(0, lab.max - existing)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_busy_held_and_retiring_agents_are_never_retired(
    scenario: tuple[Config, list[Agent], dict[str, int], float],
) -> None:
    cfg, agents, demand, tokens = scenario
    untouchable = {a.name for a in agents if a.state in (AgentState.BUSY, AgentState.HELD, AgentState.RETIRING)}
    retired = [r.name for r in run(cfg, agents, demand, tokens=tokens).retires]
    assert not untouchable & set(retired)
    assert len(retired) == len(set(retired))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 30), st.integers(1, 10), st.integers(1, 40))
def test_demand_is_eventually_served_when_capacity_exists(wanted: int, rate: int, cap: int) -> None:
    """Replaying the planner over time with a steady demand launches until demand is met."""
    cfg = Config.model_validate(
        {
            "controllers": [{"url": "http://j/"}],
            "labels": [{"name": "a", "max": cap}],
            "limits": {"launches-per-second": rate, "max-agents": cap},
        }
    )
    agents: list[Agent] = []
    bucket = TokenBucket(1.0, NOW)
    now = NOW
    for step in range(200):
        result = plan(agents=agents, demand={"a": wanted}, config=cfg, backoff={}, bucket=bucket, now=now)
        bucket = result.bucket
        for i in range(result.launches.get("a", 0)):
            agents.append(Agent(f"n{step}-{i}", "a", "main", AgentState.REQUESTED, now, now))
        now += 1.0
    assert len(agents) == min(wanted, cap)
