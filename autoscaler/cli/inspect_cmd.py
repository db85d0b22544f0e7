"""Read-only commands against a running daemon: pools, agents, demand, events."""

from __future__ import annotations

import json

import click

from autoscaler.cli import tables
from autoscaler.cli.common import OUTPUT, api_options, fetch


@click.command()
@api_options
@OUTPUT
def pools(api: str | None, config_file: str | None, output: str) -> None:
    """Per label: demand and agents in each state, min-ready, max, backoff."""
    data = fetch(api, config_file, "v1/pools")
    click.echo(json.dumps(data, indent=1) if output == "json" else tables.pools_table(data))


@click.command()
@api_options
@click.option("--label", help="Only agents of this label.")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json"]), default="table", show_default=True)
def agents(api: str | None, config_file: str | None, label: str | None, output: str) -> None:
    """Every agent: name, label, state, age, time in state, build."""
    params = {"label": label} if label else {}
    data = fetch(api, config_file, "v1/agents", **params)
    if output == "json":
        click.echo(json.dumps(data, indent=1))
    elif not data:
        click.echo("no agents")
    else:
        click.echo(tables.agents_table(data, wide=output == "wide"))


@click.command()
@api_options
@OUTPUT
def demand(api: str | None, config_file: str | None, output: str) -> None:
    """Queued work per label, per listener, and work no label serves."""
    data = fetch(api, config_file, "v1/demand")
    click.echo(json.dumps(data, indent=1) if output == "json" else tables.demand_table(data))


@click.command()
@api_options
@OUTPUT
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 500))
def events(api: str | None, config_file: str | None, output: str, limit: int) -> None:
    """Recent agent lifecycle events."""
    data = fetch(api, config_file, "v1/events", limit=limit)
    click.echo(json.dumps(data, indent=1) if output == "json" else tables.events_table(data))
