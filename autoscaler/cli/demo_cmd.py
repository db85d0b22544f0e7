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
def demo(jobs: int, build_seconds: float, live: bool | None, timeout: float) -> None:
    """Run the whole loop on this machine: a simulated Jenkins, the real daemon with the local
    driver, simulated swarm agents and ZMQ build events, then print a summary."""
    from autoscaler.demo import run_demo

    ok = run_demo(
        jobs=jobs, build_seconds=build_seconds, live=sys.stdout.isatty() if live is None else live, timeout=timeout
    )
    sys.exit(0 if ok else 1)
