"""Placeholder nodes: one offline, never-launched node per label, so that a queue with no agents
still names the label its items want (Jenkins drops the label from ``why`` when it has no agent
node at all).

The labels are read from the live configuration at each check, so a label added by a reload
(SIGHUP) gets its placeholder at the next poll."""

from __future__ import annotations

import logging

from autoscaler.plugin import JenkinsAPI, LabelInfo, PluginContext

log = logging.getLogger(__name__)


def placeholder_name(prefix: str, label: LabelInfo) -> str:
    return f"{prefix}-{label.slug}-placeholder"


class Placeholders:
    def __init__(self, context: PluginContext, controller: str) -> None:
        self.context = context
        self.controller = controller
        self.made: set[str] = set()
        """Placeholders known to exist (created here or found): not looked for again."""

    def wanted(self) -> dict[str, LabelInfo]:
        """Placeholder name -> label, for every label of this controller configured now."""
        prefix = self.context.name_prefix
        return {
            placeholder_name(prefix, lab): lab for lab in self.context.labels() if lab.controller == self.controller
        }

    @property
    def done(self) -> bool:
        """Whether every label configured now has its placeholder."""
        return self.wanted().keys() <= self.made

    def ensure(self, client: JenkinsAPI) -> None:
        """Create the placeholder nodes that do not exist yet."""
        missing = {name: lab for name, lab in self.wanted().items() if name not in self.made}
        if not missing:
            return
        existing = set(client.computers())
        for name, lab in missing.items():
            if name not in existing:
                client.create_node(
                    name,
                    labels=" ".join(sorted(lab.atoms)),
                    executors=1,
                    description=f"autoscaler placeholder for label {lab.name}: stays offline, runs nothing",
                )
                client.take_offline(name, "autoscaler placeholder: never runs builds")
                log.info("created placeholder node %s for label %s", name, lab.name)
            self.made.add(name)
