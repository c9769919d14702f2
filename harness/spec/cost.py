"""The suite's `cost` section: prices of the default engine, training cost and traffic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from harness.spec.base import PriceSpec


class CostConfig(BaseModel):
    """Prices, so the report can give a per-call cost per arm and the tune's break-even volume.

    The token prices apply to arms on the suite's default engine; an engine of `engines:` may
    set its own `cost`. Tuned arms may have their own token prices (hosted fine-tuned models
    often cost more).
    """

    model_config = ConfigDict(extra="forbid")

    currency: str = "USD"
    input_per_million_tokens: float = Field(0.0, ge=0.0, description="price of 1M prompt tokens")
    output_per_million_tokens: float = Field(0.0, ge=0.0,
                                             description="price of 1M completion tokens")
    tuned_input_per_million_tokens: float | None = Field(None, ge=0.0,
                                                         description="tuned arms; default: "
                                                         "input_per_million_tokens")
    tuned_output_per_million_tokens: float | None = Field(None, ge=0.0)
    per_generation_second: float = Field(0.0, ge=0.0, description="price of one second of "
                                         "generation (e.g. a GPU's hourly price / 3600)")
    training_cost: float = Field(0.0, ge=0.0, description="cost of one tune (compute + labour)")
    retune_every_days: float | None = Field(None, gt=0.0, description="how often the tune is "
                                            "redone; default: once")
    calls_per_day: float | None = Field(None, ge=0.0, description="expected traffic, to say "
                                        "whether the tune pays for itself")

    def prices(self, tuned: bool) -> tuple[float, float]:
        """(input, output) price per million tokens for an arm on the default engine."""
        if not tuned:
            return self.input_per_million_tokens, self.output_per_million_tokens
        return (self.input_per_million_tokens if self.tuned_input_per_million_tokens is None
                else self.tuned_input_per_million_tokens,
                self.output_per_million_tokens if self.tuned_output_per_million_tokens is None
                else self.tuned_output_per_million_tokens)

    def price_for(self, tuned: bool) -> PriceSpec:
        price_in, price_out = self.prices(tuned)
        return PriceSpec(currency=self.currency, input_per_million_tokens=price_in,
                         output_per_million_tokens=price_out,
                         per_generation_second=self.per_generation_second)
