"""KubeStack's own config (one image, no labels:) loads as a catch-all label, and demand that no
other label serves is charged to it, with the labels each build asked for."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from autoscaler import labels as label_expr
from autoscaler.assembly import resolve_plugins
from autoscaler.config import Config, ConfigError, load_config, parse_config
from autoscaler.discovery import Registry
from autoscaler.engine.demand import DemandBook, match_free_agents, satisfying_atoms
from autoscaler.engine.messages import DemandUpdate
from autoscaler.events import DemandItem, DemandReport

ROOT = Path(__file__).resolve().parents[2]

# app/kubestack/docs/config.yaml of the KubeStack repository, addresses filled in
KUBESTACK_REPO = """\
demand-listeners:
    - name: gearman-server
      type: gearman
      host: 10.0.0.5
      port: 4730

destroy-listeners:
    - name: zmq
      type: zmq
      host: 10.0.0.6
      port: 8888

jenkins:
    url: 'http://10.0.0.6'
    user: jenkins
    pass: jenkins
kubernetes:
    url: 'http://10.0.0.7:8080'
    api_key: key
image: yrobla/jenkins-slave-swarm-infra:latest
"""


def test_kubestack_repository_config_loads_as_one_catch_all_label(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(KUBESTACK_REPO)
    loaded = load_config(str(path))
    resolve_plugins(loaded, Registry.discover())
    config = loaded.config
    assert loaded.legacy
    assert [(lab.name, lab.catch_all, lab.image) for lab in config.labels] == [
        ("kubestack", True, "yrobla/jenkins-slave-swarm-infra:latest")
    ]
    assert config.catch_all is config.labels[0]
    ctl = config.default_controller
    assert (ctl.url, ctl.user, ctl.token) == ("http://10.0.0.6/", "jenkins", "jenkins")
    warnings = [str(w) for w in loaded.warnings]
    assert warnings[0].startswith(f"{path}:16: jenkins.pass: inline Jenkins password")
    assert warnings[1].startswith(f"{path}:19: kubernetes.api_key: inline Kubernetes API key")
    assert warnings[2].startswith(f"{path}:20: image: no labels: section, so one catch-all label 'kubestack'")
    assert len(warnings) == 3


def test_errors_in_the_catch_all_point_at_the_image_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(KUBESTACK_REPO.replace("image: yrobla/jenkins-slave-swarm-infra:latest", "image: [a]"), "k.yaml")
    assert [str(p) for p in info.value.problems] == ["k.yaml:20: labels[0].image: expected a string, got ['a']"]


def test_a_kubestack_config_without_image_or_labels_still_says_labels_are_missing() -> None:
    with pytest.raises(ConfigError, match="labels: required key is missing"):
        parse_config(KUBESTACK_REPO.replace("image: yrobla/jenkins-slave-swarm-infra:latest\n", ""), "k.yaml")


def test_only_one_label_may_be_catch_all() -> None:
    text = "controllers: [{url: 'http://j'}]\nlabels:\n  - {name: a, catch-all: true}\n  - {name: b, catch-all: true}\n"
    with pytest.raises(ConfigError, match="only one label may be catch-all"):
        parse_config(text, "c.yaml")


def test_the_sample_config_still_validates() -> None:
    loaded = load_config(str(ROOT / "etc/autoscaler/config.yaml"))
    resolve_plugins(loaded, Registry.discover())
    assert loaded.config.catch_all is None


def config(*labels: dict[str, Any]) -> Config:
    return Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": list(labels)})


def book_with(cfg: Config, *expressions: str, controller: str = "main", listener: str = "queue") -> DemandBook:
    book = DemandBook(cfg)
    add(book, *expressions, controller=controller, listener=listener)
    return book


def add(
    book: DemandBook, *expressions: str, controller: str = "main", listener: str = "queue", now: float = 100.0
) -> None:
    items = tuple(DemandItem(f"{controller}:{i}", expression=e, since=float(i)) for i, e in enumerate(expressions))
    book.update(DemandUpdate(listener, controller, DemandReport(items, controller)), {}, now=now)


MIXED = config({"name": "python", "atoms": ["linux"]}, {"name": "any", "catch-all": True}, {"name": "docker"})


def test_unmatched_expressions_go_to_the_catch_all_and_matched_ones_to_their_own_label() -> None:
    book = book_with(MIXED, "python", "linux&&python", "docker", "gpu", "arm64&&big", "gpu", "any")
    assert book.per_label() == {"python": 2, "docker": 1, "any": 4}
    assert book.catch_all_wants() == Counter({"gpu": 2, "arm64&&big": 1, "any": 1})


def test_without_a_catch_all_unmatched_expressions_stay_unserved() -> None:
    book = book_with(config({"name": "python"}), "python", "gpu")
    assert book.per_label() == {"python": 1}
    assert book.catch_all_wants() == Counter()


def test_expressions_no_agent_can_satisfy_are_not_charged_to_the_catch_all() -> None:
    book = book_with(MIXED, "gpu&&!gpu", "!any && !python && !docker", "(", '"Python 3.11"')
    assert book.per_label() == {}


def test_catch_all_agents_are_launched_with_the_labels_their_build_asked_for() -> None:
    book = book_with(MIXED, "gpu", "arm64&&big", "python")
    catch = MIXED.label("any")
    first, waited = book.launch_label(catch, now=100.0)
    assert (first.name, first.catch_all, first.all_atoms, waited) == ("any", True, {"any", "gpu"}, 100.0)
    second, _ = book.launch_label(catch, now=100.0)
    assert second.all_atoms == {"any", "arm64", "big"}
    spare, waited = book.launch_label(catch, now=100.0)  # nothing left waiting: the plain label
    assert (spare, waited) == (catch, None)
    python = MIXED.label("python")
    assert book.launch_label(python, now=100.0) == (python, 98.0)  # other labels launch as configured


def test_a_catch_all_agent_that_does_not_serve_its_build_never_counts_for_it() -> None:
    # the planner's rule for the catch-all label: launch for unmet items, retire spare agents
    wants = Counter({"gpu": 2, "arm64&&big": 1, "linux": 1})
    agents = {
        "a1": frozenset({"any", "gpu"}),
        "a2": frozenset({"any", "windows"}),
        "a3": frozenset({"any", "arm64", "big", "linux"}),
        "a4": frozenset({"any", "linux"}),
    }
    found = match_free_agents(wants, agents)
    assert found.unmet == Counter({"gpu": 1})
    assert found.spare == ("a2",)
    assert match_free_agents({}, agents).spare == ("a1", "a2", "a3", "a4")
    assert match_free_agents({"(": 1}, agents).unmet == Counter({"(": 1})


@pytest.mark.parametrize(
    ("expression", "have", "extra"),
    [
        ("gpu", {"any"}, {"gpu"}),
        ("any", {"any"}, set()),
        ("gpu || cuda", {"any"}, {"cuda"}),
        ("linux && !windows", {"any"}, {"linux"}),
        ("a && b && c && d && e && f && g && h && i && j && k && l && m && n", {"any"}, set("abcdefghijklmn")),
        ("a -> b", {"any"}, set()),
        ("gpu <-> cuda", {"any"}, set()),
        ('"Python 3.11" || py', {"any"}, {"py"}),
    ],
)
def test_satisfying_atoms_are_the_fewest_labels_that_match(expression: str, have: set[str], extra: set[str]) -> None:
    assert satisfying_atoms(label_expr.parse(expression), frozenset(have)) == extra


def test_listeners_of_one_controller_merge_for_the_catch_all_and_other_controllers_are_not_its() -> None:
    book = book_with(MIXED, "gpu", "gpu", listener="queue")
    add(book, "gpu", listener="gearman")
    add(book, "gpu", controller="other", listener="queue-other")  # its agents join "main" only
    assert book.catch_all_wants() == Counter({"gpu": 2})


def test_a_build_started_on_a_catch_all_agent_is_not_counted_again_from_an_older_report() -> None:
    book = book_with(MIXED, "gpu", "gpu", "arm64")  # read at 100
    book.record_start("any", 101.0, frozenset({"any", "gpu"}))
    assert book.catch_all_wants() == Counter({"gpu": 1, "arm64": 1})
    add(book, "gpu", "arm64", now=102.0)  # read after the start: it is no longer in the queue
    assert book.catch_all_wants() == Counter({"gpu": 1, "arm64": 1})
    book.record_start("any", 103.0, frozenset({"any", "windows"}))  # took nothing this label waits for
    assert book.catch_all_wants() == Counter({"gpu": 1, "arm64": 1})
