"""Fault injection for the simulated Jenkins: endpoints that fail the way controllers and proxies do.

Each :class:`Fault` matches a method (``"GET"``, ``"POST"`` or ``"ANY"``) and a path (the URL path
without its query; exact, or every path starting with it when ``prefix=True``), and does one thing:

``status=N``
    answer N with a realistic body: 401 an HTML page with ``WWW-Authenticate``, 403 Jetty's
    "No valid crumb was included in the request" page, 404 Jetty's Not Found page, 500 Jenkins'
    "Oops!" page, 503 Jenkins' "getting ready to work" page, 502/504 an nginx page (``body=`` overrides).
``reset=True``
    send the status line, headers declaring a Content-Length larger than what follows and part of the
    body, then reset the TCP connection (SO_LINGER 0, close): a connection reset mid-response. (With
    ``after=True`` an answer without a body, such as a redirect, is cut within its headers instead.)
``hang=True``
    take the request and answer nothing until the fault is removed or cleared (then the request is
    served normally) or the sim stops (then the connection is closed unanswered).
``delay=S``
    answer normally after S seconds (cut short, unanswered, when the sim stops); may be combined with
    ``status``, ``reset`` or ``not_json``, which then come after the delay.
``not_json=True``
    answer 200 with an HTML page (a proxy's sign-in page) where JSON is expected.

``after=True`` carries the request out first (nodes deleted, builds triggered: the state changes
happen) and then spoils the answer: the response is replaced by the status page or the HTML page,
cut off by the reset, or held back by the hang (sent once released). ``times=N`` limits the fault to
N requests (``None``: until removed); an exhausted fault stays registered (so a held request waits
for ``remove``/``clear``) but matches nothing more. The first registered fault that matches wins.
``fault.hits`` counts the requests it affected; ``sim.stats["fault:<kind>"]`` counts them too
(kinds ``status``, ``reset``, ``hang``, ``slow``, ``not_json``; a status fault also ``fault:<N>``).

    fault = sim.faults.add("GET", "/computer/api/json", status=500, times=2)
    sim.faults.add("POST", "/computer/", prefix=True, reset=True)
    sim.faults.add("ANY", "/queue/api/json", hang=True)
    sim.faults.add("GET", "/queue/api/json", delay=2.0)
    sim.faults.add("GET", "/crumbIssuer/api/json", not_json=True)
    sim.faults.remove(fault); sim.faults.clear(); fault.hits
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from autoscaler.testing.jenkins.pages import PARTIAL_JSON, error_page, sign_in_page

METHODS = ("GET", "POST", "ANY")


@dataclass(eq=False)
class Fault:
    """One fault switch; see the module docstring. Build it with :meth:`FaultRegistry.add`."""

    method: str
    path: str
    prefix: bool = False
    status: int | None = None
    body: str | None = None
    reset: bool = False
    hang: bool = False
    delay: float | None = None
    not_json: bool = False
    after: bool = False
    times: int | None = None
    hits: int = 0
    released: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set when the fault is removed or cleared, or the sim stops: held requests go on."""

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.method == "*":
            self.method = "ANY"
        if self.method not in METHODS:
            raise ValueError(f"fault method must be one of {METHODS}, not {self.method!r}")
        if not self.path.startswith("/"):
            raise ValueError(f"fault path must start with '/': {self.path!r}")
        actions = [self.status is not None, self.reset, self.hang, self.not_json]
        if sum(actions) > 1 or (self.hang and self.delay is not None):
            raise ValueError("a fault does one of status=, reset=, hang=, not_json= (delay= may precede all but hang)")
        if sum(actions) == 0 and self.delay is None:
            raise ValueError("a fault needs one of status=, reset=, hang=, delay=, not_json=")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"fault status must be an HTTP status, not {self.status}")
        if self.delay is not None and self.delay < 0:
            raise ValueError(f"fault delay must be >= 0, not {self.delay}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"fault times must be >= 1 or None, not {self.times}")

    @property
    def kind(self) -> str:
        if self.status is not None:
            return "status"
        if self.reset:
            return "reset"
        if self.hang:
            return "hang"
        return "not_json" if self.not_json else "slow"

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("ANY", method):
            return False
        return path.startswith(self.path) if self.prefix else path == self.path


class FaultRegistry:
    """The sim's fault switches (``sim.faults``); thread-safe."""

    def __init__(self, stats: Counter[str]) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._stats = stats
        self.stopping = threading.Event()

    def add(
        self,
        method: str,
        path: str,
        *,
        prefix: bool = False,
        status: int | None = None,
        body: str | None = None,
        reset: bool = False,
        hang: bool = False,
        delay: float | None = None,
        not_json: bool = False,
        after: bool = False,
        times: int | None = None,
    ) -> Fault:
        fault = Fault(method, path, prefix, status, body, reset, hang, delay, not_json, after, times)
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        """Switch the fault off; requests it holds go on. Removing twice is harmless."""
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)
        fault.released.set()

    def clear(self) -> None:
        with self._lock:
            faults, self._faults = self._faults, []
        for fault in faults:
            fault.released.set()

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def match(self, method: str, path: str) -> Fault | None:
        """The fault for this request, counting the hit; None: serve it normally."""
        with self._lock:
            for fault in self._faults:
                if not fault.exhausted and fault.matches(method, path):
                    fault.hits += 1
                    self._stats[f"fault:{fault.kind}"] += 1
                    if fault.delay is not None and fault.kind != "slow":
                        self._stats["fault:slow"] += 1
                    if fault.status is not None:
                        self._stats[f"fault:{fault.status}"] += 1
                    return fault
        return None

    def close(self) -> None:
        """The sim stops: release every held request and cut every delay short."""
        self.stopping.set()
        for fault in self.faults:
            fault.released.set()


def serve_faulty(
    handler: BaseHTTPRequestHandler, fault: Fault, serve: Callable[[], None], stopping: threading.Event
) -> None:
    """Answer the handler's request as ``fault`` says; ``serve`` answers it normally."""
    if fault.delay is not None and stopping.wait(fault.delay):
        _hang_up(handler)
        return
    if fault.after:
        served = _captured(handler, serve)
        if fault.hang:
            fault.released.wait()
            if stopping.is_set():
                _hang_up(handler)
                return
            handler.wfile.write(served)
        elif fault.reset:
            _reset(handler, *_cut(served))
        else:
            _spoil(handler, fault)
        return
    if fault.hang:
        fault.released.wait()
        if stopping.is_set():
            _hang_up(handler)
            return
    elif fault.reset:
        start = "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=utf-8\r\nX-Jenkins: 2.479.1"
        _reset(handler, f"{start}\r\nContent-Length: {4 * len(PARTIAL_JSON)}\r\n\r\n".encode(), PARTIAL_JSON)
        return
    elif fault.status is not None or fault.not_json:
        _drain(handler)
        _spoil(handler, fault)
        return
    serve()


def _spoil(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    if fault.status is not None:
        body, headers = error_page(fault.status, handler.path)
        status = fault.status
    else:
        body, headers = sign_in_page(), {}
        status = 200
    data = (fault.body if fault.body is not None else body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "text/html;charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(data)


def _captured(handler: BaseHTTPRequestHandler, serve: Callable[[], None]) -> bytes:
    """Run ``serve`` with the response written to memory instead of the socket."""
    real, buffer = handler.wfile, io.BytesIO()
    handler.wfile = buffer
    try:
        serve()
    finally:
        handler.wfile = real
    return buffer.getvalue()


def _cut(served: bytes) -> tuple[bytes, bytes]:
    """A response cut off: its headers promising more body than follows, and half its body; an
    answer without a body (a redirect) is cut within its headers, as ``requests`` reads no body of
    a redirect it follows or returns."""
    head, _, body = served.partition(b"\r\n\r\n")
    if not body:
        return head[: max(head.index(b"\r\n") + 2, len(head) // 2)], b""
    promised = f"Content-Length: {len(body) + 512}".encode()
    head, count = re.subn(rb"(?im)^Content-Length:[^\r\n]*", promised, head)
    return (head if count else head + b"\r\n" + promised) + b"\r\n\r\n", body[: len(body) // 2]


def _reset(handler: BaseHTTPRequestHandler, head: bytes, body: bytes) -> None:
    sock: socket.socket = handler.connection
    handler.close_connection = True
    with contextlib.suppress(OSError):
        sock.sendall(head + body)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    socket.close(sock.detach())  # now, not once the handler's reader lets go: an RST, not a FIN


def _hang_up(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    sock: socket.socket = handler.connection
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _drain(handler: BaseHTTPRequestHandler) -> None:
    """Read the request body, so the keep-alive connection stays in step."""
    length = int(handler.headers.get("Content-Length") or 0)
    if length:
        handler.rfile.read(length)
