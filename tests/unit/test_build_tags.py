"""The job and build an agent runs, from a build URL or key, sent to the driver once per build."""

from __future__ import annotations

import pytest

from autoscaler.config.models import Config
from autoscaler.engine.build_tags import BUILD, JOB, job_and_build
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import DemandUpdate
from autoscaler.events import BuildStarted, DemandItem, DemandReport, LifecycleHint
from autoscaler.testing.fakes import FakeClock, FakeController, FakeDriver, InlineExecutor


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        ("http://j/job/app/12/", ("app", "12")),
        ("https://ci.example.org/jenkins/job/team/job/app%20x/job/main/3/", ("team/app x/main", "3")),
        ("app#7", ("app", "7")),
        ("something", ("something", "")),
    ],
)
def test_job_and_build(build: str, expected: tuple[str, str]) -> None:
    assert job_and_build(build) == expected


class Annotated(FakeDriver):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.annotated: list[tuple[str, dict[str, str]]] = []

    def annotate(self, name: str, annotations: dict[str, str]) -> None:
        self.annotated.append((name, annotations))


def test_each_build_is_annotated_once() -> None:
    config = Config.model_validate(
        {"controllers": [{"url": "http://j/"}], "labels": [{"name": "python", "max": 2, "reuse": True}]}
    )
    clock = FakeClock()
    driver, jenkins = Annotated(clock), FakeController()
    engine = Engine(config, driver, {"main": jenkins}, InlineExecutor(), clock=clock)
    engine.submit(DemandUpdate("q", "main", DemandReport((DemandItem("main:1", expression="python"),), "main")))
    engine.drain()
    (name,) = engine.state.agents
    jenkins.set(name, online=True, builds=("http://j/job/app/1/",))
    engine.submit(BuildStarted(name, "main", "app", 1, "http://j/job/app/1/", "zmq"))
    engine.submit(LifecycleHint("main"))  # /computer shows the same build: not again
    engine.drain()
    assert driver.annotated == [(name, {JOB: "app", BUILD: "1"})]
    jenkins.set(name, builds=("http://j/job/app/2/",))  # a pipeline's next build, seen in /computer only
    engine.submit(LifecycleHint("main"))
    engine.drain()
    assert driver.annotated[1:] == [(name, {JOB: "app", BUILD: "2"})]
