"""Kubernetes label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x)``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Matcher = Callable[[Mapping[str, str]], bool]

_SET = re.compile(r"^\s*([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_KEY = re.compile(r"[\w./-]+")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def __call__(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op in ("=", "in"):
            return value in self.values
        return value not in self.values


def _split(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _requirement(part: str) -> Requirement:
    match = _SET.match(part)
    if match:
        return Requirement(match.group(1), match.group(2), frozenset(v.strip() for v in match.group(3).split(",")))
    for op in ("!=", "==", "="):
        if op in part:
            key, value = (s.strip() for s in part.split(op, 1))
            return Requirement(key, "!=" if op == "!=" else "=", frozenset({value}))
    if part.startswith("!") and _KEY.fullmatch(part[1:].strip()):
        return Requirement(part[1:].strip(), "!exists")
    if _KEY.fullmatch(part):
        return Requirement(part, "exists")
    raise ValueError(f"unable to parse requirement: {part!r}")


def parse_selector(selector: str | None) -> Matcher:
    """A predicate over an object's labels; raises ValueError for a malformed selector."""
    requirements = [_requirement(part) for part in _split(selector or "")]
    return lambda labels: all(req(labels) for req in requirements)
