"""Durations (``5s``, ``10m``, ``1h30m``) and Kubernetes quantities (``500m``, ``1Gi``)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["Duration", "Quantity", "format_duration", "parse_duration", "parse_quantity"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30``, ``"45s"``, ``"10m"``, ``"1h30m"``, ``"250ms"``; never negative."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 10m or 1h, got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a duration that is not negative, got {value}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 30s, 10m or 1h, got {value!r}")
    text = value.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"expected a duration like 30s, 10m or 1h30m, got {value!r}")
    return total


def format_duration(seconds: float) -> str:
    """Compact human form: ``45s``, ``12m``, ``3h5m``, ``2d4h``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60}s" if s % 60 and s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60}m" if (s % 3600) // 60 else f"{s // 3600}h"
    return f"{s // 86400}d{(s % 86400) // 3600}h"


_QUANTITY = re.compile(r"^([+]?\d+(?:\.\d+)?|[+]?\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e\d+)?$")


def parse_quantity(value: Any) -> str:
    """Validate a Kubernetes resource quantity and return it as text (``0.5`` -> ``"0.5"``)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a Kubernetes quantity like 500m or 1Gi, got {value!r}")
    text = str(value).strip()
    if not _QUANTITY.match(text):
        raise ValueError(f"expected a Kubernetes quantity like 500m, 2 or 1Gi, got {value!r}")
    try:
        if Decimal(_QUANTITY.match(text).group(1)) <= 0:  # type: ignore[union-attr]
            raise ValueError(f"expected a positive quantity, got {value!r}")
    except InvalidOperation as exc:  # pragma: no cover - the regex already rules this out
        raise ValueError(f"expected a Kubernetes quantity, got {value!r}") from exc
    return text


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
Quantity = Annotated[str, BeforeValidator(parse_quantity)]
