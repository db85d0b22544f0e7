"""What a failed Kubernetes API call means: the driver's :class:`DriverError`, transient or not.

An answer with a status is read as the API server's ``Status`` object (``reason``, ``message``);
no answer at all (a timeout, a refused or dropped connection) is transient. A quota refusal is
a 403 whose ``reason`` is ``Forbidden`` and whose message says ``exceeded quota`` (the admission
plugin's wording); it is transient: pods finishing free the quota.
"""

from __future__ import annotations

import json
from typing import Any

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from autoscaler.plugin import DriverError

TRANSIENT_STATUS = frozenset({0, 408, 409, 410, 425, 429, 500, 502, 503, 504})
"""Statuses worth retrying later (409 only reaches here when it was not handled as 'exists';
410: the version asked for expired, a fresh read will do)."""


def status_of(exc: ApiException) -> dict[str, Any]:
    """The ``Status`` object of an error answer, or ``{}`` when the body is not one."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        value = json.loads(body or "{}")
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def is_quota(exc: ApiException) -> bool:
    status = status_of(exc)
    reason = status.get("reason") or exc.reason or ""
    message = str(status.get("message") or "")
    return exc.status == 403 and reason == "Forbidden" and "exceeded quota" in message.lower()


def api_error(what: str, exc: ApiException) -> DriverError:
    """The driver error for an error answer of the API server."""
    status = status_of(exc)
    message = str(status.get("message") or exc.reason or "").strip()
    if is_quota(exc):
        return DriverError(f"{what}: refused by a quota: {message}", transient=True)
    reason = status.get("reason")
    detail = f"{exc.status} {reason}: {message}" if reason and reason not in message else f"{exc.status} {message}"
    return DriverError(f"{what}: {detail}", transient=exc.status in TRANSIENT_STATUS)


class NoAnswer(DriverError):
    """A call that got no answer (always transient). ``sent``: it may have reached the server, so
    what it asked for may have been done (a create: the pod may exist)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message, transient=True)
        self.sent = sent


def transport_error(what: str, exc: BaseException, timeout: float) -> NoAnswer:
    """The driver error for a call that got no answer."""
    cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None else exc
    if isinstance(cause, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):  # before timeouts:
        text = f"cannot connect to the API server: {_short(cause)}"  # urllib3 derives it from them
    elif isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
        text = f"no connection to the API server within {timeout:g}s (timed out)"
    elif isinstance(cause, urllib3.exceptions.TimeoutError | TimeoutError):
        text = f"no answer from the API server within {timeout:g}s (timed out)"
    elif isinstance(cause, urllib3.exceptions.ProtocolError | ConnectionError):
        text = f"the API server dropped the connection: {_short(cause)}"
    else:
        text = f"{type(cause).__name__}: {_short(cause)}"
    unsent = isinstance(cause, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)
    return NoAnswer(f"{what}: {text}", sent=not unsent)


def _short(exc: BaseException) -> str:
    text = str(exc)
    if "Errno 111" in text or "Connection refused" in text:
        return "connection refused"
    return text.split(": ", 1)[-1] if text.startswith("<") else text
