"""What exists without a record: agents the driver runs that the engine does not know (adopted
once seen in two listings, never deleted blindly), and Jenkins nodes named like ours that no
agent owns (deleted once seen offline and idle in two readings)."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from autoscaler.config.models import Config
from autoscaler.engine.state import Agent
from autoscaler.jenkins.computers import NodeView
from autoscaler.plugin import AgentHandle

NAME_CHARS = string.ascii_lowercase + string.digits


@dataclass
class Strays:
    """What the last passes saw with no record."""

    adopted_once: bool = False
    """The first driver listing adopts everything (a restart); later, strays wait a second look."""
    unknown: set[str] = field(default_factory=set)
    lingering: dict[str, set[str]] = field(default_factory=dict)

    def sort_listing(self, handles: Sequence[AgentHandle], agents: Mapping[str, Agent]) -> list[AgentHandle]:
        """The handles to adopt now: all on the first listing, then those seen twice."""
        adopt = []
        unknown = set()
        for handle in handles:
            if handle.name in agents:
                continue
            if not self.adopted_once or handle.name in self.unknown:
                adopt.append(handle)
            else:
                unknown.add(handle.name)
        self.adopted_once = True
        self.unknown = unknown
        return adopt

    def lingering_nodes(
        self, controller: str, nodes: Mapping[str, NodeView], agents: Mapping[str, Agent], config: Config
    ) -> set[str]:
        """Offline, idle nodes named like ours that no agent owns, seen in two readings in a row."""
        prefix = config.daemon.name_prefix + "-"
        slugs = {lab.slug for lab in config.labels}
        candidates = {
            name
            for name, node in nodes.items()
            if name.startswith(prefix)
            and name not in agents
            and node.offline
            and not node.busy
            and matches_pattern(name[len(prefix) :], slugs)
        }
        previous = self.lingering.get(controller, set())
        self.lingering[controller] = candidates
        return candidates & previous


def matches_pattern(rest: str, slugs: set[str]) -> bool:
    """``<label slug>-<6 random characters>``: the names the engine gives its agents."""
    slug, _, suffix = rest.rpartition("-")
    return slug in slugs and len(suffix) == 6 and all(ch in NAME_CHARS for ch in suffix)
