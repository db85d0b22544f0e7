"""The local driver: one process (group) per agent on this machine.

Each agent runs the label's ``command`` in its own session and working directory; its output
goes to a per-agent log file. A state file per agent (pid, process start time) lets a restarted
daemon adopt live agents and forget dead ones; processes carry their agent name and the daemon
id in their environment, so an agent whose state file was never written is still found.
A swarm agent gets the controller's agent credential (``agent-user``'s token, never the daemon's)
in an environment variable, never on the command line; an inbound label's agent gets its node's
secret (``JENKINS_SECRET``) instead, its node registered by the framework (:mod:`autoscaler.inbound`).
A config whose swarm agents would have no credential of their own is refused when the driver is
built. The environment is the framework's (:mod:`autoscaler.agent_env`), the same a pod of the
label gets. Processes found in ``/proc`` are adopted only as :mod:`.local_procs` trusts them.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from autoscaler.agent_env import (
    Secret,
    agent_credential_problems,
    agent_env,
    daemon_token,
    fill,
    has_daemon_token,
)
from autoscaler.drivers.local_procs import alive as _alive
from autoscaler.drivers.local_procs import inside, scan_orphans
from autoscaler.drivers.local_procs import signal_group as _signal_group
from autoscaler.drivers.local_procs import start_ticks as _start_ticks
from autoscaler.drivers.local_procs import wait_gone as _wait_gone
from autoscaler.drivers.logtail import with_tail
from autoscaler.inbound import inbound_launch, node_secret_of
from autoscaler.plugin import (
    AgentHandle,
    Driver,
    DriverError,
    DriverSettings,
    DriverStatus,
    Duration,
    LaunchSpec,
    PluginContext,
)

log = logging.getLogger(__name__)


class LocalSettings(DriverSettings):
    """``driver: {type: local}``: agents are processes on the daemon's machine."""

    work_dir: str = "/var/lib/autoscaler/local"
    """Holds ``agents/`` (state files), ``work/<agent>/`` (working dirs) and ``logs/``."""
    credential_env: str = "JENKINS_TOKEN"
    """Environment variable the agent finds the Jenkins token in (swarm: ``-passwordEnvVariable``)."""
    inherit_env: tuple[str, ...] = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "JAVA_HOME", "TMPDIR")
    """Variables passed through from the daemon's environment; nothing else is."""
    kill_after: Duration = Field(default=10.0, ge=0)
    """Fallback grace between TERM and KILL when the engine gives none."""
    keep_workdirs: bool = False
    """Keep an agent's working directory after it is retired (logs are always kept)."""

    @field_validator("credential_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not value.replace("_", "").isalnum() or value[0].isdigit():
            raise ValueError(f"expected an environment variable name, got {value!r}")
        return value


@dataclass
class _Record:
    name: str
    label: str
    controller: str
    daemon_id: str
    pid: int
    start_ticks: int
    created: float
    workdir: str
    log: str
    hold: dict[str, Any] | None = None
    """``{"reason": ..., "until": epoch or null}`` while the agent is held."""
    annotations: dict[str, str] | None = None
    """The job and build it ran (``autoscaler.jenkins.io/job``, ``.../build``), for cost reports."""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class LocalDriver(Driver):
    settings_model = LocalSettings

    def __init__(self, settings: DriverSettings, context: PluginContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, LocalSettings)
        self.local = settings
        self.daemon_id = context.config.daemon.id
        problems = agent_credential_problems(context.config)
        if problems:
            raise DriverError("\n".join(problems), transient=False)
        root = Path(settings.work_dir)
        self.root = root
        self.state_dir = root / "agents"
        self.work_root = root / "work"
        self.log_dir = root / "logs"
        for d in (self.state_dir, self.work_root, self.log_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    # -- Driver API -------------------------------------------------------------------------

    def launch(self, spec: LaunchSpec) -> AgentHandle:
        lab = spec.label
        if lab.command is None:
            raise DriverError(f"label {lab.name!r} has no command for the local driver", transient=False)
        self._check_credential(spec)
        if not self._safe_name(spec.name):
            raise DriverError(f"agent name {spec.name!r} would make a path outside {self.root}", transient=False)
        workdir = self.work_root / spec.name
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_path = self.log_dir / f"{spec.name}.log"
        with inbound_launch(spec, self.context.jenkins.get(spec.controller.name)) as ready:
            argv, env = agent_process(self.local, ready, self.daemon_id, workdir, os.environ)
            proc = self._spawn(argv, env, workdir, log_path)
        record = _Record(
            spec.name,
            lab.name,
            spec.controller.name,
            self.daemon_id,
            proc.pid,
            _start_ticks(proc.pid) or 0,
            time.time(),
            str(workdir),
            str(log_path),
        )
        self._write(record)
        with self._lock:
            self._children[spec.name] = proc
        log.info("started %s (pid %d): %s", spec.name, proc.pid, " ".join(argv[:3]))
        return self._handle(record)

    @staticmethod
    def _check_credential(spec: LaunchSpec) -> None:
        """A swarm agent gets the agent credential or nothing: never the daemon's own token."""
        if spec.label.connect != "swarm" or not has_daemon_token(spec.controller):
            return
        if spec.credential is None:
            raise DriverError(
                f"controller {spec.controller.name!r} has no agent credential (agent-user, agent-token-file) "
                f"for swarm label {spec.label.name!r}, and agents never get the daemon's token",
                transient=False,
            )
        if spec.credential == daemon_token(spec.controller):
            raise DriverError(
                f"controller {spec.controller.name!r}: the agent credential is the daemon's own token; "
                "give agents a token of a user that may only connect agents",
                transient=False,
            )

    def _safe_name(self, name: str) -> bool:
        """Every path made from ``name`` stays inside the work dir."""
        paths = (self.state_dir / f"{name}.json", self.work_root / name, self.log_dir / f"{name}.log")
        return "/" not in name and name not in ("", ".", "..") and all(inside(p, self.root) for p in paths)

    @staticmethod
    def _spawn(argv: list[str], env: dict[str, str], workdir: Path, log_path: Path) -> subprocess.Popen[bytes]:
        """The agent process in a session of its own, its output appended to its log."""
        try:
            with open(log_path, "ab") as out:
                return subprocess.Popen(
                    argv,
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            raise DriverError(f"cannot start {argv[0]!r}: {exc.strerror}", transient=False) from None

    def freeze(self, name: str) -> bool:
        pid = self._live_pid(name)
        if pid is None:
            return False
        _signal_group(pid, signal.SIGSTOP)
        return True

    def thaw(self, name: str) -> None:
        pid = self._live_pid(name)
        if pid is not None:
            _signal_group(pid, signal.SIGCONT)

    def _live_pid(self, name: str) -> int | None:
        record = self._read(name)
        with self._lock:
            child = self._children.get(name)
        pid = child.pid if child is not None else record.pid if record else 0
        ticks = record.start_ticks if record else None
        return pid if pid and _alive(pid, ticks) else None

    def delete(self, name: str, *, grace: float) -> None:
        if not self._safe_name(name):
            log.error("not deleting agent %r: its name would make a path outside %s", name, self.root)
            return
        record = self._read(name)
        with self._lock:
            child = self._children.pop(name, None)
        if record is None and child is None:
            return
        pid = child.pid if child is not None else record.pid if record else 0
        ticks = record.start_ticks if record else None
        if pid and _alive(pid, ticks):
            _signal_group(pid, signal.SIGTERM)
            _signal_group(pid, signal.SIGCONT)  # a frozen agent handles its TERM now
            if not _wait_gone(pid, ticks, child, grace if grace > 0 else self.local.kill_after):
                log.warning("%s did not stop within %.0fs of TERM: killing it", name, grace)
                _signal_group(pid, signal.SIGKILL)
                _wait_gone(pid, ticks, child, 5.0)
            _signal_group(pid, signal.SIGKILL)  # whatever the agent left behind in its group
        if child is not None:
            child.poll()
        (self.state_dir / f"{name}.json").unlink(missing_ok=True)
        if record is not None and not self.local.keep_workdirs:
            if os.path.realpath(record.workdir) == os.path.realpath(self.work_root / name):
                shutil.rmtree(record.workdir, ignore_errors=True)
            else:
                log.error("not removing %s: it is not the working directory of agent %s", record.workdir, name)

    def list(self) -> builtins.list[AgentHandle]:
        handles: builtins.list[AgentHandle] = []
        known: set[str] = set()
        for path in sorted(self.state_dir.glob("*.json")):
            record = self._read(path.stem)
            if record is None or record.daemon_id != self.daemon_id:
                continue
            known.add(record.name)
            handles.append(self._handle(record))
        for record in self._orphans(known):
            log.warning("found agent %s (pid %d) without a state file: adopting it", record.name, record.pid)
            self._write(record)
            handles.append(self._handle(record))
        return handles

    # -- internals --------------------------------------------------------------------------

    def _handle(self, record: _Record) -> AgentHandle:
        with self._lock:
            child = self._children.get(record.name)
        code = child.poll() if child is not None else None
        if code is None and _alive(record.pid, record.start_ticks):
            status, detail = DriverStatus.RUNNING, f"pid {record.pid}"
        else:
            status = DriverStatus.EXITED
            detail = f"exited with code {code}" if code is not None else "process is gone"
            if code:  # failed: what its log said last tells why (autoscaler why, events, agents -o wide)
                detail = with_tail(detail, self.log_dir / f"{record.name}.log")
        hold = record.hold or {}
        return AgentHandle(
            record.name,
            record.label,
            record.controller,
            status,
            record.created,
            detail,
            hold_reason=hold.get("reason") if record.hold else None,
            hold_until=hold.get("until"),
        )

    def mark_hold(self, name: str, reason: str | None, until: float | None) -> None:
        record = self._read(name)
        if record is not None:
            record.hold = None if reason is None else {"reason": reason, "until": until}
            self._write(record)

    def annotate(self, name: str, annotations: dict[str, str]) -> None:
        record = self._read(name)
        if record is not None:
            record.annotations = {**(record.annotations or {}), **annotations}
            self._write(record)

    def _write(self, record: _Record) -> None:
        path = self.state_dir / f"{record.name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record.to_json()))
        os.replace(tmp, path)

    def _read(self, name: str) -> _Record | None:
        if not self._safe_name(name):
            return None
        path = self.state_dir / f"{name}.json"
        try:
            data = json.loads(path.read_text())
            return _Record(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            log.error("state file %s is unreadable (%s): moving it aside", path, exc)
            path.rename(path.with_suffix(".broken"))
            return None

    def _orphans(self, known: set[str]) -> builtins.list[_Record]:
        """Processes that carry our daemon id but have no state file (a launch interrupted),
        those :func:`~.local_procs.scan_orphans` trusts."""
        found: builtins.list[_Record] = []
        config = self.context.config
        prefix = config.daemon.name_prefix
        for orphan in scan_orphans(self.daemon_id, known, root=self.root, work_root=self.work_root, prefix=prefix):
            controller = config.default_controller.name
            for lab in config.labels:
                if lab.name == orphan.label:
                    controller = config.controller_of(lab).name
            found.append(
                _Record(
                    orphan.name,
                    orphan.label,
                    controller,
                    self.daemon_id,
                    orphan.pid,
                    _start_ticks(orphan.pid) or 0,
                    time.time(),
                    orphan.workdir,
                    str(self.log_dir / f"{orphan.name}.log"),
                )
            )
        return found


def agent_process(
    settings: LocalSettings, spec: LaunchSpec, daemon_id: str, workdir: Path, inherited: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of agent ``spec``: the ``inherit-env`` variables found in
    ``inherited``, then the agent's (:mod:`autoscaler.agent_env`), each secret only when ``spec``
    has one to give. Pure: ``autoscaler config render`` shows the same."""
    lab = spec.label
    assert lab.command is not None
    env = agent_env(
        spec.name, lab, spec.controller, daemon_id, workdir=str(workdir), credential_env=settings.credential_env
    )
    out = {k: inherited[k] for k in settings.inherit_env if k in inherited}
    out.update(env.values)
    given = {Secret.CREDENTIAL: spec.credential, Secret.NODE_SECRET: node_secret_of(spec)}
    for var, secret in env.secrets.items():
        value = given[secret]
        if value is not None:
            out[var] = value
    return _argv(lab.command, env.placeholders), out


def _argv(command: str | list[str], values: dict[str, str]) -> list[str]:
    """``{name}``-style placeholders filled in; a string runs through ``/bin/sh -c``."""
    if isinstance(command, str):
        return ["/bin/sh", "-c", fill(command, values)]
    return [fill(part, values) for part in command]
