"""The CLI's client for the daemon's HTTP API: over its Unix socket (the default) or over TCP.

Where it goes: ``--api`` first, then ``$AUTOSCALER_API`` (``unix:///path/to/api.sock`` or
``http://host:port``), then the config file's ``api.socket`` (default
``/run/autoscaler/api.sock``) or, when the config serves TCP only, its ``api.listen``. The bearer
token: ``$AUTOSCALER_API_TOKEN``, else the config's ``api.token-file`` when readable.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import requests
import yaml
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

from autoscaler.config.errors import ConfigError
from autoscaler.config.loader import config_path, load_config
from autoscaler.config.models import ApiConfig
from autoscaler.secrets import SecretError

UNIX = "unix://"
_UNIX_BASE = "http+unix://localhost/"
"""What requests is asked for when the API is a socket (the adapter mounted on that scheme
connects to the socket; the Host header is ``localhost``)."""


class ApiError(Exception):
    pass


class _UnixConnection(HTTPConnection):
    def __init__(self, path: str, timeout: Any) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def _new_conn(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if isinstance(self.timeout, int | float):
            sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        return sock


class _UnixPool(HTTPConnectionPool):
    def __init__(self, path: str, timeout: Any) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def _new_conn(self) -> HTTPConnection:
        return _UnixConnection(self.socket_path, self.timeout.connect_timeout)


class UnixAdapter(HTTPAdapter):
    """A requests adapter whose every connection goes to one Unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.socket_path = path
        self._pool = _UnixPool(path, 15)

    def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None, cert: Any = None) -> Any:
        return self._pool

    def close(self) -> None:
        self._pool.close()
        super().close()


def _lenient_api(path: str) -> ApiConfig:
    """The ``api`` section of a config that has errors elsewhere (the daemon still runs the
    last good one), so the CLI keeps working while the file is being fixed."""
    print(
        f"autoscaler: warning: {path} has errors (see 'autoscaler config validate'); reading only its api section",
        file=sys.stderr,
    )
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        return ApiConfig.model_validate(data.get("api") or {})
    except (OSError, yaml.YAMLError, AttributeError, ValueError):
        return ApiConfig()


def _address(settings: ApiConfig) -> str:
    """The API address a config serves: its socket if any, else its TCP address."""
    if settings.socket_path is not None:
        return UNIX + settings.socket_path
    host, _, port = (settings.listen or "").rpartition(":")
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host
    return f"http://{host}:{port}/"


class ApiClient:
    def __init__(self, base: str, token: str | None) -> None:
        self.where = base
        """The address as given (in messages)."""
        self.session = requests.Session()
        if base.startswith(UNIX):
            self.session.mount("http+unix://", UnixAdapter(base[len(UNIX) :]))
            self.base = _UNIX_BASE
        else:
            self.base = base.rstrip("/") + "/"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_options(cls, api: str | None, config: str | None) -> ApiClient:
        """``--api`` / ``$AUTOSCALER_API`` first; else the config file's ``api.socket`` or ``api.listen``."""
        token = os.environ.get("AUTOSCALER_API_TOKEN")
        settings = ApiConfig()
        explicit = api or os.environ.get("AUTOSCALER_API")
        path = config_path(config)
        if explicit is None and os.path.exists(path):
            try:
                settings = load_config(path).config.api
            except ConfigError:
                settings = _lenient_api(path)
        if token is None and settings.token_file is not None:
            try:
                from autoscaler.api.server import read_api_token  # the server stack, only when needed

                token = read_api_token(settings)
            except SecretError:
                token = None
        return cls(explicit or _address(settings), token)

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, json=body)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            reply = self.session.request(method, self.base + path.lstrip("/"), timeout=15, **kwargs)
        except requests.ConnectionError as exc:
            if "Permission denied" in str(exc):
                raise ApiError(
                    f"permission denied on the autoscaler API at {self.where} (run as the daemon's user, or root)"
                ) from None
            raise ApiError(f"cannot reach the autoscaler API at {self.where} (is the daemon running?)") from None
        except requests.Timeout:
            raise ApiError(f"the autoscaler API at {self.where} did not answer in time") from None
        try:
            data = reply.json()
        except ValueError:
            data = None
        if reply.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else reply.text.strip()
            raise ApiError(f"{reply.status_code}: {message}")
        return data
