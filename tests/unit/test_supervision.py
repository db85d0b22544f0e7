"""The listener supervisor: restarts a loop that raises, gives up on one that keeps failing, reports
one that hangs; and ``/healthz`` over a real socket says which listener is unhealthy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from autoscaler.api.server import ApiServer
from autoscaler.config.models import ApiConfig, Config
from autoscaler.daemon import PluginCounters
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import Stop
from autoscaler.plugin import PluginContext
from autoscaler.supervision import Run, State, Supervisor
from autoscaler.testing.fakes import FakeController, FakeDriver, InlineExecutor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def idle(run: Run) -> None:
    run.stopping.wait()


def fast(clock: Callable[[], float] = time.monotonic, give_up_after: int = 10) -> Supervisor:
    return Supervisor(backoff_initial=0.01, backoff_max=0.05, give_up_after=give_up_after, clock=clock)


def test_a_loop_that_raises_is_restarted_and_its_error_recorded() -> None:
    sup = fast()
    runs: list[int] = []
    steady = threading.Event()

    def loop(run: Run) -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise RecursionError("maximum recursion depth exceeded")
        steady.set()
        run.stopping.wait()

    run = sup.supervise("zmq", loop)
    assert steady.wait(5)
    (health,) = sup.health()
    assert (health.state, health.restarts, health.up) == (State.RUNNING, 2, True)
    assert health.last_error is not None and health.last_error.startswith("RecursionError")
    assert 'autoscaler_listener_restarts_total{listener="zmq"} 2' in sup.render_metrics()
    run.stop()
    assert not run.thread.is_alive() and sup.health()[0].state is State.STOPPED


def test_a_loop_that_returns_on_its_own_is_restarted() -> None:
    sup = fast()
    calls: list[int] = []

    def loop(run: Run) -> None:
        calls.append(1)
        if len(calls) > 1:
            run.stopping.wait()

    run = sup.supervise("ce", loop)
    wait_for(lambda: len(calls) == 2)
    assert sup.health()[0].last_error == "the loop returned without being asked to stop"
    run.stop()


def test_a_loop_that_keeps_failing_is_given_up_and_fails_health() -> None:
    sup = fast(give_up_after=3)
    attempts: list[int] = []

    def loop(run: Run) -> None:
        attempts.append(1)
        raise ValueError("broken")

    run = sup.supervise("kafka", loop)
    run.thread.join(5)
    (health,) = sup.health()
    assert (health.state, len(attempts), health.restarts, health.healthy) == (State.FAILED, 3, 2, False)
    assert sup.report()["unhealthy"] == ["kafka"]
    assert 'autoscaler_listener_up{listener="kafka"} 0' in sup.render_metrics()


def test_a_loop_without_heartbeat_is_stale_until_it_beats_again() -> None:
    clock = Clock()
    sup = fast(clock)
    resume = threading.Event()
    beating = threading.Event()

    def loop(run: Run) -> None:
        resume.wait()  # hung in a call
        run.beat()
        beating.set()
        run.stopping.wait()

    run = sup.supervise("zmq", loop, stale_after=30)
    assert sup.unhealthy() == []
    clock.now += 31
    (health,) = sup.unhealthy()
    assert (health.name, health.state, health.stale, health.up) == ("zmq", State.RUNNING, True, False)
    resume.set()
    assert beating.wait(5)
    assert sup.unhealthy() == []
    run.stop()


def test_a_name_is_supervised_once_at_a_time() -> None:
    sup = fast()
    run = sup.supervise("zmq", idle)
    with pytest.raises(ValueError, match="already supervised"):
        sup.supervise("zmq", lambda r: None)
    run.stop()
    sup.supervise("zmq", idle).stop()  # after a stop, a new start is fine


def test_a_context_without_a_daemon_supervises_on_its_own() -> None:
    config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
    context = PluginContext(config=config, emit=lambda e: None)
    beat = threading.Event()

    def loop(run: Run) -> None:
        context.heartbeat("x")
        beat.set()
        run.stopping.wait()

    run = context.supervise("x", loop)
    assert beat.wait(5)
    assert [h.name for h in context.supervisor.health()] == ["x"]
    run.stop()


@pytest.fixture
def api() -> Iterator[tuple[str, Supervisor, Clock]]:
    config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
    engine = Engine(config, FakeDriver(), {"main": FakeController()}, InlineExecutor())
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    clock = Clock()
    sup = fast(clock, give_up_after=2)
    server = ApiServer(ApiConfig(listen="127.0.0.1:0"), engine, PluginCounters(), sup)
    server.start()
    yield f"http://127.0.0.1:{server.port}/healthz", sup, clock
    sup.stop_all()
    server.stop()
    engine.submit(Stop())
    thread.join(5)


def test_healthz_names_a_listener_dead_for_good_or_hung(api: tuple[str, Supervisor, Clock]) -> None:
    url, sup, clock = api
    sup.supervise("bus", idle, stale_after=10)
    assert requests.get(url, timeout=5).status_code == 200

    def poison(run: Run) -> None:
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")

    sup.supervise("zmq", poison).thread.join(5)
    reply = requests.get(url, timeout=5)
    assert reply.status_code == 503
    body = reply.json()
    assert body["unhealthy"] == ["zmq"]
    zmq = next(item for item in body["listeners"] if item["listener"] == "zmq")
    assert zmq["state"] == "failed" and zmq["last_error"].startswith("RecursionError")
    clock.now += 11  # "bus" made no progress for longer than its stale-after
    assert requests.get(url, timeout=5).json()["unhealthy"] == ["bus", "zmq"]
