"""Translate a KubeStack (2015) config into the current format, warning about inline secrets."""

from __future__ import annotations

from typing import Any

from autoscaler.config.yamlpos import Path

KUBESTACK_KEYS = frozenset({"jenkins", "kubernetes", "image"})
CATCH_ALL = "kubestack"
"""Name of the one pool a KubeStack config without ``labels:`` gets."""
_TYPE_NAMES = {"jenkins_queue": "jenkins-queue"}


def is_kubestack(data: dict[str, Any]) -> bool:
    """A KubeStack config has a top-level ``jenkins`` section (and no ``controllers``)."""
    return "jenkins" in data and "controllers" not in data


def translate(data: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[Path, str]], dict[Path, Path]]:
    """Return the new-format dict, the warnings (path, message) and a map new path -> old path,
    so errors in the translated config still point at the user's lines."""
    out: dict[str, Any] = {}
    warnings: list[tuple[Path, str]] = []
    origin: dict[Path, Path] = {}
    known = {"jenkins", "kubernetes", "image", "demand-listeners", "destroy-listeners", "labels"}
    for key, value in data.items():
        if key not in known:
            out[key] = value  # let the core model report it (or accept a new-format key)
            origin[(key,)] = (key,)
    _controller(data.get("jenkins"), out, warnings, origin)
    _driver(data.get("kubernetes"), out, warnings, origin)
    for section in ("demand-listeners", "destroy-listeners"):
        _listeners(section, data.get(section), out, origin)
    if "labels" not in data and data.get("image") is not None:
        _catch_all(data["image"], out, warnings, origin)
    else:
        _labels(data.get("labels"), data.get("image"), out, origin)
    return out, warnings, origin


Out = dict[str, Any]
Warnings = list[tuple[Path, str]]
Origin = dict[Path, Path]


def _controller(jenkins: Any, out: Out, warnings: Warnings, origin: Origin) -> None:
    if isinstance(jenkins, dict):
        controller: dict[str, Any] = {"name": "main"}
        renames = {"external_url": "url", "url": "url", "internal_url": "agent-url", "user": "user"}
        for old, new in renames.items():
            if old in jenkins:
                controller[new] = jenkins[old]
                origin[("controllers", 0, new)] = ("jenkins", old)
        for key in jenkins:
            if key not in renames and key != "pass":
                controller[key] = jenkins[key]
                origin[("controllers", 0, key)] = ("jenkins", key)
        if "pass" in jenkins:
            controller["token"] = jenkins["pass"]
            origin[("controllers", 0, "token")] = ("jenkins", "pass")
            warnings.append(
                (
                    ("jenkins", "pass"),
                    "inline Jenkins password; move it to a file and use "
                    "controllers[].token-file (readable only by the daemon)",
                )
            )
        out["controllers"] = [controller]
        origin[("controllers",)] = ("jenkins",)
        origin[("controllers", 0)] = ("jenkins",)
    else:
        out["controllers"] = jenkins


def _driver(kube: Any, out: Out, warnings: Warnings, origin: Origin) -> None:
    if isinstance(kube, dict):
        driver: dict[str, Any] = {"type": "kubernetes"}
        for key, value in kube.items():
            new = str(key).replace("_", "-")
            driver[new] = value
            origin[("driver", new)] = ("kubernetes", key)
        if "api_key" in kube:
            warnings.append(
                (
                    ("kubernetes", "api_key"),
                    "inline Kubernetes API key; use a kubeconfig file or the in-cluster service account instead",
                )
            )
        out["driver"] = driver
        origin[("driver",)] = ("kubernetes",)


def _listeners(section: str, entries: Any, out: Out, origin: Origin) -> None:
    if not isinstance(entries, list):
        if entries is not None:
            out[section] = entries
        return
    new_entries = []
    for i, entry in enumerate(entries):
        origin[(section, i)] = (section, i)
        if not isinstance(entry, dict):
            new_entries.append(entry)
            continue
        new = dict(entry)
        for k in entry:
            origin[(section, i, k)] = (section, i, k)
        kind = new.get("type")
        if isinstance(kind, str):
            new["type"] = _TYPE_NAMES.get(kind, kind)
        if new.get("type") == "zmq" and "host" in new:
            host, port = new.pop("host"), new.pop("port", 8888)
            new["endpoints"] = [f"tcp://{host}:{port}"]
            origin[(section, i, "endpoints")] = (section, i, "host")
        new_entries.append(new)
    out[section] = new_entries


def _labels(labels: Any, image: Any, out: Out, origin: Origin) -> None:
    if isinstance(labels, list):
        new_labels = []
        for i, lab in enumerate(labels):
            origin[("labels", i)] = ("labels", i)
            item = dict(lab) if isinstance(lab, dict) else lab
            if isinstance(item, dict):
                for k in item:
                    origin[("labels", i, k)] = ("labels", i, k)
                if image is not None and "image" not in item:
                    item["image"] = image
            new_labels.append(item)
        out["labels"] = new_labels
    elif labels is not None:
        out["labels"] = labels


def _catch_all(image: Any, out: Out, warnings: Warnings, origin: Origin) -> None:
    """KubeStack ran one image for every label demanded: one catch-all pool does the same."""
    out["labels"] = [{"name": CATCH_ALL, "catch-all": True, "image": image}]
    origin[("labels",)] = ("image",)
    origin[("labels", 0)] = ("image",)
    origin[("labels", 0, "image")] = ("image",)
    warnings.append(
        (
            ("image",),
            f"no labels: section, so one catch-all label {CATCH_ALL!r} runs this image for every label "
            "demanded, each agent carrying the labels its build asked for (at most 10 agents at once); "
            "add labels: to size pools per label",
        )
    )
