"""``config validate`` tells the truth: every problem (core and plugin sections) in one pass, what
``run`` needs of the machine, and plugin type names that two distributions claim."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from autoscaler.cli.main import cli
from autoscaler.discovery import PluginNotFound, Registry


def write_config(
    tmp_path: Path, *, token: bool = True, work_dir: str | None = None, agent_credential: bool = True
) -> Path:
    token_file = tmp_path / "jenkins-token"
    if token:
        token_file.write_text("s3cret\n")
    agent_token = tmp_path / "agent-token"
    agent_token.write_text("agent-s3cret\n")
    agent = f"    agent-user: agents\n    agent-token-file: {agent_token}\n" if agent_credential else ""
    work = work_dir or str(tmp_path / "agents")
    text = f"""\
controllers:
  - name: main
    url: https://jenkins.example.org
    user: autoscaler
    token-file: {token_file}
{agent}driver: {{type: local, work-dir: {work}}}
demand-listeners:
  - {{name: queue, type: jenkins-queue, interval: 5s}}
destroy-listeners:
  - {{name: events, type: zmq, endpoints: "tcp://jenkins.example.org:8888"}}
labels:
  - name: python
    command: swarm-agent
    max: 20
limits: {{max-agents: 100, boot-timeout: 5m}}
"""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["config", "validate", "-c", str(path)])
    return result.exit_code, result.output


def test_a_good_config_is_ok_and_counts_read_as_english(tmp_path: Path) -> None:
    code, out = validate(write_config(tmp_path))
    assert code == 0, out
    assert out.strip().endswith("OK (1 label, 1 controller)")


def test_five_mistakes_core_and_plugin_give_five_problems_in_one_pass(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    text = (
        path.read_text()
        .replace("max: 20", "max: -1")  # core: labels
        .replace("boot-timeout: 5m", "boot-timeout: soon")  # core: limits
        .replace("interval: 5s", "interval: often")  # plugin: jenkins-queue
        .replace('endpoints: "tcp://jenkins.example.org:8888"', 'endpoints: "tcp://x:1", colour: red')  # plugin: zmq
        .replace("type: local,", "type: local, no-such-key: 1,")  # plugin: driver
    )
    path.write_text(text)
    code, out = validate(path)
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 5, out
    for key in ("labels[0].max", "limits.boot-timeout", "demand-listeners[0].interval", "destroy-listeners[0].colour"):
        assert any(f" {key}:" in e for e in errors), (key, out)
    assert any("driver.no-such-key" in e for e in errors), out
    assert out.rstrip().endswith("5 problems")


def test_a_missing_token_file_fails_validate_as_run_would(tmp_path: Path) -> None:
    code, out = validate(write_config(tmp_path, token=False))
    assert code == 1
    assert "controllers[0].token-file: controller 'main' token: cannot read" in out
    assert "No such file or directory" in out


def test_an_empty_token_file_fails_validate(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    (tmp_path / "jenkins-token").write_text("\n")
    code, out = validate(path)
    assert code == 1 and "is empty" in out


def test_a_work_dir_that_cannot_be_created_fails_validate(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out = validate(write_config(tmp_path, work_dir=str(blocker / "agents")))
    assert code == 1
    assert f"driver.work-dir: {blocker} is not a directory" in out


def test_a_plugin_that_is_not_installed_is_named_with_the_core_problems(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("type: zmq", "type: zmqq").replace("max: 20", "max: many"))
    code, out = validate(path)
    assert code == 1
    assert "destroy-listeners[0].type: no destroy listener named 'zmqq' is installed" in out
    assert "labels[0].max: expected a whole number" in out


@pytest.fixture
def duplicate_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second distribution that also calls its destroy listener ``zmq``."""
    dist = tmp_path / "other_zmq-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: other-zmq\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[autoscaler.destroy_listeners]\nzmq = autoscaler_zmq.listener:ZmqListener\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


def test_duplicate_type_names_are_ambiguous_naming_both_distributions(duplicate_plugin: None) -> None:
    registry = Registry.discover()
    groups = [sorted(i.distribution for i in same) for same in registry.duplicates()]
    assert groups == [["jenkins-autoscaler-zmq", "other-zmq"]]
    with pytest.raises(
        PluginNotFound, match=r"'zmq' is ambiguous: provided by both .*(jenkins-autoscaler-zmq|other-zmq)"
    ):
        registry.find("destroy", "zmq")


def test_plugins_command_reports_duplicates(duplicate_plugin: None) -> None:
    out = CliRunner().invoke(cli, ["plugins"]).output
    rows = [line for line in out.splitlines() if line.startswith("destroy") and " zmq " in line]
    assert len(rows) == 2 and all(r.endswith("DUPLICATE") for r in rows), out
    assert "destroy 'zmq' is ambiguous: provided by both" in out
    assert "other-zmq 0.1" in out and "jenkins-autoscaler-zmq" in out


def test_validate_refuses_a_config_using_a_duplicate_type(tmp_path: Path, duplicate_plugin: None) -> None:
    code, out = validate(write_config(tmp_path))
    assert code == 1
    line = next(x for x in out.splitlines() if "destroy-listeners[0].type" in x)
    assert "ambiguous" in line and "other-zmq" in line and "jenkins-autoscaler-zmq" in line


def test_swarm_agents_without_their_own_credential_are_refused_as_run_refuses_them(tmp_path: Path) -> None:
    """The local driver never hands agents the daemon's token: run refuses such a config, so validate does."""
    path = write_config(tmp_path, agent_credential=False)
    code, out = validate(path)
    assert code == 1, out
    assert f"{path}:2: controllers[0]: controller 'main': swarm label(s) python have no agent credential" in out
    kubernetes = path.read_text().replace(
        f"driver: {{type: local, work-dir: {tmp_path / 'agents'}}}", "driver: {type: kubernetes}"
    )
    path.write_text(kubernetes.replace("command: swarm-agent", "image: swarm-agent"))
    code, out = validate(path)
    assert code == 0, out  # a pod reads its token from a Secret: only the user name is missing, a warning
    assert "warning:" in out and "have no agent credential" in out
