"""The Jenkins token of a controller: ``token-file``, ``token-env`` or (warned) inline ``token``,
read by the core's one secret reader (:func:`autoscaler.secrets.read_secret`)."""

from __future__ import annotations

from autoscaler.config.models import ControllerConfig
from autoscaler.secrets import SecretError, read_secret

CredentialError = SecretError
"""A configured token that cannot be read (kept as the name callers catch)."""


def read_token(controller: ControllerConfig) -> str | None:
    """The controller's token, or ``None`` when no credential is configured. A configured source
    that gives nothing (an unreadable or empty file, an unset variable) is a :class:`CredentialError`."""
    if controller.token_file is None and controller.token_env is None:
        return controller.token
    return read_secret(
        file=controller.token_file,
        env=controller.token_env,
        what=f"controller {controller.name!r} token",
        required=True,
    )
