"""``KubeApi``: a Kubernetes API double over real HTTP for the official client.

Pods and secrets in namespaces: create (409 AlreadyExists, 403 quota), get, list and watch with
label selectors and resource versions (410 Gone once the history is compacted), graceful
delete (404 when absent), and owner-reference garbage collection. A simulated kubelet
(:mod:`autoscaler.testing.kubernetes.kubelet`) runs the pods as local processes. Faults are
injected per endpoint through ``api.faults`` (:mod:`autoscaler.testing.kubernetes.faults`);
``api.refuse_connections()`` closes the port.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from autoscaler.testing.kubernetes import leases
from autoscaler.testing.kubernetes.faults import Fault, Faults
from autoscaler.testing.kubernetes.recorder import Request, rbac_request
from autoscaler.testing.kubernetes.selectors import parse_selector
from autoscaler.testing.kubernetes.store import ApiError, Obj, Store

log = logging.getLogger(__name__)
KINDS = ("pods", "secrets")


class _Handler(BaseHTTPRequestHandler):
    api: KubeApi
    protocol_version = "HTTP/1.1"
    fault: Fault | None = None
    """The fault fired by the request being answered (a slow or cut answer)."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kube-api: " + format, *args)

    def setup(self) -> None:
        super().setup()
        self.api.connections.add(self.connection)

    def parse_request(self) -> bool:
        """Record every request read, in RBAC terms (any route, answered or faulted)."""
        ok = super().parse_request()
        request = rbac_request(self.command, self.path) if ok else None
        if request is not None:
            self.api.requests.append(request)
        return ok

    def finish(self) -> None:
        self.api.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _send(self, code: int, body: Obj, raw: bytes | None = None) -> None:
        data = json.dumps(body).encode() if raw is None else raw
        fault, self.fault = self.fault, None
        if fault is not None and fault.action == "slow":
            fault.released.wait(fault.delay)
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json" if raw is None else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if fault is not None and fault.action == "drop":
                self.wfile.write(data[: len(data) // 2])
                self._cut()
                return
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (after a slow answer)
            self.close_connection = True

    def _cut(self, *, reset: bool = False) -> None:
        """Close the connection at once, mid-answer or before any; ``reset``: with a TCP RST."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)

    def _verb(self, method: str, name: str | None, query: dict[str, str]) -> str:
        if method != "GET" or name is not None:
            return method
        return "WATCH" if query.get("watch") in ("true", "1") else "LIST"

    def _injected(self, verb: str, path: str, kind: str, name: str) -> bool:
        """Fire the fault armed for this request, if any; True when it answered (or hung up)."""
        fault = self.api.faults.take(verb, path)
        if fault is None:
            return False
        if fault.action in ("slow", "drop"):
            self.fault = fault
            return False
        if fault.action == "hang":
            fault.released.wait()
        if fault.action in ("hang", "reset"):
            self._cut(reset=fault.action == "reset")
            return True
        error = ApiError(fault.code, fault.reason, fault.message.format(kind=kind, name=name), name, kind)
        if verb == "WATCH" and fault.code == 410:
            self._watch_error(error)
        else:
            self._send(fault.code, error.status(), fault.body)
        return True

    def _route(self) -> tuple[str, str, str | None, dict[str, str]] | None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if len(parts) in (5, 6) and parts[:3] == ["api", "v1", "namespaces"] and parts[4] in KINDS:
            return parts[4], parts[3], parts[5] if len(parts) == 6 else None, query
        return None

    def _handle(self, method: str) -> None:
        if self.api.token is not None and self.headers.get("Authorization") != f"Bearer {self.api.token}":
            self._send(401, ApiError(401, "Unauthorized", "Unauthorized").status())
            return
        if leases.serve(self, method):  # coordination.k8s.io/v1 leases (leader election)
            return
        route = self._route()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if route is None:
            self._send(
                404, ApiError(404, "NotFound", f"the server could not find the requested resource {self.path}").status()
            )
            return
        kind, namespace, name, query = route
        store = self.api.store
        try:
            verb = self._verb(method, name, query)
            store.calls[f"WATCH {kind}" if verb == "WATCH" else f"{method} {kind}"] += 1  # faulted ones too
            if self._injected(verb, urlsplit(self.path).path, kind, name or _name(raw)):
                return
            if method == "GET" and name is None and query.get("watch") in ("true", "1"):
                if self.api.refuse_watches:
                    raise ApiError(503, "ServiceUnavailable", "the API server is restarting")
                self._watch(kind, namespace, query)
                return
            if method == "GET" and name is None:
                match = parse_selector(query.get("labelSelector"))
                items, rv = store.list_objects(kind, namespace, match)
                self._send(
                    200,
                    {
                        "kind": "PodList" if kind == "pods" else "SecretList",
                        "apiVersion": "v1",
                        "metadata": {"resourceVersion": rv},
                        "items": items,
                    },
                )
            elif method == "GET" and name is not None:
                self._send(200, store.get(kind, namespace, name))
            elif method == "POST" and name is None:
                body = json.loads(raw or b"{}")
                self.api.created.append(json.loads(json.dumps(body)))
                self._send(201, store.create(kind, namespace, body))
            elif method == "PATCH" and name is not None:
                if "json-patch" in (self.headers.get("Content-Type") or ""):
                    raise ApiError(415, "UnsupportedMediaType", "only merge patches are supported by this double")
                self._send(200, store.patch(kind, namespace, name, json.loads(raw or b"{}")))
            elif method == "DELETE" and name is not None:
                options = json.loads(raw or b"{}") if raw else {}
                graceful = options.get("gracePeriodSeconds", query.get("gracePeriodSeconds")) not in (0, "0")
                self._send(200, store.delete(kind, namespace, name, graceful=graceful))
            else:
                self._send(405, ApiError(405, "MethodNotAllowed", "method not allowed").status())
        except ApiError as exc:
            self._send(exc.code, exc.status())
        except ValueError as exc:
            self._send(400, ApiError(400, "BadRequest", str(exc)).status())

    def _stream_start(self) -> None:
        fault, self.fault = self.fault, None
        if fault is not None and fault.action == "slow":
            fault.released.wait(fault.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _watch_error(self, error: ApiError) -> None:
        self._stream_start()
        self._chunk({"type": "ERROR", "object": error.status()})
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def _watch(self, kind: str, namespace: str, query: dict[str, str]) -> None:
        store = self.api.store
        match = parse_selector(query.get("labelSelector"))
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        path = urlsplit(self.path).path
        self._stream_start()
        since = query.get("resourceVersion") or "0"
        pending: list[tuple[str, Obj]] = []
        with store.lock:
            if since == "0":
                items, rv = store.list_objects(kind, namespace, match)
                pending = [("ADDED", item) for item in items]
                last = int(rv)
            else:
                last = int(since)
        generation = self.api.watch_generation
        sent = 0
        try:
            while (
                not self.api.stopping.is_set()
                and time.monotonic() < deadline
                and generation == self.api.watch_generation
            ):
                if self._dropped(path, sent, b""):
                    return
                with store.changed:
                    events = store.events_after(last)
                    if events is None:
                        gone = ApiError(410, "Expired", f"too old resource version: {last} ({store.rv})")
                        self._chunk({"type": "ERROR", "object": gone.status()})
                        break
                    if not events and not pending:
                        store.changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
                        continue
                for seq, change, event_kind, obj in events:
                    last = seq
                    if (
                        event_kind == kind
                        and obj["metadata"].get("namespace") == namespace
                        and match(obj["metadata"].get("labels") or {})
                    ):
                        pending.append((change, obj))
                for event, obj in pending:
                    line = json.dumps({"type": event, "object": obj}).encode() + b"\n"
                    if self._dropped(path, sent, line):
                        return
                    self._chunk({"type": event, "object": obj})
                    sent += 1
                pending = []
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _dropped(self, path: str, sent: int, line: bytes) -> bool:
        """Cut the stream here if a drop is due: half of the next event, then the connection closes."""
        if self.api.faults.take("WATCH", path, sent=sent) is None:
            return False
        if line:
            self.wfile.write(f"{len(line):x}\r\n".encode() + line[: len(line) // 2])
        self._cut()
        return True

    def _chunk(self, event: Obj) -> None:
        line = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")


def _name(raw: bytes) -> str:
    """The object name in a request body, if any (for the message of an injected Status)."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return ""
    meta = body.get("metadata") if isinstance(body, dict) else None
    return str(meta.get("name") or "") if isinstance(meta, dict) else ""


class KubeApi:
    """``with KubeApi() as api: ...``; point the client at ``api.url``."""

    def __init__(self, *, token: str | None = None, pod_quota: int | None = None, history: int = 1000) -> None:
        self.store = Store(history=history, pod_quota=pod_quota)
        self.token = token
        self.requests: list[Request] = []
        """Every request read, as (API group, resource, verb, namespace, name): what RBAC must allow."""
        self.created: list[Obj] = []
        """Every object body as the client sent it (to check what a pod spec literally says)."""
        self.stopping = threading.Event()
        self.refuse_watches = False
        """Answer watch requests with 503 (an API server restarting)."""
        self.watch_generation = 0
        self.faults = Faults(self._notify)
        """Per-endpoint fault switches (:mod:`autoscaler.testing.kubernetes.faults`)."""
        self.connections: set[socket.socket] = set()
        self._handler = type("Handler", (_Handler,), {"api": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="kube-api", daemon=True)
        self._refusing = False

    def start(self) -> KubeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.faults.clear()  # releases hung requests
        with self.store.changed:
            self.store.changed.notify_all()
        if not self._refusing:
            self.httpd.shutdown()
            self.httpd.server_close()

    def refuse_connections(self) -> None:
        """Close the port (connections are refused) and every open connection, until
        :meth:`accept_connections`."""
        if self._refusing:
            return
        self._refusing = True
        self.httpd.shutdown()
        self.httpd.server_close()
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def accept_connections(self) -> None:
        """Listen again, on the same port."""
        if not self._refusing:
            return
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="kube-api", daemon=True)
        self._thread.start()
        self._refusing = False

    def _notify(self) -> None:
        with self.store.changed:
            self.store.changed.notify_all()

    def __enter__(self) -> KubeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_watches(self) -> None:
        """End every open watch stream, as an API server restart does."""
        with self.store.changed:
            self.watch_generation += 1
            self.store.changed.notify_all()

    def pods(self, namespace: str) -> dict[str, Obj]:
        items, _ = self.store.list_objects("pods", namespace, lambda labels: True)
        return {p["metadata"]["name"]: p for p in items}

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
        """Block until ``predicate()`` holds, re-checked on every change (it may call the API)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            with self.store.changed:
                self.store.changed.wait(min(left, 0.1))
