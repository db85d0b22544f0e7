"""The last hour of demand and supply, per label, for the status page's sparkline
(``GET /v1/history``): a ring buffer the daemon feeds with the pools view on a timer."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

SUPPLY_STATES = ("requested", "pending", "booting", "ready", "busy")
"""The agent states counted as supply (launched or running, not retiring or failed)."""


class History:
    """Samples at least ``spacing`` seconds apart over ``window`` seconds (at most
    ``window / spacing`` of them); a sample that comes sooner is merged into the last one
    (the larger demand, the newer supply), so a burst between two samples is not lost."""

    def __init__(self, window: float = 3600.0, spacing: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.spacing = spacing
        self._clock = clock
        self._samples: deque[dict[str, Any]] = deque(maxlen=max(2, int(window / spacing) + 1))
        self._lock = threading.Lock()

    def record(self, pools: Iterable[Mapping[str, Any]]) -> None:
        """Add one sample from the engine's pools view (one row per label)."""
        labels = {
            str(row["label"]): [int(row.get("demand", 0)), sum(int(row.get(s, 0)) for s in SUPPLY_STATES)]
            for row in pools
        }
        now = self._clock()
        with self._lock:
            last = self._samples[-1] if self._samples else None
            if last is not None and now - last["first"] < self.spacing:
                for label, (demand, supply) in labels.items():
                    old = last["labels"].get(label, [0, 0])
                    last["labels"][label] = [max(old[0], demand), supply]
                last["time"] = now
                return
            self._samples.append({"first": now, "time": now, "labels": labels})
            while self._samples and now - self._samples[0]["time"] > self.window:
                self._samples.popleft()

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /v1/history`` returns: per sample its time (epoch seconds), the totals
        and the ``[demand, supply]`` of each label."""
        now = self._clock()
        with self._lock:
            rows = [s for s in self._samples if now - s["time"] <= self.window]
            samples = [
                {
                    "time": round(s["time"], 1),
                    "demand": sum(v[0] for v in s["labels"].values()),
                    "supply": sum(v[1] for v in s["labels"].values()),
                    "labels": {k: list(v) for k, v in s["labels"].items()},
                }
                for s in rows
            ]
        return {"window_seconds": self.window, "spacing_seconds": self.spacing, "samples": samples}
