"""The simulated Jenkins' state: nodes, jobs, the queue, builds, and the scheduler that runs them.

The queue's ``why`` follows Jenkins core's ``Queue.BuildableItem.getCauseOfBlockage`` (WIRE §1, §7):
no label at all while there is no agent node, the node's name when exactly one node carries the
label, ``All nodes of label ... are offline`` / ``There are no nodes with the label ...``, and
``Jenkins is about to shut down`` while quieting down.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from autoscaler import labels as label_expr

log = logging.getLogger(__name__)

BUILT_IN = "Built-In Node"


@dataclass
class Job:
    name: str
    kind: Literal["freestyle", "pipeline"]
    label: str | None
    """Label expression (freestyle: the job's; pipeline: the ``node('...')`` argument)."""
    duration: float
    next_number: int = 1
    quiet_period: float | None = None
    """Seconds a freestyle build waits in the quiet period (None: the controller's)."""
    blocked_by: str | None = None
    """While set, its queued builds are blocked (``Blocked by ‘X’``) and never start."""
    assignable: bool = True
    """False: its builds wait for an executor even when a matching node is free (a stalled queue)."""


@dataclass
class Build:
    job: Job
    number: int
    node: str
    started: float
    ends: float
    item_id: int


@dataclass
class Node:
    name: str
    labels: frozenset[str]
    """Assigned labels, the node's own name included."""
    executors: int
    mode: str = "EXCLUSIVE"
    kind: Literal["swarm", "jnlp"] = "swarm"
    description: str = ""
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    connected: bool = False
    temporarily_offline: bool = False
    offline_message: str = ""
    keep_disconnected: bool = False
    running: list[Build] = field(default_factory=list)
    disconnect: Callable[[], None] | None = None
    """Closes the agent's connection (set by the remoting server)."""
    connected_at: float = 0.0

    @property
    def offline(self) -> bool:
        return not self.connected or self.temporarily_offline

    def free_executors(self) -> int:
        return self.executors - len(self.running)


@dataclass
class Item:
    id: int
    job: Job
    since: float
    buildable_at: float
    pipeline_number: int | None = None
    """For a pipeline's node block: the number of the build that asked for it."""


@dataclass
class Sent:
    """One ZMQ event, for tests to inspect."""

    topic: str
    payload: dict[str, Any]


class JenkinsModel:
    """All state of the simulated controller; every method takes the lock."""

    def __init__(
        self,
        *,
        base_url: str,
        quiet_period: float = 0.0,
        quoted: bool = True,
        publish: Callable[[str, dict[str, Any]], None] = lambda t, p: None,
        cloud: Callable[[str, str, dict[str, Any]], None] = lambda t, s, d: None,
    ) -> None:
        self.base_url = base_url
        self.quiet_period = quiet_period
        self.quoted = quoted
        self.publish = publish
        self.cloud = cloud
        """Receives (type, source, data) of the CloudEvents the Jenkins cloudevents plugin would send."""
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.nodes: dict[str, Node] = {}
        self.jobs: dict[str, Job] = {}
        self.queue: list[Item] = []
        self.completed: list[Build] = []
        self.results: list[str] = []
        self.pipelines_running: dict[tuple[str, int], float] = {}
        self.quieting_down = False
        self._ids = itertools.count(1)
        self.node_history: list[str] = []
        """Every node name ever created, in order (tests use it to spot duplicates)."""
        self.deleted: list[str] = []

    # -- jobs and the queue -----------------------------------------------------------------

    def add_job(
        self,
        name: str,
        *,
        kind: Literal["freestyle", "pipeline"] = "freestyle",
        label: str | None = None,
        duration: float = 1.0,
        quiet_period: float | None = None,
        blocked_by: str | None = None,
        assignable: bool = True,
    ) -> Job:
        with self.lock:
            job = Job(
                name, kind, label, duration, quiet_period=quiet_period, blocked_by=blocked_by, assignable=assignable
            )
            self.jobs[name] = job
            return job

    def trigger(self, name: str) -> int:
        """Queue a build of job ``name``; returns the queue item id."""
        with self.lock:
            job = self.jobs[name]
            now = time.time()
            if job.kind == "pipeline":
                # the flyweight run starts at once on the built-in node and names no agent
                number = job.next_number
                job.next_number += 1
                self.pipelines_running[(job.name, number)] = now
                self._event("onStarted", job, number, "", None)
                item = Item(next(self._ids), job, now, now, pipeline_number=number)
                self._job_event("started", job, number)
            else:
                quiet = self.quiet_period if job.quiet_period is None else job.quiet_period
                item = Item(next(self._ids), job, now, now + quiet)
            self.queue.append(item)
            self._queue_event("entered_waiting", item, now)
            self.changed.notify_all()
            return item.id

    def why(self, item: Item, now: float) -> str:
        if self.quieting_down:
            return "Jenkins is about to shut down"
        if now < item.buildable_at:
            return f"In the quiet period. Expires in {item.buildable_at - now:.2f} sec"
        if item.job.blocked_by:
            return self._msg("Blocked by ‘{0}’", "Blocked by {0}", item.job.blocked_by)
        expression = item.job.label
        agents = list(self.nodes.values())
        if not agents or expression is None:
            return "Waiting for next available executor"
        parsed = label_expr.parse(expression)
        shown = label_expr.canonical(parsed)
        having = [n for n in agents if label_expr.matches(parsed, n.labels)]
        if all(n.offline for n in having):
            if len(having) == 1:
                return self._msg("‘{0}’ is offline", "{0} is offline", having[0].name)
            if not having:
                return f"There are no nodes with the label ‘{shown}’"
            return f"All nodes of label ‘{shown}’ are offline"
        target = having[0].name if len(having) == 1 else shown
        return self._msg(
            "Waiting for next available executor on ‘{0}’", "Waiting for next available executor on {0}", target
        )

    def _msg(self, quoted: str, bare: str, value: str) -> str:
        return (quoted if self.quoted else bare).format(value)

    def queue_json(self) -> dict[str, Any]:
        with self.lock:
            now = time.time()
            items = [self._item_json(item, now) for item in self.queue]
            return {"_class": "hudson.model.Queue", "discoverableItems": [], "items": items}

    def _item_json(self, item: Item, now: float) -> dict[str, Any]:
        job = item.job
        if job.kind == "pipeline":
            task: dict[str, Any] = {
                "_class": "org.jenkinsci.plugins.workflow.support.steps.ExecutorStepExecution$PlaceholderTask"
            }
        else:
            task = {
                "_class": "hudson.model.FreeStyleProject",
                "name": job.name,
                "url": f"{self.base_url}job/{job.name}/",
                "color": "blue",
                "labelExpression": job.label,
            }
        waiting = now < item.buildable_at
        blocked = not waiting and bool(job.blocked_by)
        kind = "WaitingItem" if waiting else "BlockedItem" if blocked else "BuildableItem"
        data: dict[str, Any] = {
            "_class": f"hudson.model.Queue${kind}",
            "actions": [],
            "blocked": blocked,
            "buildable": not waiting and not blocked,
            "id": item.id,
            "inQueueSince": int(item.since * 1000),
            "params": "",
            "stuck": not waiting and now - item.since > 1.0,
            "task": task,
            "url": f"queue/item/{item.id}/",
            "why": self.why(item, now),
        }
        if waiting:
            data["timestamp"] = int(item.buildable_at * 1000)
        else:
            data["buildableStartMilliseconds"] = int(item.buildable_at * 1000)
            if not blocked:
                data["pending"] = False
        return data

    # -- nodes ------------------------------------------------------------------------------

    def create_node(
        self,
        name: str,
        *,
        labels: str,
        executors: int,
        mode: str = "EXCLUSIVE",
        kind: Literal["swarm", "jnlp"] = "swarm",
        description: str = "",
        keep_disconnected: bool = False,
    ) -> Node:
        with self.lock:
            if name in self.nodes:
                raise KeyError(name)
            atoms = frozenset(labels.split()) | {name}
            node = Node(name, atoms, max(1, executors), mode, kind, description, keep_disconnected=keep_disconnected)
            self.nodes[name] = node
            self.node_history.append(name)
            self.changed.notify_all()
            return node

    def delete_node(self, name: str) -> bool:
        with self.lock:
            node = self.nodes.pop(name, None)
            if node is None:
                return False
            self.deleted.append(name)
            self._abort_all(node)
            disconnect = node.disconnect
            self.changed.notify_all()
        if disconnect is not None:
            disconnect()
        return True

    def connect(self, name: str, secret: str, disconnect: Callable[[], None]) -> str | None:
        """An agent connects; returns an error text or None."""
        with self.lock:
            node = self.nodes.get(name)
            if node is None:
                return f"no node named {name}"
            if not secrets.compare_digest(node.secret, secret):
                return "wrong secret"
            if node.connected:
                return f"{name} is already connected"
            node.connected = True
            node.connected_at = time.time()
            node.disconnect = disconnect
            self._node_event("online", node)
            self.changed.notify_all()
            return None

    def disconnected(self, name: str) -> None:
        with self.lock:
            node = self.nodes.get(name)
            if node is None:
                return
            node.connected = False
            node.disconnect = None
            self._abort_all(node)
            self._node_event("offline", node)
            if node.kind == "swarm" and not node.keep_disconnected:
                self.nodes.pop(name, None)
                self.deleted.append(name)
            self.changed.notify_all()

    def toggle_offline(self, name: str, message: str) -> bool:
        with self.lock:
            node = self.nodes.get(name)
            if node is None:
                return False
            node.temporarily_offline = not node.temporarily_offline
            node.offline_message = message if node.temporarily_offline else ""
            self.changed.notify_all()
            return True

    def computer_json(self, node: Node) -> dict[str, Any]:
        executors = []
        for i in range(node.executors):
            build = node.running[i] if i < len(node.running) else None
            executor: dict[str, Any] = {
                "_class": "hudson.model.Executor",
                "idle": build is None,
                "number": i,
                "progress": -1,
            }
            executor["currentExecutable"] = (
                None
                if build is None
                else {
                    "_class": "hudson.model.FreeStyleBuild"
                    if build.job.kind == "freestyle"
                    else "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                    "number": build.number,
                    "url": f"{self.base_url}job/{build.job.name}/{build.number}/",
                }
            )
            executors.append(executor)
        cause = None
        if node.temporarily_offline:
            cause = {"_class": "hudson.slaves.OfflineCause$UserCause", "description": node.offline_message}
        elif not node.connected:
            cause = None
        return {
            "_class": "hudson.slaves.SlaveComputer",
            "actions": [],
            "assignedLabels": [{"name": lab} for lab in sorted(node.labels)],
            "description": node.description,
            "displayName": node.name,
            "executors": executors,
            "icon": "symbol-computer",
            "idle": not node.running,
            "jnlpAgent": True,
            "launchSupported": False,
            "manualLaunchAllowed": True,
            "numExecutors": node.executors,
            "offline": node.offline,
            "offlineCause": cause,
            "offlineCauseReason": node.offline_message if node.temporarily_offline else "",
            "oneOffExecutors": [],
            "temporarilyOffline": node.temporarily_offline,
            "absoluteRemotePath": f"/home/jenkins/{node.name}" if node.connected else None,
        }

    def computers_json(self) -> dict[str, Any]:
        with self.lock:
            built_in = {
                "_class": "hudson.model.Hudson$MasterComputer",
                "actions": [],
                "assignedLabels": [{"name": "built-in"}],
                "description": "the Jenkins controller's built-in node",
                "displayName": BUILT_IN,
                "executors": [],
                "icon": "symbol-computer",
                "idle": True,
                "jnlpAgent": False,
                "launchSupported": True,
                "manualLaunchAllowed": True,
                "numExecutors": 0,
                "offline": False,
                "offlineCause": None,
                "offlineCauseReason": "",
                "oneOffExecutors": [],
                "temporarilyOffline": False,
                "absoluteRemotePath": None,
            }
            computers = [built_in] + [self.computer_json(n) for n in self.nodes.values()]
            busy = sum(len(n.running) for n in self.nodes.values())
            total = sum(n.executors for n in self.nodes.values() if not n.offline)
            return {
                "_class": "hudson.model.ComputerSet",
                "busyExecutors": busy,
                "computer": computers,
                "displayName": "Nodes",
                "totalExecutors": total,
            }

    # -- scheduling -------------------------------------------------------------------------

    def step(self, now: float) -> float:
        """Start and finish builds; returns seconds until the next timed change."""
        with self.lock:
            wake = 1.0
            for node in list(self.nodes.values()):
                for build in list(node.running):
                    if build.ends <= now:
                        node.running.remove(build)
                        self._finish(build, node)
                    else:
                        wake = min(wake, build.ends - now)
            if not self.quieting_down:
                for item in list(self.queue):
                    if now < item.buildable_at:
                        wake = min(wake, item.buildable_at - now)
                        continue
                    if item.job.blocked_by or not item.job.assignable:
                        continue
                    free = self._free_node(item)
                    if free is not None:
                        self.queue.remove(item)
                        self._start(item, free, now)
            return max(0.005, wake)

    def _free_node(self, item: Item) -> Node | None:
        expression = item.job.label
        parsed = label_expr.parse(expression) if expression else None
        for node in self.nodes.values():
            if node.offline or node.free_executors() <= 0:
                continue
            if parsed is None:
                if node.mode == "NORMAL":
                    return node
            elif label_expr.matches(parsed, node.labels):
                return node
        return None

    def _start(self, item: Item, node: Node, now: float) -> None:
        job = item.job
        number = item.pipeline_number if item.pipeline_number is not None else job.next_number
        if item.pipeline_number is None:
            job.next_number += 1
        build = Build(job, number, node.name, now, now + job.duration, item.id)
        node.running.append(build)
        self._queue_event("left", item, now)
        if job.kind == "freestyle":
            self._event("onStarted", job, number, node.name, None, node)
            self._job_event("started", job, number)

    def _finish(self, build: Build, node: Node, status: str = "SUCCESS") -> None:
        self.completed.append(build)
        self.results.append(status)
        job = build.job
        node_name = node.name if job.kind == "freestyle" else ""
        self.pipelines_running.pop((job.name, build.number), None)
        self._event("onCompleted", job, build.number, node_name, status, node)
        self._event("onFinalized", job, build.number, node_name, status, node)
        self._job_event("completed", job, build.number, status)
        self._job_event("finalized", job, build.number, status)
        self.changed.notify_all()

    # -- CloudEvents (the Jenkins cloudevents plugin's types and data, WIRE §4) ---------------

    def _queue_event(self, kind: str, item: Item, now: float) -> None:
        self.cloud(
            f"org.jenkinsci.queue.{kind}",
            f"job/{item.job.name}",
            {
                "ciUrl": self.base_url,
                "displayName": item.job.name,
                "entryTime": int(item.since * 1000),
                "exitTime": int(now * 1000) if kind == "left" else 0,
                "startedBy": "timer",
                "jenkinsQueueId": item.id,
                "status": kind.upper(),
                "duration": 0,
                "queueCauses": [{"reasonForWaiting": "In the quiet period. Expires in 0 ms", "type": "waiting"}],
            },
        )

    def _job_event(self, kind: str, job: Job, number: int, status: str | None = None) -> None:
        self.cloud(
            f"org.jenkinsci.job.{kind}",
            f"job/{job.name}",
            {
                "name": job.name,
                "displayName": job.name,
                "url": f"job/{job.name}/",
                "build": {
                    "fullUrl": f"{self.base_url}job/{job.name}/{number}/",
                    "number": number,
                    "phase": kind.upper(),
                    "status": status,
                    "url": f"job/{job.name}/{number}/",
                },
            },
        )

    def _node_event(self, kind: str, node: Node) -> None:
        self.cloud(
            f"org.jenkinsci.node.{kind}",
            f"node/{node.name}",
            {
                "numExecutors": node.executors,
                "nodeName": node.name,
                "cachedHostName": "127.0.0.1",
                "offlineCause": node.offline_message or None if kind == "offline" else None,
                "connectTime": int(node.connected_at * 1000),
            },
        )

    def _abort_all(self, node: Node) -> None:
        """Builds on a node that goes away are aborted, as Jenkins does."""
        for build in list(node.running):
            node.running.remove(build)
            self._finish(build, node, "ABORTED")

    def _event(
        self, topic: str, job: Job, number: int, node_name: str, status: str | None, node: Node | None = None
    ) -> None:
        phase = {"onStarted": "STARTED", "onCompleted": "COMPLETED", "onFinalized": "FINISHED"}[topic]
        build: dict[str, Any] = {
            "full_url": f"{self.base_url}job/{job.name}/{number}/",
            "number": number,
            "phase": phase,
            "url": f"job/{job.name}/{number}/",
            "node_name": node_name,
            "host_name": "jenkins-sim",
        }
        if status is not None:
            build["status"] = status
        if node is not None and node_name:
            build["node_description"] = node.description
        self.publish(topic, {"name": job.name, "url": f"job/{job.name}/", "build": build})

    def builds_done(self, status: str = "SUCCESS") -> int:
        with self.lock:
            return sum(1 for r in self.results if r == status)
