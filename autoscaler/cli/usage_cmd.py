"""``autoscaler usage``: per label over a window, what the agents cost and how they were used."""

from __future__ import annotations

import json
from typing import Any

import click

from autoscaler.cli import tables
from autoscaler.cli.common import api_options, fetch
from autoscaler.config.units import format_duration, parse_duration
from autoscaler.metrics.startup import breakdown_rows

HEADERS = ("LABEL", "LAUNCHED", "AGENT-HOURS", "BUSY", "WAIT-P50", "WAIT-P95", "FAILURES")


def _since(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds <= 0:
        raise click.BadParameter(f"expected a positive duration like 30m, 24h or 7d, got {value!r}")
    return seconds


@click.command()
@api_options
@click.option(
    "--since",
    default="24h",
    show_default=True,
    callback=_since,
    help="How far back to look (up to 7d; agents gone longer ago are forgotten).",
)
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def usage(api: str | None, config_file: str | None, since: float, output: str) -> None:
    """Per label: agents launched, agent-hours, busy share, queue wait p50/p95, failures.

    Busy share is busy time over all time agents spent booting, idle or busy: the label's
    utilization. Queue wait: how long the builds agents were launched for had waited."""
    data = fetch(api, config_file, "v1/usage", since=since)
    if output == "json":
        click.echo(json.dumps(data, indent=1))
        return
    click.echo(usage_table(data))


def usage_table(data: dict[str, Any]) -> str:
    rows = [
        (
            row["label"],
            row["launched"],
            f"{row['agent_hours']:.2f}",
            "-" if row["busy_share"] is None else f"{row['busy_share'] * 100:.0f}%",
            _wait(row["queue_wait_p50"]),
            _wait(row["queue_wait_p95"]),
            row["failures"],
        )
        for row in data["labels"]
    ]
    title = f"last {_window(data['since_seconds'])}"
    out = title + "\n" + tables.table(HEADERS, rows)
    phases = breakdown_rows(data.get("startup") or {})
    if phases:
        cells = [(phase, _wait(p50), _wait(p95), n) for phase, p50, p95, n in phases]
        out += "\n\nstart-up by phase (each: seconds since the phase before)\n"
        out += tables.table(("PHASE", "P50", "P95", "AGENTS"), cells)
    return out


def _window(seconds: float) -> str:
    """``24h``, ``7d``, ``90m``: the window as it was likely asked for."""
    for unit, size, least in (("d", 86400, 2), ("h", 3600, 1), ("m", 60, 1)):
        if seconds >= least * size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return format_duration(seconds)


def _wait(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 60 else format_duration(seconds)
