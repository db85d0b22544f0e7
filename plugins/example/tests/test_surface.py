"""The public surface is the whole contract: documented name by name, the only thing plugins
import, and live (a plugin sees what a reload changed)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from autoscaler_example.file_demand import FileDemandListener

import autoscaler
from autoscaler import plugin
from autoscaler.config.models import Config
from autoscaler.discovery import Registry
from autoscaler.plugin import (
    ControllerInfo,
    LabelInfo,
    PluginContext,
    PluginKind,
    SecretError,
    read_secret,
    singular_alias,
)
from autoscaler.testing.contract import DemandListenerContract

ROOT = Path(__file__).resolve().parents[3]
PUBLIC = re.compile(r"^autoscaler(\.plugin|\.wire(\.\w+)?)?$")


def test_every_public_name_is_documented_once_in_the_guide() -> None:
    guide = (ROOT / "docs/plugins.md").read_text()
    surface = guide[guide.index("## The public surface") :]
    listed = re.findall(r"^- `(\w+)`", surface, re.M)
    assert sorted(listed) == sorted(plugin.__all__), "docs/plugins.md must list each name of autoscaler.plugin"
    assert sorted(autoscaler.__all__) == sorted(plugin.__all__)
    for name in plugin.__all__:
        assert getattr(autoscaler, name) is getattr(plugin, name), name


def test_plugin_sources_import_only_the_public_surface() -> None:
    found: list[str] = []
    for source in sorted(ROOT.glob("plugins/*/src/**/*.py")):
        where = source.relative_to(ROOT)
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
                if node.module == "autoscaler":  # `from autoscaler import labels` reaches a module
                    found += [f"{where}: autoscaler.{a.name}" for a in node.names if a.name not in autoscaler.__all__]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.split(".")[0] == "autoscaler" and not PUBLIC.match(module):
                    found.append(f"{where}: {module}")
                if module.startswith("autoscaler_") and module.split(".")[0] != where.parts[3]:
                    found.append(f"{where}: {module} (another plugin)")
    assert found == []


def test_no_plugin_distribution_depends_on_another() -> None:
    for project in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        data = tomllib.loads(project.read_text())
        others = [d for d in data["project"]["dependencies"] if d.startswith("autoscaler-")]
        assert others == [], f"{project.relative_to(ROOT)} depends on other plugins: {others}"


def config(*labels: dict[str, object]) -> Config:
    return Config.model_validate(
        {
            "controllers": [
                {"name": "main", "url": "http://j/"},
                {"name": "qa", "url": "http://qa/", "agent-url": "http://a/"},
            ],
            "labels": list(labels),
            "daemon": {"id": "d1", "name-prefix": "ci"},
        }
    )


def test_the_context_reads_the_configuration_live() -> None:
    current = [config({"name": "python"})]
    context = PluginContext(config=lambda: current[0], emit=lambda e: None)
    assert context.labels() == (LabelInfo("python", frozenset({"python"}), "main", "python"),)
    current[0] = config({"name": "python"}, {"name": "Docker", "atoms": ["linux"], "controller": "qa"})
    assert context.labels()[1] == LabelInfo("Docker", frozenset({"Docker", "linux"}), "qa", "docker")
    assert context.controller() == ControllerInfo("main", "http://j/", "http://j/")
    assert context.controller("qa") == ControllerInfo("qa", "http://qa/", "http://a/")
    assert (context.daemon_id, context.name_prefix) == ("d1", "ci")
    with pytest.raises(KeyError, match="no controller named 'nope'"):
        context.controller("nope")


def test_a_fixed_configuration_still_works() -> None:
    context = PluginContext(config=config({"name": "python"}), emit=lambda e: None)
    assert [lab.name for lab in context.labels()] == ["python"]


def test_secrets_come_from_a_file_an_environment_variable_or_inline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s").write_text(" s3cret\n")
    (tmp_path / "empty").write_text("\n")
    monkeypatch.setenv("A_SECRET", "from-env")
    assert read_secret(file=str(tmp_path / "s")) == "s3cret"
    assert read_secret(env="A_SECRET") == "from-env"
    assert read_secret(inline="inline") == "inline"
    assert read_secret() is None and read_secret(file=str(tmp_path / "empty")) is None
    assert read_secret(env="NO_SUCH_VARIABLE_X") is None
    with pytest.raises(SecretError, match="kafka password: environment variable NO_SUCH_VARIABLE_X is not set"):
        read_secret(env="NO_SUCH_VARIABLE_X", what="kafka password", required=True)
    with pytest.raises(SecretError, match=r"hook secret: cannot read .*/missing: No such file"):
        read_secret(file=str(tmp_path / "missing"), what="hook secret")


def test_singular_alias() -> None:
    assert singular_alias({"topic": "a"}, "topic", "topics") == {"topics": "a"}
    assert singular_alias({"topics": ["a"]}, "topic", "topics") == {"topics": ["a"]}
    with pytest.raises(ValueError, match=r"give topic .* or topics .*, not both"):
        singular_alias({"topic": "a", "topics": ["b"]}, "topic", "topics")


def test_plugin_kinds_name_their_group_base_and_section() -> None:
    assert [k.group for k in PluginKind] == [
        "autoscaler.demand_listeners",
        "autoscaler.destroy_listeners",
        "autoscaler.drivers",
    ]
    assert PluginKind.DEMAND.section == "demand-listeners" and PluginKind.DRIVER.section == "driver"
    assert PluginKind.DESTROY.word == "destroy listener" and PluginKind.DRIVER.base is plugin.Driver
    registry = Registry.discover()
    assert registry.find(PluginKind.DEMAND, "file-demand") is registry.find("demand", "file-demand")
    assert registry.find("demand", "file-demand") is FileDemandListener


@pytest.fixture
def impostor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second installed distribution that registers ``file-demand`` too."""
    dist = tmp_path / "impostor-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: impostor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[autoscaler.demand_listeners]\nfile-demand = impostor:Listener\n")
    monkeypatch.syspath_prepend(str(tmp_path))


class _FileDemand(DemandListenerContract):
    entry_point = "file-demand"


def test_the_contract_kit_fails_on_an_entry_point_two_distributions_claim(impostor: None) -> None:
    with pytest.raises(AssertionError, match=r"registered more than once .*impostor.*jenkins-autoscaler-example"):
        _FileDemand().test_entry_point_is_not_ambiguous()


def test_the_contract_kit_accepts_a_single_claim() -> None:
    _FileDemand().test_entry_point_is_not_ambiguous()
