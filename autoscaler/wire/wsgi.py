"""WSGI serving on cheroot, shared by the daemon's API and the CloudEvents receiver.

cheroot is threaded like the daemon, keeps a bounded worker pool and accept queue, puts a socket
timeout on every connection (a client that never finishes its headers is dropped), bounds the
request line and headers, binds Unix sockets, and hands the application the headers before the
body is read, so a request can be refused without reading it. What is added here: worker threads
that cannot keep the process alive, a refusal that closes the connection instead of draining an
unread body, and cheroot's own log lines through :mod:`logging`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from cheroot import wsgi
from cheroot.workers import threadpool

log = logging.getLogger(__name__)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]

MAX_HEADERS = 16 * 1024
"""Request line plus headers, in bytes (cheroot answers 414 or 413 beyond)."""


def status_line(code: int) -> str:
    """``"413 Request Entity Too Large"``: the code and its standard phrase."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Status"


class _Gateway(wsgi.Gateway_10):
    """Closes the connection after a response that says ``Connection: close`` instead of
    reading (and discarding) the body the application chose not to read."""

    def start_response(self, status: Any, headers: Any, exc_info: Any = None) -> Any:
        write = super().start_response(status, headers, exc_info)
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
            self.req.close_connection = True
        return write


class _Pool(threadpool.ThreadPool):
    """cheroot's worker pool with daemon threads: a server never stopped (a start that failed
    half-way) cannot keep the process from exiting."""

    def _spawn_worker(self) -> threadpool.WorkerThread:
        worker = threadpool.WorkerThread(self.server)  # type: ignore[no-untyped-call]
        worker.name = f"{self.server.name}-{worker.name}"
        worker.daemon = True
        worker.start()
        return worker


class Server(wsgi.Server):
    """cheroot's server with ``threads`` daemon workers, a ``timeout`` per connection, bounded
    headers, and the gateway above. ``name`` prefixes its threads and log lines. Call
    :meth:`prepare` to bind (an address in use fails then, not later)."""

    def __init__(self, address: Any, app: App, *, name: str, threads: int, timeout: float) -> None:
        super().__init__(
            address,
            app,
            numthreads=threads,
            max=threads,
            request_queue_size=64,
            timeout=timeout,  # type: ignore[arg-type]  # cheroot's stub says int; a float works
            shutdown_timeout=2,
        )
        self.name = name
        self.requests = _Pool(self, min=threads, max=threads, accepted_queue_size=64, accepted_queue_timeout=1)
        self.gateway = _Gateway
        self.max_request_header_size = MAX_HEADERS
        self.expiration_interval = 0.1  # how soon the serving loop sees a stop (and drops idle clients)

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        log.log(min(level, logging.WARNING), "%s http: %s", self.name, msg, exc_info=traceback)
