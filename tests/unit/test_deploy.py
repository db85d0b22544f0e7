"""deploy/: the manifests parse, grant the least rights, and fit the config they ship."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.assembly import resolve_plugins
from autoscaler.config import parse_config
from autoscaler.discovery import Registry

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def docs() -> list[dict[str, Any]]:
    out = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        out += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, found)
    return found[0]


def test_every_manifest_is_a_namespaced_kubernetes_object() -> None:
    kinds = sorted(d["kind"] for d in docs())
    assert kinds == ["ConfigMap", "Deployment", "Role", "RoleBinding", "Secret", "Secret", "Secret", "ServiceAccount"]
    for doc in docs():
        assert doc["apiVersion"] and doc["metadata"]["name"]
        assert doc["metadata"]["namespace"] == "ci-agents"


def test_rbac_is_least_privilege() -> None:
    role = one("Role")
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in role["rules"]}
    for (groups, resources), verbs in rules.items():
        assert "*" not in verbs and "*" not in resources and "*" not in groups
    assert rules[(("",), ("pods",))] == {"create", "delete", "get", "list", "watch", "patch"}
    assert rules[(("",), ("secrets",))] == {"create", "delete", "get"}  # never list or watch every secret
    assert rules[(("",), ("pods/log",))] == {"get"}
    assert rules[(("coordination.k8s.io",), ("leases",))] == {"get", "create", "update"}
    assert not [d for d in docs() if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    binding = one("RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "autoscaler", "namespace": "ci-agents"}]


@pytest.fixture
def shipped_config() -> Any:
    text = one("ConfigMap")["data"]["config.yaml"]
    loaded = parse_config(text, "deploy/configmap.yaml")
    resolve_plugins(loaded, Registry.discover())
    return loaded.config


def test_the_shipped_config_is_valid(shipped_config: Any) -> None:
    assert shipped_config.driver.type == "kubernetes"
    assert {lab.connect for lab in shipped_config.labels} == {"swarm", "inbound"}


def test_deployment_fits_its_config_and_secrets(shipped_config: Any) -> None:
    deployment = one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"]
    assert deployment["spec"]["replicas"] == 1
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert container["args"] == ["-c", "/etc/autoscaler/config.yaml"] and "/etc/autoscaler/config.yaml" in mounts
    port = int(shipped_config.api.listen.rsplit(":", 1)[1])
    assert container["ports"] == [{"name": "api", "containerPort": port}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for path in (shipped_config.controllers[0].token_file, shipped_config.api.token_file):
        assert any(path.startswith(mount + "/") for mount in mounts), path
    secrets = {d["metadata"]["name"] for d in docs() if d["kind"] == "Secret"}
    used = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert used | {shipped_config.driver.settings()["credentials-secret"]} <= secrets
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
