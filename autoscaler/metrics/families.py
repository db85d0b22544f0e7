"""Every metric family the core exports, in one registry per daemon (never the process-wide
default registry: tests run several daemons in one process).

Histograms and counters here are live ``prometheus_client`` objects the engine updates as things
happen (cumulative: they only grow). What is a reading of the state (agents per state, demand,
backoff, the oldest waiting build) is set on the engine's thread right before each scrape, into
:attr:`Metrics.state` (see :mod:`autoscaler.engine.scrape`), and exported by a collector.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PHASES = ("launch_requested", "created", "scheduled", "running", "online", "build_started")
"""Start-up phases in order; each is observed as the seconds since the phase before it."""
COUNTED_STATES = ("booting", "idle", "busy")
"""The states of ``autoscaler_agent_seconds_total``."""
BOOT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def package_version() -> str:
    try:
        return version("jenkins-autoscaler")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


@dataclass
class StateReading:
    """Values read from the engine's state at the last scrape (label tuples -> value)."""

    agents: dict[tuple[str, str, str], float] = field(default_factory=dict)
    demand: dict[tuple[str, str], float] = field(default_factory=dict)
    backoff: dict[str, float] = field(default_factory=dict)
    oldest_waiting: dict[tuple[str, str], float] = field(default_factory=dict)
    demand_unknown: dict[str, float] = field(default_factory=dict)
    launches: dict[str, float] = field(default_factory=dict)
    retirements: dict[str, float] = field(default_factory=dict)
    launch_failures: dict[str, float] = field(default_factory=dict)
    failures: dict[tuple[str, str], float] = field(default_factory=dict)
    events: dict[tuple[str, str], float] = field(default_factory=dict)
    io_errors: dict[str, float] = field(default_factory=dict)
    ready: float = 0.0


_GAUGES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("agents", "autoscaler_agents", ("controller", "label", "state"), "Agents by label and state."),
    ("demand", "autoscaler_demand", ("controller", "label"), "Queued builds per label."),
    ("backoff", "autoscaler_backoff_seconds", ("label",), "Seconds until a failing label may launch again."),
    (
        "oldest_waiting",
        "autoscaler_oldest_waiting_seconds",
        ("controller", "label"),
        "Age of the oldest queued build per label (label empty: builds no configured label serves).",
    ),
    ("demand_unknown", "autoscaler_demand_unknown", ("listener",), "1 while a demand listener cannot read its source."),
)
_COUNTERS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("launches", "autoscaler_launches", ("label",), "Agents launched."),
    ("retirements", "autoscaler_retirements", ("label",), "Agents retired and gone."),
    ("launch_failures", "autoscaler_launch_failures", ("label",), "Launches the driver refused."),
    (
        "failures",
        "autoscaler_agent_failures",
        ("label", "reason"),
        "Agents that failed before coming online (each grows the label's backoff), by reason.",
    ),
    ("events", "autoscaler_events", ("source", "kind"), "Events received from listeners, by source and kind."),
    ("io_errors", "autoscaler_io_errors", ("target",), "Failed reads of Jenkins or the driver."),
)


class StateCollector(Collector):
    """Exports the last :class:`StateReading` (every family, even with no sample yet)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reading = StateReading()

    def set(self, reading: StateReading) -> None:
        with self.lock:
            self.reading = reading

    def collect(self) -> Iterable[Metric]:
        with self.lock:
            reading = self.reading
        for attr, name, labels, doc in _GAUGES:
            yield _family(GaugeMetricFamily(name, doc, labels=labels), getattr(reading, attr))
        for attr, name, labels, doc in _COUNTERS:
            yield _family(CounterMetricFamily(name, doc, labels=labels), getattr(reading, attr))
        ready = GaugeMetricFamily("autoscaler_ready", "1 once the daemon has seen Jenkins and its agents.")
        ready.add_metric([], reading.ready)
        yield ready


def _family(
    family: GaugeMetricFamily | CounterMetricFamily, values: Mapping[str, float] | Mapping[tuple[str, ...], float]
) -> Metric:
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [str(key)], value)
    return family


class Metrics:
    """The daemon's registry and every family the core updates as things happen."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.build_info = Gauge(
            "autoscaler_build_info", "1, labelled with the daemon's version.", ["version"], registry=r
        )
        self.build_info.labels(package_version()).set(1)
        self.queue_to_launch = Histogram(
            "autoscaler_queue_to_launch_seconds",
            "From a queued build's arrival to the launch made for it.",
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.boot = Histogram(
            "autoscaler_boot_seconds",
            "From the launch request to online in Jenkins (every agent that comes online, busy at once or not).",
            registry=r,
            buckets=BOOT_BUCKETS,
        )
        self.startup = Histogram(
            "autoscaler_agent_startup_seconds",
            "Start-up by phase: seconds from the previous phase the driver and Jenkins show to this one.",
            ["controller", "label", "phase"],
            registry=r,
            buckets=BOOT_BUCKETS,
        )
        self.agent_seconds = Counter(
            "autoscaler_agent_seconds",
            "Seconds agents spent booting (pending or booting), idle (ready or disconnected) or busy.",
            ["controller", "label", "state"],
            registry=r,
        )
        self.leaked = Counter(
            "autoscaler_leaked_agents",
            "Agents found running with this daemon's identity but no record (then adopted), and Jenkins nodes"
            " named like its agents with no agent behind them (then removed).",
            ["label"],
            registry=r,
        )
        self.state = StateCollector()
        r.register(self.state)

    def add_process_metrics(self) -> None:
        """``process_*`` and ``python_info`` (once per registry: the daemon calls this)."""
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def pools(self, pools: Iterable[tuple[str, str]]) -> None:
        """Create every labelled child of the live families for these (controller, label) pairs,
        so they are exported at 0 before anything happens."""
        for controller, label in pools:
            for phase in PHASES:
                self.startup.labels(controller, label, phase)
            for state in COUNTED_STATES:
                self.agent_seconds.labels(controller, label, state)
            self.leaked.labels(label)

    def names(self) -> Iterator[str]:
        """The name of every family exported (as scraped: counters with ``_total``)."""
        for metric in self.registry.collect():
            yield metric.name + ("_total" if metric.type == "counter" else "")
