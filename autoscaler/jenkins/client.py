"""A controller client: python-jenkins with timeouts, crumbs, retries and tree= filters."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import jenkins
import requests

from autoscaler.config.models import ControllerConfig
from autoscaler.jenkins.computers import COMPUTER_TREE, NodeView, parse_computers
from autoscaler.jenkins.credentials import CredentialError, read_token

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
        self._token = read_token(controller)
        self._server = jenkins.Jenkins(
            controller.url,
            username=controller.user,
            password=self._token,
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
        """Run one request with retries. Whatever the request raises comes out as a
        :class:`JenkinsError`: a reset mid-response, a page that is not JSON, an expired session."""
        delay = 0.2
        refreshed = False
        for attempt in range(self._retries + 1):
            try:
                with self._slots:
                    return fn()
            except jenkins.NotFoundException as exc:
                raise JenkinsError(f"{self.name}: {what}: not found", transient=False, not_found=True) from exc
            except (jenkins.TimeoutException, requests.RequestException) as exc:
                error = self._http_error(what, exc)
            except jenkins.JenkinsException as exc:
                error = JenkinsError(f"{self.name}: {what}: {_short(exc)}", transient=not _auth_failure(exc))
                status = _status_of(exc)
                if status in (401, 403) and not refreshed:
                    # 403: a Jenkins restart voided the session and its crumb; 401: the token may
                    # have been rotated (its file is read again). Either way: fresh credentials, once.
                    refreshed = True
                    if self._refresh(status):
                        continue
            except ValueError as exc:  # a crumb or error page that is not JSON
                error = JenkinsError(f"{self.name}: {what}: unexpected answer ({_short(exc)})")
            if not error.transient or attempt == self._retries:
                raise error
            time.sleep(delay)
            delay *= 2
        raise error

    def _http_error(self, what: str, exc: BaseException) -> JenkinsError:
        if isinstance(exc, requests.HTTPError):
            status = exc.response.status_code if exc.response is not None else 0
            return JenkinsError(f"{self.name}: {what}: HTTP {status}", transient=status >= 500 or status == 0)
        return JenkinsError(f"{self.name}: {what}: {_short(exc)}")

    def _refresh(self, status: int) -> bool:
        """Start a new session (cookies and crumb); after a 401, re-read the token. Returns whether
        a retry can help."""
        self._server.crumb = None
        self._server._session.cookies.clear()
        if status == 403:
            log.info("%s: session or crumb refused (a Jenkins restart?); starting a new session", self.name)
            return True
        try:
            token = read_token(self.controller)
        except CredentialError as exc:
            log.warning("%s: cannot re-read the token after a 401: %s", self.name, exc)
            return False
        if token == self._token:
            return False
        log.info("%s: the token changed; using the new one", self.name)
        self.set_token(token)
        return True

    @property
    def token(self) -> str | None:
        return self._token

    def set_token(self, token: str | None) -> None:
        """Use a new API token from the next request on (a rotated token; SIGHUP)."""
        self._token = token
        if self.controller.user is not None and token is not None:
            auth = requests.auth.HTTPBasicAuth(self.controller.user.encode(), token.encode())
            self._server._auths[0] = ("basic", auth)
            self._server._session.auth = auth
        self._server.crumb = None
        self._server._session.cookies.clear()

    def close(self) -> None:
        self._server._session.close()


def _status_of(exc: BaseException) -> int:
    match = re.search(r"\[(\d{3})\]", str(exc))
    return int(match.group(1)) if match else 0


def _auth_failure(exc: BaseException) -> bool:
    return _status_of(exc) in (401, 403)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
