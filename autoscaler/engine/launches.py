"""A launch on the books: a name, the agent record, the queue item it serves, and what the
catch-all label's free agents can take."""

from __future__ import annotations

import secrets

from autoscaler.config.models import Config, ControllerConfig, LabelConfig
from autoscaler.engine import phases
from autoscaler.engine.cleanup import NAME_CHARS
from autoscaler.engine.demand import Match, match_free_agents
from autoscaler.engine.runtime import Now, RuntimeState
from autoscaler.engine.state import SUPPLY, Agent, AgentState


def new_agent(
    rt: RuntimeState, config: Config, lab: LabelConfig, now: Now
) -> tuple[Agent, LabelConfig, ControllerConfig]:
    """Record a launch of ``lab``. Returns the agent, the label to launch it with (a catch-all
    agent also carries the labels its build asked for) and its controller."""
    controller = config.controller_of(lab)
    agent = Agent(new_name(rt, config, lab), lab.name, controller.name, AgentState.REQUESTED, now.mono, now.mono)
    agent.comment = "launch requested"
    rt.agents[agent.name] = agent
    rt.stats.launched[lab.name] += 1
    lab, latency = rt.demand.launch_label(lab, now.wall)
    if lab.catch_all:
        agent.atoms = lab.all_atoms
    if latency is not None:
        rt.stats.queue_to_launch.append(latency)
        rt.stats.metrics.queue_to_launch.observe(latency)
    phases.requested(rt, agent, latency)
    rt.record("requested", agent, "launch requested", now.wall)
    return agent, lab, controller


def new_name(rt: RuntimeState, config: Config, lab: LabelConfig) -> str:
    while True:
        suffix = "".join(secrets.choice(NAME_CHARS) for _ in range(6))
        name = f"{config.daemon.name_prefix}-{lab.slug}-{suffix}"
        if name not in rt.agents:
            return name


def catch_all_match(rt: RuntimeState, config: Config) -> Match | None:
    """Builds waiting for the catch-all label against its free agents (by the labels each carries)."""
    catch = config.catch_all
    if catch is None:
        return None
    free = {
        a.name: a.atoms or catch.all_atoms for a in rt.agents.values() if a.label == catch.name and a.state in SUPPLY
    }
    return match_free_agents(rt.demand.catch_all_wants(), free)
