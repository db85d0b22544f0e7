"""The built-in drivers run the plugin contract kit."""

from __future__ import annotations

import tempfile
from typing import Any

from autoscaler.testing.contract import DriverContract
from autoscaler.testing.kubernetes import KubeApi


class TestLocalDriverContract(DriverContract):
    entry_point = "local"

    def settings(self) -> dict[str, Any]:
        return {"type": "local", "work-dir": tempfile.mkdtemp(prefix="contract-local-")}


class TestKubernetesDriverContract(DriverContract):
    entry_point = "kubernetes"

    def setup_method(self) -> None:
        self.api = KubeApi().start()

    def teardown_method(self) -> None:
        self.api.stop()

    def settings(self) -> dict[str, Any]:
        return {"type": "kubernetes", "url": self.api.url, "namespace": "ci"}
