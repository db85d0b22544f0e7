"""Options and helpers shared by the CLI's commands."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from autoscaler.cli.client import ApiClient, ApiError

CONFIG_HELP = "Config file (default: $AUTOSCALER_CONFIG, else /etc/autoscaler/config.yaml)."
API_HELP = (
    "API address, unix:///path/api.sock or http://host:port (default: $AUTOSCALER_API, else the config's"
    " api.socket, /run/autoscaler/api.sock unless only api.listen is set). The bearer token (needed for"
    " changes over TCP): $AUTOSCALER_API_TOKEN, else the config's api.token-file."
)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def api_options(fn: Any) -> Any:
    fn = click.option("--api", help=API_HELP)(fn)
    return click.option("-c", "--config", "config_file", help=CONFIG_HELP)(fn)


def client(api: str | None, config_file: str | None) -> ApiClient:
    return ApiClient.from_options(api, config_file)


def fetch(api: str | None, config_file: str | None, path: str, **params: Any) -> Any:
    try:
        return client(api, config_file).get(path, **params)
    except ApiError as exc:
        click.echo(f"autoscaler: {exc}", err=True)
        sys.exit(1)


OUTPUT = click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)


def mutate(api: str | None, config_file: str | None, name: str, op: str, body: dict[str, Any]) -> None:
    try:
        row = client(api, config_file).post(f"v1/agents/{name}/{op}", body)
    except ApiError as exc:
        click.echo(f"autoscaler: {op} {name}: {exc}", err=True)
        sys.exit(1)
    from autoscaler.cli.tables import detail

    comment = detail(row["state"], row.get("comment"))
    click.echo(f"{row['name']}: {row['state']}" + (f" ({comment})" if comment else ""))


WATCH = click.option(
    "-w",
    "--watch",
    type=click.FloatRange(0.1, 3600),
    is_flag=False,
    flag_value=2.0,
    default=None,
    metavar="[SECONDS]",
    help="Redraw every SECONDS (2 if not given) until Ctrl-C.",
)


def watch(seconds: float | None, render: Callable[[], str]) -> None:
    """Print ``render()`` once, or with ``--watch`` every ``seconds`` (clearing a terminal
    between frames, separating them with a time stamp otherwise) until interrupted."""
    if seconds is None:
        click.echo(render())
        return
    tty = sys.stdout.isatty()
    try:
        while True:
            frame = f"every {seconds:g}s  {time.strftime('%H:%M:%S')}\n{render()}"
            click.echo(("\x1b[H\x1b[2J" if tty else "") + frame + ("" if tty else "\n"), nl=True)
            time.sleep(seconds)
    except KeyboardInterrupt:
        return


def plain_help(command: click.Command) -> None:
    """Help texts come from docstrings written in reStructuredText; on a terminal ````x```` reads
    as 'x'. Applied to a command and every subcommand."""
    if command.help:
        command.help = command.help.replace("``", "'")
    if command.short_help:
        command.short_help = command.short_help.replace("``", "'")
    for param in command.params:
        if isinstance(param, click.Option) and param.help:
            param.help = param.help.replace("``", "'")
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            plain_help(sub)
