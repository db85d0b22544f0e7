"""A new config taken into the engine's state (the engine swaps the config and its clients)."""

from __future__ import annotations

import logging

from autoscaler.config.models import Config
from autoscaler.engine.runtime import RuntimeState

log = logging.getLogger(__name__)


def refused(new: Config) -> bool:
    """A config the planner must never see: labels naming controllers it does not have (the
    loader refuses it too)."""
    missing = {lab.controller for lab in new.labels if lab.controller} - {c.name for c in new.controllers}
    if missing:
        log.error("reload refused: labels name unknown controllers %s", ", ".join(sorted(missing)))
    return bool(missing)


def apply(state: RuntimeState, old: Config, new: Config, wall: float) -> None:
    """Demand resolved again for the new labels, backoff kept for the labels still there, and
    the reload recorded with the labels it changed."""
    changed = [lab.name for lab in new.labels if lab not in old.labels]
    state.demand.reconfigure(new)
    names = {lab.name for lab in new.labels}
    state.backoff = {k: v for k, v in state.backoff.items() if k in names}
    state.record("reload", None, f"config reloaded; labels changed: {', '.join(changed) or 'none'}", wall)
