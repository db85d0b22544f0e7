"""The jenkins-queue listener against the simulated Jenkins over real HTTP (python-jenkins)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from autoscaler_jenkins_queue import JenkinsQueueListener, QueueSettings

from autoscaler.config.models import Config
from autoscaler.jenkins.client import JenkinsClient
from autoscaler.plugin import DemandUnknown, PluginContext
from autoscaler.testing.jenkins import SimJenkins


def sim_config(sim: SimJenkins, *labels: dict[str, object]) -> Config:
    return Config.model_validate(
        {
            "controllers": [{"name": "main", "url": sim.url, "user": sim.user, "token": sim.token}],
            "labels": labels or [{"name": "python"}, {"name": "docker", "atoms": ["linux"]}],
        }
    )


def make(sim: SimJenkins, config: Callable[[], Config] | None = None, **settings: object) -> JenkinsQueueListener:
    fixed = sim_config(sim)
    config = config or (lambda: fixed)
    client = JenkinsClient(config().controllers[0])
    context = PluginContext(config=config, emit=lambda e: None, jenkins={"main": client})
    listener = JenkinsQueueListener(QueueSettings.model_validate({"type": "jenkins-queue", **settings}), context)
    listener.start()
    return listener


def wants(listener: JenkinsQueueListener) -> list[tuple[str | None, str | None]]:
    return sorted((i.expression, i.node) for i in listener.poll().items)


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins() as jenkins:
        jenkins.add_job("free", label="linux && docker")
        jenkins.add_job("pipe", kind="pipeline", label="python")
        jenkins.add_job("anywhere", label=None)
        yield jenkins


def test_zero_agents_pipeline_invisible_freestyle_seen_via_label_expression(sim: SimJenkins) -> None:
    sim.trigger("free")
    sim.trigger("pipe")
    sim.trigger("anywhere")
    listener = make(sim)
    # with no agent node at all, Jenkins says only "Waiting for next available executor"
    assert {item["why"] for item in sim.model.queue_json()["items"]} == {"Waiting for next available executor"}
    assert wants(listener) == [("linux && docker", None)]


def test_placeholders_make_pipelines_visible_from_zero(sim: SimJenkins) -> None:
    sim.trigger("pipe")
    listener = make(sim, **{"label-source": "placeholders"})
    assert set(sim.model.nodes) == {"ci-python-placeholder", "ci-docker-placeholder"}
    assert sim.model.nodes["ci-docker-placeholder"].labels == {"ci-docker-placeholder", "docker", "linux"}
    assert sim.model.nodes["ci-python-placeholder"].temporarily_offline
    (item,) = listener.poll().items
    assert (item.node, "python" in item.node_labels) == ("ci-python-placeholder", True)
    assert item.key.startswith("main:") and item.since is not None


def test_a_label_added_by_a_reload_gets_its_placeholder(sim: SimJenkins) -> None:
    current = [sim_config(sim, {"name": "python"})]
    listener = make(sim, lambda: current[0], **{"label-source": "placeholders"})
    assert set(sim.model.nodes) == {"ci-python-placeholder"}
    assert listener.poll().items == ()
    current[0] = sim_config(sim, {"name": "python"}, {"name": "ruby"})  # what a reload (SIGHUP) does
    sim.add_job("gem", kind="pipeline", label="ruby")
    sim.trigger("gem")
    (item,) = listener.poll().items
    assert set(sim.model.nodes) == {"ci-python-placeholder", "ci-ruby-placeholder"}
    assert sim.model.nodes["ci-ruby-placeholder"].temporarily_offline
    assert item.node == "ci-ruby-placeholder" and "ruby" in item.node_labels


def test_a_label_added_by_a_reload_is_no_longer_looked_up_as_a_node_name(sim: SimJenkins) -> None:
    current = [sim_config(sim, {"name": "python"})]
    listener = make(sim, lambda: current[0])
    raw = {"id": 7, "why": "Waiting for next available executor on ‘ruby’", "task": {"name": "gem"}}
    computer = ("GET", "/computer/api/json")
    (item,) = listener.read_items([raw])
    assert item.expression == "ruby" and sim.requests[computer] == 1  # no pool serves ruby: maybe a node
    current[0] = sim_config(sim, {"name": "python"}, {"name": "ruby"})  # what a reload (SIGHUP) does
    for _ in range(2):
        (item,) = listener.read_items([raw])
        assert item.expression == "ruby"
    assert sim.requests[computer] == 1  # a label a pool serves now: no node to look up


def test_label_named_when_several_nodes_carry_it(sim: SimJenkins) -> None:
    sim.model.create_node("static-1", labels="python", executors=1)
    sim.model.create_node("static-2", labels="python", executors=1)
    sim.trigger("pipe")
    assert wants(make(sim)) == [("python", None)]


def test_single_node_case_resolved_through_computer(sim: SimJenkins) -> None:
    sim.model.create_node("builder", labels="python", executors=1)
    sim.trigger("pipe")
    (item,) = make(sim).poll().items
    assert item.node == "builder" and "python" in item.node_labels


def test_older_unquoted_messages(sim: SimJenkins) -> None:
    sim.model.quoted = False
    sim.add_job("long", label="python", duration=60)
    for name in ("a", "b"):
        node = sim.model.create_node(name, labels="python", executors=1)
        sim.model.connect(name, node.secret, lambda: None)
        sim.trigger("long")
    sim.wait_for(lambda: not sim.model.queue, what="both nodes busy")
    sim.trigger("pipe")
    assert sim.model.queue_json()["items"][0]["why"] == "Waiting for next available executor on python"
    assert wants(make(sim)) == [("python", None)]


def test_quieting_down_is_not_demand(sim: SimJenkins) -> None:
    sim.model.create_node("x", labels="python", executors=1)
    sim.trigger("pipe")
    sim.model.quieting_down = True
    assert wants(make(sim)) == []


def test_unreachable_jenkins_is_unknown_demand_not_zero(sim: SimJenkins) -> None:
    listener = make(sim)
    sim.stop()
    with pytest.raises(DemandUnknown):
        listener.poll()


def test_queue_is_read_with_one_tree_filtered_request(sim: SimJenkins) -> None:
    sim.model.create_node("x1", labels="java", executors=1)
    sim.trigger("free")
    listener = make(sim)
    before = sim.requests[("GET", "/queue/api/json")]
    listener.poll()
    assert sim.requests[("GET", "/queue/api/json")] == before + 1
    assert sim.requests[("GET", "/computer/api/json")] == 0  # only needed to resolve node names


def test_node_names_are_read_once_and_again_only_for_a_new_node(sim: SimJenkins) -> None:
    sim.model.create_node("builder", labels="python", executors=1)
    sim.trigger("pipe")
    listener = make(sim)
    for _ in range(3):
        (item,) = listener.poll().items
        assert item.node == "builder"
    assert sim.requests[("GET", "/computer/api/json")] == 1
    sim.model.delete_node("builder")
    sim.model.create_node("builder-2", labels="python", executors=1)
    (item,) = listener.poll().items
    assert item.node == "builder-2" and "python" in item.node_labels
    assert sim.requests[("GET", "/computer/api/json")] == 2
