"""The gearman ``status`` reply and the demand it means (WIRE §6)."""

from __future__ import annotations

import contextlib

import pytest
from autoscaler_gearman.status import FunctionStatus, StatusError, demand_items, parse_status
from hypothesis import given
from hypothesis import strategies as st

REPLY = (
    b"build:unit:python\t5\t2\t3\n"
    b"build:unit\t2\t0\t3\n"
    b"build:image:linux&&docker\t1\t0\t0\n"
    b"build:orphan\t4\t0\t0\n"
    b"merger:merge\t9\t1\t1\n"
    b".\n"
)


def test_parse_status_lines() -> None:
    assert parse_status(REPLY)[0] == FunctionStatus("build:unit:python", 5, 2, 3)
    assert [f.queued for f in parse_status(REPLY)] == [3, 2, 1, 4, 8]
    assert parse_status(b".\n") == [] and parse_status(b"a\t1\t0\t0\r\n.\r\n")[0].total == 1


def test_demand_per_label_with_plain_functions_charged_to_a_known_label() -> None:
    seen: dict[str, str] = {}
    items = demand_items("g:4730", parse_status(REPLY), seen)
    wants = sorted(i.expression or "" for i in items)
    assert wants == ["linux&&docker"] + ["python"] * 5  # 3 labelled + 2 plain; orphan and merger are not ours
    assert len({i.key for i in items}) == 6
    assert seen == {"unit": "python", "image": "linux&&docker"}


@pytest.mark.parametrize(
    "reply", [b"\xff.\n", b"no terminator\n", b"a\tb\t1\t1\n.\n", b"a\t1\t1\n.\n", b"a\t-1\t0\t0\n.\n"]
)
def test_malformed_replies_raise(reply: bytes) -> None:
    with pytest.raises(StatusError):
        parse_status(reply)


@given(st.binary(max_size=200))
def test_random_replies_never_crash(reply: bytes) -> None:
    with contextlib.suppress(StatusError):
        demand_items("g", parse_status(reply), {})


def test_an_absurd_count_is_malformed_and_a_deep_queue_is_bounded() -> None:
    """Counts come from the network: a huge one must not turn into billions of demand items."""
    from autoscaler_gearman.status import MAX_COUNT, MAX_ITEMS

    with pytest.raises(StatusError, match="count larger than"):
        parse_status(f"build:unit:python\t{MAX_COUNT + 1}\t0\t0\n.\n".encode())
    deep = parse_status(f"build:unit:python\t{MAX_ITEMS * 3}\t0\t0\n.\n".encode())
    assert len(demand_items("g:4730", deep, {})) == MAX_ITEMS
