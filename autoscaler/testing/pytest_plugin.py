"""pytest fixtures for autoscaler and its plugins (registered through the ``pytest11`` entry point).

- ``sim_jenkins``: a started :class:`~autoscaler.testing.jenkins.SimJenkins` (real HTTP, ZMQ).
- ``write_config``: writes a config dict as YAML in ``tmp_path`` and returns its path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.testing.jenkins import SimJenkins


@pytest.fixture
def sim_jenkins() -> Iterator[SimJenkins]:
    with SimJenkins() as sim:
        yield sim


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(data: dict[str, Any], name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write
