"""The fault matrix's bench: the real daemon (engine loop, timers, listeners, API, local driver
with real agent processes) in this process, against the simulated Jenkins over real sockets.

:meth:`Fleet.promise` reads the four numbers every row asserts: builds lost, busy agents killed
(and one-shot agents that took a second build), agents leaked, and whether the daemon is up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoscaler.config.loader import load_config
from autoscaler.daemon import Daemon
from autoscaler.engine.messages import Command
from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.swarm_agent import command_line
from tests.e2e.harness import agent_credential, agent_processes, free_port, write


@dataclass(frozen=True)
class Promise:
    lost: int
    """Builds triggered that did not finish with SUCCESS."""
    killed: int
    """Builds aborted because their agent was stopped under them."""
    second_builds: int
    """Builds that ran on a one-shot agent after its first."""
    leaked: int
    """Agent processes of this daemon still running once all work is done."""
    up: bool


def fault_config(sim: SimJenkins, tmp: Path, daemon_id: str, **overrides: Any) -> dict[str, Any]:
    token = tmp / "jenkins-token"
    token.write_text(sim.token)
    config: dict[str, Any] = {
        "controllers": [
            {
                "name": "main",
                "url": sim.url,
                "user": sim.user,
                "token-file": str(token),
                "timeout": "1.5s",
                **agent_credential(sim, tmp),
            }
        ],
        "driver": {"type": "local", "work-dir": str(tmp / "agents"), "inherit-env": ["PATH", "HOME", "PYTHONPATH"]},
        "demand-listeners": [
            {"name": "queue", "type": "jenkins-queue", "interval": "0.3s", "label-source": "placeholders"}
        ],
        "destroy-listeners": [{"name": "events", "type": "zmq", "endpoints": [sim.zmq_endpoint]}],
        "labels": [
            {"name": "python", "command": command_line(retry=0.3), "max": 3, "idle-timeout": "2s"},
            {"name": "solo", "command": command_line(retry=0.3), "max": 1, "idle-timeout": "2s"},
        ],
        "limits": {"max-agents": 5, "boot-timeout": "2s", "backoff-initial": "0.5s", "backoff-max": "2s"},
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "daemon": {
            "id": daemon_id,
            "name-prefix": daemon_id,
            "tick": "0.2s",
            "reconcile-interval": "0.5s",
            "retire-grace": "2s",
        },
    }
    config.update(overrides)
    return config


class Fleet:
    def __init__(self, sim: SimJenkins, tmp: Path, **overrides: Any) -> None:
        self.sim = sim
        self.tmp = tmp
        self.id = "flt" + secrets.token_hex(3)
        self.config_file = write(tmp / "config.yaml", fault_config(sim, tmp, self.id, **overrides))
        self.daemon = Daemon(load_config(str(self.config_file)))
        self.triggered = 0

    def __enter__(self) -> Fleet:
        os.environ.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))  # for the agents
        self.daemon.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.daemon.stop()
        for pid in agent_processes(self.id):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    # -- driving ----------------------------------------------------------------------------

    def trigger(self, job: str, count: int = 1) -> None:
        for _ in range(count):
            self.sim.trigger(job)
            self.triggered += 1

    def ask(self, op: str, **args: Any) -> Any:
        command = Command(op, args)
        self.daemon.engine.submit(command)
        return command.reply.result(timeout=10)

    def agents(self) -> list[dict[str, Any]]:
        return list(self.ask("agents"))

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        self.sim.wait_for(predicate, timeout, what)

    def finished(self) -> int:
        with self.sim.model.lock:
            return len(self.sim.model.results)

    def wait_all_done(self, timeout: float = 30.0) -> None:
        """Every triggered build finished, and every agent retired."""
        try:
            self.wait(lambda: self.finished() >= self.triggered, timeout, f"{self.triggered} builds to finish")
            self.wait(lambda: not self.agents(), timeout, "every agent to be retired")
        except TimeoutError as exc:
            rows = [(a["name"], a["state"], a["comment"]) for a in self.agents()]
            raise AssertionError(f"{exc}; agents: {rows}; {self.promise()}") from None

    # -- the promise ------------------------------------------------------------------------

    def promise(self) -> Promise:
        model = self.sim.model
        with model.lock:
            results = list(model.results)
            per_node = Counter(build.node for build in model.completed)
            per_node.update(build.node for node in model.nodes.values() for build in node.running)
        return Promise(
            lost=self.triggered - results.count("SUCCESS"),
            killed=results.count("ABORTED"),
            second_builds=sum(n - 1 for n in per_node.values() if n > 1),
            leaked=len(agent_processes(self.id)),
            up=self.daemon.engine_running and self._answers(),
        )

    def _answers(self) -> bool:
        try:
            self.ask("status")
        except Exception:
            return False
        return True

    def assert_kept(self, timeout: float = 30.0) -> None:
        """Once the fault is gone: every build done, nothing killed, nothing leaked, daemon up."""
        self.wait_all_done(timeout)
        deadline = time.monotonic() + 5
        while agent_processes(self.id) and time.monotonic() < deadline:
            time.sleep(0.05)  # a retired agent's process group takes a moment to exit
        assert self.promise() == Promise(lost=0, killed=0, second_builds=0, leaked=0, up=True), self.promise()
