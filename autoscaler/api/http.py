"""The daemon's HTTP plumbing: WSGI on cheroot (see :mod:`autoscaler.wire.wsgi` for why cheroot
and not ``http.server``), bound to a TCP port or to a Unix socket made 0600 before it is reachable.
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
from collections.abc import Iterable
from typing import Any

from autoscaler.wire.wsgi import App, Environ, Server, StartResponse, status_line

log = logging.getLogger(__name__)

__all__ = ["Environ", "HttpError", "HttpServer", "StartResponse", "content_length", "error", "read_body", "respond"]

MAX_SOCKET_PATH = 107
"""Longest Unix socket path the kernel accepts (``sun_path`` holds 108 bytes with its NUL)."""


class HttpError(Exception):
    """A request refused with ``status`` and a one-line reason (sent as ``{"error": ...}``)."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.close = close
        """Close the connection: the body was not read, so the stream cannot be reused."""


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
    start_response(status_line(status), out)
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


class _Server(Server):
    """A Unix socket never reachable with a wider mode than 0600, and never taking over the
    socket of a live daemon."""

    def bind_unix_socket(self, bind_addr: str) -> socket.socket:
        sock = bind_private_socket(bind_addr)
        self.socket = sock
        return sock


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
        self.server = _Server(address, app, name=name, threads=threads, timeout=timeout)
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
