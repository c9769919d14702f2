"""The training configuration: a suite's `train` section, or a standalone train YAML.

`TrainConfig` is the schema (validated like the suite: unknown fields are errors, each error
names file:line and field). `load_train_job(path)` reads either kind of file and resolves
everything relative to it into a `TrainJob`: data and golden-set paths, the system prompt, the
base model spec, where the adapter and its checkpoints go.

This module must not import `harness.config` at import time (that module imports this one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.adapters_io import VLLM_LORA_RANKS
from harness.errors import ConfigError
from harness.pydantic_paths import describe_validation_error
from harness.types import stable_hash
from harness.yamlio import LinePath, format_loc, line_of, load_yaml_with_lines

ALL_LINEAR = "all-linear"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    # Unknown fields are errors: a typo in a training config must never be silently ignored.
    model_config = ConfigDict(extra="forbid")


class LoraSpec(_Strict):
    r: int = Field(16, ge=1, description=f"LoRA rank; vLLM serves 1..{VLLM_LORA_RANKS[-1]}")
    alpha: float = Field(32.0, gt=0, description="LoRA alpha (scale = alpha / r)")
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: [ALL_LINEAR],
        description='module names to adapt (e.g. [q_proj, v_proj]), or "all-linear"',
    )

    @field_validator("r")
    @classmethod
    def _rank_vllm_serves(cls, r: int) -> int:
        if r > VLLM_LORA_RANKS[-1]:
            raise ValueError(f"rank {r} is above the largest rank vLLM can serve "
                             f"({VLLM_LORA_RANKS[-1]}); use one of "
                             + ", ".join(map(str, VLLM_LORA_RANKS)))
        return r

    @field_validator("target_modules", mode="before")
    @classmethod
    def _one_name_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("target_modules")
    @classmethod
    def _all_linear_alone(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError('name at least one module, or "all-linear"')
        if ALL_LINEAR in value and len(value) > 1:
            raise ValueError('"all-linear" already covers every linear layer; give it alone')
        return value


class GoldenRef(_Strict):
    """A golden set the leakage guard compares the training data with (standalone configs)."""

    path: str
    name: str | None = None
    format: Literal["auto", "instruction", "chat", "csv"] = "auto"
    columns: dict[str, str] = Field(default_factory=dict)


class TrainConfig(_Strict):
    name: str = Field(pattern=NAME_PATTERN, description="output adapter name: adapters/<name>/")
    base: str | None = Field(None, description='base model: "default", a folder or a hub id; '
                             "default: the suite's model.base")
    data: str = Field(description="training set (JSONL instruction/chat format, or CSV)")
    format: Literal["auto", "instruction", "chat", "csv"] = "auto"
    system_prompt: str | None = Field(None, description="system message of every example; "
                                      "the tuned arm uses the same one at inference")
    system_prompt_file: str | None = None
    system_prompt_arm: str | None = Field(None, description="suite only: reuse this prompt "
                                          "arm's system prompt")
    held_out: float = Field(0.0, ge=0.0, description="examples kept out of training for the "
                            "evaluation loss: a fraction (< 1) or a count (>= 1)")
    lora: LoraSpec = Field(default_factory=LoraSpec)
    quantization: Literal["nf4", "none"] = Field("nf4", description="nf4: 4-bit QLoRA; "
                                                 "none: LoRA on a 16-bit base")
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    learning_rate: float = Field(2e-4, gt=0.0)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    epochs: float | None = Field(None, gt=0.0, description="default 1 unless max_steps is set")
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(8, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    max_length: int = Field(512, ge=16, description="tokens per example (prompt + answer)")
    overlength: Literal["error", "drop", "truncate"] = Field(
        "error", description="examples over max_length: refuse, drop them, or cut their end")
    gradient_checkpointing: bool = Field(False, description="saves memory, costs ~30% speed")
    seed: int = 0
    threads: int | None = Field(None, ge=1, description="CPU threads for torch; default: "
                                "torch's choice (fewer can be faster on a busy machine)")
    save_steps: int = Field(20, ge=1, description="checkpoint every N optimizer steps")
    eval_steps: int | None = Field(None, ge=1, description="default: 4 evaluations per run")
    output_dir: str | None = Field(None, description="adapter store; default adapters/ next to "
                                   "the config (next to suites/ for a suite in suites/)")
    golden_sets: list[GoldenRef] = Field(default_factory=list, description="extra golden sets "
                                         "for the leakage guard (a suite's are always checked)")
    near_duplicates: bool = Field(False, description="also refuse embedding near-duplicates")
    near_duplicate_threshold: float = Field(0.92, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.epochs is not None and self.max_steps is not None:
            raise ValueError("set epochs or max_steps, not both")
        given = [f for f in ("system_prompt", "system_prompt_file", "system_prompt_arm")
                 if getattr(self, f) is not None]
        if len(given) > 1:
            raise ValueError(f"set one of {', '.join(given)}, not several")
        return self

    def with_max_steps(self, max_steps: int) -> TrainConfig:
        return self.model_copy(update={"max_steps": max_steps, "epochs": None})


@dataclass(frozen=True)
class GoldenSource:
    name: str
    path: Path
    format: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainJob:
    """A validated config with every path resolved: what the trainer needs and nothing else."""

    config: TrainConfig
    config_path: Path
    data_path: Path
    base_spec: str  # what resolve_model() gets
    base_dir: Path  # resolve_model()'s base_dir (the config's folder)
    system_prompt: str | None
    golden_sets: tuple[GoldenSource, ...]
    output_dir: Path
    suite_name: str | None = None

    @property
    def adapter_dir(self) -> Path:
        return self.output_dir / self.config.name

    @property
    def checkpoint_dir(self) -> Path:
        # Beside the adapters, hidden, never published: the adapter store lists only finished
        # adapters, and the folder is gitignored with them.
        return self.output_dir / ".checkpoints" / self.config.name

    def resume_key(self) -> str:
        """What must not change between an interrupted run and its --resume (steps may)."""
        dumped = self.config.model_dump(mode="json", exclude={"max_steps", "epochs", "threads",
                                                              "save_steps", "eval_steps"})
        return stable_hash({"config": dumped, "system_prompt": self.system_prompt})


def load_train_job(path: str | Path, max_steps: int | None = None) -> TrainJob:
    """Read a suite with a `train` section or a standalone train YAML into a TrainJob."""
    path = Path(path)
    data, lines = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of training fields at the top level")
    if "train" in data or "arms" in data:
        job = _job_from_suite(path, data, lines)
    else:
        job = _job_from_standalone(path, data, lines)
    if max_steps is not None:
        job = TrainJob(**{**job.__dict__, "config": job.config.with_max_steps(max_steps)})
    return job


def _job_from_standalone(path: Path, data: dict, lines: dict[LinePath, int]) -> TrainJob:
    try:
        config = TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc, lines, TrainConfig)) from exc
    base_dir = path.resolve().parent
    goldens = [_golden_source(base_dir, g) for g in config.golden_sets]
    _check_files(path, lines, (), config, base_dir, goldens, [])
    return TrainJob(config=config, config_path=path.resolve(),
                    data_path=_resolve(base_dir, config.data), base_spec=config.base or "default",
                    base_dir=base_dir, system_prompt=_system_prompt(config, base_dir, None),
                    golden_sets=tuple(goldens), output_dir=_output_dir(config, base_dir))


def _job_from_suite(path: Path, data: dict, lines: dict[LinePath, int]) -> TrainJob:
    from harness.config import load_suite

    suite = load_suite(path)
    config = suite.train
    if config is None:
        raise ConfigError(f"{path}: the suite has no `train` section; add one (see "
                          "docs/training.md) or pass a standalone train YAML")
    if not isinstance(config, TrainConfig):  # a suite schema that kept `train` as a plain dict
        try:
            config = TrainConfig.model_validate(config)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(path, exc, lines, TrainConfig,
                                                        prefix=("train",))) from exc
    base_dir = suite.base_dir
    goldens = [GoldenSource(g.name or Path(g.path).stem, suite.resolve(g.path), g.format,
                            dict(g.columns)) for g in suite.golden_sets]
    extra = [_golden_source(base_dir, g) for g in config.golden_sets]
    prompt_arms = {a.name: a for a in suite.arms if a.kind == "prompt"}
    _check_files(path, lines, ("train",), config, base_dir, extra, list(prompt_arms))
    arm = prompt_arms.get(config.system_prompt_arm) if config.system_prompt_arm else None
    return TrainJob(config=config, config_path=suite.path,
                    data_path=_resolve(base_dir, config.data),
                    base_spec=config.base or suite.model.base, base_dir=base_dir,
                    system_prompt=_system_prompt(config, base_dir, arm),
                    golden_sets=tuple(goldens + extra), output_dir=_output_dir(config, base_dir),
                    suite_name=suite.name)


def _resolve(base_dir: Path, relative: str) -> Path:
    p = Path(relative).expanduser()
    return p if p.is_absolute() else (base_dir / p).resolve()


def _golden_source(base_dir: Path, ref: GoldenRef) -> GoldenSource:
    return GoldenSource(ref.name or Path(ref.path).stem, _resolve(base_dir, ref.path), ref.format,
                        dict(ref.columns))


def _output_dir(config: TrainConfig, base_dir: Path) -> Path:
    if config.output_dir:
        return _resolve(base_dir, config.output_dir)
    # Suites live in <repo>/suites/ and adapters in <repo>/adapters/.
    root = base_dir.parent if base_dir.name == "suites" else base_dir
    return root / "adapters"


def _system_prompt(config: TrainConfig, base_dir: Path, arm: Any) -> str | None:
    if config.system_prompt is not None:
        return config.system_prompt
    if config.system_prompt_file:
        return _resolve(base_dir, config.system_prompt_file).read_text(encoding="utf-8").strip()
    if arm is not None:
        if arm.system_prompt is not None:
            return arm.system_prompt
        if arm.system_prompt_file:
            return _resolve(base_dir, arm.system_prompt_file).read_text(encoding="utf-8").strip()
    return None


def _check_files(path: Path, lines: dict[LinePath, int], prefix: LinePath, config: TrainConfig,
                 base_dir: Path, goldens: list[GoldenSource], prompt_arms: list[str]) -> None:
    problems: list[tuple[LinePath, str]] = []
    data = _resolve(base_dir, config.data)
    if not data.is_file():
        problems.append((("data",), f"training data file not found: {data}"))
    if config.system_prompt_file and not _resolve(base_dir, config.system_prompt_file).is_file():
        problems.append((("system_prompt_file",),
                         f"file not found: {_resolve(base_dir, config.system_prompt_file)}"))
    if config.system_prompt_arm is not None:
        if not prompt_arms:
            problems.append((("system_prompt_arm",), "only a suite's train section can name a "
                             "prompt arm; use system_prompt or system_prompt_file"))
        elif config.system_prompt_arm not in prompt_arms:
            problems.append((("system_prompt_arm",), f"'{config.system_prompt_arm}' is not a "
                             f"prompt arm of this suite ({', '.join(prompt_arms)})"))
    for i, g in enumerate(goldens):
        if not g.path.is_file():
            problems.append((("golden_sets", i, "path"), f"golden set file not found: {g.path}"))
    if problems:
        loc, message = problems[0]
        loc = prefix + loc
        line = line_of(lines, loc)
        where = f"{path}:{line}: " if line else f"{path}: "
        raise ConfigError(f"{where}{format_loc(loc)}: {message}")


