"""The ``zmq`` destroy listener: SUB to one or more zmq-event-publisher endpoints."""

from __future__ import annotations

import logging
import threading

import zmq
from pydantic import Field, field_validator

from autoscaler.config.units import Duration
from autoscaler.plugin import DestroyListener, ListenerSettings, PluginContext
from autoscaler_zmq.frames import TOPICS, FrameError, parse_frame

log = logging.getLogger(__name__)


class ZmqSettings(ListenerSettings):
    """``type: zmq``: build events from the Jenkins zmq-event-publisher plugin."""

    endpoints: tuple[str, ...] = Field(min_length=1)
    """Publisher endpoints, e.g. ``tcp://jenkins.example.org:8888``."""
    reconnect_max: Duration = Field(default=10.0, gt=0)
    """Longest pause between reconnection attempts; ZMQ reconnects by itself."""

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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.received = 0
        self.malformed = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"zmq-{self.source}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._ctx.term()

    def _run(self) -> None:
        sock = self._ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, int(self.zmq_settings.reconnect_max * 1000))
        sock.setsockopt(zmq.RCVHWM, 100_000)
        for topic in TOPICS:
            sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        for endpoint in self.zmq_settings.endpoints:
            sock.connect(endpoint)
        log.info("zmq listener %s subscribed to %s", self.source, ", ".join(self.zmq_settings.endpoints))
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if not poller.poll(200):
                    continue
                while True:
                    try:
                        frame = sock.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.handle(frame)
        except zmq.ZMQError as exc:
            if not self._stop.is_set():
                log.error("zmq listener %s stopped: %s", self.source, exc)
        finally:
            sock.close(0)

    def handle(self, frame: bytes) -> None:
        """Turn one frame into an engine event; malformed frames are counted and logged."""
        self.received += 1
        try:
            event = parse_frame(frame, controller=self.controller, source=self.source)
        except FrameError as exc:
            self.malformed += 1
            self.context.count("malformed")
            log.warning("zmq %s: malformed frame skipped: %s", self.source, exc)
            return
        if event is None:
            self.context.count("ignored")
            return
        self.context.emit(event)
