"""Grammars for constrained decoding on the local engine (xgrammar, the library vLLM uses).

One `Grammars` per tokenizer: each distinct response format is compiled once, and every
constrained row gets its own `GrammarMatcher` from the compiled grammar. JSON is compiled
without free whitespace, separators ", " and ": " (one-line JSON, as the demo's golden answers
are written): a tiny model allowed any whitespace can fill its max_tokens with newlines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness.types import ResponseFormat


class GrammarError(ValueError):
    """A response format that does not compile (an invalid JSON Schema or regex)."""


def format_key(fmt: ResponseFormat) -> str:
    # The schema's name does not change the grammar.
    if fmt.json_schema is not None:
        return "json_schema:" + json.dumps(fmt.json_schema, sort_keys=True)
    return f"regex:{fmt.regex}"


class Grammars:
    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: Sequence[int]):
        import xgrammar as xgr

        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size,
                                                  stop_token_ids=list(stop_token_ids))
        self._compiler = xgr.GrammarCompiler(info, max_threads=2)
        self._compiled: dict[str, Any] = {}

    def compiled(self, fmt: ResponseFormat) -> Any:
        key = format_key(fmt)
        if key not in self._compiled:
            self._compiled[key] = self._compile(fmt)
        return self._compiled[key]

    def matcher(self, fmt: ResponseFormat) -> Any:
        import xgrammar as xgr

        return xgr.GrammarMatcher(self.compiled(fmt))

    def _compile(self, fmt: ResponseFormat) -> Any:
        try:
            if fmt.json_schema is not None:
                return self._compiler.compile_json_schema(
                    json.dumps(fmt.json_schema), any_whitespace=False, separators=(", ", ": "))
            if fmt.regex is None:
                raise GrammarError("response_format has neither json_schema nor regex")
            return self._compiler.compile_regex(fmt.regex)
        except (RuntimeError, ValueError, TypeError) as exc:
            if isinstance(exc, GrammarError):
                raise
            what = "json_schema" if fmt.json_schema is not None else f"regex {fmt.regex!r}"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GrammarError(f"response_format {what} could not be compiled: {first}") from exc
