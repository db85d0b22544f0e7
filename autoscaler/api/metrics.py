"""``/metrics``: the daemon's registry in the Prometheus text format, through prometheus-client.

The server first asks the engine for ``metrics`` (the engine's thread brings the readings of its
state and the agent-seconds up to date, see :mod:`autoscaler.engine.scrape`), then renders::

    synced = ask("metrics")
    body, content_type = render(synced["registry"])
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autoscaler.supervision import Supervisor

CONTENT_TYPE = CONTENT_TYPE_LATEST


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The exposition of every family in ``registry``, and its content type."""
    return generate_latest(registry), CONTENT_TYPE


class ListenerCollector(Collector):
    """``autoscaler_listener_up`` and ``autoscaler_listener_restarts_total`` from the listeners'
    supervisor, read at each scrape."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "autoscaler_listener_up", "1 while a listener's loop runs and makes progress.", labels=["listener"]
        )
        restarts = CounterMetricFamily(
            "autoscaler_listener_restarts", "Restarts of a listener's loop after it failed.", labels=["listener"]
        )
        for health in self.supervisor.health():
            up.add_metric([health.name], 1.0 if health.up else 0.0)
            restarts.add_metric([health.name], health.restarts)
        yield up
        yield restarts
