"""The last lines of an agent's log, for saying why it stopped (``exited with code 1; last log
lines: ...``): read from the end of the file, bounded, on one line."""

from __future__ import annotations

import os
from pathlib import Path

MARK = "; last log lines: "
"""Between a driver's detail and the log lines it quotes (:func:`autoscaler.engine.failures.classify`
reads only what comes before)."""


def tail(path: Path, lines: int = 3, limit: int = 300) -> str:
    """The last ``lines`` non-empty lines of ``path`` joined with `` | ``, at most ``limit``
    characters (the end kept); ``""`` when the file is missing or empty."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    joined = " | ".join(kept)
    return joined if len(joined) <= limit else "…" + joined[-(limit - 1) :]


def with_tail(detail: str, path: Path) -> str:
    """``detail`` followed by the log's last lines, if it has any."""
    last = tail(path)
    return f"{detail}{MARK}{last}" if last else detail
