"""The ``jenkins-queue`` demand listener: polls ``/queue/api/json`` and reads what each item wants."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Literal

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
from autoscaler_jenkins_queue.placeholders import Placeholders
from autoscaler_jenkins_queue.why import Reason, parse_why

log = logging.getLogger(__name__)

QUEUE_TREE = "items[id,why,blocked,buildable,pending,stuck,inQueueSince,task[name,url,labelExpression]]"
NODES_TREE = "computer[displayName,assignedLabels[name]]"
NODES_MAX_AGE = 60.0
"""Seconds a read of node names is trusted before the next poll that names a node reads it again."""
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
            payload = self.client.get_json(f"queue/api/json?tree={QUEUE_TREE}")
        except JenkinsError as exc:
            raise DemandUnknown(str(exc)) from None
        items = payload.get("items") if isinstance(payload, Mapping) else None
        if not isinstance(items, list):
            raise DemandUnknown("queue/api/json has no items list")
        return DemandReport(tuple(self.read_items(items)), self.controller)

    def read_items(self, items: list[Any]) -> list[DemandItem]:
        """Demand items for every queued entry that waits for an agent."""
        found: list[tuple[Mapping[str, Any], Reason]] = []
        need_nodes = False
        shutdown = False
        atoms = tuple(lab.atoms for lab in self.context.labels())
        if atoms != self._atoms:
            self._atoms, self._labels = atoms, {}
        for raw in items:
            if not isinstance(raw, Mapping) or "id" not in raw:
                self.context.count("malformed")
                continue
            if raw.get("_class") in _NOT_BUILDABLE or raw.get("blocked") or raw.get("pending"):
                continue
            if raw.get("buildable") is False:
                continue
            reason = _pick(parse_why(raw.get("why")))
            if reason.kind == "shutdown":
                shutdown = True
                continue
            expression = _label_expression(raw)
            if expression is not None and reason.kind in ("label-or-node", "node", "bare", "label"):
                reason = Reason("label", expression)
            if reason.kind == "node" or (reason.kind == "label-or-node" and not self._is_label(reason.text)):
                need_nodes = need_nodes or reason.text not in self._nodes
            if reason.kind in ("label", "node", "label-or-node"):
                found.append((raw, reason))
        if shutdown and not self._shutdown_logged:
            log.info("%s is quieting down: no agents are launched for its queue", self.controller)
        self._shutdown_logged = shutdown
        if need_nodes or (found and time.monotonic() - self._nodes_read > NODES_MAX_AGE and self._nodes):
            self._nodes = self._node_labels()
            self._nodes_read = time.monotonic()
        return [self._item(raw, reason, self._nodes) for raw, reason in found]

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

    def _item(self, raw: Mapping[str, Any], reason: Reason, nodes: Mapping[str, frozenset[str]]) -> DemandItem:
        key = f"{self.controller}:{raw['id']}"
        since = raw.get("inQueueSince")
        since_s = float(since) / 1000.0 if isinstance(since, int | float) else None
        raw_task = raw.get("task")
        task: Mapping[str, Any] = raw_task if isinstance(raw_task, Mapping) else {}
        what = str(task.get("name") or task.get("url") or "pipeline node block")
        if reason.kind == "node" or (reason.kind == "label-or-node" and reason.text in nodes):
            return DemandItem(
                key, node=reason.text, node_labels=nodes.get(reason.text, frozenset()), since=since_s, what=what
            )
        return DemandItem(key, expression=reason.text, since=since_s, what=what)

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


def _label_expression(raw: Mapping[str, Any]) -> str | None:
    task = raw.get("task")
    if isinstance(task, Mapping):
        value = task.get("labelExpression")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
