"""``autoscaler demo``: the whole loop on one machine, on embedded defaults.

A simulated Jenkins (``autoscaler.testing``) with freestyle and pipeline jobs over three labels
(one asked for by a label expression), the real daemon with the local driver launching
simulated swarm agents, and ZMQ build events. Ends with a summary; returns whether every job
ran and no agent leaked. Quiet: only the demo's own lines reach the screen (the daemon's errors
too; ``--log-level`` shows more). ``--api`` serves the API over TCP as well (the status page),
``--keep-running`` keeps everything up after the summary for the CLI tour.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autoscaler.cli import tables
from autoscaler.config.loader import load_config
from autoscaler.demo_report import SAMPLE_EVERY, Latencies, Progress, latency_lines, phase_lines, unfinished
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


UNSERVABLE = ("gpu-train", "freestyle", "gpu")
"""A job asking for a label no pool serves (``--unservable``, to see how the demo fails)."""


@dataclass(frozen=True)
class DemoOptions:
    jobs: int = 36
    build_seconds: float = 1.5
    live: bool = False
    timeout: float = 240.0
    api: str | None = None
    """``host:port`` to serve the API over TCP too (default: a free port on 127.0.0.1)."""
    keep_running: bool = False
    unservable: bool = False
    log_level: str = "error"


def demo_config(
    sim_url: str, user: str, token_file: str, zmq: str, work_dir: str, ce_port: int, **api: Any
) -> dict[str, Any]:
    agent = command_line()
    return {
        "controllers": [
            {
                "name": "demo",
                "url": sim_url,
                "user": user,
                "token-file": token_file,
                "agent-user": "demo-agent",  # agents get their own credential, never the daemon's
                "agent-token-file": str(Path(token_file).with_name("agent-token")),
            }
        ],
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
        "api": dict(api),
        "daemon": {
            "id": "demo",
            "name-prefix": "demo",
            "tick": "0.5s",
            "reconcile-interval": "3s",
            "retire-grace": "5s",
        },
    }


def quiet_logging(level: str) -> None:
    """At the default level only the daemon's errors reach the screen; no library's chatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    if level == "error":
        handler.addFilter(lambda record: record.name == "autoscaler" or record.name.startswith("autoscaler."))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))


def _ask(daemon: Any, op: str, **args: Any) -> Any:
    command = Command(op, args)
    daemon.engine.submit(command)
    return command.reply.result(timeout=10)


def run_demo(options: DemoOptions | None = None, **kwargs: Any) -> bool:
    """Run the demo; returns whether every job ran and no agent leaked."""
    from autoscaler.testing.jenkins import SimJenkins

    opts = options or DemoOptions(**kwargs)
    quiet_logging(opts.log_level)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="autoscaler-demo-") as tmp, SimJenkins() as sim:
        daemon, hint = _start(sim, Path(tmp), opts)
        jobs = opts.jobs + (1 if opts.unservable else 0)
        print(f"demo: simulated Jenkins at {sim.url}")
        print(hint)
        print(f"demo: queueing {jobs} builds over 3 labels (one by expression 'linux && docker')\n", flush=True)
        threading.Thread(target=_feed, args=(sim, opts), daemon=True).start()
        latencies, sampling = Latencies(), threading.Event()
        threading.Thread(target=_sample, args=(daemon, latencies, sampling), daemon=True).start()
        try:
            finished, stuck = _watch(daemon, sim, jobs, opts, started, hint)
        finally:
            sampling.set()
            seen = _seen(daemon)
        if opts.keep_running:
            _summary(sim, jobs, seen, None, [], finished, stuck, latencies, time.monotonic() - started)
            _keep_running(hint)
            seen = _seen(daemon)
        daemon.stop()
        leaked = daemon.driver.list()
        for handle in leaked:  # never leave processes behind, even after a failed demo
            daemon.driver.delete(handle.name, grace=2)
        ours = [n for n in sim.model.nodes if not n.endswith("-placeholder")]
        return _summary(sim, jobs, seen, leaked, ours, finished, stuck, latencies, time.monotonic() - started)


def _seen(daemon: Any) -> dict[str, Any]:
    """What the summary reads of the daemon before it stops: status, pools, start-up phases."""
    usage = _ask(daemon, "usage", since=86400.0)
    return {"status": _ask(daemon, "status"), "pools": _ask(daemon, "pools"), "startup": usage["startup"]}


def _start(sim: Any, tmp: Path, opts: DemoOptions) -> tuple[Any, str]:
    from autoscaler.daemon import Daemon

    token_file = tmp / "jenkins-token"
    token_file.write_text(sim.token)
    sim.agent_users["demo-agent"] = "agent-" + secrets.token_hex(8)
    (tmp / "agent-token").write_text(sim.agent_users["demo-agent"])
    for secret in (token_file, tmp / "agent-token"):
        secret.chmod(0o600)
    assert sim.zmq_endpoint is not None
    ce_port = free_port()
    sim.cloudevents_sink = f"http://127.0.0.1:{ce_port}/"
    socket = str(tmp / "api.sock")
    listen = opts.api or f"127.0.0.1:{free_port()}"
    config = demo_config(
        sim.url, sim.user, str(token_file), sim.zmq_endpoint, str(tmp / "agents"), ce_port, socket=socket, listen=listen
    )
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    for name, kind, label in WORKLOAD + ((UNSERVABLE,) if opts.unservable else ()):
        sim.add_job(name, kind=kind, label=label, duration=opts.build_seconds)
    os.environ.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    daemon = Daemon(load_config(str(tmp / "config.yaml")))
    daemon.start()
    assert daemon.api is not None
    hint = (
        f"demo: status page http://{listen.rsplit(':', 1)[0]}:{daemon.api.port}/   try, in another terminal:\n"
        f"      AUTOSCALER_API=unix://{socket} autoscaler pools   (agents, demand, events, why JOB, hold NAME)"
    )
    return daemon, hint


def _feed(sim: Any, opts: DemoOptions) -> None:
    """Queue the builds in a few bursts, as a busy morning would."""
    names = itertools.cycle([w[0] for w in WORKLOAD])
    if opts.unservable:
        sim.trigger(UNSERVABLE[0])
    for i in range(opts.jobs):
        sim.trigger(next(names))
        if i % 12 == 11:
            time.sleep(2.0)


def _sample(daemon: Any, latencies: Latencies, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            latencies.sample(_ask(daemon, "pools"), _ask(daemon, "agents"), time.time())
        except Exception:  # the daemon is stopping
            return
        stop.wait(SAMPLE_EVERY)


def _watch(daemon: Any, sim: Any, jobs: int, opts: DemoOptions, started: float, hint: str) -> tuple[bool, str | None]:
    """Show progress until every build is done and every agent retired (True), or until nothing
    can progress or the timeout (False, and why)."""
    deadline = time.monotonic() + opts.timeout
    progress = Progress(stall_after=max(15.0, 4 * opts.build_seconds))
    last_print = 0.0
    while time.monotonic() < deadline:
        done = sim.model.builds_done()
        status, pools = _ask(daemon, "status"), _ask(daemon, "pools")
        if opts.live or time.monotonic() - last_print >= 3:
            _show(daemon, sim, jobs, done, started, opts.live, pools, hint)
            last_print = time.monotonic()
        if done >= jobs and status["agents"] == 0:
            return True, None
        unserved = [i for i in _ask(daemon, "demand")["items"] if i.get("label") is None]
        why = progress.stuck(sim, pools, len(unserved))
        if why:
            return False, why
        time.sleep(0.5)
    return False, f"not done after --timeout {opts.timeout:.0f}s"


def _keep_running(hint: str) -> None:
    """Serve until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"\ndemo: still running for the CLI tour; Ctrl-C to stop.\n{hint}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("\ndemo: stopping")


def _show(
    daemon: Any, sim: Any, jobs: int, done: int, started: float, live: bool, pools: list[dict[str, Any]], hint: str
) -> None:
    queued = len(sim.model.queue)
    head = (
        f"t={time.monotonic() - started:5.1f}s  builds done {done}/{jobs}  queued {queued}  "
        f"agents in Jenkins {len([n for n in sim.model.nodes if not n.endswith('-placeholder')])}"
    )
    text = head + "\n" + tables.pools_table(pools)
    if live:
        text = hint + "\n\n" + text + "\n\n" + tables.events_table(_ask(daemon, "events", limit=8))
        sys.stdout.write("\x1b[H\x1b[2J" + text + "\n")
        sys.stdout.flush()
    else:
        print(text + "\n", flush=True)


def _summary(
    sim: Any,
    jobs: int,
    seen: dict[str, Any],
    leaked: list[Any] | None,
    nodes_left: list[str],
    finished: bool,
    stuck: str | None,
    latencies: Latencies,
    elapsed: float,
) -> bool:
    """The summary; ``leaked`` None: an interim one (``--keep-running``), before the daemon stops."""
    status = seen["status"]
    done = sim.model.builds_done()
    lost = [h.name for h in leaked or []] + nodes_left
    lines = [
        "",
        "== autoscaler demo summary ==",
        f"jobs done              {done}/{jobs}",
        f"agents launched        {status['launched']}",
        f"agents retired         {status['retired']}",
        f"launch failures        {status['launch_failures']}",
        f"leaked agents          {len(lost)}" + (f"  ({', '.join(lost)})" if lost else ""),
        *latency_lines(status, latencies),
        f"wall time              {elapsed:.1f}s",
        "",
        tables.pools_table(seen["pools"]),
        "",
        *phase_lines(seen["startup"]),
    ]
    left = unfinished(sim)
    if stuck or left:
        lines += ["", f"stopped: {stuck}" if stuck else "unfinished builds:", *(f"  {line}" for line in left)]
    if leaked is None:
        lines = [line for line in lines if not line.startswith("leaked agents")]
    print("\n".join(lines), flush=True)
    if leaked is None:
        return False
    ok = finished and done >= jobs and not lost
    print("\nresult: " + ("OK" if ok else "FAILED"), flush=True)
    return ok


__all__ = ["DemoOptions", "demo_config", "run_demo"]
