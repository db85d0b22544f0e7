"""The base every config model derives from: kebab-case keys, unknown keys rejected, immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


def kebab(name: str) -> str:
    return name.replace("_", "-")


class Model(BaseModel):
    """Config section: keys are kebab-case in YAML, unknown keys are errors, values immutable.

    Instances compare equal when their values are equal, so a reload can tell what changed.
    """

    model_config = ConfigDict(
        alias_generator=kebab,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )
