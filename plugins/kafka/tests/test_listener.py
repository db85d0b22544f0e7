"""The kafka listener against librdkafka's mock cluster (the real Kafka protocol on loopback)."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from autoscaler_kafka import KafkaListener, KafkaSettings
from confluent_kafka import Producer

from autoscaler.config.models import Config
from autoscaler.events import BuildFinished, Event
from autoscaler.plugin import PluginContext


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    cluster = Producer({"test.mock.num.brokers": 1, "log_level": 0})  # hosts the cluster while it lives
    meta = next(iter(cluster.list_topics(timeout=10).brokers.values()))
    yield f"{meta.host}:{meta.port}"
    cluster.flush(1)


def frame(node: str, number: int, word: str = "onFinalized") -> tuple[bytes, bytes]:
    body = {"name": "gate", "build": {"number": number, "phase": "FINISHED", "status": "SUCCESS", "node_name": node}}
    return word.encode(), json.dumps(body).encode()


def produce(bootstrap: str, topic: str, *messages: tuple[bytes, bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 0})
    for key, value in messages:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0


class Running:
    def __init__(self, bootstrap: str, topic: str, group: str, **extra: Any) -> None:
        config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.counted: list[str] = []
        settings = KafkaSettings.model_validate(
            {
                "type": "kafka",
                "name": "bus",
                "bootstrap-servers": bootstrap,
                "topics": topic,
                "group-id": group,
                "start-from": "earliest",
                # the mock cluster forgets a closed member only when its session times out
                "client-config": {"log_level": 0, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
                **extra,
            }
        )
        self.listener = KafkaListener(
            settings, PluginContext(config=config, emit=self.events.put, count=self.counted.append)
        )
        self.listener.start()

    def take(self, count: int, timeout: float = 30) -> list[Event]:
        return [self.events.get(timeout=timeout) for _ in range(count)]

    def stop(self) -> None:
        self.listener.stop()


def test_events_malformed_and_repeated_messages(broker: str) -> None:
    produce(
        broker,
        "builds-a",
        frame("ci-python-a", 1),
        (b"onFinalized", b"{broken"),
        frame("ci-python-a", 1),
        frame("ci-python-b", 2),
    )
    run = Running(broker, "builds-a", "g-a")
    try:
        assert [e.node for e in run.take(2) if isinstance(e, BuildFinished)] == ["ci-python-a", "ci-python-b"]
        deadline = time.monotonic() + 10
        while run.listener.committed == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # the commit follows the hand-over
        assert (run.listener.malformed, run.listener.duplicates) == (1, 1)
        assert sorted(run.counted) == ["duplicate", "malformed"]
    finally:
        run.stop()


def test_a_restart_resumes_from_the_committed_offset(broker: str) -> None:
    produce(broker, "builds-b", *(frame(f"ci-python-{i}", i) for i in range(3)))
    first = Running(broker, "builds-b", "g-b")
    assert [e.node for e in first.take(3)] == ["ci-python-0", "ci-python-1", "ci-python-2"]  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while first.listener.committed == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.stop()
    produce(broker, "builds-b", *(frame(f"ci-python-{i}", i) for i in range(3, 5)))
    second = Running(broker, "builds-b", "g-b")
    try:
        got = second.take(2)
        assert [e.node for e in got] == ["ci-python-3", "ci-python-4"]  # type: ignore[attr-defined]
        with pytest.raises(queue.Empty):
            second.events.get(timeout=1.5)  # nothing lost, nothing applied twice
    finally:
        second.stop()


class Proxy:
    """A TCP forwarder that starts listening only when told: a bootstrap address that is down, then up."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server: socket.socket | None = None

    def open(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.server is not None
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def test_a_broker_that_is_down_at_start_is_waited_for(broker: str) -> None:
    proxy = Proxy(broker)
    run = Running(f"127.0.0.1:{proxy.port}", "builds-c", "g-c")
    try:
        deadline = time.monotonic() + 10
        while "client-error" not in run.counted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "client-error" in run.counted  # it noticed, and keeps trying
        proxy.open()
        produce(broker, "builds-c", frame("ci-python-late", 9))
        (event,) = run.take(1, timeout=60)
        assert isinstance(event, BuildFinished) and event.node == "ci-python-late"
    finally:
        run.stop()
        proxy.close()
