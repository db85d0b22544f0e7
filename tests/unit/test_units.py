"""Durations and Kubernetes quantities."""

from __future__ import annotations

import pytest

from autoscaler.config.units import format_duration, parse_duration, parse_quantity


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5), ("10m", 600), ("1h30m", 5400), ("250ms", 0.25), (30, 30), ("2d", 172800), ("1.5s", 1.5)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "-1", "5 s s", True, None, [1]])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["500m", "1Gi", "2", "0.5", "1.5Gi", "100M", "1e3"])
def test_quantities(text: str) -> None:
    assert parse_quantity(text) == text


@pytest.mark.parametrize("text", ["lots", "1GB", "-1", "0", "", "1 Gi"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_format_duration_is_compact() -> None:
    assert [format_duration(s) for s in (5, 90, 3600, 3900, 90000)] == ["5s", "1m30s", "1h", "1h5m", "1d1h"]
