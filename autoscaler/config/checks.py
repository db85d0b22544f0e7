"""Warnings about configs that are valid but will not do what their author expects."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from autoscaler.config.errors import Problem
from autoscaler.config.loader import LoadedConfig
from autoscaler.secrets import SecretError, read_secret

_SECRETISH = re.compile(r"(pass|secret|token|key|credential)", re.I)


class _Resolved(Protocol):
    @property
    def settings(self) -> object: ...


class _Placed(Protocol):
    @property
    def settings(self) -> object: ...
    @property
    def path(self) -> tuple[str | int, ...]: ...


class _Plugins(Protocol):
    """What the checks read of :class:`autoscaler.assembly.ResolvedPlugins` (config is read
    before anything is assembled, so it does not import the assembly)."""

    @property
    def demand(self) -> Sequence[_Resolved]: ...


def visibility_warnings(loaded: LoadedConfig, plugins: _Plugins) -> list[Problem]:
    config = loaded.config
    out: list[Problem] = []
    for resolved in plugins.demand:
        source = getattr(resolved.settings, "label_source", None)
        if source != "why":
            continue
        controller = getattr(resolved.settings, "controller", None) or config.default_controller.name
        served = [(i, lab) for i, lab in enumerate(config.labels) if config.controller_of(lab).name == controller]
        if any(lab.min_ready > 0 or any(e.min_ready > 0 for e in lab.schedule) for _, lab in served):
            continue
        for i, lab in served:
            out.append(
                loaded.problem(
                    ("labels", i, "name"),
                    f"label {lab.name!r} cannot be seen from zero agents for pipeline jobs with "
                    "label-source: why (Jenkins names no label while it has no agent node); "
                    "freestyle jobs still work. Use label-source: placeholders, or min-ready: 1 on some label",
                )
            )
    for i, lab in enumerate(config.labels):
        for key in lab.env:
            if _SECRETISH.search(key):
                out.append(
                    loaded.problem(
                        ("labels", i, "env", key),
                        "looks like a secret in plain config; agents get the Jenkins credential "
                        "through the driver's secret channel, other secrets belong in the driver's secret store",
                    )
                )
        if config.driver.type == "local" and lab.command is None:
            out.append(
                loaded.problem(
                    ("labels", i), f"label {lab.name!r} has no command: the local driver cannot launch its agents"
                )
            )
    return out


def runtime_problems(loaded: LoadedConfig, plugins: Sequence[_Placed]) -> list[Problem]:
    """What ``run`` needs of this machine that the file alone does not show: every controller's
    token readable (and not empty), every ``*-file`` of the API and the plugins readable, every
    ``work-dir`` writable (or creatable). Read as the user running the check."""
    config = loaded.config
    out: list[Problem] = []
    for i, ctl in enumerate(config.controllers):
        if ctl.token_file is None and ctl.token_env is None:
            continue
        key = "token-file" if ctl.token_file is not None else "token-env"
        try:
            read_secret(file=ctl.token_file, env=ctl.token_env, what=f"controller {ctl.name!r} token", required=True)
        except SecretError as exc:
            out.append(loaded.problem(("controllers", i, key), str(exc)))
    out += _files_and_dirs(loaded, ("api",), config.api)
    for resolved in plugins:
        if isinstance(resolved.settings, BaseModel):
            out += _files_and_dirs(loaded, resolved.path, resolved.settings)
    return out


def _files_and_dirs(loaded: LoadedConfig, path: tuple[str | int, ...], settings: BaseModel) -> list[Problem]:
    out: list[Problem] = []
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if not isinstance(value, str) or not value:
            continue
        key = field.alias or name.replace("_", "-")
        if name.endswith("_file"):
            try:
                with open(value, "rb"):
                    pass
            except OSError as exc:
                out.append(loaded.problem((*path, key), f"cannot read {value}: {exc.strerror or exc}"))
        elif name == "work_dir":
            why = _not_writable(Path(value))
            if why:
                out.append(loaded.problem((*path, key), why))
    return out


def _not_writable(path: Path) -> str | None:
    """Why ``run`` could not create files under ``path`` (creating it if missing), or None."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        missing = "" if existing == path else f" (to create {path})"
        return f"{existing} is not writable by this user{missing}"
    return None
