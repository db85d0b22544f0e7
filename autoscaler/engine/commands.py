"""The operator's commands on one agent (``hold``, ``release``, ``delete``): each updates the
state and returns its effects, or raises a typed error the API maps to a status code."""

from __future__ import annotations

from typing import Any

from autoscaler.engine.effects import Effect, MarkHold, StartRetire
from autoscaler.engine.errors import AgentNotFound, InvalidState, UnknownCommand
from autoscaler.engine.lifecycle import release
from autoscaler.engine.runtime import Now, RuntimeState
from autoscaler.engine.state import Agent, AgentState

COMMANDS = ("hold", "release", "delete")


def run_command(rt: RuntimeState, op: str, args: dict[str, Any], now: Now) -> tuple[Agent, list[Effect]]:
    if op not in COMMANDS:
        raise UnknownCommand(f"unknown command {op!r}")
    name = str(args.get("name"))
    agent = rt.agents.get(name)
    if agent is None:
        raise AgentNotFound(name)
    if op == "hold":
        return agent, hold(rt, agent, args, now)
    if op == "release":
        if agent.state != AgentState.HELD:
            raise InvalidState(f"{agent.name} is not held")
        return agent, release(rt, agent, now, "released")
    return agent, delete(rt, agent, bool(args.get("now")), now)


def hold(rt: RuntimeState, agent: Agent, args: dict[str, Any], now: Now) -> list[Effect]:
    if agent.state == AgentState.RETIRING:
        raise InvalidState(f"{agent.name} is already retiring")
    if agent.state != AgentState.HELD:
        agent.held_from = agent.state
        agent.set_state(AgentState.HELD, now.mono)
    duration = args.get("seconds")
    agent.hold_until = now.mono + float(duration) if duration else None
    agent.hold_reason = str(args.get("reason") or "")
    agent.comment = f"held: {agent.hold_reason}" if agent.hold_reason else "held"
    rt.record("held", agent, agent.comment, now.wall)
    return [MarkHold(agent.name, agent.hold_reason, agent.hold_until)]


def delete(rt: RuntimeState, agent: Agent, at_once: bool, now: Now) -> list[Effect]:
    effects: list[Effect] = []
    if agent.state == AgentState.HELD:
        effects += release(rt, agent, now, "released for deletion")
    if at_once and agent.state != AgentState.RETIRING:
        effects.append(StartRetire(agent.name, "deleted by request (now)", force=True))
    else:
        agent.retire_requested = True
        agent.comment = "deletion requested; retires when its build ends"
    return effects
