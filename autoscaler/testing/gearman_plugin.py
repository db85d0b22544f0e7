"""A simulated Jenkins gearman-plugin for the simulated Jenkins: every online agent registers
``build:<job>:<label>`` workers on a Gearman server, takes one job, runs it as a build on itself,
and reports WORK_COMPLETE when the build is over (this is how Zuul gets builds onto agents)."""

from __future__ import annotations

import threading
import time
from typing import Any

import gear

from autoscaler.testing.jenkins import SimJenkins


class GearmanPlugin:
    def __init__(self, sim: SimJenkins, port: int, jobs: dict[str, str], *, duration: float = 1.0) -> None:
        self.sim = sim
        self.port = port
        self.jobs = jobs
        """Job name -> the label atom its builds need."""
        self.duration = duration
        self.workers: dict[str, Any] = {}
        self.done: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="gearman-plugin", daemon=True)

    def start(self) -> GearmanPlugin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            for worker in self.workers.values():
                worker.shutdown()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            with self.sim.model.lock:
                ready = {
                    n.name: n.labels
                    for n in self.sim.model.nodes.values()
                    if n.connected and not n.temporarily_offline and not n.running
                }
            with self._lock:
                for name in list(self.workers):
                    if name not in self.sim.model.nodes:
                        self.workers.pop(name).shutdown()
                for name, labels in ready.items():
                    functions = [f"build:{job}:{atom}" for job, atom in self.jobs.items() if atom in labels]
                    if functions and name not in self.workers:
                        worker = gear.Worker(f"jenkins-{name}")
                        worker.addServer("127.0.0.1", self.port)
                        self.workers[name] = worker
                        threading.Thread(target=self._serve, args=(name, worker, functions), daemon=True).start()

    def _serve(self, node: str, worker: Any, functions: list[str]) -> None:
        try:
            worker.waitForServer(10)
            for fn in functions:
                worker.registerFunction(fn)
            job = worker.getJob()  # asked once only: one build per agent
        except (InterruptedError, gear.GearmanError, OSError):
            return
        name = (job.name.decode() if isinstance(job.name, bytes) else job.name).split(":")[1]
        if node not in self.sim.model.nodes:  # the agent went away meanwhile: Zuul would retry it
            job.sendWorkFail()
            return
        pinned = f"{name}-on-{node}"
        self.sim.add_job(pinned, label=node, duration=self.duration)
        self.sim.trigger(pinned)
        deadline = time.monotonic() + 120
        while not any(b.job.name == pinned for b in list(self.sim.model.completed)):
            if time.monotonic() > deadline or self._stop.is_set():
                job.sendWorkFail()
                return
            time.sleep(0.05)
        job.sendWorkComplete(b"SUCCESS")
        with self._lock:
            self.done.append(name)
        worker.shutdown()
