"""The suite file: pydantic models of suite.yaml, loading, and errors that point at a line.

A suite names a base model, engines, golden sets, arms, scorers, gates and outputs. Paths in a
suite are resolved relative to the suite file, so a suite works from any working directory.

The engine and arm fields are unions of every registered kind (harness/registry.py): the
model is built from the registries when first needed, and again after a kind is registered,
so a new kind is usable from a suite, listed by `harness schema` and validated with
line-numbered errors without editing this file.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, create_model

from harness.errors import ConfigError
from harness.pydantic_paths import describe_validation_error
from harness.registry import ARMS, ENGINES, JUDGES
from harness.spec.arm import DEFAULT_ENGINE, ArmSpec
from harness.spec.base import NAME_PATTERN, GenerationSpec, ModelSpec, Strict
from harness.spec.corpus import CorpusSpec
from harness.spec.cost import CostConfig
from harness.spec.engine import EngineContext, EngineSpec
from harness.spec.gates import GateSpec
from harness.spec.train import TrainConfig
from harness.types import stable_hash
from harness.yamlio import LinePath, format_loc, line_of, load_yaml_with_lines

DEFAULT_MAX_ERROR_RATE = 0.05


class GoldenSetSpec(Strict):
    path: str
    name: str | None = Field(None, description="default: the file name without extension")
    format: Literal["auto", "instruction", "chat", "csv"] = "auto"
    guard: bool = Field(False, description="a general-capability set that catches forgetting")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="CSV only: map of id/instruction/input/output/tags to column names",
    )
    limit: int | None = Field(None, ge=1, description="use only the first N examples")


class ScorerSpec(Strict):
    name: str
    kind: str | None = Field(None, description="registered scorer, module:function or "
                             "file.py:function; default: the name")
    options: dict[str, Any] = Field(default_factory=dict)
    primary: bool = False
    golden_sets: list[str] | None = Field(None, description="score only these golden sets "
                                          "(default: all)")
    arms: list[str] | None = Field(None, description="score only these arms (default: all)")

    @property
    def scorer_kind(self) -> str:
        return self.kind or self.name


class OutputSpec(Strict):
    runs_dir: str = "runs"
    reports_dir: str = "reports"
    cache: str | None = Field(None, description="response cache (sqlite); default "
                              "<runs_dir>/cache.sqlite")


class Suite(Strict):
    """The fields of a suite; `engine`, `engines` and `arms` are typed by the registries in the
    model `suite_model()` builds on top of this one."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    model: ModelSpec = Field(default_factory=ModelSpec)
    engine: Any = Field(None, description="the default engine of every arm (default: local)")
    engines: dict[str, Any] = Field(default_factory=dict, description="named engines arms may "
                                    "choose with `engine: NAME`")
    golden_sets: list[GoldenSetSpec] = Field(min_length=1)
    corpora: dict[str, CorpusSpec] = Field(default_factory=dict, description="document "
                                           "collections RAG arms retrieve from, by name")
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    arms: list[Any] = Field(min_length=1)
    scorers: list[ScorerSpec | str] = Field(min_length=1)
    judges: dict[str, Any] = Field(default_factory=dict, description="model judges by name: "
                                   "rubric (a scorer) or pairwise (wins of one arm over another); "
                                   "docs/judges.md")
    primary_scorer: str | None = None
    tie_margin: float = Field(0.0, ge=0.0, description="score differences within it are ties")
    max_error_rate: float = Field(DEFAULT_MAX_ERROR_RATE, ge=0.0, le=1.0, description="above "
                                  "this share of failed requests, every gate involving the arm "
                                  "is inconclusive")
    fail_fast: bool = Field(False, description="stop the run at the first request that fails "
                            "after its retries, instead of recording an arm error")
    gates: list[GateSpec] = Field(default_factory=list)
    ladder: list[str] | None = Field(None, description="arms to climb in rung order (e.g. "
                                     "[prompt, rag, tuned]): the verdict ships the cheapest "
                                     "rung that clears every gate, each gate judged with the "
                                     "rung as its arm (docs/decision.md, Ladder)")
    cost: CostConfig | None = None
    output: OutputSpec = Field(default_factory=OutputSpec)
    train: TrainConfig | None = Field(None, description="training section (harness train)")

    # Set by load_suite, not by the YAML.
    _path: Path | None = None

    @property
    def path(self) -> Path:
        assert self._path is not None, "Suite was not loaded from a file"
        return self._path

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self._path else Path.cwd()

    def resolve(self, relative: str) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def cache_path(self) -> Path:
        """The response cache (sqlite; retrievals live in it too)."""
        return (self.resolve(self.output.cache) if self.output.cache
                else self.resolve(self.output.runs_dir) / "cache.sqlite")

    @property
    def scorer_specs(self) -> list[ScorerSpec]:
        return [ScorerSpec(name=s) if isinstance(s, str) else s for s in self.scorers]

    @property
    def golden_set_names(self) -> list[str]:
        return [gs.name or Path(gs.path).stem for gs in self.golden_sets]

    @property
    def primary(self) -> str:
        if self.primary_scorer:
            return self.primary_scorer
        flagged = [s.name for s in self.scorer_specs if s.primary]
        return flagged[0] if flagged else self.scorer_specs[0].name

    def arm(self, name: str) -> ArmSpec:
        return next(a for a in self.arms if a.name == name)

    def engine_specs(self) -> dict[str, EngineSpec]:
        """Every engine by name: the top-level one as "default", then the named ones."""
        return {DEFAULT_ENGINE: self.engine, **self.engines}

    def engine_context(self, name: str, **extra: Any) -> EngineContext:
        return EngineContext(name=name, base_dir=self.base_dir, default_model=self.model,
                             **extra)

    def content_hash(self) -> str:
        return stable_hash(self.model_dump(mode="json"))


# The registries that type the suite's fields, by the `what` of their messages.
_REGISTRIES = {"engine": ENGINES, "arm": ARMS, "judge": JUDGES}
_BUILT: dict[Any, type[Suite]] = {}
_BUILD_LOCK = threading.Lock()


def suite_model(data: Any = None) -> type[Suite]:
    """The Suite model with `engine`, `engines`, `arms` and `judges` typed by the registries:
    for the raw mapping of a suite, by the kinds it names (only their modules are imported);
    without one, by every registered kind (the schema)."""
    named = _named_kinds(data)
    with _BUILD_LOCK:
        EngineUnion = ENGINES.union(named.get("engine"))
        ArmUnion = ARMS.union(named.get("arm"))
        JudgeUnion = JUDGES.union(named.get("judge"))
        key = (ENGINES.version, ARMS.version, JUDGES.version, *sorted(
            (what, tuple(sorted(kinds))) for what, kinds in named.items()))
        if key not in _BUILT:
            if len(_BUILT) >= 16:  # registries changed (tests register kinds): start over
                _BUILT.clear()
            _BUILT[key] = create_model(
                "Suite", __base__=Suite, __module__=__name__,
                engine=(EngineUnion, Field(default_factory=_default_engine,
                                           description="the default engine of every arm")),
                engines=(dict[str, EngineUnion], Field(
                    default_factory=dict, description="named engines arms may choose with "
                    "`engine: NAME`")),
                arms=(list[ArmUnion], Field(min_length=1)),
                judges=(dict[str, JudgeUnion], Field(
                    default_factory=dict, description="model judges by name: rubric (a scorer) "
                    "or pairwise (wins of one arm over another); docs/judges.md")),
            )
        return _BUILT[key]


def _default_engine() -> Any:
    return ENGINES.get(ENGINES.default_kind or "local")()


def _named_kinds(data: Any) -> dict[str, frozenset[str]]:
    """The engine, arm and judge kinds a raw suite mapping names, per registry; a registry
    with a value whose kind cannot be read is left out (its union keeps every kind, so the
    error names them all)."""
    if not isinstance(data, dict):
        return {}
    engines = data.get("engines", {})
    judges = data.get("judges", {})
    values = {
        # A missing `engine:` is the default kind's (an empty mapping reads as it).
        "engine": [data.get("engine", {}), *(engines.values() if isinstance(engines, dict)
                                             else [None])],
        "arm": data.get("arms") if isinstance(data.get("arms"), list) else [None],
        "judge": list(judges.values()) if isinstance(judges, dict) else [None],
    }
    named = {}
    for what, items in values.items():
        kinds = [_REGISTRIES[what].kind_of(item) for item in items]
        if None not in kinds:
            named[what] = frozenset(kinds)
    return named


def suite_json_schema() -> dict[str, Any]:
    return suite_model().model_json_schema()


def _unknown_kind(what: str, kind: Any) -> str:
    registry = _REGISTRIES.get(what)
    if registry is None:
        return f"unknown {what} kind {kind!r}"
    message = registry.unknown_message(kind)
    if registry.broken:
        message += "; " + "; ".join(registry.broken)
    return message


def validation_message(path: Path, exc: ValidationError, lines: dict[LinePath, int],
                       model: type[BaseModel], prefix: LinePath = ()) -> str:
    return describe_validation_error(path, exc, lines, model, prefix, unknown_kind=_unknown_kind)


def load_suite(path: str | Path, *, require_adapters: bool = True) -> Suite:
    """Load and fully validate a suite; raise ConfigError with file:line: field: problem
    (ModelError, exit 4, when a model or adapter folder is missing). `require_adapters=False`
    is for `harness train`, which makes the adapter a tuned arm names."""
    path = Path(path)
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of suite fields at the top level")
    model = suite_model(data)
    try:
        suite = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(path, exc, lines, model)) from exc
    suite._path = path.resolve()
    from harness.spec.checks import suite_problems

    problems = suite_problems(suite, require_adapters=require_adapters)
    if problems:
        loc, message, *kind = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        error = kind[0] if kind else ConfigError
        raise error(where(path, lines, loc) + f"{format_loc(loc)}: {message}{more}")
    return suite


def where(path: Path, lines: dict[LinePath, int], loc: LinePath) -> str:
    line = line_of(lines, loc)
    return f"{path}:{line}: " if line else f"{path}: "
