"""``autoscaler demo``: the whole loop on this machine."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--jobs", default=36, show_default=True, type=click.IntRange(1, 1000), help="How many builds to queue.")
@click.option(
    "--build-seconds",
    default=1.5,
    show_default=True,
    type=click.FloatRange(0.1, 60),
    help="How long each simulated build runs.",
)
@click.option("--live/--no-live", default=None, help="Redraw a live view (default: on a terminal).")
@click.option("--timeout", default=240.0, show_default=True, help="Give up after this many seconds.")
@click.option(
    "--api",
    metavar="HOST:PORT",
    help="Serve the API (and the status page) over TCP here, e.g. 127.0.0.1:8780 (default: a free port).",
)
@click.option("--keep-running", is_flag=True, help="After the summary, keep serving until Ctrl-C (for the CLI tour).")
@click.option(
    "--log-level",
    default="error",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Log lines shown; at 'error' only the daemon's errors (no library's).",
)
@click.option("--unservable", is_flag=True, hidden=True, help="Also queue a build no label serves (a failing demo).")
def demo(
    jobs: int,
    build_seconds: float,
    live: bool | None,
    timeout: float,
    api: str | None,
    keep_running: bool,
    log_level: str,
    unservable: bool,
) -> None:
    """Run the whole loop on this machine: a simulated Jenkins, the real daemon with the local
    driver, simulated swarm agents and ZMQ build events, then print a summary. It stops as soon
    as nothing can progress, naming the builds left unfinished."""
    from autoscaler.demo import DemoOptions, run_demo

    options = DemoOptions(
        jobs=jobs,
        build_seconds=build_seconds,
        live=sys.stdout.isatty() if live is None else live,
        timeout=timeout,
        api=api,
        keep_running=keep_running,
        unservable=unservable,
        log_level=log_level,
    )
    sys.exit(0 if run_demo(options) else 1)
