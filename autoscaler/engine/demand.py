"""Demand as the engine keeps it: what each listener last saw, resolved to configured labels.

Listeners of the same controller observe the same queue, so their counts merge by max per
label; different controllers add up. A listener whose source is down keeps its last report.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from autoscaler import labels as label_expr
from autoscaler.config.models import Config
from autoscaler.engine.messages import DemandUpdate
from autoscaler.events import DemandItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wanted:
    key: str
    label: str | None
    """The configured label that serves it, or None (no label matches)."""
    wants: str
    """What it asked for, as text (an expression or ``node X``)."""
    since: float
    what: str


@dataclass
class ListenerDemand:
    controller: str
    items: dict[str, Wanted] = field(default_factory=dict)
    error: str | None = None
    updated: float = 0.0
    observed_at: float = 0.0
    """When the source was read (the start of the poll)."""


class DemandBook:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.listeners: dict[str, ListenerDemand] = {}
        self._expr_cache: dict[str, str | None] = {}
        self._first_seen: dict[str, float] = {}
        self._served: set[str] = set()
        self._waiting: dict[str, deque[Wanted]] | None = None
        self._per_label: dict[str, int] | None = None
        self._starts: dict[str, deque[float]] = {}

    def record_start(self, label: str, when: float) -> None:
        """A build started on an agent of ``label``. Its queue item is still in any report read
        before ``when``; until a newer report arrives, that item is not counted again."""
        self._starts.setdefault(label, deque()).append(when)
        self._per_label = None

    def reconfigure(self, config: Config) -> None:
        self.config = config
        self._expr_cache.clear()
        for listener in self.listeners.values():
            listener.items = {k: _relabel(w, self._resolve_text(w.wants)) for k, w in listener.items.items()}
        self._per_label = None
        self._waiting = None

    def update(self, update: DemandUpdate, owners: Mapping[str, str], now: float) -> None:
        listener = self.listeners.setdefault(update.listener, ListenerDemand(update.controller))
        listener.controller = update.controller
        if update.report is None:
            if listener.error != update.error:
                log.warning("demand from %s unknown (keeping its last report): %s", update.listener, update.error)
            listener.error = update.error
            return
        if listener.error is not None:
            log.info("demand from %s readable again", update.listener)
        listener.error = None
        listener.updated = now
        listener.observed_at = update.observed_at if update.observed_at is not None else now
        items: dict[str, Wanted] = {}
        for item in update.report.items:
            since = item.since if item.since is not None else self._first_seen.setdefault(item.key, now)
            items[item.key] = Wanted(item.key, self._resolve(item, owners), _wants(item), since, item.what)
        listener.items = items
        live = {k for ld in self.listeners.values() for k in ld.items}
        self._served &= live
        self._first_seen = {k: v for k, v in self._first_seen.items() if k in live}
        self._per_label = None
        self._waiting = None
        oldest = min(ld.observed_at for ld in self.listeners.values())
        for starts in self._starts.values():
            while starts and starts[0] < oldest:
                starts.popleft()

    def per_label(self) -> dict[str, int]:
        if self._per_label is None:
            by_controller: dict[str, Counter[str]] = {}
            for listener in self.listeners.values():
                counts = Counter(w.label for w in listener.items.values() if w.label is not None)
                merged = by_controller.setdefault(listener.controller, Counter())
                for label, count in counts.items():
                    started = sum(1 for t in self._starts.get(label, ()) if t >= listener.observed_at)
                    merged[label] = max(merged[label], 0, count - started)
            total: Counter[str] = Counter()
            for counts in by_controller.values():
                total.update(counts)
            self._per_label = dict(total)
        return self._per_label

    def served(self, label: str, now: float) -> float | None:
        """A launch was made for ``label``: mark its oldest unserved item served and return how
        long that item had been waiting."""
        if self._waiting is None:
            self._waiting = self._unserved_by_label()
        waiting = self._waiting.get(label)
        while waiting:
            oldest = waiting.popleft()
            if oldest.key not in self._served:
                self._served.add(oldest.key)
                return max(0.0, now - oldest.since)
        return None

    def _unserved_by_label(self) -> dict[str, deque[Wanted]]:
        """Unserved items per label, oldest first (rebuilt once per change of demand)."""
        by_label: dict[str, list[Wanted]] = {}
        seen: set[str] = set()
        for listener in self.listeners.values():
            for wanted in listener.items.values():
                if wanted.label is not None and wanted.key not in self._served and wanted.key not in seen:
                    seen.add(wanted.key)
                    by_label.setdefault(wanted.label, []).append(wanted)
        return {label: deque(sorted(items, key=lambda w: w.since)) for label, items in by_label.items()}

    def _resolve(self, item: DemandItem, owners: Mapping[str, str]) -> str | None:
        if item.node is not None:
            if item.node in owners:
                return owners[item.node]
            for lab in self.config.labels:
                if lab.name in item.node_labels and lab.name != item.node:
                    return lab.name
            return None
        if item.expression is not None:
            return self._resolve_text(item.expression)
        return None

    def _resolve_text(self, expression: str) -> str | None:
        if expression.startswith("node "):
            return None
        if expression in self._expr_cache:
            return self._expr_cache[expression]
        label: str | None = None
        try:
            parsed = label_expr.parse(expression)
        except label_expr.LabelExpressionError as exc:
            log.warning("queued work wants a malformed label expression %r: %s", expression, exc)
        else:
            label = next(
                (lab.name for lab in self.config.labels if label_expr.matches(parsed, lab.all_atoms)),
                None,
            )
        self._expr_cache[expression] = label
        return label


def _wants(item: DemandItem) -> str:
    if item.node is not None:
        return f"node {item.node}"
    return item.expression or "?"


def _relabel(wanted: Wanted, label: str | None) -> Wanted:
    if wanted.wants.startswith("node "):
        return wanted
    return Wanted(wanted.key, label, wanted.wants, wanted.since, wanted.what)
