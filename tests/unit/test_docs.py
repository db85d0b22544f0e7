"""The docs are part of the feature: the reference is generated, the samples run."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoscaler import DemandUnknown, PluginContext
from autoscaler.assembly import resolve_plugins
from autoscaler.cli.main import cli
from autoscaler.config import load_config
from autoscaler.config.checks import visibility_warnings
from autoscaler.config.models import Config
from autoscaler.discovery import Registry

ROOT = Path(__file__).resolve().parents[2]


def test_config_reference_is_generated_from_the_models() -> None:
    generated = CliRunner().invoke(cli, ["config", "reference"]).output
    assert (ROOT / "docs/config-reference.md").read_text() == generated, (
        "docs/config-reference.md is stale: run 'autoscaler config reference > docs/config-reference.md'"
    )
    for key in ("`idle-timeout`", "`label-source`", "`endpoints`", "`credential-env`"):
        assert key in generated


def test_sample_config_is_valid_and_warns_about_nothing() -> None:
    loaded = load_config(str(ROOT / "etc/autoscaler/config.yaml"))
    plugins = resolve_plugins(loaded, Registry.discover())
    assert loaded.warnings == [] and visibility_warnings(loaded, plugins) == []


def test_plugin_guide_example_runs(tmp_path: Path) -> None:
    text = (ROOT / "docs/plugins.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None
    shipped = (ROOT / "plugins/example/src/autoscaler_example/file_demand.py").read_text()
    assert shipped.endswith(code.group(1)), "plugins/example must ship the guide's example unchanged"
    module = types.ModuleType("file_demand")
    sys.modules["file_demand"] = module  # as an installed plugin module would be
    exec(compile(code.group(1), "docs/plugins.md", "exec"), module.__dict__)
    demand_file = tmp_path / "demand.json"
    demand_file.write_text('{"python": 2, "linux&&docker": 1, "bad": -1}')
    settings = module.FileDemandSettings.model_validate({"type": "file-demand", "path": str(demand_file)})
    config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
    counted: list[str] = []
    listener = module.FileDemandListener(settings, PluginContext(config=config, emit=print, count=counted.append))
    report = listener.poll()
    assert sorted(i.expression for i in report.items) == ["linux&&docker", "python", "python"]
    assert len({i.key for i in report.items}) == 3 and counted == ["malformed"]
    demand_file.unlink()
    with pytest.raises(DemandUnknown):
        listener.poll()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(python3 -m .*pytest.*)$", readme, re.M)
    assert commands, "README must give the test command"
    assert commands[0] in (ROOT / ".ci/run").read_text()
