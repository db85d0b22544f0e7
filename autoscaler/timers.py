"""Periodic jobs on the monotonic clock.

Each job runs in its own thread and waits with :meth:`threading.Event.wait`, which measures time
with the monotonic clock: a wall-clock step (NTP, a VM resumed, an operator's ``date -s``) neither
stops the engine's ticks and polls nor fires them in a burst. APScheduler 3's interval trigger
computes its next run in wall time, so a backward step of an hour stopped every job for an hour.

A job that hangs holds up only itself; :attr:`Job.running_since` tells a watchdog how long the
current run has taken.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Job:
    """Run ``fn`` every ``interval`` seconds (the first run at once unless ``delay_first``)."""

    def __init__(self, name: str, interval: float, fn: Callable[[], None], *, delay_first: bool = False) -> None:
        self.name = name
        self.interval = interval
        self._fn = fn
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._delay_first = delay_first
        self._lock = threading.Lock()
        self._running_since: float | None = None
        self.runs = 0
        self._thread = threading.Thread(target=self._loop, name=f"job-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def trigger(self) -> None:
        """Run as soon as the current run (if any) ends, then keep the interval from there."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def running_since(self) -> float | None:
        """``time.monotonic()`` when the current run began, or None between runs."""
        with self._lock:
            return self._running_since

    def _loop(self) -> None:
        if self._delay_first:
            self._wait()
        while not self._stop.is_set():
            with self._lock:
                self._running_since = time.monotonic()
            try:
                self._fn()
            except Exception:  # a job that raises runs again at its next interval
                log.exception("periodic job %s failed", self.name)
            finally:
                with self._lock:
                    self._running_since = None
                self.runs += 1
            self._wait()

    def _wait(self) -> None:
        self._wake.wait(self.interval)
        self._wake.clear()


class Timers:
    """The daemon's periodic jobs, started and stopped together."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    def every(self, name: str, interval: float, fn: Callable[[], None], *, delay_first: bool = False) -> Job:
        job = Job(name, interval, fn, delay_first=delay_first)
        self.jobs[name] = job
        return job

    def start(self) -> None:
        for job in self.jobs.values():
            job.start()

    def stop(self) -> None:
        for job in self.jobs.values():
            job.stop(timeout=0)
        for job in self.jobs.values():
            job.stop(timeout=2)
