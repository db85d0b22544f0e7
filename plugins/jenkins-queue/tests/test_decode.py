"""The typed queue decoding reads every item as the plain-JSON reading does, and an item kept
from the last poll is kept only while nothing it depends on changed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from autoscaler_jenkins_queue import JenkinsQueueListener, QueueSettings
from autoscaler_jenkins_queue.decode import decode

from autoscaler.config.models import Config
from autoscaler.plugin import DemandUnknown, PluginContext

CONFIG = Config.model_validate(
    {
        "controllers": [{"name": "main", "url": "http://j/"}],
        "labels": [{"name": "python"}, {"name": "docker", "atoms": ["linux"]}],
    }
)
PLACEHOLDER = "org.jenkinsci.plugins.workflow.support.steps.ExecutorStepExecution$PlaceholderTask"


class Queue:
    """A controller answering the queue and ``/computer`` from memory."""

    name = "main"

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.nodes: dict[str, list[str]] = {}
        self.computer_reads = 0
        self.body: str | None = None

    def get_text(self, path: str) -> str:
        assert path.startswith("queue/api/json")
        return self.body if self.body is not None else json.dumps({"items": self.items})

    def get_json(self, path: str) -> Any:
        assert path.startswith("computer/api/json")
        self.computer_reads += 1
        return {
            "computer": [
                {"displayName": n, "assignedLabels": [{"name": lab} for lab in labels]}
                for n, labels in self.nodes.items()
            ]
        }


def listener(queue: Queue, counted: list[str] | None = None) -> JenkinsQueueListener:
    context = PluginContext(
        config=CONFIG,
        emit=lambda e: None,
        jenkins={"main": queue},  # type: ignore[dict-item]
        count=(counted if counted is not None else []).append,
    )
    return JenkinsQueueListener(QueueSettings(type="jenkins-queue"), context)


def item(i: int, why: str | None, **extra: Any) -> dict[str, Any]:
    return {"_class": "hudson.model.Queue$BuildableItem", "id": i, "why": why, **extra}


VARIED = [
    item(1, "Waiting for next available executor on ‘python’", task={"_class": PLACEHOLDER}, inQueueSince=1000),
    item(2, "There are no nodes with the label ‘linux && docker’", task={"name": "free", "url": "u"}),
    item(3, "Waiting for next available executor", task={"name": "x", "labelExpression": "  python  "}),
    item(4, "Waiting for next available executor", task={"url": "http://j/job/y/", "labelExpression": " "}),
    item(5, "All nodes of label python are offline", inQueueSince=1.5e12),
    item(6, "builder is offline", task={"name": "pinned"}),
    item(7, "Waiting for next available executor on ‘builder’"),
    item(8, "In the quiet period. Expires in 4.2 sec", task={"name": "q"}),
    item(9, "Waiting for next available executor on ‘python’", blocked=True),
    item(10, "Waiting for next available executor on ‘python’", pending=True),
    item(11, "Waiting for next available executor on ‘python’", buildable=False),
    {**item(12, "There are no nodes with the label ‘python’"), "_class": "hudson.model.Queue$WaitingItem"},
    item(13, "‘a’ is offline; Waiting for next available executor on ‘docker’"),
    item(14, None),
    item(15, "Jenkins is about to shut down"),
]


def test_typed_reading_gives_what_the_plain_reading_gives() -> None:
    queue = Queue()
    queue.items, queue.nodes = VARIED, {"builder": ["builder", "python"], "a": ["a"]}
    typed = listener(queue).poll().items
    assert decode(json.dumps({"items": VARIED})) is not None  # the typed decoder took it
    assert typed == tuple(listener(queue).read_items(json.loads(json.dumps(VARIED))))
    by_key = {i.key: i for i in typed}
    assert set(by_key) == {"main:1", "main:2", "main:3", "main:5", "main:6", "main:7", "main:13"}
    assert by_key["main:1"].since == 1.0 and by_key["main:1"].what == "pipeline node block"
    assert by_key["main:3"].expression == "python" and by_key["main:3"].what == "x"
    assert by_key["main:5"].since == 1.5e9
    assert (by_key["main:7"].node, "python" in by_key["main:7"].node_labels) == ("builder", True)
    assert by_key["main:13"].expression == "docker"


def test_odd_types_are_read_as_plain_json_item_by_item() -> None:
    odd = [
        {"id": 1, "why": 5, "task": "x"},  # not a string, not an object: no reason, no task
        {"id": "2", "why": "There are no nodes with the label ‘python’", "task": {"name": 7}, "blocked": 0},
        {"why": "There are no nodes with the label ‘python’"},  # no id
        ["not", "an", "object"],
        {"id": [3], "why": "There are no nodes with the label ‘python’"},  # an id that cannot be a key
    ]
    queue, counted = Queue(), list[str]()
    queue.items = odd
    assert decode(json.dumps({"items": odd})) is None
    (found,) = listener(queue, counted).poll().items
    assert (found.key, found.expression, found.what) == ("main:2", "python", "7")
    assert counted == ["malformed"] * 3


@pytest.mark.parametrize("body", ["<html>busy</html>", '{"queue": []}', "[]"])
def test_a_queue_that_is_not_one_is_unknown_demand(body: str) -> None:
    queue = Queue()
    queue.body = body
    with pytest.raises(DemandUnknown):
        listener(queue).poll()


def test_an_item_that_changed_is_read_again() -> None:
    queue = Queue()
    queue.items = [item(1, "There are no nodes with the label ‘python’"), item(2, "In the quiet period")]
    reader = listener(queue)
    first = reader.poll().items
    assert [i.expression for i in first] == ["python"]
    assert reader.poll().items[0] is first[0]  # unchanged: kept
    queue.items = [
        item(1, "There are no nodes with the label ‘docker’"),
        item(2, "There are no nodes with the label ‘linux’"),
    ]
    assert [i.expression for i in reader.poll().items] == ["docker", "linux"]


def test_items_naming_a_node_take_its_labels_from_the_latest_read() -> None:
    queue = Queue()
    queue.nodes = {"builder": ["python"]}
    queue.items = [item(1, "builder is offline")]
    reader = listener(queue)
    assert reader.poll().items[0].node_labels == {"python"}
    queue.nodes = {"builder": ["docker"], "other": ["linux"]}
    queue.items.append(item(2, "other is offline"))  # a node not seen yet: /computer is read again
    first, second = reader.poll().items
    assert (first.node_labels, second.node_labels) == (frozenset({"docker"}), frozenset({"linux"}))
    assert queue.computer_reads == 2
