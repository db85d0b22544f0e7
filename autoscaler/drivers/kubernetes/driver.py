"""The ``kubernetes`` driver: one pod per agent through the official client.

One create and one delete per agent, plus one watch of this daemon's pods (resumed from its last
resource version, relisted on 410 Gone); ``list()`` answers from the watch's cache, so reconciling
costs no API call. API calls are rate limited (qps/burst) and launches bounded in flight. Every
call is bounded by ``request-timeout`` (connect, then answer) and is not retried by the HTTP layer,
so a hung API server costs a worker at most that long; the engine retries later.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from autoscaler.drivers.kubernetes import errors, podspec
from autoscaler.drivers.kubernetes.connection import api_client, own_namespace
from autoscaler.drivers.kubernetes.settings import KubernetesSettings
from autoscaler.drivers.kubernetes.status import handle_of
from autoscaler.inbound import inbound_launch, node_secret_of
from autoscaler.plugin import (
    AgentChanged,
    AgentHandle,
    Driver,
    DriverError,
    DriverSettings,
    DriverStatus,
    LaunchSpec,
    PluginContext,
    RateLimiter,
)

log = logging.getLogger(__name__)


class KubernetesDriver(Driver):
    settings_model = KubernetesSettings

    def __init__(self, settings: DriverSettings, context: PluginContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, KubernetesSettings)
        self.k8s = settings
        self.daemon_id = context.config.daemon.id
        self.namespace = settings.namespace or own_namespace() or "default"
        self.selector = podspec.selector(self.daemon_id)
        self.api_client = api_client(settings)
        self.core = client.CoreV1Api(self.api_client)
        self.limiter = RateLimiter(settings.qps, settings.burst)
        self.timeouts = (settings.request_timeout, settings.request_timeout)
        """``_request_timeout`` of every call: (connect, read)."""
        self.in_flight = threading.BoundedSemaphore(settings.max_in_flight)
        self.cache: dict[str, dict[str, Any]] = {}
        self._cache_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread: threading.Thread | None = None
        self.relists = 0

    # -- Driver API -------------------------------------------------------------------------

    def launch(self, spec: LaunchSpec) -> AgentHandle:
        label = spec.label
        if not label.image:
            raise DriverError(f"label {label.name!r} has no image for the kubernetes driver", transient=False)
        pod = podspec.build_pod(spec.name, label, spec.controller, self.daemon_id, self.k8s, time.time())
        self._ensure_watch()
        jenkins = self.context.jenkins.get(spec.controller.name)
        with self.in_flight, inbound_launch(spec, jenkins) as ready:
            created = self._create_pod(pod)
            secret = node_secret_of(ready)
            if secret is not None:
                self._create_agent_secret(spec.name, secret, created["metadata"]["uid"])
        with self._cache_lock:
            self.cache.setdefault(spec.name, created)
        return _handle(created, spec.controller.name)

    def delete(self, name: str, *, grace: float) -> None:
        what = f"delete pod {name}"
        try:
            self._call(what, self.core.delete_namespaced_pod, name, self.namespace, grace_period_seconds=int(grace))
        except ApiException as exc:
            if exc.status != 404:
                raise errors.api_error(what, exc) from None

    def list(self) -> builtins.list[AgentHandle]:
        self._ensure_watch()
        with self._cache_lock:
            pods = builtins.list(self.cache.values())
        default = self.context.config.default_controller.name
        return [_handle(pod, default) for pod in pods]

    def mark_hold(self, name: str, reason: str | None, until: float | None) -> None:
        value = None if reason is None else json.dumps({"reason": reason, "until": until})
        what = f"annotate pod {name}"
        patch = {"metadata": {"annotations": {podspec.ANN_HOLD: value}}}
        try:
            self._call(what, self.core.patch_namespaced_pod, name, self.namespace, patch)
        except ApiException as exc:
            if exc.status != 404:
                raise errors.api_error(what, exc) from None

    def annotate(self, name: str, annotations: dict[str, str]) -> None:
        """The job and build the agent ran, on its pod (a ``patch pods``), for cost tools."""
        what = f"annotate pod {name}"
        try:
            self._call(
                what, self.core.patch_namespaced_pod, name, self.namespace, {"metadata": {"annotations": annotations}}
            )
        except ApiException as exc:
            if exc.status != 404:
                raise errors.api_error(what, exc) from None

    def close(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + 5
        while self._thread is not None and self._thread.is_alive() and time.monotonic() < deadline:
            self._interrupt_watch()  # again until it takes: a watch may be (re)connecting right now
            self._thread.join(0.1)
        self.api_client.close()

    def _interrupt_watch(self) -> None:
        current = self._watch
        if current is None:
            return
        response = getattr(current, "_resp", None)
        current.stop()
        if response is not None and hasattr(response, "shutdown"):
            with contextlib.suppress(Exception):  # unblock the read the watch thread is in
                response.shutdown()

    # -- pods -------------------------------------------------------------------------------

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One rate-limited API call bounded by ``request-timeout``. An error answer raises
        :class:`ApiException` for the caller to read; no answer raises :class:`errors.NoAnswer`."""
        self.limiter.acquire()
        try:
            return method(*args, _request_timeout=self.timeouts, **kwargs)
        except ApiException:
            raise
        except Exception as exc:  # refused, timed out, dropped
            raise errors.transport_error(what, exc, self.k8s.request_timeout) from None

    def _create_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        name = pod["metadata"]["name"]
        what = f"create pod {name}"
        try:
            created = self._call(what, self.core.create_namespaced_pod, self.namespace, pod)
        except ApiException as exc:
            if exc.status == 409:  # an earlier attempt of this very launch got through
                log.info("pod %s already exists: taking it as launched", name)
                return self._own_pod(name, what)
            raise errors.api_error(what, exc) from None
        except errors.NoAnswer as exc:
            if not exc.sent:
                raise
            return self._created_unanswered(name, exc)
        return dict(self.api_client.sanitize_for_serialization(created))

    def _created_unanswered(self, name: str, exc: errors.NoAnswer) -> dict[str, Any]:
        """A create that got no answer may have been made: look once. The pod found is launched;
        otherwise the launch fails (transient) and a pod that appears later is in ``list()``."""
        try:
            pod = self._own_pod(name, f"create pod {name}")
        except DriverError as again:
            raise errors.NoAnswer(
                f"{exc}; the pod may exist all the same (it then shows in the listing with this daemon's labels;"
                f" looking for it: {again})",
                sent=True,
            ) from None
        log.warning("%s, but the pod was made: taking it as launched", exc)
        return pod

    def _own_pod(self, name: str, what: str) -> dict[str, Any]:
        """The pod named ``name``, which must be this daemon's."""
        try:
            found = self._call(f"read pod {name}", self.core.read_namespaced_pod, name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise DriverError(f"{what}: pod {name} was said to exist but is not found") from None
            raise errors.api_error(f"read pod {name}", exc) from None
        pod = dict(self.api_client.sanitize_for_serialization(found))
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get(podspec.INSTANCE) != self.daemon_id or labels.get(podspec.MANAGED_BY) != "autoscaler":
            raise DriverError(f"{what}: a pod named {name} exists and is not this daemon's", transient=False)
        return pod

    def _relist(self) -> str:
        try:
            result = self._call(
                "list pods", self.core.list_namespaced_pod, self.namespace, label_selector=self.selector
            )
        except ApiException as exc:
            raise errors.api_error("list pods", exc) from None
        data = self.api_client.sanitize_for_serialization(result)
        fresh = {pod["metadata"]["name"]: pod for pod in data.get("items") or []}
        with self._cache_lock:
            previous, self.cache = self.cache, fresh
        if self.relists:  # what changed while the watch was away
            self._report_gap(previous, fresh)
        self.relists += 1
        return str((data.get("metadata") or {}).get("resourceVersion") or "")

    def _report_gap(self, before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> None:
        def version(pod: dict[str, Any]) -> Any:
            return (pod.get("metadata") or {}).get("resourceVersion")

        for name, pod in before.items():
            if name not in after:
                self._emit(pod, deleted=True)
        for name, pod in after.items():
            if name not in before or version(before[name]) != version(pod):
                self._emit(pod, deleted=False)

    # -- the watch --------------------------------------------------------------------------

    def _ensure_watch(self) -> None:
        """List once (the first time, or if the watch thread died), then watch from there."""
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            rv = self._relist()
            self._thread = threading.Thread(target=self._watch_loop, args=(rv,), name="k8s-watch", daemon=True)
            self._thread.start()

    def _watch_loop(self, rv: str | None) -> None:
        pause = 0.5
        while not self._stop.is_set():
            try:
                if rv is None:
                    rv = self._relist()
                self._watch = watch.Watch()
                for event in self._watch.stream(
                    self.core.list_namespaced_pod,
                    self.namespace,
                    label_selector=self.selector,
                    resource_version=rv,
                    timeout_seconds=max(1, int(self.k8s.watch_timeout)),
                    allow_watch_bookmarks=True,
                    _request_timeout=(self.k8s.request_timeout, self.k8s.watch_timeout + self.k8s.request_timeout),
                ):
                    rv = self._apply(event) or rv
                    if self._stop.is_set():
                        break
                pause = 0.5  # the stream ended normally (its timeout): renew it at once
                continue
            except ApiException as exc:
                if exc.status == 410:
                    log.info("pod watch expired (410 Gone): relisting")
                    rv = None
                    continue
                log.warning("pod watch failed (%s %s): resuming in %.1fs", exc.status, exc.reason, pause)
            except DriverError as exc:
                log.warning("pod list failed: %s; retrying in %.1fs", exc, pause)
            except Exception as exc:  # dropped, or silent past its timeout: resume from the last version seen
                if self._stop.is_set():
                    return
                why = errors.transport_error("pod watch", exc, self.k8s.watch_timeout + self.k8s.request_timeout)
                log.warning("%s: resuming in %.1fs", why, pause)
            self._stop.wait(pause)
            pause = min(30.0, pause * 2)

    def _apply(self, event: dict[str, Any]) -> str | None:
        kind = event.get("type")
        obj = event.get("raw_object") or {}
        meta = obj.get("metadata") or {}
        rv = meta.get("resourceVersion")
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return str(rv) if rv else None
        name = meta.get("name", "")
        with self._cache_lock:
            if kind == "DELETED":
                self.cache.pop(name, None)
            else:
                self.cache[name] = obj
        self._emit(obj, deleted=kind == "DELETED")
        return str(rv) if rv else None

    def _emit(self, pod: dict[str, Any], *, deleted: bool) -> None:
        handle = _handle(pod, self.context.config.default_controller.name)
        if deleted:
            handle = AgentHandle(
                handle.name, handle.label, handle.controller, DriverStatus.EXITED, handle.created, "pod deleted"
            )
        self.context.emit(AgentChanged(handle, source="kubernetes"))

    # -- inbound agents ---------------------------------------------------------------------

    def _create_agent_secret(self, name: str, secret: str, pod_uid: str) -> None:
        body = podspec.agent_secret(name, secret, pod_uid, self.daemon_id)
        what = f"create secret for {name}"
        try:
            self._call(what, self.core.create_namespaced_secret, self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                return
            self._delete_quietly(name)
            raise errors.api_error(what, exc) from None
        except errors.NoAnswer:
            self._delete_quietly(name)  # the pod cannot start without its secret
            raise

    def _delete_quietly(self, name: str) -> None:
        try:
            self.delete(name, grace=0)
        except DriverError as exc:
            log.warning("could not remove pod %s after a failed launch (it will show as a leak): %s", name, exc)


def _handle(pod: dict[str, Any], default_controller: str) -> AgentHandle:
    """What the pod says of its agent, and whether it is scheduled (its ``PodScheduled``
    condition is true, or it is bound to a node): the ``scheduled`` start-up phase."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    scheduled = any(c.get("type") == "PodScheduled" and c.get("status") == "True" for c in conditions)
    bound = bool((pod.get("spec") or {}).get("nodeName"))
    return dataclasses.replace(handle_of(pod, default_controller), scheduled=scheduled or bound)


__all__ = ["KubernetesDriver"]
