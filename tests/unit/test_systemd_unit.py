"""etc/systemd/autoscaler.service: hardened (``systemd-analyze security`` below 5.0), agents survive a
restart, every relaxation says why, and the commands are where the README installs them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "etc" / "systemd" / "autoscaler.service"
VENV_BIN = "/opt/autoscaler/venv/bin"


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_systemd_analyze_rates_the_unit_below_5() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing in CI (Debian's systemd package)")
        pytest.skip("systemd-analyze not installed")
    out = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", out.stdout + out.stderr)
    assert match, out.stdout + out.stderr
    assert float(match[1]) < 5.0, out.stdout


def test_the_hardening_the_issue_asks_for_is_there() -> None:
    s = settings()
    expected = {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes", "LockPersonality": "yes", "RestrictNamespaces": "yes", "UMask": "0077",
        "ReadWritePaths": "/var/lib/autoscaler", "User": "autoscaler",
    }  # fmt: skip
    for key, value in expected.items():
        assert s.get(key) == [value], (key, s.get(key))
    assert "@system-service" in s["SystemCallFilter"]


def test_agents_outlive_a_restart_and_the_jit_is_allowed_with_a_reason() -> None:
    s = settings()
    assert s["KillMode"] == ["process"]  # the next start adopts the running agents
    assert "MemoryDenyWriteExecute" not in s  # the agents are JVMs: their JIT writes code
    assert re.search(r"#\s*relaxed: MemoryDenyWriteExecute.*JIT", UNIT.read_text())
    local_work_dir = "/var/lib/autoscaler/local"  # the local driver's default work-dir
    assert local_work_dir.startswith(s["ReadWritePaths"][0] + "/")


def test_the_commands_are_where_the_readme_installs_them() -> None:
    s = settings()
    assert s["ExecStart"][0].split()[0] == f"{VENV_BIN}/autoscalerd"
    assert s["ExecStartPre"][0].split()[0] == f"{VENV_BIN}/autoscaler"
    readme = (ROOT / "README.md").read_text()
    assert "python3 -m venv /opt/autoscaler/venv" in readme
    assert re.search(r"useradd --system\b.*\bautoscaler\b", readme)
    assert "/opt/autoscaler/venv/bin/pip install jenkins-autoscaler" in readme
