"""``autoscaler config render LABEL``: what an agent of a label would run, for review, offline."""

from __future__ import annotations

import json
import sys

import click

from autoscaler.cli.common import CONFIG_HELP


@click.command("render")
@click.argument("label")
@click.option("-c", "--config", "config_file", help=CONFIG_HELP)
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--name", help="Agent name to render (default: <name-prefix>-<label>-xxxxxx).")
def render(label: str, config_file: str | None, output: str, name: str | None) -> None:
    """Print what an agent of LABEL would run, exactly as the driver builds it: the pod manifest
    (kubernetes driver) or the command line, working directory and environment (local driver),
    every secret shown as ***. Contacts neither Jenkins nor the cluster; reads KubeStack configs too."""
    import yaml

    from autoscaler.assembly import resolve_plugins
    from autoscaler.config.errors import ConfigError
    from autoscaler.config.loader import config_path, load_config
    from autoscaler.discovery import Registry
    from autoscaler.render import RenderError, render_agent

    path = config_path(config_file)
    try:
        loaded = load_config(path)
        plugins = resolve_plugins(loaded, Registry.discover())
        document, warnings = render_agent(
            loaded.config, loaded.config.driver.type, plugins.driver.settings, label, name
        )
    except (ConfigError, RenderError) as exc:
        click.echo(f"autoscaler: {exc}", err=True)
        sys.exit(1)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if output == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False).rstrip())
