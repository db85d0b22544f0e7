"""The image's HEALTHCHECK: ``GET /healthz`` from the daemon, exit 0 when it answers 200.

Over the API's Unix socket (``AUTOSCALER_SOCKET``, default ``/run/autoscaler/api.sock``) when it
exists, else over TCP (``AUTOSCALER_HEALTH_ADDR``, default ``127.0.0.1:8780``). Standard library only.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


def main() -> int:
    path = os.environ.get("AUTOSCALER_SOCKET", "/run/autoscaler/api.sock")
    conn: http.client.HTTPConnection
    if os.path.exists(path):
        conn = UnixConnection(path, 4)
    else:
        host, _, port = os.environ.get("AUTOSCALER_HEALTH_ADDR", "127.0.0.1:8780").rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=4)
    try:
        conn.request("GET", "/healthz", headers={"Host": "localhost"})
        status = conn.getresponse().status
    except OSError as exc:
        print(f"healthz: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"healthz: {status}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
