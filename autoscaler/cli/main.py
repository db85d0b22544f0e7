"""``autoscaler``: run the daemon, check a config, and inspect or steer a running daemon."""

from __future__ import annotations

import click

from autoscaler.cli import config_cmd, demo_cmd, inspect_cmd, render_cmd, run_cmd, steer_cmd, usage_cmd, why_cmd
from autoscaler.cli.common import CONFIG_HELP, plain_help, setup_logging

__all__ = ["CONFIG_HELP", "cli", "daemon_main", "main", "setup_logging"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="jenkins-autoscaler")
def cli() -> None:
    """Give Jenkins exactly the agents its queue asks for, and remove them when their work is done.

    \b
    Daemon:   autoscaler run -c /etc/autoscaler/config.yaml
    Inspect:  autoscaler pools | agents | demand | events | why JOB|QUEUE-ID
    Steer:    autoscaler hold NAME --reason R --for 2h | release NAME | delete NAME
    Try it:   autoscaler demo

    \b
    Environment: AUTOSCALER_CONFIG (config file), AUTOSCALER_API (the daemon's API),
    AUTOSCALER_API_TOKEN (bearer token for the API; else the config's api.token-file)
    """


for _command in (
    run_cmd.run,
    config_cmd.config,
    config_cmd.plugins,
    inspect_cmd.pools,
    inspect_cmd.agents,
    inspect_cmd.demand,
    inspect_cmd.events,
    steer_cmd.hold,
    steer_cmd.release,
    steer_cmd.delete,
    demo_cmd.demo,
    why_cmd.why,
    usage_cmd.usage,
):
    cli.add_command(_command)
config_cmd.config.add_command(render_cmd.render)  # autoscaler config render LABEL
plain_help(cli)  # docstrings' ``x`` read 'x' in --help (autoscalerd too: it is run_cmd.run)

daemon_main = run_cmd.daemon_main


def main() -> None:
    cli(prog_name="autoscaler")


if __name__ == "__main__":
    main()
