"""A simulated Jenkins swarm client: ``python -m autoscaler.testing.swarm_agent -url ... -name ...``.

It takes the real swarm client's flags, registers through ``/plugin/swarm/createSlave`` (Basic
auth, crumb, session cookie), then holds a connection to the controller's agent port while it
is online. Like the real client it registers again after ``-retry`` seconds when the controller
drops it (WIRE §7: swarm clients come back), and exits on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

import requests

_stop = threading.Event()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="swarm-agent", prefix_chars="-")
    p.add_argument("-url", required=True)
    p.add_argument("-username", default="")
    p.add_argument("-passwordEnvVariable", default=None)
    p.add_argument("-name", required=True)
    p.add_argument("-labels", default="")
    p.add_argument("-executors", type=int, default=1)
    p.add_argument("-mode", default="normal")
    p.add_argument("-description", default="")
    p.add_argument("-fsroot", default=".")
    p.add_argument("-retry", type=float, default=10.0)
    p.add_argument("-disableClientsUniqueId", action="store_true")
    p.add_argument("-deleteExistingClients", action="store_true")
    p.add_argument("-keepDisconnectedClients", action="store_true")
    p.add_argument("-webSocket", action="store_true")
    p.add_argument("-password", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def register(args: argparse.Namespace, password: str) -> tuple[str, str, int]:
    """createSlave, then find the agent port. Returns (node name, secret, port)."""
    base = args.url if args.url.endswith("/") else args.url + "/"
    session = requests.Session()
    session.auth = (args.username, password)
    crumb = session.get(base + "crumbIssuer/api/json", timeout=10)
    headers: dict[str, str] = {}
    if crumb.status_code == 200:
        data: dict[str, Any] = crumb.json()
        headers[data["crumbRequestField"]] = data["crumb"]
    elif crumb.status_code != 404:
        raise RuntimeError(f"crumb request answered {crumb.status_code}")
    form: list[tuple[str, str]] = [
        ("name", args.name),
        ("executors", str(args.executors)),
        ("remoteFsRoot", args.fsroot),
        ("description", args.description),
        ("labels", args.labels),
        ("mode", args.mode.upper()),
        ("deleteExistingClients", str(args.deleteExistingClients).lower()),
        ("keepDisconnectedClients", str(args.keepDisconnectedClients).lower()),
    ]
    if not args.disableClientsUniqueId:
        form.append(("hash", os.urandom(4).hex()))
    reply = session.post(base + "plugin/swarm/createSlave", data=form, headers=headers, timeout=10)
    if reply.status_code != 200:
        raise RuntimeError(f"createSlave answered {reply.status_code}: {reply.text.strip()[:200]}")
    props = dict(line.split("=", 1) for line in reply.text.splitlines() if "=" in line)
    port = session.get(base + "tcpSlaveAgentListener/", timeout=10).headers["X-Jenkins-JNLP-Port"]
    return props["name"], props["secret"], int(port)


def serve(host: str, port: int, name: str, secret: str) -> None:
    """Stay connected until the controller drops us or we are told to stop."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(f"{name} {secret}\n".encode())
        answer = sock.makefile("rb").readline().decode().strip()
        if answer != "OK":
            raise RuntimeError(f"agent port refused us: {answer}")
        print(f"connected as {name}", flush=True)
        sock.settimeout(0.2)
        while not _stop.is_set():
            try:
                if not sock.recv(1024):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


def command_line(retry: float = 1.0) -> list[str]:
    """A local-driver ``command`` running this simulated client with the real client's flags
    (``{...}`` placeholders are filled in by the driver; the token stays in the environment)."""
    return [
        sys.executable, "-m", "autoscaler.testing.swarm_agent",
        "-url", "{url}", "-username", "{user}", "-passwordEnvVariable", "{credential_env}",
        "-name", "{name}", "-labels", "{labels}", "-executors", "{executors}",
        "-mode", "exclusive", "-disableClientsUniqueId", "-retry", str(retry),
    ]  # fmt: skip


def _terminate(*_: object) -> None:
    _stop.set()
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # as the real client's JVM does, SIGTERM ends the process at once, even inside a blocked
    # request: a client told to stop while registering must not register afterwards
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, lambda *_: _stop.set())
    password = args.password or ""
    if args.passwordEnvVariable:
        password = os.environ.get(args.passwordEnvVariable, "")
    host = urlsplit(args.url).hostname or "127.0.0.1"
    while not _stop.is_set():
        try:
            name, secret, port = register(args, password)
            print(f"registered {name}", flush=True)
            serve(host, port, name, secret)
            if _stop.is_set():
                break
            print(f"disconnected; registering again in {args.retry}s", flush=True)
        except (OSError, RuntimeError, requests.RequestException, KeyError, ValueError) as exc:
            print(f"failed: {exc}; retrying in {args.retry}s", flush=True)
        _stop.wait(args.retry)
    print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
