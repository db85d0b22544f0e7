"""The status page served at ``GET /``: one self-contained HTML document (inline CSS and
script, no external asset, works offline) that fetches ``/v1/*`` every few seconds and shows
pools, agents, waiting builds with their reasons, recent events, and a demand/supply sparkline
of the last hour (inline SVG, from ``/v1/history`` plus what the page sampled since it opened).

The page is a static shell (it carries no data), so it is served without a token; the data
calls send ``Authorization: Bearer <token>`` when the URL's fragment says ``#token=...`` (a
fragment never reaches the server or its logs). Everything from the daemon is inserted as text,
never as markup: build names and reasons come from Jenkins. The Content-Security-Policy allows
only this page's own inline script and style (by hash) and fetches to its own origin.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _inline(tag: str) -> str:
    match = re.search(f"<{tag}>(.*?)</{tag}>", HTML, re.DOTALL)
    assert match is not None, f"status.html has no <{tag}>"
    return match.group(1)


HTML = resources.files(__package__).joinpath("status.html").read_text(encoding="utf-8")
"""The page (``status.html`` next to this module), served as it is."""
CSP = "; ".join(
    [
        "default-src 'none'",
        f"script-src {_sha256(_inline('script'))}",
        f"style-src {_sha256(_inline('style'))}",
        "connect-src 'self'",
        "img-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
"""Only the page's own inline script and style (by hash) run; data comes from its own origin only."""
