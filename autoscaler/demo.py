"""``autoscaler demo``: the whole loop on one machine, on embedded defaults.

A simulated Jenkins (``autoscaler.testing``) with freestyle and pipeline jobs over three labels
(one asked for by a label expression), the real daemon with the local driver launching
simulated swarm agents, and ZMQ build events. Ends with a summary; returns whether every job
ran and no agent leaked.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from autoscaler.cli import tables
from autoscaler.config.loader import load_config
from autoscaler.engine.messages import Command
from autoscaler.testing.gearmand import free_port
from autoscaler.testing.swarm_agent import command_line

WORKLOAD = (
    # job name, kind, label expression asked for
    ("unit-tests", "freestyle", "python"),
    ("lint", "freestyle", "python"),
    ("integration", "pipeline", "java"),
    ("package", "pipeline", "java"),
    ("image-build", "freestyle", "linux && docker"),
    ("image-scan", "pipeline", "docker&&linux"),
)


def demo_config(sim_url: str, user: str, token_file: str, zmq: str, work_dir: str, ce_port: int) -> dict[str, Any]:
    agent = command_line()
    return {
        "controllers": [{"name": "demo", "url": sim_url, "user": user, "token-file": token_file}],
        "driver": {"type": "local", "work-dir": work_dir, "inherit-env": ["PATH", "HOME", "PYTHONPATH"]},
        "demand-listeners": [
            {"name": "queue", "type": "jenkins-queue", "interval": "1s", "label-source": "placeholders"}
        ],
        "destroy-listeners": [
            {"name": "events", "type": "zmq", "endpoints": [zmq]},
            # queue events from the Jenkins cloudevents plugin: demand is polled the moment it appears
            {"name": "cloudevents", "type": "cloudevents", "listen": f"127.0.0.1:{ce_port}"},
        ],
        "labels": [
            {"name": "python", "command": agent, "max": 5, "idle-timeout": "5s"},
            {"name": "java", "command": agent, "max": 4, "idle-timeout": "5s"},
            {"name": "docker", "atoms": ["linux"], "command": agent, "max": 4, "idle-timeout": "5s"},
        ],
        "limits": {"max-agents": 12, "launches-per-second": 10, "boot-timeout": "60s"},
        "api": {"listen": "127.0.0.1:0"},
        "daemon": {
            "id": "demo",
            "name-prefix": "demo",
            "tick": "0.5s",
            "reconcile-interval": "3s",
            "retire-grace": "5s",
        },
    }


def _ask(daemon: Any, op: str, **args: Any) -> Any:
    command = Command(op, args)
    daemon.engine.submit(command)
    return command.reply.result(timeout=10)


def run_demo(*, jobs: int = 36, build_seconds: float = 1.5, live: bool = False, timeout: float = 240.0) -> bool:
    from autoscaler.daemon import Daemon
    from autoscaler.testing.jenkins import SimJenkins

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="autoscaler-demo-") as tmp, SimJenkins() as sim:
        token_file = Path(tmp, "jenkins-token")
        token_file.write_text(sim.token)
        token_file.chmod(0o600)
        config_file = Path(tmp, "config.yaml")
        assert sim.zmq_endpoint is not None
        ce_port = free_port()
        sim.cloudevents_sink = f"http://127.0.0.1:{ce_port}/"
        config_file.write_text(
            yaml.safe_dump(
                demo_config(sim.url, sim.user, str(token_file), sim.zmq_endpoint, str(Path(tmp, "agents")), ce_port)
            )
        )
        for name, kind, label in WORKLOAD:
            sim.add_job(name, kind=kind, label=label, duration=build_seconds)  # type: ignore[arg-type]
        os.environ.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
        daemon = Daemon(load_config(str(config_file)))
        assert daemon.api is not None
        daemon.start()
        print(f"demo: simulated Jenkins at {sim.url}, daemon API at http://127.0.0.1:{daemon.api.port}/")
        print(f"demo: queueing {jobs} builds over 3 labels (one by expression 'linux && docker')\n")
        feeder = threading.Thread(target=_feed, args=(sim, jobs), daemon=True)
        feeder.start()
        deadline = time.monotonic() + timeout
        finished = False
        last_print = 0.0
        try:
            while time.monotonic() < deadline:
                done = sim.model.builds_done()
                status = _ask(daemon, "status")
                if live or time.monotonic() - last_print >= 3:
                    _show(daemon, sim, jobs, done, started, live)
                    last_print = time.monotonic()
                if done >= jobs and status["agents"] == 0:
                    finished = True
                    break
                time.sleep(0.5)
        finally:
            status = _ask(daemon, "status")
            pools = _ask(daemon, "pools")
            daemon.stop()
        leaked = daemon.driver.list()
        for handle in leaked:  # never leave processes behind, even after a failed demo
            daemon.driver.delete(handle.name, grace=2)
        ours = [n for n in sim.model.nodes if not n.endswith("-placeholder")]
        return _summary(sim, jobs, status, pools, leaked, ours, finished, time.monotonic() - started)


def _feed(sim: Any, jobs: int) -> None:
    """Queue the builds in a few bursts, as a busy morning would."""
    names = itertools.cycle([w[0] for w in WORKLOAD])
    for i in range(jobs):
        sim.trigger(next(names))
        if i % 12 == 11:
            time.sleep(2.0)


def _show(daemon: Any, sim: Any, jobs: int, done: int, started: float, live: bool) -> None:
    pools = _ask(daemon, "pools")
    queued = len(sim.model.queue)
    head = (
        f"t={time.monotonic() - started:5.1f}s  builds done {done}/{jobs}  queued {queued}  "
        f"agents in Jenkins {len([n for n in sim.model.nodes if not n.endswith('-placeholder')])}"
    )
    text = head + "\n" + tables.pools_table(pools)
    if live:
        text += "\n\n" + tables.events_table(_ask(daemon, "events", limit=8))
    if live:
        sys.stdout.write("\x1b[H\x1b[2J" + text + "\n")
        sys.stdout.flush()
    else:
        print(text + "\n", flush=True)


def _summary(
    sim: Any,
    jobs: int,
    status: dict[str, Any],
    pools: list[dict[str, Any]],
    leaked: list[Any],
    nodes_left: list[str],
    finished: bool,
    elapsed: float,
) -> bool:
    done = sim.model.builds_done()
    p50, p95 = status["queue_to_launch_p50"], status["queue_to_launch_p95"]
    lines = [
        "",
        "== autoscaler demo summary ==",
        f"jobs done              {done}/{jobs}",
        f"agents launched        {status['launched']}",
        f"agents retired         {status['retired']}",
        f"launch failures        {status['launch_failures']}",
        f"leaked agents          {len(leaked) + len(nodes_left)}"
        + (f"  ({', '.join([h.name for h in leaked] + nodes_left)})" if leaked or nodes_left else ""),
        f"queue->launch latency  p50 {_ms(p50)}  p95 {_ms(p95)}  (over {status['queue_to_launch_count']} launches)",
        f"wall time              {elapsed:.1f}s",
        "",
        tables.pools_table(pools),
    ]
    print("\n".join(lines))
    ok = finished and done >= jobs and not leaked and not nodes_left
    print("\nresult: " + ("OK" if ok else "FAILED"))
    return ok


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f} ms"


__all__ = ["demo_config", "run_demo"]
