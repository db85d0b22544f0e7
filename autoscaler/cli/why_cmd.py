"""``autoscaler why JOB|QUEUE-ID``: why one queued build is still waiting, in plain words."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from autoscaler.cli.client import ApiError
from autoscaler.cli.common import api_options, client
from autoscaler.config.units import format_duration
from autoscaler.engine.reasons import matches, not_queued


@click.command()
@api_options
@click.argument("build")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def why(api: str | None, config_file: str | None, build: str, output: str) -> None:
    """Why is BUILD still waiting? BUILD: a job name, a queue id (17), or CONTROLLER:ID (main:17).

    \b
    Names the label that serves it (or that none does) and what it waits for now: an agent
    launched for it and where that agent is, a limit (the label's max, max-agents, the launch
    rate), a backoff after failures, Jenkins itself (quiet period, blocked), or unknown demand.
    Exits 1 when the daemon cannot be asked."""
    try:
        data = ask(api, config_file, build)
    except ApiError as exc:
        click.echo(f"autoscaler: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(data, indent=1) if output == "json" else render(data))


def ask(api: str | None, config_file: str | None, build: str) -> dict[str, Any]:
    """``GET /v1/why?q=BUILD``; a daemon without that route is answered from ``/v1/demand``."""
    api_client = client(api, config_file)
    try:
        result: dict[str, Any] = api_client.get("v1/why", q=build)
        return result
    except ApiError as exc:
        if not str(exc).startswith("404"):
            raise
    demand = api_client.get("v1/demand")
    items = [i for i in demand.get("items", []) if matches(build, i["key"], i["what"])]
    errors = [f"listener {d['listener']}: {d['error']}" for d in demand.get("listeners", []) if d.get("error")]
    if not items:
        items = [{"key": None, "what": build, "reason": not_queued(build, errors).as_dict()}]
    return {"query": build, "items": items, "errors": errors}


def render(data: dict[str, Any]) -> str:
    lines = []
    for item in data["items"]:
        reason = item["reason"]
        if item.get("key") is None:
            lines.append(f"{item['what']}: {reason['text']}  [{reason['kind']}]")
            continue
        head = f"{item['key']} ({item['what']})"
        facts = [f"queued on {item['controller']}"] if item.get("controller") else []
        if item.get("waiting_seconds") is not None:
            facts.append(f"queued {format_duration(item['waiting_seconds'])} ago")
        if item.get("wants"):
            facts.append(f"wants `{item['wants']}`")
        if item.get("label"):
            facts.append(f"served by label {item['label']}")
        lines.append(head + (": " + ", ".join(facts) if facts else ""))
        lines.append(f"  waits for: {reason['text']}  [{reason['kind']}]")
        if reason.get("until"):
            lines.append(f"  until: {reason['until']}")
    return "\n".join(lines)
