"""The HTTP API: ``/v1/pools``, ``/v1/agents``, ``/v1/demand``, ``/v1/events``, mutations,
``/metrics``, ``/healthz``, ``/readyz``. Reads and writes go through the engine's inbox."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from autoscaler.api.metrics import render
from autoscaler.config.models import ApiConfig
from autoscaler.counters import PluginCounters
from autoscaler.engine.errors import AgentNotFound, CommandError, InvalidState, UnknownCommand
from autoscaler.engine.messages import Command
from autoscaler.secrets import read_secret
from autoscaler.supervision import Supervisor

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
QUERY_TIMEOUT = 10.0

STATUS_OF: dict[type[CommandError], int] = {AgentNotFound: 404, InvalidState: 409, UnknownCommand: 400}
"""The status code of each error an engine command raises (any other refusal: 400)."""


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


def status_of(error: CommandError) -> int:
    for cls in type(error).__mro__:
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


def read_api_token(api: ApiConfig) -> str | None:
    """The API's bearer token (an empty file: no token); :class:`SecretError` if unreadable."""
    if api.token_file is None:
        return None
    return read_secret(file=api.token_file, what="api token-file")


class ApiServer:
    def __init__(
        self, api: ApiConfig, engine: EngineHandle, counters: PluginCounters, supervisor: Supervisor | None = None
    ) -> None:
        host, _, port = api.listen.rpartition(":")
        self.host = host.strip("[]")
        self.engine = engine
        self.counters = counters
        self.supervisor = supervisor
        """The listeners' supervisor: a listener dead for good or hung makes ``/healthz`` fail."""
        self.loopback = is_loopback(self.host)
        self.token = read_api_token(api)
        if not self.loopback and self.token is None:
            log.warning("API on %s has no token-file: mutations are refused", api.listen)
        handler = type("Handler", (_Handler,), {"api": self})
        try:
            self.httpd = ThreadingHTTPServer((self.host, int(port)), handler)
        except OSError as exc:
            raise OSError(f"API cannot listen on {api.listen}: {exc.strerror}") from None
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="api", daemon=True)
        self._started = False

    def start(self) -> None:
        self._thread.start()
        self._started = True
        log.info("API listening on http://%s:%d/", self.host, self.port)

    def stop(self) -> None:
        if self._started:
            self.httpd.shutdown()
        self.httpd.server_close()

    def ask(self, op: str, **args: Any) -> Any:
        command = Command(op, args)
        self.engine.submit(command)
        return command.reply.result(timeout=QUERY_TIMEOUT)


class _Handler(BaseHTTPRequestHandler):
    api: ApiServer
    server_version = "autoscaler"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("api: " + format, *args)

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else json.dumps(body, indent=1).encode())
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": message})

    def _authorized(self, mutation: bool) -> bool:
        if self.api.token is None:
            if mutation and not self.api.loopback:
                self._error(403, "mutations need api.token-file when the API is not on loopback")
                return False
            return True
        if not mutation and self.api.loopback:
            return True
        given = self.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip(), self.api.token):
            return True
        self._error(401, "missing or wrong bearer token")
        return False

    def _ask(self, op: str, **args: Any) -> Any:
        try:
            return self.api.ask(op, **args)
        except FutureTimeout:
            self._error(503, "the engine did not answer in time")
        except CommandError as exc:
            self._error(status_of(exc), str(exc))
        except Exception as exc:  # a bug in the engine: say so, and keep serving
            log.exception("api: %s failed", op)
            self._error(500, f"internal error: {type(exc).__name__}: {exc}")
        return None

    # -- routes -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/") or "/"
        if path == "/healthz":
            self._healthz()
            return
        if path == "/readyz":
            ready = self.api.engine.ready
            self._send(200 if ready else 503, "ready\n" if ready else "not ready\n", "text/plain")
            return
        if path == "/metrics":
            data = self._ask("metrics")
            if data is not None:
                text = render(data, self.api.counters.snapshot())
                if self.api.supervisor is not None:
                    text += self.api.supervisor.render_metrics()
                self._send(200, text, "text/plain; version=0.0.4; charset=utf-8")
            return
        routes = {
            "/v1/pools": "pools",
            "/v1/agents": "agents",
            "/v1/demand": "demand",
            "/v1/events": "events",
            "/v1/status": "status",
        }
        op = routes.get(path)
        if op is None:
            self._error(404, f"no such endpoint: {path}")
            return
        if not self._authorized(mutation=False):
            return
        args: dict[str, Any] = {}
        if op == "agents" and "label" in query:
            args["label"] = query["label"]
        if op == "events" and "limit" in query:
            if not query["limit"].isdigit():
                self._error(400, "limit must be a whole number")
                return
            args["limit"] = int(query["limit"])
        result = self._ask(op, **args)
        if result is not None:
            self._send(200, result)

    def _healthz(self) -> None:
        """200 ``ok``; 503 when the engine stopped, or (JSON naming them) when a listener's loop is
        dead for good or has made no progress for its ``stale_after`` (see autoscaler.supervision)."""
        if self.api.engine.stopped:
            self._send(503, "stopped\n", "text/plain")
            return
        supervisor = self.api.supervisor
        if supervisor is not None and supervisor.unhealthy():
            self._send(503, supervisor.report())
            return
        self._send(200, "ok\n", "text/plain")

    def do_POST(self) -> None:
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["v1", "agents"] or parts[3] not in ("hold", "release", "delete"):
            self._error(404, "expected POST /v1/agents/NAME/hold|release|delete")
            return
        if not self._authorized(mutation=True):
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._error(413, "body too large")
            return
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:
            self._error(400, f"bad JSON body: {exc}")
            return
        args: dict[str, Any] = {"name": unquote(parts[2])}
        if parts[3] == "hold":
            seconds = body.get("seconds")
            if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
                self._error(400, "seconds must be a positive number")
                return
            args.update(reason=str(body.get("reason") or ""), seconds=seconds)
        elif parts[3] == "delete":
            args["now"] = bool(body.get("now"))
        result = self._ask(parts[3], **args)
        if result is not None:
            self._send(200, result)
