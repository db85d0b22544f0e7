"""A simulated inbound (JNLP) agent: ``python -m autoscaler.testing.inbound_agent``.

Like the ``jenkins/inbound-agent`` image it reads ``JENKINS_URL``, ``JENKINS_AGENT_NAME`` and
``JENKINS_SECRET`` from its environment, connects to the controller's agent port, and stays
connected until it is stopped or dropped (then it exits, as the real agent does).
"""

from __future__ import annotations

import os
import signal
import sys
from urllib.parse import urlsplit

import requests

from autoscaler.testing import swarm_agent


def main() -> int:
    url = os.environ.get("JENKINS_URL", "")
    name = os.environ.get("JENKINS_AGENT_NAME", "")
    secret = os.environ.get("JENKINS_SECRET", "")
    if not (url and name and secret):
        print("JENKINS_URL, JENKINS_AGENT_NAME and JENKINS_SECRET are required", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: swarm_agent._stop.set())
    base = url if url.endswith("/") else url + "/"
    port = int(requests.get(base + "tcpSlaveAgentListener/", timeout=10).headers["X-Jenkins-JNLP-Port"])
    try:
        swarm_agent.serve(urlsplit(base).hostname or "127.0.0.1", port, name, secret)
    except (OSError, RuntimeError) as exc:
        print(f"connection failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
