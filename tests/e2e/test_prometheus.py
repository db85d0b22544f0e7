"""A real Prometheus (Debian's ``prometheus``) scrapes a daemon under load: every alert rule of
deploy/prometheus evaluates without error, the ones the workload provokes (a label in backoff,
demand unknown, a listener down, the daemon down) fire, and every query of the Grafana dashboard
in deploy/grafana returns data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import Daemon, free_port, sim_config, write

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/autoscaler-rules.yaml"
DASHBOARD = ROOT / "deploy/grafana/autoscaler-dashboard.json"
PROVOKED = {"AutoscalerLabelInBackoff", "AutoscalerDemandUnknown", "AutoscalerListenerDown"}
"""Alerts the workload below makes true (AutoscalerDown is provoked at the end, by stopping the daemon)."""
EXPECTED_MISSING: set[str] = set()
"""Dashboard queries whose metric does not exist yet (none: every agreed metric is exported)."""


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is missing (Debian package prometheus)")
        pytest.skip("prometheus is not installed (Debian package prometheus)")
    return found


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        return list(data["result"])

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.25)


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins() as jenkins:
        jenkins.add_job("unit", label="python", duration=0.5)
        jenkins.add_job("train", label="broken", duration=0.5)
        yield jenkins


FAILING_LISTENER = """
from autoscaler import DestroyListener, ListenerSettings


class RefusedSettings(ListenerSettings):
    pass


class RefusedListener(DestroyListener):
    settings_model = RefusedSettings

    def start(self):
        self.run = self.context.supervise("refused", self.loop, stale_after=0.5)

    def loop(self, run):
        run.stopping.wait()  # stuck in a connect that never returns: no progress, the listener is down

    def stop(self):
        self.run.stop()
"""


def install_failing_listener(site: Path) -> None:
    """A destroy listener stuck connecting to its event source (no progress: it is down)."""
    site.mkdir()
    (site / "refused_listener.py").write_text(FAILING_LISTENER)
    dist = site / "refused_listener-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: refused-listener\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[autoscaler.destroy_listeners]\nrefused-events = refused_listener:RefusedListener\n"
    )


def workload_config(sim: SimJenkins, tmp: Path) -> dict[str, Any]:
    config = sim_config(sim, tmp)
    config["labels"].append({"name": "broken", "command": ["/bin/false"], "max": 1})  # fails: backoff
    config["demand-listeners"].append(  # its source does not exist: demand unknown
        {"name": "batch", "type": "file-demand", "path": str(tmp / "missing.json"), "interval": "1s"}
    )
    config["destroy-listeners"].append({"name": "refused", "type": "refused-events"})  # a listener down
    return config


def start_prometheus(tmp: Path, target: str) -> tuple[subprocess.Popen[bytes], Prometheus]:
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "autoscaler", "static_configs": [{"targets": [target]}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    args = [f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}"]
    args += [f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    with open(tmp / "prometheus.log", "wb") as log:
        proc = subprocess.Popen([prometheus_binary(), *args], stdout=subprocess.DEVNULL, stderr=log)
    prom = Prometheus(f"http://127.0.0.1:{port}")

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    prom.wait("prometheus to be ready", ready, timeout=20)
    return proc, prom


def dashboard_queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    out = []
    for panel in panels:
        for target in panel.get("targets", []):
            expr = target["expr"].replace('=~"$label"', '=~".*"').replace("$__rate_interval", "30s")
            out.append((f"{panel['title']} [{target['refId']}]", expr))
    return out


def test_alerts_and_dashboard_against_a_real_prometheus(
    sim: SimJenkins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = workload_config(sim, tmp_path)
    install_failing_listener(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))  # the daemon's PYTHONPATH is this sys.path
    daemon = Daemon(write(tmp_path / "config.yaml", config), tmp_path / "daemon.log").start()
    proc, prom = start_prometheus(tmp_path, config["api"]["listen"])
    try:
        for _ in range(4):
            sim.trigger("unit")
        sim.trigger("train")
        for what, expr in (
            ("agents online", 'sum(autoscaler_agent_startup_seconds_count{phase="online"}) >= 2'),
            ("a label in backoff", "max(autoscaler_backoff_seconds) > 0"),
            ("demand unknown", "max(autoscaler_demand_unknown) > 0"),
            ("a listener down", "min(autoscaler_listener_up) == 0"),
        ):
            prom.wait(what, lambda expr=expr: bool(prom.query(expr)), timeout=20)  # type: ignore[misc]
        time.sleep(2.5)  # a few more scrapes: rates and increases need two samples in their window

        groups = prom.get("/api/v1/rules")["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        assert set(rules) == {*PROVOKED, "AutoscalerDown", "AutoscalerBuildWaitingTooLong", "AutoscalerLeakedAgents"}
        for name, rule in rules.items():
            assert rule["health"] == "ok", (name, rule.get("lastError"))
            result = prom.query(rule["query"])  # evaluates without error
            assert bool(result) == (name in PROVOKED), (name, rule["query"], result)
        active = {a["labels"]["alertname"] for a in prom.get("/api/v1/alerts")["alerts"]}
        assert active >= PROVOKED, active

        empty = [(title, expr) for title, expr in dashboard_queries() if not prom.query(expr)]
        assert [t for t, _ in empty if t not in EXPECTED_MISSING] == [], empty

        daemon.stop()
        prom.wait("the daemon seen down", lambda: bool(prom.query(rules["AutoscalerDown"]["query"])), timeout=10)
    finally:
        proc.terminate()
        proc.wait(10)
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()
