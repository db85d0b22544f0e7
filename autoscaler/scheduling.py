"""The daemon's schedule: the engine's tick and reconcile, one poll job per demand listener,
polls on request ("poll now"), and the watchdog that reports a hung poll.

Everything here reaches the engine as a message through ``submit``; nothing runs on the
engine's thread. The jobs run on the monotonic clock (see :mod:`autoscaler.timers`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence

from autoscaler.engine.messages import DemandUpdate, Reconcile, Tick
from autoscaler.plugin import DemandListener, DemandUnknown, DestroyListener
from autoscaler.timers import Job, Timers

log = logging.getLogger(__name__)

Submit = Callable[[DemandUpdate | Reconcile | Tick], None]
"""Where the schedule's messages go (the engine's inbox)."""

PLAN_AT_LEAST_EVERY = 30.0
"""Seconds: the engine plans at least this often (a tick), however long ``daemon.tick`` is, so a
label's warm-pool ``schedule`` takes effect within a minute of a period's start and end."""


def listener_name(listener: DemandListener | DestroyListener) -> str:
    """The name a listener goes by in logs and in the engine's demand view."""
    return str(getattr(listener.settings, "display_name", type(listener).__name__))


class Schedule:
    """The periodic jobs, built now and started by :meth:`start`."""

    def __init__(
        self,
        submit: Submit,
        listeners: Sequence[DemandListener],
        controller_of: Callable[[DemandListener], str],
        *,
        tick: float,
        reconcile: float,
    ) -> None:
        self._submit = submit
        self._listeners = list(listeners)
        self._controller_of = controller_of
        self.hang_after: float | None = None
        """A poll running this long makes its demand unknown (default: three intervals, at least 30 s)."""
        self.timers = Timers()
        self.timers.every("tick", tick, lambda: submit(Tick()), delay_first=True)
        self.timers.every("reconcile", reconcile, lambda: submit(Reconcile()), delay_first=True)
        if tick > PLAN_AT_LEAST_EVERY:  # a schedule's period must take effect within a minute of its start
            self.timers.every("plan", PLAN_AT_LEAST_EVERY, lambda: submit(Tick()), delay_first=True)
        self._polls: dict[int, Job] = {
            i: self.timers.every(f"demand-{i}", listener.interval, functools.partial(self.poll, listener))
            for i, listener in enumerate(self._listeners)
        }
        self.timers.every("watchdog", 1.0, self.watch_polls, delay_first=True)
        self._hung: set[int] = set()

    def start(self) -> None:
        self.timers.start()

    def stop(self) -> None:
        self.timers.stop()

    def poll(self, listener: DemandListener) -> None:
        """Poll one listener and hand its report (or why there is none) to the engine."""
        name, controller = listener_name(listener), self._controller_of(listener)
        observed_at = time.monotonic()  # the engine's clock: a wall-clock step must not matter
        try:
            report = listener.poll()
        except DemandUnknown as exc:
            self._submit(DemandUpdate(name, controller, None, str(exc)))
            return
        except Exception as exc:
            log.exception("demand listener %s crashed while polling", name)
            self._submit(DemandUpdate(name, controller, None, f"{type(exc).__name__}: {exc}"))
            return
        self._submit(DemandUpdate(name, report.controller or controller, report, observed_at=observed_at))

    def poll_all(self) -> None:
        """Poll every demand listener once, in this thread (``run --once``)."""
        for listener in self._listeners:
            self.poll(listener)

    def poll_now(self, controller: str | None) -> None:
        """Poll the demand listeners of ``controller`` (all, if None) right away."""
        for i, listener in enumerate(self._listeners):
            if controller is None or self._controller_of(listener) == controller:
                self._polls[i].trigger()

    def watch_polls(self) -> None:
        """A poll that hangs must not leave demand silently stale: past three intervals (at least
        30 s) its demand is reported unknown; the last report is kept, not scaled to zero."""
        now = time.monotonic()
        for i, job in self._polls.items():
            started = job.running_since
            listener = self._listeners[i]
            limit = self.hang_after or max(30.0, 3 * listener.interval)
            if started is None or now - started <= limit:
                self._hung.discard(i)
            elif i not in self._hung:
                self._hung.add(i)
                name = listener_name(listener)
                log.error("demand listener %s: poll has not returned for %.0fs", name, now - started)
                reason = f"poll hung for {now - started:.0f}s"
                self._submit(DemandUpdate(name, self._controller_of(listener), None, reason))
