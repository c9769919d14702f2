"""Judge requests through the run's response cache and the suite's engines.

The same path as an arm's requests: each request is keyed by the judge engine's identity and
the request's fingerprint (the rendered template, so the judge's model and prompt are in the
key), answered from the cache when it can be, and otherwise sent with every other miss of the
same engine in one `generate` call, so the engine's own batching (local) or concurrency (HTTP)
applies. An engine is built on its first miss, kept for the rest of the run's judging and
closed by `close()`: a fully cached judging starts nothing. An engine the arms were just
generated on is handed over (`adopt`) instead of being closed and started again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import EngineError
from harness.spec.engine import ResolvedEngine
from harness.store import ResponseCache
from harness.types import Request, Response


@dataclass
class JudgeCounts:
    calls: int = 0  # judge requests asked for
    cached: int = 0  # answered from the response cache
    generated: int = 0
    failed: int = 0  # failed after the engine's retries (an evaluator error for that example)

    def as_dict(self) -> dict[str, int]:
        return {"judge_calls": self.calls, "cached_judge_calls": self.cached,
                "generated_judge_calls": self.generated, "failed_judge_calls": self.failed}


class JudgeEngines:
    def __init__(self, suite: Any, resolved: Mapping[str, ResolvedEngine], cache: ResponseCache,
                 *, log_dir: Path | None = None,
                 on_generated: Callable[[str, Response], None] | None = None):
        self.suite = suite
        self.resolved = resolved
        self.cache = cache
        self.log_dir = log_dir
        self.on_generated = on_generated  # e.g. the spending limit, for priced judge engines
        self.counts = JudgeCounts()
        self._engines: dict[str, Any] = {}

    def key(self, engine_name: str, request: Request) -> str:
        return ResponseCache.key(self.resolved[engine_name].identity, request)

    def generate(self, engine_name: str, requests: Sequence[Request]) -> list[Response]:
        """One response per request, in order; a request that failed for good is a Response
        with `error` set. A backend that is gone raises EngineError (from the engine)."""
        keys = [self.key(engine_name, r) for r in requests]
        out: list[Response | None] = [self.cache.get(k) for k in keys]
        self.counts.calls += len(requests)
        self.counts.cached += sum(r is not None for r in out)
        todo: dict[str, list[int]] = {}  # one generation per distinct key
        for i, (key, response) in enumerate(zip(keys, out, strict=True)):
            if response is None:
                todo.setdefault(key, []).append(i)
        if todo:
            engine = self._engine(engine_name)
            order = list(todo)

            def on_done(index: int, response: Response) -> None:
                key = order[index]
                self.cache.put(key, response)
                for i in todo[key]:
                    out[i] = response
                self.counts.generated += 1
                if self.on_generated is not None:
                    self.on_generated(engine_name, response)

            responses = engine.generate([requests[todo[k][0]] for k in order], progress=on_done)
            for key, response in zip(order, responses, strict=True):
                for i in todo[key]:
                    out[i] = out[i] or response
        done = [r if r is not None else Response("", error="no response") for r in out]
        self.counts.failed += sum(r.failed for r in done)
        return done

    def wants(self, engine_name: str) -> bool:
        """Does a judge of the suite run on this engine?"""
        return any(engine_name in judge.engine_names() for judge in self.suite.judges.values())

    def adopt(self, engine_name: str, engine: Any) -> None:
        """Keep an engine the arms were generated on, for the judges on it; closed by
        close() (a judge asks the base model: adapters the engine serves do not matter)."""
        previous = self._engines.get(engine_name)
        if previous is not None and previous is not engine:
            previous.close()
        self._engines[engine_name] = engine

    def _engine(self, name: str) -> Any:
        engine = self._engines.get(name)
        if engine is None:
            spec = self.suite.engine_specs()[name]
            resolved = self.resolved[name]
            engine = spec.build(self.suite.engine_context(name, log_dir=self.log_dir), resolved)
            self._engines[name] = engine
            if engine.identity() != resolved.identity:
                raise EngineError(f"engine {name}: identity {engine.identity()} differs from the "
                                  f"predicted {resolved.identity}: cache keys would be wrong "
                                  "(this is a bug)")
        return engine

    def close(self) -> None:
        engines, self._engines = self._engines, {}
        for engine in engines.values():
            engine.close()
