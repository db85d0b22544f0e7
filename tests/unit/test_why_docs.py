"""The README's "Why is my build waiting?" names every kind of wait and every failure reason the
code can give, and nothing the code cannot."""

from __future__ import annotations

import re
from pathlib import Path

from autoscaler.engine.failures import REASONS
from autoscaler.engine.reasons import KINDS

README = Path(__file__).resolve().parents[2] / "README.md"


def section() -> str:
    text = README.read_text()
    start = text.index("## Why is my build waiting?")
    return text[start : text.index("\n## ", start + 1)]


def test_every_kind_of_wait_is_explained() -> None:
    rows = [line for line in section().splitlines() if line.startswith("| `")]
    documented = {kind for row in rows for kind in re.findall(r"`([a-z-]+)`", row.split("|")[1])}
    assert documented == set(KINDS)


def test_every_failure_reason_is_named() -> None:
    failures = section()[section().index("**Failures explained.**") :]
    named = set(re.findall(r"`([a-z-]+)`", failures))
    assert set(REASONS) <= named
