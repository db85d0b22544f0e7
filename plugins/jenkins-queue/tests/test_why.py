"""Every form of ``why`` Jenkins prints (WIRE §1, §7)."""

from __future__ import annotations

import pytest
from autoscaler_jenkins_queue.why import Reason, parse_why
from hypothesis import given
from hypothesis import strategies as st

CASES = [
    ("There are no nodes with the label ‘python’", [Reason("label", "python")]),
    ("All nodes of label ‘linux&&docker’ are offline", [Reason("label", "linux&&docker")]),
    ("Waiting for next available executor on ‘python||py3’", [Reason("label-or-node", "python||py3")]),
    ("Waiting for next available executor on python", [Reason("label-or-node", "python")]),  # older Jenkins
    ("Waiting for next available executor on ‘ci-python-x7k2q9’", [Reason("label-or-node", "ci-python-x7k2q9")]),
    ("‘ci-python-x7k2q9’ is offline", [Reason("node", "ci-python-x7k2q9")]),
    ("ci-python-x7k2q9 is offline", [Reason("node", "ci-python-x7k2q9")]),
    ("Waiting for next available executor", [Reason("bare")]),
    ("Waiting for next available executor on ‘!windows’", [Reason("label-or-node", "!windows")]),
    ("Blocked by ‘upstream-job’", [Reason("not-demand", "Blocked by ‘upstream-job’")]),
    ("In the quiet period. Expires in 4.9 sec", [Reason("not-demand", "In the quiet period. Expires in 4.9 sec")]),
    ("Jenkins is about to shut down", [Reason("shutdown")]),
    (
        "Build #12 is already in progress (ETA: 3 min 2 sec)",
        [Reason("not-demand", "Build #12 is already in progress (ETA: 3 min 2 sec)")],
    ),
    (
        "‘agent-1’ doesn’t have label ‘python’; ‘agent-2’ is reserved for jobs with matching label expression",
        [Reason("label", "python"), Reason("not-demand", "agent-2")],
    ),
    ("‘agent-1’ is offline; ‘agent-2’ doesn’t have label ‘java’", [Reason("node", "agent-1"), Reason("label", "java")]),
    ('There are no nodes with the label ‘"my label"&&linux’', [Reason("label", '"my label"&&linux')]),
    ("", [Reason("unknown")]),
    (None, [Reason("unknown")]),
    ("Something new in Jenkins 3.0", [Reason("unknown", "Something new in Jenkins 3.0")]),
]


@pytest.mark.parametrize(("why", "expected"), CASES, ids=[str(c[0])[:40] for c in CASES])
def test_why_forms(why: str | None, expected: list[Reason]) -> None:
    assert parse_why(why) == expected


@given(st.text(max_size=200))
def test_any_text_parses_without_crashing(text: str) -> None:
    reasons = parse_why(text)
    assert reasons and all(r.kind for r in reasons)


@pytest.mark.parametrize("blank", ["\r", "  ", "; ", "\n;\n"])
def test_blank_reasons_are_unknown(blank: str) -> None:
    assert [r.kind for r in parse_why(blank)] == ["unknown"]
