"""A simulated kubelet: runs the double's pods as local processes.

An image is "pullable" when it is in ``images`` (image -> local argv prefix; the container's
``args`` follow); any other image fails with ``ErrImagePull`` then ``ImagePullBackOff``. Env
entries are resolved (``secretKeyRef`` from the store; a missing Secret waits with
``CreateContainerConfigError``). Deleting a running pod sends SIGTERM to its process group, then
SIGKILL after the grace period; a process that exits ends the pod (restartPolicy Never).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from autoscaler.testing.kubernetes.store import Obj, Store, now_iso

log = logging.getLogger(__name__)

SIM_IMAGES = {
    "swarm-agent": [sys.executable, "-m", "autoscaler.testing.swarm_agent"],
    "inbound-agent": [sys.executable, "-m", "autoscaler.testing.inbound_agent"],
}


def image_key(image: str) -> str:
    """``registry.example.org/ci/swarm-agent:3.47`` -> ``swarm-agent``."""
    return image.rsplit("/", 1)[-1].split("@", maxsplit=1)[0].split(":", maxsplit=1)[0]


class _Running:
    def __init__(self, proc: subprocess.Popen[bytes], grace: float) -> None:
        self.proc = proc
        self.grace = grace
        self.kill_at: float | None = None


class Kubelet:
    def __init__(
        self,
        store: Store,
        namespace: str,
        *,
        images: dict[str, list[str]] | None = None,
        start_delay: float = 0.05,
        backoff_delay: float = 0.3,
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.images = dict(SIM_IMAGES if images is None else images)
        self.start_delay = start_delay
        self.backoff_delay = backoff_delay
        self.running: dict[str, _Running] = {}
        self.unschedulable: str | None = None
        """While set, new pods stay Pending unscheduled, with this as the scheduler's message."""
        self.pull_seconds = 0.0
        """How long pulling an image takes (the container waits in ``ContainerCreating`` meanwhile)."""
        self.logs = tempfile.TemporaryDirectory(prefix="kubelet-")
        self._stop = threading.Event()
        self._seen: dict[str, float] = {}
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)

    def start(self) -> Kubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the kubelet and every process it runs (a test cluster going away)."""
        self._stop.set()
        with self.store.changed:
            self.store.changed.notify_all()
        self._thread.join(timeout=5)
        for run in self.running.values():
            _signal(run.proc, signal.SIGKILL)
            run.proc.wait(timeout=5)
        self.logs.cleanup()

    def evict(self, name: str) -> None:
        """Evict a pod: its process is killed and the pod fails with reason Evicted."""
        run = self.running.pop(name, None)
        if run is not None:
            _signal(run.proc, signal.SIGKILL)
            run.proc.wait(timeout=5)

        def mark(pod: Obj) -> None:
            pod["status"].update(
                {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}
            )

        self.store.update("pods", self.namespace, name, mark)

    def oom_kill(self, name: str) -> None:
        """The kernel's OOM killer ends a pod's process: it fails with ``OOMKilled``, exit code 137."""
        run = self.running.pop(name, None)
        if run is not None:
            _signal(run.proc, signal.SIGKILL)
            run.proc.wait(timeout=5)

        def mark(pod: Obj) -> None:
            pod["status"]["phase"] = "Failed"
            for status in pod["status"].get("containerStatuses") or []:
                status["ready"] = False
                status["state"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": now_iso()}}

        self.store.update("pods", self.namespace, name, mark)

    # -- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self.store.changed:
                self.store.changed.wait(0.05)
                pods = [p for (k, ns, _), p in self.store.objects.items() if k == "pods" and ns == self.namespace]
                names = [p["metadata"]["name"] for p in pods]
            for name in names:
                try:
                    self._sync(name)
                except Exception:  # a broken pod must not stop the kubelet
                    log.exception("kubelet: error syncing %s", name)

    def _sync(self, name: str) -> None:
        with self.store.lock:
            pod = self.store.objects.get(("pods", self.namespace, name))
            if pod is None:
                return
            phase = pod["status"].get("phase")
            deleting = "deletionTimestamp" in pod["metadata"]
        now = time.monotonic()
        run = self.running.get(name)
        if deleting:
            self._terminate(name, run, now)
        elif run is not None and run.proc.poll() is not None:
            self._exited(name, run.proc.returncode)
        elif phase == "Pending" and self.unschedulable is not None and not pod["spec"].get("nodeName"):
            self._unschedulable(name, self.unschedulable)
        elif phase == "Pending":
            first = self._seen.setdefault(name, now)
            if now - first >= self.start_delay + self._pulling(name, pod, now - first):
                self._start(name, pod, now - first)

    def _unschedulable(self, name: str, message: str) -> None:
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}

        def pending(p: Obj) -> None:
            p["status"]["conditions"] = [condition]

        with self.store.lock:
            pod = self.store.objects.get(("pods", self.namespace, name))
            if pod is None or (pod["status"].get("conditions") or [None])[0] == condition:
                return
        self.store.update("pods", self.namespace, name, pending)

    def _pulling(self, name: str, pod: Obj, waited: float) -> float:
        """Seconds of pulling left to wait for (the pod is scheduled and shows ``ContainerCreating``)."""
        if self.pull_seconds <= 0 or waited >= self.start_delay + self.pull_seconds:
            return self.pull_seconds if self.pull_seconds > 0 else 0.0
        container = pod["spec"]["containers"][0]
        if image_key(container.get("image", "")) in self.images:

            def scheduled(p: Obj) -> None:
                p["spec"]["nodeName"] = "sim-node-1"
                p["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]

            if not pod["spec"].get("nodeName"):
                self.store.update("pods", self.namespace, name, scheduled)
            self._waiting(name, container, "ContainerCreating", "")
        return self.pull_seconds

    def _start(self, name: str, pod: Obj, waited: float) -> None:
        container = pod["spec"]["containers"][0]
        image = container.get("image", "")
        argv = self.images.get(image_key(image))
        if argv is None:
            reason = "ErrImagePull" if waited < self.start_delay + self.backoff_delay else "ImagePullBackOff"
            self._waiting(name, container, reason, f'Back-off pulling image "{image}"')
            return
        env, missing = self._env(container)
        if missing:
            self._waiting(name, container, "CreateContainerConfigError", f'secret "{missing}" not found')
            return
        log_file = open(os.path.join(self.logs.name, f"{name}.log"), "ab")  # noqa: SIM115 - owned by the process
        proc = subprocess.Popen(
            [*argv, *container.get("args", [])],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.logs.name,
        )
        log_file.close()
        grace = float(pod["spec"].get("terminationGracePeriodSeconds", 30))
        self.running[name] = _Running(proc, grace)

        def running(p: Obj) -> None:
            p["spec"]["nodeName"] = "sim-node-1"
            p["status"].update(
                {
                    "phase": "Running",
                    "podIP": "10.0.0.7",
                    "startTime": now_iso(),
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                        {
                            "name": container["name"],
                            "image": image,
                            "imageID": f"{image}@sha256:{'0' * 64}",
                            "containerID": f"containerd://{proc.pid:064x}",
                            "started": True,
                            "ready": True,
                            "restartCount": 0,
                            "state": {"running": {"startedAt": now_iso()}},
                        }
                    ],
                }
            )

        self.store.update("pods", self.namespace, name, running)

    def _waiting(self, name: str, container: Obj, reason: str, message: str) -> None:
        def waiting(p: Obj) -> None:
            current = (p["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting", {})
            if current.get("reason") == reason:
                return
            p["status"]["containerStatuses"] = [
                {
                    "name": container["name"],
                    "image": container.get("image", ""),
                    "imageID": "",
                    "started": False,
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": reason, "message": message}},
                }
            ]

        with self.store.lock:
            pod = self.store.objects.get(("pods", self.namespace, name))
            state = ((pod or {}).get("status", {}).get("containerStatuses") or [{}])[0].get("state", {})
            if state.get("waiting", {}).get("reason") == reason:
                return
        self.store.update("pods", self.namespace, name, waiting)

    def _exited(self, name: str, code: int) -> None:
        self.running.pop(name, None)

        def terminated(p: Obj) -> None:
            p["status"]["phase"] = "Succeeded" if code == 0 else "Failed"
            for status in p["status"].get("containerStatuses") or []:
                status["ready"] = False
                status["state"] = {
                    "terminated": {
                        "exitCode": code,
                        "reason": "Completed" if code == 0 else "Error",
                        "finishedAt": now_iso(),
                    }
                }

        self.store.update("pods", self.namespace, name, terminated)

    def _terminate(self, name: str, run: _Running | None, now: float) -> None:
        if run is None:
            self.store.remove("pods", self.namespace, name)
            return
        if run.kill_at is None:
            _signal(run.proc, signal.SIGTERM)
            run.kill_at = now + run.grace
        if run.proc.poll() is None and now >= run.kill_at:
            _signal(run.proc, signal.SIGKILL)
            run.proc.wait(timeout=5)
        if run.proc.poll() is not None:
            _signal(run.proc, signal.SIGKILL)  # anything left in its group
            self.running.pop(name, None)
            self.store.remove("pods", self.namespace, name)

    def _env(self, container: Obj) -> tuple[dict[str, str], str | None]:
        env = {k: os.environ[k] for k in ("PATH", "HOME", "PYTHONPATH") if k in os.environ}
        for entry in container.get("env") or []:
            if "value" in entry:
                env[entry["name"]] = str(entry["value"])
                continue
            ref: dict[str, Any] = (entry.get("valueFrom") or {}).get("secretKeyRef") or {}
            if not ref:
                continue
            with self.store.lock:
                secret = self.store.objects.get(("secrets", self.namespace, ref.get("name", "")))
            if secret is None:
                return env, ref.get("name")
            if ref.get("key") in (secret.get("stringData") or {}):
                env[entry["name"]] = secret["stringData"][ref["key"]]
            elif ref.get("key") in (secret.get("data") or {}):
                env[entry["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
            else:
                return env, f"{ref.get('name')}/{ref.get('key')}"
        return env, None


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
