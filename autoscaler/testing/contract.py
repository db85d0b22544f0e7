"""A contract test suite every listener and driver (built-in or third-party) runs against itself.

Subclass the contract for your plugin's kind in a ``Test...`` class and fill in the hooks::

    from autoscaler.testing.contract import DestroyListenerContract

    class TestMyListener(DestroyListenerContract):
        entry_point = "my-listener"

        def settings(self) -> dict:
            return {"type": "my-listener", "url": "http://127.0.0.1:1/"}

        def garbage(self) -> list:
            return [b"", b"\\xff", b"{not json"]

        def feed(self, plugin, item) -> None:
            plugin.handle(item)

pytest then checks that the plugin loads from its entry point (registered by one distribution
only: two claiming the same ``type`` name is an error), that its settings model validates
(and rejects unknown keys, with the file, line and key in the message), that garbage is survived
and counted, that what it emits is well formed, and that it stops within a deadline.
"""

from __future__ import annotations

import threading
import time
from importlib import metadata
from typing import Any, ClassVar

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from autoscaler.assembly import resolve_plugins
from autoscaler.config.errors import ConfigError
from autoscaler.config.loader import parse_config
from autoscaler.config.models import Config
from autoscaler.discovery import Registry
from autoscaler.events import (
    AgentChanged,
    BuildFinished,
    BuildStarted,
    DemandRefresh,
    DemandReport,
    LifecycleHint,
    NodeOffline,
    NodeOnline,
)
from autoscaler.jenkins.client import JenkinsClient
from autoscaler.plugin import (
    DemandListener,
    DemandUnknown,
    DestroyListener,
    Driver,
    DriverSettings,
    ListenerSettings,
    PluginContext,
    PluginKind,
)

STOP_DEADLINE = 5.0
_EVENT_TYPES = (BuildStarted, BuildFinished, NodeOffline, NodeOnline, LifecycleHint, DemandRefresh, AgentChanged)


class Recorder:
    """A plugin context that records what the plugin emits and counts."""

    def __init__(self, config: Config) -> None:
        self.events: list[Any] = []
        self.counts: list[str] = []
        self._lock = threading.Lock()
        jenkins = {c.name: JenkinsClient(c) for c in config.controllers}
        self.context = PluginContext(config=config, emit=self._emit, count=self._count, jenkins=jenkins)

    def _emit(self, event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def _count(self, reason: str) -> None:
        with self._lock:
            self.counts.append(reason)


def check_event(event: Any) -> None:
    """An emitted event is one of the public event types, with well-typed fields."""
    assert isinstance(event, _EVENT_TYPES), f"{event!r} is not an autoscaler event"
    if isinstance(event, BuildStarted | BuildFinished | NodeOffline | NodeOnline):
        assert isinstance(event.node, str) and event.node, f"{event!r} names no node"
    if isinstance(event, BuildStarted | BuildFinished):
        assert event.number is None or isinstance(event.number, int)
    controller = getattr(event, "controller", None)
    assert controller is None or isinstance(controller, str)
    assert isinstance(getattr(event, "source", ""), str)


class PluginContract:
    kind: ClassVar[PluginKind]
    entry_point: ClassVar[str]
    base_settings: ClassVar[type[BaseModel]]

    # -- hooks ------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """A valid config section for the plugin (``type`` included)."""
        raise TypeError(f"{type(self).__name__} must define settings(): a valid config section")

    def config(self) -> Config:
        """The core config the plugin is built with."""
        return Config.model_validate(
            {
                "controllers": [{"name": "main", "url": "http://127.0.0.1:9/"}],
                "labels": [{"name": "python", "command": "true", "image": "x"}],
            }
        )

    def garbage(self) -> list[Any]:
        """Malformed inputs for :meth:`feed`."""
        return []

    def feed(self, plugin: Any, item: Any) -> None:
        """Deliver one raw input the way the plugin receives it."""

    def exercise(self, plugin: Any) -> None:
        """Make the plugin emit (or return) real output, when the test can."""

    # -- helpers ----------------------------------------------------------------------------

    def plugin_class(self) -> type:
        return Registry.discover().find(self.kind, self.entry_point)

    def build(self) -> tuple[Any, Recorder]:
        cls = self.plugin_class()
        recorder = Recorder(self.config())
        settings = cls.settings_model.model_validate(self.settings())  # type: ignore[attr-defined]
        return cls(settings, recorder.context), recorder

    # -- the contract -----------------------------------------------------------------------

    def test_loads_from_its_entry_point(self) -> None:
        cls = self.plugin_class()
        model = cls.settings_model  # type: ignore[attr-defined]
        assert issubclass(model, self.base_settings), f"settings_model must derive from {self.base_settings.__name__}"

    def test_entry_point_is_not_ambiguous(self) -> None:
        claims = sorted(
            {
                (ep.dist.metadata["Name"] if ep.dist is not None else "?", ep.value)
                for ep in metadata.entry_points(group=self.kind.group, name=self.entry_point)
            }
        )
        assert claims, f"no {self.kind.word} {self.entry_point!r} is registered in {self.kind.group}"
        assert len(claims) == 1, (
            f"{self.kind.word} {self.entry_point!r} is registered more than once in {self.kind.group}: "
            + ", ".join(f"{dist} ({target})" for dist, target in claims)
            + "; the config's type: would pick one of them arbitrarily"
        )

    def test_settings_validate_and_reject_unknown_keys(self) -> None:
        model = self.plugin_class().settings_model  # type: ignore[attr-defined]
        model.model_validate(self.settings())
        with pytest.raises(ValidationError):
            model.model_validate({**self.settings(), "no-such-key-anywhere": 1})

    def test_config_errors_name_line_and_key(self) -> None:
        section = {**self.settings(), "no-such-key-anywhere": 1}
        data: dict[str, Any] = {
            "controllers": [{"name": "main", "url": "http://127.0.0.1:9/"}],
            "labels": [{"name": "python", "command": "true"}],
        }
        where = self.kind.section
        data[where] = section if self.kind is PluginKind.DRIVER else [section]
        text = yaml.safe_dump(data, sort_keys=False)
        with pytest.raises(ConfigError) as info:
            resolve_plugins(parse_config(text, "c.yaml"), Registry.discover())
        line = next(i for i, t in enumerate(text.splitlines(), 1) if "no-such-key-anywhere" in t)
        prefix = where if self.kind is PluginKind.DRIVER else f"{where}[0]"
        assert f"c.yaml:{line}: {prefix}.no-such-key-anywhere: unknown key" in str(info.value)

    def test_survives_garbage(self) -> None:
        plugin, recorder = self.build()
        self.start(plugin)
        try:
            for item in self.garbage():
                self.feed(plugin, item)
            for event in recorder.events:
                check_event(event)
            if self.garbage():
                assert recorder.counts, "malformed input must be counted (context.count)"
        finally:
            self.stop_within_deadline(plugin)

    def test_output_is_well_formed(self) -> None:
        plugin, recorder = self.build()
        self.start(plugin)
        try:
            self.exercise(plugin)
            for event in recorder.events:
                check_event(event)
        finally:
            self.stop_within_deadline(plugin)

    def test_stops_within_the_deadline(self) -> None:
        plugin, _ = self.build()
        self.start(plugin)
        self.stop_within_deadline(plugin)

    def start(self, plugin: Any) -> None:
        if hasattr(plugin, "start"):
            plugin.start()

    def stop_within_deadline(self, plugin: Any) -> None:
        started = time.monotonic()
        if isinstance(plugin, Driver):
            plugin.close()
        else:
            plugin.stop()
        took = time.monotonic() - started
        assert took < STOP_DEADLINE, f"stopping took {took:.1f}s (at most {STOP_DEADLINE}s)"


class DemandListenerContract(PluginContract):
    kind = PluginKind.DEMAND
    base_settings = ListenerSettings

    def test_poll_reports_or_says_unknown(self) -> None:
        plugin, _ = self.build()
        assert isinstance(plugin, DemandListener)
        self.start(plugin)
        try:
            self.exercise(plugin)
            try:
                report = plugin.poll()
            except DemandUnknown:
                return
            assert isinstance(report, DemandReport)
            keys = [item.key for item in report.items]
            assert len(keys) == len(set(keys)), "demand item keys must be unique"
            for item in report.items:
                assert item.expression is not None or item.node is not None, f"{item!r} wants nothing"
            assert plugin.interval > 0
        finally:
            self.stop_within_deadline(plugin)


class DestroyListenerContract(PluginContract):
    kind = PluginKind.DESTROY
    base_settings = ListenerSettings

    def test_is_a_destroy_listener(self) -> None:
        assert issubclass(self.plugin_class(), DestroyListener)


class DriverContract(PluginContract):
    kind = PluginKind.DRIVER
    base_settings = DriverSettings

    def start(self, plugin: Any) -> None:
        pass

    def test_delete_of_an_unknown_agent_is_success_and_list_is_a_list(self) -> None:
        plugin, _ = self.build()
        assert isinstance(plugin, Driver)
        try:
            plugin.delete("no-such-agent-abcdef", grace=0.1)
            assert isinstance(plugin.list(), list)
        finally:
            self.stop_within_deadline(plugin)
