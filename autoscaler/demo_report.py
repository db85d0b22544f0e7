"""What ``autoscaler demo`` measures and says: queue-to-launch latency split into the time a build
waited for capacity (its label at its ``max``, ``max-agents``, the launch rate, a backoff) and the
daemon's own reaction; whether the run can still progress; the builds left unfinished; the summary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from autoscaler.cli import tables
from autoscaler.metrics.startup import breakdown_rows
from autoscaler.metrics.usage import percentile

SAMPLE_EVERY = 0.1
"""Seconds between the samples of the pools and agents the latency split is computed from."""


def _wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class Latencies:
    """Samples of the daemon's pools (is a label held back by a limit?) and of its agents' start-up
    phases (when was the build queued, when was the launch requested)."""

    blocked: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)
    launches: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    """Agent name -> (label, queued, launch requested), wall clock."""

    def sample(self, pools: list[dict[str, Any]], agents: list[dict[str, Any]], now: float) -> None:
        for p in pools:
            self.blocked.setdefault(p["label"], []).append((now, bool(p.get("blocked_by"))))
        for a in agents:
            got = a.get("phases") or {}
            queued, requested = got.get("queued"), got.get("launch_requested")
            if queued and requested and a["name"] not in self.launches:
                self.launches[a["name"]] = (a["label"], _wall(queued["at"]), _wall(requested["at"]))

    def split(self) -> tuple[list[float], list[float]]:
        """(waiting for capacity, the daemon's reaction) per launch that served a queued build: the
        reaction runs from the later of the build's queueing and the end of the last sample that
        showed its label held back by a limit, to the launch request."""
        capacity, reaction = [], []
        for label, queued, requested in self.launches.values():
            held = [t for t, blocked in self.blocked.get(label, []) if blocked and queued <= t <= requested]
            free_from = max(queued, held[-1]) if held else queued
            capacity.append(free_from - queued)
            reaction.append(max(0.0, requested - free_from))
        return capacity, reaction


class Progress:
    """Whether the run can still progress: it cannot when every queued build asks for a label no
    pool serves and nothing runs or boots, or when nothing at all has changed for ``stall_after``."""

    def __init__(self, stall_after: float) -> None:
        self.stall_after = stall_after
        self._last: tuple[Any, ...] | None = None
        self._since = time.monotonic()

    def stuck(self, sim: Any, pools: list[dict[str, Any]], unserved: int) -> str | None:
        model = sim.model
        with model.lock:
            queued = len(model.queue)
            running = sum(len(n.running) for n in model.nodes.values()) + len(model.pipelines_running)
            done = len(model.results)
        starting = sum(p["requested"] + p["pending"] + p["booting"] for p in pools)
        if queued and unserved >= queued and not running and not starting:
            return f"{tables.plural(unserved, 'queued build')} ask for labels no pool serves"
        signature = (queued, running, done, starting, tuple(sorted((p["label"], p["ready"], p["busy"]) for p in pools)))
        now = time.monotonic()
        if signature != self._last:
            self._last, self._since = signature, now
            return None
        if now - self._since >= self.stall_after:
            return f"nothing changed for {now - self._since:.0f}s"
        return None


def unfinished(sim: Any) -> list[str]:
    """The builds not done: queued ones with what Jenkins says they wait for, running ones with
    their node and how long they have run."""
    model = sim.model
    now = time.time()
    lines = []
    with model.lock:
        for item in model.queue:
            wants = f" on '{item.job.label}'" if item.job.label else ""
            lines.append(f"{item.job.name} (queued {now - item.since:.0f}s{wants}): {model.why(item, now)}")
        for node in model.nodes.values():
            for build in node.running:
                lines.append(f"{build.job.name}#{build.number} (running {now - build.started:.0f}s on {node.name})")
        for build, result in zip(model.completed, model.results, strict=False):
            if result != "SUCCESS":
                lines.append(f"{build.job.name}#{build.number} ({result} on {build.node})")
    return lines


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f} ms"


def latency_lines(status: dict[str, Any], latencies: Latencies) -> list[str]:
    capacity, reaction = latencies.split()
    p50, p95 = status["queue_to_launch_p50"], status["queue_to_launch_p95"]
    return [
        f"queue->launch latency  p50 {ms(p50)}  p95 {ms(p95)}  (over {status['queue_to_launch_count']} launches)",
        f"  waiting for capacity p50 {ms(percentile(capacity, 50))}  p95 {ms(percentile(capacity, 95))}"
        "  (a label at its max, max-agents, the launch rate or a backoff)",
        f"  daemon's reaction    p50 {ms(percentile(reaction, 50))}  p95 {ms(percentile(reaction, 95))}"
        f"  (from a free slot to the launch; sampled every {SAMPLE_EVERY * 1000:.0f} ms)",
    ]


def phase_lines(startup: dict[str, Any]) -> list[str]:
    """The start-up breakdown of ``usage`` (p50, p95 and agents per phase)."""
    rows = breakdown_rows(startup)
    if not rows:
        return ["start-up phases        none seen"]
    table = tables.table(
        ("PHASE", "P50", "P95", "AGENTS"), [(phase, ms(p50), ms(p95), n) for phase, p50, p95, n in rows]
    )
    return ["start-up phases (each: seconds since the phase before)", table]
