"""The receiver as a sender without the secret meets it: refused from its headers, before a
byte of the body is read; clients that never finish are dropped. Real sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from autoscaler_cloudevents import CloudEventsReceiver, CloudEventsSettings

from autoscaler.config.models import Config
from autoscaler.plugin import PluginContext

SECRET = "hunter2"


class Rx:
    def __init__(self, tmp: Path, **extra: Any) -> None:
        (tmp / "secret").write_text(SECRET)
        config = Config.model_validate({"controllers": [{"url": "http://j/"}], "labels": [{"name": "python"}]})
        settings = CloudEventsSettings.model_validate(
            {"type": "cloudevents", "listen": "127.0.0.1:0", "secret-file": str(tmp / "secret"), **extra}
        )
        self.emitted: list[Any] = []
        self.receiver = CloudEventsReceiver(settings, PluginContext(config=config, emit=self.emitted.append))
        self.receiver.start()
        self.port = self.receiver.port

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=3)


def head(length: int | str, secret: str) -> bytes:
    return (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nce-specversion: 1.0\r\n"
        f"ce-id: 1\r\nce-type: org.jenkinsci.job.started\r\nce-source: job/x\r\n"
        f"X-Autoscaler-Token: {secret}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def reply_of(s: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def rx(tmp_path: Path) -> Iterator[Rx]:
    r = Rx(tmp_path, **{"max-body": 1024 * 1024})
    yield r
    r.receiver.stop()


@pytest.mark.parametrize("length", [512 * 1024, 64 * 1024 * 1024])  # within the limit, and far beyond it
def test_a_wrong_secret_is_refused_before_the_body_is_read(rx: Rx, length: int) -> None:
    with rx.connect() as s:
        s.sendall(head(length, "wrong") + b"{")  # the rest of the body is never sent
        started = time.monotonic()
        reply = reply_of(s)
        assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
        assert time.monotonic() - started < 2
        s.settimeout(3)
        while s.recv(65536):  # closed, not kept open to drain what was announced
            pass
    assert rx.emitted == []
    assert rx.receiver.rejected == 1


def test_an_oversize_body_from_a_sender_with_the_secret_is_413_unread(rx: Rx) -> None:
    with rx.connect() as s:
        s.sendall(head(64 * 1024 * 1024, SECRET))
        assert reply_of(s).startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize("length", ["-1", "1e3", "0x10"])
def test_a_bad_content_length_is_400_at_once(rx: Rx, length: str) -> None:
    with rx.connect() as s:
        s.sendall(head(length, SECRET))
        started = time.monotonic()
        assert reply_of(s).startswith(b"HTTP/1.1 400")
        assert time.monotonic() - started < 2


def test_a_slowloris_sender_is_dropped_and_others_are_served(tmp_path: Path) -> None:
    r = Rx(tmp_path, timeout=1.0, threads=4)
    try:
        loris = [r.connect() for _ in range(3)]
        for s in loris:
            s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        reply = requests.post(
            f"http://127.0.0.1:{r.port}/",
            data=b"{}",
            timeout=5,
            headers={
                "Content-Type": "application/json",
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-type": "org.jenkinsci.job.started",
                "ce-source": "job/x",
                "X-Autoscaler-Token": SECRET,
            },
        )
        assert reply.status_code == 202
        for s in loris:
            dropped = time.monotonic()
            while s.recv(4096):
                pass
            assert time.monotonic() - dropped < 4
            s.close()
    finally:
        r.receiver.stop()
