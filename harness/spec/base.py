"""The small pieces of config shared by suites, arms, engines and training: plain pydantic.

This module imports nothing of harness but the value types, so every kind module (an arm, an
engine) can build its config from it without pulling in the suite or any model code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.types import GenerationParams

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Strict(BaseModel):
    # Unknown fields are errors: a typo in a suite must never be silently ignored.
    model_config = ConfigDict(extra="forbid")


class ModelSpec(Strict):
    base: str = Field("default", description='"default" (embedded SmolLM2-135M-Instruct), a '
                      "local Hugging Face folder, or a hub id")
    dtype: Literal["auto", "bfloat16", "float32", "float16"] = "auto"


class GenerationSpec(Strict):
    max_tokens: int = Field(128, ge=1)
    temperature: float = Field(0.0, ge=0.0, description="0 is greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int = 0
    stop: list[str] = Field(default_factory=list)

    def params(self) -> GenerationParams:
        return GenerationParams(self.max_tokens, self.temperature, self.top_p, self.seed,
                                tuple(self.stop))


class PriceSpec(Strict):
    """What one call costs on an engine: token prices and/or a price per generation second."""

    currency: str | None = Field(None, description="default: the suite's cost.currency, "
                                 "else USD")
    input_per_million_tokens: float = Field(0.0, ge=0.0, description="price of 1M prompt tokens")
    output_per_million_tokens: float = Field(0.0, ge=0.0,
                                             description="price of 1M completion tokens")
    per_generation_second: float = Field(0.0, ge=0.0, description="price of one second of "
                                         "generation (e.g. a GPU's hourly price / 3600)")

    def per_call(self, prompt_tokens: float, completion_tokens: float,
                 seconds: float = 0.0) -> float:
        return ((prompt_tokens * self.input_per_million_tokens
                 + completion_tokens * self.output_per_million_tokens) / 1e6
                + seconds * self.per_generation_second)

    @property
    def is_priced(self) -> bool:
        return bool(self.input_per_million_tokens or self.output_per_million_tokens
                    or self.per_generation_second)
