"""The pod (and per-agent Secret) of one agent, as plain dicts. Pure: no I/O."""

from __future__ import annotations

import copy
import shlex
from datetime import UTC, datetime
from typing import Any

from autoscaler.agent_env import AgentEnv, Secret, agent_env, fill
from autoscaler.config.models import ControllerConfig, LabelConfig
from autoscaler.drivers.kubernetes.settings import KubernetesSettings

MANAGED_BY = "app.kubernetes.io/managed-by"
INSTANCE = "app.kubernetes.io/instance"
LABEL_SLUG = "autoscaler.jenkins.io/label"
ANN_LABEL = "autoscaler.jenkins.io/label"
ANN_CONTROLLER = "autoscaler.jenkins.io/controller"
ANN_CREATED = "autoscaler.jenkins.io/created"
ANN_HOLD = "autoscaler.jenkins.io/hold"
PASSWORD_ENV = "JENKINS_PASSWORD"
CONTAINER = "agent"
AGENT_FS = "/home/jenkins/agent"


def selector(daemon_id: str) -> str:
    """The label selector of this daemon instance's pods (another instance's are left alone)."""
    return f"{MANAGED_BY}=autoscaler,{INSTANCE}={daemon_id}"


def agent_secret_name(agent: str) -> str:
    return f"{agent}-agent-secret"[:253]


def swarm_args(name: str, label: LabelConfig, controller: ControllerConfig) -> list[str]:
    """Swarm client flags; the password is read from ``$JENKINS_PASSWORD``, never from argv."""
    values = agent_env(name, label, controller, "", workdir=AGENT_FS, credential_env=PASSWORD_ENV).placeholders
    if label.command is not None:
        parts = shlex.split(label.command) if isinstance(label.command, str) else list(label.command)
        return [fill(part, values) for part in parts]
    return [
        "-url", values["url"], "-username", values["user"], "-passwordEnvVariable", PASSWORD_ENV,
        "-name", name, "-labels", values["labels"], "-executors", values["executors"],
        "-mode", "exclusive", "-disableClientsUniqueId", "-fsroot", AGENT_FS, "-retry", "10",
    ]  # fmt: skip


def build_pod(
    name: str,
    label: LabelConfig,
    controller: ControllerConfig,
    daemon_id: str,
    settings: KubernetesSettings,
    created: float,
) -> dict[str, Any]:
    """The pod of agent ``name``, merged over :func:`security_defaults`, the driver's
    ``pod-template`` and the label's ``pod-template`` (each over the one before)."""
    env = agent_env(
        name,
        label,
        controller,
        daemon_id,
        workdir=AGENT_FS,
        credential_env=PASSWORD_ENV,
        web_socket=settings.web_socket,
    )
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": label.image,
        "env": env_list(name, env, settings),
        "resources": _resources(label),
        "workingDir": AGENT_FS,
    }
    args = swarm_args(name, label, controller) if label.connect == "swarm" else []
    if args:
        container["args"] = args
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {MANAGED_BY: "autoscaler", INSTANCE: daemon_id, LABEL_SLUG: label.slug},
            "annotations": {
                ANN_LABEL: label.name,
                ANN_CONTROLLER: controller.name,
                ANN_CREATED: datetime.fromtimestamp(created, UTC).isoformat(timespec="seconds"),
            },
        },
        "spec": _pod_spec(label, settings, container),
    }
    base = security_defaults(settings)
    for template in (settings.pod_template, label.pod_template):
        if template:
            base = merge(base, copy.deepcopy(template))
    merged: dict[str, Any] = merge(base, pod)
    return merged


AGENT_UID = 1000
"""The ``jenkins`` user of the agent images (``jenkins/inbound-agent`` and images/swarm-agent)."""


def security_defaults(settings: KubernetesSettings) -> dict[str, Any]:
    """What every agent pod runs with unless a ``pod-template`` (driver's, then label's) says
    otherwise: not root, no privilege escalation, no capabilities, the runtime's seccomp profile,
    and no service-account token unless a ``service-account`` is configured for the agents. The
    root filesystem stays writable: the agent writes its workspace, caches and temp files."""
    return {
        "spec": {
            "automountServiceAccountToken": settings.service_account is not None,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": AGENT_UID,
                "runAsGroup": AGENT_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": CONTAINER,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        }
    }


def env_list(name: str, env: AgentEnv, settings: KubernetesSettings) -> list[dict[str, Any]]:
    """The container's ``env``: plain values, then each secret as a ``secretKeyRef`` (never a literal):
    the credential from ``credentials-secret``, a node secret from the agent's own Secret."""
    out: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in env.values.items()]
    for var, secret in env.secrets.items():
        if secret is Secret.CREDENTIAL:
            ref = {"name": settings.credentials_secret, "key": settings.credentials_key}
        else:
            ref = {"name": agent_secret_name(name), "key": "secret"}
        out.append({"name": var, "valueFrom": {"secretKeyRef": ref}})
    return out


def _resources(label: LabelConfig) -> dict[str, dict[str, str]]:
    resources: dict[str, dict[str, str]] = {}
    requests = {k: v for k, v in (("cpu", label.cpu), ("memory", label.memory)) if v}
    limits = {k: v for k, v in (("cpu", label.cpu_limit), ("memory", label.memory_limit)) if v}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def _pod_spec(label: LabelConfig, settings: KubernetesSettings, container: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": int(settings.termination_grace),
        "containers": [container],
    }
    if label.node_selector:
        spec["nodeSelector"] = dict(label.node_selector)
    if label.tolerations:
        spec["tolerations"] = [dict(t) for t in label.tolerations]
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    if settings.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in settings.image_pull_secrets]
    return spec


def agent_secret(name: str, secret: str, pod_uid: str, daemon_id: str) -> dict[str, Any]:
    """The inbound agent's own secret, owned by its pod (garbage collected with it)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": agent_secret_name(name),
            "labels": {MANAGED_BY: "autoscaler", INSTANCE: daemon_id},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": name,
                    "uid": pod_uid,
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "stringData": {"secret": secret},
    }


def merge(base: Any, override: Any) -> Any:
    """``override`` over ``base``: mappings merge, lists of named items merge by name."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    if (
        isinstance(base, list)
        and isinstance(override, list)
        and all(isinstance(x, dict) and "name" in x for x in (*base, *override))
    ):
        merged = {item["name"]: item for item in base}
        for item in override:
            merged[item["name"]] = merge(merged[item["name"]], item) if item["name"] in merged else item
        order = [i["name"] for i in override] + [
            i["name"] for i in base if i["name"] not in {o["name"] for o in override}
        ]
        return [merged[n] for n in order]
    return override
