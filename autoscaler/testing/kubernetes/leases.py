"""Leases (``coordination.k8s.io/v1``) in the Kubernetes API double, as leader election uses them.

``GET``, ``POST`` (409 AlreadyExists), ``PUT`` (replace) and ``PATCH`` (merge patch) of
``/apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]``, and ``DELETE``. A replace or a
patch that carries ``metadata.resourceVersion`` is refused with 409 Conflict unless it is the
version stored, as the API server's optimistic concurrency does; a replace without one is refused
with 422 (the API server requires it on update). Faults armed for the path fire as for pods.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from autoscaler.testing.kubernetes.store import ApiError, Obj, Store

if TYPE_CHECKING:
    from autoscaler.testing.kubernetes.server import _Handler

GROUP = "coordination.k8s.io"
KIND = "leases"


def route(target: str) -> tuple[str, str | None] | None:
    """(namespace, name or None) of a lease path; None for any other path."""
    parts = [unquote(p) for p in urlsplit(target).path.strip("/").split("/")]
    if len(parts) in (6, 7) and parts[:4] == ["apis", GROUP, "v1", "namespaces"] and parts[5] == KIND:
        return parts[4], parts[6] if len(parts) == 7 else None
    return None


def serve(handler: _Handler, method: str) -> bool:
    """Answer a lease request; False when the path is not a lease's (the caller routes it)."""
    where = route(handler.path)
    if where is None:
        return False
    namespace, name = where
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    store = handler.api.store
    store.calls[f"{method} {KIND}"] += 1
    if handler._injected(method, urlsplit(handler.path).path, KIND, name or ""):
        return True
    try:
        body = json.loads(raw) if raw else {}
        code, answer = _answer(store, method, namespace, name, body)
        handler._send(code, answer)
    except ApiError as exc:
        handler._send(exc.code, exc.status())
    except ValueError as exc:
        handler._send(400, ApiError(400, "BadRequest", str(exc)).status())
    return True


def _answer(store: Store, method: str, namespace: str, name: str | None, body: Obj) -> tuple[int, Obj]:
    if method == "GET" and name is not None:
        return 200, store.get(KIND, namespace, name)
    if method == "GET":
        items, rv = store.list_objects(KIND, namespace, lambda labels: True)
        return 200, {
            "kind": "LeaseList",
            "apiVersion": f"{GROUP}/v1",
            "metadata": {"resourceVersion": rv},
            "items": items,
        }
    if method == "POST" and name is None:
        body.setdefault("kind", "Lease")
        body.setdefault("apiVersion", f"{GROUP}/v1")
        return 201, store.create(KIND, namespace, body)
    if method == "PUT" and name is not None:
        return 200, replace(store, namespace, name, body)
    if method == "PATCH" and name is not None:
        with store.lock:
            _check_version(store, namespace, name, body.get("metadata", {}).get("resourceVersion"), required=False)
            return 200, store.patch(KIND, namespace, name, body)
    if method == "DELETE" and name is not None:
        return 200, store.delete(KIND, namespace, name)
    raise ApiError(405, "MethodNotAllowed", "method not allowed")


def replace(store: Store, namespace: str, name: str, body: Obj) -> Obj:
    """A whole-object update, refused (409) unless it names the version stored."""
    meta = body.get("metadata") or {}
    if meta.get("name") not in (None, name):
        raise ApiError(400, "BadRequest", f"the name of the object ({meta.get('name')}) does not match the URL")
    with store.lock:
        _check_version(store, namespace, name, meta.get("resourceVersion"), required=True)
        old = store.get(KIND, namespace, name)

        def put(obj: Obj) -> None:
            kept = {k: old["metadata"][k] for k in ("uid", "creationTimestamp", "namespace") if k in old["metadata"]}
            obj.clear()
            obj.update(body)
            obj["metadata"] = {**(body.get("metadata") or {}), "name": name, **kept}

        updated = store.update(KIND, namespace, name, put)
        assert updated is not None  # checked under the lock
        return updated


def _check_version(store: Store, namespace: str, name: str, version: object, *, required: bool) -> None:
    current = store.get(KIND, namespace, name)["metadata"]["resourceVersion"]
    if version is None and required:
        raise ApiError(
            422,
            "Invalid",
            f'{KIND}.{GROUP} "{name}" is invalid: metadata.resourceVersion: must be specified for an update',
        )
    if version is not None and str(version) != current:
        raise ApiError(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {KIND}.{GROUP} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            name,
            KIND,
        )
