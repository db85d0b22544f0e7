"""Several controllers serving the same Jenkins labels: each queued build is resolved among the
pools of the controller it is queued on, caps hold per pool and over all, and a controller that is
down holds back only its own pools."""

from __future__ import annotations

from typing import Any

from autoscaler import labels as label_expr
from autoscaler.config.models import Config
from autoscaler.engine.core import Engine
from autoscaler.engine.demand import DemandBook, resolve
from autoscaler.engine.messages import DemandUpdate, Tick
from autoscaler.engine.state import AgentState
from autoscaler.events import DemandItem, DemandReport, LifecycleHint
from autoscaler.testing.fakes import FakeClock, FakeController, FakeDriver, InlineExecutor

CONTROLLERS = [{"name": c, "url": f"http://{c}/", "user": "u", "token": "t0ken"} for c in ("east", "west")]


def config(*extra: dict[str, Any], max_agents: int = 100) -> Config:
    return Config.model_validate(
        {
            "controllers": CONTROLLERS,
            "labels": [
                {"name": "python-east", "atoms": ["python"], "controller": "east", "max": 4},
                {"name": "python-west", "atoms": ["python"], "controller": "west", "max": 4},
                *extra,
            ],
            "limits": {"launches-per-second": 100, "max-agents": max_agents, "boot-timeout": "60s"},
        }
    )


class World:
    def __init__(self, cfg: Config) -> None:
        self.clock = FakeClock()
        self.driver = FakeDriver(self.clock)
        self.jenkins = {c: FakeController(c) for c in ("east", "west")}
        self.engine = Engine(cfg, self.driver, dict(self.jenkins), InlineExecutor(), clock=self.clock)

    def send(self, message: Any) -> None:
        self.engine.submit(message)
        self.engine.drain()

    def queue(self, controller: str, *expressions: str) -> None:
        items = tuple(DemandItem(f"{controller}:{i}", expression=e) for i, e in enumerate(expressions))
        self.send(DemandUpdate(f"queue-{controller}", controller, DemandReport(items, controller)))

    def launched(self) -> list[tuple[str, str]]:
        return sorted((s.label.name, s.controller.name) for s in self.driver.launched)


def test_the_same_expression_on_two_controllers_launches_one_agent_in_each_pool() -> None:
    w = World(config())
    w.queue("east", "python", "python")
    w.queue("west", "python", "python", "python")
    assert w.launched() == [("python-east", "east")] * 2 + [("python-west", "west")] * 3
    assert {a.label: a.controller for a in w.engine.state.agents.values()} == {
        "python-east": "east",
        "python-west": "west",
    }
    assert w.engine.state.demand.per_label() == {"python-east": 2, "python-west": 3}


def test_a_controller_with_no_pool_for_an_expression_gets_none_of_anothers() -> None:
    w = World(config({"name": "docker", "atoms": ["linux"], "controller": "east"}))
    w.queue("west", "docker", "linux")
    assert w.launched() == []
    assert {item.label for item in w.engine.state.demand.listeners["queue-west"].items.values()} == {None}


def test_resolution_is_cached_per_controller_and_expression() -> None:
    book = DemandBook(config())
    for controller in ("east", "west", "east"):
        item = DemandItem(f"{controller}:1", expression="python")
        book.update(DemandUpdate(f"q-{controller}", controller, DemandReport((item,), controller)), {}, 0.0)
    assert book.listeners["q-east"].items["east:1"].label == "python-east"
    assert book.listeners["q-west"].items["west:1"].label == "python-west"


def test_resolve_without_a_controller_still_answers_about_labels_alone() -> None:
    cfg = config()
    parsed = label_expr.parse("python")
    assert resolve(parsed, cfg) == "python-east"
    assert resolve(parsed, cfg, "west") == "python-west"


def test_a_node_item_is_served_only_by_a_pool_of_its_controller() -> None:
    book = DemandBook(config())
    node_item = DemandItem("west:1", node="ci-python-east-abc", node_labels=frozenset({"python-east", "python"}))
    owners = {"ci-python-east-abc": "python-east"}
    book.update(DemandUpdate("q-west", "west", DemandReport((node_item,), "west")), owners, 0.0)
    assert book.listeners["q-west"].items["west:1"].label is None
    east_item = DemandItem("east:1", node="ci-python-east-abc", node_labels=frozenset({"python"}))
    book.update(DemandUpdate("q-east", "east", DemandReport((east_item,), "east")), owners, 0.0)
    assert book.listeners["q-east"].items["east:1"].label == "python-east"


def test_the_catch_all_pool_serves_only_its_own_controllers_queue() -> None:
    catch = {"name": "any", "catch-all": True, "controller": "east"}
    w = World(config(catch))
    w.queue("west", "gpu")
    assert w.launched() == []
    w.queue("east", "gpu")
    assert w.launched() == [("any", "east")]
    (spec,) = w.driver.launched
    assert "gpu" in spec.label.atoms


def test_reload_resolves_again_per_controller() -> None:
    w = World(config())
    book = w.engine.state.demand
    w.queue("west", "python")
    book.reconfigure(config())
    assert book.listeners["queue-west"].items["west:0"].label == "python-west"


def test_the_global_cap_is_shared_by_the_pools_of_every_controller() -> None:
    w = World(config(max_agents=3))
    w.queue("east", *["python"] * 2)
    w.queue("west", *["python"] * 4)
    assert w.launched() == [("python-east", "east")] * 2 + [("python-west", "west")]
    assert w.engine.state.blocked == {"python-west": "max-agents"}


def test_the_pool_cap_holds_per_pool() -> None:
    w = World(config())
    w.queue("east", *["python"] * 6)
    w.queue("west", "python")
    assert w.launched() == [("python-east", "east")] * 4 + [("python-west", "west")]
    assert w.engine.state.blocked == {"python-east": "max"}


def test_a_controller_that_is_down_holds_back_only_its_own_pools() -> None:
    w = World(config())
    w.queue("east", "python")
    w.queue("west", "python")
    names = {a.controller: a.name for a in w.engine.state.agents.values()}
    w.jenkins["west"].down = True
    w.send(DemandUpdate("queue-west", "west", None, "connection refused"))
    w.queue("east", "python", "python")  # more demand on east while west is unreadable
    assert [c for _, c in w.launched()].count("east") == 2
    w.clock.advance(61)  # past boot-timeout: only a readable controller can show an agent failed
    w.send(LifecycleHint())
    w.send(Tick())
    states = {a.name: a.state for a in w.engine.state.agents.values()}
    assert states[names["west"]] == AgentState.BOOTING  # west's agent waits for west to be readable
    assert names["east"] not in states or states[names["east"]] in (AgentState.RETIRING, AgentState.FAILED)
    assert w.engine.state.demand.per_label()["python-west"] == 1  # west's last report is kept


def test_why_names_the_controller_a_build_is_queued_on() -> None:
    from autoscaler.cli.why_cmd import render

    item = {
        "key": "west:7",
        "what": "build-py",
        "controller": "west",
        "label": "python-west",
        "reason": {"kind": "max", "text": "python-west is at its max of 4 agents (4 running)"},
    }
    text = render({"items": [item]})
    assert text.splitlines()[0] == "west:7 (build-py): queued on west, served by label python-west"
