"""The gearman listener runs the plugin contract kit."""

from __future__ import annotations

from typing import Any

import gear

from autoscaler.testing.contract import DemandListenerContract


class TestGearmanContract(DemandListenerContract):
    entry_point = "gearman"

    def setup_method(self) -> None:
        self.server = gear.Server(port=0)

    def teardown_method(self) -> None:
        self.server.shutdown()

    def settings(self) -> dict[str, Any]:
        return {"type": "gearman", "servers": [f"127.0.0.1:{self.server.port}"], "timeout": "2s"}
