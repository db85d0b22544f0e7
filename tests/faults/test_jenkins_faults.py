"""The fault matrix over real sockets: the daemon's loop against a simulated Jenkins that fails
on purpose. Every row asserts the promise once the fault is gone: no build lost, no busy agent
killed, no one-shot agent given a second build, no agent leaked, the daemon up."""

from __future__ import annotations

import pytest
import requests

from autoscaler.testing.jenkins import SimJenkins
from tests.faults.harness import Fleet


def online_agents(fleet: Fleet) -> int:
    return sum(1 for a in fleet.agents() if a["state"] in ("ready", "busy"))


def test_jenkins_restart_voids_the_session_and_one_shot_agents_still_take_one_build(
    sim: SimJenkins, fleet: Fleet
) -> None:
    fleet.trigger("onebyone")
    fleet.wait(lambda: fleet.finished() == 1, 20, "a first build (the daemon has a session now)")
    fleet.wait(lambda: not fleet.agents(), 20, "its agent retired (the next POST is a take-offline)")
    sim.restart()  # sessions and crumbs forgotten, a new cookie name: the next POST gets 403
    fleet.trigger("onebyone", 2)  # one agent at a time: the second build waits for a free one
    fleet.assert_kept()
    assert sim.stats["bad_crumb"] >= 1  # the fault really happened


@pytest.mark.parametrize("status", [401, 500, 503])
def test_jenkins_reads_failing_past_boot_timeout_kill_no_busy_agent(sim: SimJenkins, fleet: Fleet, status: int) -> None:
    register = sim.faults.add("POST", "/plugin/swarm/createSlave", hang=True)  # agents wait to come online
    fleet.trigger("longpipe", 2)
    fleet.wait(lambda: len(fleet.agents()) == 2 and register.hits == 2, 20, "two agents launched")
    computer = sim.faults.add("GET", "/computer/", prefix=True, status=status)
    sim.faults.remove(register)  # they come online and build while the daemon cannot read Jenkins
    fleet.wait(lambda: len(sim.model.nodes) == 4, 20, "two agents registered")
    fleet.wait(lambda: sum(len(n.running) for n in list(sim.model.nodes.values())) == 2, 20, "both builds running")
    deadline = fleet.daemon.engine.clock() + 2.5
    fleet.wait(lambda: fleet.daemon.engine.clock() > deadline, 5, "the boot timeout to pass under the fault")
    sim.faults.remove(computer)
    fleet.assert_kept()


@pytest.mark.parametrize(
    ("method", "path", "prefix"),
    [
        ("GET", "/queue/api/json", False),
        ("GET", "/computer/api/json", False),
        ("GET", "/crumbIssuer/api/json", False),
        ("POST", "/computer/", True),  # toggleOffline, doDelete
        ("POST", "/plugin/swarm/createSlave", False),
    ],
    ids=["queue", "computer", "crumb", "offline-delete", "swarm-register"],
)
@pytest.mark.parametrize("kind", ["reset", "hang", "not_json", "500"])
def test_each_jenkins_call_failing_breaks_no_promise(
    sim: SimJenkins, fleet: Fleet, method: str, path: str, prefix: bool, kind: str
) -> None:
    options: dict[str, object] = {"status": 500} if kind == "500" else {kind: True}
    fault = sim.faults.add(method, path, prefix=prefix, **options)
    fleet.trigger("unit")
    fleet.trigger("longpipe")
    sim.wait_for(lambda: fault.hits >= 1, 15, f"the daemon to meet the fault ({kind} on {path})")
    fleet.wait(lambda: fault.hits >= 3 or fleet.finished() >= 2, 15, "the fault to bite for a while")
    sim.faults.remove(fault)
    fleet.assert_kept()


def test_refused_connections_then_back(sim: SimJenkins, fleet: Fleet) -> None:
    fleet.trigger("long")
    fleet.wait(lambda: online_agents(fleet) == 1, 20, "an agent building")
    sim.refuse()
    fleet.wait(lambda: fleet.daemon.engine.state.stats.errors["jenkins"] >= 3, 15, "the daemon to meet refusals")
    sim.accept()
    fleet.trigger("unit")
    fleet.assert_kept()
    metrics = requests.get(f"http://{fleet.daemon.config.api.listen}/metrics", timeout=5).text
    assert 'autoscaler_listener_up{listener="events"} 1' in metrics  # the ZMQ listener lived through it
    assert requests.get(f"http://{fleet.daemon.config.api.listen}/healthz", timeout=5).status_code == 200


def test_a_rotated_token_is_read_again_from_its_file(sim: SimJenkins, fleet: Fleet, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fleet.trigger("unit")
    fleet.wait(lambda: fleet.finished() == 1, 20, "a first build")
    sim.rotate_token("rotated-token")
    (tmp_path / "jenkins-token").write_text("rotated-token\n")
    fleet.trigger("unit", 3)
    fleet.assert_kept()
    assert sim.stats["unauthorized"] >= 1  # the old token was refused once, then the file re-read
