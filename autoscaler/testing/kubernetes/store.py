"""The Kubernetes API double's storage: pods and secrets with resource versions, a bounded event
history for watches (older versions answer 410 Gone), owner-reference garbage collection, and a
pod-count quota (403 Forbidden, like a ResourceQuota)."""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, name: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = {"name": name, "kind": kind}

    def status(self) -> Obj:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def _merge_patch(target: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """All objects of the double; every method takes the lock."""

    def __init__(self, *, history: int = 1000, pod_quota: int | None = None) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.objects: dict[tuple[str, str, str], Obj] = {}  # (kind, namespace, name)
        self.events: deque[tuple[int, str, str, Obj]] = deque(maxlen=history)  # (rv, type, kind, obj)
        self._rv = itertools.count(1000)
        self.rv = 999
        self.pod_quota = pod_quota
        self.compacted = 0
        """Versions below this were compacted away (a watch from one answers 410 Gone)."""
        self.calls: Counter[str] = Counter()
        """Requests by ``METHOD kind`` (``POST pods``, ``DELETE pods``, ``GET pods``, ``WATCH pods``)."""

    # -- writes -----------------------------------------------------------------------------

    def create(self, kind: str, namespace: str, body: Obj) -> Obj:
        with self.lock:
            meta = body.setdefault("metadata", {})
            name = meta.get("name")
            if not name:
                raise ApiError(422, "Invalid", f"{kind} must have a name", kind=kind)
            if (kind, namespace, name) in self.objects:
                raise ApiError(409, "AlreadyExists", f'{kind} "{name}" already exists', name, kind)
            if kind == "pods" and self.pod_quota is not None:
                used = sum(
                    1
                    for (k, ns, _), o in self.objects.items()
                    if k == "pods" and ns == namespace and o["status"].get("phase") not in ("Succeeded", "Failed")
                )
                if used >= self.pod_quota:
                    raise ApiError(
                        403,
                        "Forbidden",
                        f'pods "{name}" is forbidden: exceeded quota: compute-resources, '
                        f"requested: pods=1, used: pods={used}, limited: pods={self.pod_quota}",
                        name,
                        kind,
                    )
            obj = copy.deepcopy(body)
            obj["metadata"].update({"namespace": namespace, "uid": str(uuid.uuid4()), "creationTimestamp": now_iso()})
            obj.setdefault("apiVersion", "v1")
            obj.setdefault("kind", {"pods": "Pod", "secrets": "Secret"}.get(kind, kind))
            if kind == "pods":
                obj["status"] = {"phase": "Pending", "qosClass": "Burstable"}
            self._write(kind, namespace, obj, "ADDED")
            return copy.deepcopy(obj)

    def update(self, kind: str, namespace: str, name: str, mutate: Any) -> Obj | None:
        """Apply ``mutate(obj)`` in place and publish MODIFIED (used by the kubelet)."""
        with self.lock:
            obj = self.objects.get((kind, namespace, name))
            if obj is None:
                return None
            mutate(obj)
            self._write(kind, namespace, obj, "MODIFIED")
            return copy.deepcopy(obj)

    def patch(self, kind: str, namespace: str, name: str, patch: Obj) -> Obj:
        """A JSON merge patch (``null`` removes a key), as for merge and strategic-merge patches of metadata."""
        with self.lock:
            obj = self.objects.get((kind, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{kind} "{name}" not found', name, kind)
            _merge_patch(obj, patch)
            self._write(kind, namespace, obj, "MODIFIED")
            return copy.deepcopy(obj)

    def delete(self, kind: str, namespace: str, name: str, *, graceful: bool = True) -> Obj:
        with self.lock:
            obj = self.objects.get((kind, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{kind} "{name}" not found', name, kind)
            if kind == "pods" and graceful and obj["status"].get("phase") == "Running":
                if "deletionTimestamp" not in obj["metadata"]:
                    obj["metadata"]["deletionTimestamp"] = now_iso()
                    self._write(kind, namespace, obj, "MODIFIED")
                return copy.deepcopy(obj)  # the kubelet stops it, then it is removed
            return self.remove(kind, namespace, name) or obj

    def remove(self, kind: str, namespace: str, name: str) -> Obj | None:
        """Remove at once (kubelet done, or garbage collection), cascading to dependents."""
        with self.lock:
            obj = self.objects.pop((kind, namespace, name), None)
            if obj is None:
                return None
            self._publish(kind, "DELETED", obj)
            uid = obj["metadata"]["uid"]
            for (k, ns, n), other in list(self.objects.items()):
                owners = other["metadata"].get("ownerReferences") or []
                if any(o.get("uid") == uid for o in owners):
                    self.remove(k, ns, n)
            return copy.deepcopy(obj)

    def _write(self, kind: str, namespace: str, obj: Obj, event: str) -> None:
        self.objects[(kind, namespace, obj["metadata"]["name"])] = obj
        self._publish(kind, event, obj)

    def _publish(self, kind: str, event: str, obj: Obj) -> None:
        self.rv = next(self._rv)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append((self.rv, event, kind, copy.deepcopy(obj)))
        self.changed.notify_all()

    # -- reads ------------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self.objects.get((kind, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{kind} "{name}" not found', name, kind)
            return copy.deepcopy(obj)

    def list_objects(self, kind: str, namespace: str, match: Any) -> tuple[list[Obj], str]:
        with self.lock:
            items = [
                copy.deepcopy(o)
                for (k, ns, _), o in sorted(self.objects.items())
                if k == kind and ns == namespace and match(o["metadata"].get("labels") or {})
            ]
            return items, str(self.rv)

    def events_after(self, rv: int) -> list[tuple[int, str, str, Obj]] | None:
        """Events newer than ``rv``; None if ``rv`` is older than the history kept (410 Gone)."""
        with self.lock:
            if rv < self.compacted or (rv < self.rv and (not self.events or self.events[0][0] > rv + 1)):
                return None
            return [e for e in self.events if e[0] > rv]

    def compact(self) -> None:
        """Forget the event history, as etcd compaction does: old watches get 410 Gone."""
        with self.lock:
            self.events.clear()
            self.compacted = self.rv
