"""The ``kubernetes`` driver: one pod per agent through the official client.

One create and one delete per agent, plus one watch of this daemon's pods (resumed from its last
resource version, relisted on 410 Gone); ``list()`` answers from the watch's cache, so reconciling
costs no API call. API calls are rate limited (qps/burst) and launches bounded in flight.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from autoscaler.drivers.kubernetes import podspec
from autoscaler.drivers.kubernetes.settings import KubernetesSettings
from autoscaler.drivers.kubernetes.status import handle_of
from autoscaler.events import AgentChanged
from autoscaler.jenkins.client import JenkinsError
from autoscaler.plugin import AgentHandle, Driver, DriverError, DriverSettings, DriverStatus, LaunchSpec, PluginContext

log = logging.getLogger(__name__)
IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class RateLimiter:
    """Token bucket: ``qps`` calls a second on average, ``burst`` at once."""

    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.qps, self.burst = qps, float(burst)
        self.clock, self.sleep = clock, sleep
        self.tokens, self.stamp = float(burst), clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.qps)
            self.stamp = now
            self.tokens -= 1
            wait = -self.tokens / self.qps if self.tokens < 0 else 0.0
        if wait > 0:
            self.sleep(wait)


def api_client(settings: KubernetesSettings) -> client.ApiClient:
    cfg = client.Configuration()
    try:
        if settings.url is not None:
            cfg.host = settings.url.rstrip("/")
            token = settings.api_key
            if settings.api_key_file is not None:
                with open(settings.api_key_file, encoding="utf-8") as fh:
                    token = fh.read().strip()
            if token:
                cfg.api_key = {"authorization": token}
                cfg.api_key_prefix = {"authorization": "Bearer"}
            cfg.verify_ssl = settings.verify_tls
        elif settings.kubeconfig is not None:
            config.load_kube_config(config_file=settings.kubeconfig, context=settings.context, client_configuration=cfg)
        else:
            try:
                config.load_incluster_config(client_configuration=cfg)
            except ConfigException:
                config.load_kube_config(context=settings.context, client_configuration=cfg)
    except (ConfigException, OSError) as exc:
        raise DriverError(f"kubernetes: no usable cluster configuration: {exc}", transient=False) from None
    return client.ApiClient(cfg)


class KubernetesDriver(Driver):
    settings_model = KubernetesSettings

    def __init__(self, settings: DriverSettings, context: PluginContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, KubernetesSettings)
        self.k8s = settings
        self.daemon_id = context.config.daemon.id
        self.namespace = settings.namespace or _own_namespace() or "default"
        self.selector = podspec.selector(self.daemon_id)
        self.api_client = api_client(settings)
        self.core = client.CoreV1Api(self.api_client)
        self.limiter = RateLimiter(settings.qps, settings.burst)
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
        with self.in_flight:
            secret = self._register_inbound(spec) if label.connect == "inbound" else None
            try:
                created = self._create_pod(pod)
                if secret is not None:
                    self._create_agent_secret(spec.name, secret, created["metadata"]["uid"])
            except DriverError:
                if secret is not None:
                    self._forget_inbound(spec)
                raise
        with self._cache_lock:
            self.cache.setdefault(spec.name, created)
        return handle_of(created, spec.controller.name)

    def delete(self, name: str, *, grace: float) -> None:
        self.limiter.acquire()
        try:
            self.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=int(grace))
        except ApiException as exc:
            if exc.status == 404:
                return
            raise _driver_error(f"delete pod {name}", exc) from None
        except Exception as exc:  # connection refused, timeouts
            raise DriverError(f"delete pod {name}: {exc}") from None

    def list(self) -> builtins.list[AgentHandle]:
        self._ensure_watch()
        with self._cache_lock:
            pods = builtins.list(self.cache.values())
        default = self.context.config.controllers[0].name
        return [handle_of(pod, default) for pod in pods]

    def mark_hold(self, name: str, reason: str | None, until: float | None) -> None:
        value = None if reason is None else json.dumps({"reason": reason, "until": until})
        self.limiter.acquire()
        try:
            self.core.patch_namespaced_pod(
                name, self.namespace, {"metadata": {"annotations": {podspec.ANN_HOLD: value}}}
            )
        except ApiException as exc:
            if exc.status != 404:
                raise _driver_error(f"annotate pod {name}", exc) from None

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

    def _create_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        name = pod["metadata"]["name"]
        self.limiter.acquire()
        try:
            created = self.core.create_namespaced_pod(self.namespace, pod)  # type: ignore[arg-type]
        except ApiException as exc:
            if exc.status == 409:  # an earlier attempt of this very launch got through
                log.info("pod %s already exists: taking it as launched", name)
                return self._read_pod(name)
            raise _driver_error(f"create pod {name}", exc) from None
        except Exception as exc:
            raise DriverError(f"create pod {name}: {exc}") from None
        return dict(self.api_client.sanitize_for_serialization(created))

    def _read_pod(self, name: str) -> dict[str, Any]:
        self.limiter.acquire()
        try:
            return dict(self.api_client.sanitize_for_serialization(self.core.read_namespaced_pod(name, self.namespace)))
        except ApiException as exc:
            raise _driver_error(f"read pod {name}", exc) from None

    def _relist(self) -> str:
        self.limiter.acquire()
        try:
            result = self.core.list_namespaced_pod(self.namespace, label_selector=self.selector)
        except ApiException as exc:
            raise _driver_error("list pods", exc) from None
        except Exception as exc:
            raise DriverError(f"list pods: {exc}") from None
        data = self.api_client.sanitize_for_serialization(result)
        with self._cache_lock:
            self.cache = {pod["metadata"]["name"]: pod for pod in data.get("items") or []}
        self.relists += 1
        return str((data.get("metadata") or {}).get("resourceVersion") or "")

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
                    timeout_seconds=int(self.k8s.watch_timeout),
                    allow_watch_bookmarks=True,
                    _request_timeout=self.k8s.watch_timeout + 30,
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
            except Exception as exc:  # connection dropped: resume from the last version seen
                if self._stop.is_set():
                    return
                log.warning("pod watch interrupted (%s): resuming in %.1fs", type(exc).__name__, pause)
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
        default = self.context.config.controllers[0].name
        with self._cache_lock:
            if kind == "DELETED":
                self.cache.pop(name, None)
            else:
                self.cache[name] = obj
        handle = handle_of(obj, default)
        if kind == "DELETED":
            handle = AgentHandle(
                handle.name, handle.label, handle.controller, DriverStatus.EXITED, handle.created, "pod deleted"
            )
        self.context.emit(AgentChanged(handle, source="kubernetes"))
        return str(rv) if rv else None

    # -- inbound agents ---------------------------------------------------------------------

    def _register_inbound(self, spec: LaunchSpec) -> str:
        """Create the Jenkins node (JNLP launcher) and read its secret."""
        jenkins = self.context.jenkins.get(spec.controller.name)
        if jenkins is None:
            raise DriverError(f"no Jenkins client for controller {spec.controller.name!r}", transient=False)
        label = spec.label
        try:
            jenkins.create_node(
                spec.name,
                labels=" ".join(sorted(label.all_atoms)),
                executors=label.executors,
                description=f"autoscaler agent ({label.name})",
            )
            for page in ("jenkins-agent.jnlp", "slave-agent.jnlp"):
                try:
                    return _jnlp_secret(jenkins.get_text(f"computer/{spec.name}/{page}"))
                except JenkinsError as exc:
                    if not exc.not_found:
                        raise
            raise DriverError(f"Jenkins has no agent secret for {spec.name}", transient=False)
        except JenkinsError as exc:
            raise DriverError(f"registering inbound node {spec.name}: {exc}", transient=exc.transient) from None

    def _forget_inbound(self, spec: LaunchSpec) -> None:
        jenkins = self.context.jenkins.get(spec.controller.name)
        if jenkins is not None:
            try:
                jenkins.delete_node(spec.name)
            except JenkinsError as exc:
                log.warning("could not remove node %s after a failed launch: %s", spec.name, exc)

    def _create_agent_secret(self, name: str, secret: str, pod_uid: str) -> None:
        body = podspec.agent_secret(name, secret, pod_uid, self.daemon_id)
        self.limiter.acquire()
        try:
            self.core.create_namespaced_secret(self.namespace, body)  # type: ignore[arg-type]
        except ApiException as exc:
            if exc.status != 409:
                self.delete(name, grace=0)
                raise _driver_error(f"create secret for {name}", exc) from None


def _jnlp_secret(xml: str) -> str:
    arguments = re.findall(r"<argument>([^<]*)</argument>", xml)
    if not arguments or not re.fullmatch(r"[0-9a-fA-F]{16,}", arguments[0]):
        raise DriverError("the agent's JNLP file has no secret", transient=False)
    return str(arguments[0])


def _driver_error(what: str, exc: ApiException) -> DriverError:
    message = exc.reason or ""
    with contextlib.suppress(ValueError):
        message = json.loads(exc.body or "{}").get("message") or message
    if exc.status == 403 and "exceeded quota" in message:
        return DriverError(f"{what}: quota: {message}", transient=True)
    transient = exc.status in (429, 500, 502, 503, 504) or exc.status == 0
    return DriverError(f"{what}: {exc.status} {message}", transient=transient)


def _own_namespace() -> str | None:
    try:
        with open(IN_CLUSTER_NAMESPACE, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


__all__ = ["KubernetesDriver", "RateLimiter", "api_client"]
