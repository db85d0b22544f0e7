"""The ``cloudevents`` listener: an HTTP endpoint the Jenkins cloudevents plugin POSTs to.

Served by cheroot, a production WSGI server, not ``http.server``: a bounded worker pool, a
socket timeout on every connection (a client that never finishes its request is dropped),
bounded request line and headers, and lazy bodies, so a POST is checked in this order before
a byte of its body is read: path (404), method (405), shared secret (401), length (411, 400,
413), content type (415). A refused POST closes the connection instead of draining its body.
A body that cannot be parsed, for whatever reason, is answered 400, counted and logged. The
server's watchdog loop runs under the daemon's supervisor and beats every half second.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Iterable

from pydantic import Field, field_validator

from autoscaler.plugin import DestroyListener, ListenerSettings, PluginContext, Run, read_secret
from autoscaler.wire.cloudevents import CloudEvent, InvalidEvent, from_binary, from_structured, to_engine_event
from autoscaler.wire.wsgi import Environ, Server, StartResponse, status_line

log = logging.getLogger(__name__)
STALE_AFTER = 60.0
"""A server loop silent this long (it beats every half second) is reported as hung."""


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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
    timeout: float = Field(default=10.0, gt=0)
    """Socket timeout of one connection, in seconds: a sender silent this long is disconnected."""
    threads: int = Field(default=4, ge=1, le=64)
    """Worker threads serving POSTs (connections beyond wait in a bounded queue)."""

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
        self.server = self._bind(host.strip("[]"), int(port))
        self.port = int(self.server.bind_addr[1])
        self._run: Run | None = None
        self.accepted = 0
        self.rejected = 0

    def _bind(self, host: str, port: int) -> Server:
        server = Server(
            (host, port), self.app, name=f"cloudevents-{self.source}", threads=self.ce.threads, timeout=self.ce.timeout
        )
        server.prepare()  # binds now: a port in use fails the start, not later
        return server

    def start(self) -> None:
        self._run = self.context.supervise(self.source, self._loop, stale_after=STALE_AFTER)
        log.info("cloudevents %s listening on %s%s", self.source, self.ce.listen, self.ce.path)

    def _loop(self, run: Run) -> None:
        """Serve in a thread and beat while it serves; if it ever ends unasked, bind again and
        raise, so the supervisor records the failure and runs this loop again."""
        if not self.server.ready:
            self.server = self._bind(self.server.bind_addr[0], self.port)
        thread = threading.Thread(target=self.server.serve, name=f"{self.source}-http", daemon=True)
        thread.start()
        while thread.is_alive() and not run.stopping.is_set():
            run.beat()
            thread.join(0.5)
        if not run.stopping.is_set():
            self.server.stop()
            raise RuntimeError("the HTTP server stopped serving")

    def stop(self) -> None:
        if self._run is not None:
            self._run.stopping.set()
        self.server.stop()
        if self._run is not None:
            self._run.stop(timeout=5)

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

    # -- the WSGI application ---------------------------------------------------------------

    def app(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            body = self._checked_body(environ)
            self._accept(environ, body)
        except Refused as exc:
            return self._reply(start_response, exc.status, str(exc))
        return self._reply(start_response, 202)

    def _checked_body(self, environ: Environ) -> bytes:
        """The body, read only once the request passed every check its headers allow."""
        if environ.get("PATH_INFO") != self.ce.path:
            raise Refused(404, f"no such path; events go to {self.ce.path}")
        if environ.get("REQUEST_METHOD") != "POST":
            raise Refused(405, "events are POSTed")
        if self.secret is not None:
            given = str(environ.get("HTTP_" + self.ce.secret_header.upper().replace("-", "_"), ""))
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                raise Refused(401, f"missing or wrong {self.ce.secret_header}")
        length = environ.get("CONTENT_LENGTH")
        if environ.get("HTTP_TRANSFER_ENCODING") or not length:
            raise Refused(411, "Content-Length is required")
        if not length.isdigit():
            raise Refused(400, f"bad Content-Length {length[:20]!r}")
        if int(length) > self.ce.max_body:
            raise Refused(413, f"body larger than {self.ce.max_body} bytes")
        content_type = _content_type(environ)
        binary = content_type in ("application/json", "") or content_type.endswith("+json")
        if not content_type.startswith("application/cloudevents") and not binary:
            raise Refused(415, f"unsupported Content-Type {content_type!r}")
        return bytes(environ["wsgi.input"].read(int(length)))

    def _accept(self, environ: Environ, body: bytes) -> None:
        headers = {k[5:].lower().replace("_", "-"): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
        try:
            events = self.parse(_content_type(environ), headers, body)
            engine_events = [to_engine_event(e, controller=self.controller, source=self.source) for e in events]
        except InvalidEvent as exc:
            raise Refused(400, f"{exc} ({len(body)} bytes from {environ.get('REMOTE_ADDR')})") from None
        for engine_event in engine_events:
            if engine_event is None:
                self.context.count("ignored")
            else:
                self.context.emit(engine_event)
        self.accepted += len(events)

    def _reply(self, start_response: StartResponse, code: int, error: str | None = None) -> list[bytes]:
        body = b"" if error is None else json.dumps({"error": error}).encode()
        headers = [("Content-Length", str(len(body)))]
        if error is not None:  # counted before the sender hears back
            self.rejected += 1
            self.context.count("malformed" if code == 400 else f"rejected-{code}")
            log.warning("cloudevents %s: rejected a POST (%d): %s", self.source, code, error)
            headers += [("Content-Type", "application/json"), ("Connection", "close")]
        start_response(status_line(code), headers)
        return [body]


def _content_type(environ: Environ) -> str:
    return str(environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
