"""The daemon's HTTP plumbing: WSGI on cheroot, bound to a TCP port or a Unix socket.

Why cheroot (CherryPy's server, a production WSGI server with no dependency of its own), not
``http.server`` (which Python's docs say is not for production):

- threaded like the daemon (no event loop to bridge to the engine's inbox);
- a bounded worker pool (``numthreads``/``max``) and a bounded accept queue, where
  ``ThreadingHTTPServer`` starts one thread per connection without limit;
- a socket timeout on every accepted connection, so a client that never finishes its
  headers (slowloris) is dropped instead of holding a thread forever;
- bounded request line and headers (414/413 beyond ``max_request_header_size``);
- Unix socket binding (the API's default), here made 0600 before it is reachable;
- the application sees the headers before it reads the body (``wsgi.input`` is read lazily),
  so a request can be refused (wrong token, too large, wrong type) without reading its body.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterable
from typing import Any

from cheroot import wsgi
from cheroot.workers import threadpool

log = logging.getLogger(__name__)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]

MAX_HEADERS = 16 * 1024
"""Request line plus headers, in bytes (cheroot answers 414 or 413 beyond)."""
MAX_SOCKET_PATH = 107
"""Longest Unix socket path the kernel accepts (``sun_path`` holds 108 bytes with its NUL)."""


class HttpError(Exception):
    """A request refused with ``status`` and a one-line reason (sent as ``{"error": ...}``)."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.close = close
        """Close the connection: the body was not read, so the stream cannot be reused."""


REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def respond(
    start_response: StartResponse,
    status: int,
    body: Any,
    content_type: str = "application/json",
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Start a response with a body of bytes, text, or JSON (anything else)."""
    if isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body, indent=1).encode()
    out = [("Content-Type", content_type), ("Content-Length", str(len(data))), *headers]
    start_response(f"{status} {REASONS.get(status, 'Status')}", out)
    return [data]


def error(start_response: StartResponse, exc: HttpError) -> list[bytes]:
    headers = [("Connection", "close")] if exc.close else []
    return respond(start_response, exc.status, {"error": str(exc)}, headers=headers)


def content_length(environ: Environ, limit: int) -> int:
    """The request's declared body length, checked before any of it is read: a chunked or
    malformed or negative length is 400/411, one beyond ``limit`` is 413."""
    if environ.get("HTTP_TRANSFER_ENCODING"):
        raise HttpError(411, "send a Content-Length (chunked bodies are not accepted)", close=True)
    raw = environ.get("CONTENT_LENGTH") or "0"
    if not raw.isdigit():
        raise HttpError(400, f"bad Content-Length {raw[:20]!r}", close=True)
    length = int(raw)
    if length > limit:
        raise HttpError(413, f"body larger than {limit} bytes", close=True)
    return length


def read_body(environ: Environ, length: int) -> bytes:
    return bytes(environ["wsgi.input"].read(length)) if length else b""


class _Gateway(wsgi.Gateway_10):
    """Closes the connection after a response that says ``Connection: close`` instead of
    reading (and discarding) the body the application chose not to read."""

    def start_response(self, status: Any, headers: Any, exc_info: Any = None) -> Any:
        write = super().start_response(status, headers, exc_info)
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
            self.req.close_connection = True
        return write


class _Pool(threadpool.ThreadPool):
    """cheroot's worker pool with daemon threads: a server that is never stopped (a start that
    failed half-way) cannot keep the process from exiting."""

    def _spawn_worker(self) -> threadpool.WorkerThread:
        worker = threadpool.WorkerThread(self.server)  # type: ignore[no-untyped-call]
        worker.name = f"http-{worker.name}"
        worker.daemon = True
        worker.start()
        return worker


class _Server(wsgi.Server):
    """cheroot's server with daemon workers, and a Unix socket that is never reachable with a
    wider mode than 0600 and never takes over the socket of a live daemon."""

    def __init__(self, address: Any, app: App, *, threads: int, timeout: float) -> None:
        super().__init__(
            address,
            app,
            numthreads=threads,
            max=threads,
            request_queue_size=64,
            timeout=timeout,  # type: ignore[arg-type]  # cheroot's stub says int; a float works
            shutdown_timeout=2,
        )
        self.requests = _Pool(self, min=threads, max=threads, accepted_queue_size=64, accepted_queue_timeout=1)

    def bind_unix_socket(self, bind_addr: str) -> socket.socket:
        sock = bind_private_socket(bind_addr)
        self.socket = sock
        return sock

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        log.log(min(level, logging.WARNING), "api http: %s", msg, exc_info=traceback)


def bind_private_socket(path: str) -> socket.socket:
    """A listening-ready Unix socket at ``path``, mode 0600: bound under a temporary name,
    chmod-ed, then renamed into place. A stale socket file is replaced; a live one is not."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise OSError(errno.ENAMETOOLONG, f"socket path longer than {MAX_SOCKET_PATH} bytes")
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o755, exist_ok=True)
    _refuse_live(path)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(temporary)
        os.chmod(temporary, 0o600)
        os.rename(temporary, path)
    except OSError:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return sock


def _refuse_live(path: str) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, "exists and is not a socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return  # stale: nobody listens
    raise OSError(errno.EADDRINUSE, "a live server already listens on it")


class HttpServer:
    """One WSGI app on one address (``(host, port)`` or a socket path), served in a thread."""

    def __init__(
        self, address: tuple[str, int] | str, app: App, *, name: str, threads: int = 4, timeout: float = 10.0
    ) -> None:
        self.name = name
        self.server = _Server(address, app, threads=threads, timeout=timeout)
        self.server.gateway = _Gateway
        self.server.max_request_header_size = MAX_HEADERS
        self.server.expiration_interval = 0.1  # how soon the serving loop sees a stop (and drops idle clients)
        self.server.prepare()  # binds now: an address in use fails the start, not later
        self.address = self.server.bind_addr
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._started = False

    @property
    def port(self) -> int:
        return int(self.address[1]) if isinstance(self.address, tuple) else 0

    def _serve(self) -> None:
        try:
            self.server.serve()
        except Exception:
            log.exception("%s: the HTTP server stopped", self.name)

    def start(self) -> None:
        self._thread.start()
        self._started = True

    def stop(self) -> None:
        self.server.stop()
        if self._started:
            self._thread.join(timeout=5)
        if isinstance(self.address, str):
            with contextlib.suppress(OSError):
                os.unlink(self.address)
