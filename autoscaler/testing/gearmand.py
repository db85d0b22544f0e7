"""A real gearmand (Debian's ``gearman-job-server``) on a free loopback port, for tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time


def gearmand_path() -> str | None:
    return shutil.which("gearmand") or ("/usr/sbin/gearmand" if os.path.exists("/usr/sbin/gearmand") else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gearmand:
    def __init__(self, port: int | None = None) -> None:
        path = gearmand_path()
        if path is None:
            raise FileNotFoundError("gearmand is not installed (apt-get install gearman-job-server)")
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            [path, "-p", str(self.port), "-L", "127.0.0.1", "--log-file", "none", "--threads", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("gearmand did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
