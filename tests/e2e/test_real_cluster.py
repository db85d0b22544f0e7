"""Against a real cluster, when ``AUTOSCALER_E2E_KUBECONFIG`` names a kubeconfig (skipped otherwise).

Optional: ``AUTOSCALER_E2E_NAMESPACE`` (default ``default``), ``AUTOSCALER_E2E_CONTEXT``,
``AUTOSCALER_E2E_IMAGE`` (default ``busybox:1.36``). The test launches one pod through the driver,
waits for it to run, sees it through the watch, retires it, and checks it is gone.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

from autoscaler.config.models import Config
from autoscaler.drivers.kubernetes.driver import KubernetesDriver
from autoscaler.drivers.kubernetes.settings import KubernetesSettings
from autoscaler.plugin import DriverStatus, LaunchSpec, PluginContext

KUBECONFIG = os.environ.get("AUTOSCALER_E2E_KUBECONFIG")
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not KUBECONFIG, reason="AUTOSCALER_E2E_KUBECONFIG is not set")]


def wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def test_a_pod_runs_is_watched_and_is_deleted() -> None:
    daemon_id = f"e2e-{uuid.uuid4().hex[:8]}"
    config = Config.model_validate(
        {
            "controllers": [{"url": "http://jenkins.invalid/"}],
            "labels": [
                {
                    "name": "probe",
                    "image": os.environ.get("AUTOSCALER_E2E_IMAGE", "busybox:1.36"),
                    "command": ["sleep", "3600"],
                    "cpu": "10m",
                    "memory": "16Mi",
                }
            ],
            "daemon": {"id": daemon_id},
        }
    )
    settings = KubernetesSettings.model_validate(
        {
            "type": "kubernetes",
            "kubeconfig": KUBECONFIG,
            "context": os.environ.get("AUTOSCALER_E2E_CONTEXT"),
            "namespace": os.environ.get("AUTOSCALER_E2E_NAMESPACE", "default"),
            "credentials-secret": "unused",
        }
    )
    driver = KubernetesDriver(settings, PluginContext(config=config, emit=lambda e: None))
    name = f"{daemon_id}-probe-{uuid.uuid4().hex[:6]}"
    try:
        assert driver.list() == []
        driver.launch(LaunchSpec(name, config.labels[0], config.controllers[0], daemon_id))
        wait(lambda: [h.status for h in driver.list()] == [DriverStatus.RUNNING], 180, "the pod to run")
        driver.delete(name, grace=1)
        wait(lambda: driver.list() == [], 120, "the pod to go")
    finally:
        driver.delete(name, grace=0)
        driver.close()
