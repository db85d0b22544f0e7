"""The ``/computer/api/json`` view of a controller: which nodes are online, idle, busy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COMPUTER_TREE = (
    "computer[displayName,offline,temporarilyOffline,idle,numExecutors,"
    "offlineCauseReason,assignedLabels[name],"
    "executors[idle,currentExecutable[url,number]],"
    "oneOffExecutors[idle,currentExecutable[url,number]]]"
)
BUILT_IN_CLASS = "hudson.model.Hudson$MasterComputer"


@dataclass(frozen=True)
class NodeView:
    """One Jenkins node as ``/computer`` shows it."""

    name: str
    offline: bool
    temporarily_offline: bool
    idle: bool
    executors: int
    labels: frozenset[str]
    builds: tuple[str, ...]
    """URLs of the builds running on its (regular) executors."""
    offline_reason: str = ""

    @property
    def busy(self) -> bool:
        return bool(self.builds)


def parse_computers(payload: Mapping[str, Any]) -> dict[str, NodeView]:
    """Nodes by exact name. The built-in node is left out: it is never an agent."""
    nodes: dict[str, NodeView] = {}
    for entry in payload.get("computer") or []:
        if not isinstance(entry, Mapping):
            continue
        if entry.get("_class") == BUILT_IN_CLASS:
            continue
        name = entry.get("displayName")
        if not isinstance(name, str) or name in ("master", "Built-In Node"):
            continue
        builds: list[str] = []
        for executor in entry.get("executors") or []:
            current = (executor or {}).get("currentExecutable") if isinstance(executor, Mapping) else None
            if isinstance(current, Mapping):
                builds.append(str(current.get("url") or current.get("number") or "build"))
        labels = frozenset(
            str(lab["name"]) for lab in entry.get("assignedLabels") or [] if isinstance(lab, Mapping) and "name" in lab
        )
        nodes[name] = NodeView(
            name=name,
            offline=bool(entry.get("offline")),
            temporarily_offline=bool(entry.get("temporarilyOffline")),
            idle=bool(entry.get("idle", not builds)),
            executors=int(entry.get("numExecutors") or 0),
            labels=labels,
            builds=tuple(builds),
            offline_reason=str(entry.get("offlineCauseReason") or ""),
        )
    return nodes
