"""Read a config file: YAML with line numbers, KubeStack translation, model validation.

Every problem names the file, the line, the key and what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, get_args, get_origin

from pydantic import BaseModel, ValidationError

from autoscaler.config import kubestack
from autoscaler.config.errors import ConfigError, Problem
from autoscaler.config.models import Config, PluginEntry
from autoscaler.config.yamlpos import Path, YamlProblem, dotted, line_of, load_with_lines

DEFAULT_PATH = "/etc/autoscaler/config.yaml"
ENV_VAR = "AUTOSCALER_CONFIG"


@dataclass
class LoadedConfig:
    """A validated config, where it came from, and what it warns about."""

    config: Config
    file: str
    warnings: list[Problem] = field(default_factory=list)
    lines: dict[Path, int] = field(default_factory=dict)
    origin: dict[Path, Path] = field(default_factory=dict)
    """New-format path -> path in the user's file (differs for KubeStack configs)."""
    legacy: bool = False

    def problem(self, path: Path, message: str) -> Problem:
        return _problem(self.file, self.lines, self.origin, path, message)


def config_path(explicit: str | None) -> str:
    """``-c PATH`` first, then ``$AUTOSCALER_CONFIG``, then ``/etc/autoscaler/config.yaml``."""
    return explicit or os.environ.get(ENV_VAR) or DEFAULT_PATH


MAX_BYTES = 1 << 20
"""Largest config file read (1 MiB); a config is a few kilobytes."""


def load_config(path: str) -> LoadedConfig:
    """Read and validate ``path``. Whatever is wrong with the file (unreadable, too big, not
    UTF-8, not YAML, nested absurdly deep, not a config), the only exception is ConfigError."""
    return parse_config(read_text(path), path)


def read_text(path: str) -> str:
    """The text of a config file; ConfigError if it cannot be read, is too big or is not UTF-8."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([Problem(path, None, "", "file not found")]) from None
    except OSError as exc:
        raise ConfigError([Problem(path, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError([Problem(path, None, "", f"larger than {MAX_BYTES // 1024} KiB; is this a config file?")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start : exc.end].hex(" ")
        message = f"byte {exc.start}: not valid UTF-8 (0x{bad}); save the file as UTF-8"
        raise ConfigError([Problem(path, line, "", message)]) from None
    return text


def parse_config(text: str, file: str = "<config>") -> LoadedConfig:
    try:
        return _parse(text, file)
    except ConfigError:
        raise
    except Exception as exc:  # a bug here must not take the daemon down with it: report it as a problem
        message = f"cannot be read as a config: {type(exc).__name__}: {exc}"
        raise ConfigError([Problem(file, None, "", message)]) from exc


@dataclass
class Draft:
    """A config file read as YAML (and translated from KubeStack), before the core model checks it:
    enough to check the plugin sections even when the core sections have mistakes."""

    file: str
    data: dict[str, Any]
    lines: dict[Path, int]
    origin: dict[Path, Path]
    warnings: list[Problem]
    legacy: bool

    def problem(self, path: Path, message: str) -> Problem:
        return _problem(self.file, self.lines, self.origin, path, message)

    def plugin_entries(self) -> list[tuple[str, Path, PluginEntry]]:
        """``(section, path, entry)`` of every plugin section that names its ``type``; a section too
        broken for that is the core model's problem to report."""
        out: list[tuple[str, Path, PluginEntry]] = []
        candidates: list[tuple[str, Path, Any]] = [("driver", ("driver",), self.data.get("driver", {"type": "local"}))]
        for section in ("demand-listeners", "destroy-listeners"):
            items = self.data.get(section)
            if isinstance(items, list):
                candidates += [(section, (section, i), item) for i, item in enumerate(items)]
        for section, path, raw in candidates:
            try:
                out.append((section, path, PluginEntry.model_validate(raw)))
            except ValidationError:
                continue
        return out

    def controller_names(self) -> set[str]:
        items = self.data.get("controllers")
        if not isinstance(items, list):
            return set()
        return {str(c["name"]) for c in items if isinstance(c, dict) and c.get("name") is not None}


def read_draft(text: str, file: str = "<config>") -> Draft:
    """The YAML of a config, translated to the current format; ConfigError if it is not YAML or
    not a mapping."""
    try:
        data, lines = load_with_lines(text)
    except YamlProblem as exc:
        raise ConfigError([Problem(file, exc.line, "", str(exc), exc.column)]) from None
    if not isinstance(data, dict):
        what = "an empty file" if data is None else _kind_of(data)
        raise ConfigError([Problem(file, 1, "", f"expected a mapping of sections, got {what}")])
    origin: dict[Path, Path] = {}
    warnings: list[Problem] = []
    legacy = kubestack.is_kubestack(data)
    if legacy:
        data, legacy_warnings, origin = kubestack.translate(data)
        for path, message in legacy_warnings:
            warnings.append(Problem(file, line_of(lines, path), dotted(path), message))
    return Draft(file, data, lines, origin, warnings, legacy)


def validate_draft(draft: Draft) -> LoadedConfig:
    """The core model's check of a draft: every problem of the core sections at once."""
    file, lines, origin, legacy, warnings = draft.file, draft.lines, draft.origin, draft.legacy, draft.warnings
    try:
        config = Config.model_validate(draft.data)
    except ValidationError as exc:
        raise ConfigError([_problem(file, lines, origin, *_explain(Config, err)) for err in _real(exc)]) from None
    loaded = LoadedConfig(config, file, warnings, lines, origin, legacy)
    for i, ctl in enumerate(config.controllers):
        if ctl.token is not None and not legacy:
            warnings.append(loaded.problem(("controllers", i, "token"), "inline token; prefer token-file or token-env"))
    return loaded


def _parse(text: str, file: str) -> LoadedConfig:
    return validate_draft(read_draft(text, file))


class _Locates(Protocol):
    def problem(self, path: Path, message: str) -> Problem: ...


def validate_section(loaded: _Locates, path: Path, model: type[BaseModel], entry: PluginEntry) -> BaseModel:
    """Validate a plugin's section with the plugin's own model; errors point at the user's lines."""
    try:
        return model.model_validate(entry.settings())
    except ValidationError as exc:
        problems = []
        for err in _real(exc):
            sub, message = _explain(model, err)
            problems.append(loaded.problem((*path, *sub), message))
        raise ConfigError(problems) from None
    except Exception as exc:  # a plugin's own check that raised something else than ValueError
        raise ConfigError([loaded.problem(path, f"rejected by the plugin: {type(exc).__name__}: {exc}")]) from exc


def _real(exc: ValidationError) -> list[Any]:
    """The errors, less pydantic's follow-on "too short" for a list whose items all failed."""
    return [
        err
        for err in exc.errors()
        if not (err["type"] == "too_short" and isinstance(err.get("input"), list) and err["input"])
    ]


def _problem(file: str, lines: Mapping[Path, int], origin: Mapping[Path, Path], path: Path, message: str) -> Problem:
    source = _origin_of(origin, path)
    return Problem(file, line_of(dict(lines), source), dotted(path), message)


def _origin_of(origin: Mapping[Path, Path], path: Path) -> Path:
    if not origin:
        return path
    for end in range(len(path), 0, -1):
        if path[:end] in origin:
            return origin[path[:end]] + path[end:]
    return path


_PATH_IN_MESSAGE = re.compile(r"^([a-z][\w-]*(?:\[\d+\])?(?:\.[a-z][\w-]*(?:\[\d+\])?)*): (.*)$", re.S)


def _explain(model: type[BaseModel], err: Any) -> tuple[Path, str]:
    """Turn one pydantic error into (path, plain message)."""
    loc: Path = tuple(err["loc"])
    kind = err["type"]
    message = str(err["msg"])
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if message.startswith(("Value error, ", "Assertion failed, ")):
        message = message.split(", ", 1)[1]
    # cross-reference checks of a whole model say which key they are about
    match = _PATH_IN_MESSAGE.match(message)
    if match and kind == "value_error":
        loc = loc + _parse_dotted(match.group(1))
        message = match.group(2)
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        close = _close_match(str(loc[-1]), allowed)
        did = f" (did you mean {close!r}?)" if close else ""
        return loc, f"unknown key{did}{hint}"
    plain = {
        "missing": "required key is missing",
        "int_parsing": f"expected a whole number, got {value!r}",
        "int_type": f"expected a whole number, got {value!r}",
        "int_from_float": f"expected a whole number, got {value!r}",
        "float_parsing": f"expected a number, got {value!r}",
        "float_type": f"expected a number, got {value!r}",
        "bool_parsing": f"expected true or false, got {value!r}",
        "bool_type": f"expected true or false, got {value!r}",
        "string_type": f"expected a string, got {value!r}",
        "dict_type": f"expected a mapping of keys, got {_kind_of(value)}",
        "model_type": f"expected a mapping of keys, got {_kind_of(value)}",
        "model_attributes_type": f"expected a mapping of keys, got {_kind_of(value)}",
        "list_type": f"expected a list, got {_kind_of(value)}",
        "tuple_type": f"expected a list, got {_kind_of(value)}",
        "greater_than_equal": f"expected a number >= {ctx.get('ge')}, got {value!r}",
        "greater_than": f"expected a number > {ctx.get('gt')}, got {value!r}",
        "less_than_equal": f"expected a number <= {ctx.get('le')}, got {value!r}",
        "literal_error": f"expected {ctx.get('expected')}, got {value!r}",
        "too_short": "expected at least one entry",
    }.get(kind)
    # a union (str | list) reports one error per branch; keep the location clean
    loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str", "list"})))
    return loc, plain or message


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _parse_dotted(text: str) -> Path:
    out: list[str | int] = []
    for part in text.split("."):
        name, _, rest = part.partition("[")
        out.append(name)
        if rest:
            out.append(int(rest.rstrip("]")))
    return tuple(out)


def _allowed_keys(model: type[BaseModel], loc: Path) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        fld = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        if fld is None:
            return []
        current = _model_in(fld.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _close_match(word: str, options: list[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, options, n=1, cutoff=0.7)
    return found[0] if found else None
