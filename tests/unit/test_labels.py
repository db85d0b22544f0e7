"""Jenkins label expressions: parsing, evaluation, canonical printing, errors."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler import labels as lx


@pytest.mark.parametrize(
    ("expression", "have", "expected"),
    [
        ("python", {"python"}, True),
        ("python", {"java"}, False),
        ("linux&&docker", {"linux", "docker"}, True),
        ("linux && docker", {"linux"}, False),
        ("python||py3", {"py3"}, True),
        ("!windows", {"linux"}, True),
        ("!windows", {"windows"}, False),
        ("a||b&&c", {"a"}, True),  # && binds tighter than ||
        ("(a||b)&&c", {"a"}, False),
        ("a->b", set(), True),
        ("a->b", {"a"}, False),
        ("a<->b", set(), True),
        ("a<->b", {"b"}, False),
        ('"my label"&&linux', {"my label", "linux"}, True),
        ("ci-python-x7k2q9", {"ci-python-x7k2q9"}, True),
        ("!!a", {"a"}, True),
        ("a||b->c", {"b"}, False),  # -> is looser than ||
    ],
)
def test_matches(expression: str, have: set[str], expected: bool) -> None:
    assert lx.matches(lx.parse(expression), have) is expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("linux && python", "linux&&python"),
        ("( a || b ) && c", "(a||b)&&c"),
        ("a || b && c", "a||b&&c"),
        ("!(a&&b)", "!(a&&b)"),
        ('"my label"', '"my label"'),
        ("a -> b -> c", "a->b->c"),
    ],
)
def test_canonical_form_is_what_jenkins_prints(text: str, canonical: str) -> None:
    assert lx.canonical(lx.parse(text)) == canonical


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty"),
        ("a&&", 3, "expected a label"),
        ("(a||b", 5, "expected ')'"),
        ("a b", 2, "expected end of expression"),
        ('"unterminated', 0, "unterminated"),
        ("a&&&&b", 3, "expected a label"),
        (")", 0, "expected a label"),
    ],
)
def test_malformed_expressions_say_where(text: str, position: int, fragment: str) -> None:
    with pytest.raises(lx.LabelExpressionError) as info:
        lx.parse(text)
    assert info.value.position == position
    assert fragment in str(info.value)


def test_atoms_of_collects_every_atom() -> None:
    assert lx.atoms_of(lx.parse("(a||!b)&&c->d")) == {"a", "b", "c", "d"}


_atom = st.from_regex(r"[a-z][a-z0-9_.]{0,6}", fullmatch=True)


@st.composite
def expressions(draw: st.DrawFn, depth: int = 3) -> lx.Expr:
    if depth == 0 or draw(st.booleans()):
        return lx.Atom(draw(_atom))
    kind = draw(st.sampled_from([lx.Not, lx.And, lx.Or, lx.Implies, lx.Iff]))
    if kind is lx.Not:
        return lx.Not(draw(expressions(depth - 1)))
    return kind(draw(expressions(depth - 1)), draw(expressions(depth - 1)))  # type: ignore[call-arg]


@given(expressions(), st.sets(_atom, max_size=6))
def test_canonical_round_trip_keeps_meaning(expr: lx.Expr, have: set[str]) -> None:
    reparsed = lx.parse(lx.canonical(expr))
    assert lx.matches(reparsed, have) == lx.matches(expr, have)
    assert lx.canonical(reparsed) == lx.canonical(expr)


@given(st.text(max_size=30))
def test_parser_never_crashes_on_garbage(text: str) -> None:
    with contextlib.suppress(lx.LabelExpressionError):
        lx.parse(text)


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("(" * 170 + "a" + ")" * 170, lx.MAX_NESTING, "nested deeper than"),
        ("!" * 2000 + "a", lx.MAX_NESTING, "nested deeper than"),
        ("a->" * 1000 + "a", 3 * lx.MAX_NESTING + 1, "nested deeper than"),
        ("a&&" * 1300 + "a", 0, "operators in a chain"),
        ("a" * (lx.MAX_LENGTH + 1), lx.MAX_LENGTH, "longer than"),
    ],
)
def test_expressions_too_large_to_evaluate_are_parse_errors(text: str, position: int, fragment: str) -> None:
    """Expressions come from the network: one that would exhaust the stack is an ordinary parse
    error (which callers already treat as an unparseable item), never a RecursionError."""
    with pytest.raises(lx.LabelExpressionError) as info:
        lx.parse(text)
    assert info.value.position == position
    assert fragment in str(info.value)
    assert len(str(info.value)) < 400  # the log line shows the place, not the whole input


def test_the_largest_accepted_expression_evaluates_and_prints() -> None:
    nested = "(" * lx.MAX_NESTING + "a" + ")" * lx.MAX_NESTING
    chain = "&&".join(["a"] * lx.MAX_DEPTH)
    for text in (nested, chain, "!" * lx.MAX_NESTING + "a"):
        expr = lx.parse(text)
        assert lx.matches(expr, {"a"}) in (True, False)
        assert lx.parse(lx.canonical(expr)) == expr
