"""The CLI's client for the daemon's HTTP API."""

from __future__ import annotations

import os
import sys
from typing import Any

import requests
import yaml

from autoscaler.api.server import read_api_token
from autoscaler.config.errors import ConfigError
from autoscaler.config.loader import config_path, load_config
from autoscaler.config.models import ApiConfig
from autoscaler.secrets import SecretError


class ApiError(Exception):
    pass


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


class ApiClient:
    def __init__(self, base: str, token: str | None) -> None:
        self.base = base.rstrip("/") + "/"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def from_options(cls, api: str | None, config: str | None) -> ApiClient:
        """``--api`` / ``$AUTOSCALER_API`` first; else the config file's ``api.listen``."""
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
                token = read_api_token(settings)
            except SecretError:
                token = None
        if explicit is None:
            host, _, port = settings.listen.rpartition(":")
            host = "127.0.0.1" if host in ("0.0.0.0", "::", "[::]") else host
            explicit = f"http://{host}:{port}/"
        return cls(explicit, token)

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, json=body)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            reply = self.session.request(method, self.base + path.lstrip("/"), timeout=15, **kwargs)
        except requests.ConnectionError:
            raise ApiError(f"cannot reach the autoscaler API at {self.base} (is the daemon running?)") from None
        except requests.Timeout:
            raise ApiError(f"the autoscaler API at {self.base} did not answer in time") from None
        try:
            data = reply.json()
        except ValueError:
            data = None
        if reply.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else reply.text.strip()
            raise ApiError(f"{reply.status_code}: {message}")
        return data
