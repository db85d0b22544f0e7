"""Fault rows at the engine's level: a fake controller and driver, a clock the test controls.
The same rows run over real sockets against the simulated Jenkins in test_jenkins_faults.py."""

from __future__ import annotations

import requests

from autoscaler.engine.messages import DemandUpdate, Reconcile, Reload, Tick
from autoscaler.engine.state import AgentState
from autoscaler.events import BuildFinished, BuildStarted, DemandItem, DemandReport, LifecycleHint
from autoscaler.jenkins.client import JenkinsError
from autoscaler.plugin import AgentHandle, DriverStatus
from autoscaler.testing.fakes import FakeClock, FakeController, FakeDriver
from tests.unit.test_engine import World


def one_shot_busy(w: World) -> str:
    w.demand("python")
    (name,) = w.states()
    w.online(name)
    w.jenkins.set(name, builds=("http://j/job/x/1/",))
    return name


def test_a_failed_take_offline_is_retried_until_jenkins_confirms() -> None:
    w = World()
    name = one_shot_busy(w)
    w.jenkins.fail_next["take_offline"] = [JenkinsError("main: toggleOffline: HTTP 403", transient=False)]
    w.send(BuildStarted(name, "main", "x", 1, "http://j/job/x/1/", "zmq"))
    assert not w.jenkins.nodes[name].temporarily_offline  # the first try failed
    w.send(Tick())
    assert w.jenkins.nodes[name].temporarily_offline  # retried: Jenkins hands it no second build
    assert w.jenkins.offline_calls == [name]


def test_a_node_put_back_online_while_busy_is_taken_offline_again() -> None:
    w = World()
    name = one_shot_busy(w)
    w.send(BuildStarted(name, "main", "x", 1, "http://j/job/x/1/", "zmq"))
    w.jenkins.set(name, temporarily_offline=False)  # a Jenkins restart forgot it
    w.send(LifecycleHint("main"))
    assert w.jenkins.nodes[name].temporarily_offline
    assert w.jenkins.offline_calls == [name, name]


def test_an_agent_is_not_stopped_while_jenkins_cannot_confirm_it_idle() -> None:
    w = World()
    name = one_shot_busy(w)
    w.send(BuildStarted(name, "main", "x", 1, "http://j/job/x/1/", "zmq"))
    w.jenkins.down = True
    w.demand()
    w.send(BuildFinished(name, "main", "x", 1, None, "SUCCESS", "zmq"))  # retire: Jenkins cannot be asked
    assert w.driver.deleted == []
    assert w.states() == {name: AgentState.RETIRING}
    w.jenkins.down = False
    w.jenkins.set(name, builds=())
    w.clock.advance(60)
    w.send(Tick())  # retried with backoff once Jenkins answers
    assert w.driver.deleted == [name]
    assert w.states() == {}


def test_boot_timeout_waits_for_a_reading_of_jenkins() -> None:
    w = World(**{"boot-timeout": "5m"})
    w.demand("python")
    (name,) = w.states()
    w.jenkins.down = True  # 401 after a token rotation, 500, 503: /computer cannot be read
    w.clock.advance(600)
    w.send(Tick())
    assert w.states() == {name: AgentState.BOOTING}
    assert w.driver.deleted == [] and w.engine.state.backoff == {}
    w.jenkins.down = False
    w.jenkins.set(name, online=True, builds=("http://j/job/x/1/",))  # it was busy all along
    w.send(Tick())
    assert w.states() == {name: AgentState.BUSY}
    assert w.driver.deleted == []


def test_an_unexpected_exception_in_a_worker_still_reports_back() -> None:
    w = World()
    w.demand("python")
    (name,) = w.states()
    w.jenkins.fail_next["computers"] = [requests.exceptions.ChunkedEncodingError("connection reset mid-chunk")]
    w.send(LifecycleHint("main"))
    assert w.engine.state.stats.errors["jenkins"] == 1
    w.jenkins.set(name, online=True)
    w.send(LifecycleHint("main"))  # /computer is read again: no in-flight marker left behind
    assert w.states() == {name: AgentState.READY}


def test_an_unexpected_exception_while_retiring_is_retried() -> None:
    w = World()
    name = one_shot_busy(w)
    w.send(BuildStarted(name, "main", "x", 1, "http://j/job/x/1/", "zmq"))
    w.demand()
    w.jenkins.set(name, builds=())
    w.jenkins.fail_next["node"] = [ValueError("Expecting value: line 1 column 1 (char 0)")]
    w.send(BuildFinished(name, "main", "x", 1, None, "SUCCESS", "zmq"))
    assert w.states() == {name: AgentState.RETIRING}
    assert "ValueError" in w.engine.state.agents[name].comment
    w.clock.advance(60)
    w.send(Tick())
    assert w.states() == {} and w.driver.deleted == [name]


def test_a_disconnected_agent_is_not_supply_and_is_replaced() -> None:
    w = World(labels=[{"name": "python", "reuse": True, "idle-timeout": "10m"}], **{"boot-timeout": "2m"})
    w.demand("python")
    (first,) = w.states()
    w.online(first)
    w.jenkins.set(first, online=False)  # lost its connection: Jenkins will not give it a build
    w.send(LifecycleHint("main"))
    assert w.states()[first] == AgentState.DISCONNECTED
    assert len(w.driver.launched) == 2  # the queued build gets another agent
    w.clock.advance(121)
    w.send(Reconcile())  # the next reading of Jenkins still shows it disconnected
    assert first not in w.states() and first in w.driver.deleted


def test_a_vanished_node_is_not_supply() -> None:
    w = World(labels=[{"name": "python", "reuse": True, "idle-timeout": "10m"}])
    w.demand("python")
    (first,) = w.states()
    w.online(first)
    del w.jenkins.nodes[first]  # deleted in Jenkins by hand
    w.send(LifecycleHint("main"))
    assert w.states()[first] == AgentState.DISCONNECTED
    assert len(w.driver.launched) == 2


def test_a_disconnected_agent_that_comes_back_is_ready_again() -> None:
    w = World(labels=[{"name": "python", "reuse": True, "idle-timeout": "10m"}])
    w.demand("python")
    (first,) = w.states()
    w.online(first)
    w.jenkins.set(first, online=False)
    w.send(LifecycleHint("main"))
    w.jenkins.set(first, online=True)
    w.send(LifecycleHint("main"))
    assert w.states()[first] == AgentState.READY


def test_a_reload_that_adds_a_controller_and_a_label_on_it_plans() -> None:
    w = World()
    second = FakeController(name="second")
    config = w.config.model_validate(
        {
            "controllers": [
                {"name": "main", "url": "http://j/", "user": "u", "token": "t0ken"},
                {"name": "second", "url": "http://k/", "user": "u", "token": "t1ken"},
            ],
            "labels": [{"name": "python", "max": 5}, {"name": "go", "controller": "second", "max": 2}],
            "limits": {"launches-per-second": 100},
        }
    )
    w.send(Reload(config, {"second": second}, {"second": "t1ken"}))
    w.demand("python")
    go = (DemandItem("second:1", expression="go"),)  # queued on the new controller, served by its pool
    w.send(DemandUpdate("queue-second", "second", DemandReport(go, "second")))
    launched = {(spec.label.name, spec.controller.name, spec.credential) for spec in w.driver.launched}
    assert launched == {("python", "main", "t0ken"), ("go", "second", "t1ken")}


def test_wall_clock_steps_change_no_timer() -> None:
    w = World(**{"boot-timeout": "5m"})
    wall = FakeClock(w.clock())
    w.engine.wall = wall
    w.demand("python")
    (name,) = w.states()
    wall.advance(86_400)  # the wall clock jumps a day ahead: no boot timeout on the engine's clock
    w.send(Tick())
    assert w.states() == {name: AgentState.BOOTING}
    wall.advance(-2 * 86_400)
    w.clock.advance(301)  # five minutes pass on the engine's clock
    w.send(Tick())
    assert w.states() == {}  # the timeout fires on time whatever the wall clock did


def test_adoption_converts_wall_times_to_the_engine_clock() -> None:
    w = World(**{"boot-timeout": "5m"})
    w.engine.wall = lambda: 1_800_000_000.0
    w.driver.agents["ci-python-aaaaaa"] = AgentHandle(
        "ci-python-aaaaaa", "python", "main", DriverStatus.RUNNING, 1_800_000_000.0 - 60
    )
    w.send(Reconcile())
    agent = w.engine.state.agents["ci-python-aaaaaa"]
    assert agent.created == w.clock() - 60  # a minute old on the engine's clock
    (row,) = w.ask("agents")
    assert row["created"] == "2027-01-15T07:59:00Z" and row["age_seconds"] == 60


class RegistersDuringTheCheck(FakeController):
    """An agent that registers, and is handed a build, right after Jenkins said it had no node:
    unless the driver froze it first."""

    driver: FakeDriver | None = None

    def take_offline(self, name: str, message: str) -> bool:
        answer = super().take_offline(name, message)
        if self.driver is not None and name in self.driver.agents and name not in self.driver.frozen:
            self.set(name, online=True, builds=("http://j/job/x/9/",))
        return answer


def test_an_agent_retired_before_coming_online_is_frozen_before_jenkins_is_asked() -> None:
    w = World(**{"boot-timeout": "1m"})
    racing = RegistersDuringTheCheck()
    racing.driver = w.driver
    w.engine.controllers["main"] = racing
    w.demand("python")
    (name,) = w.states()
    w.clock.advance(61)
    w.send(Tick())  # boot timeout: retired; Jenkins has no node for it when asked
    assert name not in racing.nodes  # it could not register between the answer and its stop
    assert name in w.driver.deleted and w.driver.freezes == 1
