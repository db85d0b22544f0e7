"""Whatever bytes a config file holds, loading it gives a config or a ConfigError that says where,
never another exception (a reload that raised anything else would take the daemon down)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.assembly import resolve_plugins
from autoscaler.config import ConfigError, load_config, parse_config
from autoscaler.config.loader import MAX_BYTES
from autoscaler.discovery import Registry
from tests.unit.test_config import GOOD, KUBESTACK

FALLBACK = "cannot be read as a config"
"""The loader's last-resort message: a test that sees it found an input nobody explains well."""

REGISTRY = Registry.discover()


def problems_of(tmp_path: Path, content: bytes, name: str = "config.yaml") -> list[str]:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    found = [str(p) for p in info.value.problems]
    assert not any(FALLBACK in p for p in found), found
    return found


def test_an_invalid_utf8_byte_names_its_line_and_offset(tmp_path: Path) -> None:
    bad = GOOD.encode().replace(b"user: autoscaler", b"user: auto\xffscaler")
    offset = bad.index(b"\xff")
    found = problems_of(tmp_path, bad)
    assert found == [f"{tmp_path}/config.yaml:4: byte {offset}: not valid UTF-8 (0xff); save the file as UTF-8"]


def test_yaml_nested_thousands_deep_is_refused_with_its_position(tmp_path: Path) -> None:
    found = problems_of(tmp_path, b"a: " + b"[" * 5000)
    assert found == [f"{tmp_path}/config.yaml:1:67: nested more than 64 levels deep"]
    found = problems_of(tmp_path, b"a:\n" + b"".join(b"  " * i + b"b:\n" for i in range(1, 200)))
    assert found == [f"{tmp_path}/config.yaml:65:129: nested more than 64 levels deep"]


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    found = problems_of(tmp_path, "\n".join(lines).encode())
    assert len(found) == 1 and "more than 100000 values once aliases are expanded" in found[0], found


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path, b"labels: &a [*a]\n")
    assert found == [f"{tmp_path}/config.yaml:1: nested more than 64 levels deep (through aliases)"]


def test_a_nul_byte_names_line_and_column(tmp_path: Path) -> None:
    found = problems_of(tmp_path, b"controllers:\n  - url: x\x00\n")
    expected = "not valid YAML: special characters are not allowed (character U+0000)"
    assert found == [f"{tmp_path}/config.yaml:2:11: {expected}"]


@pytest.mark.parametrize(
    ("value", "words"),
    [("2020-13-45", "month must be in 1..12"), ("!!int abc", "invalid literal for int()"), ("!!float x", "float")],
)
def test_a_value_yaml_cannot_construct_names_its_position(tmp_path: Path, value: str, words: str) -> None:
    found = problems_of(tmp_path, f"daemon:\n  id: {value}\n".encode())
    assert len(found) == 1 and found[0].startswith(f"{tmp_path}/config.yaml:2:7: not valid YAML: cannot read the value")
    assert words in found[0]


def test_a_huge_file_is_not_read_whole(tmp_path: Path) -> None:
    found = problems_of(tmp_path, b"# " + b"x" * MAX_BYTES + b"\n")
    assert found == [f"{tmp_path}/config.yaml: larger than 1024 KiB; is this a config file?"]


def test_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.yaml: file not found"):
        load_config(str(tmp_path / "config.yaml"))
    with pytest.raises(ConfigError, match="cannot read: Is a directory"):
        load_config(str(tmp_path))


@pytest.mark.parametrize(
    ("content", "what"),
    [(b"- a\n- b\n", "a list"), (b"just words\n", "a string"), (b"42\n", "int"), (b"", "an empty file")],
)
def test_a_file_that_is_not_a_mapping(tmp_path: Path, content: bytes, what: str) -> None:
    assert problems_of(tmp_path, content) == [f"{tmp_path}/config.yaml:1: expected a mapping of sections, got {what}"]


def test_odd_keys_in_a_kubestack_section_are_reported_not_raised() -> None:
    loaded = parse_config("jenkins: {url: 'http://j'}\nkubernetes: {1: 2}\nimage: x\n", "ks.yaml")
    with pytest.raises(ConfigError) as info:
        resolve_plugins(loaded, REGISTRY)
    found = [str(p) for p in info.value.problems]
    assert len(found) == 1 and found[0].startswith("ks.yaml:2: driver.1: unknown key"), found


def _load_or_config_error(text: str | bytes, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        loaded = load_config(str(path))
        resolve_plugins(loaded, REGISTRY)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError must say what is wrong"
        assert not any(FALLBACK in str(p) for p in exc.problems), exc.problems


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_load_or_raise_config_error(tmp_path: Path, data: bytes) -> None:
    _load_or_config_error(data, tmp_path)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid config (new or KubeStack format) with a few bytes inserted, deleted or replaced."""
    data = bytearray(draw(st.sampled_from([GOOD, KUBESTACK])).encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        special = st.sampled_from([b"[", b"{", b"&a", b"*a", b"!!", b":", b"\t"])
        chunk = draw(st.binary(min_size=1, max_size=4) | special)
        if kind == "insert":
            data[at:at] = chunk
        elif kind == "delete":
            del data[at : at + len(chunk)]
        else:
            data[at : at + len(chunk)] = chunk
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_configs_load_or_raise_config_error(tmp_path: Path, data: bytes) -> None:
    _load_or_config_error(data, tmp_path)


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out += _paths(sub, (*prefix, i))
    return out


@st.composite
def structurally_mutated(draw: st.DrawFn) -> str:
    """A valid config with one value anywhere replaced by random YAML data."""
    data = yaml.safe_load(draw(st.sampled_from([GOOD, KUBESTACK])))
    path = draw(st.sampled_from(_paths(data)[1:]))
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = draw(JUNK)
    return yaml.safe_dump(data)


@FUZZ
@given(structurally_mutated())
def test_configs_with_a_random_value_load_or_raise_config_error(tmp_path: Path, text: str) -> None:
    _load_or_config_error(text, tmp_path)
