"""The daemon as a subprocess with the kubernetes driver, against the API double with a simulated
kubelet and the simulated Jenkins: pods for both connect modes, builds run, pods deleted after."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.kubernetes import KubeApi, Kubelet
from tests.e2e.harness import Daemon, sim_config, write

pytestmark = pytest.mark.e2e
NS = "ci-agents"


@pytest.fixture
def cluster() -> Iterator[tuple[SimJenkins, KubeApi]]:
    with SimJenkins(agent_users={"agent": "agent-s3cret"}) as sim, KubeApi() as api:
        kubelet = Kubelet(api.store, NS).start()
        agent_token = {"token": "agent-s3cret"}  # the agent user's (sim_config's agent-user), never the daemon's
        api.store.create("secrets", NS, {"metadata": {"name": "jenkins-agent"}, "stringData": agent_token})
        sim.add_job("unit", label="python", duration=1.0)
        sim.add_job("pipe", kind="pipeline", label="python", duration=1.0)
        sim.add_job("build", kind="pipeline", label="java", duration=1.0)
        yield sim, api
        kubelet.stop()


def test_pods_run_builds_and_are_deleted(cluster: tuple[SimJenkins, KubeApi], tmp_path: Path) -> None:
    sim, api = cluster
    config = sim_config(sim, tmp_path)
    config["driver"] = {"type": "kubernetes", "url": api.url, "namespace": NS, "credentials-secret": "jenkins-agent"}
    config["labels"] = [
        {
            "name": "python",
            "image": "registry.example.org/ci/swarm-agent:3.47",
            "cpu": "500m",
            "memory": "1Gi",
            "max": 3,
            "idle-timeout": "3s",
        },
        {"name": "java", "connect": "inbound", "image": "jenkins/inbound-agent:latest", "max": 2, "idle-timeout": "3s"},
    ]
    daemon = Daemon(write(tmp_path / "config.yaml", config), tmp_path / "daemon.log").start()
    try:
        for job in ("unit", "pipe", "build"):
            sim.trigger(job)
        sim.wait_for(lambda: sim.model.builds_done() == 3, 90, "the builds")
        daemon.wait(lambda: daemon.cli("agents") == [], 60, "every agent retired")
        api.wait_for(lambda: not api.pods(NS), 30, "every pod deleted")
        pods = [b for b in api.created if b["kind"] == "Pod"]
        assert len(pods) == 3 and api.store.calls["DELETE pods"] == 3
        modes = {p["metadata"]["annotations"]["autoscaler.jenkins.io/label"]: p for p in pods}
        python = modes["python"]["spec"]["containers"][0]
        assert python["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
        assert "-disableClientsUniqueId" in python["args"]
        java_env = {e["name"]: e for e in modes["java"]["spec"]["containers"][0]["env"]}
        assert "secretKeyRef" in java_env["JENKINS_SECRET"]["valueFrom"]
        assert sim.token not in json.dumps(pods)
        assert [k for (k, _, _) in api.store.objects] == ["secrets"]  # per-agent secrets collected
        assert api.store.calls["GET pods"] <= 2  # the start-up list (and no per-pod polling)
        assert not [n for n in sim.model.nodes if not n.endswith("placeholder")]
        assert daemon.stop() == 0
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()


def test_config_validate_accepts_a_kubestack_config(tmp_path: Path) -> None:
    kubestack = tmp_path / "kubestack.yaml"
    kubestack.write_text(
        "demand-listeners:\n  - {name: queue, type: jenkins_queue}\n"
        "destroy-listeners:\n  - {name: zmq, type: zmq, host: 127.0.0.1, port: 8888}\n"
        "jenkins: {url: 'http://127.0.0.1:8080', user: jenkins, pass: jenkins}\n"
        "kubernetes: {url: 'http://127.0.0.1:8081', api_key: key}\n"
        "image: example/swarm-agent:latest\n"
        "labels:\n  - {name: python, cpu: 500m, memory: 512Mi}\n"
    )
    from tests.e2e.harness import BIN

    run = subprocess.run(
        [str(BIN / "autoscaler"), "config", "validate", "-c", str(kubestack)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "KubeStack format" in run.stdout
    warnings = run.stderr.splitlines()
    assert len(warnings) == 4
    assert "jenkins.pass: inline Jenkins password" in warnings[0]
    assert "kubernetes.api_key: inline Kubernetes API key" in warnings[1]
    assert "swarm label(s) python have no agent credential" in warnings[2]  # KubeStack had no agent user
    assert "cannot be seen from zero agents" in warnings[3]
