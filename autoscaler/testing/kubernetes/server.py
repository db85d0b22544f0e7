"""``KubeApi``: a Kubernetes API double over real HTTP for the official client.

Pods and secrets in namespaces: create (409 AlreadyExists, 403 quota), get, list and watch with
label selectors and resource versions (410 Gone once the history is compacted), graceful
delete (404 when absent), and owner-reference garbage collection. A simulated kubelet
(:mod:`autoscaler.testing.kubernetes.kubelet`) runs the pods as local processes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from autoscaler.testing.kubernetes.selectors import parse_selector
from autoscaler.testing.kubernetes.store import ApiError, Obj, Store

log = logging.getLogger(__name__)
KINDS = ("pods", "secrets")


class _Handler(BaseHTTPRequestHandler):
    api: KubeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kube-api: " + format, *args)

    def _send(self, code: int, body: Obj) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

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
            if method == "GET" and name is None and query.get("watch") in ("true", "1"):
                store.calls[f"WATCH {kind}"] += 1
                if self.api.refuse_watches:
                    raise ApiError(503, "ServiceUnavailable", "the API server is restarting")
                self._watch(kind, namespace, query)
                return
            store.calls[f"{method} {kind}"] += 1
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

    def _watch(self, kind: str, namespace: str, query: dict[str, str]) -> None:
        store = self.api.store
        match = parse_selector(query.get("labelSelector"))
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
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
        try:
            while (
                not self.api.stopping.is_set()
                and time.monotonic() < deadline
                and generation == self.api.watch_generation
            ):
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
                    self._chunk({"type": event, "object": obj})
                pending = []
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

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


class KubeApi:
    """``with KubeApi() as api: ...``; point the client at ``api.url``."""

    def __init__(self, *, token: str | None = None, pod_quota: int | None = None, history: int = 1000) -> None:
        self.store = Store(history=history, pod_quota=pod_quota)
        self.token = token
        self.created: list[Obj] = []
        """Every object body as the client sent it (to check what a pod spec literally says)."""
        self.stopping = threading.Event()
        self.refuse_watches = False
        """Answer watch requests with 503 (an API server restarting)."""
        self.watch_generation = 0
        handler = type("Handler", (_Handler,), {"api": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="kube-api", daemon=True)

    def start(self) -> KubeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self.store.changed:
            self.store.changed.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

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
