"""deploy/'s Roles grant exactly what a recorded run of the daemon asks of the Kubernetes API.

Each overlay's scenarios run the real code (engine and kubernetes driver, through the official
client) against the API double, which records every request as (API group, resource, verb). The
set seen must equal the set the overlay's Roles grant: a verb the code needs and the Role lacks
fails a real cluster; a verb granted and never used is a right nobody needs. A feature that talks
to the API (leader election on leases, say) appends its scenario to ``SCENARIOS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient, Configuration, CoordinationV1Api

from autoscaler.drivers.kubernetes.driver import KubernetesDriver
from autoscaler.drivers.kubernetes.podspec import build_pod
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import DemandUpdate, DriverSeen, Reconcile, Tick
from autoscaler.events import DemandItem, DemandReport
from autoscaler.leader import LeaderElector
from autoscaler.testing.fakes import FakeClock, InlineExecutor
from tests.integration.k8s_world import NS, K8sWorld

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PACKAGE = Path(__file__).resolve().parents[2] / "autoscaler"
Grant = tuple[str, str, str]  # (API group, resource, verb)


class Daemon:
    """The engine on the world's driver, as ``autoscalerd`` runs it (fake clock, inline executor)."""

    def __init__(self, world: K8sWorld, driver: KubernetesDriver) -> None:
        self.clock = FakeClock(time.time())
        self.engine = Engine(
            world.config, driver, {"main": world.jenkins}, InlineExecutor(), clock=self.clock,
            credentials={"main": world.sim.token},
        )  # fmt: skip
        world.context.emit = self.engine.submit
        self.engine.step(DriverSeen(driver.list()))  # start-up: list, adopt, start the watch

    def demand(self, label: str, count: int) -> None:
        items = tuple(DemandItem(f"main:{label}:{i}", expression=label) for i in range(count))
        self.engine.submit(DemandUpdate("queue", "main", DemandReport(items, "main"), observed_at=self.clock()))
        self.engine.drain()

    def settle(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 20
        while True:
            self.engine.drain()
            if predicate():
                return
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)


def agent_lifecycle(label: str) -> Callable[[K8sWorld], None]:
    """Launch, watch, hold, a retried create (409), a restart that adopts, a leak found and removed."""

    def run(world: K8sWorld) -> None:
        daemon = Daemon(world, world.driver)
        daemon.demand(label, 1)
        (name,) = daemon.engine.state.agents
        world.sim.wait_for(lambda: name in world.sim.model.nodes and world.sim.model.nodes[name].connected, 30, name)
        world.driver.mark_hold(name, "debugging", None)
        retried = build_pod("ci-retried-rbac", world.config.label(label), world.config.default_controller, "test",
                            world.settings, 0)  # fmt: skip
        world.api.store.create("pods", NS, retried)  # an earlier attempt of this launch got through:
        world.driver.launch(world.spec("ci-retried-rbac", label))  # 409, then read back
        restarted = KubernetesDriver(world.settings, world.context)
        try:
            again = Daemon(world, restarted)
            assert name in again.engine.state.agents  # adopted
            pod = build_pod("ci-leaked-rbac", world.config.label(label), world.config.default_controller, "test",
                            world.settings, 0)  # fmt: skip
            world.api.store.create("pods", NS, pod)
            again.settle(lambda: "ci-leaked-rbac" in {h.name for h in restarted.list()}, "the watch to see it")
            for _ in range(2):  # seen twice: adopted as a leak
                again.engine.submit(Reconcile())
                again.engine.drain()
            again.clock.advance(world.config.limits.boot_timeout + 1)
            again.engine.submit(Tick())
            again.settle(lambda: "ci-leaked-rbac" not in world.api.pods(NS), "the leak deleted")
        finally:
            restarted.close()

    return run


def leader_election(world: K8sWorld) -> None:
    """Two replicas: the first creates the Lease and renews it, the second stands by, the first
    hands it back on a clean stop and the second takes it."""
    cfg = Configuration()
    cfg.host = world.api.url
    api = CoordinationV1Api(ApiClient(cfg))
    settings = world.config.daemon.leader_election.model_copy(update={"enabled": True})
    clock = FakeClock()

    def replica(identity: str) -> LeaderElector:
        lease = settings.lease_name or f"{world.config.daemon.id}-leader"
        return LeaderElector(api, settings, name=lease, namespace=NS, identity=identity, clock=clock)

    first, second = replica("autoscaler-0"), replica("autoscaler-1")
    try:
        assert first.try_once() and not second.try_once()
        clock.advance(settings.retry_period)
        assert first.try_once()  # renewed
        first.release()
        assert second.try_once()
    finally:
        api.api_client.close()


SCENARIOS: dict[str, list[Callable[[K8sWorld], None]]] = {
    "swarm": [agent_lifecycle("python"), leader_election],
    "inbound": [agent_lifecycle("java"), leader_election],
}
"""Per overlay, everything the daemon does to the API in that deployment."""


def resources(kustomization_dir: Path) -> Iterator[dict[str, Any]]:
    """The objects a kustomization lists under ``resources`` (directories followed)."""
    kustomization = yaml.safe_load((kustomization_dir / "kustomization.yaml").read_text())
    for entry in kustomization.get("resources", []):
        path = kustomization_dir / entry
        if path.is_dir():
            yield from resources(path)
        else:
            yield from (doc for doc in yaml.safe_load_all(path.read_text()) if doc)


def granted(overlay: str) -> set[Grant]:
    out: set[Grant] = set()
    for doc in resources(DEPLOY / "overlays" / overlay):
        assert doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"), "no cluster-wide rights"
        for rule in doc.get("rules", []) if doc["kind"] == "Role" else []:
            for part in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[part], rule
            out |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return out


@pytest.mark.parametrize("overlay", sorted(SCENARIOS))
def test_the_role_grants_exactly_what_a_recorded_run_asks(overlay: str) -> None:
    world = K8sWorld()
    try:
        for scenario in SCENARIOS[overlay]:
            scenario(world)
        assert all(r.namespace == NS for r in world.api.requests)  # nothing outside the namespace
        needed = {(r.group, r.resource, r.verb) for r in world.api.requests}
    finally:
        world.close()
    role = granted(overlay)
    assert needed == role, f"used but not granted: {needed - role}; granted but unused: {role - needed}"


def test_every_granted_verb_names_the_call_that_needs_it() -> None:
    """Each verb line carries a comment naming an ``<api>.<method>`` call the daemon really makes."""
    code = "".join(p.read_text() for p in PACKAGE.rglob("*.py") if "testing" not in p.parts)
    files = [DEPLOY / "base" / "rbac.yaml", *sorted((DEPLOY / "overlays").glob("*/*rbac*.yaml"))]
    verbs = 0
    for path in files:
        in_verbs = False
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("verbs:"):
                assert stripped == "verbs:", f"{path.name}: one verb per line, with its comment: {line!r}"
                in_verbs = True
            elif in_verbs and stripped.startswith("- "):
                _verb, _, comment = stripped[2:].partition("#")
                call = comment.split()[0].rstrip(":") if comment.split() else ""
                api, _, method = call.partition(".")
                assert api and method and f".{method}" in code, (path.name, line)
                verbs += 1
            else:
                in_verbs = False
    assert verbs == len(granted("swarm") | granted("inbound"))  # every verb of every overlay was looked at
