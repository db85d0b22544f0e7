"""A listener plugin that raises or hangs, in start() or in poll(), never stops the daemon, and a
poll that hangs makes its demand unknown (kept, not zero) instead of silently stale."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler import DemandListener, DemandReport, ListenerSettings
from autoscaler.config.loader import load_config
from autoscaler.daemon import Daemon
from autoscaler.discovery import PluginInfo, Registry
from autoscaler.engine.messages import Command
from autoscaler.events import DemandItem
from tests.e2e.harness import write

RELEASE = threading.Event()


class StuckSettings(ListenerSettings):
    mode: str = "hang-poll"


class StuckListener(DemandListener):
    """Reports one python build, then misbehaves as its ``mode`` says."""

    settings_model = StuckSettings
    settings: StuckSettings
    polls = 0

    @property
    def interval(self) -> float:
        return 0.05

    def start(self) -> None:
        if self.settings.mode == "hang-start":
            RELEASE.wait(30)
        if self.settings.mode == "raise-start":
            raise RuntimeError("cannot start")

    def poll(self) -> DemandReport:
        type(self).polls += 1
        if self.settings.mode == "raise-poll":
            raise RecursionError("maximum recursion depth exceeded")
        if self.settings.mode == "hang-poll" and type(self).polls > 1:
            RELEASE.wait(30)
        return DemandReport((DemandItem("main:1", expression="python"),), None)


def registry() -> Registry:
    stuck = PluginInfo("demand", "stuck", "tests:StuckListener", "tests", "0", StuckListener, None)
    return Registry([*Registry.discover().plugins, stuck])


@pytest.fixture
def make(tmp_path: Path) -> Iterator[object]:
    daemons: list[Daemon] = []
    RELEASE.clear()
    StuckListener.polls = 0

    def build(mode: str) -> Daemon:
        config = {
            "controllers": [{"name": "main", "url": "http://127.0.0.1:9/", "user": "u", "token": "t"}],
            "driver": {"type": "local", "work-dir": str(tmp_path / "agents")},
            "demand-listeners": [{"name": "stuck", "type": "stuck", "mode": mode}],
            "labels": [{"name": "python", "command": ["sleep", "30"], "max": 1, "connect": "inbound"}],
            "daemon": {"id": "stuck", "tick": "0.1s"},
        }
        daemon = Daemon(
            load_config(str(write(tmp_path / "config.yaml", config))), registry(), dry_run=True, serve_api=False
        )
        daemon.listener_start_timeout = 0.3
        daemon.poll_hang_after = 0.5
        daemons.append(daemon)
        return daemon

    yield build
    RELEASE.set()
    for daemon in daemons:
        daemon.stop()


def ask(daemon: Daemon, op: str) -> object:
    command = Command(op, {})
    daemon.engine.submit(command)
    return command.reply.result(timeout=5)


@pytest.mark.parametrize("mode", ["hang-start", "raise-start", "raise-poll"])
def test_a_listener_that_raises_or_hangs_does_not_stop_the_daemon(make, mode: str) -> None:  # type: ignore[no-untyped-def]
    daemon = make(mode)
    started = threading.Thread(target=daemon.start)
    started.start()
    started.join(10)
    assert not started.is_alive()  # start() returned although the listener did not
    assert ask(daemon, "status")  # the engine answers


def test_a_hung_poll_makes_demand_unknown_not_stale(make) -> None:  # type: ignore[no-untyped-def]
    daemon = make("hang-poll")
    daemon.start()
    done = threading.Event()

    def unknown() -> bool:
        listeners = ask(daemon, "demand")["listeners"]  # type: ignore[index]
        return bool(listeners) and "hung" in str(listeners[0]["error"])

    for _ in range(100):
        if unknown():
            done.set()
            break
        threading.Event().wait(0.05)
    assert done.is_set()
    assert ask(daemon, "demand")["per_label"] == {"python": 1}  # type: ignore[index]  # kept, not zero


def test_a_listener_whose_start_raises_shows_as_down_not_absent(make) -> None:  # type: ignore[no-untyped-def]
    """Dropped with one log line, it was missing from autoscaler_listener_up and /healthz, so an
    alert on a listener being down could not see it."""
    from prometheus_client import generate_latest

    daemon = make("raise-start")
    daemon.start()
    report = daemon.supervisor.report()
    assert report["unhealthy"] == ["stuck"]
    (listener,) = report["listeners"]
    assert listener["state"] == "failed" and "RuntimeError: cannot start" in str(listener["last_error"])
    exposition = generate_latest(daemon.metrics.registry).decode()
    assert 'autoscaler_listener_up{listener="stuck"} 0.0' in exposition
