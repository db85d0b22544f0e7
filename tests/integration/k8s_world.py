"""A Kubernetes API double with a simulated kubelet, the simulated Jenkins, and a driver on them."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

from autoscaler.config.models import Config
from autoscaler.drivers.kubernetes.driver import KubernetesDriver
from autoscaler.drivers.kubernetes.settings import KubernetesSettings
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import DemandUpdate, DriverSeen
from autoscaler.events import AgentChanged, DemandItem, DemandReport, Event
from autoscaler.jenkins.client import JenkinsClient
from autoscaler.plugin import LaunchSpec, PluginContext
from autoscaler.testing.fakes import FakeClock, InlineExecutor
from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.kubernetes import KubeApi, Kubelet

NS = "ci"


class K8sWorld:
    def __init__(self, **driver: Any) -> None:
        self.sim = SimJenkins().start()
        self.api = KubeApi(pod_quota=driver.pop("pod_quota", None)).start()
        self.kubelet = Kubelet(self.api.store, NS).start()
        self.api.store.create(
            "secrets", NS, {"metadata": {"name": "jenkins-agent"}, "stringData": {"token": self.sim.token}}
        )
        self.config = Config.model_validate(
            {
                "controllers": [{"name": "main", "url": self.sim.url, "user": self.sim.user, "token": self.sim.token}],
                "driver": {"type": "kubernetes"},
                "labels": [
                    {
                        "name": "python",
                        "image": "registry.example.org/ci/swarm-agent:3.47",
                        "cpu": "500m",
                        "memory": "1Gi",
                        "memory-limit": "2Gi",
                        "executors": 2,
                        "node-selector": {"pool": "ci"},
                        "tolerations": [{"key": "ci", "operator": "Exists", "effect": "NoSchedule"}],
                        "env": {"GRADLE_OPTS": "-Xmx1g"},
                    },
                    {"name": "java", "connect": "inbound", "image": "jenkins/inbound-agent:latest-jdk21"},
                    {"name": "broken", "image": "registry.example.org/ci/does-not-exist:1"},
                ],
                "daemon": {"id": "test"},
            }
        )
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.seen: list[AgentChanged] = []
        self.jenkins = JenkinsClient(self.config.default_controller)
        self.context = PluginContext(config=self.config, emit=self.events.put, jenkins={"main": self.jenkins})
        self.settings = KubernetesSettings.model_validate(
            {"type": "kubernetes", "url": self.api.url, "namespace": NS, "watch-timeout": 1, **driver}
        )
        self.driver = KubernetesDriver(self.settings, self.context)

    def spec(self, name: str, label: str) -> LaunchSpec:
        return LaunchSpec(
            name, self.config.label(label), self.config.default_controller, "test", credential=self.sim.token
        )

    def changes(self) -> list[AgentChanged]:
        """Every AgentChanged event the driver emitted so far."""
        while not self.events.empty():
            event = self.events.get()
            if isinstance(event, AgentChanged):
                self.seen.append(event)
        return self.seen

    def close(self) -> None:
        self.driver.close()
        self.kubelet.stop()
        self.api.stop()
        self.sim.stop()


class EngineRun:
    """The engine (fake clock, inline I/O) on a world's driver and Jenkins; the driver's watch
    reports into it, and a first listing adopts what runs."""

    def __init__(self, world: K8sWorld, driver: KubernetesDriver | None = None) -> None:
        self.world = world
        self.clock = FakeClock(time.time())
        self.driver = driver or world.driver
        self.engine = Engine(
            world.config,
            self.driver,
            {"main": world.jenkins},
            InlineExecutor(),
            clock=self.clock,
            credentials={"main": world.sim.token},
        )
        world.context.emit = self.engine.submit  # the driver's watch reports into this engine
        self.engine.step(DriverSeen(self.driver.list()))  # start-up adoption pass

    def demand(self, label: str, count: int = 1) -> None:
        """``count`` builds queued for ``label``, of the job ``<label>-job``."""
        items = tuple(DemandItem(f"main:{label}:{i}", expression=label, what=f"{label}-job") for i in range(count))
        self.engine.submit(DemandUpdate("queue", "main", DemandReport(items, "main"), observed_at=self.clock()))
        self.engine.drain()

    def settle(self, predicate: Callable[[], bool], what: str = "condition", timeout: float = 20) -> None:
        """Let the driver's watch events reach the engine until ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            self.engine.drain()
            if predicate():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.engine.state.agents}")
            time.sleep(0.02)
