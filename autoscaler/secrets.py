"""Read a secret from a file, an environment variable, or inline config: the one way to do it.

A section gives at most one source (``secret-file``, ``secret-env`` or an inline value); the file
is preferred because it never shows in ``ps`` or in a config dump, and it is read again each time
this is called (a rotated secret is picked up). Surrounding whitespace is stripped.
"""

from __future__ import annotations

import os

__all__ = ["SecretError", "read_secret"]


class SecretError(ValueError):
    """A configured secret source cannot be read (the message names the source, never the secret)."""


def read_secret(
    *,
    file: str | None = None,
    env: str | None = None,
    inline: str | None = None,
    what: str = "secret",
    required: bool = False,
) -> str | None:
    """The secret from the first source given (``file``, then ``env``, then ``inline``).

    An empty secret (or an unset variable) is ``None``, unless ``required``: then it is a
    :class:`SecretError`, like a file that cannot be read. ``what`` names the secret in errors
    (``"cloudevents secret-file"``).
    """
    if file is not None:
        try:
            with open(file, encoding="utf-8") as fh:
                value = fh.read().strip()
        except OSError as exc:
            raise SecretError(f"{what}: cannot read {file}: {exc.strerror or exc}") from None
        where = f"file {file} is empty"
    elif env is not None:
        value = os.environ.get(env, "").strip()
        where = f"environment variable {env} is not set"
    else:
        value = (inline or "").strip()
        where = "no secret is configured"
    if value:
        return value
    if required:
        raise SecretError(f"{what}: {where}")
    return None
