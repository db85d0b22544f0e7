"""Read what a queued item waits for from its ``why`` text (Jenkins has no structured field).

Every form Jenkins has printed is understood: curly quotes (current) or none (older), label
expressions, a node named instead of a label (when exactly one node carries the label), several
per-node reasons joined with ``"; "``, and the reasons that are not a lack of agents at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["label", "node", "label-or-node", "bare", "not-demand", "shutdown", "unknown"]


@dataclass(frozen=True)
class Reason:
    kind: Kind
    """``label``: ``text`` is a label expression; ``node``: a node name; ``label-or-node``: either
    (Jenkins names the node when exactly one node has the label); ``bare``: waiting for an
    executor with no label named; the rest are not demand for agents."""
    text: str = ""


_Q = r"(?:[‘'](?P<{0}>.+?)[’']|(?P<{0}_bare>\S+))"


def _q(name: str) -> str:
    return _Q.format(name)


_PATTERNS: tuple[tuple[re.Pattern[str], Kind, str], ...] = (
    (re.compile(rf"^All nodes of label {_q('x')} are offline$"), "label", "x"),
    (re.compile(rf"^There are no nodes with the label {_q('x')}$"), "label", "x"),
    (re.compile(rf"^Waiting for next available executor on {_q('x')}$"), "label-or-node", "x"),
    (re.compile(rf"^{_q('n')} doesn[’']t have label {_q('x')}$"), "label", "x"),
    (re.compile(rf"^{_q('x')} is reserved for jobs with matching label expression$"), "not-demand", "x"),
    (re.compile(rf"^{_q('x')} is offline$"), "node", "x"),
)
_NOT_DEMAND = (
    "Blocked by ",
    "In the quiet period",
    "Build #",
    "A build is already in progress",
    "Waiting for permission",
    "Upstream project",
    "Downstream project",
    "Finished waiting",
    "Waiting for the completion of",
)


def parse_why(why: object) -> list[Reason]:
    """Every reason in a ``why`` text (several, when Jenkins joined them with ``"; "``)."""
    text = why.strip() if isinstance(why, str) else ""
    if not text:
        return [Reason("unknown")]
    if text.startswith("Jenkins is about to shut down"):
        return [Reason("shutdown")]
    return [_one(part.strip()) for part in text.split("; ") if part.strip()] or [Reason("unknown", text)]


def _one(text: str) -> Reason:
    if text.rstrip(".") == "Waiting for next available executor":
        return Reason("bare")
    for pattern, kind, group in _PATTERNS:
        match = pattern.match(text)
        if match:
            value = match.group(group) or match.group(f"{group}_bare")
            return Reason(kind, value)
    if text.startswith(_NOT_DEMAND):
        return Reason("not-demand", text)
    return Reason("unknown", text)
