"""Why an agent failed, as one word from a fixed set: the ``reason`` label of
``autoscaler_agent_failures_total`` (a bounded set, so the metric's series stay few)."""

from __future__ import annotations

REASONS = (
    "image-pull",
    "oom-killed",
    "evicted",
    "unschedulable",
    "crash-loop",
    "container-error",
    "exit-code",
    "boot-timeout",
    "launch-error",
    "gone",
    "other",
)

_MARKERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("errimagepull", "imagepullbackoff", "invalidimagename", "errimageneverpull"), "image-pull"),
    (("oomkilled",), "oom-killed"),
    (("evicted",), "evicted"),
    (("unschedulable",), "unschedulable"),
    (("crashloopbackoff",), "crash-loop"),
    (("createcontainererror", "runcontainererror", "createcontainerconfigerror"), "container-error"),
    (("not online in jenkins after",), "boot-timeout"),
    (("exit code", "exited with code"), "exit-code"),
    (("is gone", "process is gone"), "gone"),
)


def classify(text: str) -> str:
    """The reason a failure's text names (``other`` when none)."""
    low = text.lower().split("; last log lines: ", 1)[0]  # what a log says is not the cause
    for markers, reason in _MARKERS:
        if any(m in low for m in markers):
            return reason
    return "other"


def explain(reason: str, comment: str, state: str) -> str:
    """What a retired failed agent's failure was: the retirement's reason, with where the agent
    was when it ran out of time (``not online in Jenkins after 5m (pending: unschedulable: ...)``)."""
    if not comment or comment in reason or comment in ("launch requested", "running"):
        return reason
    return f"{reason} ({state}: {comment})"
