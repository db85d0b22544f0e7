"""``SimJenkins``: the simulated controller, served over real sockets.

HTTP on a free loopback port (REST API, swarm ``createSlave``), a TCP "remoting" port agents
hold a connection to while online (a dropped connection takes the node offline; a swarm node is
then removed), and a ZMQ PUB socket emitting zmq-event-publisher frames.

Faults to test against: ``sim.faults`` (per-endpoint switches, see
:mod:`autoscaler.testing.jenkins.faults`), ``refuse()``/``accept()`` (connections refused, then served
again on the same port), ``restart()`` (sessions, crumbs and the cookie name forgotten) and
``rotate_token()`` (the old API token gets 401).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import queue
import socket
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any, Literal

import requests
import zmq

from autoscaler.testing.jenkins.faults import FaultRegistry
from autoscaler.testing.jenkins.http import JenkinsHandler, Sessions
from autoscaler.testing.jenkins.model import JenkinsModel, Sent

log = logging.getLogger(__name__)


class _Remoting(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    sim: SimJenkins


class _RemotingHandler(socketserver.StreamRequestHandler):
    server: _Remoting

    def handle(self) -> None:
        line = self.rfile.readline(4096).decode(errors="replace").strip()
        name, _, secret = line.partition(" ")
        sock = self.request

        def close() -> None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

        error = self.server.sim.model.connect(name, secret, close)
        if error is not None:
            self.wfile.write(f"ERR {error}\n".encode())
            return
        self.wfile.write(b"OK\n")
        try:
            while sock.recv(1024):
                pass
        except OSError:
            pass
        self.server.sim.model.disconnected(name)


class _Connections:
    """The HTTP connections open right now, so a refusal or a restart can drop them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)

    def drop(self) -> int:
        """Close every open connection (the handlers see end of file); returns how many."""
        with self._lock:
            socks = list(self._open)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return len(socks)


class SimJenkins:
    """A Jenkins controller double. ``with SimJenkins() as jenkins: ...``"""

    def __init__(
        self,
        *,
        user: str = "autoscaler",
        token: str = "s3cret-token",
        host: str = "127.0.0.1",
        port: int = 0,
        quiet_period: float = 0.0,
        quoted: bool = True,
        zmq_port: int | None = 0,
        agent_users: dict[str, str] | None = None,
    ) -> None:
        self.user = user
        self.token = token
        self.agent_users: dict[str, str] = dict(agent_users or {})
        """Users (name -> API token) that may only connect agents (Overall/Read, Agent/Create,
        Agent/Connect): a crumb and swarm's ``createSlave``; anything else is 403, as Jenkins answers."""
        self.sessions = Sessions()
        self.stats: Counter[str] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self.faults = FaultRegistry(self.stats)
        """Per-endpoint fault switches: ``sim.faults.add("GET", "/queue/api/json", status=500)``."""
        self.connections = _Connections()
        self.refusing = False
        handler = type("Handler", (JenkinsHandler,), {"sim": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        self.remoting = _Remoting((host, 0), _RemotingHandler)
        self.remoting.sim = self
        self.remoting_port = self.remoting.server_address[1]
        self.sent: list[Sent] = []
        self._outbox: queue.SimpleQueue[tuple[str, dict[str, Any]] | None] = queue.SimpleQueue()
        self._zmq_ctx: zmq.Context[Any] | None = None
        self.zmq_endpoint: str | None = None
        if zmq_port is not None:
            self._zmq_ctx = zmq.Context()
            self._pub = self._zmq_ctx.socket(zmq.PUB)
            self._pub.setsockopt(zmq.LINGER, 0)
            self._pub.setsockopt(zmq.SNDHWM, 1024)  # the plugin's queue holds 1024 events
            if zmq_port == 0:
                bound = self._pub.bind_to_random_port(f"tcp://{host}")
            else:
                self._pub.bind(f"tcp://{host}:{zmq_port}")
                bound = zmq_port
            self.zmq_endpoint = f"tcp://{host}:{bound}"
        self.model = JenkinsModel(
            base_url=self.url, quiet_period=quiet_period, quoted=quoted, publish=self._publish, cloud=self._cloud
        )
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        """Called with every zmq-event-publisher event (topic, payload): a bridge to another transport."""
        self.cloudevents_sink: str | None = None
        """URL the cloudevents plugin POSTs to (binary mode); None: no CloudEvents are sent."""
        self._cloud_outbox: queue.SimpleQueue[tuple[str, str, dict[str, Any]] | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._http = self._http_thread()
        self._threads = [
            self._http,
            threading.Thread(target=self.remoting.serve_forever, args=(0.1,), name="sim-remoting", daemon=True),
            threading.Thread(target=self._schedule, name="sim-scheduler", daemon=True),
            threading.Thread(target=self._send_events, name="sim-zmq", daemon=True),
            threading.Thread(target=self._send_cloudevents, name="sim-cloudevents", daemon=True),
        ]

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> SimJenkins:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.faults.close()
        with self.model.lock:
            self.model.changed.notify_all()
            nodes = list(self.model.nodes.values())
        for node in nodes:
            if node.disconnect is not None:
                node.disconnect()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.remoting.shutdown()
        self.remoting.server_close()
        self._outbox.put(None)
        self._cloud_outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        if self._zmq_ctx is not None:
            self._pub.close(0)
            self._zmq_ctx.term()

    def __enter__(self) -> SimJenkins:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- driving it -------------------------------------------------------------------------

    def add_job(
        self,
        name: str,
        *,
        kind: Literal["freestyle", "pipeline"] = "freestyle",
        label: str | None = None,
        duration: float = 1.0,
        quiet_period: float | None = None,
        blocked_by: str | None = None,
        assignable: bool = True,
    ) -> None:
        """``quiet_period``: this job's own (else the controller's); ``blocked_by``: its builds stay
        blocked by that name until ``model.jobs[name].blocked_by`` is cleared; ``assignable=False``:
        its builds are never given an executor (until ``model.jobs[name].assignable`` is set)."""
        self.model.add_job(
            name,
            kind=kind,
            label=label,
            duration=duration,
            quiet_period=quiet_period,
            blocked_by=blocked_by,
            assignable=assignable,
        )

    def trigger(self, name: str) -> int:
        return self.model.trigger(name)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
        """Block until ``predicate()`` holds (re-checked on every state change), or fail."""
        deadline = time.monotonic() + timeout
        while not predicate():  # outside the lock: the predicate may talk to this server
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            with self.model.changed:
                self.model.changed.wait(min(left, 0.1))

    def refuse(self) -> None:
        """Close the HTTP listening socket (new connections get ECONNREFUSED) and drop the open
        ones; :meth:`accept` serves again on the same port."""
        with self._lock:
            if self.refusing:
                return
            if not self._http.is_alive():
                raise RuntimeError("refuse() needs a started SimJenkins")
            self.refusing = True
            self.httpd.shutdown()
            self.httpd.socket.close()
        self.stats["refuse"] += 1
        self.connections.drop()

    def accept(self) -> None:
        """Listen on the same port again after :meth:`refuse`."""
        with self._lock:
            if not self.refusing:
                return
            self.httpd.socket = socket.socket(self.httpd.address_family, self.httpd.socket_type)
            self.httpd.server_bind()  # SO_REUSEADDR: the port's old connections may linger in TIME_WAIT
            self.httpd.server_activate()
            self.refusing = False
            self._http = self._http_thread()
            self._threads.append(self._http)
            self._http.start()

    def restart(self, *, drop_connections: bool = True) -> None:
        """A controller restart: sessions and crumbs are forgotten and the session cookie's name
        changes (an old cookie and crumb then get 403 on POST); nodes, jobs, builds and the queue
        stay, as Jenkins persists them. Open connections are dropped unless told otherwise."""
        self.sessions = Sessions()
        self.stats["restart"] += 1
        if drop_connections:
            self.connections.drop()

    restart_session = restart

    def rotate_token(self, token: str) -> None:
        """The user's API token is replaced: the old one gets 401 from now on."""
        self.token = token
        self.stats["token_rotated"] += 1

    def count_request(self, method: str, path: str) -> None:
        with self._lock:
            self.requests[(method, path)] += 1

    # -- internals --------------------------------------------------------------------------

    def _http_thread(self) -> threading.Thread:
        return threading.Thread(target=self.httpd.serve_forever, args=(0.1,), name="sim-http", daemon=True)

    def _publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.sent.append(Sent(topic, payload))
        self._outbox.put((topic, payload))
        for listener in self.listeners:
            listener(topic, payload)

    def _cloud(self, ce_type: str, source: str, data: dict[str, Any]) -> None:
        if self.cloudevents_sink is not None:
            self._cloud_outbox.put((ce_type, source, data))

    def _send_cloudevents(self) -> None:
        session = requests.Session()
        ids = itertools.count(1)
        while True:
            item = self._cloud_outbox.get()
            if item is None or self.cloudevents_sink is None:
                return
            ce_type, source, data = item
            headers = {
                "ce-specversion": "1.0",
                "ce-id": f"sim-{next(ids)}",
                "ce-type": ce_type,
                "ce-source": source,
                "Content-Type": "application/json",
            }
            try:
                session.post(self.cloudevents_sink, data=json.dumps(data), headers=headers, timeout=5)
            except requests.RequestException:
                self.stats["cloudevents_failed"] += 1  # the plugin does not retry either

    def _send_events(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None or self._zmq_ctx is None:
                return
            topic, payload = item
            frame = f"{topic} {json.dumps(payload, separators=(',', ':'))}"
            try:
                self._pub.send_string(frame, zmq.NOBLOCK)
            except zmq.Again:
                self.stats["zmq_dropped"] += 1  # the real publisher drops too

    def _schedule(self) -> None:
        while not self._stop.is_set():
            wait = self.model.step(time.time())
            with self.model.changed:
                if not self._stop.is_set():
                    self.model.changed.wait(wait)
