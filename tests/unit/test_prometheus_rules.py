"""The alert rules in deploy/prometheus are valid (promtool check rules) and fire when they should
(promtool test rules). promtool comes with Debian's prometheus package; CI installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus"
ALERTS = {
    "AutoscalerDown",
    "AutoscalerBuildWaitingTooLong",
    "AutoscalerLabelInBackoff",
    "AutoscalerLeakedAgents",
    "AutoscalerListenerDown",
    "AutoscalerDemandUnknown",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (Debian package prometheus)")
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return found


def test_the_rules_cover_every_alert_the_operator_needs() -> None:
    groups = yaml.safe_load((RULES / "autoscaler-rules.yaml").read_text())["groups"]
    names = {rule["alert"] for group in groups for rule in group["rules"]}
    assert names == ALERTS
    tested = yaml.safe_load((RULES / "autoscaler-rules.test.yaml").read_text())["tests"]
    fired = {t["alertname"] for test in tested for t in test["alert_rule_test"] if t["exp_alerts"]}
    assert fired == ALERTS, "every alert has a unit test where it fires"


def test_promtool_checks_the_rules() -> None:
    run = subprocess.run(
        [promtool(), "check", "rules", "autoscaler-rules.yaml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in run.stdout


def test_promtool_unit_tests_pass() -> None:
    run = subprocess.run(
        [promtool(), "test", "rules", "autoscaler-rules.test.yaml"],
        cwd=RULES,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
