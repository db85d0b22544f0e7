"""The lock that keeps one daemon per identity active on a host."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

from autoscaler.standby import DaemonLock, lock_path


def test_the_first_takes_the_lock_and_writes_its_pid(tmp_path: Path) -> None:
    first = DaemonLock(lock_path(tmp_path / "work", "e2e"))
    assert first.acquire() and first.held
    assert first.path == tmp_path / "work" / "e2e.lock"
    assert first.holder() == os.getpid()
    second = DaemonLock(first.path)
    assert not second.acquire() and not second.held
    assert first.path.read_text() == f"{os.getpid()}\n"  # a standby's try leaves the pid alone


def test_a_standby_waits_and_takes_over_when_the_holder_lets_go(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = DaemonLock(tmp_path / "d.lock")
    assert first.acquire()
    second = DaemonLock(tmp_path / "d.lock")
    took = threading.Event()
    caplog.set_level(logging.INFO, "autoscaler.standby")

    def stand_by() -> None:
        if second.wait(threading.Event(), poll=0.01):
            took.set()

    waiter = threading.Thread(target=stand_by)
    waiter.start()
    assert not took.wait(0.2)  # never while the first holds it
    assert f"standby: another daemon holds {first.path} (pid {os.getpid()})" in caplog.text
    first.release()
    assert took.wait(5)
    waiter.join(5)
    assert second.held and second.holder() == os.getpid()
    second.release()


def test_a_standby_stops_waiting_when_told(tmp_path: Path) -> None:
    first = DaemonLock(tmp_path / "d.lock")
    assert first.acquire()
    stop = threading.Event()
    stop.set()
    assert DaemonLock(tmp_path / "d.lock").wait(stop, poll=0.01) is False


def test_different_identities_do_not_exclude_each_other(tmp_path: Path) -> None:
    assert DaemonLock(lock_path(tmp_path, "a")).acquire()
    assert DaemonLock(lock_path(tmp_path, "b")).acquire()


def test_an_unwritable_work_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match=f"cannot open the daemon's lock file {blocker}/e2e.lock"):
        DaemonLock(lock_path(blocker, "e2e")).acquire()
