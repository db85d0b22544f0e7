"""A controller client: python-jenkins with timeouts, crumbs, retries and tree= filters."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import jenkins
import requests

from autoscaler.config.models import ControllerConfig
from autoscaler.jenkins.computers import COMPUTER_TREE, NodeView, parse_computers
from autoscaler.jenkins.credentials import read_token

log = logging.getLogger(__name__)
T = TypeVar("T")


class JenkinsError(Exception):
    """A Jenkins call failed. ``transient`` says whether a later retry may succeed."""

    def __init__(self, message: str, *, transient: bool = True, not_found: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.not_found = not_found


class JenkinsClient:
    """One controller. Thread-safe; at most ``max_concurrent`` calls at once, over one session
    (python-jenkins keeps one, and the crumb is tied to its cookie)."""

    def __init__(self, controller: ControllerConfig, *, retries: int = 2, max_concurrent: int = 4) -> None:
        self.controller = controller
        self.name = controller.name
        self._retries = retries
        token = read_token(controller)
        self._server = jenkins.Jenkins(
            controller.url,
            username=controller.user,
            password=token,
            timeout=controller.timeout,
        )
        self._server._session.verify = controller.verify_tls
        # a few calls at once per controller (one session, so one crumb and cookie): a take-offline
        # must not queue behind a burst of retirements
        self._slots = threading.BoundedSemaphore(max_concurrent)
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=max_concurrent)
        self._server._session.mount("http://", adapter)
        self._server._session.mount("https://", adapter)

    # -- reads ------------------------------------------------------------------------------

    def get_json(self, path: str) -> Any:
        """GET ``<url>/<path>`` (with any ``tree=`` in it) and decode the JSON."""
        url = self.controller.url + path
        text = self._call(
            f"GET {path.split('?', maxsplit=1)[0]}", lambda: self._server.jenkins_open(requests.Request("GET", url))
        )
        try:
            return json.loads(text)
        except ValueError:
            raise JenkinsError(f"{self.name}: {path.split('?', maxsplit=1)[0]} did not answer JSON") from None

    def get_text(self, path: str) -> str:
        """GET ``<url>/<path>`` as text (a 404 raises :class:`JenkinsError` with ``not_found``)."""
        url = self.controller.url + path
        text: str = self._call(
            f"GET {path.split('?', maxsplit=1)[0]}", lambda: self._server.jenkins_open(requests.Request("GET", url))
        )
        return text

    def computers(self) -> dict[str, NodeView]:
        """Every agent node with its state and running builds (one request)."""
        return parse_computers(self.get_json(f"computer/api/json?tree={COMPUTER_TREE}"))

    def node(self, name: str) -> dict[str, Any] | None:
        """``/computer/NAME/api/json``, or ``None`` if there is no such node."""
        try:
            info = self.get_json(f"computer/{quote(name, safe='')}/api/json?depth=0")
        except JenkinsError as exc:
            if exc.not_found:
                return None
            raise
        return info if isinstance(info, dict) else None

    # -- writes -----------------------------------------------------------------------------

    def take_offline(self, name: str, message: str) -> bool:
        """Mark the node temporarily offline unless it already is (``toggleOffline`` toggles).
        Returns False when the node does not exist."""
        info = self.node(name)
        if info is None:
            return False
        if info.get("temporarilyOffline"):
            return True
        url = (
            self.controller.url + f"computer/{quote(name, safe='')}/toggleOffline"
            f"?offlineMessage={quote(message, safe='')}"
        )
        self._call(f"toggleOffline {name}", lambda: self._server.jenkins_open(requests.Request("POST", url)))
        return True

    def delete_node(self, name: str) -> bool:
        """Delete the node; a node that does not exist is success. Returns whether it existed."""
        url = self.controller.url + f"computer/{quote(name, safe='')}/doDelete"
        try:
            self._call(f"doDelete {name}", lambda: self._server.jenkins_open(requests.Request("POST", url)))
        except JenkinsError as exc:
            if exc.not_found:
                return False
            raise
        return True

    def create_node(self, name: str, *, labels: str, executors: int, description: str, exclusive: bool = True) -> None:
        """Create a permanent node with the inbound (JNLP) launcher."""
        self._call(
            f"doCreateItem {name}",
            lambda: self._server.create_node(
                name,
                numExecutors=executors,
                nodeDescription=description,
                remoteFS="/home/jenkins/agent",
                labels=labels,
                exclusive=exclusive,
                launcher=jenkins.LAUNCHER_JNLP,
                launcher_params={},
            ),
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        delay = 0.2
        for attempt in range(self._retries + 1):
            try:
                with self._slots:
                    return fn()
            except jenkins.NotFoundException as exc:
                raise JenkinsError(f"{self.name}: {what}: not found", transient=False, not_found=True) from exc
            except (jenkins.TimeoutException, requests.ConnectionError, requests.Timeout) as exc:
                error = JenkinsError(f"{self.name}: {what}: {_short(exc)}")
            except requests.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 0
                error = JenkinsError(f"{self.name}: {what}: HTTP {status}", transient=status >= 500)
            except jenkins.JenkinsException as exc:
                text = str(exc)
                auth = "[401]" in text or "[403]" in text
                transient = "[500]" in text or not auth
                error = JenkinsError(f"{self.name}: {what}: {_short(exc)}", transient=transient)
                if "[403]" in text:
                    self._server.crumb = None  # a stale crumb/session pair is the usual cause
            if not error.transient or attempt == self._retries:
                raise error
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._server._session.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
