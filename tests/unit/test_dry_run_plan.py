"""The plan ``run --once --dry-run`` prints, from a dry-run engine: agents by state, launches, and
what holds each label back (its max, max-agents, backoff), with the min-ready in force."""

from __future__ import annotations

from autoscaler.cli.dry_run import plan_rows, plan_text
from autoscaler.config.models import Config
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import DemandUpdate
from autoscaler.engine.state import Agent, AgentState, Backoff
from autoscaler.events import DemandItem, DemandReport
from autoscaler.testing.fakes import FakeClock, FakeController, FakeDriver, InlineExecutor


def engine(max_agents: int = 20) -> Engine:
    config = Config.model_validate(
        {
            "controllers": [{"name": "main", "url": "http://j/", "user": "u", "token": "t0ken"}],
            "labels": [
                {"name": "python", "max": 3},
                {"name": "java", "max": 10},
                {"name": "go", "max": 10, "schedule": [{"periods": ["* * * * *"], "min-ready": 2}]},
            ],
            "limits": {"launches-per-second": 100, "max-agents": max_agents},
        }
    )
    clock = FakeClock()
    return Engine(config, FakeDriver(clock), {"main": FakeController()}, InlineExecutor(), clock=clock, dry_run=True)


def demand(e: Engine, *labels: str) -> None:
    items = tuple(DemandItem(f"main:{i}", expression=label) for i, label in enumerate(labels))
    e.submit(DemandUpdate("queue", "main", DemandReport(items, "main")))
    e.drain()


def agent(e: Engine, name: str, label: str, state: AgentState) -> None:
    now = e.clock()
    e.state.agents[name] = Agent(name, label, "main", state, now, now)


def test_agents_by_state_launches_and_what_holds_each_label_back() -> None:
    e = engine()
    agent(e, "ci-python-a", "python", AgentState.BUSY)
    agent(e, "ci-python-b", "python", AgentState.READY)
    e.state.backoff["java"] = Backoff(2, e.clock() + 40)
    demand(e, "python", "python", "python", "python", "java")
    rows = {r["label"]: r for r in plan_rows(e.state, e.config, e.now())}
    assert e.driver.launched == []  # type: ignore[attr-defined]  # a dry run launches nothing
    python, java, go = rows["python"], rows["java"], rows["go"]
    assert (python["demand"], python["agents"], python["launches"]) == (4, {"busy": 1, "ready": 1}, 1)
    assert python["held_back_by"] == "max" and "max of 3 agents" in python["held_back"]
    assert (java["demand"], java["agents"], java["launches"], java["held_back_by"]) == (1, {}, 0, "backoff")
    assert "backing off after 2 failures" in java["held_back"] and "40s" in java["held_back"]
    assert (go["launches"], go["min_ready"], go["min_ready_source"], go["held_back"]) == (
        2,
        2,
        'schedule[0] "* * * * *" UTC',
        None,
    )
    text = plan_text(list(rows.values())).splitlines()
    assert text[2].split()[:6] == ["python", "4", "busy=1", "ready=1", "0", "1"]
    assert text[4].split() == ["go", "0", "-", "2", "2", "0", "-"]
    assert text[5] == '  go: min-ready 2 from schedule[0] "* * * * *" UTC'


def test_max_agents_holds_a_label_back() -> None:
    e = engine(max_agents=2)
    agent(e, "ci-java-a", "java", AgentState.BUSY)
    demand(e, "java", "java", "java")
    rows = {r["label"]: r for r in plan_rows(e.state, e.config, e.now())}
    assert (rows["java"]["launches"], rows["go"]["launches"]) == (1, 0)
    assert rows["java"]["held_back_by"] == "max-agents"
    assert "max-agents (2 agents in all labels" in rows["java"]["held_back"]
