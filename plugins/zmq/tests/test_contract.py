"""The zmq listener runs the plugin contract kit."""

from __future__ import annotations

from typing import Any

from autoscaler.testing.contract import DestroyListenerContract


class TestZmqContract(DestroyListenerContract):
    entry_point = "zmq"

    def settings(self) -> dict[str, Any]:
        return {"type": "zmq", "endpoints": ["tcp://127.0.0.1:1"]}

    def garbage(self) -> list[Any]:
        return [b"", b"\xff\xfe", b"onStarted", b"onStarted {", b"onFinalized []", b'onStarted {"build": 5}']

    def feed(self, plugin: Any, item: Any) -> None:
        plugin.handle(item)

    def exercise(self, plugin: Any) -> None:
        plugin.handle(b'onStarted {"name":"j","build":{"number":1,"phase":"STARTED","node_name":"ci-python-a"}}')
        plugin.handle(b'onFinalized {"name":"j","build":{"number":1,"phase":"FINISHED","node_name":""}}')
