"""Resolve a config's plugin sections: find each plugin, validate its section with its model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from autoscaler.config.errors import ConfigError, Problem
from autoscaler.config.loader import Draft, LoadedConfig, validate_section
from autoscaler.config.models import PluginEntry
from autoscaler.discovery import PluginNotFound, Registry
from autoscaler.plugin import ListenerSettings, PluginKind

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Resolved:
    """A plugin class and its validated settings."""

    cls: type
    settings: BaseModel
    path: Path


@dataclass(frozen=True)
class ResolvedPlugins:
    driver: Resolved
    demand: tuple[Resolved, ...]
    destroy: tuple[Resolved, ...]


def resolve_plugins(loaded: LoadedConfig, registry: Registry) -> ResolvedPlugins:
    """Every plugin section validated; a :class:`ConfigError` lists every problem at once."""
    config = loaded.config
    problems: list[Problem] = []
    controllers = {c.name for c in config.controllers}
    d, dem, des = PluginKind.DRIVER, PluginKind.DEMAND, PluginKind.DESTROY

    def one(kind: PluginKind, path: Path, entry: PluginEntry) -> Resolved | None:
        return _resolve(loaded, registry, controllers, kind, path, entry, problems)

    driver = one(d, (d.section,), config.driver)
    demand = [one(dem, (dem.section, i), e) for i, e in enumerate(config.demand_listeners)]
    destroy = [one(des, (des.section, i), e) for i, e in enumerate(config.destroy_listeners)]
    if problems or driver is None:
        raise ConfigError(problems)
    return ResolvedPlugins(
        driver,
        tuple(r for r in demand if r is not None),
        tuple(r for r in destroy if r is not None),
    )


def resolve_draft(draft: Draft, registry: Registry) -> tuple[list[Resolved], list[Problem]]:
    """The plugin sections that resolve, and the problems of the others, found even while the
    core sections have mistakes (so that ``config validate`` reports everything in one pass)."""
    problems: list[Problem] = []
    kinds = {k.section: k for k in PluginKind}
    controllers = draft.controller_names()
    resolved = [
        _resolve(draft, registry, controllers, kinds[section], path, entry, problems)
        for section, path, entry in draft.plugin_entries()
    ]
    return [r for r in resolved if r is not None], problems


class _Locates(Protocol):
    def problem(self, path: Path, message: str) -> Problem: ...


def _resolve(
    where: _Locates,
    registry: Registry,
    controllers: set[str],
    kind: PluginKind,
    path: Path,
    entry: PluginEntry,
    problems: list[Problem],
) -> Resolved | None:
    try:
        cls = registry.find(kind, entry.type)
    except PluginNotFound as exc:
        problems.append(where.problem((*path, "type"), str(exc)))
        return None
    model = cls.settings_model  # type: ignore[attr-defined]
    try:
        settings = validate_section(where, path, model, entry)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None
    if (
        isinstance(settings, ListenerSettings)
        and settings.controller is not None
        and settings.controller not in controllers
    ):
        have = ", ".join(sorted(controllers))
        problems.append(
            where.problem((*path, "controller"), f"no controller named {settings.controller!r} (have: {have})")
        )
        return None
    return Resolved(cls, settings, path)
