"""The simulated Jenkins' HTTP face: the REST endpoints python-jenkins and swarm clients use.

Basic auth on everything; a crumb from ``/crumbIssuer/api/json`` tied to the session cookie and
checked on every POST (403 otherwise), as Jenkins does. The cookie is ``JSESSIONID.<8 hex>``, its name
new with every (simulated) restart. Requests matching a fault switch (``sim.faults``) are answered as
the fault says (see :mod:`autoscaler.testing.jenkins.faults`).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from autoscaler.testing.jenkins.faults import FaultRegistry, serve_faulty
from autoscaler.testing.jenkins.model import JenkinsModel
from autoscaler.testing.jenkins.pages import NO_CRUMB
from autoscaler.testing.tree import TreeError, apply_tree, parse_tree

log = logging.getLogger(__name__)
CRUMB_FIELD = "Jenkins-Crumb"
_AGENT_READS = ("/crumbIssuer/api/json", "/api/json", "/")
"""What a user with Overall/Read but no other permission than Agent/Create and Agent/Connect may GET."""


class Sessions:
    """Sessions and their crumbs; one instance per (simulated) Jenkins start."""

    def __init__(self) -> None:
        self.cookie = f"JSESSIONID.{secrets.token_hex(4)}"
        """The session cookie's name: Jenkins derives its suffix from the instance, new per start."""
        self._lock = threading.Lock()
        self.crumbs: dict[str, str] = {}

    def crumb_for(self, session: str) -> str:
        with self._lock:
            return self.crumbs.setdefault(session, secrets.token_hex(16))

    def check(self, session: str | None, crumb: str | None) -> bool:
        with self._lock:
            return session is not None and crumb is not None and self.crumbs.get(session) == crumb


class Connections(Protocol):
    def opened(self, sock: socket.socket) -> None: ...

    def closed(self, sock: socket.socket) -> None: ...


class Site(Protocol):
    """What the handler uses of the simulated controller (:class:`~.server.SimJenkins`)."""

    user: str
    token: str
    agent_users: dict[str, str]
    url: str
    remoting_port: int
    sessions: Sessions
    stats: Counter[str]
    faults: FaultRegistry
    model: JenkinsModel
    connections: Connections

    def count_request(self, method: str, path: str) -> None: ...


class JenkinsHandler(BaseHTTPRequestHandler):
    sim: Site
    protocol_version = "HTTP/1.1"
    server_version = "Jetty(10.0.20)"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("sim-jenkins: " + format, *args)

    def setup(self) -> None:
        super().setup()
        self.sim.connections.opened(self.connection)

    def finish(self) -> None:
        self.sim.connections.closed(self.connection)
        super().finish()

    def _dispatch(self, method: str, serve: Callable[[], None]) -> None:
        path = urlsplit(self.path).path
        self.sim.count_request(method, path)
        fault = self.sim.faults.match(method, path)
        if fault is None:
            serve()
        else:
            serve_faulty(self, fault, serve, self.sim.faults.stopping)

    # -- helpers ----------------------------------------------------------------------------

    def _session(self) -> str | None:
        cookie = self.sim.sessions.cookie
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == cookie:
                return value
        return None

    def _send(
        self,
        status: int,
        body: bytes | str | dict[str, Any],
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        new_session: str | None = None,
    ) -> None:
        data = (
            body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
        )
        self.send_response(status)
        self.send_header("Content-Type", content_type + ";charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Jenkins", "2.479.1")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if new_session is not None:
            self.send_header("Set-Cookie", f"{self.sim.sessions.cookie}={new_session}; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(data)

    def _authenticated(self, *, agent_may: bool = False) -> bool:
        """The request is the daemon's user's, or (where ``agent_may``) an agent user's; an
        agent user anywhere else is refused (403), as Jenkins refuses a missing permission."""
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                user, password = "", ""
            if user == self.sim.user and secrets.compare_digest(password, self.sim.token):
                return True
            agent_token = self.sim.agent_users.get(user)
            if agent_token is not None and secrets.compare_digest(password, agent_token):
                if agent_may:
                    return True
                self.sim.stats["forbidden"] += 1
                self._send(403, f"Access Denied: {user} may only connect agents", content_type="text/plain")
                return False
        self.sim.stats["unauthorized"] += 1
        self._send(
            401,
            "<html><body>Authentication required</body></html>",
            content_type="text/html",
            headers={"WWW-Authenticate": 'Basic realm="Jenkins"'},
        )
        return False

    def _json(self, data: dict[str, Any], query: dict[str, str]) -> None:
        if "tree" in query:
            try:
                data = apply_tree(data, parse_tree(query["tree"]))
            except TreeError as exc:
                self._send(400, str(exc), content_type="text/plain")
                return
        self._send(200, data)

    def _form(self) -> dict[str, list[str]]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        return parse_qs(raw, keep_blank_values=True)

    # -- GET --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET", self._get)

    def _get(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        if path == "/tcpSlaveAgentListener/":  # agents read the port before they authenticate
            self._send(
                200,
                "Jenkins",
                content_type="text/plain",
                headers={"X-Jenkins-JNLP-Port": str(self.sim.remoting_port), "X-Instance-Identity": "sim"},
            )
            return
        if not self._authenticated(agent_may=path in _AGENT_READS):
            return
        model = self.sim.model
        if path == "/crumbIssuer/api/json":
            session = self._session()
            fresh = None
            if session is None:
                session = fresh = secrets.token_hex(8)
            crumb = self.sim.sessions.crumb_for(session)
            self._send(
                200,
                {"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": crumb, "crumbRequestField": CRUMB_FIELD},
                new_session=fresh,
            )
            return
        if path in ("/api/json", "/"):
            self._send(
                200,
                {
                    "_class": "hudson.model.Hudson",
                    "mode": "NORMAL",
                    "nodeName": "",
                    "numExecutors": 0,
                    "quietingDown": model.quieting_down,
                    "useCrumbs": True,
                },
            )
            return
        if path == "/queue/api/json":
            self._json(model.queue_json(), query)
            return
        if path == "/computer/api/json":
            self._json(model.computers_json(), query)
            return
        if path == "/computer/":
            self._send(200, "<html><body>Nodes</body></html>", content_type="text/html")
            return
        if path.startswith("/computer/"):
            parts = path[len("/computer/") :].split("/")
            name = unquote(parts[0])
            with model.lock:
                node = model.nodes.get(name)
                data = model.computer_json(node) if node is not None else None
                secret = node.secret if node is not None else ""
            if data is None:
                self._send(404, "<html>Not Found</html>", content_type="text/html")
            elif parts[1:] in ([], [""]):
                self._send(200, f"<html><body>{name}</body></html>", content_type="text/html")
            elif parts[1:] == ["api", "json"]:
                self._json(data, query)
            elif parts[1:] in (["jenkins-agent.jnlp"], ["slave-agent.jnlp"]):
                jnlp = (
                    f'<jnlp codebase="{self.sim.url}computer/{name}/"><application-desc>'
                    f"<argument>{secret}</argument><argument>{name}</argument>"
                    f"<argument>-workDir</argument><argument>/home/jenkins/agent</argument>"
                    f"</application-desc></jnlp>"
                )
                self._send(200, jnlp, content_type="application/x-java-jnlp-file")
            else:
                self._send(404, "<html>Not Found</html>", content_type="text/html")
            return
        self._send(404, "<html>Not Found</html>", content_type="text/html")

    # -- POST -------------------------------------------------------------------------------

    def do_POST(self) -> None:
        self._dispatch("POST", self._post)

    def _post(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        if not self._authenticated(agent_may=path == "/plugin/swarm/createSlave"):
            return
        if not self.sim.sessions.check(self._session(), self.headers.get(CRUMB_FIELD)):
            self._form()
            self.sim.stats["bad_crumb"] += 1
            self._send(403, NO_CRUMB, content_type="text/plain")
            return
        model = self.sim.model
        if path == "/plugin/swarm/createSlave":
            self._create_swarm(self._form())
            return
        if path == "/computer/doCreateItem":
            self._create_item(self._form())
            return
        if path == "/quietDown":
            model.quieting_down = True
            self._send(200, "")
            return
        if path == "/cancelQuietDown":
            with model.lock:
                model.quieting_down = False
                model.changed.notify_all()
            self._send(200, "")
            return
        if path.startswith("/job/") and path.endswith("/build"):
            name = unquote(path[len("/job/") : -len("/build")].strip("/"))
            if name not in model.jobs:
                self._send(404, "<html>Not Found</html>", content_type="text/html")
                return
            item = model.trigger(name)
            self._send(201, "", headers={"Location": f"{self.sim.url}queue/item/{item}/"})
            return
        if path.startswith("/computer/"):
            parts = path[len("/computer/") :].split("/")
            name = unquote(parts[0])
            action = parts[1] if len(parts) > 1 else ""
            if action == "toggleOffline" and model.toggle_offline(name, query.get("offlineMessage", "")):
                self.sim.stats["toggle_offline"] += 1
                self._send(302, "", headers={"Location": f"{self.sim.url}computer/{name}/"})
                return
            if action == "doDelete" and model.delete_node(name):
                self._send(302, "", headers={"Location": f"{self.sim.url}computer/"})
                return
        self._send(404, "<html>Not Found</html>", content_type="text/html")

    def _create_swarm(self, form: dict[str, list[str]]) -> None:
        def one(key: str, default: str = "") -> str:
            return form.get(key, [default])[-1]

        name = one("name")
        if not name:
            self._send(400, "name is required", content_type="text/plain")
            return
        if one("hash"):
            name = f"{name}-{one('hash')}"
        try:
            executors = int(one("executors", "1"))
        except ValueError:
            self._send(400, "executors must be a number", content_type="text/plain")
            return
        model = self.sim.model
        if one("deleteExistingClients") == "true":
            model.delete_node(name)
        try:
            node = model.create_node(
                name,
                labels="swarm " + one("labels"),
                executors=executors,
                mode=one("mode", "NORMAL"),
                description=one("description"),
                keep_disconnected=one("keepDisconnectedClients") == "true",
            )
        except KeyError:
            self.sim.stats["swarm_conflict"] += 1
            self._send(409, f"A agent called '{name}' already exists", content_type="text/plain")
            return
        self._send(200, f"name={name}\nsecret={node.secret}\n", content_type="text/plain")

    def _create_item(self, form: dict[str, list[str]]) -> None:
        name = form.get("name", [""])[-1]
        try:
            params = json.loads(form.get("json", ["{}"])[-1])
        except ValueError:
            self._send(400, "bad json", content_type="text/plain")
            return
        try:
            self.sim.model.create_node(
                name,
                labels=str(params.get("labelString") or ""),
                executors=int(params.get("numExecutors") or 1),
                mode=str(params.get("mode") or "NORMAL"),
                kind="jnlp",
                description=str(params.get("nodeDescription") or ""),
            )
        except KeyError:
            self._send(400, f"Agent called ‘{name}’ already exists", content_type="text/plain")
            return
        self._send(302, "", headers={"Location": f"{self.sim.url}computer/"})
