"""The training configuration: a suite's `train` section, or a standalone train YAML.

`TrainConfig` is the schema (validated like the suite: unknown fields are errors, each error
names file:line and field). `harness.train.job.load_train_job` reads either kind of file into
a `TrainJob` with every path resolved.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from harness.adapters_io import VLLM_LORA_RANKS

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
    rag_arm: str | None = Field(None, description="suite only: train on this RAG arm's "
                                "prompts (its passages retrieved for each training question), "
                                "so the adapter learns to use context as the tuned+RAG arm "
                                "will show it")
    held_out: float = Field(0.0, ge=0.0, description="examples kept out of training for the "
                            "evaluation loss: a fraction (< 1) or a count (>= 1)")
    lora: LoraSpec = Field(default_factory=LoraSpec)
    quantization: Literal["nf4", "none"] = Field("nf4", description="nf4: 4-bit QLoRA; "
                                                 "none: LoRA on a 16-bit base")
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="auto: bfloat16 on GPUs and on CPUs with native bf16, else float32 "
        "(emulated bf16 trained 2.1x slower than float32 on a CPU without it)")

    @property
    def resolved_compute_dtype(self) -> str:
        from harness.devices import resolve_dtype_name

        return resolve_dtype_name(self.compute_dtype)
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
        given = [f for f in ("system_prompt", "system_prompt_file", "system_prompt_arm",
                             "rag_arm")
                 if getattr(self, f) is not None]
        if len(given) > 1:
            raise ValueError(f"set one of {', '.join(given)}, not several")
        return self

    def with_max_steps(self, max_steps: int) -> TrainConfig:
        return self.model_copy(update={"max_steps": max_steps, "epochs": None})


