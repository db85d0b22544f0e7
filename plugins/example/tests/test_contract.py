"""The worked example runs the contract kit, as a third-party plugin would."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from autoscaler.testing.contract import DemandListenerContract

DEMAND = Path(tempfile.mkdtemp(prefix="file-demand-")) / "demand.json"


class TestFileDemandContract(DemandListenerContract):
    entry_point = "file-demand"

    def settings(self) -> dict[str, Any]:
        return {"type": "file-demand", "path": str(DEMAND), "interval": "30s"}

    def garbage(self) -> list[Any]:
        return ['{"python": "three"}', "[1, 2]", '{"python": -4}', "{not json"]

    def feed(self, plugin: Any, item: Any) -> None:
        DEMAND.write_text(item)
        try:
            plugin.poll()
        except Exception as exc:  # DemandUnknown is the only acceptable failure
            assert type(exc).__name__ == "DemandUnknown", exc

    def exercise(self, plugin: Any) -> None:
        DEMAND.write_text(json.dumps({"python": 2, "linux&&docker": 1}))
