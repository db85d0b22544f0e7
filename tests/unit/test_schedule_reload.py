"""A SIGHUP reload picks up a changed schedule from the file; a bad cron string in the new file is
refused with its file, line and field, and the running schedule is kept."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.config import load_config
from autoscaler.daemon import Daemon
from autoscaler.engine.messages import Tick

HEAD = "controllers: [{url: 'http://127.0.0.1:9/', user: u, token: t0ken}]\ndriver: {type: local, work-dir: '%s'}\n"
LABEL = "labels:\n  - name: python\n    command: 'true'\n    connect: inbound\n    min-ready: 1\n"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    path = tmp_path / "config.yaml"
    path.write_text(HEAD % (tmp_path / "work") + LABEL)
    running = Daemon(load_config(str(path)), serve_api=False, dry_run=True)  # dry run: nothing is launched
    yield running
    running.pool.shutdown(wait=False)
    running.fast_pool.shutdown(wait=False)


def in_force(daemon: Daemon) -> tuple[int, str]:
    daemon.engine.submit(Tick())
    daemon.engine.drain()
    return daemon.engine.state.min_ready["python"]


def test_a_reload_picks_up_a_new_schedule_and_refuses_a_bad_one(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    path = Path(daemon.loaded.file)
    assert in_force(daemon) == (1, "label")
    path.write_text(
        HEAD % (path.parent / "work") + LABEL + '    schedule:\n      - {periods: ["* * * * *"], min-ready: 4}\n'
    )
    assert daemon.reload() is True
    assert in_force(daemon) == (4, 'schedule[0] "* * * * *" UTC')

    path.write_text(
        HEAD % (path.parent / "work") + LABEL + "    schedule:\n      - periods: ['* * * *']\n        min-ready: 9\n"
    )
    with caplog.at_level(logging.ERROR, logger="autoscaler.daemon"):
        assert daemon.reload() is False
    refused = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert len(refused) == 1
    assert f"{path}:9: labels[0].schedule[0].periods[0]: not a valid cron expression '* * * *'" in refused[0]
    assert in_force(daemon) == (4, 'schedule[0] "* * * * *" UTC')  # the running schedule is kept
