"""``autoscaler``: run the daemon, check a config, and inspect or steer a running daemon."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from autoscaler.cli import tables
from autoscaler.cli.client import ApiClient, ApiError
from autoscaler.config.errors import ConfigError
from autoscaler.config.loader import config_path, load_config
from autoscaler.config.units import parse_duration

CONFIG_HELP = "Config file (default: $AUTOSCALER_CONFIG, else /etc/autoscaler/config.yaml)."
API_HELP = "API URL (default: $AUTOSCALER_API, else the config's api.listen)."


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="jenkins-autoscaler")
def cli() -> None:
    """Give Jenkins exactly the agents its queue asks for, and remove them when their work is done.

    \b
    Daemon:   autoscaler run -c /etc/autoscaler/config.yaml
    Inspect:  autoscaler pools | agents | demand | events
    Steer:    autoscaler hold NAME --reason R --for 2h | release NAME | delete NAME
    Try it:   autoscaler demo
    """


# -- the daemon -------------------------------------------------------------------------------


@cli.command()
@click.option("-c", "--config", "config_file", help=CONFIG_HELP)
@click.option("--once", is_flag=True, help="Adopt, poll demand, plan and act once, then exit.")
@click.option(
    "--dry-run", is_flag=True, help="Plan and log, but launch and retire nothing (placeholder nodes are still created)."
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
def run(config_file: str | None, once: bool, dry_run: bool, log_level: str) -> None:
    """Run the daemon (also installed as ``autoscalerd``)."""
    _setup_logging(log_level)
    log = logging.getLogger("autoscaler")
    path = config_path(config_file)
    try:
        loaded = load_config(path)
        for warning in loaded.warnings:
            log.warning("config: %s", warning)
        from autoscaler.daemon import Daemon

        daemon = Daemon(loaded, dry_run=dry_run, serve_api=not once)
    except ConfigError as exc:
        click.echo(f"autoscaler: invalid config:\n{exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # credentials unreadable, port taken...
        click.echo(f"autoscaler: cannot start: {exc}", err=True)
        sys.exit(2)
    if once:
        daemon.run_once()
        sys.exit(0)
    sys.exit(daemon.run_forever())


def daemon_main() -> None:
    """Entry point of ``autoscalerd`` (= ``autoscaler run``)."""
    run(prog_name="autoscalerd")


# -- config and plugins -----------------------------------------------------------------------


@cli.group()
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


@cli.command()
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


# -- talking to a running daemon ------------------------------------------------------------


def _api_options(fn: Any) -> Any:
    fn = click.option("--api", help=API_HELP)(fn)
    return click.option("-c", "--config", "config_file", help=CONFIG_HELP)(fn)


def _client(api: str | None, config_file: str | None) -> ApiClient:
    return ApiClient.from_options(api, config_file)


def _fetch(api: str | None, config_file: str | None, path: str, **params: Any) -> Any:
    try:
        return _client(api, config_file).get(path, **params)
    except ApiError as exc:
        click.echo(f"autoscaler: {exc}", err=True)
        sys.exit(1)


_OUTPUT = click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)


@cli.command()
@_api_options
@_OUTPUT
def pools(api: str | None, config_file: str | None, output: str) -> None:
    """Per label: demand and agents in each state, min-ready, max, backoff."""
    data = _fetch(api, config_file, "v1/pools")
    click.echo(json.dumps(data, indent=1) if output == "json" else tables.pools_table(data))


@cli.command()
@_api_options
@click.option("--label", help="Only agents of this label.")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json"]), default="table", show_default=True)
def agents(api: str | None, config_file: str | None, label: str | None, output: str) -> None:
    """Every agent: name, label, state, age, time in state, build."""
    params = {"label": label} if label else {}
    data = _fetch(api, config_file, "v1/agents", **params)
    if output == "json":
        click.echo(json.dumps(data, indent=1))
    elif not data:
        click.echo("no agents")
    else:
        click.echo(tables.agents_table(data, wide=output == "wide"))


@cli.command()
@_api_options
@_OUTPUT
def demand(api: str | None, config_file: str | None, output: str) -> None:
    """Queued work per label, per listener, and work no label serves."""
    data = _fetch(api, config_file, "v1/demand")
    click.echo(json.dumps(data, indent=1) if output == "json" else tables.demand_table(data))


@cli.command()
@_api_options
@_OUTPUT
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 500))
def events(api: str | None, config_file: str | None, output: str, limit: int) -> None:
    """Recent agent lifecycle events."""
    data = _fetch(api, config_file, "v1/events", limit=limit)
    click.echo(json.dumps(data, indent=1) if output == "json" else tables.events_table(data))


def _mutate(api: str | None, config_file: str | None, name: str, op: str, body: dict[str, Any]) -> None:
    try:
        row = _client(api, config_file).post(f"v1/agents/{name}/{op}", body)
    except ApiError as exc:
        click.echo(f"autoscaler: {op} {name}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{row['name']}: {row['state']}" + (f" ({row['comment']})" if row.get("comment") else ""))


@cli.command()
@_api_options
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
    _mutate(api, config_file, name, "hold", {"reason": reason, "seconds": seconds})


@cli.command()
@_api_options
@click.argument("name")
def release(api: str | None, config_file: str | None, name: str) -> None:
    """Release a held agent back to normal planning."""
    _mutate(api, config_file, name, "release", {})


@cli.command()
@_api_options
@click.argument("name")
@click.option("--now", is_flag=True, help="Retire even while a build runs on it.")
def delete(api: str | None, config_file: str | None, name: str, now: bool) -> None:
    """Retire agent NAME (after its current build, unless --now)."""
    _mutate(api, config_file, name, "delete", {"now": now})


# -- demo -------------------------------------------------------------------------------------


@cli.command()
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


def main() -> None:
    cli(prog_name="autoscaler")


if __name__ == "__main__":
    main()
