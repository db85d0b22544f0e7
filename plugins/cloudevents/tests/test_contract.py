"""The cloudevents receiver runs the plugin contract kit (garbage POSTed over HTTP)."""

from __future__ import annotations

from typing import Any

import requests

from autoscaler.testing.contract import DestroyListenerContract


class TestCloudEventsContract(DestroyListenerContract):
    entry_point = "cloudevents"

    def settings(self) -> dict[str, Any]:
        return {"type": "cloudevents", "listen": "127.0.0.1:0"}

    def garbage(self) -> list[Any]:
        return [b"", b"{not json", b'{"specversion": "2.0"}', b"[1]"]

    def feed(self, plugin: Any, item: Any) -> None:
        reply = requests.post(
            f"http://127.0.0.1:{plugin.port}/",
            data=item,
            timeout=5,
            headers={"Content-Type": "application/cloudevents+json"},
        )
        assert reply.status_code == 400

    def exercise(self, plugin: Any) -> None:
        requests.post(
            f"http://127.0.0.1:{plugin.port}/",
            data=b"{}",
            timeout=5,
            headers={
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-type": "org.jenkinsci.job.started",
                "ce-source": "job/x",
                "Content-Type": "application/json",
            },
        ).raise_for_status()
