"""Read the Jenkins token from a file, an environment variable, or (warned) inline config."""

from __future__ import annotations

import os

from autoscaler.config.models import ControllerConfig


class CredentialError(Exception):
    pass


def read_token(controller: ControllerConfig) -> str | None:
    """The controller's token, or ``None`` when no credential is configured."""
    if controller.token_file is not None:
        try:
            with open(controller.token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError as exc:
            raise CredentialError(
                f"controller {controller.name!r}: cannot read token-file {controller.token_file}: {exc.strerror}"
            ) from None
        if not token:
            raise CredentialError(f"controller {controller.name!r}: token-file {controller.token_file} is empty")
        return token
    if controller.token_env is not None:
        token = os.environ.get(controller.token_env, "").strip()
        if not token:
            raise CredentialError(
                f"controller {controller.name!r}: environment variable {controller.token_env} is not set"
            )
        return token
    return controller.token
