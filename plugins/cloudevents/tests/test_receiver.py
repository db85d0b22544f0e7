"""The CloudEvents receiver over real HTTP, with the Jenkins cloudevents plugin's payloads (WIRE §4)."""

from __future__ import annotations

import json
import logging
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from autoscaler_cloudevents import CloudEventsReceiver, CloudEventsSettings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.config.models import Config
from autoscaler.events import DemandRefresh, Event, LifecycleHint, NodeOffline, NodeOnline
from autoscaler.plugin import PluginContext
from autoscaler.supervision import State

QUEUE_DATA = {
    "ciUrl": "http://j/",
    "displayName": "unit",
    "entryTime": 1709648516803,
    "exitTime": 0,
    "startedBy": "timer",
    "jenkinsQueueId": 17,
    "status": "ENTERED_WAITING",
    "duration": 0,
    "queueCauses": [{"reasonForWaiting": "In the quiet period. Expires in 4.9 sec", "type": "waiting"}],
}
NODE_DATA = {
    "numExecutors": 1,
    "offlineCause": "Disconnected by admin",
    "nodeName": "ci-python-x7k2q9",
    "cachedHostName": "10.0.0.7",
    "terminatedBy": [],
    "connectTime": 1709648516803,
}


class Receiver:
    def __init__(self, **extra: Any) -> None:
        config = Config.model_validate(
            {"controllers": [{"name": "main", "url": "http://j/"}], "labels": [{"name": "python"}]}
        )
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.counted: list[str] = []
        settings_ = CloudEventsSettings.model_validate({"type": "cloudevents", "listen": "127.0.0.1:0", **extra})
        self.receiver = CloudEventsReceiver(
            settings_, PluginContext(config=config, emit=self.events.put, count=self.counted.append)
        )
        self.receiver.start()
        self.url = f"http://127.0.0.1:{self.receiver.port}/"

    def binary(self, ce_type: str, source: str, data: Any, **headers: str) -> requests.Response:
        return requests.post(
            self.url,
            data=json.dumps(data),
            timeout=5,
            headers={
                "ce-specversion": "1.0",
                "ce-id": "42",
                "ce-type": ce_type,
                "ce-source": source,
                "Content-Type": "application/json",
                **headers,
            },
        )

    def structured(self, body: Any) -> requests.Response:
        return requests.post(
            self.url,
            data=json.dumps(body),
            timeout=5,
            headers={"Content-Type": "application/cloudevents+json; charset=utf-8"},
        )

    def drained(self) -> list[Event]:
        out = []
        while not self.events.empty():
            out.append(self.events.get())
        return out


@pytest.fixture
def rx() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.receiver.stop()


def test_binary_mode_events_map_to_engine_events(rx: Receiver) -> None:
    assert rx.binary("org.jenkinsci.queue.entered_waiting", "job/unit", QUEUE_DATA).status_code == 202
    assert rx.binary("org.jenkinsci.job.finalized", "job/unit", {"name": "unit", "build": {"number": 3}}).ok
    assert rx.binary("org.jenkinsci.node.offline", "node/ci-python-x7k2q9", NODE_DATA).ok
    assert rx.binary("org.jenkinsci.node.online", "node/ci-python-abc", {"numExecutors": 1}).ok
    assert rx.binary("org.jenkinsci.job.created", "job/unit", {"name": "unit"}).ok
    assert rx.drained() == [
        DemandRefresh("main", "cloudevents"),
        LifecycleHint("main", "cloudevents"),
        NodeOffline("ci-python-x7k2q9", "main", "Disconnected by admin", "cloudevents"),
        NodeOnline("ci-python-abc", "main", "cloudevents"),
    ]
    assert rx.counted == ["ignored"]


def test_structured_and_batch_modes(rx: Receiver) -> None:
    one = {
        "specversion": "1.0",
        "id": "1",
        "type": "org.jenkinsci.queue.left",
        "source": "job/unit",
        "datacontenttype": "application/json",
        "data": QUEUE_DATA,
    }
    assert rx.structured(one).status_code == 202
    reply = requests.post(
        rx.url,
        data=json.dumps([one, {**one, "id": "2", "type": "org.jenkinsci.job.started"}]),
        headers={"Content-Type": "application/cloudevents-batch+json"},
        timeout=5,
    )
    assert reply.status_code == 202
    assert [type(e).__name__ for e in rx.drained()] == ["DemandRefresh", "DemandRefresh", "LifecycleHint"]


@pytest.mark.parametrize(
    ("headers", "body", "code", "words"),
    [
        (
            {"ce-specversion": "1.0", "ce-type": "org.jenkinsci.job.started", "ce-source": "job/x"},
            b"{}",
            400,
            "missing CloudEvents attribute(s): id",
        ),
        ({"ce-specversion": "0.3", "ce-id": "1", "ce-type": "t", "ce-source": "s"}, b"{}", 400, "specversion"),
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t", "ce-source": "s"}, b"{not json", 400, "not JSON"),
        (
            {"ce-specversion": "1.0", "ce-id": "1", "ce-type": "org.jenkinsci.node.offline", "ce-source": "job/x"},
            b"{}",
            400,
            "names no node",
        ),
        ({"Content-Type": "text/plain"}, b"hello", 415, "Content-Type"),
    ],
)
def test_bad_events_get_400_with_a_reason(
    rx: Receiver, headers: dict[str, str], body: bytes, code: int, words: str
) -> None:
    reply = requests.post(rx.url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=5)
    assert reply.status_code == code and words in reply.json()["error"]
    assert rx.drained() == []


def test_body_size_is_bounded(tmp_path: Path) -> None:
    r = Receiver(**{"max-body": 2048})
    try:
        reply = requests.post(r.url, data=b"x" * 4096, headers={"Content-Type": "application/json"}, timeout=5)
        assert reply.status_code == 413
    finally:
        r.receiver.stop()


def test_shared_secret_header(tmp_path: Path) -> None:
    secret = tmp_path / "ce-secret"
    secret.write_text("hunter2\n")
    r = Receiver(**{"secret-file": str(secret)})
    try:
        assert r.binary("org.jenkinsci.job.started", "job/x", {}).status_code == 401
        assert r.binary("org.jenkinsci.job.started", "job/x", {}, **{"X-Autoscaler-Token": "hunter2"}).ok
        assert r.drained() == [LifecycleHint("main", "cloudevents")]
    finally:
        r.receiver.stop()


_HEADER_TEXT = st.characters(min_codepoint=33, max_codepoint=126)  # what can travel in an HTTP header


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.binary(max_size=300), ce_type=st.text(_HEADER_TEXT, max_size=40), source=st.text(_HEADER_TEXT, max_size=20)
)
def test_fuzzed_posts_are_accepted_or_refused_never_fatal(rx: Receiver, body: bytes, ce_type: str, source: str) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "1",
        "ce-type": ce_type,
        "ce-source": source,
        "Content-Type": "application/json",
    }
    reply = requests.post(rx.url, data=body, headers=headers, timeout=5)
    assert reply.status_code in (202, 400)
    rejected_before = rx.receiver.rejected
    assert requests.get(rx.url, timeout=5).status_code == 405  # still serving
    assert rx.receiver.rejected == rejected_before + 1


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/cloudevents+json", b"[" * 100_000),  # json.loads raises RecursionError
        ("application/json", b'{"a":' * 50_000),  # binary mode: the data is the body
    ],
)
def test_a_poison_body_is_refused_counted_and_the_next_event_accepted(
    rx: Receiver, content_type: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-type": "org.jenkinsci.job.started", "ce-source": "job/x"}
    with caplog.at_level(logging.WARNING, logger="autoscaler_cloudevents"):
        reply = requests.post(rx.url, data=body, headers={**headers, "Content-Type": content_type}, timeout=5)
    assert reply.status_code == 400 and "nested too deeply" in reply.json()["error"]
    assert rx.counted == ["malformed"]
    (line,) = [r.getMessage() for r in caplog.records if "rejected a POST" in r.getMessage()]
    assert f"{len(body)} bytes from 127.0.0.1" in line
    assert rx.binary("org.jenkinsci.job.started", "job/x", {}).status_code == 202
    assert rx.drained() == [LifecycleHint("main", "cloudevents")]


def test_the_server_loop_is_supervised_and_beats() -> None:
    r = Receiver()
    try:
        (health,) = r.receiver.context.supervisor.health()
        assert (health.name, health.state) == ("cloudevents", State.RUNNING)
        first = health.last_progress
        deadline = time.monotonic() + 5
        while r.receiver.context.supervisor.health()[0].last_progress == first:
            assert time.monotonic() < deadline, "the server loop never beat"
            time.sleep(0.05)
    finally:
        r.receiver.stop()
    assert r.receiver.context.supervisor.health()[0].state is State.STOPPED
