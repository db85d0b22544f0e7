"""The zmq listener on real sockets: events from the simulated Jenkins' PUB socket."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from typing import Any

import pytest
import zmq
from autoscaler_zmq import ZmqListener, ZmqSettings

from autoscaler.config.models import Config
from autoscaler.events import BuildFinished, BuildStarted, Event, LifecycleHint
from autoscaler.plugin import PluginContext
from autoscaler.supervision import State, Supervisor


def start_listener(endpoints: list[str], **extra: Any) -> tuple[ZmqListener, queue.SimpleQueue[Event], list[str]]:
    config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    counted: list[str] = []
    settings = ZmqSettings.model_validate({"type": "zmq", "endpoints": endpoints, **extra})
    listener = ZmqListener(settings, PluginContext(config=config, emit=events.put, count=counted.append))
    listener.start()
    return listener, events, counted


def publish_until_received(pub: zmq.Socket[bytes], frame: bytes, events: queue.SimpleQueue[Event]) -> Event:
    """PUB/SUB drops messages until the subscription has propagated: resend until one arrives."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pub.send(frame)
        try:
            return events.get(timeout=0.1)
        except queue.Empty:
            continue
    raise AssertionError("no event received")


def rebind(sock: zmq.Socket[bytes], endpoint: str) -> None:
    """zmq releases a closed socket's port in the background: retry the bind until it is free."""
    deadline = time.monotonic() + 5
    while True:
        try:
            sock.bind(endpoint)
            return
        except zmq.ZMQError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_events_from_a_publisher_reach_the_engine_and_garbage_is_counted() -> None:
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    listener, events, counted = start_listener([f"tcp://127.0.0.1:{port}"])
    try:
        frame = b'onStarted {"name":"j","build":{"number":3,"phase":"STARTED","node_name":"ci-python-abcdef"}}'
        event = publish_until_received(pub, frame, events)
        assert event == BuildStarted("ci-python-abcdef", "main", "j", 3, None, "zmq")
        pub.send(b"onFinalized {broken")
        pub.send(
            b'onFinalized {"name":"j","build":{"number":3,"phase":"FINISHED","status":"FAILURE",'
            b'"node_name":"ci-python-abcdef"}}'
        )
        assert events.get(timeout=5) == BuildFinished("ci-python-abcdef", "main", "j", 3, None, "FAILURE", "zmq")
        assert counted == ["malformed"] and listener.malformed == 1
    finally:
        listener.stop()
        pub.close(0)


def test_listener_reconnects_when_the_publisher_restarts() -> None:
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    listener, events, _ = start_listener([f"tcp://127.0.0.1:{port}"])
    try:
        hint = b'onCompleted {"name":"p","build":{"number":1,"phase":"COMPLETED","node_name":""}}'
        assert publish_until_received(pub, hint, events) == LifecycleHint("main", "zmq")
        pub.close(0)  # Jenkins restarts
        pub = ctx.socket(zmq.PUB)
        rebind(pub, f"tcp://127.0.0.1:{port}")
        assert publish_until_received(pub, hint, events) == LifecycleHint("main", "zmq")
    finally:
        listener.stop()
        pub.close(0)


def test_stop_returns_promptly() -> None:
    listener, _, _ = start_listener(["tcp://127.0.0.1:1"])
    started = time.monotonic()
    listener.stop()
    assert time.monotonic() - started < 3


STARTED = b'onStarted {"name":"j","build":{"number":3,"phase":"STARTED","node_name":"ci-python-abcdef"}}'
FINALIZED = (
    b'onFinalized {"name":"j","build":{"number":3,"phase":"FINISHED","status":"SUCCESS",'
    b'"node_name":"ci-python-abcdef"}}'
)


@pytest.mark.parametrize(
    "poison",
    [
        b"onFinalized " + b"[" * 100_000,  # json.loads raises RecursionError
        b"onFinalized " + b'{"build":' * 50_000,
        b"onStarted \xff\xfe{}",
    ],
    ids=["nested-list", "nested-object", "not-utf8"],
)
def test_a_poison_frame_is_counted_and_skipped_and_the_listener_lives_on(
    poison: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    listener, events, counted = start_listener([f"tcp://127.0.0.1:{port}"])
    try:
        assert isinstance(publish_until_received(pub, STARTED, events), BuildStarted)
        with caplog.at_level(logging.WARNING, logger="autoscaler_zmq"):
            pub.send(poison)
            pub.send(FINALIZED)
            assert isinstance(events.get(timeout=5), BuildFinished)  # the frame after the poison arrives
        assert counted == ["malformed"] and listener.malformed == 1
        (line,) = [r.getMessage() for r in caplog.records if "malformed frame" in r.getMessage()]
        assert f"from tcp://127.0.0.1:{port} frame #" in line
        (health,) = listener.context.supervisor.health()
        assert (health.state, health.restarts) == (State.RUNNING, 0)  # survived, not restarted
    finally:
        listener.stop()
        pub.close(0)
    assert listener.context.supervisor.health()[0].state is State.STOPPED


class FreezingProxy:
    """TCP forwarder to a port; freeze() turns the open connections into black holes that stay
    open (a half-open connection: the peer vanished without closing it)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.frozen: set[int] = set()
        self.connections: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self.connections.append((client, upstream))
            ident = len(self.connections)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(ident, a, b), daemon=True).start()

    def _pipe(self, ident: int, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if ident not in self.frozen:
                    dst.sendall(data)
            if ident not in self.frozen:
                dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def freeze(self) -> None:
        self.frozen.update(range(1, len(self.connections) + 1))

    def close(self) -> None:
        self.server.close()
        for a, b in self.connections:
            a.close()
            b.close()


def test_heartbeats_notice_a_publisher_that_vanished_without_closing_the_connection() -> None:
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    proxy = FreezingProxy(port)
    listener, events, _ = start_listener([f"tcp://127.0.0.1:{proxy.port}"], heartbeat=0.1)
    try:
        assert isinstance(publish_until_received(pub, STARTED, events), BuildStarted)
        proxy.freeze()  # Jenkins' host is gone: nothing comes back, and no FIN either
        pub.close(0)
        pub = ctx.socket(zmq.PUB)
        rebind(pub, f"tcp://127.0.0.1:{port}")  # Jenkins is back on the same port
        assert isinstance(publish_until_received(pub, FINALIZED, events), BuildFinished)
    finally:
        listener.stop()
        pub.close(0)
        proxy.close()


def test_endpoint_is_an_alias_of_endpoints_and_both_is_an_error() -> None:
    from autoscaler.assembly import resolve_plugins
    from autoscaler.config.errors import ConfigError
    from autoscaler.config.loader import parse_config
    from autoscaler.discovery import Registry

    one = ZmqSettings.model_validate({"type": "zmq", "endpoint": "tcp://j:8888"})
    assert one.endpoints == ("tcp://j:8888",)
    head = "controllers: [{url: 'http://j/'}]\nlabels: [{name: python}]\ndestroy-listeners:\n  - type: zmq\n"
    loaded = parse_config(head + "    endpoint: tcp://j:8888\n", "c.yaml")
    (resolved,) = resolve_plugins(loaded, Registry.discover()).destroy
    assert resolved.settings.endpoints == ("tcp://j:8888",)  # type: ignore[attr-defined]
    both = head + "    endpoints: [tcp://j:8888]\n    endpoint: tcp://k:8888\n"
    with pytest.raises(ConfigError) as info:
        resolve_plugins(parse_config(both, "c.yaml"), Registry.discover())
    message = str(info.value)
    assert "c.yaml:6: destroy-listeners[0].endpoint:" in message
    assert "endpoint" in message and "endpoints" in message and "not both" in message


def test_a_loop_that_fails_is_restarted_by_the_supervisor() -> None:
    config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    failures = [RuntimeError("engine inbox closed")]

    def emit(event: Event) -> None:
        if failures:
            raise failures.pop()
        events.put(event)

    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    context = PluginContext(config=config, emit=emit, supervisor=Supervisor(backoff_initial=0.01))
    listener = ZmqListener(ZmqSettings(type="zmq", endpoint=f"tcp://127.0.0.1:{port}"), context)  # type: ignore[call-arg]
    listener.start()
    try:
        assert isinstance(publish_until_received(pub, STARTED, events), BuildStarted)
        (health,) = context.supervisor.health()
        assert (health.state, health.restarts) == (State.RUNNING, 1)
        assert health.last_error == "RuntimeError: engine inbox closed"
    finally:
        listener.stop()
        pub.close(0)
