"""The gearman listener against a real gearmand and against gear's pure-Python server."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import gear
import pytest
from autoscaler_gearman import GearmanListener, GearmanSettings

from autoscaler.config.models import Config
from autoscaler.plugin import DemandUnknown, PluginContext
from autoscaler.testing import gearmand as testing_gearmand


class Gearmand(testing_gearmand.Gearmand):
    """A real gearmand; skipped where it is not installed, except in CI (which installs it)."""

    def __init__(self, port: int | None = None) -> None:
        if testing_gearmand.gearmand_path() is None:
            if os.environ.get("CI"):
                pytest.fail("gearmand is missing: .ci/run installs gearman-job-server")
            pytest.skip("gearmand not installed (apt-get install gearman-job-server)")
        super().__init__(port)


free_port = testing_gearmand.free_port


@pytest.fixture(params=["gearmand", "gear.Server"])
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    if request.param == "gearmand":
        real = Gearmand()
        yield real.port
        real.stop()
    else:
        pure = gear.Server(port=0)
        yield pure.port
        pure.shutdown()


def listener(*servers: str) -> tuple[GearmanListener, list[str]]:
    config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
    counted: list[str] = []
    settings = GearmanSettings.model_validate({"type": "gearman", "servers": list(servers), "timeout": 2})
    lst = GearmanListener(settings, PluginContext(config=config, emit=lambda e: None, count=counted.append))
    lst.start()
    return lst, counted


def poll_until(lst: GearmanListener, predicate: Any, timeout: float = 15) -> Counter[str | None]:
    """gear connects in the background: poll until the demand settles as expected."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            wants: Counter[str | None] = Counter(i.expression for i in lst.poll().items)
            if predicate(wants):
                return wants
        except DemandUnknown:
            pass
        assert time.monotonic() < deadline, "demand never settled"
        time.sleep(0.1)


def submit(port: int, *functions: str) -> gear.Client:
    client = gear.Client()
    client.addServer("127.0.0.1", port)
    client.waitForServer(10)
    for fn in functions:
        client.submitJob(gear.Job(fn.encode(), b""), timeout=10)
    return client


def test_queued_jobs_per_label_running_ones_excluded(server: int) -> None:
    worker = gear.Worker("sim-agent")
    worker.addServer("127.0.0.1", server)
    worker.waitForServer(10)
    worker.registerFunction("build:unit:python")
    worker.registerFunction("build:unit")
    client = submit(
        server,
        "build:unit:python",
        "build:unit:python",
        "build:unit:python",
        "build:image:linux&&docker",
        "build:unit",
        "build:unit",
        "build:orphan",
    )
    job = worker.getJob()  # one build starts running on an agent
    lst, _ = listener(f"127.0.0.1:{server}")
    try:
        wants = poll_until(lst, lambda w: w["python"] == 4)
        assert wants == {"python": 4, "linux&&docker": 1}  # 2 queued + 2 plain build:unit; orphan unknown
        job.sendWorkComplete()
    finally:
        lst.stop()
        worker.shutdown()
        client.shutdown()


def test_a_server_that_goes_away_keeps_its_last_demand_and_comes_back() -> None:
    real = Gearmand()
    dead = free_port()
    client = submit(real.port, "build:unit:python", "build:unit:python")
    lst, _ = listener(f"127.0.0.1:{real.port}", f"127.0.0.1:{dead}")
    try:
        assert poll_until(lst, lambda w: w["python"] == 2) == {"python": 2}  # the dead one is unknown, not zero
        client.shutdown()
        real.stop()
        with pytest.raises(DemandUnknown, match="no gearman server reachable"):
            poll_until_unknown(lst)
        restarted = Gearmand(real.port)  # gearmand keeps no queue across a restart
        submit(restarted.port, "build:unit:python").shutdown()
        assert poll_until(lst, lambda w: w["python"] == 1, timeout=30) == {"python": 1}
        restarted.stop()
    finally:
        lst.stop()


def poll_until_unknown(lst: GearmanListener, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lst.poll()  # raises DemandUnknown once every server is down
        time.sleep(0.1)


def test_one_server_down_is_unknown_demand_not_zero_and_correct_once_back() -> None:
    real = Gearmand()
    client = submit(real.port, "build:unit:python", "build:unit:python", "build:lint:python")
    lst, _ = listener(f"127.0.0.1:{real.port}")
    try:
        assert poll_until(lst, lambda w: w["python"] == 3) == {"python": 3}
        client.shutdown()
        real.stop()
        with pytest.raises(DemandUnknown, match=f"127.0.0.1:{real.port}"):
            poll_until_unknown(lst)  # never an empty report while the server is down
        restarted = Gearmand(real.port)
        submit(restarted.port, "build:unit:python").shutdown()
        assert poll_until(lst, lambda w: w["python"] == 1, timeout=30) == {"python": 1}
        restarted.stop()
    finally:
        lst.stop()


def unknown_why(lst: GearmanListener) -> str:
    with pytest.raises(DemandUnknown) as info:
        lst.poll()
    return str(info.value)


class AdminDouble:
    """A gearman admin port on a real socket that answers ``status`` with the replies it is given."""

    def __init__(self, *replies: bytes) -> None:
        self.replies = list(replies)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn, conn.makefile("rb") as reader:
            for line in reader:
                if line.strip() == b"status":
                    conn.sendall(self.replies.pop(0) if len(self.replies) > 1 else self.replies[0])

    def close(self) -> None:
        self.server.close()


def test_a_status_reply_that_cannot_be_read_is_unknown_demand_and_counted() -> None:
    double = AdminDouble(b"build:unit:python\t99999999999999999999\t0\t1\n.\n", b"build:unit:python\t2\t0\t1\n.\n")
    lst, counted = listener(f"127.0.0.1:{double.port}")
    try:
        deadline = time.monotonic() + 15
        while "count larger than" not in unknown_why(lst):  # gear connects in the background
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert counted == ["malformed"]
        assert poll_until(lst, lambda w: w["python"] == 2) == {"python": 2}
    finally:
        lst.stop()
        double.close()
