"""Supervision of listener threads: restart a loop that dies, report one that is dead or hung.

A plugin hands its receive loop to :meth:`Supervisor.supervise` (through ``context.supervise``).
The loop runs in a thread of its own and gets a :class:`Run`: it returns once ``run.stopping`` is
set, and calls ``run.beat()`` whenever it makes progress (each poll, even an empty one).

- A loop that raises, or returns while not asked to stop, is restarted after a pause that doubles
  from ``backoff_initial`` up to ``backoff_max`` (state ``restarting``). The pause starts again
  from ``backoff_initial`` once a run has lasted ``reset_after`` seconds.
- After ``give_up_after`` failures in a row the supervisor stops trying: state ``failed``.
- A running loop that has not beaten for ``stale_after`` seconds is *stale* (hung in a call).

Health rule (``/healthz``): the daemon is unhealthy when any listener is ``failed`` (dead for
good) or stale; a listener that is ``restarting`` is still healthy (it is being taken care of),
but ``autoscaler_listener_up`` is 0 for it.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


class State(enum.StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"
    """The loop failed; it runs again after a pause."""
    FAILED = "failed"
    """The loop failed ``give_up_after`` times in a row; it is not restarted."""
    STOPPED = "stopped"
    """Stopped on request."""


@dataclass(frozen=True)
class Health:
    """One supervised loop, as seen at one moment."""

    name: str
    state: State
    restarts: int
    last_error: str | None
    last_progress: float
    """Monotonic time of the last heartbeat (or of the last start)."""
    stale: bool
    """Running, but silent for longer than its ``stale_after``."""

    @property
    def up(self) -> bool:
        return self.state is State.RUNNING and not self.stale

    @property
    def healthy(self) -> bool:
        return self.state is not State.FAILED and not self.stale

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "listener": self.name,
            "state": self.state.value,
            "stale": self.stale,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "seconds_since_progress": round(max(0.0, now - self.last_progress), 3),
        }


class Run:
    """What a supervised loop gets: the stop request and its heartbeat."""

    def __init__(self, supervisor: Supervisor, name: str, loop: Callable[[Run], None], stale_after: float | None):
        self.supervisor = supervisor
        self.name = name
        self.loop = loop
        self.stale_after = stale_after
        self.stopping = threading.Event()
        self.state = State.RUNNING
        self.restarts = 0
        self.last_error: str | None = None
        self.last_progress = supervisor.clock()
        self.thread = threading.Thread(target=self._supervise, name=f"listener-{name}", daemon=True)

    def beat(self) -> None:
        """Report progress: the loop is alive and not stuck."""
        self.last_progress = self.supervisor.clock()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to return and wait for it (up to ``timeout``)."""
        self.stopping.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def health(self) -> Health:
        now = self.supervisor.clock()
        stale = (
            self.state is State.RUNNING and self.stale_after is not None and now - self.last_progress > self.stale_after
        )
        return Health(self.name, self.state, self.restarts, self.last_error, self.last_progress, stale)

    def _supervise(self) -> None:
        sup = self.supervisor
        failures = 0
        while not self.stopping.is_set():
            self.state = State.RUNNING
            self.beat()
            began = sup.clock()
            try:
                self.loop(self)
                if self.stopping.is_set():
                    break
                error = "the loop returned without being asked to stop"
                log.error("listener %s: %s", self.name, error)
            except Exception as exc:
                error = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.exception("listener %s failed", self.name)
            self.last_error = error
            failures = 1 if sup.clock() - began >= sup.reset_after else failures + 1
            if failures >= sup.give_up_after:
                self.state = State.FAILED
                log.error("listener %s failed %d times in a row; not restarting it", self.name, failures)
                return
            delay = min(sup.backoff_max, sup.backoff_initial * 2 ** (failures - 1))
            self.state = State.RESTARTING
            log.warning("listener %s restarts in %.1f s (failure %d in a row)", self.name, delay, failures)
            if self.stopping.wait(delay):
                break
            self.restarts += 1
        self.state = State.STOPPED


class Supervisor:
    """Runs named loops in threads, restarts them, and keeps their health. Thread-safe."""

    def __init__(
        self,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        give_up_after: int = 10,
        reset_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.give_up_after = give_up_after
        self.reset_after = reset_after
        self.clock = clock
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._never_started: dict[str, Health] = {}

    def supervise(self, name: str, loop: Callable[[Run], None], *, stale_after: float | None = 60.0) -> Run:
        """Start ``loop`` in a thread (``listener-NAME``) and keep it running; ``stale_after`` None: never stale."""
        run = Run(self, name, loop, stale_after)
        with self._lock:
            old = self._runs.get(name)
            if old is not None and old.thread.is_alive():
                raise ValueError(f"a loop named {name!r} is already supervised")
            self._runs[name] = run
            self._never_started.pop(name, None)
        run.thread.start()
        return run

    def failed_to_start(self, name: str, error: str) -> None:
        """A listener whose ``start()`` raised: no loop runs, and it shows as failed (down in
        ``autoscaler_listener_up``, unhealthy in ``/healthz``) until a reload starts it."""
        with self._lock:
            if name not in self._runs:
                self._never_started[name] = Health(name, State.FAILED, 0, error, self.clock(), False)

    def heartbeat(self, name: str) -> None:
        """Progress of the loop ``name`` (same as its ``run.beat()``); unknown names are ignored."""
        with self._lock:
            run = self._runs.get(name)
        if run is not None:
            run.beat()

    def health(self) -> list[Health]:
        """Every supervised loop, by name."""
        with self._lock:
            runs = list(self._runs.values())
            failed = list(self._never_started.values())
        return sorted([*(run.health() for run in runs), *failed], key=lambda h: h.name)

    def unhealthy(self) -> list[Health]:
        """Loops dead for good or stale: the reason ``/healthz`` fails."""
        return [h for h in self.health() if not h.healthy]

    def report(self) -> dict[str, object]:
        """The ``/healthz`` body: each listener's state, and which ones are unhealthy."""
        now = self.clock()
        health = self.health()
        return {
            "status": "ok" if all(h.healthy for h in health) else "unhealthy",
            "unhealthy": [h.name for h in health if not h.healthy],
            "listeners": [h.as_dict(now) for h in health],
        }

    def stop_all(self, timeout: float = 5.0) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.stopping.set()
        for run in runs:
            run.stop(timeout)

    def render_metrics(self) -> str:
        """Prometheus text: ``autoscaler_listener_up`` and ``autoscaler_listener_restarts_total``."""
        health = self.health()
        out = [
            "# HELP autoscaler_listener_up 1 while a listener's loop runs and makes progress.",
            "# TYPE autoscaler_listener_up gauge",
            *(f'autoscaler_listener_up{{listener="{_esc(h.name)}"}} {int(h.up)}' for h in health),
            "# HELP autoscaler_listener_restarts_total Restarts of a listener's loop after it failed.",
            "# TYPE autoscaler_listener_restarts_total counter",
            *(f'autoscaler_listener_restarts_total{{listener="{_esc(h.name)}"}} {h.restarts}' for h in health),
        ]
        return "\n".join(out) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
