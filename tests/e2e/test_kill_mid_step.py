"""SIGKILL of the daemon in the middle of a launch and of a retirement: the step is held open
with a fault in the simulated Jenkins, the daemon is killed, started again, and the fault
cleared. The next daemon finishes what the first began: no build lost or cut short, no agent
or node left behind."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from autoscaler.testing.jenkins import SimJenkins
from tests.e2e.harness import Daemon, agent_processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins() as jenkins:
        jenkins.add_job("unit", label="python", duration=1.0)
        yield jenkins


def agent_nodes(sim: SimJenkins) -> set[str]:
    with sim.model.lock:
        return {name for name in sim.model.nodes if not name.endswith("placeholder")}


def test_killed_while_an_agent_registers(sim: SimJenkins, daemon: Daemon) -> None:
    register = sim.faults.add("POST", "/plugin/swarm/createSlave", hang=True)
    daemon.start()
    sim.trigger("unit")
    sim.wait_for(lambda: register.hits >= 1, 30, "the agent to be launched and to try to register")
    launched = agent_processes("e2e")
    assert len(launched) == 1
    daemon.stop(signal.SIGKILL)

    daemon.start()  # adopts the agent that is still registering
    sim.faults.remove(register)
    sim.wait_for(lambda: sim.model.builds_done() == 1, 60, "the build")
    daemon.wait(lambda: daemon.cli("agents") == [] and agent_processes("e2e") == [], 60, "the agent retired")
    assert sim.model.builds_done("ABORTED") == 0
    assert len({n for n in sim.model.node_history if not n.endswith("placeholder")}) == 1  # no second agent
    assert agent_nodes(sim) == set()


def test_killed_while_a_retired_agents_node_is_deleted(sim: SimJenkins, daemon: Daemon) -> None:
    daemon.start()
    sim.trigger("unit")
    sim.wait_for(lambda: bool(agent_nodes(sim)), 30, "the agent's node")
    (node,) = agent_nodes(sim)
    delete = sim.faults.add("POST", f"/computer/{node}/doDelete", hang=True)
    sim.wait_for(lambda: delete.hits >= 1, 60, "the retirement to reach doDelete (the agent already stopped)")
    daemon.stop(signal.SIGKILL)
    sim.faults.remove(delete)  # the held request is answered to nobody: Jenkins deletes nothing

    daemon.start()  # the node lingers, offline, owned by no agent: deleted after two passes
    sim.wait_for(lambda: node not in agent_nodes(sim), 60, "the lingering node to be deleted")
    assert sim.model.builds_done() == 1 and sim.model.builds_done("ABORTED") == 0
    assert agent_processes("e2e") == []
