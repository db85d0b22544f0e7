"""Resolve a config's plugin sections: find each plugin, validate its section with its model."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from autoscaler.config.errors import ConfigError, Problem
from autoscaler.config.loader import LoadedConfig, validate_section
from autoscaler.discovery import PluginNotFound, Registry
from autoscaler.plugin import ListenerSettings, PluginKind


@dataclass(frozen=True)
class Resolved:
    """A plugin class and its validated settings."""

    cls: type
    settings: BaseModel
    path: tuple[str | int, ...]


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

    def one(kind: PluginKind, path: tuple[str | int, ...], entry_type: str, entry: object) -> Resolved | None:
        try:
            cls = registry.find(kind, entry_type)
        except PluginNotFound as exc:
            problems.append(loaded.problem((*path, "type"), str(exc)))
            return None
        model = cls.settings_model  # type: ignore[attr-defined]
        try:
            settings = validate_section(loaded, path, model, entry)  # type: ignore[arg-type]
        except ConfigError as exc:
            problems.extend(exc.problems)
            return None
        if (
            isinstance(settings, ListenerSettings)
            and settings.controller is not None
            and settings.controller not in controllers
        ):
            problems.append(
                loaded.problem(
                    (*path, "controller"),
                    f"no controller named {settings.controller!r} (have: {', '.join(sorted(controllers))})",
                )
            )
            return None
        return Resolved(cls, settings, path)

    d, dem, des = PluginKind.DRIVER, PluginKind.DEMAND, PluginKind.DESTROY
    driver = one(d, (d.section,), config.driver.type, config.driver)
    demand = [one(dem, (dem.section, i), e.type, e) for i, e in enumerate(config.demand_listeners)]
    destroy = [one(des, (des.section, i), e.type, e) for i, e in enumerate(config.destroy_listeners)]
    if problems or driver is None:
        raise ConfigError(problems)
    return ResolvedPlugins(
        driver,
        tuple(r for r in demand if r is not None),
        tuple(r for r in destroy if r is not None),
    )
