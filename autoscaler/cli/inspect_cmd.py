"""Read-only commands against a running daemon: pools, agents, demand, events."""

from __future__ import annotations

import json
from typing import Any

import click

from autoscaler.cli import tables
from autoscaler.cli.common import OUTPUT, WATCH, api_options, fetch
from autoscaler.cli.common import watch as repeat
from autoscaler.config.units import format_duration


@click.command()
@api_options
@OUTPUT
@WATCH
def pools(api: str | None, config_file: str | None, output: str, watch: float | None) -> None:
    """Per label: demand and agents in each state, min-ready, max, backoff."""

    def render() -> str:
        data = fetch(api, config_file, "v1/pools")
        return json.dumps(data, indent=1) if output == "json" else tables.pools_table(data)

    repeat(watch, render)


@click.command()
@api_options
@click.option("--label", help="Only agents of this label.")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json"]), default="table", show_default=True)
@WATCH
def agents(api: str | None, config_file: str | None, label: str | None, output: str, watch: float | None) -> None:
    """Every agent: name, label, state, age, time in state, build."""
    params = {"label": label} if label else {}

    def render() -> str:
        data = fetch(api, config_file, "v1/agents", **params)
        if output == "json":
            return json.dumps(data, indent=1)
        return tables.agents_table(data, wide=output == "wide") if data else "no agents"

    repeat(watch, render)


@click.command()
@api_options
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json"]), default="table", show_default=True)
def demand(api: str | None, config_file: str | None, output: str) -> None:
    """Queued work per label, per listener, and work no label serves; ``-o wide`` adds every
    queued build with what it waits for (see also ``autoscaler why``)."""
    data = fetch(api, config_file, "v1/demand")
    if output == "json":
        click.echo(json.dumps(data, indent=1))
        return
    click.echo(tables.demand_table(data))
    if output == "wide":
        click.echo("")
        click.echo(waiting_table(data["items"]) if data["items"] else "no queued builds")


def waiting_table(items: list[dict[str, Any]]) -> str:
    """One row per queued build: what it waits for (``kind``) and why, in words."""
    rows = []
    for i in sorted(items, key=lambda i: -(i.get("waiting_seconds") or 0)):
        reason = i.get("reason") or {}
        waited = i.get("waiting_seconds")
        rows.append(
            (
                i["key"],
                i["what"],
                i["label"] or "-",
                "" if waited is None else format_duration(waited),
                reason.get("kind", "?"),
                reason.get("text", ""),
            )
        )
    return tables.table(("KEY", "WHAT", "LABEL", "WAITING", "KIND", "REASON"), rows, max_width=160, shrink=5)


@click.command()
@api_options
@OUTPUT
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 500))
def events(api: str | None, config_file: str | None, output: str, limit: int) -> None:
    """Recent agent lifecycle events."""
    data = fetch(api, config_file, "v1/events", limit=limit)
    click.echo(json.dumps(data, indent=1) if output == "json" else tables.events_table(data))
