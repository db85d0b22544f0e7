"""Find plugins through entry points. A plugin that fails to import is reported, not fatal."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import metadata

from autoscaler.plugin import PluginKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PluginInfo:
    kind: PluginKind
    name: str
    """Entry-point name = the ``type:`` in the config."""
    target: str
    """``module:Class``."""
    distribution: str
    version: str
    cls: type | None
    error: str | None


class PluginNotFound(LookupError):
    pass


class Registry:
    """Every installed plugin, loaded once."""

    def __init__(self, plugins: list[PluginInfo]) -> None:
        self.plugins = plugins

    @classmethod
    def discover(cls) -> Registry:
        found: list[PluginInfo] = []
        for kind in PluginKind:
            for ep in sorted(metadata.entry_points(group=kind.group), key=lambda e: e.name):
                found.append(_load(kind, ep))
        return cls(found)

    def find(self, kind: PluginKind | str, name: str) -> type:
        """The plugin class, or :class:`PluginNotFound` saying what is installed or what broke."""
        kind = PluginKind(kind)
        same = [i for i in self.plugins if i.kind == kind and i.name == name]
        if len(same) > 1:
            raise PluginNotFound(f"{kind.word} {name!r} is ambiguous: {ambiguity(same)}")
        for info in same:
            if info.kind == kind and info.name == name:
                if info.cls is None:
                    raise PluginNotFound(f"{kind.word} {name!r} failed to load: {info.error}")
                return info.cls
        have = sorted(i.name for i in self.plugins if i.kind == kind and i.cls is not None)
        raise PluginNotFound(
            f"no {kind.word} named {name!r} is installed "
            f"(installed: {', '.join(have) or 'none'}; see 'autoscaler plugins')"
        )

    def duplicates(self) -> list[list[PluginInfo]]:
        """Groups of plugins of one kind that share a type name (which one a config gets would
        depend on the install order)."""
        groups: dict[tuple[PluginKind, str], list[PluginInfo]] = {}
        for info in self.plugins:
            groups.setdefault((info.kind, info.name), []).append(info)
        return [g for g in groups.values() if len(g) > 1]


def ambiguity(same: list[PluginInfo]) -> str:
    """``provided by both X 1.0 (mod:Cls) and Y 0.1 (mod:Cls); uninstall one ...``"""
    who = " and ".join(f"{i.distribution} {i.version} ({i.target})" for i in same)
    return f"provided by both {who}; uninstall one, or give one plugin another type name"


def _load(kind: PluginKind, ep: metadata.EntryPoint) -> PluginInfo:
    dist = ep.dist
    dist_name = dist.metadata["Name"] if dist is not None else "?"
    version = dist.version if dist is not None else "?"
    try:
        cls = ep.load()
    except Exception as exc:  # any import-time failure of a third-party plugin
        log.error("plugin %s %r (%s) failed to import: %s", kind, ep.name, ep.value, exc)
        return PluginInfo(kind, ep.name, ep.value, dist_name, version, None, f"{type(exc).__name__}: {exc}")
    base = kind.base
    if not (isinstance(cls, type) and issubclass(cls, base)):
        error = f"{ep.value} is not a subclass of autoscaler.{base.__name__}"
        log.error("plugin %s %r: %s", kind, ep.name, error)
        return PluginInfo(kind, ep.name, ep.value, dist_name, version, None, error)
    return PluginInfo(kind, ep.name, ep.value, dist_name, version, cls, None)
