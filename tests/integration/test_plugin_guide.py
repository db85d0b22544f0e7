"""The plugin guide works word for word: its files, extracted from docs/plugins.md, build and
install as a distribution whose listener ``autoscaler plugins`` lists once and which passes the
contract kit. Offline: built with the cached build backend, installed without dependencies into a
target directory on PYTHONPATH (the workspace provides jenkins-autoscaler)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs/plugins.md"
BIN = Path(sys.executable).parent
FILE = re.compile(r"^Save as `([^`]+)`:.*?^```\w*\n(.*?)^```", re.S | re.M)
EMPTY = re.compile(r"^Save an empty `([^`]+)`", re.M)


def guide_files() -> dict[str, str]:
    text = GUIDE.read_text()
    files = dict(FILE.findall(text))
    files.update(dict.fromkeys(EMPTY.findall(text), ""))
    return files


def uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("uv is needed to build the guide's plugin")
        pytest.skip("uv is not installed")
    return found


def test_the_guide_names_every_file_of_a_distribution() -> None:
    files = guide_files()
    assert sorted(files) == [
        "pyproject.toml",
        "src/batch_demand/__init__.py",
        "src/batch_demand/file_demand.py",
        "tests/test_contract.py",
    ]
    assert 'dependencies = ["jenkins-autoscaler"]' in files["pyproject.toml"]


def test_a_plugin_built_from_the_guide_is_listed_once_and_passes_the_contract_kit(tmp_path: Path) -> None:
    project = tmp_path / "batch-demand"
    for path, body in guide_files().items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(body)
    site = tmp_path / "site"
    build = subprocess.run(
        [uv(), "pip", "install", "--offline", "--no-deps", "--quiet", "--target", str(site), str(project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def autoscaler(*args: str) -> str:
        run = subprocess.run(
            [str(BIN / "autoscaler"), *args], capture_output=True, text=True, timeout=60, env=env, check=False
        )
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    listed = [p for p in json.loads(autoscaler("plugins", "-o", "json")) if p["type"] == "batch-file-demand"]
    assert listed == [
        {
            "kind": "demand",
            "type": "batch-file-demand",
            "target": "batch_demand.file_demand:FileDemandListener",
            "distribution": "batch-demand",
            "version": "0.1.0",
            "error": None,
        }
    ]
    assert "DUPLICATE" not in autoscaler("plugins")
    kit = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert kit.returncode == 0, kit.stdout[-3000:] + kit.stderr[-2000:]
    assert re.search(r"\d+ passed", kit.stdout) and "failed" not in kit.stdout
