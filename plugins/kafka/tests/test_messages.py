"""Kafka messages in each format (WIRE §5), and fuzzed garbage."""

from __future__ import annotations

import contextlib
import json

import pytest
from autoscaler_kafka.messages import FieldMapping, MalformedMessage, to_event
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.events import BuildFinished, BuildStarted, DemandRefresh, LifecycleHint, NodeOffline

ZMQ_BODY = json.dumps(
    {
        "name": "gate",
        "url": "job/gate/",
        "build": {
            "full_url": "http://j/job/gate/12/",
            "number": 12,
            "phase": "FINISHED",
            "status": "SUCCESS",
            "url": "job/gate/12/",
            "node_name": "ci-python-x7k2q9",
        },
    }
).encode()
FINISHED = BuildFinished("ci-python-x7k2q9", "main", "gate", 12, "http://j/job/gate/12/", "SUCCESS", "bus")


def convert(
    key: bytes | None,
    headers: list[tuple[str, bytes | None]] | None,
    value: bytes | None,
    fmt: str = "zmq-json",
    topic_word: str = "key",
    mapping: FieldMapping | None = None,
) -> object:
    return to_event(
        key,
        headers,
        value,
        fmt=fmt,
        topic_word=topic_word,
        mapping=mapping or FieldMapping(),
        controller="main",
        source="bus",
    )


def test_zmq_json_with_the_topic_word_in_key_header_or_field() -> None:
    assert convert(b"onFinalized", None, ZMQ_BODY) == FINISHED
    assert convert(None, [("event", b"onFinalized")], ZMQ_BODY, topic_word="header:event") == FINISHED
    with_field = json.dumps({**json.loads(ZMQ_BODY), "topic": "onFinalized"}).encode()
    assert convert(None, None, with_field, topic_word="field:topic") == FINISHED
    started = convert(b"onStarted", None, ZMQ_BODY.replace(b"FINISHED", b"STARTED"))
    assert isinstance(started, BuildStarted) and started.node == "ci-python-x7k2q9"
    assert convert(b"onCompleted", None, ZMQ_BODY) == LifecycleHint("main", "bus")


def test_cloudevents_binary_and_structured() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"7"),
        ("ce_type", b"org.jenkinsci.node.offline"),
        ("ce_source", b"node/ci-python-x7k2q9"),
        ("content-type", b"application/json"),
    ]
    body = json.dumps({"nodeName": "ci-python-x7k2q9", "offlineCause": "gone"}).encode()
    assert convert(None, headers, body, fmt="cloudevents") == NodeOffline("ci-python-x7k2q9", "main", "gone", "bus")
    structured = json.dumps(
        {
            "specversion": "1.0",
            "id": "8",
            "type": "org.jenkinsci.queue.entered_waiting",
            "source": "job/gate",
            "data": {"displayName": "gate"},
        }
    ).encode()
    assert convert(None, None, structured, fmt="cloudevents") == DemandRefresh("main", "bus")


def test_field_mapping() -> None:
    mapping = FieldMapping(
        node="agent",
        phase="state",
        status="result",
        number="run",
        job="pipeline",
        url="link",
        started=("begin",),
        finished=("end",),
    )
    msg = {"agent": "ci-python-x7k2q9", "state": "end", "result": "FAILURE", "run": 4, "pipeline": "p", "link": "u"}
    assert convert(None, None, json.dumps(msg).encode(), fmt="mapping", mapping=mapping) == BuildFinished(
        "ci-python-x7k2q9", "main", "p", 4, "u", "FAILURE", "bus"
    )
    msg["state"] = "begin"
    assert isinstance(convert(None, None, json.dumps(msg).encode(), fmt="mapping", mapping=mapping), BuildStarted)
    msg["agent"] = ""
    assert convert(None, None, json.dumps(msg).encode(), fmt="mapping", mapping=mapping) == LifecycleHint("main", "bus")


@pytest.mark.parametrize(
    ("key", "headers", "value", "fmt", "where"),
    [
        (None, None, ZMQ_BODY, "zmq-json", "key"),
        (b"onFinalized", None, b"{broken", "zmq-json", "key"),
        (b"onFinalized", None, None, "zmq-json", "key"),
        (None, [], ZMQ_BODY, "zmq-json", "header:event"),
        (None, None, b"[1]", "mapping", "key"),
        (None, [("ce_specversion", b"1.0")], b"{}", "cloudevents", "key"),
        (None, None, b'{"specversion": "1.0"}', "cloudevents", "key"),
    ],
)
def test_malformed_messages_raise(
    key: bytes | None, headers: list[tuple[str, bytes | None]] | None, value: bytes | None, fmt: str, where: str
) -> None:
    with pytest.raises(MalformedMessage):
        convert(key, headers, value, fmt=fmt, topic_word=where)


@given(
    st.one_of(st.none(), st.binary(max_size=20)),
    st.binary(max_size=300),
    st.sampled_from(["zmq-json", "cloudevents", "mapping"]),
    st.lists(
        st.tuples(st.sampled_from(["ce_id", "ce_type", "ce_specversion", "ce_source", "x"]), st.binary(max_size=10)),
        max_size=4,
    ),
)
def test_random_messages_never_crash(
    key: bytes | None, value: bytes, fmt: str, headers: list[tuple[str, bytes]]
) -> None:
    with contextlib.suppress(MalformedMessage):
        convert(key, list(headers), value, fmt=fmt)
