"""The metrics: cumulative histograms, every family from the start, start-up by phase, exact
agent-seconds under a fake clock, and the boot time and backoff reset of agents that go
straight to busy."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from autoscaler.api.metrics import render
from autoscaler.config.models import Config
from autoscaler.engine import lifecycle
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import Command, DemandUpdate, DriverSeen, Tick
from autoscaler.engine.runtime import Now
from autoscaler.engine.state import Agent, AgentState, Backoff
from autoscaler.events import BuildFinished, BuildStarted, DemandItem, DemandReport, LifecycleHint
from autoscaler.metrics.families import PHASES
from autoscaler.plugin import AgentHandle, DriverStatus
from autoscaler.testing.fakes import FakeClock, FakeController, FakeDriver, InlineExecutor

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class World:
    def __init__(self) -> None:
        self.config = Config.model_validate(
            {
                "controllers": [{"name": "main", "url": "http://j/", "user": "u", "token": "t0ken"}],
                "labels": [{"name": "python", "max": 5}, {"name": "java", "max": 2}],
                "limits": {"launches-per-second": 100},
            }
        )
        self.clock = FakeClock()
        self.driver = FakeDriver(self.clock)
        self.jenkins = FakeController()
        self.engine = Engine(self.config, self.driver, {"main": self.jenkins}, InlineExecutor(), clock=self.clock)

    def send(self, message: Any) -> None:
        self.engine.submit(message)
        self.engine.drain()

    def ask(self, op: str, **args: Any) -> Any:
        command = Command(op, args)
        self.send(command)
        return command.reply.result(timeout=1)

    def demand(self, *expressions: str) -> None:
        items = tuple(DemandItem(f"main:{i}", expression=e) for i, e in enumerate(expressions))
        self.send(DemandUpdate("queue", "main", DemandReport(items, "main")))

    def online(self, name: str) -> None:
        self.jenkins.set(name, online=True)
        self.send(LifecycleHint("main"))

    def scrape(self) -> Samples:
        body, content_type = render(self.ask("metrics")["registry"])
        assert content_type.startswith("text/plain; version=")
        return parse(body.decode())


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_every_family_is_exported_at_zero_before_anything_happens() -> None:
    samples = World().scrape()
    assert value(samples, "autoscaler_launches_total", label="java") == 0
    assert value(samples, "autoscaler_agents", controller="main", label="python", state="busy") == 0
    assert value(samples, "autoscaler_demand", controller="main", label="python") == 0
    assert value(samples, "autoscaler_oldest_waiting_seconds", controller="main", label="python") == 0
    assert value(samples, "autoscaler_leaked_agents_total", label="java") == 0
    assert value(samples, "autoscaler_agent_failures_total", label="python", reason="image-pull") == 0
    assert value(samples, "autoscaler_io_errors_total", target="jenkins") == 0
    assert value(samples, "autoscaler_boot_seconds_count") == 0
    assert value(samples, "autoscaler_queue_to_launch_seconds_count") == 0
    for state in ("booting", "idle", "busy"):
        assert value(samples, "autoscaler_agent_seconds_total", controller="main", label="java", state=state) == 0
    for phase in PHASES:
        labels = {"controller": "main", "label": "python", "phase": phase}
        assert value(samples, "autoscaler_agent_startup_seconds_count", **labels) == 0
        assert value(samples, "autoscaler_agent_startup_seconds_bucket", le="+Inf", **labels) == 0
    (info,) = [k for k in samples if k[0] == "autoscaler_build_info"]
    assert samples[info] == 1 and dict(info[1])["version"]


def test_a_histogram_never_decreases_over_20000_observations() -> None:
    w = World()
    rt = w.engine.state
    previous: Samples = {}
    for i in range(20_000):
        t = float(i)
        agent = Agent(f"a{i}", "python", "main", AgentState.BOOTING, t - (i % 400) / 10, t)
        lifecycle.came_online(rt, agent, Now(t, t))
        if i % 500 == 499:
            buckets = {k: v for k, v in w.scrape().items() if k[0].startswith("autoscaler_boot_seconds")}
            for key, count in previous.items():
                assert buckets[key] >= count, f"{key} went down after {i + 1} observations"
            previous = buckets
    assert value(previous, "autoscaler_boot_seconds_count") == 20_000
    assert value(previous, "autoscaler_boot_seconds_bucket", le="+Inf") == 20_000
    assert value(previous, "autoscaler_boot_seconds_bucket", le="10.0") == 20_000 * 101 // 400


def test_agent_seconds_are_exact_under_a_fake_clock() -> None:
    w = World()
    w.demand("python")
    (name,) = w.engine.state.agents
    w.clock.advance(5)
    w.online(name)  # booting 5 s
    w.clock.advance(7)
    w.jenkins.set(name, builds=("http://j/job/x/1/",))
    w.send(BuildStarted(name, "main", "x", 1, "http://j/job/x/1/", "zmq"))  # idle 7 s
    w.clock.advance(11)
    samples = w.scrape()  # busy so far: 11 s, counted at the scrape

    def seconds(samples: Samples, state: str) -> float:
        return value(samples, "autoscaler_agent_seconds_total", controller="main", label="python", state=state)

    assert (seconds(samples, "booting"), seconds(samples, "idle"), seconds(samples, "busy")) == (5, 7, 11)
    w.clock.advance(3)
    w.send(Tick())  # a tick counts too
    w.clock.advance(2)
    w.demand()
    w.jenkins.set(name, builds=())
    w.send(BuildFinished(name, "main", "x", 1, "http://j/job/x/1/", "SUCCESS", "zmq"))  # busy 16 s; retired
    assert w.engine.state.agents == {}
    w.clock.advance(100)
    samples = w.scrape()
    assert (seconds(samples, "booting"), seconds(samples, "idle"), seconds(samples, "busy")) == (5, 7, 16)
    assert w.engine.state.stats.tracked == {}  # gone, counted, forgotten


def test_phases_of_a_driver_that_cannot_see_scheduling() -> None:
    w = World()
    w.clock.advance(1)
    w.engine.state.demand.listeners.clear()
    w.demand("python")
    (name,) = w.engine.state.agents
    w.clock.advance(4)
    w.online(name)
    w.clock.advance(2)
    w.send(BuildStarted(name, "main", "x", 1, None, "zmq"))
    samples = w.scrape()

    def count(phase: str) -> float:
        labels = {"controller": "main", "label": "python", "phase": phase}
        return value(samples, "autoscaler_agent_startup_seconds_count", **labels)

    assert {p: count(p) for p in PHASES} == {
        "launch_requested": 1,
        "created": 1,
        "scheduled": 0,  # the fake driver, like the local one, cannot see it
        "running": 1,
        "online": 1,
        "build_started": 1,
    }
    labels = {"controller": "main", "label": "python"}
    assert value(samples, "autoscaler_agent_startup_seconds_sum", phase="online", **labels) == 4
    assert value(samples, "autoscaler_agent_startup_seconds_sum", phase="build_started", **labels) == 2
    (row,) = w.ask("agents")
    assert row["phases"]["scheduled"] is None
    assert row["phase_notes"] == {"scheduled": "the driver does not report this phase"}
    assert row["phases"]["online"]["seconds"] == 4


def test_an_agent_straight_to_busy_records_its_boot_and_resets_the_backoff() -> None:
    w = World()
    w.demand("python", "python")
    first, _ = w.engine.state.agents
    w.engine.state.backoff["python"] = Backoff(3, w.clock() + 600)  # other agents of it failed
    w.clock.advance(6)
    w.jenkins.set(first, online=True, builds=("http://j/job/x/1/",))
    w.send(BuildStarted(first, "main", "x", 1, "http://j/job/x/1/", "zmq"))  # busy before Jenkins was read
    assert w.engine.state.agents[first].state == AgentState.BUSY
    assert "python" not in w.engine.state.backoff
    assert list(w.engine.state.stats.boot_seconds) == [6]
    assert value(w.scrape(), "autoscaler_boot_seconds_count") == 1


def test_a_build_that_ended_before_jenkins_was_read_still_resets_the_backoff() -> None:
    w = World()
    w.demand("python", "python")
    first, _ = w.engine.state.agents
    w.engine.state.backoff["python"] = Backoff(3, w.clock() + 600)
    w.clock.advance(3)
    w.send(BuildFinished(first, "main", "x", 1, None, "SUCCESS", "zmq"))  # start event lost: it ran one
    assert "python" not in w.engine.state.backoff
    assert value(w.scrape(), "autoscaler_boot_seconds_count") == 1


def test_oldest_waiting_build_per_label_and_for_builds_no_label_serves() -> None:
    w = World()
    w.engine.config = w.config.model_copy(update={"limits": w.config.limits.model_copy(update={"max_agents": 0})})
    w.demand("python", "arm64")
    w.clock.advance(42)
    samples = w.scrape()
    assert value(samples, "autoscaler_oldest_waiting_seconds", controller="main", label="python") == 42
    assert value(samples, "autoscaler_oldest_waiting_seconds", controller="main", label="") == 42
    assert value(samples, "autoscaler_oldest_waiting_seconds", controller="main", label="java") == 0


def test_leaks_are_counted_per_label_agents_adopted_and_nodes_removed() -> None:
    w = World()
    w.send(DriverSeen([]))  # the start-up listing: everything found later is a leak
    w.driver.agents["ci-java-aaaaaa"] = AgentHandle("ci-java-aaaaaa", "java", "main", DriverStatus.RUNNING, w.clock())
    w.send(DriverSeen(w.driver.list()))
    w.send(DriverSeen(w.driver.list()))  # seen twice with no record: adopted
    w.jenkins.set("ci-python-zzzzzz", online=False)
    w.send(LifecycleHint("main"))
    w.send(LifecycleHint("main"))  # offline, idle, named like ours, twice: removed
    assert w.jenkins.deleted == ["ci-python-zzzzzz"]
    samples = w.scrape()
    assert value(samples, "autoscaler_leaked_agents_total", label="java") == 1
    assert value(samples, "autoscaler_leaked_agents_total", label="python") == 1
