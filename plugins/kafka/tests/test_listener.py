"""The kafka listener against librdkafka's mock cluster (the real Kafka protocol on loopback)."""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from autoscaler_kafka import KafkaListener, KafkaSettings
from confluent_kafka import Consumer, Producer, TopicPartition

from autoscaler.config.models import Config
from autoscaler.events import BuildFinished, Event
from autoscaler.plugin import PluginContext
from autoscaler.supervision import State, Supervisor


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
    def __init__(
        self, bootstrap: str, topic: str, group: str, emit_failures: list[Exception] | None = None, **extra: Any
    ) -> None:
        config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.counted: list[str] = []
        self.emit_failures = emit_failures or []
        self.supervisor = Supervisor(backoff_initial=0.05)
        settings = KafkaSettings.model_validate(
            {
                "type": "kafka",
                "name": "bus",
                "bootstrap-servers": bootstrap,
                "topic": topic,
                "group-id": group,
                "start-from": "earliest",
                # the mock cluster forgets a closed member only when its session times out
                "client-config": {"log_level": 0, "session.timeout.ms": 3000, "heartbeat.interval.ms": 300},
                **extra,
            }
        )
        context = PluginContext(config=config, emit=self._emit, count=self.counted.append, supervisor=self.supervisor)
        self.listener = KafkaListener(settings, context)
        self.listener.start()

    def _emit(self, event: Event) -> None:
        if self.emit_failures:
            raise self.emit_failures.pop()
        self.events.put(event)

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


def committed(bootstrap: str, group: str, topic: str) -> int:
    """Messages the group has committed on ``topic``, over all its partitions."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 0})
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        offsets = reader.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return sum(max(0, tp.offset) for tp in offsets)
    finally:
        reader.close()


def wait_for(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("fmt", "poison"),
    [
        ("zmq-json", (b"onFinalized", b"[" * 100_000)),  # json.loads raises RecursionError
        ("mapping", (b"", b'{"build":' * 50_000)),
    ],
)
def test_a_poison_message_is_counted_skipped_and_committed(
    broker: str, fmt: str, poison: tuple[bytes, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"builds-poison-{fmt}"
    produce(broker, topic, frame("ci-python-a", 1), poison, frame("ci-python-b", 2))
    with caplog.at_level(logging.WARNING, logger="autoscaler_kafka"):
        run = Running(broker, topic, f"g-{topic}", format=fmt)
        try:
            assert [e.node for e in run.take(2) if isinstance(e, BuildFinished)] == ["ci-python-a", "ci-python-b"]
            wait_for(lambda: committed(broker, f"g-{topic}", topic) == 3)  # the poison cannot come back
            assert run.listener.malformed == 1 and run.counted == ["malformed"]
            (health,) = run.supervisor.health()
            assert (health.state, health.restarts) == (State.RUNNING, 0)
        finally:
            run.stop()
    (line,) = [r.getMessage() for r in caplog.records if "malformed message" in r.getMessage()]
    assert f"at {topic}[" in line and "]@" in line


def test_a_failed_hand_over_is_redelivered_after_the_supervisor_restarts_the_loop(broker: str) -> None:
    produce(broker, "builds-crash", frame("ci-python-a", 1), frame("ci-python-b", 2))
    run = Running(broker, "builds-crash", "g-crash", emit_failures=[RuntimeError("engine inbox closed")])
    try:
        got = [e.node for e in run.take(2) if isinstance(e, BuildFinished)]
        assert got == ["ci-python-a", "ci-python-b"]  # a's first hand-over failed: not committed, read again
        (health,) = run.supervisor.health()
        assert (health.state, health.restarts, health.last_error) == (
            State.RUNNING,
            1,
            "RuntimeError: engine inbox closed",
        )
    finally:
        run.stop()


def test_a_broker_down_and_back_loses_no_event(mock_cluster: Any) -> None:
    bootstrap = mock_cluster.bootstrap
    produce(bootstrap, "builds-d", frame("ci-python-0", 0))
    run = Running(bootstrap, "builds-d", "g-d")
    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        assert [e.node for e in run.take(1)] == ["ci-python-0"]  # type: ignore[attr-defined]
        mock_cluster.down()  # most likely while the commit of that event is in flight
        wait_for(lambda: "client-error" in run.counted, timeout=5)  # it noticed at once: not stuck in a commit
        assert time.monotonic() - run.supervisor.health()[0].last_progress < 2
        producer.produce("builds-d", key=b"onFinalized", value=frame("ci-python-1", 1)[1])
        mock_cluster.up()
        assert producer.flush(20) == 0
        produce(bootstrap, "builds-d", frame("ci-python-2", 2))
        assert [e.node for e in run.take(2)] == ["ci-python-1", "ci-python-2"]  # type: ignore[attr-defined]
        wait_for(lambda: committed(bootstrap, "g-d", "builds-d") == 3)
        assert run.supervisor.health()[0].state is State.RUNNING
    finally:
        run.stop()


def test_topic_is_an_alias_of_topics_and_both_is_an_error() -> None:
    base = {"type": "kafka", "bootstrap-servers": "k:9092"}
    assert KafkaSettings.model_validate({**base, "topic": "builds"}).topics == ("builds",)
    with pytest.raises(ValueError, match=r"topic: give topic .* or topics .*, not both"):
        KafkaSettings.model_validate({**base, "topic": "builds", "topics": ["other"]})
