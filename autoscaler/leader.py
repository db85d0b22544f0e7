"""Leader election among replicas through a ``coordination.k8s.io/v1`` Lease (as kube controllers,
ARC and KEDA do), with the official client's ``CoordinationV1Api``.

Every ``retry-period`` each replica reads the Lease. The holder renews it (a replace carrying the
version read: a concurrent write makes it fail with 409). Another replica takes it only once it
has seen the same record unchanged for ``lease-duration`` on its own clock (no trust in other
clocks), or at once when the holder released it.

Fencing: :meth:`LeaderElector.leading` is true only until ``renew-deadline`` after the start of the
last successful renewal. A replica that takes over has seen that renewal's record (or a later
one) unchanged for ``lease-duration`` > ``renew-deadline``, so the old leader has stopped acting
before anyone else starts. A read that shows another holder stops it at once. The engine asks
``leading()`` before each plan and each message it handles (see :mod:`autoscaler.engine.fence`).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from kubernetes.client import CoordinationV1Api, V1Lease, V1LeaseSpec, V1ObjectMeta
from kubernetes.client.exceptions import ApiException
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from autoscaler.config.models import Config, LeaderElectionConfig
from autoscaler.engine.core import Engine
from autoscaler.engine.fence import Fence
from autoscaler.engine.messages import Tick

log = logging.getLogger(__name__)

Record = tuple[str | None, object, int | None, str | None]
"""What identifies one write of the Lease: holder, renew time, transitions, resource version."""


def identity() -> str:
    """This replica's name in the Lease: the pod's name (its hostname in a cluster) and the pid."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{os.getpid()}"


class LeaderElector:
    def __init__(
        self,
        api: CoordinationV1Api,
        settings: LeaderElectionConfig,
        *,
        name: str,
        namespace: str,
        identity: str,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        request_timeout: float = 5.0,
        on_change: Callable[[bool], None] = lambda leading: None,
    ) -> None:
        self.api = api
        self.settings = settings
        self.name, self.namespace, self.identity = name, namespace, identity
        self.clock, self.wall = clock, wall
        self.request_timeout = min(request_timeout, settings.renew_deadline / 2)
        self.on_change = on_change
        self._until = -math.inf
        """Acting is allowed until this time on ``clock`` (the fencing deadline)."""
        self._observed: Record | None = None
        self._observed_at = 0.0
        self._was_leading = False
        self.transitions = 0
        """Times this replica became the leader."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def leading(self) -> bool:
        """Whether this replica may act now (thread-safe: one read of a float)."""
        return self.clock() < self._until

    def try_once(self) -> bool:
        """One attempt to take or renew the Lease; whether this replica holds it now."""
        start = self.clock()
        try:
            held = self._acquire_or_renew(start)
        except ApiException as exc:  # 409: someone wrote in between; the next read tells who
            log.warning("leader election: %s lease %s: %s %s", self.namespace, self.name, exc.status, exc.reason)
            held = None
        except Exception as exc:  # the API unreachable: keep acting until the deadline, no longer
            log.warning("leader election: cannot reach lease %s: %s: %s", self.name, type(exc).__name__, exc)
            held = None
        if held:
            self._until = start + self.settings.renew_deadline
        elif held is False:
            self._until = -math.inf  # another replica holds it: stop at once
        self._notify()
        return bool(held)

    def _acquire_or_renew(self, now: float) -> bool:
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self.request_timeout)
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.api.create_namespaced_lease(self.namespace, self._new_lease(), _request_timeout=self.request_timeout)
            log.info("leader election: created lease %s/%s, holding it", self.namespace, self.name)
            return True
        spec: V1LeaseSpec = lease.spec or V1LeaseSpec()
        version = lease.metadata.resource_version if lease.metadata is not None else None
        record: Record = (spec.holder_identity, spec.renew_time, spec.lease_transitions, version)
        if record != self._observed:
            self._observed, self._observed_at = record, now
        duration = spec.lease_duration_seconds or self.settings.lease_duration
        holder = spec.holder_identity
        if holder and holder != self.identity and now < self._observed_at + duration:
            return False  # another replica's, and not seen unchanged long enough to be expired
        wall = self.wall()
        if holder != self.identity:
            spec.acquire_time = wall
            spec.lease_transitions = (spec.lease_transitions or 0) + (1 if holder else 0)
        spec.holder_identity = self.identity
        spec.lease_duration_seconds = math.ceil(self.settings.lease_duration)
        spec.renew_time = wall
        lease.spec = spec
        self.api.replace_namespaced_lease(self.name, self.namespace, lease, _request_timeout=self.request_timeout)
        return True

    def _new_lease(self) -> V1Lease:
        wall = self.wall()
        spec = V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=math.ceil(self.settings.lease_duration),
            acquire_time=wall,
            renew_time=wall,
            lease_transitions=0,
        )
        return V1Lease(metadata=V1ObjectMeta(name=self.name, namespace=self.namespace), spec=spec)

    def _notify(self) -> None:
        leading = self.leading()
        if leading == self._was_leading:
            return
        self._was_leading = leading
        if leading:
            self.transitions += 1
            log.warning("leader election: %s leads (lease %s/%s)", self.identity, self.namespace, self.name)
        else:
            log.warning("leader election: %s stopped leading (lease %s/%s)", self.identity, self.namespace, self.name)
        self.on_change(leading)

    def release(self) -> None:
        """Stop acting, then hand the Lease back (a clean stop: a standby takes it at once)."""
        held = self.leading()
        self._until = -math.inf
        self._notify()
        if not held:
            return
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace, _request_timeout=self.request_timeout)
            if lease.spec is not None and lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = None
                lease.spec.lease_duration_seconds = 1
                lease.spec.renew_time = self.wall()
                self.api.replace_namespaced_lease(
                    self.name, self.namespace, lease, _request_timeout=self.request_timeout
                )
                log.info("leader election: released lease %s/%s", self.namespace, self.name)
        except Exception as exc:  # it expires by itself
            log.warning("leader election: could not release lease %s: %s", self.name, exc)

    def run(self, stop: threading.Event) -> None:
        """Try every ``retry-period`` until ``stop`` (then release); for a thread of its own."""
        while not stop.is_set():
            self.try_once()
            stop.wait(self.settings.retry_period)
        self.release()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name="leader-election", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop trying, stop acting and release the Lease (a standby takes it at its next try)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)


def elector_for(config: Config, driver: object, engine: Engine, registry: CollectorRegistry) -> LeaderElector | None:
    """Put ``engine`` behind an elector when ``daemon.leader-election`` is on (the Lease is reached
    through the kubernetes driver's API client); export ``autoscaler_leader`` either way."""
    settings = config.daemon.leader_election
    elector: LeaderElector | None = None
    if settings.enabled:
        client = getattr(driver, "api_client", None)
        if client is None:
            raise ValueError("daemon.leader-election needs the kubernetes driver (it keeps the Lease in the cluster)")
        elector = LeaderElector(
            CoordinationV1Api(client),
            settings,
            name=settings.lease_name or f"{config.daemon.id}-leader",
            namespace=settings.namespace or str(getattr(driver, "namespace", "default")),
            identity=identity(),
            on_change=lambda leading: engine.submit(Tick()),  # the engine looks at once
        )
        engine.fence = Fence(elector.leading)
    registry.register(LeaderCollector(engine.fence.leading))
    return elector


class LeaderCollector(Collector):
    """``autoscaler_leader``: 1 while this replica leads (always, without leader election)."""

    def __init__(self, leading: Callable[[], bool]) -> None:
        self.leading = leading

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily("autoscaler_leader", "1 while this replica leads (plans, launches and retires).")
        gauge.add_metric([], 1.0 if self.leading() else 0.0)
        yield gauge
