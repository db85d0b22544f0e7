"""Why each queued build waits (autoscaler.engine.reasons), with a fake clock: the engine in
memory for the limits the planner meets, the pure functions for where an agent is."""

from __future__ import annotations

from typing import Any

from autoscaler.config.models import Config
from autoscaler.engine import failures, reasons
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import Command, DemandUpdate
from autoscaler.engine.runtime import Now
from autoscaler.engine.state import Agent, AgentState
from autoscaler.events import DemandItem, DemandReport
from autoscaler.plugin import DriverError
from autoscaler.testing.fakes import FakeClock, FakeController, FakeDriver, InlineExecutor


class World:
    def __init__(self, labels: list[dict[str, Any]] | None = None, **limits: Any) -> None:
        self.config = Config.model_validate(
            {
                "controllers": [{"name": "main", "url": "http://j/", "user": "u", "token": "t0ken"}],
                "labels": labels or [{"name": "python", "max": 5}],
                "limits": {"launches-per-second": 100, **limits},
            }
        )
        self.clock = FakeClock()
        self.driver = FakeDriver(self.clock)
        self.jenkins = FakeController()
        self.engine = Engine(self.config, self.driver, {"main": self.jenkins}, InlineExecutor(), clock=self.clock)

    def demand(self, *expressions: str, error: str | None = None) -> None:
        items = tuple(
            DemandItem(f"main:{i}", expression=e, since=self.clock() - 100 + i, what=f"job{i}")
            for i, e in enumerate(expressions)
        )
        report = None if error else DemandReport(items, "main")
        self.engine.submit(DemandUpdate("queue", "main", report, error=error))
        self.engine.drain()

    def ask(self, op: str, **args: Any) -> Any:
        command = Command(op, args)
        self.engine.submit(command)
        self.engine.drain()
        return command.reply.result(timeout=1)

    def kinds(self) -> dict[str, str]:
        return {i["key"]: i["reason"]["kind"] for i in self.ask("demand")["items"]}

    def limit(self, label: str = "python") -> str | None:
        limits: dict[str, str | None] = {p["label"]: p["blocked_by"] for p in self.ask("pools")}
        return limits[label]


def test_the_global_max_agents_is_named_when_it_binds_not_the_label_max() -> None:
    w = World([{"name": "python", "max": 4}], **{"max-agents": 3})
    w.demand(*["python"] * 10)
    assert len(w.engine.state.agents) == 3
    assert w.limit() == "max-agents"  # the planner's own note says "max": the label could take one more
    kinds = w.kinds()
    assert sorted(kinds.values()).count("max-agents") == 7
    assert sorted(kinds.values()).count("agent-booting") == 3


def test_the_label_max_is_named_when_the_label_is_full() -> None:
    w = World([{"name": "python", "max": 2}], **{"max-agents": 10})
    w.demand(*["python"] * 4)
    assert w.limit() == "max"
    assert "label python is at its max of 2 agents" in w.ask("why", q="main:3")["items"][0]["reason"]["text"]


def test_the_launch_rate_is_named_when_tokens_run_out() -> None:
    w = World([{"name": "python", "max": 10}], **{"launches-per-second": 0.01})
    w.demand(*["python"] * 3)
    assert len(w.engine.state.agents) == 1  # a burst of one
    assert w.limit() == "rate"
    w.clock.advance(100)  # one token again: the next planning pass launches
    assert reasons.label_limit(w.engine.state, w.config, w.engine.now(), w.config.labels[0]) is None


def test_a_backoff_names_the_failure_and_when_it_ends() -> None:
    w = World([{"name": "python", "max": 10}], **{"backoff-initial": "30s"})
    w.driver.fail_next.append(DriverError("image registry said no", transient=False))
    w.demand("python")
    assert w.engine.state.agents == {}
    (item,) = w.ask("why", q="job0")["items"]
    reason = item["reason"]
    assert reason["kind"] == "backoff"
    assert "launch failed: image registry said no" in reason["text"]
    assert "next launch in 30s" in reason["text"]
    assert reason["until"] is not None
    assert w.limit() == "backoff"
    assert w.engine.state.failure_reasons == {("python", "launch-error"): 1}


def test_no_label_and_unknown_demand_are_named() -> None:
    w = World()
    w.demand("linux && arm64", "python")
    kinds = w.kinds()
    assert kinds["main:0"] == "no-label"
    assert w.ask("why", q="0")["items"][0]["reason"]["text"] == "no configured label serves `linux && arm64`"
    w.demand(error="connection refused")
    item = w.ask("why", q="main:1")["items"][0]
    assert item["reason"]["kind"] == "demand-unknown"
    assert "listener queue cannot read its source (connection refused)" in item["reason"]["text"]


def test_an_item_jenkins_holds_is_answered_from_its_queue() -> None:
    w = World()

    class Queue(FakeController):
        def get_json(self, path: str) -> Any:
            assert path.startswith("queue/api/json")
            return {
                "items": [
                    {"id": 7, "why": "In the quiet period. Expires in 4.2 sec", "task": {"name": "deploy"}},
                    {"id": 8, "blocked": True, "why": "Blocked by ‘upstream’", "task": {"name": "pack"}},
                ]
            }

    w.engine.controllers["main"] = Queue()
    assert w.ask("why", q="deploy")["items"][0]["reason"]["kind"] == "jenkins-quiet-period"
    blocked = w.ask("why", q="8")["items"][0]["reason"]
    assert (blocked["kind"], blocked["text"]) == ("jenkins-blocked", "Jenkins blocks it: Blocked by ‘upstream’")
    assert w.ask("why", q="nothing")["items"][0]["reason"]["kind"] == "not-queued"


def _agent(state: AgentState, comment: str = "", since: float = 60.0) -> Agent:
    return Agent("ci-python-abc", "python", "main", state, 0.0, since, comment=comment)


def test_where_the_agent_launched_for_a_build_is() -> None:
    now = Now(100.0, 1_700_000_100.0)
    cases = {
        AgentState.REQUESTED: "agent-requested",
        AgentState.BOOTING: "agent-booting",
        AgentState.READY: "agent-online",
    }
    for state, kind in cases.items():
        assert reasons.agent_reason(_agent(state), now).kind == kind
    booting = reasons.agent_reason(_agent(AgentState.BOOTING), now)
    assert booting.text == "agent ci-python-abc is booting since 40s (not yet online in Jenkins)"
    unschedulable = reasons.agent_reason(
        _agent(AgentState.PENDING, "unschedulable: 0/3 nodes are available: 3 Insufficient cpu."), now
    )
    assert unschedulable.kind == "agent-unschedulable"
    assert "0/3 nodes are available: 3 Insufficient cpu." in unschedulable.text
    pulling = reasons.agent_reason(_agent(AgentState.PENDING, "pulling image jenkins/inbound-agent:3283"), now)
    assert pulling.kind == "agent-pulling-image"


def test_failures_are_classified_into_a_bounded_set() -> None:
    cases = {
        "failed before coming online: ErrImagePull: pull access denied for nope": "image-pull",
        "failed before coming online: pod failed (OOMKilled, exit code 137)": "oom-killed",
        "failed before coming online: Evicted: The node was low on resource: memory.": "evicted",
        "not online in Jenkins after 1m (pending: unschedulable: 0/1 nodes are available)": "unschedulable",
        "not online in Jenkins after 1m": "boot-timeout",
        "failed before coming online: exited with code 3": "exit-code",
        "something new": "other",
    }
    for text, reason in cases.items():
        assert failures.classify(text) == reason, text
        assert reason in failures.REASONS
    assert failures.explain("not online in Jenkins after 1m", "unschedulable: x", "pending") == (
        "not online in Jenkins after 1m (pending: unschedulable: x)"
    )


def test_a_jenkins_why_text_maps_to_a_kind() -> None:
    assert reasons.from_jenkins("Jenkins is about to shut down").kind == "jenkins-shutdown"
    assert reasons.from_jenkins("Build #3 is already in progress (ETA: 1 min)").kind == "jenkins-blocked"
    assert reasons.from_jenkins("Waiting for permission").kind == "jenkins-blocked"
    assert reasons.from_jenkins("something else").kind == "jenkins"
    assert all(k in reasons.KINDS for k in ("jenkins", "jenkins-blocked", "not-queued"))


def test_a_build_not_found_while_jenkins_cannot_be_read_is_unknown_demand() -> None:
    w = World()

    class Down(FakeController):
        def get_json(self, path: str) -> Any:
            raise OSError("connection refused")

    w.engine.controllers["main"] = Down()
    answer = w.ask("why", q="deploy")
    assert answer["items"][0]["reason"]["kind"] == "demand-unknown"
    assert "controller main: cannot read its queue: connection refused" in answer["items"][0]["reason"]["text"]
