"""Counters plugins bump through ``context.count``; the API renders them as metrics."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class PluginCounters:
    """Thread-safe counters, one per (plugin, reason)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()

    def counter(self, plugin: str) -> Callable[[str], None]:
        """The ``count`` function for one plugin's context."""

        def count(reason: str) -> None:
            with self._lock:
                self.counts[(plugin, reason)] += 1

        return count

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self.counts)
