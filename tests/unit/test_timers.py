"""Periodic jobs on the monotonic clock: each in its own thread, triggered early on demand, one
that raises runs again, one that hangs holds up only itself and says since when."""

from __future__ import annotations

import threading
import time

from autoscaler.timers import Timers


def test_a_job_runs_at_once_then_on_trigger_and_survives_raising() -> None:
    timers = Timers()
    runs: list[int] = []
    ran = threading.Event()

    def work() -> None:
        runs.append(len(runs))
        ran.set()
        if len(runs) == 1:
            raise RuntimeError("boom")

    job = timers.every("work", 3600, work)
    timers.start()
    try:
        assert ran.wait(5)
        ran.clear()
        job.trigger()  # long before the hour is up
        assert ran.wait(5)
        assert runs == [0, 1]  # it ran again although its first run raised
    finally:
        timers.stop()


def test_a_hung_job_holds_up_only_itself_and_tells_since_when() -> None:
    timers = Timers()
    release = threading.Event()
    ticks = threading.Semaphore(0)
    hung = timers.every("hung", 0.01, lambda: release.wait(10) and None)
    timers.every("tick", 0.01, ticks.release)
    timers.start()
    try:
        for _ in range(5):
            assert ticks.acquire(timeout=5)  # the other job keeps its pace
        since = hung.running_since
        assert since is not None and since <= time.monotonic()
    finally:
        release.set()
        timers.stop()


def test_delay_first_waits_one_interval() -> None:
    timers = Timers()
    ran = threading.Event()
    job = timers.every("later", 3600, ran.set, delay_first=True)
    timers.start()
    try:
        assert not ran.wait(0.2)
        job.trigger()
        assert ran.wait(5)
    finally:
        timers.stop()
