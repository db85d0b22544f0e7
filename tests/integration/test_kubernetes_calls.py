"""What one agent costs the Kubernetes API: one create and one delete, whatever the number of
reconciles, over one watch and one list, with leader election renewing its Lease beside them
(the API double counts every request, over real HTTP through the official client)."""

from __future__ import annotations

from kubernetes.client import CoordinationV1Api

from autoscaler.config.models import Config, LeaderElectionConfig
from autoscaler.drivers.kubernetes.driver import KubernetesDriver
from autoscaler.drivers.kubernetes.settings import KubernetesSettings
from autoscaler.leader import LeaderElector
from autoscaler.plugin import LaunchSpec, PluginContext
from autoscaler.testing.kubernetes import KubeApi


def test_two_pod_calls_per_agent_plus_one_watch_with_leader_election_on() -> None:
    config = Config.model_validate(
        {"controllers": [{"url": "http://j/"}], "labels": [{"name": "python", "image": "no-such-image:1"}]}
    )
    with KubeApi() as api:
        driver = KubernetesDriver(
            KubernetesSettings(type="kubernetes", url=api.url, namespace="ci", qps=1000, burst=1000),
            PluginContext(config=config, emit=lambda e: None),
        )
        elector = LeaderElector(
            CoordinationV1Api(driver.api_client),
            LeaderElectionConfig(enabled=True),
            name="autoscaler-leader",
            namespace="ci",
            identity="only",
        )
        try:
            assert elector.try_once()
            driver.list()
            for i in range(20):
                driver.launch(LaunchSpec(f"ci-python-{i:06d}", config.labels[0], config.controllers[0], "autoscaler"))
            for _ in range(10):
                assert len(driver.list()) == 20  # a reconcile reads the watch's cache
                assert elector.try_once()
            for i in range(20):
                driver.delete(f"ci-python-{i:06d}", grace=0)
        finally:
            driver.close()
        calls = dict(api.store.calls)
    pods = {k: v for k, v in calls.items() if k.endswith(" pods")}
    assert pods == {"POST pods": 20, "DELETE pods": 20, "GET pods": 1, "WATCH pods": 1}
    assert {k for k in calls if k not in pods} <= {"GET leases", "PUT leases", "POST leases"}
