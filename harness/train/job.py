"""A training job: a suite's `train` section or a standalone train YAML, paths resolved.

`load_train_job(path)` reads either kind of file and resolves everything relative to it into a
`TrainJob`: data and golden-set paths, the system prompt, the base model spec, where the adapter
and its checkpoints go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import ConfigError
from harness.pydantic_paths import describe_validation_error
from harness.spec.train import GoldenRef, TrainConfig
from harness.types import stable_hash
from harness.yamlio import LinePath, format_loc, line_of, load_yaml_with_lines


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
    rag_arm: str | None = None  # train on this RAG arm's messages (suite jobs only)

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
        return stable_hash({"config": dumped, "system_prompt": self.system_prompt,
                            "rag_arm": self.rag_arm})


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
    from harness.spec.suite import load_suite

    suite = load_suite(path, require_adapters=False)  # training makes the adapter
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
    rag_arms = [a.name for a in suite.arms if a.gives_context]
    _check_files(path, lines, ("train",), config, base_dir, extra, list(prompt_arms), rag_arms)
    arm = prompt_arms.get(config.system_prompt_arm) if config.system_prompt_arm else None
    return TrainJob(config=config, config_path=suite.path,
                    data_path=_resolve(base_dir, config.data),
                    base_spec=config.base or suite.model.base, base_dir=base_dir,
                    system_prompt=_system_prompt(config, base_dir, arm),
                    golden_sets=tuple(goldens + extra), output_dir=_output_dir(config, base_dir),
                    suite_name=suite.name, rag_arm=config.rag_arm)


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
                 base_dir: Path, goldens: list[GoldenSource], prompt_arms: list[str],
                 rag_arms: list[str] | None = None) -> None:
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
    if config.rag_arm is not None:
        if rag_arms is None:
            problems.append((("rag_arm",), "only a suite's train section can name a RAG arm"))
        elif config.rag_arm not in rag_arms:
            problems.append((("rag_arm",), f"'{config.rag_arm}' is not a RAG arm of this suite "
                             f"({', '.join(rag_arms) or 'it has none'})"))
    for i, g in enumerate(goldens):
        if not g.path.is_file():
            problems.append((("golden_sets", i, "path"), f"golden set file not found: {g.path}"))
    if problems:
        loc, message = problems[0]
        loc = prefix + loc
        line = line_of(lines, loc)
        where = f"{path}:{line}: " if line else f"{path}: "
        raise ConfigError(f"{where}{format_loc(loc)}: {message}")


