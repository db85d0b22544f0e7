"""Commands that steer one agent of a running daemon: hold, release, delete."""

from __future__ import annotations

import click

from autoscaler.cli.common import api_options, mutate
from autoscaler.config.units import parse_duration


@click.command()
@api_options
@click.argument("name")
@click.option("--reason", default="", help="Why it is held (shown in 'agents -o wide').")
@click.option("--for", "duration", default=None, help="Release automatically after this long (2h, 30m).")
def hold(api: str | None, config_file: str | None, name: str, reason: str, duration: str | None) -> None:
    """Keep agent NAME as it is (for debugging) until released or the hold expires."""
    seconds = None
    if duration is not None:
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--for") from None
    mutate(api, config_file, name, "hold", {"reason": reason, "seconds": seconds})


@click.command()
@api_options
@click.argument("name")
def release(api: str | None, config_file: str | None, name: str) -> None:
    """Release a held agent back to normal planning."""
    mutate(api, config_file, name, "release", {})


@click.command()
@api_options
@click.argument("name")
@click.option("--now", is_flag=True, help="Retire even while a build runs on it.")
def delete(api: str | None, config_file: str | None, name: str, now: bool) -> None:
    """Retire agent NAME (after its current build, unless --now)."""
    mutate(api, config_file, name, "delete", {"now": now})
