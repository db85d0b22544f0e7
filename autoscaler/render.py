"""What an agent of a label would run, as the driver builds it, for an operator to review.

For the kubernetes driver the exact pod manifest (:func:`autoscaler.drivers.kubernetes.podspec.build_pod`);
for the local driver the exact command line, working directory and environment
(:func:`autoscaler.drivers.local.agent_process`). Offline: neither Jenkins nor the cluster is
contacted, no secret is read to be shown. Every secret is masked as ``***``: the variables that
carry one, variables whose name says they hold one, and any configured secret value found anywhere
in the output (a token pasted into a command line).
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from autoscaler.agent_env import agent_credential_problems, read_agent_credential
from autoscaler.config.models import Config, LabelConfig
from autoscaler.jenkins.credentials import read_token
from autoscaler.plugin import LaunchSpec
from autoscaler.secrets import SecretError, read_secret

__all__ = ["MASK", "RenderError", "render_agent", "sample_name"]

MASK = "***"
_SECRETISH = re.compile(r"(pass|secret|token|key|credential)", re.I)


class RenderError(ValueError):
    """The label cannot be rendered (unknown, or a config the driver would refuse)."""


def sample_name(config: Config, label: LabelConfig) -> str:
    """A name as the engine gives one (``<prefix>-<slug>-<6 characters>``)."""
    return f"{config.daemon.name_prefix}-{label.slug}-xxxxxx"


def render_agent(
    config: Config, driver: str, settings: BaseModel, label_name: str, name: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The manifest (kubernetes) or process (local) an agent of ``label_name`` gets, secrets
    masked, and warnings (a pod that would connect with no agent user of its own)."""
    try:
        label = config.label(label_name)
    except KeyError:
        have = ", ".join(lab.name for lab in config.labels)
        raise RenderError(f"no label named {label_name!r} (have: {have})") from None
    name = name or sample_name(config, label)
    warnings: list[str] = []
    if driver == "kubernetes":
        warnings += agent_credential_problems(_only(config, label), token_needed=False)
        document = _pod(config, settings, label, name)
    elif driver == "local":
        problems = agent_credential_problems(_only(config, label))
        if problems:
            raise RenderError("the local driver would refuse this config: " + " ".join(problems))
        document = _process(config, settings, label, name)
    else:
        raise RenderError(f"driver {driver!r}: only the local and kubernetes drivers can be rendered")
    masked: dict[str, Any] = _mask_values(document, _known_secrets(config))
    return masked, warnings


def _only(config: Config, label: LabelConfig) -> Config:
    return config.model_copy(update={"labels": (label,)})


def _pod(config: Config, settings: BaseModel, label: LabelConfig, name: str) -> dict[str, Any]:
    from autoscaler.drivers.kubernetes import podspec
    from autoscaler.drivers.kubernetes.settings import KubernetesSettings

    assert isinstance(settings, KubernetesSettings)
    if not label.image:
        raise RenderError(f"label {label.name!r} has no image for the kubernetes driver")
    built = podspec.build_pod(name, label, config.controller_of(label), config.daemon.id, settings, time.time())
    first = ("apiVersion", "kind", "metadata", "spec")  # the usual order; the manifest is the same
    pod = {k: built[k] for k in first if k in built} | {k: v for k, v in built.items() if k not in first}
    for container in pod.get("spec", {}).get("containers", []):
        for entry in container.get("env", []):
            if "value" in entry and _SECRETISH.search(str(entry.get("name", ""))):
                entry["value"] = MASK
    return pod


def _process(config: Config, settings: BaseModel, label: LabelConfig, name: str) -> dict[str, Any]:
    from autoscaler.drivers.local import LocalSettings, agent_process

    assert isinstance(settings, LocalSettings)
    if label.command is None:
        raise RenderError(f"label {label.name!r} has no command for the local driver")
    controller = config.controller_of(label)
    configured = controller.agent_token_file is not None or controller.agent_token_env is not None
    secret = MASK if label.connect == "swarm" and configured else None  # the engine gives no other
    spec = LaunchSpec(name, label, controller, config.daemon.id, credential=secret, node_secret=MASK)
    root = Path(settings.work_dir)
    workdir = root / "work" / name
    argv, env = agent_process(settings, spec, config.daemon.id, workdir, {})
    env = {k: MASK if _SECRETISH.search(k) and k in label.env else v for k, v in env.items()}
    return {
        "driver": "local",
        "label": label.name,
        "name": name,
        "argv": argv,
        "cwd": str(workdir),
        "log": str(root / "logs" / f"{name}.log"),
        "inherited": list(settings.inherit_env),
        "env": env,
    }


def _known_secrets(config: Config) -> set[str]:
    """Every configured secret this process can read, to mask wherever it shows up."""
    found: set[str] = set()
    for controller in config.controllers:
        for read in (read_token, read_agent_credential):
            with contextlib.suppress(SecretError):
                value = read(controller)
                if value:
                    found.add(value)
    if config.api.token_file is not None:
        with contextlib.suppress(SecretError):
            value = read_secret(file=config.api.token_file)
            if value:
                found.add(value)
    return found


def _mask_values(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _mask_values(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_values(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:  # whole words only: a short password must not eat a host name
            value = re.sub(rf"(?<![^\s=:'\"]){re.escape(secret)}(?![^\s'\"])", MASK, value)
    return value
