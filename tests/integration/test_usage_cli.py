"""``autoscaler usage`` over the real API socket, against an engine on a fake clock: agents
launched, agent-hours, busy share, queue wait and failures per label, and the start-up phases."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from autoscaler.api.server import ApiServer
from autoscaler.cli.main import cli
from autoscaler.config.models import ApiConfig, Config
from autoscaler.counters import PluginCounters
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import DemandUpdate, Stop, Tick
from autoscaler.events import BuildFinished, BuildStarted, DemandItem, DemandReport, LifecycleHint
from autoscaler.plugin import DriverError
from autoscaler.testing.fakes import FakeClock, FakeController, FakeDriver, InlineExecutor


class Running:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="as-usage-", dir="/tmp")
        config = Config.model_validate(
            {
                "controllers": [{"url": "http://j/"}],
                "labels": [{"name": "python", "max": 3}, {"name": "java"}],
                "limits": {"launches-per-second": 100},
            }
        )
        self.clock = FakeClock()
        self.driver = FakeDriver(self.clock)
        self.jenkins = FakeController()
        self.engine = Engine(config, self.driver, {"main": self.jenkins}, InlineExecutor(), clock=self.clock)
        self.thread = threading.Thread(target=self.engine.run, daemon=True)
        self.thread.start()
        api = ApiConfig.model_validate({"listen": "127.0.0.1:0", "socket": f"{self.dir}/api.sock"})
        self.server = ApiServer(api, self.engine, PluginCounters())
        self.server.start()

    def send(self, message: Any) -> None:
        """Hand the engine a message and wait until it has been handled."""
        self.engine.submit(message)
        self.server.ask("status")

    def cli(self, *args: str) -> Any:
        result = CliRunner().invoke(cli, [*args, "--api", f"unix://{self.server.socket_path}"])
        assert result.exit_code == 0, result.output
        return result.output

    def stop(self) -> None:
        self.server.stop()
        self.engine.submit(Stop())
        self.thread.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def running() -> Iterator[Running]:
    r = Running()
    yield r
    r.stop()


def test_usage_per_label(running: Running) -> None:
    r = running
    item = DemandItem("main:1", expression="python")
    r.send(DemandUpdate("queue", "main", DemandReport((item,), "main")))
    (name,) = r.engine.state.agents  # launched at once: no queue wait
    r.clock.advance(30)
    r.jenkins.set(name, online=True)
    r.send(LifecycleHint("main"))  # booting 30 s
    r.clock.advance(10)
    r.jenkins.set(name, builds=("http://j/job/app/7/",))
    r.send(BuildStarted(name, "main", "app", 7, "http://j/job/app/7/", "zmq"))  # idle 10 s
    r.clock.advance(320)
    r.send(DemandUpdate("queue", "main", DemandReport((), "main")))
    r.jenkins.set(name, builds=())
    r.send(BuildFinished(name, "main", "app", 7, "http://j/job/app/7/", "SUCCESS", "zmq"))  # busy 320 s
    r.driver.fail_next.append(DriverError("no such image", transient=False))
    r.send(DemandUpdate("queue", "main", DemandReport((DemandItem("main:2", expression="python"),), "main")))
    r.clock.advance(5)
    r.send(Tick())

    data = json.loads(r.cli("usage", "--since", "2h", "-o", "json"))
    assert data["since_seconds"] == 7200
    rows = {row["label"]: row for row in data["labels"]}
    python = rows["python"]
    assert (python["launched"], python["failures"]) == (2, 1)
    assert python["seconds"] == {"booting": 30, "idle": 10, "busy": 320}
    assert python["agent_hours"] == 0.1 and python["busy_share"] == round(320 / 360, 3)
    assert python["queue_wait_p50"] == 0 and python["queue_wait_p95"] == 0
    assert python["startup"]["online"] == {"p50": 30, "p95": 30, "count": 1}
    assert rows["java"] == {**rows["java"], "launched": 0, "agent_hours": 0, "busy_share": None, "failures": 0}

    lines = r.cli("usage").splitlines()  # --since 24h
    assert lines[0] == "last 24h"
    assert lines[1].split() == ["LABEL", "LAUNCHED", "AGENT-HOURS", "BUSY", "WAIT-P50", "WAIT-P95", "FAILURES"]
    assert lines[2].split() == ["python", "2", "0.10", "89%", "0.0s", "0.0s", "1"]
    assert lines[3].split() == ["java", "0", "0.00", "-", "-", "-", "0"]
    assert "start-up by phase (each: seconds since the phase before)" in lines
    assert ["online", "30.0s", "30.0s", "1"] in [line.split() for line in lines]


def test_usage_refuses_a_bad_window(running: Running) -> None:
    result = CliRunner().invoke(cli, ["usage", "--since", "soon", "--api", f"unix://{running.server.socket_path}"])
    assert result.exit_code == 2 and "--since" in result.output
    url = f"http://127.0.0.1:{running.server.port}/v1/usage?since=-5"
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 400 and "since must be a positive number" in answer.json()["error"]
