"""``autoscaler demo``, the README's first command, ends with every job done and nothing leaked."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.e2e.harness import BIN, agent_processes

pytestmark = pytest.mark.e2e


def test_demo_serves_every_job_and_leaks_nothing() -> None:
    run = subprocess.run(
        [str(BIN / "autoscaler"), "demo", "--jobs", "30", "--no-live", "--build-seconds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    assert re.search(r"^jobs done\s+30/30$", out, re.M)
    assert re.search(r"^leaked agents\s+0$", out, re.M)
    launched = int(re.search(r"^agents launched\s+(\d+)$", out, re.M).group(1))  # type: ignore[union-attr]
    retired = int(re.search(r"^agents retired\s+(\d+)$", out, re.M).group(1))  # type: ignore[union-attr]
    assert launched == retired and 0 < launched <= 30
    assert re.search(r"^queue->launch latency\s+p50 \d+ ms\s+p95 \d+ ms", out, re.M)
    assert out.rstrip().endswith("result: OK")
    assert agent_processes("demo") == []
