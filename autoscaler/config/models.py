"""The configuration, as pydantic models. Every field's docstring is its reference entry."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from autoscaler import labels as label_expr
from autoscaler.config.base import Model, kebab
from autoscaler.config.units import Duration, Quantity
from autoscaler.schedule import check_cron, check_timezone

__all__ = [
    "ApiConfig",
    "Config",
    "ControllerConfig",
    "DaemonConfig",
    "LabelConfig",
    "LeaderElectionConfig",
    "LimitsConfig",
    "PluginEntry",
    "ScheduleEntry",
]

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_PREFIX = re.compile(r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")


class ControllerConfig(Model):
    """One Jenkins controller the daemon serves."""

    name: str = "main"
    """Short name other sections refer to (``controller: main``)."""
    url: str
    """Jenkins URL the daemon uses for its API calls."""
    agent_url: str | None = None
    """URL agents connect to (KubeStack ``internal_url``); defaults to ``url``."""
    user: str | None = None
    """Jenkins user the daemon (and swarm agents) authenticate as."""
    token_file: str | None = None
    """File holding the user's API token or password (preferred)."""
    token_env: str | None = None
    """Environment variable holding the token, when no file is used."""
    token: str | None = Field(default=None, repr=False)
    """Inline token: works, but is insecure and warned about."""
    timeout: Duration = 10.0
    """Timeout of one Jenkins API call."""
    verify_tls: bool = True
    """Verify the controller's TLS certificate."""
    agent_user: str | None = None
    """Jenkins user swarm agents connect as: one that may only connect agents (Agent/Connect and
    Agent/Create), never the daemon's own ``user``. Swarm labels need it whenever the daemon has a token."""
    agent_token_file: str | None = None
    """File holding ``agent-user``'s API token, given to each local swarm agent in its environment
    (read again at every launch: a rotated token is picked up). Kubernetes: ``credentials-secret``."""
    agent_token_env: str | None = None
    """Environment variable holding ``agent-user``'s token, when no file is used."""

    @field_validator("url", "agent_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value if value.endswith("/") else value + "/"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"expected lower-case letters, digits and '-', got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_secret_source(self) -> ControllerConfig:
        given = [k for k in ("token_file", "token_env", "token") if getattr(self, k) is not None]
        if len(given) > 1:
            keys = " and ".join(kebab(k) for k in given)
            raise ValueError(f"give only one of token-file, token-env and token (got {keys})")
        return self

    @model_validator(mode="after")
    def _agent_credential(self) -> ControllerConfig:
        if self.agent_token_file is not None and self.agent_token_env is not None:
            raise ValueError("give only one of agent-token-file and agent-token-env")
        if self.agent_user is None and (self.agent_token_file or self.agent_token_env):
            raise ValueError("agent-token-file/agent-token-env need agent-user (the user the token belongs to)")
        if self.agent_user is not None and self.agent_user == self.user:
            raise ValueError(
                f"agent-user is the daemon's own user {self.user!r}: agents run builds, give them a user "
                "that may only connect agents (Agent/Connect, Agent/Create)"
            )
        return self

    @property
    def agent_endpoint(self) -> str:
        return self.agent_url or self.url


class PluginEntry(Model):
    """A listener or driver section: ``type`` names the plugin, the other keys are its own."""

    model_config = ConfigDict(extra="allow")
    type: str
    """Entry-point name of the plugin (``autoscaler plugins`` lists them)."""
    name: str | None = None
    """Name used in logs, metrics and ``autoscaler demand``; defaults to the type."""

    def settings(self) -> dict[str, Any]:
        """Every key given in the section, by its YAML spelling."""
        data: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            data["name"] = self.name
        data.update(self.model_extra or {})
        return data


class ScheduleEntry(Model):
    """One period of a label's warm pool: while one of its cron expressions matches the current
    minute (and no earlier entry does), its ``min-ready`` replaces the label's."""

    periods: tuple[Annotated[str, AfterValidator(check_cron)], ...] = Field(min_length=1)
    """Five-field cron expressions (``"* 8-18 * * mon-fri"``: every minute from 08:00 to 18:59 on weekdays)."""
    timezone: Annotated[str, AfterValidator(check_timezone)] | None = None
    """IANA time zone the expressions are read in (``Europe/Berlin``); UTC when not given."""
    min_ready: int = Field(ge=0)
    """Idle agents kept ready while this entry is in force."""


class LabelConfig(Model):
    """One pool of agents serving a Jenkins label."""

    name: str
    """Jenkins label atom this pool serves; agents carry it."""
    atoms: tuple[str, ...] = ()
    """Further Jenkins labels the agents carry, so expressions like ``linux&&docker`` match."""
    catch_all: bool = False
    """Also serve every label expression no other label serves; each agent is launched with the
    labels its build asked for (KubeStack's one image for every label). At most one label."""
    controller: str | None = None
    """Controller the agents join; defaults to the first one."""
    connect: Literal["swarm", "inbound"] = "swarm"
    """How agents join Jenkins: ``swarm`` registers itself; ``inbound`` gets a node made for it."""
    image: str | None = None
    """Container image (kubernetes driver)."""
    command: str | list[str] | None = None
    """Agent command line (local driver): a shell string or an argument list."""
    cpu: Quantity | None = None
    """CPU request (``500m``)."""
    memory: Quantity | None = None
    """Memory request (``1Gi``)."""
    cpu_limit: Quantity | None = None
    """CPU limit; none by default."""
    memory_limit: Quantity | None = None
    """Memory limit; none by default."""
    executors: int = Field(default=1, ge=1, le=64)
    """Executors per agent."""
    min_ready: int = Field(default=0, ge=0)
    """Idle agents kept ready ahead of demand (while capacity remains)."""
    schedule: tuple[ScheduleEntry, ...] = ()
    """Periods with their own ``min-ready``, each ``{periods: [cron, ...], timezone: Europe/Berlin,
    min-ready: 6}`` (``timezone`` defaults to UTC); the first entry whose cron expression matches the
    current minute sets ``min-ready``, otherwise the label's own holds (README: "Warm pools on a schedule")."""
    max: int = Field(default=10, ge=0)
    """Most agents this label may have at once."""
    reuse: bool = False
    """``false``: one build per agent, retired after it; ``true``: kept until idle-timeout."""
    idle_timeout: Duration = 600.0
    """How long an unneeded idle agent is kept before it is retired."""
    node_selector: dict[str, str] = Field(default_factory=dict)
    """Kubernetes node selector for the pods."""
    tolerations: tuple[dict[str, Any], ...] = ()
    """Kubernetes tolerations for the pods."""
    pod_template: dict[str, Any] | None = None
    """This label's raw pod (``metadata``/``spec``), merged over the driver's ``pod-template`` and
    the restrictive defaults (``securityContext``, ``automountServiceAccountToken``), under the
    generated pod; e.g. ``{spec: {securityContext: {runAsUser: 1001}}}`` (kubernetes driver)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment of the agent (never put secrets here)."""

    @field_validator("name", "atoms")
    @classmethod
    def _atom(cls, value: Any) -> Any:
        for atom in (value,) if isinstance(value, str) else value:
            try:
                parsed = label_expr.parse(atom)
            except label_expr.LabelExpressionError:
                parsed = None
            if not isinstance(parsed, label_expr.Atom) or parsed.name != atom:
                raise ValueError(
                    f"expected a single Jenkins label (no spaces or & | ! ( ) < > -> operators), got {atom!r}"
                )
        return value

    @property
    def all_atoms(self) -> frozenset[str]:
        return frozenset((self.name, *self.atoms))

    @property
    def slug(self) -> str:
        return slugify(self.name)


def slugify(name: str) -> str:
    """DNS-1123 form of a label name: ``Python 3.11`` -> ``python-3-11``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (slug or "label")[:24].rstrip("-")


class LimitsConfig(Model):
    """Global limits."""

    max_agents: int = Field(default=100, ge=0)
    """Most agents in all, over every label."""
    launches_per_second: float = Field(default=5.0, gt=0)
    """Launch rate (a token bucket with a burst of the same size, at least 1)."""
    boot_timeout: Duration = 300.0
    """An agent not online in Jenkins this long after launch is retired as failed."""
    backoff_initial: Duration = 10.0
    """First pause of a label whose agents fail; doubles per failure."""
    backoff_max: Duration = 600.0
    """Longest pause of a failing label."""


DEFAULT_API_SOCKET = "/run/autoscaler/api.sock"
"""Where the API listens by default (systemd's ``RuntimeDirectory=autoscaler``)."""


class ApiConfig(Model):
    """The HTTP API the CLI and Prometheus use."""

    socket: str | None = None
    """Unix socket the API serves (mode 0600, owned by the daemon's user); the CLI's default.
    Unset: ``/run/autoscaler/api.sock``, unless ``listen`` is set (then TCP only)."""
    listen: str | None = None
    """``host:port`` to serve the API over TCP too (none by default). Over TCP, mutations always
    need the bearer token (refused without ``token-file``), and so do reads beyond loopback."""
    token_file: str | None = None
    """File holding the bearer token for mutations (and for reads when not on loopback)."""
    metrics_require_token: bool = False
    """Require the bearer token for ``/metrics`` over TCP (``/healthz`` and ``/readyz`` stay open)."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names accepted in the ``Host`` header besides IP addresses, ``localhost`` and the
    ``listen`` host (DNS-rebinding guard): e.g. the name Prometheus scrapes the daemon by."""
    timeout: Duration = 10.0
    """Socket timeout of one connection: a client silent this long is disconnected."""
    threads: int = Field(default=8, ge=1, le=64)
    """Worker threads serving requests (connections beyond wait in a bounded queue)."""

    @property
    def socket_path(self) -> str | None:
        """The Unix socket served: ``socket``, else the default when no ``listen`` is set."""
        if self.socket is not None:
            return self.socket
        return DEFAULT_API_SOCKET if self.listen is None else None

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"expected host:port like 127.0.0.1:8780, got {value!r}")
        return value


class LeaderElectionConfig(Model):
    """Several replicas, one active: the holder of a Kubernetes Lease (``coordination.k8s.io/v1``)
    plans, launches and retires; the others stand by with warm caches and a read-only API."""

    enabled: bool = False
    """Elect a leader among the replicas (needs get/create/update on leases in the namespace)."""
    lease_name: str | None = None
    """Name of the Lease; defaults to ``<daemon.id>-leader``."""
    namespace: str | None = None
    """Namespace of the Lease; defaults to the kubernetes driver's namespace."""
    lease_duration: Duration = Field(default=15.0, gt=0)
    """How long a standby waits, after it last saw the Lease change, before it takes it."""
    renew_deadline: Duration = Field(default=10.0, gt=0)
    """The leader stops acting if it has not renewed for this long (less than lease-duration)."""
    retry_period: Duration = Field(default=2.0, gt=0)
    """How often the leader renews and a standby tries to take the Lease."""

    @model_validator(mode="after")
    def _fenced(self) -> LeaderElectionConfig:
        if self.renew_deadline >= self.lease_duration:
            raise ValueError("renew-deadline must be shorter than lease-duration (the leader stops before it expires)")
        if self.retry_period >= self.renew_deadline:
            raise ValueError("retry-period must be shorter than renew-deadline (a renewal gets several tries)")
        return self


class DaemonConfig(Model):
    """The daemon itself."""

    id: str = "autoscaler"
    """Instance id, carried on every agent it launches; two daemons must differ."""
    name_prefix: str = "ci"
    """Agent names are ``<prefix>-<label>-<random>``."""
    reconcile_interval: Duration = 10.0
    """How often agents are checked against the driver and Jenkins (events speed this up)."""
    tick: Duration = 1.0
    """How often timers (idle, boot, hold expiry) and one-shot busy states are checked."""
    retire_grace: Duration = 10.0
    """How long an agent has to stop after it is asked before it is killed."""
    leader_election: LeaderElectionConfig = LeaderElectionConfig()
    """Several replicas, one active (Kubernetes Lease): ``enabled``, ``lease-name`` (``<id>-leader``),
    ``namespace`` (the driver's), ``lease-duration`` (15s) > ``renew-deadline`` (10s) > ``retry-period`` (2s)."""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"expected lower-case letters, digits and '-', got {value!r}")
        return value

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError(f"expected up to 20 lower-case letters, digits and '-', got {value!r}")
        return value


class Config(Model):
    """The whole configuration file."""

    controllers: tuple[ControllerConfig, ...] = Field(min_length=1)
    """Jenkins controllers served."""
    driver: PluginEntry = PluginEntry(type="local")
    """Where agents run: ``local`` (embedded default) or ``kubernetes``."""
    demand_listeners: tuple[PluginEntry, ...] = ()
    """Plugins that observe demand (``jenkins-queue``, ``gearman``)."""
    destroy_listeners: tuple[PluginEntry, ...] = ()
    """Plugins that observe build lifecycle (``zmq``, ``kafka``, ``cloudevents``)."""
    labels: tuple[LabelConfig, ...] = Field(min_length=1)
    """Agent pools, one per Jenkins label."""
    limits: LimitsConfig = LimitsConfig()
    """Global caps and timeouts."""
    api: ApiConfig = ApiConfig()
    """HTTP API."""
    daemon: DaemonConfig = DaemonConfig()
    """Daemon identity and timers."""

    @model_validator(mode="after")
    def _cross_references(self) -> Config:
        names = [c.name for c in self.controllers]
        _unique(names, "controllers", "controller name")
        _unique([lab.name for lab in self.labels], "labels", "label name")
        _unique([lab.slug for lab in self.labels], "labels", "label name (as a DNS slug)")
        for i, lab in enumerate(self.labels):
            if lab.controller is not None and lab.controller not in names:
                raise ValueError(
                    f"labels[{i}].controller: no controller named {lab.controller!r} (have: {', '.join(names)})"
                )
        catch_all = [lab.name for lab in self.labels if lab.catch_all]
        if len(catch_all) > 1:
            raise ValueError(f"labels: only one label may be catch-all (have: {', '.join(catch_all)})")
        listener_names = [e.name or e.type for e in (*self.demand_listeners, *self.destroy_listeners)]
        _unique(listener_names, "listeners", "listener name (defaults to the type)")
        return self

    def label(self, name: str) -> LabelConfig:
        for lab in self.labels:
            if lab.name == name:
                return lab
        raise KeyError(name)

    @property
    def catch_all(self) -> LabelConfig | None:
        """The label serving expressions no other label serves, if one is configured."""
        return next((lab for lab in self.labels if lab.catch_all), None)

    @property
    def default_controller(self) -> ControllerConfig:
        """The controller a section that names none refers to: the first one listed."""
        return self.controllers[0]

    def controller_named(self, name: str | None) -> ControllerConfig:
        """The controller called ``name``; the default controller when ``name`` is ``None``."""
        if name is None:
            return self.default_controller
        for c in self.controllers:
            if c.name == name:
                return c
        raise KeyError(f"no controller named {name!r} (have: {', '.join(c.name for c in self.controllers)})")

    def controller_of(self, lab: LabelConfig) -> ControllerConfig:
        """The controller a label's agents join."""
        return self.controller_named(lab.controller)


def _unique(values: list[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{where}: {what} {value!r} appears twice")
        seen.add(value)
