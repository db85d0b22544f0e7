"""The API as an attacker meets it: a build on the same host, a browser page (CSRF, DNS
rebinding), a client that lies about lengths or never finishes its headers. Real sockets."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from autoscaler.api.server import ApiServer
from autoscaler.cli.main import cli
from autoscaler.config.models import ApiConfig
from autoscaler.counters import PluginCounters
from autoscaler.engine.messages import Command

TOKEN = "s3cret-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Engine:
    """An engine that answers every command at once (the API's side is what is tested)."""

    ready = True
    stopped = False

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def submit(self, message: Command) -> None:
        self.commands.append(message)
        if message.op in ("hold", "release", "delete"):
            message.reply.set_result({"name": message.args["name"], "state": "held"})
        else:
            message.reply.set_result([] if message.op != "metrics" else {"registry": CollectorRegistry()})


class Api:
    def __init__(self, token: bool = True, **settings: Any) -> None:
        self.dir = tempfile.mkdtemp(prefix="as-api-", dir="/tmp")
        config: dict[str, Any] = {"listen": "127.0.0.1:0", "socket": f"{self.dir}/api.sock", **settings}
        if token:
            with open(f"{self.dir}/token", "w") as fh:
                fh.write(TOKEN)
            config["token_file"] = f"{self.dir}/token"
        self.engine = Engine()
        self.server = ApiServer(ApiConfig.model_validate(config), self.engine, PluginCounters())
        self.server.start()
        self.port = self.server.port
        self.url = f"http://127.0.0.1:{self.port}/"

    def mutations(self) -> list[Command]:
        return [c for c in self.engine.commands if c.op in ("hold", "release", "delete")]

    def raw(self, request: bytes, timeout: float = 3.0) -> bytes:
        """Send bytes, read until the server closes or goes quiet for ``timeout``."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(request)
            return _read_reply(s)

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _read_reply(s: socket.socket) -> bytes:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        pass
    return data


@pytest.fixture
def api() -> Iterator[Api]:
    a = Api()
    yield a
    a.stop()


def post_head(path: str, length: str, content_type: str = "application/json", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


@pytest.mark.parametrize("length", ["-1", "-99999", "1e3", "99999999999999999999"])
def test_a_bad_content_length_is_refused_at_once(api: Api, length: str) -> None:
    started = time.monotonic()
    reply = api.raw(post_head("/v1/agents/x/hold", length))
    assert reply.startswith(b"HTTP/1.1 400") or reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert time.monotonic() - started < 2
    assert api.mutations() == []


def test_an_oversize_body_is_413_without_being_read_and_the_connection_closed(api: Api) -> None:
    with socket.create_connection(("127.0.0.1", api.port), timeout=3) as s:
        s.sendall(post_head("/v1/agents/x/hold", str(10 * 1024 * 1024)))  # no body sent at all
        reply = _read_reply(s)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        s.settimeout(3)
        rest = b""
        while chunk := s.recv(65536):  # the server closes: it will not read 10 MiB to reuse the stream
            rest += chunk
    assert api.mutations() == []


def test_oversize_headers_are_refused(api: Api) -> None:
    headers = "".join(f"X-Pad-{i}: {'a' * 1000}\r\n" for i in range(40))  # 40 kB, under http.server's limits
    reply = api.raw(f"GET /v1/pools HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    assert reply.split(b" ")[1] in (b"413", b"431"), reply[:200]


def test_a_text_plain_post_from_a_browser_page_is_refused(api: Api) -> None:
    # what a cross-site <form enctype=text/plain> or a no-preflight fetch sends, even with the token
    reply = requests.post(
        api.url + "v1/agents/x/delete", data='{"now": true}', headers={**AUTH, "Content-Type": "text/plain"}, timeout=5
    )
    assert reply.status_code == 415 and "application/json" in reply.json()["error"]
    assert api.mutations() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "attacker.example"},  # DNS rebinding: the attacker's name resolved to 127.0.0.1
        {"Host": f"attacker.example:{0}"},
        {"Origin": "http://attacker.example"},  # a page on another site
        {"Origin": "null"},
    ],
)
def test_a_foreign_host_or_origin_is_refused(api: Api, headers: dict[str, str]) -> None:
    read = requests.get(api.url + "v1/agents", headers=headers, timeout=5)
    assert read.status_code == 403
    write = requests.post(api.url + "v1/agents/x/delete", json={"now": True}, headers={**AUTH, **headers}, timeout=5)
    assert write.status_code == 403
    assert api.mutations() == []


def test_own_host_names_and_same_origin_are_served(api: Api) -> None:
    for host in (f"127.0.0.1:{api.port}", f"localhost:{api.port}"):
        assert requests.get(api.url + "v1/pools", headers={"Host": host}, timeout=5).status_code == 200
    same = {"Origin": f"http://127.0.0.1:{api.port}"}
    assert requests.post(api.url + "v1/agents/x/hold", json={}, headers={**AUTH, **same}, timeout=5).status_code == 200


def test_a_mutation_over_tcp_without_the_token_is_refused() -> None:
    bare = Api(token=False)
    with_token = Api()
    try:
        reply = requests.post(bare.url + "v1/agents/x/delete", json={"now": True}, timeout=5)
        assert reply.status_code == 403 and "token-file" in reply.json()["error"]
        reply = requests.post(with_token.url + "v1/agents/x/delete", json={"now": True}, timeout=5)
        assert reply.status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        reply = requests.post(with_token.url + "v1/agents/x/delete", json={}, headers=wrong, timeout=5)
        assert reply.status_code == 401
        assert bare.mutations() == [] and with_token.mutations() == []
        assert requests.get(bare.url + "v1/pools", timeout=5).status_code == 200  # reads on loopback stay open
    finally:
        bare.stop()
        with_token.stop()


def test_the_socket_is_0600_and_mutations_over_it_need_no_token(api: Api) -> None:
    path = api.server.socket_path
    assert path is not None
    info = os.stat(path)
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.getuid()
    assert [n for n in os.listdir(api.dir) if n != "token"] == ["api.sock"]  # no temporary name left behind
    result = CliRunner().invoke(cli, ["hold", "ci-a", "--api", f"unix://{path}"], env={"AUTOSCALER_API_TOKEN": None})
    assert result.exit_code == 0, result.output
    assert [c.op for c in api.mutations()] == ["hold"]


def test_a_live_socket_is_not_taken_over_and_a_stale_one_is(api: Api) -> None:
    path = api.server.socket_path
    with pytest.raises(OSError, match="a live server already listens on it"):
        ApiServer(ApiConfig(socket=path), Engine(), PluginCounters())
    stale_dir = tempfile.mkdtemp(prefix="as-api-", dir="/tmp")
    try:
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(f"{stale_dir}/api.sock")
        stale.close()  # the file stays, nobody listens: a daemon that was killed
        server = ApiServer(ApiConfig(socket=f"{stale_dir}/api.sock"), Engine(), PluginCounters())
        server.start()
        server.stop()
        assert os.listdir(stale_dir) == []
    finally:
        shutil.rmtree(stale_dir, ignore_errors=True)


def test_a_slowloris_client_neither_blocks_others_nor_stays_connected() -> None:
    api = Api(timeout=1.0, threads=4)
    try:
        loris = [socket.create_connection(("127.0.0.1", api.port), timeout=5) for _ in range(3)]
        for s in loris:
            s.sendall(b"GET /v1/pools HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # headers never finished
        started = time.monotonic()
        assert requests.get(api.url + "healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 0.9  # served before any loris timed out
        for s in loris:  # each is dropped after the socket timeout, not kept forever
            closed_after = time.monotonic()
            while s.recv(4096):
                pass
            assert time.monotonic() - closed_after < 4
            s.close()
    finally:
        api.stop()


def test_metrics_stay_open_unless_the_option_requires_the_token() -> None:
    open_ = Api()
    closed = Api(metrics_require_token=True)
    try:
        assert requests.get(open_.url + "metrics", timeout=5).status_code == 200
        assert requests.get(closed.url + "metrics", timeout=5).status_code == 401
        assert requests.get(closed.url + "metrics", headers=AUTH, timeout=5).status_code == 200
        assert requests.get(closed.url + "healthz", timeout=5).status_code == 200  # probes stay open
    finally:
        open_.stop()
        closed.stop()


def test_reads_beyond_loopback_need_the_token() -> None:
    api = Api(listen="0.0.0.0:0")
    try:
        assert requests.get(api.url + "v1/pools", timeout=5).status_code == 401
        assert requests.get(api.url + "v1/pools", headers=AUTH, timeout=5).status_code == 200
        assert requests.get(api.url, timeout=5).status_code == 200  # the page's shell carries no data
    finally:
        api.stop()


def test_the_cli_finds_the_socket_from_the_environment_and_the_config(api: Api, tmp_path: Any) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"controllers: [{{url: 'http://j/'}}]\nlabels: [{{name: python}}]\napi: {{socket: {api.server.socket_path}}}\n"
    )
    by_config = CliRunner().invoke(cli, ["pools", "-c", str(config)], env={"AUTOSCALER_API": None})
    assert by_config.exit_code == 0, by_config.output
    by_env = CliRunner().invoke(cli, ["pools"], env={"AUTOSCALER_API": f"unix://{api.server.socket_path}"})
    assert by_env.exit_code == 0, by_env.output
    tcp = CliRunner().invoke(cli, ["delete", "ci-a"], env={"AUTOSCALER_API": api.url, "AUTOSCALER_API_TOKEN": TOKEN})
    assert tcp.exit_code == 0, tcp.output
    missing = CliRunner().invoke(cli, ["pools"], env={"AUTOSCALER_API": f"unix://{api.dir}/nope.sock"})
    assert missing.exit_code == 1
    assert f"cannot reach the autoscaler API at unix://{api.dir}/nope.sock (is the daemon running?)" in missing.output


def test_an_agent_name_in_the_path_is_decoded_once(api: Api) -> None:
    for path, name in (("ci%2Da", "ci-a"), ("ci%252Da", "ci%2Da")):
        reply = requests.post(api.url + f"v1/agents/{path}/hold", json={}, headers=AUTH, timeout=5)
        assert reply.status_code == 200
        assert api.mutations()[-1].args["name"] == name
