"""Errors the engine's commands raise; the API maps each to a status code."""

from __future__ import annotations


class CommandError(Exception):
    """A command the engine refused; ``str(error)`` is the message for the operator."""


class AgentNotFound(CommandError, LookupError):
    """No agent of that name (HTTP 404)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no agent named {name}")
        self.name = name


class InvalidState(CommandError, ValueError):
    """The agent is not in a state the command applies to (HTTP 409)."""


class UnknownCommand(CommandError, ValueError):
    """Not a command the engine knows (HTTP 400)."""
