"""The demand book keeps what an unchanged item (the same object, reported again) resolved to,
and resolves it again whenever that could change: a reload, another controller, a node's owner."""

from __future__ import annotations

from autoscaler.config.models import Config
from autoscaler.engine.demand import DemandBook
from autoscaler.engine.messages import DemandUpdate
from autoscaler.events import DemandItem, DemandReport


def config(*labels: dict[str, object]) -> Config:
    return Config.model_validate(
        {
            "controllers": [{"name": "east", "url": "http://e/"}, {"name": "west", "url": "http://w/"}],
            "labels": list(labels),
        }
    )


def report(book: DemandBook, controller: str, *items: DemandItem, owners: dict[str, str] | None = None) -> None:
    book.update(DemandUpdate("queue", controller, DemandReport(items, controller)), owners or {}, 1.0)


def labels_of(book: DemandBook) -> dict[str, str | None]:
    return {key: w.label for ld in book.listeners.values() for key, w in ld.items.items()}


def test_an_item_reported_again_keeps_its_resolution_and_its_wait() -> None:
    book = DemandBook(config({"name": "py-east", "atoms": ["python"], "controller": "east"}))
    item = DemandItem("east:1", expression="python")
    report(book, "east", item)
    first = book.listeners["queue"].items["east:1"]
    book.update(DemandUpdate("queue", "east", DemandReport((item,), "east")), {}, 50.0)
    assert book.listeners["queue"].items["east:1"] is first and first.since == 1.0
    assert book.per_label() == {"py-east": 1}


def test_a_reload_resolves_the_same_item_again() -> None:
    book = DemandBook(config({"name": "py-east", "atoms": ["python"], "controller": "east"}))
    item = DemandItem("east:1", expression="python && arm")
    report(book, "east", item)
    assert labels_of(book) == {"east:1": None}
    book.reconfigure(config({"name": "arm-east", "atoms": ["python", "arm"], "controller": "east"}))
    report(book, "east", item)
    assert labels_of(book) == {"east:1": "arm-east"}
    book.reconfigure(config({"name": "py-east", "atoms": ["python"], "controller": "east"}))
    report(book, "east", item)
    assert labels_of(book) == {"east:1": None}


def test_the_same_item_from_another_controller_is_resolved_among_that_controllers_pools() -> None:
    book = DemandBook(
        config(
            {"name": "py-east", "atoms": ["python"], "controller": "east"},
            {"name": "py-west", "atoms": ["python"], "controller": "west"},
        )
    )
    item = DemandItem("x:1", expression="python")
    report(book, "east", item)
    report(book, "west", item)
    assert labels_of(book) == {"x:1": "py-west"}


def test_an_item_naming_a_node_follows_the_nodes_owner() -> None:
    book = DemandBook(
        config(
            {"name": "py-east", "atoms": ["python"], "controller": "east"},
            {"name": "java-east", "atoms": ["java"], "controller": "east"},
        )
    )
    item = DemandItem("east:1", node="ci-7")
    report(book, "east", item, owners={"ci-7": "py-east"})
    report(book, "east", item, owners={"ci-7": "java-east"})
    assert labels_of(book) == {"east:1": "java-east"}
