"""The status page at ``/`` in a real browser (headless Chromium) during a workload: served over
TCP beyond loopback, where every data call needs the token the page takes from its URL fragment.
The screenshot is kept in ``test-artifacts/`` (git-ignored; CI keeps it)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import Daemon, agent_processes, free_port, sim_config, write

pytestmark = pytest.mark.e2e

TOKEN = "page-token-0123456789"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI must install Debian's chromium package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def browse(url: str, profile: Path, *extra: str) -> str:
    """What Chromium shows once the page's script ran (its DOM after a few seconds of virtual time)."""
    out = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
            "--virtual-time-budget=2500",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


def error_of(dom: str) -> str:
    match = re.search(r'<div id="error">(.*?)</div>', dom)
    assert match is not None, dom[:2000]
    return match.group(1)


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins() as jenkins:
        jenkins.add_job("slow", label="python", duration=60.0)
        jenkins.add_job("image", label="linux&&docker", duration=60.0)
        jenkins.add_job("on-windows", label="windows", duration=1.0)  # no label serves it: it waits
        yield jenkins


def test_the_status_page_shows_pools_agents_and_waiting_builds(sim: SimJenkins, tmp_path: Path) -> None:
    browser = chromium()
    (tmp_path / "api-token").write_text(TOKEN)
    port = free_port()
    api = {"listen": f"0.0.0.0:{port}", "token-file": str(tmp_path / "api-token")}
    config = sim_config(sim, tmp_path, api=api)
    config["labels"][0]["max"] = 2
    config["daemon"].update({"id": "e2e-page", "name-prefix": "page"})  # its own agents, whatever else runs
    daemon = Daemon(write(tmp_path / "config.yaml", config), tmp_path / "daemon.log").start()
    try:
        for job in ("slow", "slow", "slow", "image", "on-windows"):
            sim.trigger(job)
        daemon.wait(lambda: sum(p["busy"] for p in daemon.cli("pools")) >= 2, 60, "two busy agents")
        base = f"http://127.0.0.1:{port}/"
        assert requests.get(base + "v1/pools", timeout=5).status_code == 401  # beyond loopback: the token
        auth = {"Authorization": f"Bearer {TOKEN}"}
        history = requests.get(base + "v1/history", headers=auth, timeout=5).json()
        assert history["samples"] and set(history["samples"][-1]["labels"]) == {"python", "docker"}  # sampled

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        shot.unlink(missing_ok=True)
        dom = browse(base + f"#token={TOKEN}", tmp_path / "profile", "--dump-dom", f"--screenshot={shot}")
        (ARTIFACTS / "status-page.html").write_text(dom)
        agents = [a["name"] for a in daemon.cli("agents")]
        assert '<div id="error"></div>' in dom, error_of(dom)
        assert re.search(r"<td>python</td>", dom) and re.search(r"<td>docker</td>", dom)
        assert all(f"<td>{name}</td>" in dom for name in agents), (agents, dom[:3000])
        assert "on-windows" in dom and "slow" in dom  # waiting builds, by name
        assert "no configured label serves `windows`" in dom and "python is at its max of 2 agents" in dom  # and why
        assert "<polyline" in dom and 'class="demand"' in dom and 'class="supply"' in dom
        assert re.search(r"\d+ agents, \d+ waiting", dom)

        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        refused = browse(base, tmp_path / "profile", "--dump-dom")  # no token in the fragment
        assert re.fullmatch(r"cannot refresh: /v1/\w+: 401", error_of(refused))
        assert browser
    finally:
        daemon.stop()
        for pid in agent_processes("e2e-page"):
            os.killpg(pid, signal.SIGKILL)
