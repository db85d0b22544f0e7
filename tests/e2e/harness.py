"""Run the daemon as a user does: ``autoscaler run -c FILE`` in a subprocess, inspected with the CLI."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.swarm_agent import command_line

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def agent_credential(sim: SimJenkins, tmp: Path) -> dict[str, str]:
    """The controller keys of an agent credential: the sim's first agent user (one is added to a
    sim that has none), its token in a file, as an operator configures it."""
    if not sim.agent_users:
        sim.agent_users["agent"] = "agent-" + secrets.token_hex(8)
    user, token = next(iter(sim.agent_users.items()))
    path = tmp / "agent-token"
    path.write_text(token)
    return {"agent-user": user, "agent-token-file": str(path)}


def sim_config(sim: SimJenkins, tmp: Path, **overrides: Any) -> dict[str, Any]:
    token = tmp / "jenkins-token"
    token.write_text(sim.token)
    controller = {"name": "main", "url": sim.url, "user": sim.user, "token-file": str(token)}
    config: dict[str, Any] = {
        "controllers": [{**controller, **agent_credential(sim, tmp)}],
        "driver": {"type": "local", "work-dir": str(tmp / "agents"), "inherit-env": ["PATH", "HOME", "PYTHONPATH"]},
        "demand-listeners": [
            {"name": "queue", "type": "jenkins-queue", "interval": "0.5s", "label-source": "placeholders"}
        ],
        "destroy-listeners": [{"name": "events", "type": "zmq", "endpoints": [sim.zmq_endpoint]}],
        "labels": [
            {"name": "python", "command": command_line(), "max": 4, "idle-timeout": "3s"},
            {"name": "docker", "atoms": ["linux"], "command": command_line(), "max": 2, "idle-timeout": "3s"},
        ],
        "limits": {"max-agents": 6, "boot-timeout": "60s"},
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "daemon": {"id": "e2e", "name-prefix": "e2e", "tick": "0.3s", "reconcile-interval": "1s", "retire-grace": "5s"},
    }
    config.update(overrides)
    return config


class Daemon:
    def __init__(self, config_file: Path, log_file: Path, env: dict[str, str] | None = None) -> None:
        self.env = env or {}
        """Extra environment for the daemon's process (not for its agents)."""
        self.config_file = config_file
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), **self.env)
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "autoscaler"), "run", "-c", str(self.config_file), "--log-level", "debug"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.wait(lambda: self.cli_ok("pools"), 30, "the API to answer")
        return self

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def cli(self, *args: str) -> Any:
        out = subprocess.run(
            [str(BIN / "autoscaler"), *args, "-c", str(self.config_file), "-o", "json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return json.loads(out.stdout)

    def cli_ok(self, *args: str) -> bool:
        try:
            self.cli(*args)
            return True
        except subprocess.CalledProcessError:
            return False

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll a user-visible condition (the CLI, the process) until it holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                raise AssertionError(f"daemon exited ({code}) waiting for {what}:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-3000:]}")
            time.sleep(0.2)


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def agent_processes(daemon_id: str) -> list[int]:
    """Process groups on this machine that carry the daemon id (what a leak would look like)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != int(entry.name):
                continue
            env = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except (OSError, ProcessLookupError):
            continue
        if f"AUTOSCALER_DAEMON_ID={daemon_id}".encode() in env.split(b"\0") and stat.split(") ")[1][0] != "Z":
            found.append(int(entry.name))
    return found
