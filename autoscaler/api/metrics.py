"""Prometheus text exposition of the engine's counters and pools."""

from __future__ import annotations

from typing import Any

_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_STATES = ("requested", "pending", "booting", "ready", "busy", "retiring", "held", "failed")


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**kv: str) -> str:
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in kv.items()) + "}" if kv else ""


def render(data: dict[str, Any], plugin_counts: dict[tuple[str, str], int]) -> str:
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    family("autoscaler_agents", "gauge", "Agents by label and state.")
    for pool in data["pools"]:
        for state in _STATES:
            out.append(f"autoscaler_agents{_labels(label=pool['label'], state=state)} {pool[state]}")
    family("autoscaler_demand", "gauge", "Queued work per label.")
    for pool in data["pools"]:
        out.append(f"autoscaler_demand{_labels(label=pool['label'])} {pool['demand']}")
    family("autoscaler_backoff_seconds", "gauge", "Seconds until a failing label may launch again.")
    for pool in data["pools"]:
        out.append(f"autoscaler_backoff_seconds{_labels(label=pool['label'])} {pool['backoff_seconds']}")
    for key, name, help_text in (
        ("launched", "autoscaler_launches_total", "Agents launched."),
        ("retired", "autoscaler_retirements_total", "Agents retired and gone."),
        ("launch_failures", "autoscaler_launch_failures_total", "Launches the driver refused."),
        ("failures", "autoscaler_agent_failures_total", "Agents that failed before coming online."),
    ):
        family(name, "counter", help_text)
        for label, value in sorted(data[key].items()):
            out.append(f"{name}{_labels(label=label)} {value}")
    family("autoscaler_events_total", "counter", "Events received from listeners, by source and kind.")
    for key, value in sorted(data["events"].items()):
        source, kind = key.split("\x00")
        out.append(f"autoscaler_events_total{_labels(source=source, kind=kind)} {value}")
    family(
        "autoscaler_plugin_occurrences_total",
        "counter",
        "Notable occurrences counted by plugins (malformed input, ignored events).",
    )
    for (plugin, reason), value in sorted(plugin_counts.items()):
        out.append(f"autoscaler_plugin_occurrences_total{_labels(plugin=plugin, reason=reason)} {value}")
    family("autoscaler_io_errors_total", "counter", "Failed reads of Jenkins or the driver.")
    for kind, value in sorted(data["errors"].items()):
        out.append(f"autoscaler_io_errors_total{_labels(target=kind)} {value}")
    family("autoscaler_demand_unknown", "gauge", "1 while a demand listener cannot read its source.")
    for name in sorted(data["demand_errors"]):
        out.append(f"autoscaler_demand_unknown{_labels(listener=name)} 1")
    _histogram(
        out,
        "autoscaler_queue_to_launch_seconds",
        "From queued work to the launch made for it.",
        data["queue_to_launch"],
    )
    _histogram(out, "autoscaler_boot_seconds", "From launch to online in Jenkins.", data["boot_seconds"])
    family("autoscaler_ready", "gauge", "1 once the daemon has seen Jenkins and its agents.")
    out.append(f"autoscaler_ready {1 if data['ready'] else 0}")
    return "\n".join(out) + "\n"


def _histogram(out: list[str], name: str, help_text: str, values: list[float]) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} histogram")
    for bound in _BUCKETS:
        count = sum(1 for v in values if v <= bound)
        out.append(f'{name}_bucket{{le="{bound}"}} {count}')
    out.append(f'{name}_bucket{{le="+Inf"}} {len(values)}')
    out.append(f"{name}_sum {sum(values):.6f}")
    out.append(f"{name}_count {len(values)}")
