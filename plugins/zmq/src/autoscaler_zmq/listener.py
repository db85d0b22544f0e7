"""The ``zmq`` destroy listener: SUB to one or more zmq-event-publisher endpoints.

One SUB socket per endpoint, so a malformed frame is logged with the endpoint it came from and
its sequence number there. The receive loop runs under the daemon's supervisor (restarted if it
ever fails) and beats at every poll; ZMTP heartbeats on each connection notice a publisher that
went away without closing it (a restarted host, a dropped NAT entry) and make ZMQ reconnect.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import zmq
from pydantic import Field, field_validator, model_validator

from autoscaler.plugin import DestroyListener, Duration, ListenerSettings, PluginContext, Run, singular_alias
from autoscaler.wire.zmq import TOPICS, FrameError, parse_frame

log = logging.getLogger(__name__)
DRAIN = 1000
"""Frames read from one socket before the loop beats and looks at the others again."""
STALE_AFTER = 60.0
"""A loop silent this long (it beats every poll) is reported as hung."""


class ZmqSettings(ListenerSettings):
    """``type: zmq``: build events from the Jenkins zmq-event-publisher plugin."""

    endpoints: tuple[str, ...] = Field(min_length=1)
    """Publisher endpoints, e.g. ``tcp://jenkins.example.org:8888`` (or ``endpoint:`` with one)."""
    reconnect_max: Duration = Field(default=10.0, gt=0)
    """Longest pause between reconnection attempts; ZMQ reconnects by itself."""
    heartbeat: Duration = Field(default=10.0, gt=0)
    """Seconds between ZMTP heartbeats to each publisher; one silent for three of them is reconnected."""

    @model_validator(mode="before")
    @classmethod
    def _endpoint_alias(cls, data: Any) -> Any:
        return singular_alias(data, "endpoint", "endpoints")

    @field_validator("endpoints", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("endpoints")
    @classmethod
    def _zmq_url(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for endpoint in value:
            if not endpoint.startswith(("tcp://", "ipc://", "inproc://")) or endpoint[-3:] == "://":
                raise ValueError(f"expected an endpoint like tcp://host:8888, got {endpoint!r}")
        return value


class ZmqListener(DestroyListener):
    settings_model = ZmqSettings

    def __init__(self, settings: ListenerSettings, context: PluginContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, ZmqSettings)
        self.zmq_settings = settings
        self.controller = context.controller(settings.controller).name
        self.source = settings.display_name
        self._ctx = zmq.Context()
        self._run: Run | None = None
        self.received = 0
        self.malformed = 0
        self.sequence: Counter[str] = Counter()
        """Frames received per endpoint (the number a malformed frame is logged with)."""

    def start(self) -> None:
        self._run = self.context.supervise(self.source, self._loop, stale_after=STALE_AFTER)

    def stop(self) -> None:
        if self._run is not None:
            self._run.stop(timeout=5)
        self._ctx.term()

    def _socket(self, endpoint: str) -> zmq.Socket[bytes]:
        sock = self._ctx.socket(zmq.SUB)
        beat = int(self.zmq_settings.heartbeat * 1000)
        for option, value in (
            (zmq.LINGER, 0),
            (zmq.RECONNECT_IVL, 100),
            (zmq.RECONNECT_IVL_MAX, int(self.zmq_settings.reconnect_max * 1000)),
            (zmq.RCVHWM, 100_000),
            (zmq.HEARTBEAT_IVL, beat),
            (zmq.HEARTBEAT_TIMEOUT, 3 * beat),
            (zmq.HEARTBEAT_TTL, 3 * beat),
        ):
            sock.setsockopt(option, value)
        for topic in TOPICS:
            sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        sock.connect(endpoint)
        return sock

    def _loop(self, run: Run) -> None:
        sockets = {self._socket(endpoint): endpoint for endpoint in self.zmq_settings.endpoints}
        log.info("zmq listener %s subscribed to %s", self.source, ", ".join(self.zmq_settings.endpoints))
        poller = zmq.Poller()
        for sock in sockets:
            poller.register(sock, zmq.POLLIN)
        try:
            while not run.stopping.is_set():
                run.beat()
                for sock, _ in poller.poll(200):
                    self._drain(sock, sockets[sock])
        except zmq.ZMQError:
            if not run.stopping.is_set():
                raise  # the supervisor logs it and starts the loop again with fresh sockets
        finally:
            for sock in sockets:
                sock.close(0)

    def _drain(self, sock: Any, endpoint: str) -> None:
        """Read what is queued on one socket (up to ``DRAIN`` frames), then let the loop beat.
        Per frame only the parse and the emit: the frame's number is counted once per drain and
        named only for a malformed frame."""
        recv, parse, emit = sock.recv, parse_frame, self.context.emit
        controller, source = self.controller, self.source
        start, count = self.sequence[endpoint], 0
        try:
            while count < DRAIN:
                frame = recv(zmq.NOBLOCK)
                count += 1
                try:
                    event = parse(frame, controller=controller, source=source)
                except Exception as exc:
                    self.received += count
                    self.sequence[endpoint], start, count = start + count, start + count, 0
                    self._malformed(exc, f"{endpoint} frame #{start}")
                    continue
                if event is None:
                    self.context.count("ignored")
                else:
                    emit(event)
        except zmq.Again:
            pass
        finally:
            self.received += count
            self.sequence[endpoint] = start + count

    def handle(self, frame: bytes, where: str = "") -> None:
        """Turn one frame into an engine event. A frame that cannot be parsed, for whatever
        reason, is counted, logged once with where it came from, and skipped."""
        self.received += 1
        try:
            event = parse_frame(frame, controller=self.controller, source=self.source)
        except Exception as exc:
            self._malformed(exc, where)
            return
        if event is None:
            self.context.count("ignored")
            return
        self.context.emit(event)

    def _malformed(self, exc: Exception, where: str) -> None:
        self.malformed += 1
        self.context.count("malformed")
        reason = str(exc) if isinstance(exc, FrameError) else f"{type(exc).__name__}: {str(exc)[:200]}"
        log.warning("zmq %s: malformed frame%s skipped: %s", self.source, f" from {where}" if where else "", reason)
