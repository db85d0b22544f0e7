"""Jenkins label expressions: parse, evaluate, print canonically.

Grammar (Jenkins core ``LabelExpression``), loosest binding first::

    iff     := implies ( "<->" implies )*
    implies := or ( "->" or )*
    or      := and ( "||" and )*
    and     := not ( "&&" not )*
    not     := "!" not | primary
    primary := "(" iff ")" | ATOM | '"' quoted '"'

Atoms are bare words (anything but whitespace, quotes, parentheses, ``!&|<->``) or
double-quoted strings. ``->`` is right-associative in Jenkins; ``<->`` left-associative.

Expressions come from the network (the Jenkins queue, Gearman function names), so their size is
bounded: at most :data:`MAX_LENGTH` characters, :data:`MAX_NESTING` levels of ``(``, ``!`` and ``->``
nesting, and :data:`MAX_DEPTH` levels in the parsed tree. Beyond these, :func:`parse` raises
:class:`LabelExpressionError` like for any other malformed expression (never ``RecursionError``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_NESTING",
    "And",
    "Atom",
    "Expr",
    "Iff",
    "Implies",
    "LabelExpressionError",
    "Not",
    "Or",
    "atoms_of",
    "canonical",
    "matches",
    "parse",
]


MAX_LENGTH = 4096
"""Longest label expression accepted, in characters."""
MAX_NESTING = 50
"""Deepest nesting of parentheses, ``!`` and ``->`` accepted while parsing."""
MAX_DEPTH = 200
"""Deepest parsed tree accepted (a chain of N ``&&`` is N levels deep)."""
_SHOWN = 60  # characters shown either side of the error position


class LabelExpressionError(ValueError):
    """A label expression that does not follow the Jenkins grammar, or is too large to evaluate."""

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text = text
        self.position = position
        start = max(0, position - _SHOWN)
        shown = (
            ("..." if start else "")
            + text[start : position + _SHOWN]
            + ("..." if len(text) > position + _SHOWN else "")
        )
        pointer = " " * (position - start + (3 if start else 0)) + "^"
        super().__init__(f"{message} at position {position} in label expression:\n  {shown}\n  {pointer}")


@dataclass(frozen=True)
class Atom:
    name: str


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Implies:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Iff:
    left: Expr
    right: Expr


Expr = Union[Atom, Not, And, Or, Implies, Iff]  # noqa: UP007 - recursive alias needs Union

_OPERATORS = ("<->", "->", "&&", "||", "!", "(", ")")
_BARE_ATOM = re.compile(r"[^\s\"()!&|<>-]+(?:-(?!>)[^\s\"()!&|<>-]*)*")


@dataclass(frozen=True)
class _Token:
    kind: str  # an operator, "atom" or "end"
    value: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        op = next((op for op in _OPERATORS if text.startswith(op, i)), None)
        if op is not None:
            tokens.append(_Token(op, op, i))
            i += len(op)
            continue
        if ch == '"':
            end = i + 1
            value: list[str] = []
            while end < len(text) and text[end] != '"':
                if text[end] == "\\" and end + 1 < len(text):
                    end += 1
                value.append(text[end])
                end += 1
            if end >= len(text):
                raise LabelExpressionError(text, i, "unterminated quoted label")
            tokens.append(_Token("atom", "".join(value), i))
            i = end + 1
            continue
        match = _BARE_ATOM.match(text, i)
        if match is None or match.end() == i:
            raise LabelExpressionError(text, i, f"unexpected character {ch!r}")
        tokens.append(_Token("atom", match.group(0), i))
        i = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_LENGTH:
            raise LabelExpressionError(text, MAX_LENGTH, f"label expression longer than {MAX_LENGTH} characters")
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.nesting = 0

    def nest(self, position: int) -> None:
        """Enter one level of recursion (``(``, ``!``, ``->``), refusing to go deeper than allowed."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise LabelExpressionError(self.text, position, f"nested deeper than {MAX_NESTING} levels")

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self, kind: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            wanted = "end of expression" if kind == "end" else repr(kind)
            found = "end of expression" if token.kind == "end" else repr(token.value)
            raise LabelExpressionError(self.text, token.position, f"expected {wanted}, found {found}")
        self.pos += 1
        return token

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise LabelExpressionError(self.text, 0, "empty label expression")
        expr = self.iff()
        self.take("end")
        if _depth(expr) > MAX_DEPTH:
            raise LabelExpressionError(self.text, 0, f"more than {MAX_DEPTH} operators in a chain")
        return expr

    def iff(self) -> Expr:
        left = self.implies()
        while self.peek().kind == "<->":
            self.pos += 1
            left = Iff(left, self.implies())
        return left

    def implies(self) -> Expr:
        left = self.or_()
        if self.peek().kind == "->":
            self.nest(self.peek().position)
            self.pos += 1
            right = self.implies()
            self.nesting -= 1
            return Implies(left, right)
        return left

    def or_(self) -> Expr:
        left = self.and_()
        while self.peek().kind == "||":
            self.pos += 1
            left = Or(left, self.and_())
        return left

    def and_(self) -> Expr:
        left = self.not_()
        while self.peek().kind == "&&":
            self.pos += 1
            left = And(left, self.not_())
        return left

    def not_(self) -> Expr:
        if self.peek().kind == "!":
            self.nest(self.peek().position)
            self.pos += 1
            operand = self.not_()
            self.nesting -= 1
            return Not(operand)
        return self.primary()

    def primary(self) -> Expr:
        token = self.peek()
        if token.kind == "(":
            self.nest(token.position)
            self.pos += 1
            inner = self.iff()
            self.take(")")
            self.nesting -= 1
            return inner
        if token.kind == "atom":
            self.pos += 1
            return Atom(token.value)
        found = "end of expression" if token.kind == "end" else repr(token.value)
        raise LabelExpressionError(self.text, token.position, f"expected a label, found {found}")


def _depth(expr: Expr) -> int:
    """Levels in the tree, counted without recursion (the tree may be deep)."""
    deepest = 0
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, Not):
            stack.append((node.operand, level + 1))
        elif not isinstance(node, Atom):
            stack += [(node.left, level + 1), (node.right, level + 1)]
    return deepest


def parse(text: str) -> Expr:
    """Parse a Jenkins label expression; raise :class:`LabelExpressionError` if malformed."""
    return _Parser(text).parse()


def matches(expr: Expr, labels: Iterable[str] | frozenset[str]) -> bool:
    """Whether a node carrying ``labels`` satisfies ``expr``."""
    have = labels if isinstance(labels, frozenset) else frozenset(labels)
    return _eval(expr, have)


def _eval(expr: Expr, have: frozenset[str]) -> bool:
    match expr:
        case Atom(name):
            return name in have
        case Not(operand):
            return not _eval(operand, have)
        case And(left, right):
            return _eval(left, have) and _eval(right, have)
        case Or(left, right):
            return _eval(left, have) or _eval(right, have)
        case Implies(left, right):
            return (not _eval(left, have)) or _eval(right, have)
        case Iff(left, right):
            return _eval(left, have) == _eval(right, have)
    raise TypeError(f"not a label expression: {expr!r}")


def atoms_of(expr: Expr) -> frozenset[str]:
    """Every atom named in ``expr``."""
    match expr:
        case Atom(name):
            return frozenset({name})
        case Not(operand):
            return atoms_of(operand)
        case And(left, right) | Or(left, right) | Implies(left, right) | Iff(left, right):
            return atoms_of(left) | atoms_of(right)
    raise TypeError(f"not a label expression: {expr!r}")


_PRECEDENCE = {Iff: 1, Implies: 2, Or: 3, And: 4, Not: 5, Atom: 6}
_SYMBOL = {Iff: "<->", Implies: "->", Or: "||", And: "&&"}


def canonical(expr: Expr) -> str:
    """The form Jenkins prints in queue messages (``linux && python`` -> ``linux&&python``)."""
    match expr:
        case Atom(name):
            return name if _BARE_ATOM.fullmatch(name) else '"' + name.replace('"', '\\"') + '"'
        case Not(operand):
            return "!" + _wrap(operand, _PRECEDENCE[Not])
        case And(left, right) | Or(left, right) | Iff(left, right):
            prec = _PRECEDENCE[type(expr)]
            return _wrap(left, prec) + _SYMBOL[type(expr)] + _wrap(right, prec + 1)
        case Implies(left, right):
            prec = _PRECEDENCE[Implies]
            return _wrap(left, prec + 1) + "->" + _wrap(right, prec)
    raise TypeError(f"not a label expression: {expr!r}")


def _wrap(expr: Expr, minimum: int) -> str:
    text = canonical(expr)
    return text if _PRECEDENCE[type(expr)] >= minimum else f"({text})"
