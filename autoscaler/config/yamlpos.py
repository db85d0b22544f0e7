"""YAML loading that remembers the line of every key, and rejects duplicate keys.

Whatever the text holds, the only exception that leaves :func:`load_with_lines` is
:class:`YamlProblem` (with a line and column where one is known): nesting is bounded before the
recursive composer sees it, aliases cannot blow a small file up, and values the YAML constructors
reject (``2020-13-45``, ``!!int abc``) are reported like syntax errors.
"""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[str | int, ...]

MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences accepted (a config needs fewer than ten)."""
MAX_NODES = 100_000
"""Most values a document may hold once aliases are followed."""


class YamlProblem(Exception):
    def __init__(self, line: int | None, message: str, column: int | None = None) -> None:
        self.line = line
        self.column = column
        super().__init__(message)


class _Loader(yaml.SafeLoader):
    """SafeLoader whose value errors (``2020-13-45``, ``!!int abc``) carry the value's position."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            shown = f" {node.value!r}" if isinstance(node, yaml.ScalarNode) else ""
            problem = f"cannot read the value{shown}: {exc}"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


def load_with_lines(text: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML; return the data and a map from key path to 1-based line number."""
    _check_depth(text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path, int] = {}
        _walk(node, (), lines, [0])
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _problem(text, exc) from None
    except (ValueError, TypeError, OverflowError) as exc:  # raised outside construct_object
        raise YamlProblem(None, f"not a valid YAML value: {exc}") from None
    finally:
        loader.dispose()
    return data, lines


def _check_depth(text: str) -> None:
    """Reject nesting deeper than MAX_DEPTH using the (iterative) event parser, so the
    (recursive) composer never sees it."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    message = f"nested more than {MAX_DEPTH} levels deep"
                    if mark is None:
                        raise YamlProblem(None, message)
                    raise YamlProblem(mark.line + 1, message, mark.column + 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise _problem(text, exc) from None


def _problem(text: str, exc: yaml.YAMLError) -> YamlProblem:
    """A parser's or reader's error as a problem with its line (and column)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        return _marked(exc)
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = position_of(text, exc.position)
        return YamlProblem(line, f"not valid YAML: {exc.reason} ({_char(exc.character)})", column)
    return YamlProblem(None, f"not valid YAML: {exc}")


def _marked(exc: yaml.MarkedYAMLError) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return YamlProblem(None, f"not valid YAML: {exc.problem or exc}")
    return YamlProblem(mark.line + 1, f"not valid YAML: {exc.problem or exc}", mark.column + 1)


def _char(character: int | str) -> str:
    code = character if isinstance(character, int) else ord(character[:1] or "\0")
    return f"character U+{code:04X}"


def position_of(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character ``index`` in ``text``."""
    before = text[:index]
    line = before.count("\n") + 1
    return line, index - (before.rfind("\n") + 1) + 1


def _walk(node: yaml.Node, path: Path, lines: dict[Path, int], visited: list[int]) -> None:
    visited[0] += 1
    if visited[0] > MAX_NODES:
        raise YamlProblem(
            node.start_mark.line + 1, f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)"
        )
    if len(path) > MAX_DEPTH:
        raise YamlProblem(node.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep (through aliases)")
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                _walk(key_node, (*path, "?"), {}, visited)  # bounded like any value; never a valid key
                _walk(value_node, (*path, "?"), {}, visited)
                continue
            key = str(key_node.value)
            if key in seen:
                raise YamlProblem(line, f"key {key!r} appears twice (first on line {seen[key]})")
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, visited)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, visited)


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """Line of ``path``, or of its nearest parent that has one."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
