"""``autoscaler run`` (also installed as ``autoscalerd``)."""

from __future__ import annotations

import logging
import sys

import click

from autoscaler.cli.common import CONFIG_HELP, setup_logging
from autoscaler.config.errors import ConfigError
from autoscaler.config.loader import config_path, load_config
from autoscaler.standby import NotActive


@click.command()
@click.option("-c", "--config", "config_file", help=CONFIG_HELP)
@click.option("--once", is_flag=True, help="Adopt, poll demand, plan and act once, then exit.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Plan and log, but launch and retire nothing (placeholder nodes are still created); "
    "with --once, print the plan: per label demand, agents, launches and what holds it back.",
)
@click.option(
    "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
)
def run(config_file: str | None, once: bool, dry_run: bool, log_level: str) -> None:
    """Run the daemon (also installed as ``autoscalerd``)."""
    setup_logging(log_level)
    log = logging.getLogger("autoscaler")
    path = config_path(config_file)
    try:
        loaded = load_config(path)
        for warning in loaded.warnings:
            log.warning("config: %s", warning)
        if once and not dry_run and loaded.config.daemon.leader_election.enabled:
            click.echo(
                "autoscaler: --once would act outside leader election (daemon.leader-election is enabled: "
                "only the elected replica launches and retires); use --once --dry-run to see the plan",
                err=True,
            )
            sys.exit(2)
        from autoscaler.daemon import Daemon
        from autoscaler.standby import become_active

        if not dry_run:  # one active daemon per identity on this host: others stand by
            become_active(loaded, wait=not once)  # the lock is held until the process ends
        daemon = Daemon(loaded, dry_run=dry_run, serve_api=not once)
    except ConfigError as exc:
        click.echo(f"autoscaler: invalid config:\n{exc}", err=True)
        sys.exit(2)
    except NotActive as exc:  # stopped while standing by, or --once while another daemon is active
        click.echo(f"autoscaler: {exc}", err=True)
        sys.exit(exc.code)
    except Exception as exc:  # credentials unreadable, port taken...
        click.echo(f"autoscaler: cannot start: {exc}", err=True)
        sys.exit(2)
    if once:
        unreachable = daemon.run_once()
        if dry_run:  # the plan on stdout; the log (stderr) has each "would launch/retire"
            from autoscaler.cli.dry_run import plan_rows, plan_text

            engine = daemon.engine
            click.echo(plan_text(plan_rows(engine.state, engine.config, engine.now())))
        for what in unreachable:  # the exit code tells a script (or ExecStartPre) that the pass was blind
            click.echo(f"autoscaler: cannot reach {what}", err=True)
        sys.exit(1 if unreachable else 0)
    sys.exit(daemon.run_forever())


def daemon_main() -> None:
    """Entry point of ``autoscalerd`` (= ``autoscaler run``)."""
    run(prog_name="autoscalerd")
