"""The ``gearman`` demand listener: the admin ``status`` of one or more Gearman servers."""

from __future__ import annotations

import logging
import threading
from typing import Any

import gear
from pydantic import Field, field_validator, model_validator

from autoscaler.plugin import (
    DemandItem,
    DemandListener,
    DemandReport,
    DemandUnknown,
    Duration,
    ListenerSettings,
    PluginContext,
)
from autoscaler_gearman.status import StatusError, demand_items, parse_status

log = logging.getLogger(__name__)


class GearmanSettings(ListenerSettings):
    """``type: gearman``: demand queued in Gearman (Zuul submits ``build:<job>:<label>``)."""

    servers: tuple[str, ...] = ()
    """``host:port`` of each Gearman server."""
    host: str | None = None
    """A single server's host (KubeStack form; with ``port``)."""
    port: int = Field(default=4730, ge=1, le=65535)
    """Port of ``host``."""
    interval: Duration = Field(default=5.0, gt=0)
    """Seconds between status reads."""
    timeout: Duration = Field(default=5.0, gt=0)
    """How long one status request may take."""

    @field_validator("servers")
    @classmethod
    def _host_port(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for server in value:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port like gearman.example.org:4730, got {server!r}")
        return value

    @model_validator(mode="after")
    def _some_server(self) -> GearmanSettings:
        if not self.servers and self.host is None:
            raise ValueError("give servers (a list of host:port) or host")
        return self

    def addresses(self) -> list[tuple[str, int]]:
        out = [(s.rpartition(":")[0], int(s.rpartition(":")[2])) for s in self.servers]
        if self.host is not None:
            out.append((self.host, self.port))
        return out


class GearmanListener(DemandListener):
    settings_model = GearmanSettings

    def __init__(self, settings: ListenerSettings, context: PluginContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, GearmanSettings)
        self.gearman = settings
        self.controller = context.controller(settings.controller).name
        self.client: Any = None
        self.job_labels: dict[str, str] = {}
        self.last: dict[str, list[DemandItem]] = {}
        """The last items read from each server, kept while that server is unreachable."""
        self.down: dict[str, str] = {}
        """Servers whose demand is unknown now, with the reason."""
        self._lock = threading.Lock()

    @property
    def interval(self) -> float:
        return self.gearman.interval

    def start(self) -> None:
        self.client = gear.Client(client_id=f"autoscaler-{self.gearman.display_name}")
        for host, port in self.gearman.addresses():
            self.client.addServer(host, port)  # gear reconnects by itself, with a pause between tries

    def stop(self) -> None:
        if self.client is not None:
            self.client.shutdown()

    def poll(self) -> DemandReport:
        if self.client is None:
            self.start()
        with self._lock:
            connected = {f"{c.host}:{c.port}": c for c in list(self.client.active_connections)}
            for host, port in self.gearman.addresses():
                server = f"{host}:{port}"
                connection = connected.get(server)
                try:
                    if connection is None:
                        raise ConnectionError("not connected (reconnecting)")
                    request = gear.StatusAdminRequest()
                    connection.sendAdminRequest(request, timeout=self.gearman.timeout)
                    read = self._items(server, request.response)
                except (ConnectionError, OSError, gear.GearmanError, gear.TimeoutError, StatusError) as exc:
                    self._mark_down(server, exc)
                    continue
                if server in self.down:
                    log.info("gearman %s readable again", server)
                    del self.down[server]
                self.last[server] = read
            if self.down and len(self.down) == len(self.gearman.addresses()):
                why = "; ".join(f"{server}: {reason}" for server, reason in sorted(self.down.items()))
                raise DemandUnknown(f"no gearman server reachable ({why})")
            items = tuple(item for server_items in self.last.values() for item in server_items)
        return DemandReport(items, self.controller)

    def _items(self, server: str, response: Any) -> list[DemandItem]:
        """The demand in one status reply; any failure to read it makes the reply malformed."""
        try:
            return demand_items(server, parse_status(bytes(response)), self.job_labels)
        except StatusError:
            raise
        except Exception as exc:
            raise StatusError(f"cannot read the status reply ({type(exc).__name__}: {str(exc)[:200]})") from None

    def _mark_down(self, server: str, exc: BaseException) -> None:
        if isinstance(exc, StatusError):
            self.context.count("malformed")
        reason = str(exc) or type(exc).__name__
        if self.down.get(server) != reason:  # once per outage and reason
            log.warning("gearman %s: demand unknown, keeping its last count: %s", server, reason)
        self.down[server] = reason
