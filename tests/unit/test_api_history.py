"""The status page's pieces without a server: the history ring buffer and the page's policy."""

from __future__ import annotations

import base64
import hashlib
import re

from autoscaler.api import page
from autoscaler.api.history import History


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def pools(demand: int, busy: int, retiring: int = 0) -> list[dict[str, object]]:
    return [{"label": "python", "demand": demand, "busy": busy, "booting": 1, "retiring": retiring}]


def test_samples_are_spaced_merged_and_kept_for_the_window() -> None:
    clock = Clock()
    history = History(window=60.0, spacing=10.0, clock=clock)
    history.record(pools(demand=3, busy=1))
    clock.now += 4
    history.record(pools(demand=1, busy=2, retiring=5))  # merged: the larger demand, the newer supply
    (only,) = history.snapshot()["samples"]
    assert (only["demand"], only["supply"], only["labels"]) == (3, 3, {"python": [3, 3]})
    for _ in range(10):
        clock.now += 10
        history.record(pools(demand=0, busy=0))
    samples = history.snapshot()["samples"]
    assert all(clock.now - s["time"] <= 60 for s in samples) and len(samples) == 7
    clock.now += 3600  # nothing recorded for an hour: nothing shown
    assert history.snapshot()["samples"] == []


def test_the_page_loads_nothing_from_elsewhere_and_its_policy_allows_only_its_own_code() -> None:
    html = page.HTML
    without_svg_namespace = html.replace("http://www.w3.org/2000/svg", "")
    assert not re.search(r"https?://|\bsrc=|\bhref=|@import|url\(", without_svg_namespace)
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        (body,) = re.findall(f"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in page.CSP
    assert "default-src 'none'" in page.CSP and "connect-src 'self'" in page.CSP
    assert "unsafe-inline" not in page.CSP and "unsafe-eval" not in page.CSP
    assert "innerHTML" not in html  # daemon data (build names from Jenkins) goes in as text only
