"""Polls never overlap: the demo's old flood ("maximum number of running instances reached") came
from APScheduler skipping a poll requested while one ran. Each job now runs on its own thread,
and "poll now" requests made during a run coalesce into one run after it."""

from __future__ import annotations

import threading

from autoscaler.timers import Job


def test_poll_now_requests_during_a_poll_coalesce_and_never_overlap() -> None:
    running = 0
    most = 0
    runs = 0
    lock = threading.Lock()
    in_poll = threading.Event()
    release = threading.Event()

    def poll() -> None:
        nonlocal running, most, runs
        with lock:
            running += 1
            most = max(most, running)
            runs += 1
        in_poll.set()
        release.wait(5)
        with lock:
            running -= 1

    job = Job("demand-0", 3600, poll)
    job.start()
    assert in_poll.wait(5)
    triggers = [threading.Thread(target=job.trigger) for _ in range(50)]
    for t in triggers:
        t.start()
    for t in triggers:
        t.join()
    in_poll.clear()
    release.set()  # the first poll ends; the 50 requests made during it are one more poll
    assert in_poll.wait(5)
    job.stop()
    assert most == 1
    assert runs == 2
