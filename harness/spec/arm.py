"""The config side of every arm kind: the fields all arms have and what the suite checks.

Kind modules (harness/arms/*.py) subclass `ArmSpec`; the suite model types its `arms` by the
registry of those subclasses.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from harness.spec.base import NAME_PATTERN, GenerationSpec, Strict

DEFAULT_ENGINE = "default"  # the name of the suite's top-level engine

Loc = tuple[Any, ...]


class ArmSpec(Strict):
    """Fields every arm kind has. A kind adds its own and implements build()."""

    kind: str
    name: str = Field(pattern=NAME_PATTERN)
    engine: str | None = Field(None, description="a named engine of `engines:`; default: the "
                               "suite's `engine`")
    generation: GenerationSpec | None = Field(None, description="overrides the suite's")

    # What the arm needs of its engine, checked when the suite loads.
    uses_adapter: ClassVar[bool] = False
    gives_context: ClassVar[bool] = False

    def build(self, ctx: Any) -> Any:
        """The arm (harness.arms.base.Arm), built with an ArmContext (same module)."""
        raise NotImplementedError

    def output_constraint(self) -> str | None:
        """The constrained decoding its own requests ask for ("json_schema", "regex"), if any;
        an arm wrapping others (arm_references) is checked through them."""
        return None

    def arm_references(self) -> list[tuple[str, str]]:
        """(field, arm name) for every other arm this one builds on."""
        return []

    def problems(self, suite: Any) -> list[tuple[Loc, str]]:
        """Checks that need the file system or other arms, as (location in the arm, message)."""
        return []
