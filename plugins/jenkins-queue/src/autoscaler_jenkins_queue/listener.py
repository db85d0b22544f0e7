"""The ``jenkins-queue`` demand listener: polls ``/queue/api/json`` and reads what each item wants."""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Mapping
from typing import Any, Literal

import msgspec
from pydantic import Field

from autoscaler.plugin import (
    DemandItem,
    DemandListener,
    DemandReport,
    DemandUnknown,
    Duration,
    JenkinsAPI,
    JenkinsError,
    LabelExpressionError,
    ListenerSettings,
    PluginContext,
    expression_matches,
    parse_expression,
)
from autoscaler_jenkins_queue.decode import QueueItem, decode, from_dict
from autoscaler_jenkins_queue.placeholders import Placeholders
from autoscaler_jenkins_queue.why import Reason, parse_why

log = logging.getLogger(__name__)

QUEUE_TREE = "items[id,why,blocked,buildable,pending,stuck,inQueueSince,task[name,url,labelExpression]]"
NODES_TREE = "computer[displayName,assignedLabels[name]]"
NODES_MAX_AGE = 60.0
"""Seconds a read of node names is trusted before the next poll that names a node reads it again."""
_NO_LABELS: frozenset[str] = frozenset()
_EXPRESSION = "\0expression "
"""Key prefix, among ``why`` texts, of a task's own label expression turned into a reason."""
_NOT_BUILDABLE = ("hudson.model.Queue$WaitingItem", "hudson.model.Queue$BlockedItem", "hudson.model.Queue$LeftItem")


class QueueSettings(ListenerSettings):
    """``type: jenkins-queue``: demand read from a controller's build queue."""

    interval: Duration = Field(default=5.0, gt=0)
    """Seconds between polls of the queue."""
    label_source: Literal["why", "placeholders"] = "why"
    """How a label is seen while Jenkins has no agent node at all (when every item just says
    ``Waiting for next available executor``): ``why`` reads only the queue (freestyle jobs still
    work through their ``labelExpression``; pipelines wait until some agent exists);
    ``placeholders`` keeps one offline, never-launched node per label so the queue always names it."""


class JenkinsQueueListener(DemandListener):
    settings_model = QueueSettings

    def __init__(self, settings: ListenerSettings, context: PluginContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, QueueSettings)
        self.queue_settings = settings
        self.controller = context.controller(settings.controller).name
        self.placeholders = Placeholders(context, self.controller) if settings.label_source == "placeholders" else None
        self._shutdown_logged = False
        self._nodes: dict[str, frozenset[str]] = {}
        """Node name -> labels, from ``/computer``: read again when an unknown node is named."""
        self._nodes_read = 0.0
        self._atoms: tuple[frozenset[str], ...] = ()
        """The atoms of each configured label, as of the last poll (a reload may change them)."""
        self._labels: dict[str, bool] = {}
        """Text -> whether a label of ``_atoms`` serves it."""
        self._seen: dict[int | str, tuple[QueueItem, Reason | None]] = {}
        """Queue id -> the item as the last poll saw it, and what it waits for (kept while unchanged)."""
        self._made: dict[int | str, DemandItem] = {}
        """Queue id -> its demand item, for the items of ``_seen`` (made again when nodes are read)."""
        self._why: dict[str, Reason] = {}
        """``why`` text -> its reason, within one poll (a queue repeats a few texts many times)."""

    @property
    def interval(self) -> float:
        return self.queue_settings.interval

    @property
    def client(self) -> JenkinsAPI:
        return self.context.jenkins[self.controller]

    def start(self) -> None:
        if self.placeholders is not None:
            try:
                self.placeholders.ensure(self.client)
            except JenkinsError as exc:
                log.warning("could not create placeholder nodes yet (will retry each poll): %s", exc)

    def poll(self) -> DemandReport:
        try:
            if self.placeholders is not None and not self.placeholders.done:
                self.placeholders.ensure(self.client)
            body = self.client.get_text(f"queue/api/json?tree={QUEUE_TREE}")
        except JenkinsError as exc:
            raise DemandUnknown(str(exc)) from None
        return DemandReport(tuple(self.read_queue(body)), self.controller)

    def read_queue(self, body: str | bytes) -> list[DemandItem]:
        """Demand items from the text of ``/queue/api/json`` (typed decoding; a payload of other
        shapes is read item by item as plain JSON)."""
        try:
            typed = decode(body)
            if typed is not None:
                return self._read(typed)
            payload = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise DemandUnknown(f"{self.controller}: queue/api/json did not answer JSON") from None
        items = payload.get("items") if isinstance(payload, Mapping) else None
        if not isinstance(items, list):
            raise DemandUnknown("queue/api/json has no items list")
        return self.read_items(items)

    def read_items(self, items: list[Any]) -> list[DemandItem]:
        """Demand items for every queued entry (plain JSON objects) that waits for an agent."""
        typed = []
        for raw in items:
            if not isinstance(raw, Mapping) or not isinstance(raw.get("id", []), Hashable):
                self.context.count("malformed")
                continue
            typed.append(from_dict(raw))
        return self._read(typed)

    def _read(self, items: list[QueueItem]) -> list[DemandItem]:
        """An item unchanged since the last poll (same id, equal fields) costs one comparison:
        what it waits for, and its demand item, are kept from that poll."""
        atoms = tuple(lab.atoms for lab in self.context.labels())
        if atoms != self._atoms:
            self._atoms, self._labels, self._seen = atoms, {}, {}
        before, seen, made = self._seen, {}, {}
        found: list[tuple[QueueItem, Reason]] = []
        need_nodes = shutdown = False
        for item in items:
            entry = before.get(item.id)
            if entry is None or entry[0] != item:
                entry = (item, self._reason(item))
            elif item.id in self._made:
                made[item.id] = self._made[item.id]
            seen[item.id] = entry
            reason = entry[1]
            if reason is None:
                continue
            if reason.kind == "shutdown":
                shutdown = True
                continue
            if reason.kind == "node" or (reason.kind == "label-or-node" and not self._is_label(reason.text)):
                need_nodes = need_nodes or reason.text not in self._nodes
            found.append((item, reason))
        self._seen, self._made, self._why = seen, made, {}
        if shutdown and not self._shutdown_logged:
            log.info("%s is quieting down: no agents are launched for its queue", self.controller)
        self._shutdown_logged = shutdown
        if need_nodes or (found and time.monotonic() - self._nodes_read > NODES_MAX_AGE and self._nodes):
            self._nodes = self._node_labels()
            self._nodes_read = time.monotonic()
            made.clear()  # made with the former node labels
        return [made.get(item.id) or self._item(item, reason) for item, reason in found]

    def _reason(self, item: QueueItem) -> Reason | None:
        """What the item waits for; None when it is not waiting for an agent (shutdown is kept:
        it says the controller is quieting down)."""
        if item.cls in _NOT_BUILDABLE or item.blocked or item.pending or item.buildable is False:
            return None
        why = item.why or ""
        reason = self._why.get(why)
        if reason is None:
            reason = self._why[why] = _pick(parse_why(item.why))
        if reason.kind == "shutdown":
            return reason
        expression = item.expression
        if expression is not None and reason.kind in ("label-or-node", "node", "bare", "label"):
            reason = self._why.get(_EXPRESSION + expression) or self._why.setdefault(
                _EXPRESSION + expression, Reason("label", expression)
            )
        return reason if reason.kind in ("label", "node", "label-or-node") else None

    def _is_label(self, text: str) -> bool:
        """Whether ``text`` is a label expression some configured label serves (then it is not a
        node name to look up; a node named like a served label is not told apart, nor need it be)."""
        known = self._labels.get(text)
        if known is None:
            try:
                parsed = parse_expression(text)
            except LabelExpressionError:
                known = False
            else:
                known = any(expression_matches(parsed, label_atoms) for label_atoms in self._atoms)
            self._labels[text] = known
        return known

    def _item(self, item: QueueItem, reason: Reason) -> DemandItem:
        nodes = self._nodes
        key = f"{self.controller}:{item.id}"
        since = float(item.inQueueSince) / 1000.0 if item.inQueueSince is not None else None
        task = item.task
        what = ((task.name or task.url) if task is not None else None) or "pipeline node block"
        text = reason.text
        if reason.kind == "node" or (reason.kind == "label-or-node" and text in nodes):
            demand = DemandItem(key, None, text, nodes.get(text, _NO_LABELS), since, what)
        else:
            demand = DemandItem(key, text, None, _NO_LABELS, since, what)
        self._made[item.id] = demand
        return demand

    def _node_labels(self) -> dict[str, frozenset[str]]:
        try:
            payload = self.client.get_json(f"computer/api/json?tree={NODES_TREE}")
        except JenkinsError as exc:
            raise DemandUnknown(f"cannot resolve node names: {exc}") from None
        out: dict[str, frozenset[str]] = {}
        for entry in payload.get("computer") or [] if isinstance(payload, Mapping) else []:
            if isinstance(entry, Mapping) and isinstance(entry.get("displayName"), str):
                out[entry["displayName"]] = frozenset(
                    str(lab.get("name")) for lab in entry.get("assignedLabels") or [] if isinstance(lab, Mapping)
                )
        return out


def _pick(reasons: list[Reason]) -> Reason:
    """The most telling reason: a label beats a node beats the rest."""
    for kind in ("label", "label-or-node", "node", "bare", "shutdown"):
        for reason in reasons:
            if reason.kind == kind:
                return reason
    return reasons[0] if reasons else Reason("unknown")
