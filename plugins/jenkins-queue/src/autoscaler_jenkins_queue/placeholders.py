"""Placeholder nodes: one offline, never-launched node per label, so that a queue with no agents
still names the label its items want (Jenkins drops the label from ``why`` when it has no agent
node at all)."""

from __future__ import annotations

import logging

from autoscaler.config.models import Config, LabelConfig
from autoscaler.jenkins.client import JenkinsClient

log = logging.getLogger(__name__)


def placeholder_name(config: Config, label: LabelConfig) -> str:
    return f"{config.daemon.name_prefix}-{label.slug}-placeholder"


class Placeholders:
    def __init__(self, config: Config, controller: str) -> None:
        self.labels = [lab for lab in config.labels if config.controller_of(lab).name == controller]
        self.names = {placeholder_name(config, lab): lab for lab in self.labels}
        self.done = False

    def ensure(self, client: JenkinsClient) -> None:
        """Create the placeholder nodes that do not exist yet."""
        existing = set(client.computers())
        for name, lab in self.names.items():
            if name in existing:
                continue
            client.create_node(
                name,
                labels=" ".join(sorted(lab.all_atoms)),
                executors=1,
                description=f"autoscaler placeholder for label {lab.name}: stays offline, runs nothing",
            )
            client.take_offline(name, "autoscaler placeholder: never runs builds")
            log.info("created placeholder node %s for label %s", name, lab.name)
        self.done = True
