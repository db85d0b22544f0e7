"""The last lines of a local agent's log, quoted in why it stopped."""

from __future__ import annotations

from pathlib import Path

from autoscaler.drivers.logtail import tail, with_tail
from autoscaler.engine.failures import classify


def test_the_last_non_empty_lines_on_one_line(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("starting\n\nError: Unable to access jarfile agent.jar\n\njava exited\n")
    assert tail(log, lines=2) == "Error: Unable to access jarfile agent.jar | java exited"
    assert with_tail("exited with code 1", log) == (
        "exited with code 1; last log lines: starting | Error: Unable to access jarfile agent.jar | java exited"
    )
    assert classify(with_tail("exited with code 1", log)) == "exit-code"


def test_bounded_and_missing(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("x" * 100_000 + "\nthe end\n")
    assert len(tail(log)) == 300 and tail(log).endswith("the end")
    assert tail(tmp_path / "none.log") == ""
    assert with_tail("process is gone", tmp_path / "none.log") == "process is gone"
    (tmp_path / "oom.log").write_text("ErrImagePull is a word in a log\n")
    assert classify(with_tail("exited with code 2", tmp_path / "oom.log")) == "exit-code"
