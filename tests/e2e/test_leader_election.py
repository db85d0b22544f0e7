"""Two replicas of the daemon with leader election on, as subprocesses against the Kubernetes API
double (a kubelet running pods) and the simulated Jenkins: the standby acts on nothing while the
leader lives; when the leader is SIGKILLed the standby takes the Lease once it expires, adopts the
running pods and finishes the work: no pod created twice, none deleted while its build ran."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.kubernetes import KubeApi, Kubelet
from tests.e2e.harness import Daemon, free_port, sim_config, write

pytestmark = pytest.mark.e2e
NS = "ci-agents"
ELECTION = {"enabled": True, "lease-duration": "2s", "renew-deadline": "1.5s", "retry-period": "0.25s"}


@pytest.fixture
def cluster() -> Iterator[tuple[SimJenkins, KubeApi]]:
    with SimJenkins() as sim, KubeApi() as api:
        kubelet = Kubelet(api.store, NS).start()
        sim.add_job("build", kind="pipeline", label="java", duration=4.0)
        yield sim, api
        kubelet.stop()


def replica_config(sim: SimJenkins, api: KubeApi, tmp: Path, name: str) -> Path:
    config: dict[str, Any] = sim_config(sim, tmp)
    config["driver"] = {"type": "kubernetes", "url": api.url, "namespace": NS}
    config["labels"] = [{"name": "java", "connect": "inbound", "image": "jenkins/inbound-agent:latest", "max": 3}]
    config["api"] = {"listen": f"127.0.0.1:{free_port()}"}
    config["daemon"]["leader-election"] = ELECTION
    config["daemon"]["id"] = "e2e-ha"  # its own: other test sessions on this host clean up "e2e" agents
    return write(tmp / f"{name}.yaml", config)


def holder(api: KubeApi) -> str:
    with api.store.lock:
        lease = api.store.objects.get(("leases", NS, "e2e-ha-leader"))
        return str((lease or {}).get("spec", {}).get("holderIdentity") or "")


def test_the_standby_takes_over_a_killed_leader_without_duplicates(
    cluster: tuple[SimJenkins, KubeApi], tmp_path: Path
) -> None:
    sim, api = cluster
    first = Daemon(replica_config(sim, api, tmp_path, "first"), tmp_path / "first.log").start()
    assert first.proc is not None
    pid = first.proc.pid
    api.wait_for(lambda: holder(api).endswith(f"_{pid}"), 10, "the first replica to lead")
    second = Daemon(replica_config(sim, api, tmp_path, "second"), tmp_path / "second.log").start()
    try:
        sim.trigger("build")
        sim.trigger("build")
        sim.wait_for(lambda: sum(len(n.running) for n in sim.model.nodes.values()) == 2, 30, "2 busy agents")
        pods = set(api.pods(NS))
        assert len(pods) == 2 and second.cli("agents") == []  # the standby holds and launches nothing
        assert {a["name"] for a in first.cli("agents")} == pods

        first.stop(signal.SIGKILL)
        killed = time.monotonic()
        second.wait(lambda: " leads (lease " in second.log(), 15, "the standby to take the lease")
        failover = time.monotonic() - killed
        print(f"failover after SIGKILL of the leader: {failover:.2f}s")
        assert failover < 2 + 0.25 + 3  # lease-duration + one retry + a loaded machine's slack

        def adopted() -> set[str]:
            return {e["agent"] for e in second.cli("events") if e["kind"] == "adopted"}

        second.wait(lambda: adopted() == pods, 15, "the new leader to adopt both pods")

        sim.wait_for(lambda: sim.model.builds_done() == 2, 30, "the builds")
        api.wait_for(lambda: not api.pods(NS), 30, "every pod deleted")
        assert sim.model.builds_done("ABORTED") == 0  # no agent killed under its build
        assert len([b for b in api.created if b.get("kind") == "Pod"]) == 2  # no pod launched twice
        assert "stopped leading" not in second.log()
    finally:
        for d in (first, second):
            if d.proc is not None and d.proc.poll() is None:
                d.stop()
