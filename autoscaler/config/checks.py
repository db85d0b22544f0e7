"""Warnings about configs that are valid but will not do what their author expects."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from autoscaler.config.errors import Problem
from autoscaler.config.loader import LoadedConfig

_SECRETISH = re.compile(r"(pass|secret|token|key|credential)", re.I)


class _Resolved(Protocol):
    @property
    def settings(self) -> object: ...


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
        if any(lab.min_ready > 0 for _, lab in served):
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
