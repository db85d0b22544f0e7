"""The core Jenkins client (python-jenkins underneath) against the simulated Jenkins over HTTP."""

from __future__ import annotations

import pytest

from autoscaler.config.models import ControllerConfig
from autoscaler.jenkins.client import JenkinsClient, JenkinsError
from autoscaler.testing.jenkins import SimJenkins


def client(sim: SimJenkins, token: str | None = None) -> JenkinsClient:
    return JenkinsClient(ControllerConfig(name="main", url=sim.url, user=sim.user, token=token or sim.token))


def test_computers_shows_agents_with_state_and_builds(sim_jenkins: SimJenkins) -> None:
    sim_jenkins.add_job("long", label="python", duration=60)
    node = sim_jenkins.model.create_node("ci-python-aaaaaa", labels="swarm python", executors=1)
    sim_jenkins.model.connect(node.name, node.secret, lambda: None)
    sim_jenkins.trigger("long")
    sim_jenkins.wait_for(lambda: bool(node.running), what="build on the agent")
    nodes = client(sim_jenkins).computers()
    assert set(nodes) == {"ci-python-aaaaaa"}  # the built-in node is never an agent
    view = nodes["ci-python-aaaaaa"]
    assert view.busy and not view.offline and view.builds == (f"{sim_jenkins.url}job/long/1/",)
    assert {"python", "swarm", "ci-python-aaaaaa"} <= view.labels


def test_take_offline_never_toggles_back(sim_jenkins: SimJenkins) -> None:
    sim_jenkins.model.create_node("n1", labels="python", executors=1)
    jenkins = client(sim_jenkins)
    assert jenkins.take_offline("n1", "retiring")
    assert jenkins.take_offline("n1", "retiring")
    node = sim_jenkins.model.nodes["n1"]
    assert node.temporarily_offline and node.offline_message == "retiring"
    assert sim_jenkins.stats["toggle_offline"] == 1
    assert jenkins.take_offline("missing", "x") is False


def test_delete_node_is_idempotent(sim_jenkins: SimJenkins) -> None:
    sim_jenkins.model.create_node("n1", labels="python", executors=1)
    jenkins = client(sim_jenkins)
    assert jenkins.delete_node("n1") is True
    assert jenkins.delete_node("n1") is False
    assert "n1" not in sim_jenkins.model.nodes


def test_posts_carry_the_session_crumb(sim_jenkins: SimJenkins) -> None:
    sim_jenkins.model.create_node("n1", labels="python", executors=1)
    client(sim_jenkins).take_offline("n1", "x")
    assert sim_jenkins.stats["bad_crumb"] == 0
    assert sim_jenkins.requests[("GET", "/crumbIssuer/api/json")] == 1


def test_wrong_token_is_a_permanent_error_and_never_echoed(sim_jenkins: SimJenkins) -> None:
    with pytest.raises(JenkinsError) as info:
        client(sim_jenkins, token="not-the-token").computers()
    assert not info.value.transient
    assert "not-the-token" not in str(info.value)


def test_a_dead_controller_is_a_transient_error(sim_jenkins: SimJenkins) -> None:
    jenkins = client(sim_jenkins)
    sim_jenkins.stop()
    with pytest.raises(JenkinsError) as info:
        jenkins.computers()
    assert info.value.transient
