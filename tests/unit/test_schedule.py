"""Which min-ready is in force at a given minute: period boundaries, time zones, DST changes, and
the validation of bad cron strings and time zones (file, line and field)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from autoscaler.cli.main import cli
from autoscaler.config import load_config
from autoscaler.config.models import LabelConfig
from autoscaler.schedule import in_force, matches

WORKDAYS = "* 8-17 * * mon-fri"


def label(*entries: dict[str, Any], min_ready: int = 1) -> LabelConfig:
    return LabelConfig.model_validate({"name": "python", "min-ready": min_ready, "schedule": list(entries)})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


BERLIN = label(
    {"periods": [WORKDAYS], "timezone": "Europe/Berlin", "min-ready": 6},
    {"periods": ["* * * * sat,sun"], "min-ready": 0},
)
SOURCE = f'schedule[0] "{WORKDAYS}" Europe/Berlin'


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (utc(2026, 11, 30, 6, 59, 59), (1, "label")),  # Monday 07:59:59 in Berlin (UTC+1)
        (utc(2026, 11, 30, 7, 0, 0), (6, SOURCE)),  # 08:00 sharp
        (utc(2026, 11, 30, 7, 0, 30), (6, SOURCE)),  # any second of the minute
        (utc(2026, 11, 30, 16, 59, 59), (6, SOURCE)),  # 17:59:59
        (utc(2026, 11, 30, 17, 0, 0), (1, "label")),  # 18:00: the period is over
        (utc(2026, 12, 5, 12, 0, 0), (0, 'schedule[1] "* * * * sat,sun" UTC')),  # Saturday: UTC by default
        (utc(2026, 12, 6, 23, 59, 0), (0, 'schedule[1] "* * * * sat,sun" UTC')),  # Sunday 23:59 UTC = Mon 00:59 Berlin
        (utc(2026, 12, 7, 0, 0, 0), (1, "label")),
    ],
)
def test_first_matching_entry_sets_min_ready_else_the_label(when: datetime, expected: tuple[int, str]) -> None:
    assert in_force(BERLIN, when) == expected
    assert in_force(BERLIN, when.timestamp()) == expected  # the engine passes epoch seconds


def test_the_first_matching_entry_wins() -> None:
    lab = label({"periods": ["* * * * *"], "min-ready": 2}, {"periods": ["* * * * *"], "min-ready": 9})
    assert in_force(lab, utc(2026, 1, 1, 0, 0)) == (2, 'schedule[0] "* * * * *" UTC')


def test_any_period_of_an_entry_matches() -> None:
    lab = label({"periods": ["0-29 9 * * *", "* 21 * * *"], "min-ready": 4})
    assert in_force(lab, utc(2026, 1, 1, 9, 15)) == (4, 'schedule[0] "0-29 9 * * *" UTC')
    assert in_force(lab, utc(2026, 1, 1, 9, 30)) == (1, "label")
    assert in_force(lab, utc(2026, 1, 1, 21, 59)) == (4, 'schedule[0] "* 21 * * *" UTC')


def test_no_time_or_no_schedule_keeps_the_labels_own() -> None:
    assert in_force(BERLIN, None) == (1, "label")
    assert in_force(label(min_ready=3), utc(2026, 11, 30, 9, 0)) == (3, "label")


def test_spring_forward_moves_the_period_by_an_hour_in_utc() -> None:
    # Europe/Berlin: Sunday 2026-03-29 02:00 CET -> 03:00 CEST. 08:00 local is 07:00 UTC the day
    # before and 06:00 UTC that day.
    assert not matches("* 8-17 * * *", "Europe/Berlin", utc(2026, 3, 28, 6, 59))
    assert matches("* 8-17 * * *", "Europe/Berlin", utc(2026, 3, 28, 7, 0))
    assert not matches("* 8-17 * * *", "Europe/Berlin", utc(2026, 3, 29, 5, 59))
    assert matches("* 8-17 * * *", "Europe/Berlin", utc(2026, 3, 29, 6, 0))
    assert matches("* 8-17 * * *", "Europe/Berlin", utc(2026, 3, 29, 15, 59))
    assert not matches("* 8-17 * * *", "Europe/Berlin", utc(2026, 3, 29, 16, 0))
    # 02:30 does not exist that night: a period at that time never matches
    assert not any(matches("30 2 * * *", "Europe/Berlin", utc(2026, 3, 29, 0, m)) for m in range(0, 60))
    assert not any(matches("30 2 * * *", "Europe/Berlin", utc(2026, 3, 29, 1, m)) for m in range(0, 60))


def test_fall_back_moves_the_period_back_and_a_doubled_hour_matches_twice() -> None:
    # Sunday 2026-10-25 03:00 CEST -> 02:00 CET: 18:00 local is 16:00 UTC the day before, 17:00 UTC that day.
    assert matches("* 8-17 * * *", "Europe/Berlin", utc(2026, 10, 24, 15, 59))
    assert not matches("* 8-17 * * *", "Europe/Berlin", utc(2026, 10, 24, 16, 0))
    assert matches("* 8-17 * * *", "Europe/Berlin", utc(2026, 10, 25, 16, 59))
    assert not matches("* 8-17 * * *", "Europe/Berlin", utc(2026, 10, 25, 17, 0))
    # 02:30 local happens twice: 00:30 UTC (CEST) and 01:30 UTC (CET)
    hits = [
        (h, m)
        for h in range(0, 3)
        for m in range(60)
        if matches("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, h, m))
    ]
    assert hits == [(0, 30), (1, 30)]


# -- validation: the file, the line and the field -------------------------------------------------

BAD = """\
controllers:
  - url: http://j/
labels:
  - name: python
    schedule:
      - periods: ["* 8-18 * * mon-fri", "* 25 * * *"]
        timezone: Europe/Berlin
        min-ready: 6
      - periods:
          - "* * * * sunday-ish"
        timezone: Mars/Olympus
        min-ready: 0
      - {periods: [], min-ready: -1}
"""


def validate(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["config", "validate", "-c", str(path)])
    return result.exit_code, result.output


def test_bad_cron_strings_and_time_zones_name_file_line_and_field(tmp_path: Path) -> None:
    code, out = validate(tmp_path, BAD)
    f = tmp_path / "config.yaml"
    assert code == 1
    assert (
        f"{f}:6: labels[0].schedule[0].periods[1]: not a valid cron expression '* 25 * * *': "
        "Error validating expression '25': the last value (25) is higher than the maximum value (23)"
    ) in out
    assert f"{f}:10: labels[0].schedule[1].periods[0]: not a valid cron expression '* * * * sunday-ish'" in out
    assert (
        f"{f}:11: labels[0].schedule[1].timezone: unknown time zone 'Mars/Olympus' "
        "(expected an IANA name like Europe/Berlin or UTC)"
    ) in out
    assert f"{f}:13: labels[0].schedule[2].periods: expected at least one entry" in out
    assert f"{f}:13: labels[0].schedule[2].min-ready: expected a number >= 0, got -1" in out


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ('{periods: ["* * *"], min-ready: 1}', "periods[0]", "Wrong number of fields; got 3, expected 5"),
        ('{periods: ["* * * * *"], timezone: Europe, min-ready: 1}', "timezone", "unknown time zone 'Europe'"),
        ('{periods: ["* * * * *"]}', "min-ready", "required key is missing"),
        ('{periods: "* * * * *", min-ready: 1}', "periods", "expected a list"),
        ('{period: ["* * * * *"], min-ready: 1}', "period", "unknown key (did you mean 'periods'?)"),
    ],
)
def test_each_bad_field_is_named(tmp_path: Path, entry: str, field: str, message: str) -> None:
    text = f"controllers:\n  - url: http://j/\nlabels:\n  - name: python\n    schedule:\n      - {entry}\n"
    code, out = validate(tmp_path, text)
    assert code == 1
    assert f"{tmp_path / 'config.yaml'}:6: labels[0].schedule[0].{field}: " in out
    assert message in out


def test_a_good_schedule_validates(tmp_path: Path) -> None:
    text = (
        "controllers:\n  - url: http://j/\nlabels:\n  - name: python\n    schedule:\n"
        '      - {periods: ["* 8-18 * * mon-fri"], timezone: Europe/Berlin, min-ready: 6}\n'
        '      - {periods: ["* * * * sat,sun"], min-ready: 0}\n'
    )
    code, out = validate(tmp_path, text)
    assert code == 0, out


def test_the_readme_example_validates_and_means_what_the_readme_says(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### Warm pools on a schedule", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    code, out = validate(tmp_path, "controllers:\n  - url: http://j/\n" + example)
    assert code == 0, out
    lab = load_config(str(tmp_path / "config.yaml")).config.labels[0]
    assert in_force(lab, utc(2026, 11, 30, 7, 0)) == (6, 'schedule[0] "* 8-18 * * mon-fri" Europe/Berlin')  # 08:00
    assert in_force(lab, utc(2026, 11, 30, 17, 59)) == (6, 'schedule[0] "* 8-18 * * mon-fri" Europe/Berlin')  # 18:59
    assert in_force(lab, utc(2026, 11, 30, 18, 0)) == (1, "label")
    assert in_force(lab, utc(2026, 12, 5, 9, 0)) == (0, 'schedule[1] "* * * * sat,sun" UTC')


@pytest.mark.parametrize(
    ("schedule", "warned"), [("", True), ('    schedule: [{periods: ["* 8-18 * * *"], min-ready: 2}]\n', False)]
)
def test_a_scheduled_warm_pool_counts_as_seen_from_zero(tmp_path: Path, schedule: str, warned: bool) -> None:
    """Pipeline jobs are seen only through a warm agent: a schedule that keeps one answers the warning."""
    text = (
        "controllers:\n  - url: http://j/\ndemand-listeners:\n  - {type: jenkins-queue, label-source: why}\n"
        f"labels:\n  - name: python\n{schedule}"
    )
    code, out = validate(tmp_path, text)
    assert code == 0, out
    assert ("cannot be seen from zero agents" in out) is warned, out
