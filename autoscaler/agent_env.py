"""What an agent is told: its environment and the ``{placeholders}`` of its command line.

One builder for every driver, so a process and a pod of the same label see the same variables.
Secrets are never values here: :attr:`AgentEnv.secrets` says which variable carries which secret,
and each driver delivers it through its own secret channel (a process's environment, a
``secretKeyRef`` of a pod), never on a command line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from autoscaler.config.models import ControllerConfig, LabelConfig

__all__ = [
    "AGENT_NAME",
    "DAEMON_ID",
    "NODE_SECRET_ENV",
    "AgentEnv",
    "Secret",
    "agent_env",
    "fill",
]

DAEMON_ID = "AUTOSCALER_DAEMON_ID"
"""Identity marks every agent carries: which daemon instance launched it, under which name."""
AGENT_NAME = "AUTOSCALER_AGENT_NAME"
NODE_SECRET_ENV = "JENKINS_SECRET"
"""Where an inbound agent (``jenkins/inbound-agent``) reads its node's secret."""


class Secret(enum.StrEnum):
    """Which secret a variable carries."""

    CREDENTIAL = "credential"
    """The Jenkins user's token (swarm agents register themselves with it)."""
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
        "user": controller.user or "",
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
