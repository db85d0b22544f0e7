"""Warm pools on a schedule: which ``min-ready`` is in force for a label at a given wall-clock time.

A label's ``schedule`` is a list of entries, each with cron expressions (``periods``), a time zone
and a ``min-ready``. The first entry with a period that matches the current minute sets the
label's ``min-ready``; when none matches, the label's own ``min-ready`` holds.

A period matches a minute when its cron trigger (APScheduler's ``CronTrigger``, in the entry's
time zone; UTC when the entry names none) fires at the start of that minute. Daylight-saving
changes follow the trigger: a local time that does not exist (02:30 on the spring-forward day
in Europe/Berlin) never matches, one that happens twice (fall-back) matches both times.

Pure: no clock is read here; the caller passes the time. Nothing here imports the config
models (they import the checks below to validate a config).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]  # APScheduler 3 ships no types

__all__ = ["DEFAULT_TIMEZONE", "check_cron", "check_timezone", "in_force", "matches", "minute_of"]

DEFAULT_TIMEZONE = "UTC"
"""The time zone of an entry that names none (the daemon's local zone differs between hosts and
containers; UTC does not)."""

_TICK = timedelta(microseconds=1)


class Entry(Protocol):
    """One ``schedule`` entry of a label (:class:`autoscaler.config.models.ScheduleEntry`)."""

    @property
    def periods(self) -> Sequence[str]: ...

    @property
    def timezone(self) -> str | None: ...

    @property
    def min_ready(self) -> int: ...


class Scheduled(Protocol):
    """A label with its own ``min-ready`` and its ``schedule`` (:class:`autoscaler.config.models.LabelConfig`)."""

    @property
    def min_ready(self) -> int: ...

    @property
    def schedule(self) -> Sequence[Entry]: ...


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone (``Europe/Berlin``, ``UTC``); ValueError otherwise."""
    _zone(name)
    return name


def check_cron(expr: str) -> str:
    """``expr`` if it is a five-field crontab expression APScheduler accepts; ValueError otherwise."""
    try:
        CronTrigger.from_crontab(expr, timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"not a valid cron expression {expr!r}: {exc}") from None
    return expr


def minute_of(wall: float | datetime) -> datetime:
    """The start of the minute holding ``wall`` (epoch seconds or an aware datetime), in UTC."""
    when = datetime.fromtimestamp(wall, UTC) if isinstance(wall, int | float) else wall.astimezone(UTC)
    return when.replace(second=0, microsecond=0)


def matches(expr: str, timezone: str | None, wall: float | datetime) -> bool:
    """Whether cron ``expr`` (in ``timezone``, default UTC) fires at the start of ``wall``'s minute."""
    return _matches(expr, timezone or DEFAULT_TIMEZONE, minute_of(wall))


def in_force(label: Scheduled, wall: float | datetime | None) -> tuple[int, str]:
    """The ``min-ready`` in force for ``label`` at ``wall``, and where it comes from: the first
    matching entry (``schedule[0] "* 8-18 * * mon-fri" Europe/Berlin``) or ``label``.
    ``wall=None``: no time known, the label's own value."""
    if wall is not None:
        minute = minute_of(wall)
        for i, entry in enumerate(label.schedule):
            zone = entry.timezone or DEFAULT_TIMEZONE
            for expr in entry.periods:
                if _matches(expr, zone, minute):
                    return entry.min_ready, f'schedule[{i}] "{expr}" {zone}'
    return label.min_ready, "label"


@functools.lru_cache(maxsize=4096)
def _matches(expr: str, zone: str, minute: datetime) -> bool:
    """Planning runs many times a minute; each (period, minute) is decided once."""
    fire: datetime | None = _trigger(expr, zone).get_next_fire_time(None, minute - _TICK)
    return fire is not None and fire.astimezone(UTC) == minute


@functools.lru_cache(maxsize=256)
def _trigger(expr: str, zone: str) -> CronTrigger:
    return CronTrigger.from_crontab(expr, timezone=_zone(zone))


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory such as "Europe"
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name like Europe/Berlin or UTC)") from None
