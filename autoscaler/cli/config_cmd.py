"""``autoscaler config validate|reference`` and ``autoscaler plugins``."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from autoscaler.cli import tables
from autoscaler.cli.common import CONFIG_HELP
from autoscaler.config.errors import ConfigError, Problem
from autoscaler.config.loader import LoadedConfig, config_path

if TYPE_CHECKING:
    from autoscaler.assembly import Resolved
    from autoscaler.discovery import Registry


@click.group()
def config() -> None:
    """Check a config file, or print the config reference."""


@config.command("validate")
@click.option("-c", "--config", "config_file", help=CONFIG_HELP)
def config_validate(config_file: str | None) -> None:
    """Print OK, or every problem with its file, line and key (exit 1): the core sections, every
    plugin section, and what 'run' needs of this machine (token files readable, work
    directories writable, plugins installed once)."""
    from autoscaler.discovery import Registry

    path = config_path(config_file)
    registry = Registry.discover()
    loaded, problems, warnings = _check(path, registry)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if problems or loaded is None:
        for problem in sorted(problems, key=lambda p: p.line or 0):
            click.echo(f"error: {problem}", err=True)
        click.echo(f"{path}: {tables.plural(len(problems), 'problem')}", err=True)
        sys.exit(1)
    config = loaded.config
    click.echo(
        f"{path}: OK ({tables.plural(len(config.labels), 'label')}, "
        f"{tables.plural(len(config.controllers), 'controller')}{', KubeStack format' if loaded.legacy else ''})"
    )


def _check(path: str, registry: Registry) -> tuple[LoadedConfig | None, list[Problem], list[Problem]]:
    """(the config if its core is valid, every problem, every warning)."""
    from autoscaler.assembly import resolve_draft
    from autoscaler.config.checks import runtime_problems, visibility_warnings
    from autoscaler.config.loader import read_draft, read_text, validate_draft
    from autoscaler.discovery import ambiguity

    try:
        draft = read_draft(read_text(path), path)
    except ConfigError as exc:
        return None, exc.problems, []
    problems: list[Problem] = []
    loaded: LoadedConfig | None = None
    try:
        loaded = validate_draft(draft)
    except ConfigError as exc:
        problems += exc.problems
    resolved, plugin_problems = resolve_draft(draft, registry)
    problems += plugin_problems
    warnings = list(draft.warnings)
    used = {(r.path[0], getattr(r.settings, "type", None)) for r in resolved}
    for same in registry.duplicates():
        if (same[0].kind.section, same[0].name) not in used:
            warnings.append(
                Problem(path, None, "", f"installed {same[0].kind.word} {same[0].name!r}: {ambiguity(same)}")
            )
    if loaded is not None:
        problems += runtime_problems(loaded, resolved)
        local = loaded.config.driver.type == "local"
        (problems if local else warnings).extend(_credential_problems(loaded, token_needed=local))
        warnings += visibility_warnings(loaded, _Demand(tuple(r for r in resolved if r.path[0] == "demand-listeners")))
    return loaded, problems, warnings


def _credential_problems(loaded: LoadedConfig, *, token_needed: bool) -> list[Problem]:
    """What ``run`` refuses (local driver) or warns of (Kubernetes): swarm agents without a
    credential of their own, at the controller's line."""
    from autoscaler.agent_env import agent_credential_problems

    out = []
    for message in agent_credential_problems(loaded.config, token_needed=token_needed):
        index = next(
            i for i, c in enumerate(loaded.config.controllers) if message.startswith(f"controller {c.name!r}:")
        )
        out.append(loaded.problem(("controllers", index), message))
    return out


@dataclass(frozen=True)
class _Demand:
    demand: tuple[Resolved, ...]


@config.command("reference")
def config_reference() -> None:
    """Print the Markdown reference of every config key (core and installed plugins)."""
    from autoscaler.config.reference import reference
    from autoscaler.discovery import Registry

    plugins = [
        (_KIND_TITLE[p.kind], p.name, p.cls.settings_model)  # type: ignore[attr-defined]
        for p in Registry.discover().plugins
        # the KubeStack alias and the plugin guide's example are not part of the reference
        if p.cls is not None and p.name != "jenkins_queue" and p.distribution != "jenkins-autoscaler-example"
    ]
    click.echo(reference(plugins), nl=False)


_KIND_TITLE = {"demand": "Demand listener", "destroy": "Destroy listener", "driver": "Driver"}


@click.command()
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def plugins(output: str) -> None:
    """List installed plugins: kind, type name, distribution, version, status."""
    from autoscaler.discovery import Registry

    registry = Registry.discover()
    found = registry.plugins
    if output == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "kind": p.kind,
                        "type": p.name,
                        "target": p.target,
                        "distribution": p.distribution,
                        "version": p.version,
                        "error": p.error,
                    }
                    for p in found
                ],
                indent=1,
            )
        )
        return
    from autoscaler.discovery import ambiguity

    dup = {(i.kind, i.name) for same in registry.duplicates() for i in same}
    rows = [(p.kind, p.name, p.distribution, p.version, _status(p.error, (p.kind, p.name) in dup)) for p in found]
    click.echo(tables.table(("KIND", "TYPE", "DISTRIBUTION", "VERSION", "STATUS"), rows))
    for p in found:
        if p.error is not None:
            click.echo(f"\n{p.kind} {p.name!r} ({p.target}) cannot be used: {p.error}")
    for same in registry.duplicates():
        click.echo(f"\n{same[0].kind} {same[0].name!r} is ambiguous: {ambiguity(same)}")


def _status(error: str | None, duplicate: bool) -> str:
    if duplicate:
        return "DUPLICATE"
    return "ok" if error is None else "BROKEN"
