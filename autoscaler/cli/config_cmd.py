"""``autoscaler config validate|reference`` and ``autoscaler plugins``."""

from __future__ import annotations

import json
import sys

import click

from autoscaler.cli import tables
from autoscaler.cli.common import CONFIG_HELP
from autoscaler.config.errors import ConfigError
from autoscaler.config.loader import config_path, load_config


@click.group()
def config() -> None:
    """Check a config file, or print the config reference."""


@config.command("validate")
@click.option("-c", "--config", "config_file", help=CONFIG_HELP)
def config_validate(config_file: str | None) -> None:
    """Print OK, or every problem with its file, line and key (exit 1)."""
    from autoscaler.assembly import resolve_plugins
    from autoscaler.config.checks import visibility_warnings
    from autoscaler.discovery import Registry

    path = config_path(config_file)
    try:
        loaded = load_config(path)
        plugins = resolve_plugins(loaded, Registry.discover())
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        click.echo(f"{path}: {len(exc.problems)} problem(s)", err=True)
        sys.exit(1)
    for warning in [*loaded.warnings, *visibility_warnings(loaded, plugins)]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{path}: OK ({len(loaded.config.labels)} labels, {len(loaded.config.controllers)} "
        f"controllers{', KubeStack format' if loaded.legacy else ''})"
    )


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

    found = Registry.discover().plugins
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
    rows = [(p.kind, p.name, p.distribution, p.version, "ok" if p.error is None else "BROKEN") for p in found]
    click.echo(tables.table(("KIND", "TYPE", "DISTRIBUTION", "VERSION", "STATUS"), rows))
    for p in found:
        if p.error is not None:
            click.echo(f"\n{p.kind} {p.name!r} ({p.target}) cannot be used: {p.error}")
