"""The jenkins-queue listener runs the plugin contract kit (against the simulated Jenkins)."""

from __future__ import annotations

from typing import Any

from autoscaler.config.models import Config
from autoscaler.testing.contract import DemandListenerContract
from autoscaler.testing.jenkins import SimJenkins


class TestJenkinsQueueContract(DemandListenerContract):
    entry_point = "jenkins-queue"

    def setup_method(self) -> None:
        self.sim = SimJenkins().start()
        self.sim.add_job("unit", label="python")

    def teardown_method(self) -> None:
        self.sim.stop()

    def config(self) -> Config:
        return Config.model_validate(
            {
                "controllers": [{"name": "main", "url": self.sim.url, "user": self.sim.user, "token": self.sim.token}],
                "labels": [{"name": "python"}],
            }
        )

    def settings(self) -> dict[str, Any]:
        return {"type": "jenkins-queue", "interval": "5s", "label-source": "placeholders"}

    def garbage(self) -> list[Any]:
        return [None, 5, "x", {"no": "id"}, {"id": 1, "why": 7}, {"id": 2, "why": None, "task": "nope"}]

    def feed(self, plugin: Any, item: Any) -> None:
        plugin.read_items([item])

    def exercise(self, plugin: Any) -> None:
        self.sim.trigger("unit")
