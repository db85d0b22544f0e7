"""The kafka listener runs the plugin contract kit (messages fed as the consumer hands them over)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoscaler.testing.contract import DestroyListenerContract


@dataclass
class Message:
    """What the listener reads of a confluent-kafka message."""

    value_: bytes | None
    key_: bytes | None = b"onFinalized"

    def key(self) -> bytes | None:
        return self.key_

    def value(self) -> bytes | None:
        return self.value_

    def headers(self) -> list[tuple[str, bytes]] | None:
        return None

    def topic(self) -> str:
        return "builds"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 42


class TestKafkaContract(DestroyListenerContract):
    entry_point = "kafka"

    def settings(self) -> dict[str, Any]:
        return {
            "type": "kafka",
            "bootstrap-servers": "127.0.0.1:1",
            "topics": "builds",
            "client-config": {"log_level": 0},
        }

    def garbage(self) -> list[Any]:
        return [Message(None), Message(b""), Message(b"{not json"), Message(b"[]"), Message(b"{}", key_=None)]

    def feed(self, plugin: Any, item: Any) -> None:
        plugin.handle(item)

    def exercise(self, plugin: Any) -> None:
        plugin.handle(Message(b'{"name":"j","build":{"number":3,"phase":"FINISHED","node_name":"ci-python-a"}}'))
