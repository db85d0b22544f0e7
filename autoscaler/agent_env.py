"""What an agent is told: its environment and the ``{placeholders}`` of its command line.

One builder for every driver, so a process and a pod of the same label see the same variables.
Secrets are never values here: :attr:`AgentEnv.secrets` says which variable carries which secret,
and each driver delivers it through its own secret channel (a process's environment, a
``secretKeyRef`` of a pod), never on a command line.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from autoscaler.config.models import Config, ControllerConfig, LabelConfig
from autoscaler.secrets import SecretError, read_secret

__all__ = [
    "AGENT_NAME",
    "DAEMON_ID",
    "NODE_SECRET_ENV",
    "AgentCredentials",
    "AgentEnv",
    "Secret",
    "agent_credential_problems",
    "agent_env",
    "agent_user",
    "daemon_token",
    "fill",
    "has_daemon_token",
    "read_agent_credential",
]

log = logging.getLogger(__name__)

DAEMON_ID = "AUTOSCALER_DAEMON_ID"
"""Identity marks every agent carries: which daemon instance launched it, under which name."""
AGENT_NAME = "AUTOSCALER_AGENT_NAME"
NODE_SECRET_ENV = "JENKINS_SECRET"
"""Where an inbound agent (``jenkins/inbound-agent``) reads its node's secret."""


class Secret(enum.StrEnum):
    """Which secret a variable carries."""

    CREDENTIAL = "credential"
    """The agent user's token (``agent-user``; swarm agents register themselves with it), never the
    daemon's own."""
    NODE_SECRET = "node-secret"
    """The secret of the node registered for an inbound agent (grants that one node only)."""


@dataclass(frozen=True)
class AgentEnv:
    values: dict[str, str]
    """Plain variables, in order: the label's ``env``, then the framework's (which win)."""
    secrets: dict[str, Secret]
    """Variable name -> the secret it must carry."""
    placeholders: dict[str, str]
    """``{name}``, ``{label}``, ``{labels}``, ``{executors}``, ``{url}``, ``{user}``, ``{workdir}``,
    ``{credential_env}``: what a label's ``command`` may refer to."""


def agent_env(
    name: str,
    label: LabelConfig,
    controller: ControllerConfig,
    daemon_id: str,
    *,
    workdir: str,
    credential_env: str,
    web_socket: bool = False,
) -> AgentEnv:
    """The environment of agent ``name`` of ``label``; ``credential_env`` names the variable the
    Jenkins credential goes in (swarm), ``workdir`` is the agent's working directory."""
    labels = " ".join(sorted(label.all_atoms))
    placeholders = {
        "name": name,
        "label": label.name,
        "labels": labels,
        "executors": str(label.executors),
        "url": controller.agent_endpoint,
        "user": agent_user(controller) or "",
        "workdir": workdir,
        "credential_env": credential_env,
    }
    values = dict(sorted(label.env.items()))
    values.update(
        {
            DAEMON_ID: daemon_id,
            AGENT_NAME: name,
            "AGENT_NAME": name,
            "AGENT_LABEL": label.name,
            "AGENT_LABELS": labels,
            "AGENT_EXECUTORS": placeholders["executors"],
            "AGENT_WORKDIR": workdir,
            "JENKINS_URL": controller.agent_endpoint,
            "JENKINS_USER": placeholders["user"],
        }
    )
    if label.connect == "swarm":
        return AgentEnv(values, {credential_env: Secret.CREDENTIAL}, placeholders)
    values.update({"JENKINS_AGENT_NAME": name, "JENKINS_AGENT_WORKDIR": workdir})
    if web_socket:
        values["JENKINS_WEB_SOCKET"] = "true"
    return AgentEnv(values, {NODE_SECRET_ENV: Secret.NODE_SECRET}, placeholders)


def fill(text: str, placeholders: dict[str, str]) -> str:
    """``text`` with each ``{key}`` of ``placeholders`` replaced (other braces left alone)."""
    for key, value in placeholders.items():
        text = text.replace("{" + key + "}", value)
    return text


def agent_user(controller: ControllerConfig) -> str | None:
    """The Jenkins user agents connect as: ``agent-user`` when set. A controller without one has
    no credential for agents (see :func:`agent_credential_problems`), so the name only matters
    to a Jenkins that lets anyone connect agents."""
    return controller.agent_user or controller.user


def has_daemon_token(controller: ControllerConfig) -> bool:
    """The daemon authenticates to this controller with a token of its own."""
    return any(v is not None for v in (controller.token, controller.token_file, controller.token_env))


def daemon_token(controller: ControllerConfig) -> str | None:
    """The daemon's own token, to make sure an agent is never given it (``None`` when it cannot
    be read here)."""
    try:
        return read_secret(file=controller.token_file, env=controller.token_env, inline=controller.token)
    except SecretError:
        return None


def read_agent_credential(controller: ControllerConfig) -> str | None:
    """``agent-user``'s token (read again at every call: a rotated file is picked up); ``None``
    when the controller has no agent credential. Never falls back to the daemon's token."""
    if controller.agent_token_file is None and controller.agent_token_env is None:
        return None
    return read_secret(
        file=controller.agent_token_file,
        env=controller.agent_token_env,
        what=f"controller {controller.name!r} agent token",
        required=True,
    )


def agent_credential_problems(config: Config, *, token_needed: bool = True) -> list[str]:
    """Why this config would give swarm agents no credential of their own (one line per
    controller). ``token_needed``: the driver hands the token itself to agents (local driver),
    not only the user name (a pod reads its token from a Kubernetes Secret)."""
    problems: list[str] = []
    for controller in config.controllers:
        labels = [lab for lab in config.labels if config.controller_of(lab) == controller]
        swarm = [lab.name for lab in labels if lab.connect == "swarm"]
        if not swarm or not has_daemon_token(controller):
            continue
        missing = controller.agent_user is None or (
            token_needed and controller.agent_token_file is None and controller.agent_token_env is None
        )
        if missing:
            keys = "agent-user and agent-token-file (or agent-token-env)" if token_needed else "agent-user"
            where = "" if token_needed else " (its token goes in the driver's credentials-secret)"
            problems.append(
                f"controller {controller.name!r}: swarm label(s) {', '.join(swarm)} have no agent credential, "
                "and agents never get the daemon's own token (it can delete every node). Either give the "
                f"controller an agent credential: {keys}, a Jenkins user that may only connect agents "
                f"(Agent/Connect, Agent/Create){where}; or set 'connect: inbound' on these labels: the daemon "
                "creates each node and its agent receives only that node's secret."
            )
    return problems


class AgentCredentials(Mapping[str, "str | None"]):
    """Each controller's agent credential, read when an agent is launched (a rotated token file
    is picked up by the next launch). A source that cannot be read is logged and gives ``None``:
    that agent gets no credential rather than someone else's."""

    def __init__(self, config: Callable[[], Config]) -> None:
        self._config = config

    def __getitem__(self, name: str) -> str | None:
        try:
            controller = self._config().controller_named(name)
        except KeyError:
            raise KeyError(name) from None
        try:
            return read_agent_credential(controller)
        except SecretError as exc:
            log.error("no credential for agents of controller %s: %s", name, exc)
            return None

    def __iter__(self) -> Iterator[str]:
        return iter([c.name for c in self._config().controllers])

    def __len__(self) -> int:
        return len(self._config().controllers)
