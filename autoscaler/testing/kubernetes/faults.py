"""Faults the Kubernetes API double injects on purpose, per endpoint.

A fault matches requests by verb and path prefix. Verbs: ``GET`` (any read but a watch), ``LIST``
(a collection read), ``WATCH``, ``POST``, ``PATCH``, ``DELETE``, or ``*``. Paths are URL paths
without the query (``/api/v1/namespaces/ci/pods`` matches the pod collection and every pod in it).
A fault fires ``times`` times (``None``: until :meth:`Faults.clear`); ``hits`` counts its firings.

What a fault does (``action``):

- ``status``: answer ``code`` with a Kubernetes ``Status`` body (a 410 on a watch arrives as an
  ``ERROR`` event in a 200 stream, as a real API server sends it).
- ``hang``: accept the request and never answer, until the fault is cleared or the server stops;
  then the connection is closed without an answer.
- ``slow``: do the work at once, answer after ``delay`` seconds (the change is made even if the
  client gave up).
- ``drop``: do the work, then cut the answer mid-body; an open or new watch stream is cut after
  ``after`` events of its own (streams already open are cut too).
- ``reset``: reset the connection (TCP RST) as soon as the request is read, doing nothing.

Refused connections (the port closed) are server-wide: :meth:`KubeApi.refuse_connections`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

VERBS = frozenset({"GET", "LIST", "WATCH", "POST", "PATCH", "PUT", "DELETE", "*"})
ACTIONS = frozenset({"status", "hang", "slow", "drop", "reset"})
QUOTA_MESSAGE = (
    '{kind} "{name}" is forbidden: exceeded quota: compute-resources, '
    "requested: pods=1, used: pods=10, limited: pods=10"
)


@dataclass
class Fault:
    verb: str
    path: str
    action: str
    code: int = 500
    reason: str = "InternalError"
    message: str = "Internal error occurred: injected fault"
    """May name the object: ``{kind}`` and ``{name}`` are filled in."""
    body: bytes | None = None
    """Sent as is instead of a ``Status`` (what a proxy in front of the API server may answer)."""
    delay: float = 0.0
    after: int = 0
    times: int | None = None
    hits: int = 0
    released: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        if self.verb not in VERBS:
            raise ValueError(f"unknown verb {self.verb!r}; expected one of {sorted(VERBS)}")
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}; expected one of {sorted(ACTIONS)}")

    def matches(self, verb: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if not path.startswith(self.path):
            return False
        return self.verb in ("*", verb) or (self.verb == "GET" and verb == "LIST")


class Faults:
    """The switches of one :class:`KubeApi`; thread-safe."""

    def __init__(self, changed: Callable[[], None]) -> None:
        self._changed = changed
        self._lock = threading.Lock()
        self.active: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.active.append(fault)
        self._changed()  # open watches look at the new switch now
        return fault

    def fail(
        self,
        verb: str,
        path: str = "/",
        code: int = 500,
        reason: str = "InternalError",
        message: str = "Internal error occurred: injected fault",
        *,
        body: bytes | None = None,
        times: int | None = None,
    ) -> Fault:
        return self.add(Fault(verb, path, "status", code, reason, message, body, times=times))

    def quota(self, path: str = "/", *, times: int | None = None) -> Fault:
        """403 on create, as a ResourceQuota refuses a pod."""
        return self.fail("POST", path, 403, "Forbidden", QUOTA_MESSAGE, times=times)

    def conflict(self, verb: str = "POST", path: str = "/", *, times: int | None = None) -> Fault:
        """409 AlreadyExists (on create) or Conflict (on an update)."""
        reason = "AlreadyExists" if verb == "POST" else "Conflict"
        message = '{kind} "{name}" already exists' if verb == "POST" else "the object has been modified"
        return self.fail(verb, path, 409, reason, message, times=times)

    def gone(self, verb: str = "WATCH", path: str = "/", *, times: int | None = None) -> Fault:
        """410 Gone: the resource version asked for was compacted away."""
        return self.fail(verb, path, 410, "Expired", "too old resource version: 1 (2)", times=times)

    def hang(self, verb: str, path: str = "/", *, times: int | None = None) -> Fault:
        return self.add(Fault(verb, path, "hang", times=times))

    def slow(self, verb: str, path: str = "/", delay: float = 1.0, *, times: int | None = None) -> Fault:
        return self.add(Fault(verb, path, "slow", delay=delay, times=times))

    def drop(self, verb: str = "WATCH", path: str = "/", *, after: int = 0, times: int | None = None) -> Fault:
        return self.add(Fault(verb, path, "drop", after=after, times=times))

    def reset(self, verb: str, path: str = "/", *, times: int | None = None) -> Fault:
        return self.add(Fault(verb, path, "reset", times=times))

    def take(self, verb: str, path: str, *, sent: int | None = None) -> Fault | None:
        """The first armed fault for this request, counted as fired. ``sent`` (events a watch
        stream has sent) asks only for a ``drop`` due now; otherwise a ``drop`` of a watch waits
        for the stream."""
        with self._lock:
            for fault in self.active:
                if not fault.matches(verb, path):
                    continue
                streaming = fault.action == "drop" and verb == "WATCH"
                if sent is None and streaming:
                    continue
                if sent is not None and (not streaming or sent < fault.after):
                    continue
                fault.hits += 1
                return fault
        return None

    def remove(self, fault: Fault) -> None:
        """Disarm one fault (releasing what it holds); the others stay armed."""
        with self._lock:
            self.active = [f for f in self.active if f is not fault]
        fault.released.set()
        self._changed()

    def clear(self) -> None:
        """Disarm every fault and release every request held by a hang or a slow answer."""
        with self._lock:
            cleared, self.active = self.active, []
        for fault in cleared:
            fault.released.set()
        self._changed()
