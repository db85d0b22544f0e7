"""Leader election through a Lease on the Kubernetes API double (real HTTP, the official client),
on a fake clock: one leader at a time, failover when the leader stops renewing, a leader whose
renewals fail stops acting before its lease can expire, and no agent launched twice or killed in
a failover."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration, CoordinationV1Api, V1Lease, V1LeaseSpec, V1ObjectMeta
from kubernetes.client.exceptions import ApiException
from prometheus_client import CollectorRegistry

from autoscaler.config.models import Config, LeaderElectionConfig
from autoscaler.engine.core import Engine
from autoscaler.engine.fence import Fence, NotLeader
from autoscaler.engine.messages import Command, DemandUpdate, Tick
from autoscaler.events import DemandItem, DemandReport
from autoscaler.leader import LeaderElector, elector_for
from autoscaler.testing.fakes import FakeClock, FakeController, FakeDriver, InlineExecutor
from autoscaler.testing.kubernetes import KubeApi

NS = "ci"
SETTINGS = LeaderElectionConfig.model_validate({"enabled": True})  # 15 s lease, 10 s renew deadline, 2 s retries


@pytest.fixture
def api() -> Iterator[KubeApi]:
    with KubeApi() as double:
        yield double


def coordination(api: KubeApi) -> CoordinationV1Api:
    cfg = Configuration()
    cfg.host = api.url
    return CoordinationV1Api(ApiClient(cfg))


def elector(api: KubeApi, who: str, clock: FakeClock, **kw: Any) -> LeaderElector:
    return LeaderElector(
        kw.pop("client", None) or coordination(api),
        SETTINGS,
        name="e2e-leader",
        namespace=NS,
        identity=who,
        clock=clock,
        **kw,
    )


def holder(api: KubeApi) -> str | None:
    value = api.store.get("leases", NS, "e2e-leader")["spec"].get("holderIdentity")
    return None if value is None else str(value)


def test_the_double_refuses_a_stale_write_with_409(api: KubeApi) -> None:
    client = coordination(api)
    lease = V1Lease(metadata=V1ObjectMeta(name="l"), spec=V1LeaseSpec(holder_identity="a"))
    created = client.create_namespaced_lease(NS, lease)
    with pytest.raises(ApiException) as exists:
        client.create_namespaced_lease(NS, lease)
    assert exists.value.status == 409
    assert created.metadata is not None and created.spec is not None
    created.spec.holder_identity = "b"
    client.replace_namespaced_lease("l", NS, created)  # the version read: accepted
    created.spec.holder_identity = "c"
    with pytest.raises(ApiException) as stale:
        client.replace_namespaced_lease("l", NS, created)  # the same version again: modified since
    assert stale.value.status == 409 and "the object has been modified" in str(stale.value.body)
    with pytest.raises(ApiException) as stale_patch:
        client.patch_namespaced_lease("l", NS, {"metadata": {"resourceVersion": created.metadata.resource_version}})
    assert stale_patch.value.status == 409
    read = client.read_namespaced_lease("l", NS)
    assert read.spec is not None and read.spec.holder_identity == "b"
    assert read.kind == "Lease" and read.api_version == "coordination.k8s.io/v1"
    with pytest.raises(ApiException) as missing:
        client.read_namespaced_lease("none", NS)
    assert missing.value.status == 404
    assert ("coordination.k8s.io", "leases", "update") in {(r.group, r.resource, r.verb) for r in api.requests}


def test_one_leader_while_it_renews(api: KubeApi) -> None:
    clock = FakeClock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert a.try_once() and a.leading()
    for _ in range(20):  # 40 s: far past a lease duration, but renewed every 2 s
        clock.advance(SETTINGS.retry_period)
        assert a.try_once() and not b.try_once()
        assert a.leading() and not b.leading()
    assert holder(api) == "a"


def test_failover_when_the_leader_stops_renewing(api: KubeApi) -> None:
    clock = FakeClock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert a.try_once() and not b.try_once()
    last_renewal = clock()
    stopped_at = took_over_at = None
    while took_over_at is None:  # a is gone (its process paused or its node lost); b keeps trying
        clock.advance(SETTINGS.retry_period)
        if stopped_at is None and not a.leading():
            stopped_at = clock() - last_renewal
        if b.try_once():
            took_over_at = clock() - last_renewal
        assert not (a.leading() and b.leading())
    assert stopped_at is not None and stopped_at <= SETTINGS.renew_deadline < took_over_at
    assert SETTINGS.lease_duration <= took_over_at <= SETTINGS.lease_duration + SETTINGS.retry_period
    assert holder(api) == "b" and api.store.get("leases", NS, "e2e-leader")["spec"]["leaseTransitions"] == 1
    print(f"failover: {took_over_at:.0f}s after the last renewal (the old leader stopped after {stopped_at:.0f}s)")
    assert not a.try_once() and not a.leading()  # back, it finds b holding the lease


def test_a_leader_whose_renewals_fail_stops_acting_before_its_lease_expires(api: KubeApi) -> None:
    clock = FakeClock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert a.try_once() and not b.try_once()
    renewed = clock()
    api.faults.fail("PUT", "/apis/coordination.k8s.io/v1/namespaces/ci/leases/e2e-leader", 500)
    for _ in range(4):  # 8 s of failed renewals: still within the renew deadline, it acts
        clock.advance(SETTINGS.retry_period)
        assert not a.try_once() and a.leading()
        assert not b.try_once()
    clock.advance(SETTINGS.renew_deadline - 8)
    assert not a.leading()  # fenced at the deadline, whatever its loop does
    assert clock() - renewed < SETTINGS.lease_duration and holder(api) == "a"  # the lease is still a's
    api.faults.clear()
    while not b.try_once():
        clock.advance(SETTINGS.retry_period)
        assert not a.leading()
    assert clock() - renewed >= SETTINGS.lease_duration


def test_a_race_for_an_expired_lease_has_one_winner(api: KubeApi) -> None:
    clock = FakeClock()
    gone = elector(api, "gone", clock)
    assert gone.try_once()
    a = elector(api, "a", clock)

    class Racing(CoordinationV1Api):
        """b reads the Lease, then a writes it before b's write arrives."""

        def read_namespaced_lease(self, *args: Any, **kwargs: Any) -> Any:
            lease = super().read_namespaced_lease(*args, **kwargs)
            if clock() >= 1_700_000_016:
                a.try_once()
            return lease

    b = elector(api, "b", clock, client=Racing(coordination(api).api_client))
    assert not a.try_once() and not b.try_once()  # both see "gone" hold it
    clock.advance(16)
    assert not b.try_once()  # its write carries the version it read: 409
    assert a.leading() and not b.leading() and holder(api) == "a"


def test_release_hands_over_at_once(api: KubeApi) -> None:
    clock = FakeClock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert a.try_once() and not b.try_once()
    a.release()
    assert not a.leading()
    assert b.try_once() and holder(api) == "b"


class Replica:
    """An engine behind an elector, sharing the driver and Jenkins with the other replica."""

    def __init__(self, api: KubeApi, who: str, clock: FakeClock, driver: FakeDriver, jenkins: FakeController) -> None:
        config = Config.model_validate(
            {
                "controllers": [{"name": "main", "url": "http://j/", "user": "u", "token": "t0ken"}],
                "labels": [{"name": "python", "max": 10}],
                "limits": {"launches-per-second": 100},
            }
        )
        self.elector = elector(api, who, clock)
        self.engine = Engine(
            config, driver, {"main": jenkins}, InlineExecutor(), clock=clock, fence=Fence(self.elector.leading)
        )

    def send(self, message: Any) -> None:
        self.engine.submit(message)
        self.engine.drain()


def queue(*keys: int) -> DemandUpdate:
    items = tuple(DemandItem(f"main:{k}", expression="python") for k in keys)
    return DemandUpdate("queue", "main", DemandReport(items, "main"))


def test_no_agent_is_launched_twice_or_killed_in_a_failover(api: KubeApi) -> None:
    clock = FakeClock()
    driver, jenkins = FakeDriver(clock), FakeController()
    a, b = Replica(api, "a", clock, driver, jenkins), Replica(api, "b", clock, driver, jenkins)
    assert a.elector.try_once() and not b.elector.try_once()
    for replica in (a, b):
        replica.send(queue(1, 2, 3))
    assert len(driver.launched) == 3  # the leader's launches; the standby's demand is warm, it acts on none
    assert b.engine.state.agents == {} and b.engine.state.demand.per_label() == {"python": 3}
    delete = Command("delete", {"name": driver.launched[0].name})
    b.send(delete)
    with pytest.raises(NotLeader):
        delete.reply.result(timeout=1)

    while not b.elector.try_once():  # a stops renewing
        clock.advance(SETTINGS.retry_period)
        a.send(Tick())
        assert not a.elector.leading() or not b.elector.leading()
    a.send(queue(1, 2, 3, 4))  # fenced: a launches nothing more
    assert len(driver.launched) == 3
    b.send(queue(1, 2, 3, 4))  # takes over: adopts a's three agents first, then launches the one more
    assert sorted(b.engine.state.agents) == sorted(spec.name for spec in driver.launched)
    assert len(driver.launched) == 4 and driver.deleted == []
    b.send(Tick())
    assert len(driver.launched) == 4 and driver.deleted == []


def leader_gauge(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("autoscaler_leader")


def test_autoscaler_leader_is_exported_and_follows_the_lease(api: KubeApi) -> None:
    base = {
        "controllers": [{"name": "main", "url": "http://j/", "user": "u", "token": "t0ken"}],
        "labels": [{"name": "python"}],
    }
    alone = Engine(Config.model_validate(base), FakeDriver(), {}, InlineExecutor())
    registry = CollectorRegistry()
    assert elector_for(alone.config, FakeDriver(), alone, registry) is None
    assert leader_gauge(registry) == 1.0  # without leader election the daemon always leads

    config = Config.model_validate({**base, "daemon": {"leader-election": {"enabled": True}}})
    with pytest.raises(ValueError, match="needs the kubernetes driver"):
        elector_for(config, FakeDriver(), Engine(config, FakeDriver(), {}, InlineExecutor()), CollectorRegistry())

    class KubernetesLike(FakeDriver):
        def __init__(self) -> None:
            super().__init__()
            self.api_client = coordination(api).api_client
            self.namespace = NS

    engine = Engine(config, FakeDriver(), {}, InlineExecutor())
    registry = CollectorRegistry()
    chosen = elector_for(config, KubernetesLike(), engine, registry)
    assert chosen is not None and (chosen.name, chosen.namespace) == ("autoscaler-leader", NS)
    assert leader_gauge(registry) == 0.0
    assert chosen.try_once()
    assert leader_gauge(registry) == 1.0 and engine.fence.leading()
    chosen.release()
    assert leader_gauge(registry) == 0.0


def test_the_api_answers_a_change_refused_by_a_standby_with_503() -> None:
    """Not a bad request (400): the same request succeeds on the leader, or here after a failover."""
    from autoscaler.api.server import status_of
    from autoscaler.engine.fence import NotLeader

    assert status_of(NotLeader("standby: this replica does not lead; hold refused")) == 503
