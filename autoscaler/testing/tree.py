"""Jenkins' ``tree=`` filter for JSON API output: ``items[id,why,task[name,url]]``."""

from __future__ import annotations

from typing import Any

Spec = dict[str, "Spec | None"]


class TreeError(ValueError):
    pass


def parse_tree(text: str) -> Spec:
    spec, pos = _parse(text, 0)
    if pos != len(text):
        raise TreeError(f"unexpected {text[pos]!r} at {pos} in tree={text}")
    return spec


def _parse(text: str, pos: int) -> tuple[Spec, int]:
    spec: Spec = {}
    while pos < len(text):
        start = pos
        while pos < len(text) and text[pos] not in ",[]{":
            pos += 1
        name = text[start:pos].strip()
        child: Spec | None = None
        if pos < len(text) and text[pos] == "[":
            child, pos = _parse(text, pos + 1)
            if pos >= len(text) or text[pos] != "]":
                raise TreeError(f"unclosed [ in tree={text}")
            pos += 1
        if pos < len(text) and text[pos] == "{":  # range selector {m,n}: accepted, not applied
            end = text.find("}", pos)
            if end < 0:
                raise TreeError(f"unclosed {{ in tree={text}")
            pos = end + 1
        if name:
            spec[name] = child
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        break
    return spec, pos


def apply_tree(data: Any, spec: Spec | None) -> Any:
    """Keep only what ``spec`` names (and ``_class``, which Jenkins always adds)."""
    if spec is None:
        return data
    if isinstance(data, list):
        return [apply_tree(item, spec) for item in data]
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        if "_class" in data:
            out["_class"] = data["_class"]
        for key, child in spec.items():
            if key in data:
                out[key] = apply_tree(data[key], child) if child is not None else _leaf(data[key])
        return out
    return data


def _leaf(value: Any) -> Any:
    """A field named without a sub-tree: objects inside it shrink to their ``_class``."""
    if isinstance(value, dict):
        return {"_class": value["_class"]} if "_class" in value else {}
    if isinstance(value, list):
        return [_leaf(v) for v in value]
    return value
