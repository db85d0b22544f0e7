"""zmq-event-publisher frames, to the letter (WIRE §3), and fuzzed garbage."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from autoscaler.events import BuildFinished, BuildStarted, LifecycleHint
from autoscaler.wire.zmq import FrameError, parse_frame, parse_plain

FINALIZED = (
    'onFinalized {"name":"gate-foo","url":"job/gate-foo/","build":{"full_url":'
    '"https://jenkins.example.org/job/gate-foo/12/","number":12,"phase":"FINISHED","status":"SUCCESS",'
    '"url":"job/gate-foo/12/","parameters":{"ZUUL_BRANCH":"master"},"node_name":"python-x7k2q9",'
    '"node_description":"x","host_name":"jenkins01"}}'
)


def parse(frame: str | bytes) -> object:
    return parse_frame(frame.encode() if isinstance(frame, str) else frame, controller="main", source="zmq")


def test_finalized_retires_the_named_node() -> None:
    assert parse(FINALIZED) == BuildFinished(
        "python-x7k2q9", "main", "gate-foo", 12, "https://jenkins.example.org/job/gate-foo/12/", "SUCCESS", "zmq"
    )


def test_started_has_no_status() -> None:
    frame = (
        FINALIZED.replace("onFinalized", "onStarted").replace('"status":"SUCCESS",', "").replace("FINISHED", "STARTED")
    )
    event = parse(frame)
    assert isinstance(event, BuildStarted) and event.node == "python-x7k2q9" and event.number == 12


def test_completed_is_only_a_hint() -> None:
    assert parse(FINALIZED.replace("onFinalized", "onCompleted").replace("FINISHED", "COMPLETED")) == LifecycleHint(
        "main", "zmq"
    )


@pytest.mark.parametrize("node", ['"node_name":"",', ""])
def test_events_naming_no_node_ask_for_a_computer_refresh(node: str) -> None:
    frame = FINALIZED.replace('"node_name":"python-x7k2q9",', node)
    assert parse(frame) == LifecycleHint("main", "zmq")


def test_other_topics_are_ignored() -> None:
    assert parse('onDeleted {"name":"x"}') is None


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff\xfe",
        "onStarted",
        "onStarted {not json",
        "onStarted []",
        'onStarted {"name":"x"}',
        'onStarted {"build":{"node_name":7}}',
        'onFinalized {"build":{"node_name":"a","phase":"RUNNING"}}',
    ],
)
def test_malformed_frames_raise(frame: str | bytes) -> None:
    with pytest.raises(FrameError):
        parse(frame)


@given(st.binary(max_size=300))
def test_random_bytes_never_crash(frame: bytes) -> None:
    with contextlib.suppress(FrameError):
        parse(frame)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@given(
    st.sampled_from(["onStarted", "onCompleted", "onFinalized"]),
    st.dictionaries(st.sampled_from(["name", "build", "url"]), json_values, max_size=3),
)
def test_random_json_under_real_topics_never_crash(topic: str, body: dict[str, object]) -> None:
    with contextlib.suppress(FrameError):
        parse(f"{topic} {json.dumps(body)}")


build_fields = st.fixed_dictionaries(
    {},
    optional={
        "number": st.sampled_from([None, 0, 12, 10**12, True, 1.5]),
        "full_url": st.sampled_from([None, "", "https://j/job/x/1/", 3]),
        "url": st.sampled_from([None, "", "job/x/1/", []]),
        "node_name": st.sampled_from([None, "", "ci-python-1", "b", 3]),
        "phase": st.sampled_from([None, "FINISHED", "FINALIZED", "COMPLETED", "RUNNING", 1]),
        "status": st.sampled_from([None, "", "SUCCESS", "FAILURE", False]),
        "parameters": json_values,
    },
)


@settings(max_examples=500, deadline=None)
@example("onFinalized", {"name": "j", "build": {"node_name": "b", "status": "", "url": "u", "full_url": "f"}})
@example("onStarted", {"name": 5, "build": {"node_name": "b", "number": True, "phase": 1}})
@given(
    st.sampled_from(["onStarted", "onCompleted", "onFinalized"]),
    st.fixed_dictionaries(
        {"build": st.one_of(build_fields, build_fields, build_fields, json_values)},
        optional={"name": st.one_of(st.text(max_size=5), st.integers(), st.none()), "url": json_values},
    ),
)
def test_the_typed_reading_is_the_plain_reading(topic: str, body: dict[str, object]) -> None:
    """Every frame reads the same through the typed decoder as through plain JSON: same event,
    or the same error."""
    text = json.dumps(body)
    typed = outcome(lambda: parse(f"{topic} {text}"))
    assert typed == outcome(lambda: parse_plain(topic, text, controller="main", source="zmq"))


def outcome(read: Callable[[], object]) -> object:
    try:
        return read()
    except FrameError as exc:
        return str(exc)
