"""One active daemon per identity on one host: a lock file in the driver's work dir.

A second ``autoscaler run`` with the same ``daemon.id`` and work dir waits as a standby: it builds
nothing (no engine, no listeners, no API: the active daemon serves the configured address) and so
plans, launches and retires nothing. ``fcntl.flock`` is released by the kernel when the holder
dies, even by SIGKILL, so the standby takes the lock within one poll interval and starts as any
daemon does: it adopts the agents the first one left running.

The lock is held for the whole life of the process (its file descriptor is never closed).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autoscaler.config.loader import LoadedConfig

log = logging.getLogger(__name__)

POLL = 0.1
"""Seconds between two tries of a standby to take the lock."""


class NotActive(Exception):
    """This process will not act: stopped while standing by, or (``--once``) another daemon is active."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
        """The exit code the command ends with."""


class DaemonLock:
    """An exclusive ``flock`` on ``path``; the holder's pid is written in the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if it is free (never blocks)."""
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise OSError(f"cannot open the daemon's lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> int | None:
        """The pid written by the process holding the lock (None if unreadable)."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def wait(self, stop: threading.Event, poll: float = POLL) -> bool:
        """Stand by until the lock is ours (True) or ``stop`` is set (False)."""
        if self.acquire():
            return True
        log.warning("standby: another daemon holds %s (pid %s)", self.path, self.holder() or "unknown")
        while not stop.wait(poll):
            if self.acquire():
                log.info("standby: took over %s; starting (running agents are adopted)", self.path)
                return True
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def lock_path(work_dir: str | os.PathLike[str], daemon_id: str) -> Path:
    return Path(work_dir) / f"{daemon_id}.lock"


def driver_work_dir(loaded: LoadedConfig) -> str | None:
    """The work dir of the configured driver, if it has one (the local driver does)."""
    from autoscaler.assembly import resolve_plugins  # the CLI imports this module: keep its import light
    from autoscaler.discovery import Registry

    plugins = resolve_plugins(loaded, Registry.discover())
    work_dir = getattr(plugins.driver.settings, "work_dir", None)
    return str(work_dir) if work_dir else None


def become_active(loaded: LoadedConfig, *, wait: bool) -> DaemonLock | None:
    """Take this daemon's lock, standing by while another process holds it (``wait``), or
    raise :class:`NotActive`. None: the driver has no work dir (no lock on this host)."""
    work_dir = driver_work_dir(loaded)
    if work_dir is None:
        return None
    lock = DaemonLock(lock_path(work_dir, loaded.config.daemon.id))
    if not wait:
        if lock.acquire():
            return lock
        raise NotActive(f"another daemon holds {lock.path} (pid {lock.holder() or 'unknown'}): not acting", 1)
    stop = threading.Event()
    with _stop_on_signals(stop):
        if lock.wait(stop):
            return lock
    raise NotActive("stopped while standing by", 0)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT end the wait (a standby is stopped like a daemon)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
