"""The daemon, the composition root: builds the driver, the Jenkins clients, the engine, the
listeners, the schedule and the API from a config, wires them together, and runs them.

SIGTERM/SIGINT stop it cleanly and leave running agents alone (the next start adopts them);
SIGHUP reloads the config (an invalid new config is reported and the old one kept).
Everything it tells the engine after the engine's thread has started goes in as a message.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel

from autoscaler.agent_env import AgentCredentials, agent_credential_problems
from autoscaler.api.history import History
from autoscaler.api.metrics import ListenerCollector
from autoscaler.api.server import ApiServer
from autoscaler.assembly import Resolved, ResolvedPlugins, resolve_plugins
from autoscaler.config.errors import ConfigError
from autoscaler.config.loader import LoadedConfig, load_config
from autoscaler.config.models import Config
from autoscaler.counters import PluginCounters
from autoscaler.discovery import Registry
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import Command, DriverSeen, Reconcile, Reload, Stop
from autoscaler.events import Event
from autoscaler.jenkins.client import JenkinsClient
from autoscaler.jenkins.credentials import CredentialError, read_token
from autoscaler.leader import elector_for
from autoscaler.metrics.families import Metrics
from autoscaler.plugin import DemandListener, DestroyListener, Driver, PluginContext
from autoscaler.scheduling import Schedule, listener_name
from autoscaler.supervision import Supervisor

__all__ = ["Daemon", "PluginCounters"]

log = logging.getLogger(__name__)

Listener = DemandListener | DestroyListener


class Daemon:
    def __init__(
        self, loaded: LoadedConfig, registry: Registry | None = None, *, dry_run: bool = False, serve_api: bool = True
    ) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.registry = registry or Registry.discover()
        self.plugins: ResolvedPlugins = resolve_plugins(loaded, self.registry)
        self.dry_run = dry_run
        self.metrics = Metrics()
        """The daemon's own Prometheus registry (``/metrics``) and the families the engine updates."""
        self.metrics.add_process_metrics()
        self.counters = PluginCounters(self.metrics.registry)
        self.supervisor = Supervisor()
        """Runs the listeners' threads, restarts them when they fail, and reports their health."""
        self.metrics.registry.register(ListenerCollector(self.supervisor))
        self.clients = {c.name: JenkinsClient(c) for c in self.config.controllers}
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="io")
        self.fast_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jenkins")
        self.driver: Driver = self._build(self.plugins.driver)
        self.engine = Engine(
            self.config,
            self.driver,
            self.clients,
            self.pool,
            request_poll=self.poll_now,
            credentials=AgentCredentials(lambda: self.config),  # agent-user's token, never the daemon's
            dry_run=dry_run,
            fast_executor=self.fast_pool,
        )
        self.engine.state.stats.metrics = self.metrics
        self.demand_listeners: list[DemandListener] = [self._build(r) for r in self.plugins.demand]
        self.destroy_listeners: list[DestroyListener] = [self._build(r) for r in self.plugins.destroy]
        self.elector = elector_for(self.config, self.driver, self.engine, self.engine.state.stats.metrics.registry)
        """Leader election among replicas (``daemon.leader-election``); None: this daemon always acts."""
        self.listener_start_timeout = 10.0
        """How long a listener's ``start()`` may take before the daemon goes on without waiting."""
        daemon = self.config.daemon
        self.schedule = Schedule(
            self.engine.submit,
            self.demand_listeners,
            self._controller_of,
            tick=daemon.tick,
            reconcile=daemon.reconcile_interval,
        )
        self.history = History()
        """Demand and supply over the last hour, for the status page (sampled on a timer)."""
        self.schedule.timers.every("history", self.history.spacing, self._sample_history)
        self.api: ApiServer | None = None
        if serve_api:  # binds now: a port in use fails the start, not later
            self.api = ApiServer(self.config.api, self.engine, self.counters, self.supervisor, self.history)
        self._engine_thread: threading.Thread | None = None
        self._started: list[Listener] = []
        self._stop = threading.Event()
        self._reload = threading.Event()

    # -- wiring -----------------------------------------------------------------------------

    def _build(self, resolved: Resolved) -> Any:
        """An instance of a resolved plugin class, with its settings and its context."""
        return resolved.cls(resolved.settings, self._context(resolved.settings))

    def _context(self, settings: BaseModel) -> PluginContext:
        name = str(getattr(settings, "display_name", None) or getattr(settings, "type", "plugin"))
        return PluginContext(
            config=lambda: self.config,  # live: a reload's labels and controllers are seen
            emit=self._emit,
            jenkins=self.clients,
            log=logging.getLogger(f"autoscaler.plugin.{name}"),
            count=self.counters.counter(name),
            supervisor=self.supervisor,
        )

    def _emit(self, event: Event) -> None:
        """What plugins emit goes to the engine's inbox (bound late: the driver, built before
        the engine, gets its context first)."""
        self.engine.submit(event)

    def _controller_of(self, listener: Listener) -> str:
        return getattr(listener.settings, "controller", None) or self.config.default_controller.name

    def listeners(self) -> list[Listener]:
        return [*self.demand_listeners, *self.destroy_listeners]

    @property
    def poll_hang_after(self) -> float | None:
        """A poll running this long makes its demand unknown (default: three intervals, at least 30 s)."""
        return self.schedule.hang_after

    @poll_hang_after.setter
    def poll_hang_after(self, seconds: float | None) -> None:
        self.schedule.hang_after = seconds

    @property
    def engine_running(self) -> bool:
        """The engine's thread is alive (it ends at :class:`Stop` or if the engine crashes)."""
        return self._engine_thread is not None and self._engine_thread.is_alive()

    def _sample_history(self) -> None:
        """Ask the engine for the pools view; its answer, whenever it comes, is one history sample."""
        command = Command("pools")
        command.reply.add_done_callback(
            lambda f: None if f.cancelled() or f.exception() else self.history.record(f.result())
        )
        self.engine.submit(command)

    def poll_now(self, controller: str | None) -> None:
        """Poll the demand listeners of ``controller`` (all, if None) right away."""
        self.schedule.poll_now(controller)

    # -- lifecycle --------------------------------------------------------------------------

    def _boot(self, listeners: Sequence[Listener], *, engine_thread: bool) -> None:
        """The boot sequence of ``run`` and ``run --once``: adopt what the driver runs, start the
        engine (a thread, or the caller drains it), take the first look at Jenkins before any
        plan that retires, start the listeners."""
        self._adopt()
        if engine_thread:
            self._engine_thread = threading.Thread(target=self.engine.run, name="engine", daemon=True)
            self._engine_thread.start()
        self.engine.submit(Reconcile())
        for listener in listeners:
            self._started.append(listener)
            error = _start_listener(listener, self.listener_start_timeout)
            if error is not None:  # shown as down (metrics, /healthz) instead of vanishing
                self.supervisor.failed_to_start(listener_name(listener), error)

    def start(self) -> None:
        """Boot, then start the schedule and the API."""
        if self.elector is not None:  # a replica acts only while it leads
            self.elector.start()
        self._boot(self.listeners(), engine_thread=True)
        self.schedule.start()
        if self.api is not None:
            self.api.start()
        log.info(
            "autoscaler %s started: %d label%s, %d controller%s, driver %s%s",
            self.config.daemon.id,
            len(self.config.labels),
            "" if len(self.config.labels) == 1 else "s",
            len(self.config.controllers),
            "" if len(self.config.controllers) == 1 else "s",
            self.config.driver.type,
            " (dry run)" if self.dry_run else "",
        )

    def run_once(self, timeout: float = 30.0) -> list[str]:
        """One pass: boot, poll every demand listener, look at Jenkins, plan and act, then stop.
        Returns what could not be reached (empty when every controller, the driver and every
        demand listener answered): ``run --once`` exits non-zero on it."""
        self._boot(self.demand_listeners, engine_thread=False)
        self.schedule.poll_all()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.engine.drain()
            if self.engine.idle():
                break
            time.sleep(0.02)
        self.stop()
        return self.unreachable()

    def unreachable(self) -> list[str]:
        """Controllers never read, a driver that could not list its agents, demand listeners in error."""
        state = self.engine.state
        out = [f"controller {name!r}: its agents could not be read" for name in self.clients if name not in state.seen]
        if state.stats.errors.get("driver"):
            out.append(f"driver {self.config.driver.type!r}: could not list its agents")
        out += [f"demand listener {name!r}: {ld.error}" for name, ld in state.demand.listeners.items() if ld.error]
        return out

    def _adopt(self) -> None:
        """List what the driver runs and hand it to the engine before anything is planned
        (before the engine's thread starts: the one time the daemon steps the engine itself)."""
        try:
            handles = self.driver.list()
        except Exception as exc:
            log.error("cannot list existing agents (will retry at reconcile): %s", exc)
            return
        self.engine.step(DriverSeen(handles))
        if handles:
            log.info("adopted %d running agents", len(handles))

    def run_forever(self) -> int:
        """Run until SIGTERM/SIGINT; SIGHUP reloads. Returns the exit code."""
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())
        self.start()
        while not self._stop.is_set():
            self._stop.wait(0.5)
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
        self.stop()
        return 0

    def stop(self) -> None:
        """Stop listening and planning; running agents are left alone (adopted at next start)."""
        log.info("stopping; running agents are left as they are")
        if self.elector is not None:  # stop acting first, then hand the Lease over
            self.elector.stop()
        self.schedule.stop()
        for listener in self._started:
            try:
                listener.stop()
            except Exception:
                log.exception("listener %s failed to stop", listener_name(listener))
        self._started.clear()
        self.supervisor.stop_all(timeout=5)
        if self.api is not None:
            self.api.stop()
        self.engine.submit(Stop())
        threaded = self._engine_thread is not None
        if self._engine_thread is not None:
            self._engine_thread.join(timeout=10)
        self.pool.shutdown(wait=True, cancel_futures=threaded)
        self.fast_pool.shutdown(wait=True, cancel_futures=threaded)
        if not threaded:
            self.engine.drain()  # --once: the results of the last I/O
        self.driver.close()
        for client in self.clients.values():
            client.close()

    # -- reload -----------------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the config file: labels, limits and controllers (a rotated token, a new
        controller) take effect; listener, driver, API and daemon changes need a restart.
        Whatever is wrong with the new file, the running config is kept and the daemon runs on."""
        try:
            loaded = load_config(self.loaded.file)
            resolve_plugins(loaded, self.registry)
            credentials = {c.name: read_token(c) for c in loaded.config.controllers}
        except (ConfigError, CredentialError) as exc:
            log.error("reload refused, keeping the running config:\n%s", exc)
            return False
        except Exception:  # never let a reload take the daemon down
            log.exception("reload refused (unexpected error), keeping the running config")
            return False
        if self.config.driver.type == "local" and (problems := agent_credential_problems(loaded.config)):
            log.error("reload refused, keeping the running config:\n%s", "\n".join(problems))
            return False
        new, old = loaded.config, self.config
        fixed = ("driver", "demand_listeners", "destroy_listeners", "api", "daemon")
        for key in fixed:
            if getattr(new, key) != getattr(old, key):
                log.warning("reload: %s changed; that takes effect at the next restart", key.replace("_", "-"))
        new = new.model_copy(update={k: getattr(old, k) for k in fixed})
        added = self._reload_controllers(new, credentials)
        self.config = new
        self.loaded = loaded
        self.engine.submit(Reload(new, added))
        log.info("config reloaded from %s", loaded.file)
        return True

    def _reload_controllers(self, new: Config, credentials: dict[str, str | None]) -> dict[str, JenkinsClient]:
        """New or changed controllers get a new client; unchanged ones take the token read now.
        A controller that is gone keeps its client, so its agents can still be retired."""
        replaced: dict[str, JenkinsClient] = {}
        for controller in new.controllers:
            client = self.clients.get(controller.name)
            if client is not None and client.controller == controller:
                client.set_token(credentials[controller.name])
                continue
            replaced[controller.name] = JenkinsClient(controller)
            log.info("reload: controller %s %s", controller.name, "changed" if client else "added")
        self.clients.update(replaced)
        return replaced


def _start_listener(listener: Listener, timeout: float = 10.0) -> str | None:
    """Start a listener without letting one that raises or hangs stop the daemon; the error of
    one that raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            listener.start()
        except Exception as exc:
            errors.append(exc)

    name = listener_name(listener)
    thread = threading.Thread(target=run, name=f"start-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        log.error("listener %s did not finish starting in %.0fs; continuing without waiting", name, timeout)
    elif errors:
        exc = errors[0]
        log.error("listener %s failed to start; continuing without it: %s: %s", name, type(exc).__name__, exc)
        return f"failed to start: {type(exc).__name__}: {exc}"
    return None
