"""The local driver keeps the job and build an agent ran in its record file (for cost reports),
and the record stays readable after a restart."""

from __future__ import annotations

import json
from pathlib import Path

from autoscaler.engine.build_tags import BUILD, JOB
from tests.integration.test_local_driver import launch, make_driver


def test_the_record_file_carries_the_build(tmp_path: Path) -> None:
    driver, config = make_driver(tmp_path)
    launch(driver, config)
    try:
        driver.annotate("ci-python-abc123", {JOB: "folder/app", BUILD: "12"})
        driver.annotate("ci-python-abc123", {BUILD: "13"})  # a reusable agent's next build
        record = json.loads((driver.state_dir / "ci-python-abc123.json").read_text())
        assert record["annotations"] == {JOB: "folder/app", BUILD: "13"}
        driver.annotate("ci-python-gone00", {JOB: "x", BUILD: "1"})  # no record: nothing to do
        again, _ = make_driver(tmp_path)  # a restart reads the record with its annotations
        assert [h.name for h in again.list()] == ["ci-python-abc123"]
    finally:
        driver.delete("ci-python-abc123", grace=2)
