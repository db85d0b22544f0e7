"""Counters plugins bump through ``context.count``: ``autoscaler_plugin_occurrences_total``,
in the daemon's registry (which the API renders as ``/metrics``)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter


class PluginCounters:
    """One counter per (plugin, reason); thread-safe. ``registry``: the daemon's registry
    (a new one if not given, never the process-wide default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.family = Counter(
            "autoscaler_plugin_occurrences",
            "Notable occurrences counted by plugins (malformed input, ignored events).",
            ["plugin", "reason"],
            registry=self.registry,
        )

    def counter(self, plugin: str) -> Callable[[str], None]:
        """The ``count`` function for one plugin's context."""

        def count(reason: str) -> None:
            self.family.labels(plugin, reason).inc()

        return count

    def snapshot(self) -> dict[tuple[str, str], int]:
        """Every (plugin, reason) counted so far and its count."""
        out: dict[tuple[str, str], int] = {}
        for metric in self.family.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    out[(sample.labels["plugin"], sample.labels["reason"])] = int(sample.value)
        return out
