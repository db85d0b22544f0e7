"""The daemon: builds the engine, plugins, scheduler and API from a config, and runs them.

SIGTERM/SIGINT stop it cleanly and leave running agents alone (the next start adopts them);
SIGHUP reloads the config (an invalid new config is reported and the old one kept).
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from autoscaler.assembly import ResolvedPlugins, resolve_plugins
from autoscaler.config.errors import ConfigError
from autoscaler.config.loader import LoadedConfig, load_config
from autoscaler.discovery import Registry
from autoscaler.engine.core import Engine
from autoscaler.engine.messages import DemandUpdate, DriverSeen, Reconcile, Reload, Stop, Tick
from autoscaler.jenkins.client import JenkinsClient
from autoscaler.jenkins.credentials import CredentialError, read_token
from autoscaler.plugin import DemandListener, DemandUnknown, DestroyListener, Driver, PluginContext
from autoscaler.supervision import Supervisor
from autoscaler.timers import Job, Timers

log = logging.getLogger(__name__)


class PluginCounters:
    """Thread-safe counters plugins bump through ``context.count``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()

    def counter(self, plugin: str) -> Any:
        def count(reason: str) -> None:
            with self._lock:
                self.counts[(plugin, reason)] += 1

        return count

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self.counts)


class _Tokens(Mapping[str, "str | None"]):
    """Each controller's token as its client holds it now (re-read after a 401 or a reload):
    agents launched after a rotation get the new one."""

    def __init__(self, clients: Mapping[str, JenkinsClient]) -> None:
        self._clients = clients

    def __getitem__(self, name: str) -> str | None:
        return self._clients[name].token

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)


class Daemon:
    def __init__(
        self, loaded: LoadedConfig, registry: Registry | None = None, *, dry_run: bool = False, serve_api: bool = True
    ) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.registry = registry or Registry.discover()
        self.plugins: ResolvedPlugins = resolve_plugins(loaded, self.registry)
        self.dry_run = dry_run
        self.counters = PluginCounters()
        self.supervisor = Supervisor()
        """Runs the listeners' threads, restarts them when they fail, and reports their health."""
        self.clients = {c.name: JenkinsClient(c) for c in self.config.controllers}
        self.credentials = _Tokens(self.clients)
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="io")
        self.fast_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jenkins")
        self.engine = Engine(
            self.config,
            self._build_driver(),
            self.clients,
            self.pool,
            request_poll=self.poll_now,
            credentials=self.credentials,
            dry_run=dry_run,
            fast_executor=self.fast_pool,
        )
        self.demand_listeners: list[DemandListener] = []
        self.destroy_listeners: list[DestroyListener] = []
        for resolved in self.plugins.demand:
            self.demand_listeners.append(resolved.cls(resolved.settings, self._context(resolved.settings)))
        for resolved in self.plugins.destroy:
            self.destroy_listeners.append(resolved.cls(resolved.settings, self._context(resolved.settings)))
        self.listener_start_timeout = 10.0
        """How long a listener's ``start()`` may take before the daemon goes on without waiting."""
        self.poll_hang_after: float | None = None
        """A poll running this long makes its demand unknown (default: three intervals, at least 30 s)."""
        self.timers = Timers()
        self._polls: dict[int, Job] = {}
        self._hung: set[int] = set()
        self.api: Any = None
        if serve_api:
            from autoscaler.api.server import ApiServer

            self.api = ApiServer(self.config.api, self.engine, self.counters, self.supervisor)  # binds now: fail early
        self._engine_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._reload = threading.Event()

    def _context(self, settings: Any) -> PluginContext:
        name = str(getattr(settings, "display_name", None) or getattr(settings, "type", "plugin"))
        return PluginContext(
            config=self.config,
            emit=self.engine_submit,
            jenkins=self.clients,
            log=logging.getLogger(f"autoscaler.plugin.{name}"),
            count=self.counters.counter(name),
            supervisor=self.supervisor,
        )

    def listeners(self) -> list[DemandListener | DestroyListener]:
        return [*self.demand_listeners, *self.destroy_listeners]

    def engine_submit(self, message: Any) -> None:
        self.engine.submit(message)

    def _build_driver(self) -> Driver:
        resolved = self.plugins.driver
        driver: Driver = resolved.cls(resolved.settings, self._context(resolved.settings))
        return driver

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Adopt what exists, then start the engine, listeners, timers and the API."""
        self.adopt()
        self._engine_thread = threading.Thread(target=self.engine.run, name="engine", daemon=True)
        self._engine_thread.start()
        self.engine.submit(Reconcile())  # the first look at Jenkins, before any plan that retires
        for listener in self.listeners():
            _start_listener(listener, self.listener_start_timeout)
        daemon = self.config.daemon
        self.timers.every("tick", daemon.tick, lambda: self.engine.submit(Tick()), delay_first=True)
        self.timers.every(
            "reconcile", daemon.reconcile_interval, lambda: self.engine.submit(Reconcile()), delay_first=True
        )
        for i, listener in enumerate(self.demand_listeners):
            self._polls[i] = self.timers.every(
                f"demand-{i}", listener.interval, functools.partial(self._poll, listener)
            )
        self.timers.every("watchdog", 1.0, self._watch_polls, delay_first=True)
        self.timers.start()
        if self.api is not None:
            self.api.start()
        log.info(
            "autoscaler %s started: %d labels, %d controllers, driver %s%s",
            daemon.id,
            len(self.config.labels),
            len(self.config.controllers),
            self.config.driver.type,
            " (dry run)" if self.dry_run else "",
        )

    def adopt(self) -> None:
        """List what the driver runs and hand it to the engine before anything is planned."""
        try:
            handles = self.engine.driver.list()
        except Exception as exc:
            log.error("cannot list existing agents (will retry at reconcile): %s", exc)
            return
        self.engine.step(DriverSeen(handles))
        if handles:
            log.info("adopted %d running agents", len(handles))

    def _poll(self, listener: DemandListener) -> None:
        controller = self._controller_of(listener)
        observed_at = time.time()
        try:
            report = listener.poll()
        except DemandUnknown as exc:
            self.engine.submit(DemandUpdate(_name(listener), controller, None, str(exc)))
            return
        except Exception as exc:
            log.exception("demand listener %s crashed while polling", _name(listener))
            self.engine.submit(DemandUpdate(_name(listener), controller, None, f"{type(exc).__name__}: {exc}"))
            return
        self.engine.submit(
            DemandUpdate(_name(listener), report.controller or controller, report, observed_at=observed_at)
        )

    def _controller_of(self, listener: DemandListener | DestroyListener) -> str:
        return getattr(listener.settings, "controller", None) or self.config.controllers[0].name

    def poll_now(self, controller: str | None) -> None:
        """Poll the demand listeners of ``controller`` (all, if None) right away."""
        for i, listener in enumerate(self.demand_listeners):
            if controller is None or self._controller_of(listener) == controller:
                job = self._polls.get(i)
                if job is not None:
                    job.trigger()

    def _watch_polls(self) -> None:
        """A poll that hangs must not leave demand silently stale: past three intervals (at least
        30 s) its demand is reported unknown; the last report is kept, not scaled to zero."""
        now = time.monotonic()
        for i, job in self._polls.items():
            started = job.running_since
            listener = self.demand_listeners[i]
            limit = self.poll_hang_after or max(30.0, 3 * listener.interval)
            if started is not None and now - started > limit:
                if i not in self._hung:
                    self._hung.add(i)
                    log.error("demand listener %s: poll has not returned for %.0fs", _name(listener), now - started)
                    self.engine.submit(
                        DemandUpdate(
                            _name(listener), self._controller_of(listener), None, f"poll hung for {now - started:.0f}s"
                        )
                    )
            else:
                self._hung.discard(i)

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

    def _reload_controllers(self, new: Any, credentials: dict[str, str | None]) -> dict[str, JenkinsClient]:
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

    def stop(self) -> None:
        """Stop listening and planning; running agents are left alone (adopted at next start)."""
        log.info("stopping; running agents are left as they are")
        self.timers.stop()
        for listener in self.listeners():
            try:
                listener.stop()
            except Exception:
                log.exception("listener %s failed to stop", _name(listener))
        self.supervisor.stop_all(timeout=5)
        if self.api is not None:
            self.api.stop()
        self.engine.submit(Stop())
        if self._engine_thread is not None:
            self._engine_thread.join(timeout=10)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.fast_pool.shutdown(wait=True, cancel_futures=True)
        self.engine.driver.close()
        for client in self.clients.values():
            client.close()

    def run_once(self, timeout: float = 30.0) -> None:
        """One pass: adopt, poll every demand listener, look at Jenkins, plan and act, then exit."""
        self.adopt()
        self.engine.submit(Reconcile())
        for listener in self.demand_listeners:
            listener.start()
            self._poll(listener)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.engine.drain()
            if self.engine.idle():
                break
            time.sleep(0.02)
        for listener in self.demand_listeners:
            listener.stop()
        self.pool.shutdown(wait=True)
        self.fast_pool.shutdown(wait=True)
        self.engine.drain()


def _start_listener(listener: DemandListener | DestroyListener, timeout: float = 10.0) -> None:
    """Start a listener without letting one that raises or hangs stop the daemon."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            listener.start()
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"start-{_name(listener)}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        log.error("listener %s did not finish starting in %.0fs; continuing without waiting", _name(listener), timeout)
    elif errors:
        exc = errors[0]
        log.error(
            "listener %s failed to start; continuing without it: %s: %s", _name(listener), type(exc).__name__, exc
        )


def _name(listener: DemandListener | DestroyListener) -> str:
    return str(getattr(listener.settings, "display_name", type(listener).__name__))
