"""The ``cloudevents`` listener: an HTTP endpoint the Jenkins cloudevents plugin POSTs to.

A body that cannot be parsed, for whatever reason, is answered 400, counted and logged. The
server loop runs under the daemon's supervisor and beats every half second.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import Field, field_validator

from autoscaler.plugin import DestroyListener, ListenerSettings, PluginContext, Run, read_secret
from autoscaler.wire.cloudevents import CloudEvent, InvalidEvent, from_binary, from_structured, to_engine_event

log = logging.getLogger(__name__)
STALE_AFTER = 60.0
"""A server loop silent this long (it beats every half second) is reported as hung."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    beat: Callable[[], None] = staticmethod(lambda: None)

    def service_actions(self) -> None:  # called by serve_forever at every turn
        self.beat()


class CloudEventsSettings(ListenerSettings):
    """``type: cloudevents``: receives the Jenkins cloudevents plugin's HTTP POSTs (binary or structured)."""

    listen: str = "127.0.0.1:8790"
    """``host:port`` to listen on (point the Jenkins plugin's sink URL here)."""
    path: str = "/"
    """URL path events are posted to."""
    max_body: int = Field(default=1024 * 1024, ge=1024)
    """Largest accepted body, in bytes (413 beyond)."""
    secret_header: str = "X-Autoscaler-Token"
    """Header that must carry the shared secret, when one is configured."""
    secret_file: str | None = None
    """File holding the shared secret (optional)."""
    secret_env: str | None = None
    """Environment variable holding the shared secret (optional)."""

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port like 0.0.0.0:8790, got {value!r}")
        return value


class CloudEventsReceiver(DestroyListener):
    settings_model = CloudEventsSettings

    def __init__(self, settings: ListenerSettings, context: PluginContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, CloudEventsSettings)
        self.ce = settings
        self.controller = context.controller(settings.controller).name
        self.source = settings.display_name
        self.secret = read_secret(file=settings.secret_file, env=settings.secret_env, what=f"{self.source} secret")
        host, _, port = settings.listen.rpartition(":")
        handler = type("Handler", (_Handler,), {"receiver": self})
        self.httpd = _Server((host.strip("[]"), int(port)), handler)
        self.port = int(self.httpd.server_address[1])
        self._run: Run | None = None
        self.accepted = 0
        self.rejected = 0

    def start(self) -> None:
        self._run = self.context.supervise(self.source, self._loop, stale_after=STALE_AFTER)
        log.info("cloudevents %s listening on %s%s", self.source, self.ce.listen, self.ce.path)

    def _loop(self, run: Run) -> None:
        self.httpd.beat = run.beat
        self.httpd.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        if self._run is not None:
            self._run.stopping.set()
            self.httpd.shutdown()  # serve_forever returns; the supervisor sees the stop request
            self._run.stop(timeout=5)
        self.httpd.server_close()

    def parse(self, content_type: str, headers: dict[str, str], body: bytes) -> list[CloudEvent]:
        """The events of one POST; :class:`InvalidEvent` for any body that cannot be parsed."""
        try:
            if content_type.startswith("application/cloudevents"):
                return from_structured(body)
            return [from_binary(headers, body)]
        except InvalidEvent:
            raise
        except Exception as exc:
            raise InvalidEvent(f"cannot parse the body ({type(exc).__name__}: {str(exc)[:200]})") from None


class _Handler(BaseHTTPRequestHandler):
    receiver: CloudEventsReceiver
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("cloudevents: " + format, *args)

    def _reply(self, code: int, error: str | None = None) -> None:
        body = b"" if error is None else json.dumps({"error": error}).encode()
        if error is not None:  # counted before the sender hears back
            self.receiver.rejected += 1
            self.receiver.context.count("malformed" if code == 400 else f"rejected-{code}")
            log.warning("cloudevents %s: rejected a POST (%d): %s", self.receiver.source, code, error)
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        if body:
            self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply(405, "events are POSTed")

    def do_POST(self) -> None:
        r = self.receiver
        if self.path.split("?")[0] != r.ce.path:
            self._reply(404, f"no such path; events go to {r.ce.path}")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._reply(411, "Content-Length is required")
            return
        if int(length) > r.ce.max_body:
            self.close_connection = True
            self._reply(413, f"body larger than {r.ce.max_body} bytes")
            return
        body = self.rfile.read(int(length))
        if r.secret is not None:
            given = self.headers.get(r.ce.secret_header, "")
            if not hmac.compare_digest(given.encode(), r.secret.encode()):
                self._reply(401, f"missing or wrong {r.ce.secret_header}")
                return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        binary = content_type in ("application/json", "") or content_type.endswith("+json")
        if not content_type.startswith("application/cloudevents") and not binary:
            self._reply(415, f"unsupported Content-Type {content_type!r}")
            return
        try:
            events = r.parse(content_type, dict(self.headers.items()), body)
            engine_events = [to_engine_event(e, controller=r.controller, source=r.source) for e in events]
        except InvalidEvent as exc:
            self._reply(400, f"{exc} ({len(body)} bytes from {self.client_address[0]})")
            return
        for engine_event in engine_events:
            if engine_event is None:
                r.context.count("ignored")
            else:
                r.context.emit(engine_event)
        r.accepted += len(events)
        self._reply(202)
