"""Config loading: every kind of mistake names the file, the line, the key and what was expected."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from autoscaler.assembly import resolve_plugins
from autoscaler.config import ConfigError, parse_config
from autoscaler.config.models import ControllerConfig
from autoscaler.discovery import Registry
from autoscaler.jenkins.credentials import CredentialError, read_token

GOOD = """\
controllers:
  - name: main
    url: https://jenkins.example.org
    user: autoscaler
    token-file: /etc/autoscaler/jenkins-token
demand-listeners:
  - {name: queue, type: jenkins-queue, interval: 5s}
destroy-listeners:
  - {name: events, type: zmq, endpoints: "tcp://jenkins.example.org:8888"}
labels:
  - name: python
    command: swarm-agent
    cpu: 500m
    memory: 1Gi
    max: 20
limits: {max-agents: 100, boot-timeout: 5m}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loaded = parse_config(textwrap.dedent(text), "c.yaml")
        resolve_plugins(loaded, Registry.discover())
    return [str(p) for p in info.value.problems]


def test_good_config_loads_with_units_converted() -> None:
    loaded = parse_config(GOOD, "c.yaml")
    config = loaded.config
    assert config.controllers[0].url == "https://jenkins.example.org/"
    assert config.limits.boot_timeout == 300
    assert config.labels[0].cpu == "500m"
    plugins = resolve_plugins(loaded, Registry.discover())
    assert plugins.demand[0].settings.interval == 5  # type: ignore[attr-defined]
    assert plugins.destroy[0].settings.endpoints == ("tcp://jenkins.example.org:8888",)  # type: ignore[attr-defined]
    assert loaded.warnings == []


def test_default_controller_is_the_first_and_each_label_finds_its_own() -> None:
    text = GOOD.replace(
        "demand-listeners:",
        "  - {name: other, url: https://other.example.org, token-env: OTHER_TOKEN}\ndemand-listeners:",
    ).replace("    max: 20", "    max: 20\n  - {name: java, command: x, controller: other}")
    config = parse_config(text, "c.yaml").config
    assert config.default_controller.name == "main"
    assert config.controller_named(None) is config.default_controller
    assert config.controller_named("other").url == "https://other.example.org/"
    assert [config.controller_of(lab).name for lab in config.labels] == ["main", "other"]
    with pytest.raises(KeyError, match="no controller named 'nope' \\(have: main, other\\)"):
        config.controller_named("nope")


BAD = [
    # (what, replace this, with this, expected line, expected key, expected words)
    ("unknown key", "    cpu: 500m", "    cpus: 500m", 13, "labels[0].cpus", "did you mean 'cpu'"),
    ("bad quantity", "cpu: 500m", "cpu: lots", 13, "labels[0].cpu", "Kubernetes quantity"),
    ("bad duration", "boot-timeout: 5m", "boot-timeout: soon", 16, "limits.boot-timeout", "duration"),
    ("negative max", "max: 20", "max: -2", 15, "labels[0].max", ">= 0"),
    ("not a number", "max-agents: 100", "max-agents: many", 16, "limits.max-agents", "whole number"),
    (
        "bad url",
        "url: https://jenkins.example.org",
        "url: jenkins.example.org",
        3,
        "controllers[0].url",
        "http:// or https://",
    ),
    ("bad label name", "name: python", "name: py thon", 11, "labels[0].name", "single Jenkins label"),
    (
        "unknown plugin",
        "type: jenkins-queue",
        "type: jenkins-qeueu",
        7,
        "demand-listeners[0].type",
        "no demand listener named 'jenkins-qeueu'",
    ),
    ("plugin key error", "interval: 5s", "interval: fast", 7, "demand-listeners[0].interval", "duration"),
    ("plugin unknown key", "type: zmq,", "type: zmq, endpiont: x,", 9, "destroy-listeners[0].endpiont", "unknown key"),
    (
        "bad zmq endpoint",
        '"tcp://jenkins.example.org:8888"',
        '"jenkins:8888"',
        9,
        "destroy-listeners[0].endpoints",
        "tcp://host:8888",
    ),
    (
        "two secrets",
        "    token-file: /etc/autoscaler/jenkins-token",
        "    token-file: /etc/autoscaler/jenkins-token\n    token-env: TOKEN",
        2,
        "controllers[0]",
        "only one of",
    ),
    (
        "unknown controller",
        "    max: 20",
        "    max: 20\n    controller: other",
        16,
        "labels[0].controller",
        "no controller named 'other'",
    ),
    ("wrong type of section", "limits: {max-agents: 100, boot-timeout: 5m}", "limits: [1, 2]", 16, "limits", "mapping"),
    ("bad connect mode", "    max: 20", "    max: 20\n    connect: ssh", 16, "labels[0].connect", "'swarm'"),
]


@pytest.mark.parametrize(("what", "old", "new", "line", "key", "words"), BAD, ids=[b[0] for b in BAD])
def test_each_mistake_names_line_and_key(what: str, old: str, new: str, line: int, key: str, words: str) -> None:
    assert old in GOOD, what
    found = problems(GOOD.replace(old, new, 1))
    assert any(p.startswith(f"c.yaml:{line}: {key}:") and words in p for p in found), found


def test_duplicate_keys_are_errors() -> None:
    found = problems(GOOD + "limits: {}\n")
    assert found == ["c.yaml:17: key 'limits' appears twice (first on line 16)"]


def test_invalid_yaml_gives_line() -> None:
    found = problems("controllers:\n  - url: [unclosed\nlabels: []\n")
    assert found[0].startswith("c.yaml:3:") and "not valid YAML" in found[0]


def test_empty_file() -> None:
    assert problems("") == ["c.yaml:1: expected a mapping of sections, got an empty file"]


def test_missing_sections_are_named() -> None:
    found = problems("daemon: {id: x}\n")
    assert "c.yaml:1: controllers: required key is missing" in found
    assert "c.yaml:1: labels: required key is missing" in found


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace("cpu: 500m", "cpu: lots").replace("max: 20", "max: -1")
    assert len(problems(text)) == 2


def test_inline_token_is_warned_about() -> None:
    loaded = parse_config(GOOD.replace("token-file: /etc/autoscaler/jenkins-token", "token: abc"), "c.yaml")
    assert [str(w) for w in loaded.warnings] == [
        "c.yaml:5: controllers[0].token: inline token; prefer token-file or token-env"
    ]
    assert "abc" not in repr(loaded.config)


KUBESTACK = """\
demand-listeners:
    - name: gearman-server
      type: gearman
      host: 10.0.0.5
      port: 4730
    - name: queue
      type: jenkins_queue
destroy-listeners:
    - name: zmq
      type: zmq
      host: 10.0.0.6
      port: 8888
jenkins:
    external_url: 'http://10.0.0.6'
    internal_url: 'http://jenkins.internal:8080'
    user: jenkins
    pass: jenkins
kubernetes:
    url: 'http://10.0.0.7:8080'
    api_key: key
image: yrobla/jenkins-slave-swarm-infra:latest
labels:
    - name: python
      cpu: 500m
      memory: 512Mi
    - name: java
      image: example/java-agent:1
"""


def test_kubestack_config_translates_with_a_warning_per_secret() -> None:
    loaded = parse_config(KUBESTACK, "ks.yaml")
    config = loaded.config
    assert loaded.legacy
    ctl = config.controllers[0]
    assert (ctl.url, ctl.agent_url, ctl.user, ctl.token) == (
        "http://10.0.0.6/",
        "http://jenkins.internal:8080/",
        "jenkins",
        "jenkins",
    )
    assert config.driver.type == "kubernetes"
    assert config.driver.settings() == {"type": "kubernetes", "url": "http://10.0.0.7:8080", "api-key": "key"}
    assert [e.type for e in config.demand_listeners] == ["gearman", "jenkins-queue"]
    assert config.destroy_listeners[0].settings()["endpoints"] == ["tcp://10.0.0.6:8888"]
    assert [(lab.name, lab.image) for lab in config.labels] == [
        ("python", "yrobla/jenkins-slave-swarm-infra:latest"),
        ("java", "example/java-agent:1"),
    ]
    warnings = [str(w) for w in loaded.warnings]
    assert len(warnings) == 2
    assert warnings[0].startswith("ks.yaml:17: jenkins.pass: inline Jenkins password")
    assert warnings[1].startswith("ks.yaml:20: kubernetes.api_key: inline Kubernetes API key")


def test_kubestack_errors_point_at_the_users_lines() -> None:
    found = problems(KUBESTACK.replace("cpu: 500m", "cpu: half"))
    assert any(p.startswith("c.yaml:24: labels[0].cpu:") for p in found), found


def test_controller_token_comes_from_one_source_and_a_broken_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def controller(**source: str) -> ControllerConfig:
        return ControllerConfig.model_validate({"name": "main", "url": "http://j/", **source})

    token = tmp_path / "token"
    token.write_text("s3cret\n")
    monkeypatch.setenv("JENKINS_TOKEN", "from-env")
    assert read_token(controller(**{"token-file": str(token)})) == "s3cret"
    assert read_token(controller(**{"token-env": "JENKINS_TOKEN"})) == "from-env"
    assert read_token(controller(token="inline")) == "inline"
    assert read_token(controller()) is None
    token.write_text("")
    with pytest.raises(CredentialError, match=f"controller 'main' token: file {token} is empty"):
        read_token(controller(**{"token-file": str(token)}))
    with pytest.raises(CredentialError, match="controller 'main' token: environment variable NOPE is not set"):
        read_token(controller(**{"token-env": "NOPE"}))
    with pytest.raises(CredentialError, match="controller 'main' token: cannot read /no/such: No such file"):
        read_token(controller(**{"token-file": "/no/such"}))
