"""The HTTP API and the CLI that talks to it, over a real socket, against a running engine."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from autoscaler.api.server import ApiServer
from autoscaler.cli.main import cli
from autoscaler.config.models import ApiConfig, Config
from autoscaler.counters import PluginCounters
from autoscaler.engine.core import Engine
from autoscaler.engine.errors import AgentNotFound, InvalidState, UnknownCommand
from autoscaler.engine.messages import Command, DemandUpdate, Stop
from autoscaler.events import DemandItem, DemandReport
from autoscaler.testing.fakes import FakeController, FakeDriver, InlineExecutor

TOKEN = "letmein"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
"""Mutations over TCP need the token; the CLI goes through the Unix socket and needs none."""


def short_dir() -> str:
    """A directory whose socket path fits the kernel's 107 bytes (pytest's tmp_path may not)."""
    return tempfile.mkdtemp(prefix="as-api-", dir="/tmp")


def api_config(directory: str, **overrides: Any) -> ApiConfig:
    token = Path(directory) / "api-token"
    token.write_text(TOKEN + "\n")
    settings = {"listen": "127.0.0.1:0", "socket": f"{directory}/api.sock", "token_file": str(token), **overrides}
    return ApiConfig.model_validate(settings)


class Running:
    def __init__(self, api: ApiConfig | None = None) -> None:
        self.dir = short_dir()
        api = api or api_config(self.dir)
        config = Config.model_validate(
            {"controllers": [{"url": "http://j/"}], "labels": [{"name": "python", "max": 3}, {"name": "java"}]}
        )
        self.driver = FakeDriver()
        self.engine = Engine(config, self.driver, {"main": FakeController()}, InlineExecutor())
        self.thread = threading.Thread(target=self.engine.run, daemon=True)
        self.thread.start()
        self.counters = PluginCounters()
        self.server = ApiServer(api, self.engine, self.counters)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.port}/"
        self.unix = f"unix://{self.server.socket_path}"

    def cli(self, *args: str) -> Any:
        result = CliRunner().invoke(cli, [*args, "--api", self.unix], catch_exceptions=False)
        return result

    def stop(self) -> None:
        self.server.stop()
        self.engine.submit(Stop())
        self.thread.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def running() -> Iterator[Running]:
    r = Running()
    items = tuple(DemandItem(f"main:{i}", expression="python") for i in range(2))
    r.engine.submit(DemandUpdate("queue", "main", DemandReport(items, "main")))
    r.server.ask("status")  # wait until the engine has handled the update
    yield r
    r.stop()


def test_pools_table_fits_80_columns(running: Running) -> None:
    result = running.cli("pools")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:6] == ["LABEL", "DEMAND", "REQ", "PEND", "BOOT", "READY"]
    assert lines[1].split()[:5] == ["python", "2", "0", "0", "2"]
    assert max(len(line) for line in lines) <= 80


def test_agents_json_then_hold_release_delete(running: Running) -> None:
    agents = json.loads(running.cli("agents", "-o", "json").output)
    assert [a["state"] for a in agents] == ["booting", "booting"]
    name = agents[0]["name"]
    held = running.cli("hold", name, "--reason", "look at logs", "--for", "2h")
    assert held.exit_code == 0 and f"{name}: held (look at logs)" in held.output
    wide = running.cli("agents", "-o", "wide").output
    assert "held: look at logs" in wide
    assert running.cli("release", name).exit_code == 0
    again = running.cli("release", name)
    assert again.exit_code == 1 and "is not held" in again.output
    assert running.cli("delete", name, "--now").exit_code == 0
    assert name in running.driver.deleted
    missing = running.cli("delete", "nope")
    assert missing.exit_code == 1 and "404" in missing.output


def test_demand_and_events_views(running: Running) -> None:
    demand = json.loads(running.cli("demand", "-o", "json").output)
    assert demand["per_label"] == {"python": 2}
    events = running.cli("events").output
    assert "requested" in events


def test_metrics_health_and_readiness(running: Running) -> None:
    text = requests.get(running.url + "metrics", timeout=5).text
    assert 'autoscaler_agents{controller="main",label="python",state="booting"} 2' in text
    assert 'autoscaler_demand{controller="main",label="python"} 2' in text
    assert 'autoscaler_launches_total{label="python"} 2' in text
    assert requests.get(running.url + "healthz", timeout=5).status_code == 200
    assert requests.get(running.url + "readyz", timeout=5).status_code == 503  # Jenkins not seen yet


def test_bad_requests_get_clear_errors(running: Running) -> None:
    assert requests.get(running.url + "v1/nope", timeout=5).status_code == 404
    headers = {**AUTH, "Content-Type": "application/json"}
    reply = requests.post(running.url + "v1/agents/x/hold", data="{not json", headers=headers, timeout=5)
    assert reply.status_code == 400 and "bad JSON" in reply.json()["error"]
    reply = requests.post(running.url + "v1/agents/x/hold", json={"seconds": -5}, headers=AUTH, timeout=5)
    assert reply.status_code == 400


def test_mutations_need_the_token_when_configured() -> None:
    r = Running()
    try:
        assert requests.post(r.url + "v1/agents/x/release", json={}, timeout=5).status_code == 401
        reply = requests.post(
            r.url + "v1/agents/x/release", json={}, timeout=5, headers={"Authorization": "Bearer letmein"}
        )
        assert reply.status_code == 404  # authorized; there is just no such agent
        assert requests.get(r.url + "v1/pools", timeout=5).status_code == 200  # reads on loopback are open
    finally:
        r.stop()


def test_a_missing_agent_is_404_and_named_as_typed(running: Running) -> None:
    result = running.cli("delete", "ci-nope")
    assert result.exit_code == 1
    assert "autoscaler: delete ci-nope: 404: no agent named ci-nope\n" in result.output  # no stray quote
    reply = requests.post(running.url + "v1/agents/ci-nope/hold", json={}, headers=AUTH, timeout=5)
    assert (reply.status_code, reply.json()) == (404, {"error": "no agent named ci-nope"})


def test_a_command_in_the_wrong_state_is_409(running: Running) -> None:
    name = json.loads(running.cli("agents", "-o", "json").output)[0]["name"]
    reply = requests.post(running.url + f"v1/agents/{name}/release", json={}, headers=AUTH, timeout=5)
    assert (reply.status_code, reply.json()) == (409, {"error": f"{name} is not held"})


class Refusing:
    """An engine that answers every command with one error (the API's side of the mapping)."""

    ready = True
    stopped = False

    def __init__(self, error: Exception) -> None:
        self.error = error

    def submit(self, message: Command) -> None:
        message.reply.set_exception(self.error)


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (AgentNotFound("'x'"), 404, "no agent named 'x'"),  # the message as raised, quotes and all
        (InvalidState("'a' is already retiring"), 409, "'a' is already retiring"),
        (UnknownCommand("unknown command 'x'"), 400, "unknown command 'x'"),
        (KeyError("a"), 500, "internal error: KeyError: 'a'"),  # a bug, not "no such agent"
        (ValueError("boom"), 500, "internal error: ValueError: boom"),  # a bug, not a state conflict
    ],
)
def test_each_command_error_maps_to_its_status_and_keeps_its_message(
    error: Exception, status: int, message: str
) -> None:
    directory = short_dir()
    server = ApiServer(api_config(directory), Refusing(error), PluginCounters())
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/"
        reply = requests.post(url + "v1/agents/a/delete", json={}, headers=AUTH, timeout=5)
        assert (reply.status_code, reply.json()) == (status, {"error": message})
        assert requests.get(url + "healthz", timeout=5).status_code == 200  # and it keeps serving
        result = CliRunner().invoke(cli, ["delete", "a", "--api", f"unix://{server.socket_path}"])
        assert result.exit_code == 1 and result.output == f"autoscaler: delete a: {status}: {message}\n"
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_cli_says_when_the_daemon_is_not_running() -> None:
    result = CliRunner().invoke(cli, ["pools", "--api", "http://127.0.0.1:9/"])
    assert result.exit_code == 1
    assert "cannot reach the autoscaler API at http://127.0.0.1:9/ (is the daemon running?)" in result.output
