"""The daemon as a subprocess with the other listeners: Gearman demand from a real gearmand with
Kafka build events (librdkafka's mock cluster), and CloudEvents speeding up the queue poll."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gear
import pytest
import requests
from confluent_kafka import Producer

from autoscaler.testing import gearmand
from autoscaler.testing.gearman_plugin import GearmanPlugin
from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.swarm_agent import command_line
from tests.e2e.harness import Daemon, agent_processes, free_port, sim_config, write

pytestmark = pytest.mark.e2e


@pytest.fixture
def gearman_server() -> Iterator[gearmand.Gearmand]:
    if gearmand.gearmand_path() is None:
        if os.environ.get("CI"):
            pytest.fail("gearmand is missing: .ci/run installs gearman-job-server")
        pytest.skip("gearmand not installed")
    server = gearmand.Gearmand()
    yield server
    server.stop()


def test_gearman_demand_and_kafka_events(gearman_server: gearmand.Gearmand, tmp_path: Path) -> None:
    cluster = Producer({"test.mock.num.brokers": 1, "log_level": 0})
    meta = next(iter(cluster.list_topics(timeout=10).brokers.values()))
    bootstrap = f"{meta.host}:{meta.port}"
    bus = Producer({"bootstrap.servers": bootstrap, "log_level": 0})
    with SimJenkins() as sim:
        # the zmq-event-publisher's events, relayed to Kafka with the topic word as the key
        sim.listeners.append(
            lambda topic, payload: (
                bus.produce("jenkins-builds", key=topic.encode(), value=json.dumps(payload).encode()),
                bus.poll(0),
            )
        )
        plugin = GearmanPlugin(sim, gearman_server.port, {"unit": "python", "image": "docker"}).start()
        config: dict[str, Any] = sim_config(sim, tmp_path)
        config["demand-listeners"] = [
            {"name": "zuul", "type": "gearman", "interval": "0.5s", "servers": [f"127.0.0.1:{gearman_server.port}"]}
        ]
        config["destroy-listeners"] = [
            {
                "name": "bus",
                "type": "kafka",
                "bootstrap-servers": bootstrap,
                "topics": "jenkins-builds",
                "group-id": "autoscaler-e2e",
                "client-config": {"log_level": 0},
            }
        ]
        daemon = Daemon(write(tmp_path / "config.yaml", config), tmp_path / "daemon.log").start()
        client = gear.Client()
        client.addServer("127.0.0.1", gearman_server.port)
        client.waitForServer(10)
        jobs = [
            gear.Job(f"build:{name}:{label}".encode(), b"")
            for name, label in [("unit", "python")] * 4 + [("image", "docker")] * 2
        ]
        try:
            for job in jobs:
                client.submitJob(job, timeout=10)
            daemon.wait(lambda: all(job.complete for job in jobs), 120, "every gearman job")
            assert all(not job.failure for job in jobs)
            daemon.wait(lambda: daemon.cli("agents") == [], 60, "every agent retired")
            assert sim.model.builds_done() == 6 and sim.model.builds_done("ABORTED") == 0
            pools = {p["label"]: p for p in daemon.cli("pools")}
            assert pools["python"]["retired_total"] >= 4 and pools["docker"]["retired_total"] >= 2
            assert agent_processes("e2e") == []  # nothing leaked
            assert "kafka listener bus consuming jenkins-builds" in daemon.log()
        finally:
            client.shutdown()
            plugin.stop()
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.stop()
            bus.flush(5)


def test_cloudevents_make_queue_demand_seen_well_before_the_poll(tmp_path: Path) -> None:
    poll_interval = 10.0
    ce_port = free_port()
    with SimJenkins() as sim:
        sim.cloudevents_sink = f"http://127.0.0.1:{ce_port}/"
        sim.add_job("unit", label="python", duration=0.5)
        config = sim_config(sim, tmp_path)
        config["demand-listeners"][0]["interval"] = f"{poll_interval:.0f}s"
        config["destroy-listeners"].append({"name": "ce", "type": "cloudevents", "listen": f"127.0.0.1:{ce_port}"})
        config["labels"] = [{"name": "python", "command": command_line(), "max": 6, "idle-timeout": "3s"}]
        daemon = Daemon(write(tmp_path / "config.yaml", config), tmp_path / "daemon.log").start()
        api = f"http://{config['api']['listen']}/v1/status"
        try:
            daemon.wait(lambda: "e2e-python-placeholder" in sim.model.nodes, 30, "the first poll")
            for _ in range(4):
                sim.trigger("unit")
            daemon.wait(lambda: requests.get(api, timeout=5).json()["queue_to_launch_count"] >= 4, 30, "four launches")
            status = requests.get(api, timeout=5).json()
            p95 = status["queue_to_launch_p95"]
            print(
                f"queue->launch with cloudevents: p50 {status['queue_to_launch_p50'] * 1000:.0f} ms, "
                f"p95 {p95 * 1000:.0f} ms; poll interval {poll_interval:.0f} s"
            )
            assert p95 < poll_interval / 4
            sim.wait_for(lambda: sim.model.builds_done() == 4, 60, "the builds")
            daemon.wait(lambda: daemon.cli("agents") == [], 60, "every agent retired")
        finally:
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.stop()
