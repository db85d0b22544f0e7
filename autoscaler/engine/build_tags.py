"""Each agent's resource is annotated with the job and build it ran, once known, so cost tools
(OpenCost, Kubecost) can attribute it: ``autoscaler.jenkins.io/job`` and ``.../build``, through
the driver's optional :meth:`~autoscaler.plugin.Driver.annotate`."""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit

from autoscaler.engine.effector import Effector
from autoscaler.engine.runtime import RuntimeState
from autoscaler.engine.state import Agent
from autoscaler.plugin import Driver

log = logging.getLogger(__name__)
JOB = "autoscaler.jenkins.io/job"
BUILD = "autoscaler.jenkins.io/build"


def request(rt: RuntimeState, io: Effector, agent: Agent) -> None:
    """Its resource is told the job and build it runs, once known (in a worker)."""
    found = due(rt, agent)
    if found is not None and not io.dry_run:
        io.spawn(annotate, io.driver, agent.name, found)


def due(rt: RuntimeState, agent: Agent) -> dict[str, str] | None:
    """The annotations to write now: its build changed since the last ones (None: nothing new)."""
    build = agent.build
    if not build or rt.stats.annotated.get(agent.name) == build:
        return None
    rt.stats.annotated[agent.name] = build
    job, number = job_and_build(build)
    return {JOB: job, BUILD: number}


def job_and_build(build: str) -> tuple[str, str]:
    """``http://j/job/a/job/b/12/`` -> ``("a/b", "12")``; ``x#3`` -> ``("x", "3")``."""
    if "://" in build:
        parts = [unquote(p) for p in urlsplit(build).path.split("/") if p]
        jobs = [parts[i + 1] for i, p in enumerate(parts[:-1]) if p == "job"]
        number = parts[-1] if parts and parts[-1].isdigit() else ""
        if jobs:
            return "/".join(jobs), number
    job, sep, number = build.rpartition("#")
    return (job, number) if sep else (build, "")


def annotate(driver: Driver, name: str, annotations: dict[str, str]) -> None:
    """Worker: ask the driver (errors are logged: an annotation is never worth a failure)."""
    try:
        driver.annotate(name, annotations)
    except Exception as exc:
        log.warning("could not annotate %s with its build (%s): %s", name, annotations.get(BUILD), exc)
