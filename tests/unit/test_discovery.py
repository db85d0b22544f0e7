"""Plugins are found through entry points; a broken one is reported by name, not fatal."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from autoscaler.cli.main import cli
from autoscaler.discovery import PluginNotFound, Registry


@pytest.fixture
def broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution whose entry points name a missing module and a non-plugin class."""
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[autoscaler.destroy_listeners]\nbroken = no_such_module.listener:Broken\n"
        "[autoscaler.drivers]\nnot-a-driver = json:JSONDecoder\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


def test_built_in_plugins_are_found_like_third_party_ones() -> None:
    found = {(p.kind, p.name): p for p in Registry.discover().plugins}
    assert found[("demand", "jenkins-queue")].distribution == "jenkins-autoscaler-jenkins-queue"
    assert found[("destroy", "zmq")].distribution == "jenkins-autoscaler-zmq"
    assert found[("driver", "local")].distribution == "jenkins-autoscaler"
    assert all(p.error is None for p in found.values())


def test_a_broken_plugin_is_reported_and_the_rest_still_load(broken_plugin: None) -> None:
    registry = Registry.discover()
    errors = {p.name: p.error for p in registry.plugins if p.error}
    assert "ModuleNotFoundError" in errors["broken"]
    assert "is not a subclass of autoscaler.Driver" in errors["not-a-driver"]
    assert registry.find("destroy", "zmq") is not None
    with pytest.raises(PluginNotFound, match="destroy listener 'broken' failed to load: ModuleNotFoundError"):
        registry.find("destroy", "broken")


def test_plugins_command_lists_versions_and_broken_ones(broken_plugin: None) -> None:
    out = CliRunner().invoke(cli, ["plugins"]).output
    lines = {line.split()[1]: line for line in out.splitlines()[1:] if line.strip() and "cannot" not in line}
    assert "jenkins-autoscaler-jenkins-queue" in lines["jenkins-queue"] and lines["jenkins-queue"].endswith("ok")
    assert lines["broken"].endswith("BROKEN")
    assert "destroy 'broken' (no_such_module.listener:Broken) cannot be used: ModuleNotFoundError" in out
