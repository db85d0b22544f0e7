"""The local driver's view of processes: ``/proc`` readings, signals, and what adoption trusts.

A process found in ``/proc`` says who it is in its environment, and anyone on the machine can
plant such a process. So an orphan is adopted only when its name is one the daemon gives
(``<name-prefix>-<label slug>-<6 characters>``) and every path derived from it resolves inside
the driver's work dir; anything else is logged once (pid and name) and left alone.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from autoscaler.agent_env import AGENT_NAME, DAEMON_ID
from autoscaler.plugin import DriverError

__all__ = [
    "Orphan",
    "agent_name_pattern",
    "alive",
    "inside",
    "scan_orphans",
    "signal_group",
    "start_ticks",
    "wait_gone",
]

log = logging.getLogger(__name__)


def agent_name_pattern(prefix: str) -> re.Pattern[str]:
    """The names the engine gives agents: ``<prefix>-<label slug>-<6 of [a-z0-9]>``."""
    return re.compile(rf"{re.escape(prefix)}-[a-z0-9](?:[a-z0-9-]{{0,22}}[a-z0-9])?-[a-z0-9]{{6}}")


def inside(path: str | Path, root: str | Path) -> bool:
    """``path`` resolves (symlinks followed) to ``root`` or below it."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base + os.sep)


class Orphan:
    """A process of this daemon found without a state file: what its environment says."""

    def __init__(self, pid: int, name: str, label: str, workdir: str) -> None:
        self.pid, self.name, self.label, self.workdir = pid, name, label, workdir


def scan_orphans(daemon_id: str, known: set[str], *, root: Path, work_root: Path, prefix: str) -> list[Orphan]:
    """Process-group leaders carrying ``daemon_id`` whose names are not in ``known`` and pass
    :func:`_trusted`; others carrying it are logged (once per process) and left alone."""
    found: list[Orphan] = []
    pattern = agent_name_pattern(prefix)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            if os.getpgid(pid) != pid:
                continue
            raw = (entry / "environ").read_bytes()
        except (OSError, ProcessLookupError):
            continue
        env = dict(part.split(b"=", 1) for part in raw.split(b"\0") if b"=" in part)
        if env.get(DAEMON_ID.encode()) != daemon_id.encode():
            continue
        name = env.get(AGENT_NAME.encode(), b"").decode(errors="replace")
        workdir = env.get(b"AGENT_WORKDIR", b"").decode(errors="replace")
        if not name or name in known:
            continue
        if not workdir.startswith(str(work_root) + os.sep):
            continue  # same daemon id, other work-dir: another daemon's agent
        if not _trusted(pid, name, workdir, pattern, root, work_root):
            continue
        found.append(Orphan(pid, name, env.get(b"AGENT_LABEL", b"").decode(errors="replace"), workdir))
    return found


_DERIVED = (("work", ""), ("agents", ".json"), ("logs", ".log"))
"""The paths the driver makes from an agent's name, under its work dir."""
_refused: set[tuple[int, int | None]] = set()
"""Processes already reported as not adopted (pid, start time): each is logged once."""


def _trusted(pid: int, name: str, workdir: str, pattern: re.Pattern[str], root: Path, work_root: Path) -> bool:
    """The name is one of ours and every path made from it stays in the work dir."""
    if pattern.fullmatch(name) is None:
        why = "its name is not one this daemon gives"
    elif os.path.realpath(workdir) != os.path.realpath(work_root / name):
        why = f"its working directory {workdir!r} is not {str(work_root / name)!r}"
    elif not all(inside(root / f"{sub}/{name}{ext}", root) for sub, ext in _DERIVED):
        why = "its working directory, state or log file would be outside the work dir"
    else:
        return True
    key = (pid, start_ticks(pid))
    if key not in _refused:
        _refused.add(key)
        log.error("not adopting process %d carrying this daemon's id as agent %r: %s", pid, name, why)
    return False


def start_ticks(pid: int) -> int | None:
    """Process start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def alive(pid: int, ticks: int | None) -> bool:
    """The process exists, is not a zombie, and is the one we started (same start time)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    return not ticks or int(fields[19]) == ticks


def signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        raise DriverError(f"not allowed to signal process group {pid}: {exc}") from None


def wait_gone(pid: int, ticks: int | None, child: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    if child is not None:
        try:
            child.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while alive(pid, ticks):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
