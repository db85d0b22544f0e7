"""The engine end to end in memory: events in, driver and Jenkins calls out, with a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.config.models import Config
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import Command, ComputersSeen, DemandUpdate, DriverSeen, Launched, Reconcile, Tick
from autoscaler.engine.state import AgentState
from autoscaler.events import AgentChanged, BuildFinished, BuildStarted, DemandItem, DemandReport, LifecycleHint
from autoscaler.plugin import AgentHandle, DriverError, DriverStatus
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
        self.engine = Engine(
            self.config,
            self.driver,
            {"main": self.jenkins},
            InlineExecutor(),
            clock=self.clock,
            credentials={"main": "t0ken"},
        )

    def send(self, message: Any) -> None:
        self.engine.submit(message)
        self.engine.drain()

    def demand(self, *expressions: str, observed_at: float | None = None, listener: str = "queue") -> None:
        items = tuple(DemandItem(f"main:{i}", expression=e) for i, e in enumerate(expressions))
        self.send(DemandUpdate(listener, "main", DemandReport(items, "main"), observed_at=observed_at))

    def online(self, *names: str) -> None:
        for name in names:
            self.jenkins.set(name, online=True)
        self.send(LifecycleHint("main"))

    def states(self) -> dict[str, AgentState]:
        return {a.name: a.state for a in self.engine.state.agents.values()}

    def ask(self, op: str, **args: Any) -> Any:
        command = Command(op, args)
        self.send(command)
        return command.reply.result(timeout=1)


def test_full_lifecycle_of_a_one_shot_agent() -> None:
    w = World()
    w.demand("python")
    (name,) = w.states()
    assert w.states() == {name: AgentState.BOOTING}
    spec = w.driver.launched[0]
    assert (spec.name, spec.label.name, spec.credential) == (name, "python", "t0ken")
    assert name.startswith("ci-python-") and len(name) == len("ci-python-") + 6

    w.online(name)
    assert w.states() == {name: AgentState.READY}

    w.jenkins.set(name, builds=("http://j/job/x/1/",))
    w.send(BuildStarted(name, "main", "x", 1, "http://j/job/x/1/", "zmq"))
    assert w.states() == {name: AgentState.BUSY}
    assert w.jenkins.offline_calls == [name]  # taken offline at build start

    w.demand()  # the item left the queue
    w.jenkins.set(name, builds=())
    w.send(BuildFinished(name, "main", "x", 1, "http://j/job/x/1/", "SUCCESS", "zmq"))
    assert w.states() == {}
    assert w.driver.deleted == [name]
    assert w.jenkins.offline_calls == [name]  # never toggled twice
    assert len(w.driver.launched) == 1


def test_a_computer_read_that_began_before_a_build_started_does_not_end_it() -> None:
    """/computer read on the wire while the build-started event arrives: it shows the node idle,
    but the build began after the read did. Taking that for "build finished" retired one-shot
    agents in the middle of their build."""
    w = World()
    w.demand("python")
    (name,) = w.states()
    w.online(name)
    read_began = w.clock()
    idle_view = w.jenkins.computers()  # what the read will answer: the node idle
    w.clock.advance(0.5)
    w.jenkins.set(name, builds=("http://j/job/x/1/",))
    w.send(BuildStarted(name, "main", "x", 1, "http://j/job/x/1/", "zmq"))
    assert w.states() == {name: AgentState.BUSY}
    w.send(ComputersSeen("main", idle_view, observed_at=read_began))
    w.send(Tick())
    assert w.states() == {name: AgentState.BUSY}
    assert w.driver.deleted == []
    # not even a retirement attempt that Jenkins' "not idle" answer would have stopped
    kinds = [e["kind"] for e in w.engine.state.history if e["agent"] == name]
    assert "idle" not in kinds and "retiring" not in kinds, kinds
    # a read that began after the build started and shows it idle: the build is over
    w.demand()
    w.jenkins.set(name, builds=())
    w.clock.advance(0.5)
    w.send(ComputersSeen("main", w.jenkins.computers(), observed_at=w.clock()))
    assert w.driver.deleted == [name]


def test_the_create_calls_answer_does_not_hide_what_a_watch_event_told_first() -> None:
    """A watch event (Pending: unschedulable) can beat the create call's answer (Pending, nothing
    more) to the engine; the agent must still say where it is stuck."""
    w = World()
    w.demand("python")
    (name,) = w.states()
    w.engine.state.agents[name].state = AgentState.REQUESTED  # as while its create call is in flight
    stuck = AgentHandle(name, "python", "main", DriverStatus.PENDING, w.clock(), detail="unschedulable: 0/3 nodes")
    pending = AgentHandle(name, "python", "main", DriverStatus.PENDING, w.clock(), detail="pending")
    w.send(AgentChanged(stuck))
    w.send(Launched(name, pending))
    assert w.states() == {name: AgentState.PENDING}
    assert w.engine.state.agents[name].comment == "unschedulable: 0/3 nodes"


def test_a_stale_queue_report_does_not_launch_twice() -> None:
    w = World()
    w.demand("python")
    (name,) = w.states()
    w.online(name)
    w.jenkins.set(name, builds=("b1",))
    read_before_start = w.clock() - 0.1
    w.clock.advance(1)
    w.send(BuildStarted(name, "main", "x", 1, None, "zmq"))
    w.demand("python", observed_at=read_before_start)  # this poll began before the build started
    assert len(w.driver.launched) == 1
    w.clock.advance(1)
    w.demand("python", observed_at=w.clock())  # a fresh poll still sees work queued: a new agent
    assert len(w.driver.launched) == 2


def test_events_for_nodes_we_do_not_own_are_ignored_exactly() -> None:
    w = World()
    w.demand("python")
    (name,) = w.states()
    w.online(name)
    w.send(BuildStarted(name + "x", "main", "x", 1, None, "zmq"))
    w.send(BuildStarted(name[:-1], "main", "x", 1, None, "zmq"))
    w.send(BuildStarted(name, "other-controller", "x", 1, None, "zmq"))
    assert w.states() == {name: AgentState.READY}


def test_pipeline_agents_are_followed_through_computer() -> None:
    w = World()
    w.demand("python")
    (name,) = w.states()
    w.online(name)
    w.jenkins.set(name, builds=("http://j/job/p/3/",))
    w.send(Tick())  # one-shot agents online: /computer is read every tick
    assert w.states() == {name: AgentState.BUSY}
    assert w.jenkins.offline_calls == [name]
    w.demand()
    w.jenkins.set(name, builds=())
    w.send(LifecycleHint("main"))  # the pipeline's onFinalized names no agent
    assert w.states() == {}
    assert w.driver.deleted == [name]


def test_restart_adopts_running_agents_without_launching_again() -> None:
    w = World()
    w.driver.agents["ci-python-aaaaaa"] = AgentHandle(
        "ci-python-aaaaaa", "python", "main", DriverStatus.RUNNING, w.clock() - 60
    )
    w.jenkins.set("ci-python-aaaaaa", online=True, builds=("b",))
    w.send(DriverSeen(w.driver.list()))
    assert w.states() == {"ci-python-aaaaaa": AgentState.BUSY}
    w.demand("python")
    assert w.driver.launched == []  # the busy one took the item; a fresh poll is needed to count it
    assert w.engine.state.stats.adopted == 1


def test_agents_that_die_before_coming_online_fail_and_back_off() -> None:
    w = World(**{"backoff-initial": "10s"})
    w.demand("python")
    (name,) = w.states()
    w.driver.set_status(name, DriverStatus.EXITED, "exited with code 127")
    w.send(Reconcile())
    assert w.states() == {}
    assert w.driver.deleted == [name]
    assert w.engine.state.backoff["python"].failures == 1
    w.demand("python", "python")
    assert len(w.driver.launched) == 1  # backing off: no launch storm
    w.clock.advance(11)
    w.send(Tick())
    assert len(w.driver.launched) == 3


def test_permanent_launch_errors_back_off_transient_ones_do_not() -> None:
    w = World()
    w.driver.fail_next = [DriverError("quota exceeded", transient=True)]
    w.demand("python")
    assert w.states() == {}
    assert w.engine.state.backoff["python"].failures == 0  # a pause, not a growing backoff
    w.driver.fail_next = [DriverError("no such image", transient=False)]
    w.clock.advance(11)
    w.send(Tick())
    assert w.states() == {}
    assert w.engine.state.backoff["python"].failures == 1
    w.clock.advance(11)
    w.send(Tick())
    assert len(w.states()) == 1


def test_hold_protects_until_released_or_expired() -> None:
    w = World()
    w.demand("python")
    (name,) = w.states()
    w.online(name)
    w.demand()
    row = w.ask("hold", name=name, reason="debugging", seconds=3600)
    assert row["state"] == "held" and row["hold_reason"] == "debugging"
    w.send(BuildFinished(name, "main", "x", 1, None, "SUCCESS", "zmq"))
    w.clock.advance(1800)
    w.send(Tick())
    assert w.states() == {name: AgentState.HELD}
    w.clock.advance(1801)
    w.send(Tick())  # the hold expired: the used one-shot agent is retired
    assert w.states() == {}


def test_delete_waits_for_the_build_unless_now() -> None:
    w = World()
    w.demand("python", "python")
    a, b = sorted(w.states())
    w.online(a, b)
    for name in (a, b):
        w.jenkins.set(name, builds=("x",))
    w.send(LifecycleHint("main"))
    w.ask("delete", name=a)
    assert w.states()[a] == AgentState.BUSY
    w.ask("delete", name=b, now=True)
    assert b in w.driver.deleted
    with pytest.raises(LookupError):
        w.ask("delete", name="nope")


def test_a_build_that_lands_during_retirement_keeps_the_agent() -> None:
    w = World(labels=[{"name": "python", "reuse": True, "idle-timeout": "1m"}])
    w.demand("python")
    (name,) = w.states()
    w.online(name)
    w.demand()
    w.clock.advance(61)
    w.jenkins.nodes[name] = w.jenkins.nodes[name].__class__(name, False, False, False, 1, frozenset(), ("late",))
    w.send(Tick())  # idle on our books, but Jenkins just gave it a build
    assert w.states() == {name: AgentState.BUSY}
    assert w.driver.deleted == []


def test_lingering_nodes_are_deleted_after_two_passes() -> None:
    w = World()
    w.jenkins.set("ci-python-zzzzzz", online=False)
    w.jenkins.set("ci-python-placeholder", online=False)
    w.jenkins.set("static-builder", online=False)
    w.send(LifecycleHint("main"))
    assert w.jenkins.deleted == []
    w.send(LifecycleHint("main"))
    assert w.jenkins.deleted == ["ci-python-zzzzzz"]


def test_jenkins_down_is_survived_and_demand_kept() -> None:
    w = World()
    w.demand("python")
    w.jenkins.down = True
    w.send(LifecycleHint("main"))
    w.send(DemandUpdate("queue", "main", None, "connection refused"))
    assert w.engine.state.demand.per_label() == {"python": 1}
    assert w.engine.state.stats.errors["jenkins"] == 1
    assert len(w.engine.state.agents) == 1


def test_demand_from_two_listeners_on_one_controller_merges_by_max() -> None:
    w = World(labels=[{"name": "python", "max": 10}])
    w.demand("python", "python", listener="queue")
    w.demand("python", "python", "python", listener="cloudevents")
    assert w.engine.state.demand.per_label() == {"python": 3}
    assert len(w.driver.launched) == 3


def test_expressions_are_served_by_the_label_whose_atoms_satisfy_them() -> None:
    w = World(labels=[{"name": "python"}, {"name": "docker", "atoms": ["linux"]}])
    w.demand("linux&&docker", "docker||windows", "python&&linux", "!!python")
    assert w.engine.state.demand.per_label() == {"docker": 2, "python": 1}
    served = w.ask("demand")
    assert [i["wants"] for i in served["items"] if i["label"] is None] == ["python&&linux"]


def test_views_use_state_names_and_iso_times() -> None:
    w = World()
    w.demand("python")
    (row,) = w.ask("agents")
    assert row["state"] == "booting"
    assert row["created"].endswith("Z") and "T" in row["created"]
    (pool,) = w.ask("pools")
    assert (pool["label"], pool["demand"], pool["booting"]) == ("python", 1, 1)


def test_demand_queued_on_another_controller_is_not_this_controllers_pools() -> None:
    w = World(labels=[{"name": "python", "max": 10}])  # its agents join "main" only
    for controller in ("main", "second"):
        items = tuple(DemandItem(f"{controller}:{i}", expression="python") for i in range(2))
        w.send(DemandUpdate(f"queue-{controller}", controller, DemandReport(items, controller)))
    assert w.engine.state.demand.per_label() == {"python": 2}


def test_a_hold_outlives_a_restart() -> None:
    w = World()
    w.demand("python")
    (name,) = w.states()
    w.online(name)
    w.ask("hold", name=name, reason="core dump", seconds=600)
    w.send(BuildFinished(name, "main", "x", 1, None, "SUCCESS", "zmq"))  # used: would be retired if not held
    restarted = Engine(w.config, w.driver, {"main": w.jenkins}, InlineExecutor(), clock=w.clock)
    restarted.submit(DriverSeen(w.driver.list()))
    restarted.drain()
    agent = restarted.state.agents[name]
    assert (agent.state, agent.hold_reason, agent.hold_until) == (AgentState.HELD, "core dump", w.clock() + 600)
    restarted.submit(Command("release", {"name": name}))
    restarted.drain()
    assert w.driver.agents[name].hold_reason is None


def test_queue_to_launch_latency_is_taken_from_the_oldest_waiting_item() -> None:
    w = World(labels=[{"name": "python", "max": 2}])
    now = w.clock()
    items = tuple(DemandItem(f"main:{i}", expression="python", since=now - age) for i, age in enumerate((5, 30, 10)))
    w.send(DemandUpdate("queue", "main", DemandReport(items, "main")))
    assert list(w.engine.state.stats.queue_to_launch) == [30, 10]  # two launches (max 2): the two oldest items
    w.send(DemandUpdate("queue", "main", DemandReport(items, "main")))
    assert list(w.engine.state.stats.queue_to_launch) == [30, 10]  # the same items are not served twice


def test_a_booting_one_shot_agent_is_watched_so_its_first_pipeline_build_is_caught() -> None:
    w = World()
    w.demand("python")
    (name,) = w.states()
    assert w.states() == {name: AgentState.BOOTING}
    w.jenkins.set(name, online=True, builds=("http://j/job/p/1/",))  # online and busy between two looks
    w.send(Tick())  # no event names it (a pipeline): the tick's /computer read must
    assert w.states() == {name: AgentState.BUSY}
    assert w.jenkins.offline_calls == [name]


def test_an_inbound_agents_node_is_registered_before_the_driver_launches_it() -> None:
    from autoscaler.inbound import node_secret_of

    w = World(labels=[{"name": "java", "connect": "inbound", "max": 5}])
    w.demand("java")
    (spec,) = w.driver.launched
    assert spec.name in w.jenkins.nodes and node_secret_of(spec)  # the driver got the node's secret
    w.driver.fail_next = [DriverError("no capacity", transient=True)]
    w.clock.advance(60)
    w.demand("java", "java")
    assert len(w.driver.launched) == 1  # the second launch failed...
    assert set(w.jenkins.nodes) == {spec.name} and len(w.jenkins.deleted) == 1  # ...and its node was removed
