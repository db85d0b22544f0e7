"""The zmq listener on real sockets: events from the simulated Jenkins' PUB socket."""

from __future__ import annotations

import queue
import time

import zmq
from autoscaler_zmq import ZmqListener, ZmqSettings

from autoscaler.config.models import Config
from autoscaler.events import BuildFinished, BuildStarted, Event, LifecycleHint
from autoscaler.plugin import PluginContext


def start_listener(endpoints: list[str]) -> tuple[ZmqListener, queue.SimpleQueue[Event], list[str]]:
    config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    counted: list[str] = []
    settings = ZmqSettings.model_validate({"type": "zmq", "endpoints": endpoints})
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
