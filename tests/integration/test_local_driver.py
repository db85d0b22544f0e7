"""The local driver with real processes: secrets stay out of argv, restarts adopt, retire stops."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.agent_env import agent_env
from autoscaler.config.models import Config
from autoscaler.drivers.local import LocalDriver, LocalSettings
from autoscaler.inbound import inbound_launch, node_secret_of
from autoscaler.jenkins.client import JenkinsClient
from autoscaler.plugin import DriverError, DriverStatus, LaunchSpec, PluginContext
from autoscaler.testing.jenkins import SimJenkins

AGENT = """
import json, os, signal, sys, time
signal.signal(signal.SIGTERM, {on_term})
with open("report.json", "w") as fh:
    json.dump({{"argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd()}}, fh)
while True:
    time.sleep(0.05)
"""


def make_driver(tmp_path: Path, on_term: str = "lambda *a: sys.exit(0)") -> tuple[LocalDriver, Config]:
    script = tmp_path / "agent.py"
    script.write_text(AGENT.format(on_term=on_term))
    config = Config.model_validate(
        {
            "controllers": [
                {
                    "name": "main",
                    "url": "http://jenkins:8080/",
                    "agent-url": "http://internal:8080/",
                    "user": "bot",
                    "token": "unused",
                    "agent-user": "agent-bot",
                    "agent-token-env": "UNUSED_AGENT_TOKEN",
                }
            ],
            "labels": [
                {
                    "name": "python",
                    "atoms": ["linux"],
                    "executors": 2,
                    "env": {"EXTRA": "1"},
                    "command": [
                        sys.executable,
                        str(script),
                        "-name",
                        "{name}",
                        "-labels",
                        "{labels}",
                        "-passwordEnvVariable",
                        "{credential_env}",
                    ],
                }
            ],
            "daemon": {"id": "test-daemon"},
        }
    )
    settings = LocalSettings(type="local", work_dir=str(tmp_path / "state"))
    return LocalDriver(settings, PluginContext(config=config, emit=lambda e: None)), config


def launch(driver: LocalDriver, config: Config, name: str = "ci-python-abc123") -> Path:
    driver.launch(LaunchSpec(name, config.labels[0], config.default_controller, "test-daemon", credential="T0P-SECRET"))
    report = Path(driver.work_root, name, "report.json")
    deadline = time.monotonic() + 10
    while not report.exists():  # the agent writes it once it runs
        assert time.monotonic() < deadline, "agent did not start"
        time.sleep(0.02)
    return report


def wait_status(driver: LocalDriver, name: str, status: DriverStatus) -> None:
    deadline = time.monotonic() + 10
    while {h.name: h.status for h in driver.list()}.get(name) != status:
        assert time.monotonic() < deadline, f"{name} never became {status}"
        time.sleep(0.02)


def test_agent_gets_identity_in_env_and_secret_only_in_env(tmp_path: Path) -> None:
    driver, config = make_driver(tmp_path)
    report = launch(driver, config)
    seen = json.loads(report.read_text())
    env = seen["env"]
    assert env["JENKINS_TOKEN"] == "T0P-SECRET"
    assert "T0P-SECRET" not in " ".join(seen["argv"])
    assert seen["argv"][1:] == [
        "-name",
        "ci-python-abc123",
        "-labels",
        "linux python",
        "-passwordEnvVariable",
        "JENKINS_TOKEN",
    ]
    assert (env["AGENT_NAME"], env["JENKINS_URL"], env["JENKINS_USER"], env["EXTRA"]) == (
        "ci-python-abc123",
        "http://internal:8080/",
        "agent-bot",  # the agent user, never the daemon's
        "1",
    )
    assert seen["cwd"] == str(driver.work_root / "ci-python-abc123")
    expected = agent_env(
        "ci-python-abc123",
        config.labels[0],
        config.default_controller,
        "test-daemon",
        workdir=seen["cwd"],
        credential_env="JENKINS_TOKEN",
    )
    assert {k: env[k] for k in expected.values} == expected.values  # the framework's, as a pod gets it
    state = (driver.state_dir / "ci-python-abc123.json").read_text()
    assert "T0P-SECRET" not in state
    pid = json.loads(state)["pid"]
    assert "T0P-SECRET" not in Path(f"/proc/{pid}/cmdline").read_text()
    driver.delete("ci-python-abc123", grace=5)


def test_a_new_driver_adopts_live_agents_and_reports_dead_ones(tmp_path: Path) -> None:
    driver, config = make_driver(tmp_path)
    launch(driver, config, "ci-python-aaaaaa")
    launch(driver, config, "ci-python-bbbbbb")
    restarted, _ = make_driver(tmp_path)  # as after a daemon restart: no child handles
    assert {h.name: h.status for h in restarted.list()} == {
        "ci-python-aaaaaa": DriverStatus.RUNNING,
        "ci-python-bbbbbb": DriverStatus.RUNNING,
    }
    pid = json.loads((driver.state_dir / "ci-python-bbbbbb.json").read_text())["pid"]
    os.killpg(pid, signal.SIGKILL)
    driver._children["ci-python-bbbbbb"].wait()  # reap it, as init would
    wait_status(restarted, "ci-python-bbbbbb", DriverStatus.EXITED)
    restarted.delete("ci-python-aaaaaa", grace=5)
    restarted.delete("ci-python-bbbbbb", grace=5)
    assert restarted.list() == []


def test_delete_escalates_to_kill_and_is_idempotent(tmp_path: Path) -> None:
    driver, config = make_driver(tmp_path, on_term="signal.SIG_IGN")
    launch(driver, config)
    pid = json.loads((driver.state_dir / "ci-python-abc123.json").read_text())["pid"]
    started = time.monotonic()
    driver.delete("ci-python-abc123", grace=0.3)
    assert time.monotonic() - started < 5
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    driver.delete("ci-python-abc123", grace=0.3)
    assert driver.list() == []
    assert not (driver.work_root / "ci-python-abc123").exists()
    assert (driver.log_dir / "ci-python-abc123.log").exists()


def test_agent_without_state_file_is_found_by_its_environment(tmp_path: Path) -> None:
    driver, config = make_driver(tmp_path)
    launch(driver, config)
    (driver.state_dir / "ci-python-abc123.json").unlink()  # a crash between spawn and state write
    fresh, _ = make_driver(tmp_path)
    (handle,) = fresh.list()
    assert (handle.name, handle.label, handle.status) == ("ci-python-abc123", "python", DriverStatus.RUNNING)
    fresh.delete("ci-python-abc123", grace=5)
    assert fresh.list() == []


def test_missing_command_is_a_permanent_launch_error(tmp_path: Path) -> None:
    driver, config = make_driver(tmp_path)
    label = config.labels[0].model_copy(update={"command": ["/nonexistent/agent"]})
    with pytest.raises(DriverError) as info:
        driver.launch(LaunchSpec("ci-python-x", label, config.default_controller, "test-daemon"))
    assert not info.value.transient


def test_a_hold_is_recorded_in_the_state_file(tmp_path: Path) -> None:
    driver, config = make_driver(tmp_path)
    launch(driver, config)
    driver.mark_hold("ci-python-abc123", "look", None)
    restarted, _ = make_driver(tmp_path)
    (handle,) = restarted.list()
    assert (handle.hold_reason, handle.hold_until) == ("look", None)
    restarted.mark_hold("ci-python-abc123", None, None)
    assert restarted.list()[0].hold_reason is None
    restarted.delete("ci-python-abc123", grace=5)


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    jenkins = SimJenkins(agent_users={"agents": "agent-t0ken"}).start()
    yield jenkins
    jenkins.stop()


def inbound_driver(tmp_path: Path, sim: SimJenkins, command: list[str]) -> tuple[LocalDriver, Config, JenkinsClient]:
    config = Config.model_validate(
        {
            "controllers": [{"name": "main", "url": sim.url, "user": sim.user, "token": sim.token}],
            "labels": [{"name": "java", "connect": "inbound", "command": command}],
            "daemon": {"id": "test-daemon"},
        }
    )
    client = JenkinsClient(config.default_controller)
    context = PluginContext(config=config, emit=lambda e: None, jenkins={"main": client})
    return LocalDriver(LocalSettings(type="local", work_dir=str(tmp_path / "state")), context), config, client


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(part.decode().split("=", 1) for part in raw.split(b"\0") if b"=" in part)


def test_an_inbound_agent_runs_with_its_node_secret_and_no_credential(tmp_path: Path, sim: SimJenkins) -> None:
    driver, config, client = inbound_driver(tmp_path, sim, [sys.executable, "-m", "autoscaler.testing.inbound_agent"])
    spec = LaunchSpec("ci-java-aaaaaa", config.labels[0], config.default_controller, "test-daemon", sim.token)
    with inbound_launch(spec, client) as ready:  # what the engine's launch step does
        assert node_secret_of(ready) is not None
        driver.launch(ready)
    node = sim.model.nodes["ci-java-aaaaaa"]
    assert node.kind == "jnlp" and "java" in node.labels
    sim.wait_for(lambda: node.connected, 20, "the inbound agent online")
    pid = json.loads((driver.state_dir / "ci-java-aaaaaa.json").read_text())["pid"]
    env = environ(pid)
    assert env["JENKINS_SECRET"] == node_secret_of(ready) and env["JENKINS_AGENT_NAME"] == "ci-java-aaaaaa"
    assert "JENKINS_TOKEN" not in env and sim.token not in env.values()  # no admin credential
    driver.delete("ci-java-aaaaaa", grace=5)
    sim.wait_for(lambda: not node.connected, 10, "the agent gone")


def test_a_failed_inbound_launch_leaves_no_node_behind(tmp_path: Path, sim: SimJenkins) -> None:
    driver, config, _ = inbound_driver(tmp_path, sim, ["/nonexistent/agent"])
    spec = LaunchSpec("ci-java-bbbbbb", config.labels[0], config.default_controller, "test-daemon")
    with pytest.raises(DriverError, match="cannot start"):
        driver.launch(spec)  # called directly: the driver has the framework register the node
    assert sim.requests[("POST", "/computer/doCreateItem")] == 1  # the node was registered first
    assert sim.requests[("POST", "/computer/ci-java-bbbbbb/doDelete")] == 1
    assert "ci-java-bbbbbb" not in sim.model.nodes  # and removed when the launch failed


def test_a_frozen_agent_neither_connects_nor_takes_a_build_until_thawed(tmp_path: Path, sim: SimJenkins) -> None:
    from autoscaler.testing.swarm_agent import command_line

    config = Config.model_validate(
        {
            "controllers": [
                {
                    "name": "main",
                    "url": sim.url,
                    "user": sim.user,
                    "token": sim.token,
                    "agent-user": "agents",
                    "agent-token-env": "UNUSED_AGENT_TOKEN",
                }
            ],
            "labels": [{"name": "python", "command": command_line(retry=0.2)}],
            "daemon": {"id": "test-daemon"},
        }
    )
    context = PluginContext(config=config, emit=lambda e: None)
    settings = LocalSettings(type="local", work_dir=str(tmp_path / "state"), inherit_env=["PATH", "PYTHONPATH"])
    os.environ.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    driver = LocalDriver(settings, context)
    sim.add_job("unit", label="python", duration=0.2)
    register = sim.faults.add("POST", "/plugin/swarm/createSlave", hang=True)
    driver.launch(
        LaunchSpec("ci-python-frozen", config.labels[0], config.default_controller, "test-daemon", "agent-t0ken")
    )
    sim.wait_for(lambda: register.hits == 1, 20, "the agent registering")
    assert driver.freeze("ci-python-frozen")
    sim.trigger("unit")
    sim.faults.remove(register)  # Jenkins answers the held registration: the frozen agent cannot act on it
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        node = sim.model.nodes.get("ci-python-frozen")
        assert node is None or (not node.connected and not node.running)
        time.sleep(0.05)
    driver.thaw("ci-python-frozen")
    sim.wait_for(lambda: sim.model.builds_done() == 1, 20, "the thawed agent to connect and build")
    driver.delete("ci-python-frozen", grace=5)
    assert driver.list() == []


def plant(driver: LocalDriver, name: str, workdir: str) -> subprocess.Popen[bytes]:
    """A process anyone on the machine could start, claiming to be one of this daemon's agents."""
    env = {"PATH": os.environ["PATH"], "AUTOSCALER_DAEMON_ID": "test-daemon", "AUTOSCALER_AGENT_NAME": name}
    env.update({"AGENT_LABEL": "python", "AGENT_WORKDIR": workdir})
    proc = subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)
    deadline = time.monotonic() + 10  # Popen returns a moment before exec shows the new environment
    while b"AUTOSCALER_AGENT_NAME=" not in Path(f"/proc/{proc.pid}/environ").read_bytes():
        assert time.monotonic() < deadline, "the planted process did not start"
        time.sleep(0.01)
    return proc


def test_a_planted_process_with_a_path_for_a_name_is_not_adopted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    driver, _ = make_driver(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("precious")
    before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(driver.root)}
    bad = [
        plant(driver, "../../x", f"{driver.work_root}/../../x"),
        plant(driver, "../../victim", f"{driver.work_root}/../../victim"),
        plant(driver, "not-ours-abc123", f"{driver.work_root}/not-ours-abc123"),
        plant(driver, "ci-python-abcdef", str(driver.work_root / "ci-python-abcdef" / ".." / ".." / "..")),
    ]
    try:
        with caplog.at_level(logging.ERROR, logger="autoscaler.drivers.local_procs"):
            assert driver.list() == []
            assert driver.list() == []  # looked at again: still left alone, and not logged again
        for proc in bad:
            assert sum(f"process {proc.pid} " in r.getMessage() for r in caplog.records) == 1, (proc.args, caplog.text)
        assert "'../../x'" in caplog.text
        driver.delete("../../victim", grace=0)  # a name that is a path is never used as one
        driver.delete("../../x", grace=0)
        assert all(proc.poll() is None for proc in bad)  # left alone: nothing signalled
        assert (victim / "keep").read_text() == "precious"  # nothing removed
        after = {p for p in tmp_path.rglob("*") if not p.is_relative_to(driver.root)}
        assert after == before  # nothing written outside the work dir
        assert list(driver.state_dir.iterdir()) == []
    finally:
        for proc in bad:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_planted_agent_workdir_symlink_out_of_the_work_dir_is_not_adopted(tmp_path: Path) -> None:
    driver, _ = make_driver(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (driver.work_root / "ci-python-zzzzzz").symlink_to(outside)
    proc = plant(driver, "ci-python-zzzzzz", str(driver.work_root / "ci-python-zzzzzz"))
    try:
        assert driver.list() == []
        assert outside.exists()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
