"""In-memory fakes for unit tests of the engine and of plugins: a driver, a controller, a clock,
and an executor that runs work at once. (Integration tests use the real-socket doubles.)"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from autoscaler.jenkins.client import JenkinsError
from autoscaler.jenkins.computers import NodeView
from autoscaler.plugin import AgentHandle, Driver, DriverError, DriverSettings, DriverStatus, LaunchSpec

P = ParamSpec("P")
T = TypeVar("T")


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class InlineExecutor(Executor):
    """Runs each submitted call immediately, in the caller's thread."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class FakeDriver(Driver):
    """Keeps agents in a dict. ``fail_next`` makes launches fail; ``set_status`` moves agents."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.agents: dict[str, AgentHandle] = {}
        self.launched: list[LaunchSpec] = []
        self.deleted: list[str] = []
        self.fail_next: list[DriverError] = []
        self.frozen: set[str] = set()
        self.freezes = 0
        self.clock = clock or (lambda: 0.0)
        self.settings = DriverSettings(type="fake")

    def launch(self, spec: LaunchSpec) -> AgentHandle:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.launched.append(spec)
        handle = AgentHandle(spec.name, spec.label.name, spec.controller.name, DriverStatus.RUNNING, self.clock())
        self.agents[spec.name] = handle
        return handle

    def delete(self, name: str, *, grace: float) -> None:
        self.frozen.discard(name)
        self.deleted.append(name)
        self.agents.pop(name, None)

    def list(self) -> list[AgentHandle]:
        return list(self.agents.values())

    def freeze(self, name: str) -> bool:
        if name not in self.agents:
            return False
        self.frozen.add(name)
        self.freezes += 1
        return True

    def thaw(self, name: str) -> None:
        self.frozen.discard(name)

    def mark_hold(self, name: str, reason: str | None, until: float | None) -> None:
        h = self.agents.get(name)
        if h is not None:
            self.agents[name] = AgentHandle(
                h.name, h.label, h.controller, h.status, h.created, h.detail, hold_reason=reason, hold_until=until
            )

    def set_status(self, name: str, status: DriverStatus, detail: str = "") -> None:
        h = self.agents[name]
        self.agents[name] = AgentHandle(h.name, h.label, h.controller, status, h.created, detail)


@dataclass
class FakeController:
    """What the engine needs of a controller, in memory. ``nodes`` is what ``/computer`` shows."""

    name: str = "main"
    nodes: dict[str, NodeView] = field(default_factory=dict)
    offline_calls: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    down: bool = False
    """Every call raises :class:`JenkinsError` (connection refused)."""
    fail_next: dict[str, list[BaseException]] = field(default_factory=dict)
    """Per method name (``computers``, ``node``, ``take_offline``, ``delete_node``): exceptions
    its next calls raise, one per call (any exception: a library error the client missed, too)."""

    def _fault(self, method: str) -> None:
        pending = self.fail_next.get(method)
        if pending:
            raise pending.pop(0)
        if self.down:
            raise JenkinsError(f"{self.name}: connection refused")

    def computers(self) -> dict[str, NodeView]:
        self._fault("computers")
        return dict(self.nodes)

    def node(self, name: str) -> dict[str, Any] | None:
        self._fault("node")
        view = self.nodes.get(name)
        if view is None:
            return None
        return {"displayName": name, "idle": not view.busy, "temporarilyOffline": view.temporarily_offline}

    def take_offline(self, name: str, message: str) -> bool:
        """As the real client: a node already offline is not toggled (``offline_calls`` lists toggles)."""
        self._fault("take_offline")
        view = self.nodes.get(name)
        if view is not None and view.temporarily_offline:
            return True
        self.offline_calls.append(name)
        if view is None:
            return False
        self.set(name, temporarily_offline=True)
        return True

    def create_node(self, name: str, *, labels: str, executors: int, description: str, exclusive: bool = True) -> None:
        """An inbound node (offline until its agent connects); its secret is in its JNLP file."""
        self._fault("create_node")
        self.set(name, online=False, labels=frozenset(labels.split()))

    def get_text(self, path: str) -> str:
        self._fault("get_text")
        name = path.split("/")[1] if path.startswith("computer/") else ""
        if name not in self.nodes:
            raise JenkinsError(f"{self.name}: GET {path}: not found", transient=False, not_found=True)
        return f"<jnlp><application-desc><argument>{name.encode().hex():0<32}</argument></application-desc></jnlp>"

    def delete_node(self, name: str) -> bool:
        self._fault("delete_node")
        self.deleted.append(name)
        return self.nodes.pop(name, None) is not None

    def set(
        self,
        name: str,
        *,
        online: bool | None = None,
        builds: tuple[str, ...] | None = None,
        temporarily_offline: bool | None = None,
        labels: frozenset[str] | None = None,
    ) -> None:
        """Create or change a node as Jenkins would show it."""
        old = self.nodes.get(name) or NodeView(name, True, False, True, 1, frozenset({name}), ())
        temp = old.temporarily_offline if temporarily_offline is None else temporarily_offline
        connected = (not old.offline or old.temporarily_offline) if online is None else online
        run = old.builds if builds is None else builds
        self.nodes[name] = NodeView(
            name, (not connected) or temp, temp, not run, old.executors, old.labels if labels is None else labels, run
        )
