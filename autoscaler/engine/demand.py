"""Demand as the engine keeps it: what each listener last saw, resolved to configured labels.

An item is resolved among the labels (pools) of the controller it is queued on: an agent joins
its own controller only, so a pool of another controller can never run that build, however well
its labels match. Resolutions are cached per (controller, expression).

Listeners of the same controller observe the same queue, so their counts merge by max per
label; different controllers add up. A listener whose source is down keeps its last report.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from autoscaler import labels as label_expr
from autoscaler.config.models import Config, LabelConfig
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
    made: dict[str, tuple[DemandItem, Wanted]] = field(default_factory=dict)
    """Per key, the item last reported and what it was resolved to: a listener that reports the
    same item object again (unchanged) is not resolved again (label expressions only)."""


class DemandBook:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.listeners: dict[str, ListenerDemand] = {}
        self._expr_cache: dict[tuple[str, str], str | None] = {}
        self._first_seen: dict[str, float] = {}
        self._served: set[str] = set()
        self._waiting: dict[str, deque[Wanted]] | None = None
        self._per_label: dict[str, int] | None = None
        self._starts: dict[str, deque[float]] = {}
        self._start_atoms: deque[tuple[float, frozenset[str]]] = deque()
        """Starts on catch-all agents, with the labels the agent carries."""

    def record_start(self, label: str, when: float, atoms: frozenset[str] | None = None) -> None:
        """A build started on an agent of ``label``. Its queue item is still in any report read
        before ``when``; until a newer report arrives, that item is not counted again. ``atoms``:
        the labels a catch-all agent carries, to tell which expression its build wanted."""
        self._starts.setdefault(label, deque()).append(when)
        if atoms is not None:
            self._start_atoms.append((when, atoms))
        self._per_label = None

    def reconfigure(self, config: Config) -> None:
        self.config = config
        self._expr_cache.clear()
        for listener in self.listeners.values():
            listener.made = {}
            listener.items = {
                k: _relabel(w, self._resolve_text(w.wants, listener.controller)) for k, w in listener.items.items()
            }
        self._per_label = None
        self._waiting = None

    def update(self, update: DemandUpdate, owners: Mapping[str, str], now: float, mono: float | None = None) -> None:
        """``now``: wall time (when items arrived, for display and latency); ``mono``: the engine's
        clock, which ``observed_at`` and the build starts of :meth:`record_start` are on."""
        listener = self.listeners.setdefault(update.listener, ListenerDemand(update.controller))
        if listener.controller != update.controller:
            listener.made = {}
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
        listener.observed_at = (
            update.observed_at if update.observed_at is not None else (mono if mono is not None else now)
        )
        items: dict[str, Wanted] = {}
        made: dict[str, tuple[DemandItem, Wanted]] = {}
        for item in update.report.items:
            kept = listener.made.get(item.key)
            if kept is None or kept[0] is not item:
                since = item.since if item.since is not None else self._first_seen.setdefault(item.key, now)
                label = self._resolve(item, owners, listener.controller)
                kept = (item, Wanted(item.key, label, _wants(item), since, item.what))
            items[item.key] = kept[1]
            if item.node is None:  # a node's owner may change between reports: resolved each time
                made[item.key] = kept
        listener.items, listener.made = items, made
        live = {k for ld in self.listeners.values() for k in ld.items}
        self._served &= live
        self._first_seen = {k: v for k, v in self._first_seen.items() if k in live}
        self._per_label = None
        self._waiting = None
        oldest = min(ld.observed_at for ld in self.listeners.values())
        for starts in self._starts.values():
            while starts and starts[0] < oldest:
                starts.popleft()
        while self._start_atoms and self._start_atoms[0][0] < oldest:
            self._start_atoms.popleft()

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
        oldest = self.claim(label)
        return None if oldest is None else max(0.0, now - oldest.since)

    def claim(self, label: str) -> Wanted | None:
        """Mark the oldest unserved item of ``label`` served and return it (None if none waits)."""
        if self._waiting is None:
            self._waiting = self._unserved_by_label()
        waiting = self._waiting.get(label)
        while waiting:
            oldest = waiting.popleft()
            if oldest.key not in self._served:
                self._served.add(oldest.key)
                return oldest
        return None

    def launch_label(self, lab: LabelConfig, now: float) -> tuple[LabelConfig, float | None]:
        """For one launch of ``lab``: the label config to launch with, and how long the item it
        serves had waited. An agent of the catch-all label also carries the labels its item asked
        for, so Jenkins gives it that build."""
        oldest = self.claim(lab.name)
        latency = None if oldest is None else max(0.0, now - oldest.since)
        if not lab.catch_all or oldest is None:
            return lab, latency
        extra = self._atoms_for(oldest.wants, lab)
        if not extra:
            return lab, latency
        return lab.model_copy(update={"atoms": tuple(sorted({*lab.atoms, *extra}))}), latency

    def catch_all_wants(self) -> Counter[str]:
        """Items the catch-all label serves, per expression asked for (items waiting for one
        named node left out); listeners of one controller merge by max, controllers add up."""
        catch = self.config.catch_all
        total: Counter[str] = Counter()
        if catch is None:
            return total
        by_controller: dict[str, Counter[str]] = {}
        for listener in self.listeners.values():
            counts = Counter(
                w.wants for w in listener.items.values() if w.label == catch.name and not w.wants.startswith("node ")
            )
            for when, atoms in self._start_atoms:
                if when >= listener.observed_at:  # started after this report was read: not waiting
                    _discount(counts, atoms)
            merged = by_controller.setdefault(listener.controller, Counter())
            for wants, count in counts.items():
                merged[wants] = max(merged[wants], count)
        for counts in by_controller.values():
            total.update(counts)
        return total

    def _atoms_for(self, wants: str, lab: LabelConfig) -> frozenset[str]:
        parsed = _parsed(wants)
        return (satisfying_atoms(parsed, lab.all_atoms) if parsed is not None else None) or frozenset()

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

    def _resolve(self, item: DemandItem, owners: Mapping[str, str], controller: str) -> str | None:
        if item.node is not None:
            labels = [lab for lab in self.config.labels if _serves(self.config, lab, controller)]
            if item.node in owners:
                owner = owners[item.node]
                return owner if any(lab.name == owner for lab in labels) else None
            for lab in labels:
                if lab.name in item.node_labels and lab.name != item.node:
                    return lab.name
            return None
        if item.expression is not None:
            return self._resolve_text(item.expression, controller)
        return None

    def _resolve_text(self, expression: str, controller: str) -> str | None:
        if expression.startswith("node "):
            return None
        if (controller, expression) in self._expr_cache:
            return self._expr_cache[(controller, expression)]
        label: str | None = None
        try:
            parsed = label_expr.parse(expression)
        except label_expr.LabelExpressionError as exc:
            log.warning("queued work wants a malformed label expression %r: %s", expression, exc)
        else:
            label = resolve(parsed, self.config, controller)
        self._expr_cache[(controller, expression)] = label
        return label


def resolve(parsed: label_expr.Expr, config: Config, controller: str | None = None) -> str | None:
    """The label serving an expression queued on ``controller``: the first (not catch-all) label
    of that controller whose agents match it, else the catch-all label (if it joins that
    controller) when agents can be given labels that match it. ``controller`` None: the labels
    of every controller (for a question about labels alone, not about a queued build)."""
    for lab in config.labels:
        if not lab.catch_all and _serves(config, lab, controller) and label_expr.matches(parsed, lab.all_atoms):
            return lab.name
    catch = config.catch_all
    if (
        catch is not None
        and _serves(config, catch, controller)
        and satisfying_atoms(parsed, catch.all_atoms) is not None
    ):
        return catch.name
    return None


def _serves(config: Config, lab: LabelConfig, controller: str | None) -> bool:
    """Whether agents of ``lab`` join ``controller`` (and so can run what is queued there)."""
    return controller is None or config.controller_of(lab).name == controller


MAX_TRIES = 4096
"""Most label sets tried for one expression (expressions are cached, so this is paid once)."""


def satisfying_atoms(expr: label_expr.Expr, have: frozenset[str]) -> frozenset[str] | None:
    """The fewest labels that, added to ``have``, make ``expr`` true; None if no set does
    (``linux && !linux``, or ``!kubestack`` for an agent that must carry ``kubestack``). A label
    with spaces (``"Python 3.11"``) is never given: agents take their labels as a spaced list."""
    candidates = sorted(atom for atom in label_expr.atoms_of(expr) - have if atom.split() == [atom])
    tries = 0
    for size in range(len(candidates) + 1):
        for extra in itertools.combinations(candidates, size):
            if label_expr.matches(expr, have | frozenset(extra)):
                return frozenset(extra)
            tries += 1
            if tries >= MAX_TRIES:
                every = frozenset(candidates)  # a long conjunction: all of them
                return every if label_expr.matches(expr, have | every) else None
    return None


@dataclass(frozen=True)
class Match:
    """Waiting items of the catch-all label against its free agents."""

    unmet: Counter[str]
    """Items per expression no free agent can take: each needs a launch."""
    spare: tuple[str, ...]
    """Free agents no waiting item can use: surplus, whatever the label's total demand."""


def match_free_agents(wants: Mapping[str, int], agents: Mapping[str, frozenset[str]]) -> Match:
    """Pair waiting items (per expression) with free agents (name -> labels it carries).

    Greedy, most constrained first: expressions that fewest agents can take go first, and each
    takes the agents that fewest expressions could use."""
    fits = {w: [a for a, labels in sorted(agents.items()) if _fits(w, labels)] for w in wants}
    usable_by = Counter(a for takers in fits.values() for a in takers)
    free = set(agents)
    unmet: Counter[str] = Counter()
    for wants_text in sorted(wants, key=lambda w: (len(fits[w]), w)):
        count = wants[wants_text]
        for agent in sorted((a for a in fits[wants_text] if a in free), key=lambda a: (usable_by[a], a)):
            if count == 0:
                break
            free.discard(agent)
            count -= 1
        if count > 0:
            unmet[wants_text] = count
    return Match(unmet, tuple(sorted(free)))


def _discount(counts: Counter[str], atoms: frozenset[str]) -> None:
    """One of the items that an agent carrying ``atoms`` could take is no longer waiting."""
    for wants, count in counts.items():
        if count > 0 and _fits(wants, atoms):
            counts[wants] = count - 1
            return


def _fits(wants: str, atoms: frozenset[str]) -> bool:
    parsed = _parsed(wants)
    return parsed is not None and label_expr.matches(parsed, atoms)


@functools.lru_cache(maxsize=1024)
def _parsed(wants: str) -> label_expr.Expr | None:
    try:
        return label_expr.parse(wants)
    except (label_expr.LabelExpressionError, RecursionError):
        return None


def _wants(item: DemandItem) -> str:
    if item.node is not None:
        return f"node {item.node}"
    return item.expression or "?"


def _relabel(wanted: Wanted, label: str | None) -> Wanted:
    if wanted.wants.startswith("node "):
        return wanted
    return Wanted(wanted.key, label, wanted.wants, wanted.since, wanted.what)
