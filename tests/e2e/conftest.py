"""Every end-to-end test leaves no agent process behind, even when it fails."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from tests.e2e.harness import agent_processes


@pytest.fixture(autouse=True)
def no_agent_left_behind() -> Iterator[None]:
    yield
    for pid in agent_processes("e2e") + agent_processes("demo"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
