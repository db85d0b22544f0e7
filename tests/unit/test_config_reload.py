"""A SIGHUP reload of a config file that cannot be read is refused, the running config kept, and
the daemon stays up (the reload raised through the daemon's loop before)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.config import load_config
from autoscaler.daemon import Daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    path = tmp_path / "config.yaml"
    path.write_text(
        "controllers: [{url: 'http://127.0.0.1:9/', user: u, token: t0ken, agent-user: a, agent-token-env: A_TOKEN}]\n"
        f"driver: {{type: local, work-dir: '{tmp_path / 'work'}'}}\n"
        "labels:\n  - {name: python, command: 'true', max: 4}\n"
    )
    running = Daemon(load_config(str(path)), serve_api=False)
    yield running
    running.pool.shutdown(wait=False)
    running.fast_pool.shutdown(wait=False)


BAD = {
    "invalid UTF-8": (b"labels:\n  - {name: py\xffthon}\n", "config.yaml:2: byte 21: not valid UTF-8 (0xff)"),
    "nested 5000 deep": (b"a: " + b"[" * 5000, "config.yaml:1:67: nested more than 64 levels deep"),
    "bad date": (b"daemon: {id: 2020-13-45}\n", "cannot read the value '2020-13-45': month must be in 1..12"),
    "a list": (b"- 1\n", "expected a mapping of sections, got a list"),
}


@pytest.mark.parametrize("what", list(BAD))
def test_a_reload_of_an_unreadable_file_is_refused_and_the_old_config_kept(
    daemon: Daemon, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    content, words = BAD[what]
    before = daemon.config
    Path(daemon.loaded.file).write_bytes(content)
    with caplog.at_level(logging.ERROR, logger="autoscaler.daemon"):
        assert daemon.reload() is False
    assert daemon.config is before
    refused = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert len(refused) == 1 and words in refused[0], refused
