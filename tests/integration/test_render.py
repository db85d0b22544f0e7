"""``autoscaler config render LABEL``: the pod the kubernetes driver creates, or the process the
local driver starts, exactly, with every secret masked, and without contacting Jenkins or the cluster."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from autoscaler.cli.main import cli
from autoscaler.config.loader import load_config
from autoscaler.drivers.kubernetes.driver import KubernetesDriver
from autoscaler.drivers.kubernetes.settings import KubernetesSettings
from autoscaler.drivers.local import LocalDriver, LocalSettings
from autoscaler.plugin import LaunchSpec, PluginContext
from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.kubernetes import KubeApi

SECRET = "CANARY-5ecret-render"


@pytest.fixture
def sim() -> Iterator[SimJenkins]:
    with SimJenkins(token=SECRET) as jenkins:
        yield jenkins


def render(config: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["config", "render", *args, "-c", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    return result.output


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def controller(sim: SimJenkins, tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "token").write_text(SECRET)
    (tmp_path / "agent-token").write_text(SECRET + "-agent")
    return {
        "url": sim.url,
        "user": sim.user,
        "token-file": str(tmp_path / "token"),
        "agent-user": "agents",
        "agent-token-file": str(tmp_path / "agent-token"),
    }


def test_the_pod_rendered_is_the_pod_the_driver_creates(sim: SimJenkins, tmp_path: Path) -> None:
    with KubeApi() as api:
        config_file = write(
            tmp_path / "config.yaml",
            {
                "controllers": [controller(sim, tmp_path)],
                "driver": {"type": "kubernetes", "url": api.url, "namespace": "ci"},
                "labels": [
                    {"name": "python", "image": "registry.example.org/swarm:1", "cpu": "500m", "env": {"A": "1"}},
                    {"name": "java", "connect": "inbound", "image": "jenkins/inbound-agent:latest"},
                ],
            },
        )
        for label in ("python", "java"):
            name = f"ci-{label}-abcdef"
            rendered = json.loads(render(config_file, label, "--name", name, "-o", "json"))
            assert api.requests == [] and sum(sim.requests.values()) == 0  # offline
            loaded = load_config(str(config_file))
            settings = KubernetesSettings.model_validate(loaded.config.driver.settings())
            driver = KubernetesDriver(settings, PluginContext(config=loaded.config, emit=lambda e: None))
            lab = loaded.config.label(label)
            driver.launch(LaunchSpec(name, lab, loaded.config.default_controller, "autoscaler", node_secret="ab" * 16))
            driver.close()
            (sent,) = [body for body in api.created if body.get("kind") == "Pod" and body["metadata"]["name"] == name]
            for pod in (sent, rendered):
                pod["metadata"]["annotations"].pop("autoscaler.jenkins.io/created")
            assert rendered == sent
            env = {e["name"]: e for e in rendered["spec"]["containers"][0]["env"]}
            secret_var = "JENKINS_PASSWORD" if label == "python" else "JENKINS_SECRET"
            assert "value" not in env[secret_var] and "secretKeyRef" in env[secret_var]["valueFrom"]
            api.requests.clear()
            sim.requests.clear()


def test_the_local_process_rendered_is_the_process_the_driver_starts(sim: SimJenkins, tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text("import time\nwhile True: time.sleep(0.1)\n")
    config = {
        "controllers": [controller(sim, tmp_path)],
        "driver": {"type": "local", "work-dir": str(tmp_path / "work"), "inherit-env": ["PATH"]},
        "labels": [
            {
                "name": "python",
                "command": [sys.executable, str(script), "-username", "{user}", "-name", "{name}", SECRET],
                "env": {"DEPLOY_TOKEN": SECRET + "-env", "MODE": "fast"},
            }
        ],
    }
    config_file = write(tmp_path / "config.yaml", config)
    rendered = yaml.safe_load(render(config_file, "python", "--name", "ci-python-abcdef"))
    assert not (tmp_path / "work").exists()  # rendering starts nothing, writes nothing
    loaded = load_config(str(config_file))
    settings = LocalSettings.model_validate(loaded.config.driver.settings())
    driver = LocalDriver(settings, PluginContext(config=loaded.config, emit=lambda e: None))
    lab, main = loaded.config.label("python"), loaded.config.default_controller
    driver.launch(LaunchSpec("ci-python-abcdef", lab, main, "autoscaler", credential=SECRET + "-agent"))
    try:
        pid = json.loads((driver.state_dir / "ci-python-abcdef.json").read_text())["pid"]
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        raw = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
        environ = dict(kv.split("=", 1) for kv in raw if "=" in kv)
    finally:
        driver.delete("ci-python-abcdef", grace=2)
    masked = {k: "***" if SECRET in v else v for k, v in environ.items()}
    assert rendered["argv"] == [a.replace(SECRET, "***") for a in argv]
    assert rendered["argv"][-1] == "***" and "agents" in rendered["argv"]
    assert rendered["inherited"] == ["PATH"]
    assert {"PATH": os.environ["PATH"], **rendered["env"]} == masked
    assert rendered["env"]["JENKINS_TOKEN"] == "***" and rendered["env"]["DEPLOY_TOKEN"] == "***"
    assert rendered["cwd"] == str(driver.work_root / "ci-python-abcdef")
    assert sum(sim.requests.values()) == 0


KUBESTACK = """\
jenkins:
    external_url: '{url}'
    internal_url: 'http://jenkins.internal:8080'
    user: jenkins
    pass: {secret}
kubernetes:
    url: '{kube}'
    api_key: {secret}
image: example/jenkins-slave-swarm:latest
labels:
    - name: python
      cpu: 500m
"""


def test_a_kubestack_config_renders_offline(sim: SimJenkins, tmp_path: Path) -> None:
    with KubeApi() as api:
        path = tmp_path / "kubestack.yaml"
        path.write_text(KUBESTACK.format(url=sim.url, kube=api.url, secret=SECRET))
        result = CliRunner().invoke(cli, ["config", "render", "python", "-c", str(path)])
        assert result.exit_code == 0, result.output
        pod = yaml.safe_load(result.stdout)
        assert pod["kind"] == "Pod" and pod["spec"]["containers"][0]["image"] == "example/jenkins-slave-swarm:latest"
        assert SECRET not in result.output
        assert "agent-user" in result.stderr  # swarm pods without an agent user of their own: said
        assert api.requests == [] and sum(sim.requests.values()) == 0


def test_what_cannot_be_rendered_is_said(tmp_path: Path) -> None:
    base = {"url": "http://127.0.0.1:9/", "user": "autoscaler", "token": SECRET}
    config = {"controllers": [base], "labels": [{"name": "python", "command": "true"}]}
    result = CliRunner().invoke(cli, ["config", "render", "nope", "-c", str(write(tmp_path / "c.yaml", config))])
    assert result.exit_code == 1 and "no label named 'nope' (have: python)" in result.stderr
    result = CliRunner().invoke(cli, ["config", "render", "python", "-c", str(tmp_path / "c.yaml")])
    assert result.exit_code == 1 and "would refuse" in result.stderr and "connect: inbound" in result.stderr
    assert SECRET not in result.output
