"""Demand read from a JSON file: the worked example of docs/plugins.md (kept identical by a test)."""

import json
from pathlib import Path

from pydantic import Field

from autoscaler import DemandItem, DemandListener, DemandReport, DemandUnknown, Duration, ListenerSettings


class FileDemandSettings(ListenerSettings):
    """Demand per label read from a JSON file (its type name is the entry point's name)."""

    path: str
    """JSON object mapping a label expression to a number of queued builds."""
    interval: Duration = Field(default=10.0, gt=0)
    """Seconds between reads."""


class FileDemandListener(DemandListener):
    settings_model = FileDemandSettings
    settings: FileDemandSettings  # what the core validated the section into

    @property
    def interval(self) -> float:
        return self.settings.interval

    def poll(self) -> DemandReport:
        try:
            wanted = json.loads(Path(self.settings.path).read_text())
        except (OSError, ValueError) as exc:
            # never report zero when you cannot see: the engine keeps the last known demand
            raise DemandUnknown(f"cannot read {self.settings.path}: {exc}") from None
        if not isinstance(wanted, dict):
            raise DemandUnknown(f"{self.settings.path} must hold a JSON object of label: count")
        items = []
        for expression, count in wanted.items():
            if not isinstance(count, int) or count < 0:
                self.context.count("malformed")
                continue
            # a stable key per unit of demand, so a unit is never counted twice
            items += [DemandItem(f"{expression}#{i}", expression=expression) for i in range(count)]
        return DemandReport(tuple(items), self.settings.controller)
