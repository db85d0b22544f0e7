"""Warm pools on a schedule, through the engine: a fake clock (monotonic and wall apart, as in
production) is driven across period boundaries and daylight-saving changes; the min-ready in
force, the agents launched and the agents retired are asserted at each step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from autoscaler.cli.tables import pools_table
from autoscaler.config.models import Config
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import Command, Reload, Tick
from autoscaler.engine.state import AgentState
from autoscaler.scheduling import Schedule
from autoscaler.testing.fakes import FakeClock, FakeController, FakeDriver, InlineExecutor

WORKDAYS = {"periods": ["* 8-17 * * mon-fri"], "timezone": "Europe/Berlin", "min-ready": 3}
SOURCE = 'schedule[0] "* 8-17 * * mon-fri" Europe/Berlin'


def config(*schedule: dict[str, Any], **label: Any) -> Config:
    return Config.model_validate(
        {
            "controllers": [{"name": "main", "url": "http://j/", "user": "u", "token": "t0ken"}],
            "labels": [{"name": "python", "max": 10, "idle-timeout": "5m", "schedule": list(schedule), **label}],
            "limits": {"launches-per-second": 100},
        }
    )


class World:
    """The engine with fake driver and Jenkins; ``mono`` starts far from ``wall`` on purpose."""

    def __init__(self, cfg: Config, start: datetime) -> None:
        self.mono = FakeClock(1000.0)
        self.wall = FakeClock(start.timestamp())
        self.driver = FakeDriver(self.mono)
        self.jenkins = FakeController()
        self.engine = Engine(
            cfg, self.driver, {"main": self.jenkins}, InlineExecutor(), clock=self.mono, wall=self.wall
        )

    def at(self, when: datetime) -> None:
        """Move both clocks to ``when`` and let the tick plan (as the daemon's tick does)."""
        step = when.timestamp() - self.wall()
        assert step >= 0
        self.mono.advance(step)
        self.wall.advance(step)
        self.send(Tick())
        self.online_all()

    def send(self, message: Any) -> None:
        self.engine.submit(message)
        self.engine.drain()

    def online_all(self) -> None:
        """Every launched agent comes online in Jenkins (so none times out while kept ready)."""
        for agent in list(self.engine.state.agents.values()):
            if agent.state in (AgentState.REQUESTED, AgentState.PENDING, AgentState.BOOTING):
                self.jenkins.set(agent.name, online=True)
                self.engine.io.refresh("main")
        self.engine.drain()

    def ready(self) -> int:
        return sum(1 for a in self.engine.state.agents.values() if a.state == AgentState.READY)

    def pool(self) -> dict[str, Any]:
        command = Command("pools", {})
        self.send(command)
        (row,) = command.reply.result(timeout=1)
        return {k: row[k] for k in ("min_ready", "min_ready_source")}

    def launched(self) -> int:
        return len(self.driver.launched)

    def retired(self) -> int:
        return len(self.driver.deleted)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_a_workday_period_warms_the_pool_at_its_start_and_drains_it_at_its_end() -> None:
    # Monday 2026-11-30, Europe/Berlin is UTC+1: the period runs 07:00-16:59 UTC.
    w = World(config(WORKDAYS), utc(2026, 11, 30, 6, 58, 0))
    w.at(utc(2026, 11, 30, 6, 58, 0))
    assert (w.launched(), w.pool()) == (0, {"min_ready": 0, "min_ready_source": "label"})
    w.at(utc(2026, 11, 30, 6, 59, 50))
    assert w.launched() == 0
    w.at(utc(2026, 11, 30, 7, 0, 0))  # 08:00 in Berlin: the first tick of the minute warms the pool
    assert (w.launched(), w.ready()) == (3, 3)
    assert w.pool() == {"min_ready": 3, "min_ready_source": SOURCE}
    for minute in range(1, 600, 37):  # all day long: kept, never relaunched, never retired
        w.at(utc(2026, 11, 30, 7 + minute // 60, minute % 60, 0))
        assert (w.launched(), w.retired(), w.ready()) == (3, 0, 3)
    w.at(utc(2026, 11, 30, 16, 59, 59))
    assert (w.launched(), w.retired()) == (3, 0)
    w.at(utc(2026, 11, 30, 17, 0, 5))  # 18:00 in Berlin: idle longer than idle-timeout, all retired
    assert w.pool() == {"min_ready": 0, "min_ready_source": "label"}
    assert (w.launched(), w.retired(), w.ready()) == (3, 3, 0)
    events = [e["message"] for e in w.engine.state.history if e["kind"] == "schedule"]
    assert events == [
        f"python: min-ready 3 from {SOURCE} (was 0 from label)",
        f"python: min-ready 0 from label (was 3 from {SOURCE})",
    ]


def test_an_agent_kept_ready_is_retired_only_after_its_idle_timeout_once_the_period_ends() -> None:
    w = World(config(WORKDAYS), utc(2026, 11, 30, 16, 58))
    w.at(utc(2026, 11, 30, 16, 58))  # 17:58 in Berlin: warmed now, 2 minutes before the end
    assert (w.launched(), w.ready()) == (3, 3)
    w.at(utc(2026, 11, 30, 17, 0))  # over, but ready for 2 minutes only (idle-timeout 5m)
    assert (w.retired(), w.ready()) == (0, 3)
    w.at(utc(2026, 11, 30, 17, 3, 1))
    assert (w.retired(), w.ready()) == (3, 0)


def test_the_weekend_and_the_label_min_ready_between_periods() -> None:
    weekend = {"periods": ["* * * * sat,sun"], "min-ready": 0}
    w = World(config(WORKDAYS, weekend, **{"min-ready": 1}), utc(2026, 12, 4, 16, 59))
    w.at(utc(2026, 12, 4, 16, 59))  # Friday 17:59 in Berlin
    assert (w.launched(), w.pool()["min_ready"]) == (3, 3)
    w.at(utc(2026, 12, 4, 17, 10))  # Friday evening: the label's own min-ready 1
    assert (w.retired(), w.ready(), w.pool()) == (2, 1, {"min_ready": 1, "min_ready_source": "label"})
    w.at(utc(2026, 12, 5, 0, 0))  # Saturday (UTC, the default zone): none kept
    assert w.pool() == {"min_ready": 0, "min_ready_source": 'schedule[1] "* * * * sat,sun" UTC'}
    assert (w.retired(), w.ready()) == (3, 0)
    w.at(utc(2026, 12, 7, 0, 0))  # Monday 01:00 in Berlin: the label's 1 again
    assert (w.launched(), w.ready()) == (4, 1)


def test_spring_forward_starts_the_period_an_hour_earlier_in_utc() -> None:
    # Europe/Berlin, Sunday 2026-03-29: 02:00 CET -> 03:00 CEST. Period 08:00-17:59 local, every day.
    daily = {"periods": ["* 8-17 * * *"], "timezone": "Europe/Berlin", "min-ready": 2}
    w = World(config(daily), utc(2026, 3, 28, 6, 59))
    w.at(utc(2026, 3, 28, 6, 59))  # Saturday 07:59 CET
    assert w.launched() == 0
    w.at(utc(2026, 3, 28, 7, 0))  # Saturday 08:00 CET
    assert w.launched() == 2
    w.at(utc(2026, 3, 28, 17, 0))  # Saturday 18:00 CET
    assert (w.retired(), w.pool()["min_ready"]) == (2, 0)
    w.at(utc(2026, 3, 29, 5, 59))  # Sunday 07:59 CEST
    assert w.launched() == 2
    w.at(utc(2026, 3, 29, 6, 0))  # Sunday 08:00 CEST: one hour earlier in UTC than the day before
    assert (w.launched(), w.ready()) == (4, 2)
    w.at(utc(2026, 3, 29, 15, 59))  # 17:59 CEST
    assert w.retired() == 2
    w.at(utc(2026, 3, 29, 16, 0))  # 18:00 CEST
    assert (w.retired(), w.ready()) == (4, 0)


def test_fall_back_ends_the_period_an_hour_later_in_utc() -> None:
    # Europe/Berlin, Sunday 2026-10-25: 03:00 CEST -> 02:00 CET.
    daily = {"periods": ["* 8-17 * * *"], "timezone": "Europe/Berlin", "min-ready": 2}
    w = World(config(daily), utc(2026, 10, 24, 15, 50))
    w.at(utc(2026, 10, 24, 15, 50))  # Saturday 17:50 CEST
    assert w.launched() == 2
    w.at(utc(2026, 10, 24, 15, 59))  # 17:59 CEST, idle for 9 minutes: kept
    assert w.retired() == 0
    w.at(utc(2026, 10, 24, 16, 0))  # Saturday 18:00 CEST
    assert w.retired() == 2
    w.at(utc(2026, 10, 25, 6, 59))  # Sunday 07:59 CET
    assert w.launched() == 2
    w.at(utc(2026, 10, 25, 7, 0))  # Sunday 08:00 CET
    assert w.launched() == 4
    w.at(utc(2026, 10, 25, 16, 0))  # 17:00 CET: an hour after the day before's end, still in force
    assert (w.retired(), w.ready()) == (2, 2)
    w.at(utc(2026, 10, 25, 17, 0))  # 18:00 CET
    assert (w.retired(), w.ready()) == (4, 0)


def test_a_reload_brings_a_new_schedule_into_force_at_the_next_plan() -> None:
    w = World(config(), utc(2026, 11, 30, 9, 0))
    w.at(utc(2026, 11, 30, 9, 0))
    assert w.launched() == 0
    always = {"periods": ["* * * * *"], "min-ready": 2}
    w.send(Reload(config(always), {}))
    w.online_all()
    assert (w.launched(), w.ready()) == (2, 2)
    assert w.pool() == {"min_ready": 2, "min_ready_source": 'schedule[0] "* * * * *" UTC'}
    w.send(Reload(config(), {}))  # the schedule removed again: the label's own 0
    assert w.pool() == {"min_ready": 0, "min_ready_source": "label"}
    w.at(utc(2026, 11, 30, 9, 6))
    assert (w.retired(), w.ready()) == (2, 0)


@pytest.mark.parametrize(("tick", "gap"), [(1.0, 1.0), (30.0, 30.0), (300.0, 30.0)])
def test_the_daemon_plans_at_least_every_30_seconds_whatever_its_tick(tick: float, gap: float) -> None:
    sent: list[object] = []
    schedule = Schedule(sent.append, [], lambda _: "main", tick=tick, reconcile=10.0)
    ticking = [job for job in schedule.timers.jobs.values() if job.name in ("tick", "plan")]
    assert min(job.interval for job in ticking) == gap
    for job in ticking:
        job._fn()  # what each job sends: a Tick, which plans
    assert sent and all(isinstance(message, Tick) for message in sent)


def test_the_pools_table_marks_a_scheduled_min_ready_and_names_its_entry() -> None:
    w = World(config(WORKDAYS, **{"min-ready": 1}), utc(2026, 11, 30, 7, 0))
    w.at(utc(2026, 11, 30, 7, 0))
    command = Command("pools", {})
    w.send(command)
    lines = pools_table(command.reply.result(timeout=1)).splitlines()
    header, row = lines[0].split(), lines[1].split()
    assert row[header.index("MIN")] == "3*"
    assert lines[2] == f"* python: min-ready 3 from {SOURCE}"
    w.at(utc(2026, 11, 30, 17, 0))
    command = Command("pools", {})
    w.send(command)
    lines = pools_table(command.reply.result(timeout=1)).splitlines()
    assert lines[1].split()[header.index("MIN")] == "1" and len(lines) == 2
