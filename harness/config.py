"""The suite file: pydantic models of suite.yaml, loading, and errors that point at a line.

A suite names a base model, an engine, golden sets, arms, scorers, gates and outputs. Paths in
a suite are resolved relative to the suite file, so a suite works from any working directory.
`harness schema` prints the JSON Schema of `Suite` for editor completion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.decision.config import CostConfig, GateSpec
from harness.errors import ConfigError
from harness.pydantic_paths import describe_validation_error
from harness.train.config import TrainConfig
from harness.types import GenerationParams, stable_hash
from harness.yamlio import LinePath, format_loc, line_of, load_yaml_with_lines


class Strict(BaseModel):
    # Unknown fields are errors: a typo in a suite must never be silently ignored.
    model_config = ConfigDict(extra="forbid")


class ModelSpec(Strict):
    base: str = Field("default", description='"default" (embedded SmolLM2-135M-Instruct), a '
                      "local Hugging Face folder, or a hub id")
    dtype: Literal["auto", "bfloat16", "float32", "float16"] = "auto"


class LocalEngineSpec(Strict):
    kind: Literal["local"] = "local"
    batch_size: int = Field(8, ge=1, le=512)
    threads: int | None = Field(None, ge=1, description="torch threads; default: torch's choice")
    max_loaded_adapters: int = Field(4, ge=1)


class VLLMEngineSpec(Strict):
    kind: Literal["vllm"]
    mode: Literal["managed", "attached"] = "managed"
    url: str | None = Field(None, description="attached mode: base URL of a running server")
    api_key_env: str | None = Field(None, description="name of the env variable with the API key")
    python: str | None = Field(None, description="python that has vLLM (managed mode); default "
                               "$HARNESS_VLLM_PYTHON, else .venv-vllm/bin/python at the repo root")
    port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    max_lora_rank: int | None = Field(None, description="default: the largest adapter rank")
    max_loras: int = Field(2, ge=1)
    max_model_len: int = Field(2048, ge=64)
    concurrency: int = Field(32, ge=1)
    request_timeout_s: float = Field(120.0, gt=0)
    startup_timeout_s: float = Field(300.0, gt=0)
    extra_args: list[str] = Field(default_factory=list)
    command: list[str] | None = Field(None, description="full command that starts an "
                                      "OpenAI-compatible vLLM server, instead of `python`")
    mixed_batches: bool | None = Field(None, description="send base and adapter requests "
                                       "together (default: yes, except on the CPU build)")

    @model_validator(mode="after")
    def _attached_needs_url(self) -> VLLMEngineSpec:
        if self.mode == "attached" and not self.url:
            raise ValueError("attached mode needs `url`")
        return self


EngineSpec = Annotated[LocalEngineSpec | VLLMEngineSpec, Field(discriminator="kind")]


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


class GenerationSpec(Strict):
    max_tokens: int = Field(128, ge=1)
    temperature: float = Field(0.0, ge=0.0, description="0 is greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    stop: list[str] = Field(default_factory=list)

    def params(self) -> GenerationParams:
        return GenerationParams(self.max_tokens, self.temperature, self.top_p, self.seed,
                                tuple(self.stop))


class FewShot(Strict):
    user: str
    assistant: str


class PromptArmSpec(Strict):
    kind: Literal["prompt"]
    name: str
    system_prompt: str | None = None
    system_prompt_file: str | None = None
    few_shot: list[FewShot] = Field(default_factory=list)
    few_shot_file: str | None = Field(None, description="JSONL/CSV in a golden-set format")
    few_shot_limit: int | None = Field(None, ge=0)
    generation: GenerationSpec | None = Field(None, description="overrides the suite's")


class TunedArmSpec(Strict):
    kind: Literal["tuned"]
    name: str
    adapter: str = Field(description="adapter folder (adapter_config.json + weights)")
    prompt: str = Field("minimal", description='"minimal": the system prompt the adapter was '
                        "trained with and the user turn; or the name of a prompt arm to reuse")
    generation: GenerationSpec | None = None


ArmSpec = Annotated[PromptArmSpec | TunedArmSpec, Field(discriminator="kind")]


class ScorerSpec(Strict):
    name: str
    kind: str | None = Field(None, description="registered scorer, module:function or "
                             "file.py:function; default: the name")
    options: dict[str, Any] = Field(default_factory=dict)
    primary: bool = False
    golden_sets: list[str] | None = Field(None, description="score only these golden sets "
                                          "(default: all)")

    @property
    def scorer_kind(self) -> str:
        return self.kind or self.name


class OutputSpec(Strict):
    runs_dir: str = "runs"
    reports_dir: str = "reports"
    cache: str | None = Field(None, description="response cache (sqlite); default "
                              "<runs_dir>/cache.sqlite")


class Suite(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    model: ModelSpec = Field(default_factory=ModelSpec)
    engine: EngineSpec = Field(default_factory=LocalEngineSpec)
    golden_sets: list[GoldenSetSpec] = Field(min_length=1)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    arms: list[ArmSpec] = Field(min_length=1)
    scorers: list[ScorerSpec | str] = Field(min_length=1)
    primary_scorer: str | None = None
    tie_margin: float = Field(0.0, ge=0.0, description="score differences within it are ties")
    gates: list[GateSpec] = Field(default_factory=list)
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

    def arm(self, name: str) -> PromptArmSpec | TunedArmSpec:
        return next(a for a in self.arms if a.name == name)

    def content_hash(self) -> str:
        return stable_hash(self.model_dump(mode="json"))


def suite_json_schema() -> dict[str, Any]:
    return Suite.model_json_schema()


def load_suite(path: str | Path) -> Suite:
    """Load and fully validate a suite; raise ConfigError with file:line: field: problem."""
    path = Path(path)
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of suite fields at the top level")
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc, lines, Suite,
                                                    skip=_UNION_TAGS)) from exc
    suite._path = path.resolve()
    problems = _semantic_problems(suite)
    if problems:
        loc, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(_where(path, lines, loc) + f"{format_loc(loc)}: {message}{more}")
    return suite


def _where(path: Path, lines: dict[LinePath, int], loc: LinePath) -> str:
    line = line_of(lines, loc)
    return f"{path}:{line}: " if line else f"{path}: "


_UNION_TAGS = frozenset({"local", "vllm", "prompt", "tuned", "str", "ScorerSpec"})


def _semantic_problems(suite: Suite) -> list[tuple[LinePath, str]]:
    """Checks that need more than one field: unique names, files that exist, known scorers."""
    from harness.decision.config import check_gates
    from harness.scoring import build_scorer

    problems: list[tuple[LinePath, str]] = []
    arm_names = [a.name for a in suite.arms]
    for i, name in enumerate(arm_names):
        if arm_names.index(name) != i:
            problems.append((("arms", i, "name"), f"duplicate arm name '{name}'"))
    for i, gs in enumerate(suite.golden_sets):
        if not suite.resolve(gs.path).is_file():
            problems.append((("golden_sets", i, "path"),
                             f"golden set file not found: {suite.resolve(gs.path)}"))
    golden_names = suite.golden_set_names
    for i, name in enumerate(golden_names):
        if golden_names.index(name) != i:
            problems.append((("golden_sets", i, "name"), f"duplicate golden set name '{name}'"))
    specs = suite.scorer_specs
    scorer_names = [s.name for s in specs]
    for i, spec in enumerate(specs):
        if scorer_names.index(spec.name) != i:
            problems.append((("scorers", i), f"duplicate scorer name '{spec.name}'"))
        try:
            # Building (not just resolving) checks the options too; it loads no model.
            build_scorer(spec.scorer_kind, spec.options, base_dir=suite.base_dir)
        except ConfigError as exc:
            problems.append((("scorers", i), exc.message))
        for name in spec.golden_sets or []:
            if name not in golden_names:
                problems.append((("scorers", i, "golden_sets"), f"'{name}' is not a golden set "
                                 f"of this suite; expected one of: {', '.join(golden_names)}"))
    if suite.primary_scorer and suite.primary_scorer not in scorer_names:
        problems.append((("primary_scorer",), f"'{suite.primary_scorer}' is not a scorer of "
                         f"this suite; expected one of: {', '.join(scorer_names)}"))
    prompt_arms = [a.name for a in suite.arms if a.kind == "prompt"]
    for i, arm in enumerate(suite.arms):
        if arm.kind == "prompt":
            for field in ("system_prompt_file", "few_shot_file"):
                value = getattr(arm, field)
                if value and not suite.resolve(value).is_file():
                    problems.append((("arms", i, field), f"file not found: {suite.resolve(value)}"))
        if arm.kind == "tuned" and arm.prompt != "minimal" and arm.prompt not in prompt_arms:
            problems.append((("arms", i, "prompt"), f"'{arm.prompt}' is neither 'minimal' nor a "
                             f"prompt arm of this suite ({', '.join(prompt_arms) or 'none'})"))
    problems.extend(check_gates(suite.gates, arm_names, scorer_names, golden_names))
    return problems
