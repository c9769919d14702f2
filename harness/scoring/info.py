"""What the rest of harness knows about a scorer without running it: `ScorerInfo`.

A scorer is a factory (options -> callable); the info says how to read its values (range,
direction, binary) and which options the factory accepts, read from its signature.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.types import Sample, Score

# A scorer's callable takes a Sample (example, request as sent, response, retrieved context);
# batch scorers take a list of them. The older two-argument forms, (example, output) and
# (examples, outputs), still work: BoundScorer tells them apart by their signature.
ScoreFn = Callable[[Sample], Score]
BatchScoreFn = Callable[[list[Sample]], list[Score]]
Factory = Callable[..., Callable[..., Any]]

# Set on a factory by @scorer, so a factory found by module or file path carries its info.
INFO_ATTR = "__harness_scorer__"
# A factory parameter with this name receives the folder relative paths resolve against
# (the suite's folder); it is injected, never a user option.
BASE_DIR_PARAM = "base_dir"

NEEDS = frozenset({"reference", "context", "engine"})

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ScorerInfo:
    name: str
    range: tuple[float, float] = (0.0, 1.0)
    higher_is_better: bool = True
    binary: bool = False  # values are only range[0] or range[1]
    batch: bool = False  # the callable takes a list of samples
    description: str = ""
    # What the scorer reads besides the output: "reference", "context" (retrieved passages),
    # "engine" (a model of its own). A suite whose arms cannot give it is refused at load.
    needs: frozenset[str] = frozenset({"reference"})
    signature: inspect.Signature = field(
        default_factory=inspect.Signature, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"scorer name {self.name!r} must be letters, digits, '_', '.', '-' "
                "(':' and '/' are reserved for module and file references)"
            )
        lo, hi = self.range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"scorer {self.name!r}: range {self.range} must be finite, low < high")
        object.__setattr__(self, "range", (float(lo), float(hi)))
        unknown = set(self.needs) - NEEDS
        if unknown:
            raise ValueError(f"scorer {self.name!r}: unknown needs {sorted(unknown)}; "
                             f"expected some of {sorted(NEEDS)}")
        object.__setattr__(self, "needs", frozenset(self.needs))

    @property
    def minimum(self) -> float:
        """The worst value (what a failed extraction, or an arm that failed, scores)."""
        return self.range[0] if self.higher_is_better else self.range[1]

    @property
    def worst(self) -> float:
        return self.minimum

    @property
    def options(self) -> dict[str, Any]:
        """Option name -> default; `inspect.Parameter.empty` marks a required option."""
        return {
            p.name: p.default
            for p in self.signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != BASE_DIR_PARAM
        }

    @property
    def required_options(self) -> list[str]:
        empty = inspect.Parameter.empty
        return [name for name, default in self.options.items() if default is empty]

    @property
    def accepts_any_option(self) -> bool:
        return any(p.kind is p.VAR_KEYWORD for p in self.signature.parameters.values())

    @property
    def wants_base_dir(self) -> bool:
        return BASE_DIR_PARAM in self.signature.parameters

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what manifests and scorer listings show."""
        return {
            "name": self.name,
            "range": list(self.range),
            "higher_is_better": self.higher_is_better,
            "binary": self.binary,
            "batch": self.batch,
            "needs": sorted(self.needs),
            "description": self.description,
            "options": {name: _json_default(default) for name, default in self.options.items()},
            "required_options": self.required_options,
        }


def _json_default(default: Any) -> Any:
    # Custom factories may default to anything; manifests must stay JSON.
    if default is inspect.Parameter.empty:
        return None
    try:
        json.dumps(default)
    except (TypeError, ValueError):
        return repr(default)
    return default


@dataclass(frozen=True)
class ScorerEntry:
    """A resolved scorer: its info plus the factory that builds the scoring callable."""

    info: ScorerInfo
    factory: Factory
