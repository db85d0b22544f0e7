"""The HTTP API: ``/v1/pools``, ``/v1/agents``, ``/v1/demand``, ``/v1/events``, ``/v1/status``,
``/v1/history``, mutations (``POST /v1/agents/NAME/hold|release|delete``), ``/metrics``,
``/healthz``, ``/readyz`` and the status page at ``/``. Reads and writes go through the engine's inbox.

Served by cheroot (see :mod:`autoscaler.api.http` for why) on a Unix socket by default (mode
0600: the file's owner, the daemon's user, is the only client), and over TCP only when
``api.listen`` is set. Over TCP:

- mutations always need the bearer token; without ``api.token-file`` they are refused (403)
  and the daemon says so at start (reads, ``/metrics`` and the probes keep working);
- reads need the token too when the API is bound beyond loopback and a token is configured;
- ``/metrics`` needs it with ``api.metrics-require-token``; ``/healthz``, ``/readyz`` and the
  page's static shell at ``/`` never do (the page sends the token given in its URL fragment).

On both transports: the ``Host`` header must be an IP address, ``localhost``, the ``listen``
host or one of ``api.allowed-hosts`` (a DNS-rebinding page sends its own name); an ``Origin``,
when sent, must be the API's own; a mutation must be ``Content-Type: application/json`` (415:
what a cross-site form or ``text/plain`` fetch sends is refused); the body's length is checked
(400 negative or malformed, 411 chunked, 413 too large) before any of it is read.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from autoscaler.api import page
from autoscaler.api.history import History
from autoscaler.api.http import (
    Environ,
    HttpError,
    HttpServer,
    StartResponse,
    content_length,
    error,
    read_body,
    respond,
)
from autoscaler.api.metrics import render
from autoscaler.config.models import ApiConfig
from autoscaler.counters import PluginCounters
from autoscaler.engine.errors import AgentNotFound, CommandError, InvalidState, UnknownCommand
from autoscaler.engine.fence import NotLeader
from autoscaler.engine.messages import Command
from autoscaler.secrets import read_secret
from autoscaler.supervision import Supervisor

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
QUERY_TIMEOUT = 10.0
READS = {"/v1/pools": "pools", "/v1/agents": "agents", "/v1/demand": "demand", "/v1/events": "events"}
READS["/v1/status"] = "status"
READS["/v1/usage"] = "usage"
READS["/v1/why"] = "why"  # ?q=JOB|QUEUE-ID: why that queued build waits
MUTATIONS = ("hold", "release", "delete")
SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)

STATUS_OF: dict[type[CommandError], int] = {AgentNotFound: 404, InvalidState: 409, UnknownCommand: 400, NotLeader: 503}
"""The status code of each error an engine command raises (any other refusal: 400). A standby
replica refuses changes with 503: the request is fine, this replica cannot act on it now."""


class EngineHandle(Protocol):
    """What the API uses of the engine: its inbox and two read-only flags."""

    @property
    def ready(self) -> bool:
        """The first adoption pass and the first look at Jenkins are done."""

    @property
    def stopped(self) -> bool:
        """The engine has processed :class:`~autoscaler.engine.messages.Stop`."""

    def submit(self, message: Command) -> None:
        """Queue a message (thread-safe)."""


def status_of(exc: CommandError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def read_api_token(api: ApiConfig) -> str | None:
    """The API's bearer token (an empty file: no token); :class:`SecretError` if unreadable."""
    if api.token_file is None:
        return None
    return read_secret(file=api.token_file, what="api token-file")


class ApiServer:
    def __init__(
        self,
        api: ApiConfig,
        engine: EngineHandle,
        counters: PluginCounters,
        supervisor: Supervisor | None = None,
        history: History | None = None,
    ) -> None:
        self.config = api
        self.engine = engine
        self.counters = counters
        self.supervisor = supervisor
        """The listeners' supervisor: a listener dead for good or hung makes ``/healthz`` fail."""
        self.history = history or History()
        self.token = read_api_token(api)
        self.host = ""
        self.port = 0
        """The TCP port served (0: none)."""
        self.socket_path = api.socket_path
        self.servers: list[HttpServer] = []
        try:
            if api.listen is not None:
                self._listen_tcp(api.listen)
            if self.socket_path is not None:
                self._listen_unix(self.socket_path)
        except BaseException:
            self.stop()  # the one already bound
            raise

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def _listen_tcp(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        self.host = host.strip("[]")
        if self.token is None:
            log.warning("API on %s has no token-file: mutations over TCP are refused (use the Unix socket)", listen)
        try:
            server = self._server((self.host, int(port)), tcp=True)
        except OSError as exc:
            raise OSError(f"API cannot listen on {listen}: {_reason(exc)}") from None
        self.port = server.port
        self.servers.append(server)

    def _listen_unix(self, path: str) -> None:
        try:
            self.servers.append(self._server(path, tcp=False))
        except OSError as exc:
            hint = "" if self.config.socket else " (set api.socket to a path the daemon's user may create)"
            raise OSError(f"API cannot listen on unix://{path}: {_reason(exc)}{hint}") from None

    def _server(self, address: tuple[str, int] | str, *, tcp: bool) -> HttpServer:
        def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
            return self.app(environ, start_response, tcp=tcp)

        return HttpServer(address, app, name="api", threads=self.config.threads, timeout=self.config.timeout)

    def start(self) -> None:
        for server in self.servers:
            server.start()
        where = [f"http://{self.host}:{self.port}/" if self.port else "", f"unix://{self.socket_path or ''}"]
        log.info("API listening on %s", " and ".join(w for w in where if w not in ("", "unix://")))

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def ask(self, op: str, **args: Any) -> Any:
        command = Command(op, args)
        self.engine.submit(command)
        return command.reply.result(timeout=QUERY_TIMEOUT)

    # -- the WSGI application ---------------------------------------------------------------

    def app(self, environ: Environ, start_response: StartResponse, *, tcp: bool) -> list[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, *SECURITY_HEADERS], exc_info)

        try:
            self._check_origin(environ, tcp)
            return self._route(environ, start, tcp)
        except HttpError as exc:
            return error(start, exc)
        except FutureTimeout:
            return error(start, HttpError(503, "the engine did not answer in time"))
        except CommandError as exc:
            return error(start, HttpError(status_of(exc), str(exc)))
        except Exception as exc:  # a bug: say so, and keep serving
            log.exception("api: %s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            return error(start, HttpError(500, f"internal error: {type(exc).__name__}: {exc}"))

    def _check_origin(self, environ: Environ, tcp: bool) -> None:
        """DNS rebinding and cross-site requests: a foreign ``Host`` or ``Origin`` is refused."""
        host_header = str(environ.get("HTTP_HOST") or "")
        host = urlsplit(f"//{host_header}").hostname or ""
        allowed = {"localhost", self.host.lower(), *(h.lower() for h in self.config.allowed_hosts)}
        if tcp and not (_is_ip(host) or host.lower() in allowed):
            raise HttpError(403, f"Host {host_header[:100]!r} is not accepted (add it to api.allowed-hosts)")
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin != f"http://{host_header}":
            raise HttpError(403, f"cross-origin request from {origin[:100]!r} refused")

    def _authorize(self, environ: Environ, tcp: bool, kind: str) -> None:
        """``kind``: ``read``, ``mutation`` or ``metrics``. The Unix socket's mode is its access control."""
        if not tcp:
            return
        if kind == "mutation" and self.token is None:
            raise HttpError(403, "mutations over TCP need api.token-file (or use the Unix socket)")
        needed = {
            "mutation": True,
            "read": self.token is not None and not self.loopback,
            "metrics": self.config.metrics_require_token,
        }[kind]
        if not needed:
            return
        given = str(environ.get("HTTP_AUTHORIZATION") or "")
        token = self.token or ""
        if not (token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip(), token)):
            raise HttpError(401, "missing or wrong bearer token", close=kind == "mutation")

    def _route(self, environ: Environ, start: StartResponse, tcp: bool) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        if method == "POST":
            return self._mutate(environ, start, tcp, path)
        if method != "GET":
            raise HttpError(405, f"{method} is not served here", close=True)
        if path == "/":
            return respond(start, 200, page.HTML, "text/html; charset=utf-8", [("Content-Security-Policy", page.CSP)])
        if path == "/healthz":
            return self._healthz(start)
        if path == "/readyz":
            ready = self.engine.ready
            return respond(start, 200 if ready else 503, "ready\n" if ready else "not ready\n", "text/plain")
        if path == "/metrics":
            self._authorize(environ, tcp, "metrics")
            return self._metrics(start)
        if path != "/v1/history" and path not in READS:
            raise HttpError(404, f"no such endpoint: {path}")
        self._authorize(environ, tcp, "read")
        if path == "/v1/history":
            return respond(start, 200, self.history.snapshot())
        return respond(start, 200, self._read(READS[path], environ))

    def _read(self, op: str, environ: Environ) -> Any:
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        args: dict[str, Any] = {}
        if op == "agents" and "label" in query:
            args["label"] = query["label"]
        if op == "events" and "limit" in query:
            if not query["limit"].isdigit():
                raise HttpError(400, "limit must be a whole number")
            args["limit"] = int(query["limit"])
        if op == "usage" and "since" in query:
            args["since"] = _since(query["since"])
        if op == "why":
            args["q"] = query.get("q", "")
        return self.ask(op, **args)

    def _metrics(self, start: StartResponse) -> list[bytes]:
        synced = self.ask("metrics")  # the engine's thread brings the readings of its state up to date
        body, content_type = render(synced["registry"])
        return respond(start, 200, body, content_type)

    def _healthz(self, start: StartResponse) -> list[bytes]:
        """200 ``ok``; 503 when the engine stopped, or (JSON naming them) when a listener's loop is
        dead for good or has made no progress for its ``stale_after`` (see autoscaler.supervision)."""
        if self.engine.stopped:
            return respond(start, 503, "stopped\n", "text/plain")
        if self.supervisor is not None and self.supervisor.unhealthy():
            return respond(start, 503, self.supervisor.report())
        return respond(start, 200, "ok\n", "text/plain")

    def _mutate(self, environ: Environ, start: StartResponse, tcp: bool, path: str) -> list[bytes]:
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["v1", "agents"] or parts[3] not in MUTATIONS:
            raise HttpError(404, "expected POST /v1/agents/NAME/hold|release|delete", close=True)
        self._authorize(environ, tcp, "mutation")
        content_type = str(environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise HttpError(415, f"send Content-Type: application/json (got {content_type or 'none'!r})", close=True)
        length = content_length(environ, MAX_BODY)
        body = _json_object(read_body(environ, length) or b"{}")
        args: dict[str, Any] = {"name": parts[2]}  # PATH_INFO is already decoded (once)
        if parts[3] == "hold":
            seconds = body.get("seconds")
            if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)):
                raise HttpError(400, "seconds must be a positive number")
            if seconds is not None and seconds <= 0:
                raise HttpError(400, "seconds must be a positive number")
            args.update(reason=str(body.get("reason") or ""), seconds=seconds)
        elif parts[3] == "delete":
            args["now"] = bool(body.get("now"))
        return respond(start, 200, self.ask(parts[3], **args))


def _reason(exc: OSError) -> str:
    """The OS's words for a failed bind (cheroot wraps the error it caught in one of its own)."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    found = re.search(r"\[Errno (\d+)\]", str(cause))
    return cause.strerror or (os.strerror(int(found.group(1))) if found else str(cause))


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise HttpError(400, f"bad JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise HttpError(400, "bad JSON body: expected a JSON object")
    return body


def _since(text: str) -> float:
    """``GET /v1/usage?since=SECONDS``."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise HttpError(400, f"since must be a positive number of seconds (got {text!r})")
    return seconds
