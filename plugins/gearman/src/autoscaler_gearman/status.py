"""The gearman admin ``status`` reply (WIRE §6) and the demand it means.

One line per function: ``FUNCTION\\tTOTAL\\tRUNNING\\tAVAILABLE_WORKERS``, then ``.``. TOTAL includes
running jobs, so queued = TOTAL - RUNNING. ``build:<job>:<label>`` is demand for ``<label>`` (which
may be a label expression); a plain ``build:<job>`` is charged to a label the same job was seen
with; other functions are not builds.

The reply comes from the network: a count above :data:`MAX_COUNT` makes the reply malformed, and
one function yields at most :data:`MAX_ITEMS` demand items (far beyond any label's ``max``).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from autoscaler.plugin import DemandItem

MAX_COUNT = 1_000_000_000
"""Largest job or worker count believed; beyond it the reply is malformed."""
MAX_ITEMS = 10_000
"""Most demand items made for one function (a queue deeper than this is demand enough)."""


class StatusError(ValueError):
    """A reply that is not a gearman status listing."""


@dataclass(frozen=True)
class FunctionStatus:
    name: str
    total: int
    running: int
    workers: int

    @property
    def queued(self) -> int:
        return max(0, self.total - self.running)


def parse_status(reply: bytes) -> list[FunctionStatus]:
    try:
        text = reply.decode("utf-8")
    except UnicodeDecodeError:
        raise StatusError("status reply is not UTF-8") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if "." not in lines:
        raise StatusError("status reply does not end with a '.' line")
    out = []
    for line in lines[: lines.index(".")]:
        if not line:
            continue
        parts = line.split("\t")
        if len(parts) != 4:
            raise StatusError(f"expected FUNCTION, TOTAL, RUNNING, WORKERS separated by tabs, got {line[:80]!r}")
        try:
            total, running, workers = (int(p) for p in parts[1:])
        except ValueError:
            raise StatusError(f"counts are not numbers in {line[:80]!r}") from None
        if min(total, running, workers) < 0:
            raise StatusError(f"negative count in {line[:80]!r}")
        if max(total, running, workers) > MAX_COUNT:
            raise StatusError(f"count larger than {MAX_COUNT} in {line[:80]!r}")
        out.append(FunctionStatus(parts[0], total, running, workers))
    return out


def demand_items(
    server: str, functions: list[FunctionStatus], job_labels: MutableMapping[str, str]
) -> list[DemandItem]:
    """Demand items for one server. ``job_labels`` remembers the label each job was seen with
    (updated here) so that a plain ``build:<job>`` can be charged to it."""
    for fn in functions:
        job, label = _split(fn.name)
        if job is not None and label is not None:
            job_labels.setdefault(job, label)
    items: list[DemandItem] = []
    for fn in functions:
        job, label = _split(fn.name)
        if job is None:
            continue
        label = label or _known(job_labels, job)
        if label is None:
            continue
        items += [
            DemandItem(f"gearman:{server}:{fn.name}:{i}", expression=label, what=f"{job} (gearman)")
            for i in range(min(fn.queued, MAX_ITEMS))
        ]
    return items


def _split(function: str) -> tuple[str | None, str | None]:
    if not function.startswith("build:"):
        return None, None
    rest = function[len("build:") :]
    job, sep, label = rest.partition(":")
    if not job:
        return None, None
    return job, (label or None) if sep else None


def _known(job_labels: Mapping[str, str], job: str) -> str | None:
    return job_labels.get(job)
