"""``autoscaler demo``, the README's first command: every job done, nothing leaked, no library
chatter on the screen, latency split into waiting for capacity and the daemon's reaction, the
start-up phases; on failure it names the unfinished builds and stops as soon as nothing can
progress; ``--keep-running`` serves the CLI tour and the status page."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.e2e.harness import BIN, agent_processes, free_port

pytestmark = pytest.mark.e2e

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR)", re.M)


def demo(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "autoscaler"), "demo", "--no-live", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_serves_every_job_and_leaks_nothing_quietly() -> None:
    run = demo("--jobs", "30", "--build-seconds", "1")
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    assert run.stderr == "" and not LOG_LINE.search(out), "library or daemon chatter reached the screen"
    assert re.search(r"^      AUTOSCALER_API=unix://\S+/api\.sock autoscaler pools", out, re.M)
    assert re.search(r"^jobs done\s+30/30$", out, re.M)
    assert re.search(r"^leaked agents\s+0$", out, re.M)
    launched = int(re.search(r"^agents launched\s+(\d+)$", out, re.M).group(1))  # type: ignore[union-attr]
    retired = int(re.search(r"^agents retired\s+(\d+)$", out, re.M).group(1))  # type: ignore[union-attr]
    assert launched == retired and 0 < launched <= 30
    assert re.search(r"^queue->launch latency\s+p50 \d+ ms\s+p95 \d+ ms", out, re.M)
    assert re.search(r"^  waiting for capacity p50 \d+ ms\s+p95 \d+ ms", out, re.M)
    assert re.search(r"^  daemon's reaction\s+p50 \d+ ms\s+p95 \d+ ms", out, re.M)
    phases = out[out.index("start-up phases") :]
    for phase in ("launch_requested", "created", "running", "online"):
        assert re.search(rf"^{phase}\s+\d+ ms\s+\d+ ms\s+\d+$", phases, re.M), phases
    assert out.rstrip().endswith("result: OK")
    assert agent_processes("demo") == []


def test_a_build_no_label_serves_is_named_and_the_demo_stops_when_nothing_can_progress() -> None:
    started = time.monotonic()
    run = demo("--jobs", "2", "--build-seconds", "0.5", "--unservable", "--timeout", "120", timeout=120)
    elapsed = time.monotonic() - started
    out = run.stdout
    assert run.returncode == 1, out[-3000:] + run.stderr[-3000:]
    assert "stopped: 1 queued build ask for labels no pool serves" in out
    assert re.search(r"^  gpu-train \(queued \d+s on 'gpu'\): ", out, re.M), out[-2000:]
    assert out.rstrip().endswith("result: FAILED")
    assert elapsed < 60, f"took {elapsed:.0f}s: it should stop once the other builds are done"
    assert agent_processes("demo") == []


def test_keep_running_serves_the_cli_tour_and_the_status_page() -> None:
    port = free_port()
    keep = ["--api", f"127.0.0.1:{port}", "--keep-running"]
    proc = subprocess.Popen(
        [str(BIN / "autoscaler"), "demo", "--no-live", "--jobs", "2", "--build-seconds", "0.5", *keep],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    try:
        for line in proc.stdout:  # up to the summary and the "still running" line
            seen.append(line)
            if line.startswith("demo: still running"):
                break
        text = "".join(seen)
        assert f"status page http://127.0.0.1:{port}/" in text, text
        api = re.search(r"AUTOSCALER_API=(\S+) autoscaler pools", text)
        assert api is not None, text
        pools = subprocess.run(
            [str(BIN / "autoscaler"), "pools"],
            env={**os.environ, "AUTOSCALER_API": api.group(1)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert pools.returncode == 0 and pools.stdout.startswith("LABEL"), pools.stdout + pools.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    finally:
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest[-2000:] + err[-2000:]
    assert re.search(r"^leaked agents\s+0$", rest, re.M) and rest.rstrip().endswith("result: OK")
