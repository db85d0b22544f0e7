"""Randomized soak (seeded; never in CI): the real daemon with the local driver's agent processes
against the simulated Jenkins, a random workload, and one random fault of the matrix at a time,
for a random short window. Every second it checks: no build ABORTED (a busy agent killed), no
one-shot agent given a second build, the daemon up; at the end, once faults stop and the work
drains: every triggered build finished SUCCESS, no agent left. Exits 1 on any violation.

    python3 -m uv run python bench/soak.py --minutes 30 --seed 1
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.faults.harness

from autoscaler.testing.jenkins import SimJenkins
from autoscaler.testing.jenkins.model import Build
from autoscaler.testing.swarm_agent import command_line
from tests.e2e.harness import agent_processes
from tests.faults.harness import Fleet

# (name, kind, label, duration): "python" agents are one-shot, "shared" ones are reused
JOBS = [
    ("unit", "freestyle", "python", 0.3),
    ("quick", "pipeline", "python", 1.0),
    ("mid", "freestyle", "python", 2.5),
    ("slow", "pipeline", "python", 5.0),
    ("lint", "freestyle", "shared", 0.5),
    ("docs", "pipeline", "shared", 3.0),
]
ENDPOINTS = {
    "queue": ("GET", "/queue/api/json", False),
    "computers": ("GET", "/computer/api/json", False),
    "computer/*": ("GET", "/computer/", True),
    "crumb": ("GET", "/crumbIssuer/api/json", False),
    "POST computer/*": ("POST", "/computer/", True),
    "createSlave": ("POST", "/plugin/swarm/createSlave", False),
}
KINDS = ["401", "403", "500", "503", "reset", "hang", "not_json", "delay"]
MAX_PENDING = 150  # builds queued or running, at most
# Faults under which the daemon can neither take a node offline in Jenkins (it reads the node,
# then POSTs toggleOffline with a crumb) nor stop an agent Jenkins has not shown idle and offline:
# a one-shot agent may then take a second build (by design: that beats killing a busy agent). A
# pipeline's agent is seen busy only in /computer, so faults there blind the daemon to it as well.
DISARMING = {"computer/*", "POST computer/*", "crumb", "refuse", "restart", "token-rotation"}
BLINDING = DISARMING | {"computers"}
RECOVERY = 3.0  # seconds past a fault's end the daemon may take to catch up (backoff-max 2 s)
log = logging.getLogger("soak")


class Soak:
    def __init__(self, sim: SimJenkins, fleet: Fleet, seed: int) -> None:
        self.sim, self.fleet = sim, fleet
        self.faults_rng, self.work_rng = random.Random(seed), random.Random(seed + 1)
        self.stop = threading.Event()
        self.injected: Counter[str] = Counter()
        self.current, self.since = "none", 0.0
        self.history: list[tuple[float, float, str]] = []  # (on, off, name) in wall-clock time
        self.excused: list[str] = []
        self.violations: defaultdict[str, list[str]] = defaultdict(list)
        self.seen_results = 0
        self.reported_nodes: set[str] = set()
        self.tokens = 0
        self.started = time.monotonic()

    def violate(self, invariant: str, detail: str) -> None:
        at = time.monotonic() - self.started
        text = f"t={at:.1f}s fault={self.current}: {detail}"
        self.violations[invariant].append(text)
        log.error("soak: VIOLATION %s %s", invariant, text)

    # -- the workload ------------------------------------------------------------------------

    def workload(self) -> None:
        rate, change = 0.5, 0.0
        while not self.stop.is_set():
            if time.monotonic() >= change:
                rate, change = self.work_rng.uniform(0.1, 1.5), time.monotonic() + self.work_rng.uniform(10, 60)
            if self.stop.wait(self.work_rng.expovariate(rate)):
                return
            if self.fleet.triggered - self.fleet.finished() < MAX_PENDING:
                self.fleet.trigger(self.work_rng.choice(JOBS)[0])

    # -- the faults --------------------------------------------------------------------------

    def pick(self) -> tuple[str, Callable[[], None]]:
        """One random fault switched on; returns its name and what switches it off."""
        rng, sim = self.faults_rng, self.sim
        roll = rng.random()
        if roll < 0.06:
            sim.refuse()
            return "refuse", sim.accept
        if roll < 0.12:
            sim.restart()
            return "restart", lambda: None
        if roll < 0.18:
            self.tokens += 1
            token = f"rotated-{self.tokens}"
            sim.rotate_token(token)  # the file follows at the window's end, as a secret update would

            def update_file() -> None:
                (self.fleet.tmp / "jenkins-token").write_text(token + "\n")

            return "token-rotation", update_file
        where = rng.choice(sorted(ENDPOINTS))
        kind = rng.choice(KINDS)
        method, path, prefix = ENDPOINTS[where]
        if kind.isdigit():
            fault = sim.faults.add(method, path, prefix=prefix, status=int(kind))
        elif kind == "delay":
            fault = sim.faults.add(method, path, prefix=prefix, delay=rng.uniform(0.5, 3.0))
        else:
            reset, hang = kind == "reset", kind == "hang"
            fault = sim.faults.add(method, path, prefix=prefix, reset=reset, hang=hang, not_json=kind == "not_json")
        return f"{kind} {where}", lambda: sim.faults.remove(fault)

    def inject(self) -> None:
        while not self.stop.wait(self.faults_rng.uniform(1.0, 10.0)):
            name, undo = self.pick()
            window = self.faults_rng.uniform(0.5, 10.0)
            self.injected[name] += 1
            self.current, self.since = name, time.time()
            log.warning("soak: fault on: %s for %.1fs", name, window)
            self.stop.wait(window)
            undo()
            self.history.append((self.since, time.time(), name))
            self.current = "none"
            log.warning("soak: fault off: %s", name)

    # -- the invariants ----------------------------------------------------------------------

    def check(self) -> None:
        model, one_shot = self.sim.model, f"{self.fleet.id}-python-"
        with model.lock:
            fresh = list(zip(model.completed[self.seen_results :], model.results[self.seen_results :], strict=True))
            self.seen_results += len(fresh)
            builds = [*model.completed, *(b for n in model.nodes.values() for b in n.running)]
        per_node: defaultdict[str, list[Build]] = defaultdict(list)
        for build in builds:
            if build.node.startswith(one_shot):
                per_node[build.node].append(build)
        for build, result in fresh:
            if result == "ABORTED":
                self.violate("aborted", f"{describe(build)} on {build.node}")
                agent_log = self.fleet.tmp / "agents" / "logs" / f"{build.node}.log"
                said = agent_log.read_text(errors="replace")[-2000:] if agent_log.exists() else "(no log)"
                log.error("soak: %s said:\n%s", build.node, said)
        for node, ran in per_node.items():
            if len(ran) > 1 and node not in self.reported_nodes:
                self.reported_nodes.add(node)
                detail = f"one-shot {node} ran " + ", ".join(map(describe, ran))
                excuse = self.excuse(sorted(ran, key=lambda b: b.started))
                if excuse:
                    self.excused.append(f"{detail} under {excuse}")
                    log.warning("soak: second build under %s (excused): %s", excuse, detail)
                else:
                    self.violate("second_build", detail)
        self.check_up()

    def excuse(self, ran: list[Build]) -> str | None:
        """The faults that kept the daemon from taking the node offline between its first build's
        start and its second's, if there were any."""
        first, second = ran[0], ran[1]
        excusing = BLINDING if first.job.kind == "pipeline" else DISARMING
        current, since = self.current, self.since
        active = [(since, time.time(), current)] if current != "none" else []
        names = [
            name
            for on, off, name in [*self.history, *active]
            if name.split(" ", 1)[-1] in excusing and on <= second.started and off + RECOVERY >= first.started
        ]
        return " + ".join(names) or None

    def check_up(self) -> None:
        if not self.fleet.daemon.engine_running:
            self.violate("daemon_down", "engine thread not alive")
            return
        try:
            self.fleet.ask("status")
        except Exception as error:
            self.violate("daemon_down", f"status not answered: {error!r}")

    def drain(self, timeout: float) -> None:
        """Faults off, no more work: every build finishes, every agent retires and exits."""
        self.sim.accept()
        self.sim.faults.clear()
        (self.fleet.tmp / "jenkins-token").write_text(self.sim.token + "\n")
        log.warning("soak: draining %d builds", self.fleet.triggered - self.fleet.finished())
        try:
            self.fleet.wait_all_done(timeout)
        except TimeoutError as error:
            self.violate("drain", f"{error} (finished {self.fleet.finished()}/{self.fleet.triggered})")
        deadline = time.monotonic() + 10
        while agent_processes(self.fleet.id) and time.monotonic() < deadline:
            time.sleep(0.1)  # a retired agent's process group takes a moment to exit
        self.check()
        promise = self.fleet.promise()
        with self.sim.model.lock:
            results = Counter(self.sim.model.results)
        if promise.lost:
            self.violate("lost", f"{promise.lost} builds not SUCCESS; results {dict(results)}")
        if promise.leaked:
            self.violate("leaked", f"{promise.leaked} agent processes left: {agent_processes(self.fleet.id)}")
        if not promise.up:
            self.violate("daemon_down", "not up after the drain")

    # -- running it --------------------------------------------------------------------------

    def run(self, minutes: float) -> None:
        threads = [threading.Thread(target=f, name=f.__name__, daemon=True) for f in (self.workload, self.inject)]
        for thread in threads:
            thread.start()
        end, next_report = self.started + minutes * 60, self.started + 60
        while time.monotonic() < end:
            time.sleep(1.0)
            self.check()
            if time.monotonic() >= next_report:
                next_report += 60
                self.progress()
        self.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        self.drain(timeout=300)

    def progress(self) -> None:
        done, triggered = self.fleet.finished(), self.fleet.triggered
        print(
            f"[{(time.monotonic() - self.started) / 60:5.1f} min] builds {triggered} triggered, {done} finished, "
            f"{triggered - done} pending; agents {len(self.fleet.agents())}; faults {sum(self.injected.values())}; "
            f"violations {sum(len(v) for v in self.violations.values())}",
            flush=True,
        )


def describe(build: Build) -> str:
    def clock(at: float) -> str:
        return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"

    return f"{build.job.name} ({build.job.kind}) #{build.number} {clock(build.started)}-{clock(build.ends)}"


def summary(soak: Soak, minutes: float, seed: int, elapsed: float) -> int:
    kinds = Counter(name.split(" ")[0] for name in soak.injected.elements())
    print(f"\nsoak: {minutes:g} minutes (wall {elapsed / 60:.1f}), seed {seed}")
    print(f"builds: {soak.fleet.triggered} triggered, {soak.sim.model.builds_done()} finished SUCCESS")
    print(f"faults injected: {sum(soak.injected.values())}; by kind: {dict(sorted(kinds.items()))}")
    print("faults by kind and endpoint: " + ", ".join(f"{k}: {n}" for k, n in sorted(soak.injected.items())))
    invariants = ["aborted", "second_build", "daemon_down", "drain", "lost", "leaked"]
    total = sum(len(soak.violations[name]) for name in invariants)
    print(f"invariant violations: {total}")
    for name in invariants:
        found = soak.violations[name]
        print(f"  {name}: {len(found)}")
        for detail in found[:5]:
            print(f"    {detail}")
    print(f"second builds on one-shot agents while Jenkins could not be read or told (excused): {len(soak.excused)}")
    for detail in soak.excused[:5]:
        print(f"    {detail}")
    return 1 if total else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log", default=None, help="daemon and fault log (default: /tmp/soak-<seed>.log)")
    args = parser.parse_args()
    log_file = args.log or f"/tmp/soak-{args.seed}.log"
    logging.basicConfig(
        filename=log_file, level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"
    )
    print(f"soak: {args.minutes:g} minutes, seed {args.seed}, log {log_file}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, SimJenkins() as sim:
        sim.httpd.handle_error = lambda *_: log.info("sim: a request failed", exc_info=True)  # type: ignore[method-assign]
        for name, kind, label, duration in JOBS:
            sim.add_job(name, kind="pipeline" if kind == "pipeline" else "freestyle", label=label, duration=duration)
        labels = [
            {"name": "python", "command": command_line(retry=0.3), "max": 4},
            {"name": "shared", "command": command_line(retry=0.3), "max": 2, "reuse": True, "idle-timeout": "3s"},
        ]
        limits = {"max-agents": 6, "boot-timeout": "4s", "backoff-initial": "0.5s", "backoff-max": "2s"}
        with Fleet(sim, Path(tmp), labels=labels, limits=limits) as fleet:
            soak = Soak(sim, fleet, args.seed)
            soak.run(args.minutes)
            code = summary(soak, args.minutes, args.seed, time.monotonic() - started)
    return code


if __name__ == "__main__":
    sys.exit(main())
