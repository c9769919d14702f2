"""Orchestration of `harness run`: wires config, golden sets, arms, engines, cache, scorers and
the run store. It owns no business rule; each stage lives in its own module.

Everything is written as it is produced: a response goes to the cache and to responses.jsonl the
moment an engine finishes it, and a score the moment it is computed, each line keyed by what
produced it. A killed run resumes where it stopped, but only when its inputs are unchanged (the
input identity: suite, golden-set contents, prompts, models, adapters); otherwise a new run
starts and the cache supplies every response whose key still matches.

Each arm runs on its own engine (the suite's default, or one of `engines:`); the engines are
built one after another, only when something is not cached, and closed right after. Judges
(harness/judges) run after the scorers, on their own engines, through the same cache: a rubric
judge is scored like a scorer, a pairwise judge writes judgements.jsonl.
"""

from __future__ import annotations

import json
import platform
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness.arms.base import Arm, ArmContext
from harness.engines.openai import estimate_prompt_tokens
from harness.errors import BudgetExceeded, ConfigError, EngineError
from harness.golden import ExampleStore, GoldenSet, load_golden_set, normalize_text
from harness.judges._client import JudgeEngines
from harness.manifest import (
    ArmRecord,
    EngineRecord,
    GoldenSetRecord,
    JudgeRecord,
    RunManifest,
    ScorerRecord,
)
from harness.scoring import BoundScorer, build_scorer
from harness.spec.base import PriceSpec
from harness.spec.engine import ResolvedEngine
from harness.spec.judge import JudgeContext, judge_pairs
from harness.spec.suite import ScorerSpec, Suite
from harness.store import (
    ResponseCache,
    RunStore,
    example_uid,
    find_resumable_run,
    iter_jsonl,
    new_run_dir,
    now_iso,
    read_at,
)
from harness.types import Example, Request, Response, Sample, stable_hash
from harness.versions import installed_version

if TYPE_CHECKING:
    from harness.retrieval.service import CorpusSearch

SCORE_CHUNK = 64  # samples scored (and written) at a time; batch scorers see a chunk at once
PAIR_CHUNK = 32  # pairs a pairwise judge judges (2 requests each) and writes at a time
KEY_PACKAGES = ["harness", "torch", "transformers", "peft", "trl", "bitsandbytes",
                "sentence-transformers", "qdrant-client", "numpy", "scipy", "pandas", "httpx"]


@dataclass
class RunResult:
    run_dir: Path
    resumed: bool
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WorkItem:
    arm: Arm
    example: Example
    request: Request
    key: str
    a: int = 0  # the arm's and the example's index in the run's Plan
    e: int = 0

    @property
    def uid(self) -> str:
        return example_uid(self.example.golden_set, self.example.id)


@dataclass
class Spend:
    """Money spent on priced arms in this run, against `--max-cost`."""

    limit: float | None
    currency: str = "USD"
    spent: float = 0.0

    def add(self, price: PriceSpec | None, response: Response) -> None:
        if price is None or response.cached:
            return
        self.spent += price.per_call(response.prompt_tokens, response.completion_tokens,
                                     response.latency_s)
        if self.limit is not None and self.spent >= self.limit:
            raise BudgetExceeded(
                f"spent {self.spent:.4f} {self.currency}, reaching --max-cost {self.limit:g}: "
                "generation stopped; everything generated so far is kept (run again with a "
                "larger --max-cost to continue)")


def run_suite(suite: Suite, *, console: Console | None = None, resume: bool = True,
              limit: int | None = None, new_run: bool = False,
              max_cost: float | None = None) -> RunResult:
    console = console or Console()
    warnings: list[str] = []
    # Compact: a golden set's examples are bytes until read (golden.ExampleStore).
    golden_sets = [
        load_golden_set(suite.resolve(spec.path), name=name, fmt=spec.format,
                        columns=spec.columns, limit=limit or spec.limit, guard=spec.guard,
                        compact=True)
        for spec, name in zip(suite.golden_sets, suite.golden_set_names, strict=True)
    ]
    for gs in golden_sets:
        warnings.extend(gs.warnings)
    examples = ExampleStore.chain(gs.examples for gs in golden_sets)

    engines = resolve_engines(suite)
    for resolved in engines.values():
        warnings.extend(resolved.warnings)
    cache_path = suite.cache_path()
    search = _corpus_search(suite, cache_path)
    try:
        return _run(suite, console, resume, new_run, max_cost, warnings, golden_sets,
                    examples, engines, ArmContext(suite, engines, search), cache_path)
    finally:
        if search is not None:
            search.close()
            if search.cache is not None:
                search.cache.close()


def _corpus_search(suite: Suite, cache_path: Path) -> CorpusSearch | None:
    """Retrieval over the suite's corpora, cached in the run's cache file; None (nothing
    imported or opened) for a suite without corpora: no arm of it can retrieve."""
    if not suite.corpora:
        return None
    from harness.retrieval.cache import RetrievalCache
    from harness.retrieval.service import CorpusSearch

    return CorpusSearch(suite.corpora, suite.base_dir, RetrievalCache(cache_path))


def _run(suite: Suite, console: Console, resume: bool, new_run: bool, max_cost: float | None,
         warnings: list[str], golden_sets: list[GoldenSet], examples: Sequence[Example],
         engines: dict[str, ResolvedEngine], ctx: ArmContext, cache_path: Path) -> RunResult:
    arms = [ctx.arm(spec.name) for spec in suite.arms]
    _refuse_few_shot_leakage(suite, arms, golden_sets)
    warnings.extend(_training_overlap_warnings(arms, golden_sets))
    scorers = {spec.name: (spec, build_scorer(spec.scorer_kind, spec.options,
                                              base_dir=suite.base_dir))
               for spec in suite.scorer_specs}
    judges = build_judges(suite)
    scorers.update({name: (judge_scorer_spec(suite, name, judge, engines), judge.bound_scorer())
                    for name, judge in judges.items() if not judge.pairwise})
    prices = {arm.name: arm_price(suite, arm) for arm in arms}

    parts = input_parts(suite, golden_sets, arms, engines)
    identity = stable_hash(parts)
    runs_root = suite.resolve(suite.output.runs_dir) / suite.name
    found = find_resumable_run(runs_root, identity, parts) if resume and not new_run else None
    resumed = found is not None and found.run_dir is not None
    run_dir = found.run_dir if found is not None and found.run_dir else new_run_dir(runs_root)
    store = RunStore(run_dir)
    cache = ResponseCache(cache_path)
    spend = Spend(max_cost, suite.cost.currency if suite.cost else "USD")
    client = JudgeEngines(suite, engines, cache, log_dir=run_dir, on_generated=lambda name, r:
                          spend.add(engine_price(suite, name), r))
    for judge in judges.values():
        judge.bind(client)
    try:
        previous = store.read_manifest()
        manifest = _manifest(suite, run_dir, identity, parts, golden_sets, engines, arms,
                             scorers, prices, warnings)
        manifest.judges = [judge_record(suite, name, judge, engines)
                           for name, judge in judges.items()]
        if previous is not None:
            manifest.started_at = previous.started_at
            manifest.resumed_at = [*previous.resumed_at, now_iso()]
        if found is not None and found.not_resumed:
            manifest.previous_run = found.not_resumed
            warnings.append(found.not_resumed)
        store.write_manifest(manifest)
        store.write_examples(
            {"uid": example_uid(e.golden_set, e.id), "id": e.id, "golden_set": e.golden_set,
             "tags": list(e.tags), "reference": e.reference, "prompt": e.user_text,
             "metadata": e.metadata, **({"gold_doc_ids": list(e.gold_doc_ids)}
                                        if e.gold_doc_ids else {})}
            for e in examples
        )
        counts = {"examples": len(examples), "arms": len(arms)}
        try:
            with _progress(console) as progress:
                counts.update(_retrieve(arms, examples, ctx, progress))
                plan = Plan(arms, examples, engines)
                counts.update(_generate(suite, engines, plan, store, cache, run_dir,
                                        progress, prices, spend, console, client,
                                        warnings=warnings))
                store.sync()
                counts["scores"] = _score(scorers, plan, store, progress, counts)
                counts.update(_judge_pairs(judges, engines, plan, store, progress))
                store.sync()
                counts.update(client.counts.as_dict() if judges else {})
        except BaseException as exc:
            manifest.status = ("interrupted" if isinstance(exc, KeyboardInterrupt)
                               else "stopped" if isinstance(exc, BudgetExceeded) else "failed")
            manifest.counts = counts
            store.write_manifest(manifest)
            raise
        manifest.status, manifest.finished_at, manifest.counts = "complete", now_iso(), counts
        warnings.extend(_evaluator_error_warnings(counts))
        manifest.warnings = warnings
        store.write_manifest(manifest)
    finally:
        client.close()
        store.close()
        cache.close()
    return RunResult(run_dir=run_dir, resumed=resumed, counts=counts, warnings=warnings)


def resolve_engines(suite: Suite) -> dict[str, ResolvedEngine]:
    """Every engine an arm or a judge uses, resolved (identity, model) without starting
    anything."""
    used = {arm.engine or "default" for arm in suite.arms}
    used |= {name for judge in suite.judges.values() for name in judge.engine_names()}
    return {name: spec.resolve(suite.engine_context(name))
            for name, spec in suite.engine_specs().items() if name in used}


def arm_price(suite: Suite, arm: Arm) -> PriceSpec | None:
    """What one call of the arm costs: its engine's `cost`, else (default engine) the suite's."""
    spec = suite.engine_specs()[arm.engine]
    if spec.cost is not None:
        currency = spec.cost.currency or (suite.cost.currency if suite.cost else "USD")
        return spec.cost.model_copy(update={"currency": currency})
    if arm.engine == "default" and suite.cost is not None:
        return suite.cost.price_for(arm.roles.has_adapter)
    return None


def engine_price(suite: Suite, name: str) -> PriceSpec | None:
    """What one call on an engine costs (a judge's calls: no adapter)."""
    spec = suite.engine_specs()[name]
    if spec.cost is not None:
        currency = spec.cost.currency or (suite.cost.currency if suite.cost else "USD")
        return spec.cost.model_copy(update={"currency": currency})
    if name == "default" and suite.cost is not None:
        return suite.cost.price_for(False)
    return None


def build_judges(suite: Suite) -> dict[str, Any]:
    """Every judge of the suite, built (not yet bound to engines: nothing starts here)."""
    arm_names = [a.name for a in suite.arms]
    return {name: spec.build(JudgeContext(name, suite.base_dir, judge_pairs(
                spec, name, suite.gates, arm_names, suite.ladder)))
            for name, spec in suite.judges.items()}


def judge_key(judge: Any, engines: dict[str, ResolvedEngine]) -> str:
    return judge.key([engines[e].identity for e in judge.engines])


def judge_scorer_spec(suite: Suite, name: str, judge: Any,
                      engines: dict[str, ResolvedEngine]) -> ScorerSpec:
    """A rubric judge as the scorer it is: its options carry what makes its values (the key)."""
    spec = suite.judges[name]
    return ScorerSpec(name=name, kind=f"judge:{spec.kind}", arms=spec.arms,
                      golden_sets=spec.golden_sets,
                      options={"judge_key": judge_key(judge, engines),
                               "engines": judge.engines})


def judge_record(suite: Suite, name: str, judge: Any,
                 engines: dict[str, ResolvedEngine]) -> JudgeRecord:
    spec = suite.judges[name]
    return JudgeRecord(
        name=name, kind=spec.kind, pairwise=judge.pairwise, engines=judge.engines,
        models=[engines[e].model_label for e in judge.engines],
        pairs=[list(p) for p in getattr(judge, "pairs", ())], golden_sets=spec.golden_sets,
        min_consistency=getattr(spec, "min_consistency", None),
        min_human_agreement=getattr(spec, "min_human_agreement", None),
        calibration=getattr(spec, "calibration", None),
        config=spec.model_dump(mode="json"), key=judge_key(judge, engines))


def input_parts(suite: Suite, golden_sets: list[GoldenSet], arms: list[Arm],
                engines: dict[str, ResolvedEngine]) -> dict[str, str]:
    """Hashes of everything that produced the run's inputs, by name (what changed is named)."""
    parts = {"suite": suite.content_hash()}
    for gs in golden_sets:
        parts[f"golden set {gs.name}"] = gs.content_hash
    for arm in arms:
        parts[f"arm {arm.name}"] = stable_hash(arm.describe())
    for name, resolved in engines.items():
        parts[f"engine {name}"] = stable_hash(resolved.identity)
    return parts


def _manifest(suite: Suite, run_dir: Path, identity: str, parts: dict[str, str],
              golden_sets: list[GoldenSet], engines: dict[str, ResolvedEngine],
              arms: list[Arm], scorers: dict[str, tuple[ScorerSpec, BoundScorer]],
              prices: dict[str, PriceSpec | None], warnings: list[str]) -> RunManifest:
    return RunManifest(
        run_id=run_dir.name, suite_name=suite.name, suite_path=str(suite.path),
        suite_hash=suite.content_hash(), input_identity=identity, input_parts=parts,
        suite=suite.model_dump(mode="json", exclude_unset=True),  # as written
        golden_sets=[GoldenSetRecord(name=gs.name, path=str(gs.path),
                                     hash=parts[f"golden set {gs.name}"],
                                     n_examples=len(gs.examples), guard=gs.guard)
                     for gs in golden_sets],
        engines=[EngineRecord(name=r.name, kind=r.kind, identity=r.identity, model=r.model_label,
                              pinned=bool(r.details.get("pinned", True)), details=r.details)
                 for r in engines.values()],
        arms=[ArmRecord(name=a.name, kind=a.kind, engine=a.engine,
                        model=engines[a.engine].model_label, has_adapter=a.roles.has_adapter,
                        has_retrieval=a.roles.has_retrieval, constrained=a.roles.constrained,
                        price=prices[a.name], params=a.params.as_dict(), detail=a.describe())
              for a in arms],
        scorers=[ScorerRecord(name=name, kind=spec.scorer_kind, range=list(bound.info.range),
                              higher_is_better=bound.info.higher_is_better,
                              binary=bound.info.binary, primary=name == suite.primary,
                              golden_sets=spec.golden_sets, arms=spec.arms,
                              options=spec.options, needs=sorted(bound.info.needs),
                              key=scorer_key(spec, bound))
                 for name, (spec, bound) in scorers.items()],
        primary_scorer=suite.primary, seed=suite.generation.seed,
        max_error_rate=suite.max_error_rate,
        currency=suite.cost.currency if suite.cost else "USD",
        package_versions=package_versions(), python=platform.python_version(),
        status="running", started_at=now_iso(), warnings=warnings)


def scorer_key(spec: ScorerSpec, bound: BoundScorer) -> str:
    return stable_hash({"kind": spec.scorer_kind, "options": spec.options,
                        "info": bound.info.as_dict()})[:24]


ITEM_CHUNK = 1024  # examples whose requests are built, and responses recorded, at a time


class Plan:
    """Every (arm, example) of a run, kept as columns instead of a WorkItem each: an arm
    rebuilds its request when one is needed (cheap), while the cache key, which costs a hash,
    is computed once and kept. For each (arm, example) the plan knows where its latest line
    is in responses.jsonl and whether that line answers this very request, so scoring reads
    responses back by offset, a chunk at a time, instead of holding them all.

    Lines a resumed run finds in its files are matched by the hash() of their keys (64 bits,
    within this process), 8 bytes an entry: per (arm, example) the key of its latest line and
    of its latest successful one, the two that decide whether it is done.

    The columns are flat stdlib arrays indexed by arm * examples + example: as compact as
    numpy's, without numpy's ~0.1 s import before the first request.
    """

    KEY_BYTES = 64  # a request key: the hex sha256 of ResponseCache.key

    def __init__(self, arms: list[Arm], examples: Sequence[Example],
                 engines: dict[str, ResolvedEngine]):
        self.arms, self.examples = arms, examples
        self.identities = [engines[arm.engine].identity for arm in arms]
        self._n = len(examples)
        size = len(arms) * self._n
        self._keys = bytearray(self.KEY_BYTES * size)  # request keys (zeros until computed)
        self._offset = array("q", [-1]) * size  # latest line in responses.jsonl
        self._answers = bytearray(size)  # ... and it answers this request
        # From a resumed run's file, until the keys are known: hash(request key) of the latest
        # line, and of the latest successful one.
        self._latest_hash = array("q", [0]) * size
        self._good_hash = array("q", [0]) * size
        self._has_good = bytearray(size)
        self._positions: dict[str, int] | None = None
        self._decoded: tuple[range, list[Example]] | None = None

    @property
    def size(self) -> int:
        return len(self.arms) * len(self.examples)

    def index(self, a: int, e: int) -> int:
        """The place of (arm, example) in the flat columns."""
        return a * self._n + e

    def offset(self, a: int, e: int) -> int:
        """Where the latest line of (arm, example) starts in responses.jsonl (-1: none)."""
        return self._offset[self.index(a, e)]

    def answers(self, a: int, e: int) -> bool:
        """Whether that line answers this run's request of (arm, example)."""
        return bool(self._answers[self.index(a, e)])

    def positions(self) -> dict[str, int]:
        """uid -> example index (built on first use: only a resumed run needs it)."""
        if self._positions is None:
            self._positions = {example_uid(e.golden_set, e.id): i
                               for i, e in enumerate(self.examples)}
        return self._positions

    def ranges(self) -> Iterator[range]:
        """The examples in chunks of ITEM_CHUNK."""
        for start in range(0, len(self.examples), ITEM_CHUNK):
            yield range(start, min(len(self.examples), start + ITEM_CHUNK))

    def decoded(self, examples: range) -> list[Example]:
        """The examples of a chunk, read once for all arms (an ExampleStore decodes on read)."""
        if self._decoded is None or self._decoded[0] != examples:
            self._decoded = (examples, list(self.examples[examples.start:examples.stop]))
        return self._decoded[1]

    def items(self, a: int, examples: range) -> list[WorkItem]:
        arm, identity, width = self.arms[a], self.identities[a], self.KEY_BYTES
        out = []
        for e, example in zip(examples, self.decoded(examples), strict=True):
            request = arm.build(example)
            at = self.index(a, e) * width
            stored = self._keys[at:at + width]
            if stored[0]:
                key = stored.decode("ascii")
            else:
                key = ResponseCache.key(identity, request)
                if len(key) != width:
                    raise AssertionError(f"a request key of {len(key)} characters")
                self._keys[at:at + width] = key.encode("ascii")
            out.append(WorkItem(arm, example, request, key, a, e))
        return out

    def read_responses(self, path: Path) -> None:
        """What a resumed run already wrote: per (arm, example) its latest line and the latest
        successful one (a resumed run appends what it redid: the last line wins)."""
        arm_index = {arm.name: a for a, arm in enumerate(self.arms)}
        for offset, r in iter_jsonl(path):
            a = arm_index.get(r.get("arm"))
            e = self.positions().get(r.get("uid") or r.get("example_id"))
            if a is None or e is None:
                continue
            at, key_hash = self.index(a, e), hash(str(r.get("request_key")))
            self._offset[at], self._latest_hash[at] = offset, key_hash
            if not r.get("error"):
                self._good_hash[at], self._has_good[at] = key_hash, 1

    def check(self, item: WorkItem) -> bool:
        """Once the item's key is known: does its latest line answer it? Returns whether a
        successful line for this exact request is there already (nothing to generate)."""
        at, key_hash = self.index(item.a, item.e), hash(item.key)
        self._answers[at] = self._offset[at] >= 0 and self._latest_hash[at] == key_hash
        return bool(self._has_good[at]) and self._good_hash[at] == key_hash

    def recorded(self, item: WorkItem, offset: int) -> None:
        at = self.index(item.a, item.e)
        self._offset[at], self._answers[at] = offset, 1


def _response_record(item: WorkItem, response: Response) -> dict[str, Any]:
    return {"arm": item.arm.name, "uid": item.uid, "example_id": item.example.id,
            "golden_set": item.example.golden_set, **response.as_dict(),
            "request_key": item.key,
            **({"contexts": [asdict(c) for c in item.request.contexts]}
               if item.request.contexts else {})}


def _retrieve(arms: list[Arm], examples: Sequence[Example], ctx: ArmContext,
              progress: Progress) -> dict[str, int]:
    """Every arm's one-off preparation before its requests are built: RAG arms retrieve for
    all examples in one batch (cached per query)."""
    retrieving = [a for a in arms if a.roles.has_retrieval]
    if not retrieving:
        return {}
    task = progress.add_task("retrieving", total=len(retrieving) * len(examples))
    for arm in arms:
        arm.prepare(examples)
        if arm in retrieving:
            progress.advance(task, len(examples))
    stats = ctx.corpus_search().stats
    out = {"retrieval_queries": stats.queries,
                           "cached_retrievals": stats.cached,
                           "retrieval_ms": round(1000 * stats.seconds)}
    for report in stats.index_reports:
        out["indexed_chunks"] = out.get("indexed_chunks", 0) + report.embedded
    return out


def _generate(suite: Suite, engines: dict[str, ResolvedEngine], plan: Plan, store: RunStore,
              cache: ResponseCache, run_dir: Path, progress: Progress,
              prices: dict[str, PriceSpec | None], spend: Spend, console: Console,
              judges: JudgeEngines | None = None, *,
              warnings: list[str] | None = None) -> dict[str, int]:
    """Every (arm, example) without a successful line for its request gets one: from the
    cache (looked up a chunk of keys at a time, written a chunk of lines at a time), else from
    its engine. Done = a whole, successful line for this exact request key; anything else is
    redone."""
    if store.responses.path.stat().st_size:
        plan.read_responses(store.responses.path)
    counts = {"responses": 0, "cached_responses": 0, "generated_responses": 0,
              "arm_errors": 0}
    task = progress.add_task("generating", total=plan.size)

    def record(item: WorkItem, response: Response) -> None:
        plan.recorded(item, store.responses.append(_response_record(item, response)))
        counted(response)
        progress.advance(task)

    def counted(response: Response) -> None:
        counts["responses"] += 1
        counts["cached_responses" if response.cached else "generated_responses"] += 1
        if response.failed:
            counts["arm_errors"] += 1

    misses: list[list[WorkItem]] = [[] for _ in plan.arms]  # per arm: the arm-major order
    for examples in plan.ranges():
        for a in range(len(plan.arms)):
            todo = []
            for item in plan.items(a, examples):
                if plan.check(item):
                    counts["responses"] += 1
                else:
                    todo.append(item)
            hits = cache.get_many([i.key for i in todo])
            found = [(i, hits[i.key]) for i in todo if i.key in hits]
            offsets = store.responses.append_many([_response_record(i, r) for i, r in found])
            for (item, response), offset in zip(found, offsets, strict=True):
                plan.recorded(item, offset)
                counted(response)
            misses[a] += [i for i in todo if i.key not in hits]
            progress.advance(task, len(examples) - len(todo) + len(found))
    flat = [i for arm_misses in misses for i in arm_misses]
    if not flat:
        return counts
    estimate = sum(prices[i.arm.name].per_call(estimate_prompt_tokens(i.request),
                                               i.request.params.max_tokens)
                   for i in flat if prices[i.arm.name] is not None)
    if estimate > 0:
        console.print(f"estimated cost of generating {len(flat)} responses: at most "
                      f"{estimate:.4f} {spend.currency} (prompt tokens estimated, every answer "
                      "at max_tokens)", highlight=False)

    for engine_name in dict.fromkeys(i.arm.engine for i in flat):
        group = [i for i in flat if i.arm.engine == engine_name]
        _generate_on(suite, engine_name, engines[engine_name], group, plan.arms, cache, record,
                     run_dir, progress, task, prices, spend, judges,
                     warnings=warnings if warnings is not None else [])
    return counts


def _generate_on(suite: Suite, engine_name: str, resolved: ResolvedEngine,
                 group: list[WorkItem], arms: list[Arm], cache: ResponseCache, record: Any,
                 run_dir: Path, progress: Progress, task: Any,
                 prices: dict[str, PriceSpec | None], spend: Spend,
                 judges: JudgeEngines | None = None, *,
                 warnings: list[str] | None = None) -> None:
    adapters = tuple({a.adapter.content_hash: a.adapter for a in arms
                      if a.engine == engine_name and getattr(a, "adapter", None)}.values())
    spec = suite.engine_specs()[engine_name]
    progress.update(task, description=f"starting {engine_name} ({resolved.kind})")
    ctx = suite.engine_context(engine_name, log_dir=run_dir, adapters=adapters)
    engine = spec.build(ctx, resolved)
    try:
        if engine.identity() != resolved.identity:
            raise EngineError(f"engine {engine_name}: identity {engine.identity()} differs from "
                              f"the predicted {resolved.identity}: cache keys would be wrong "
                              "(this is a bug)")
        progress.update(task, description=f"generating ({engine_name})")

        def on_done(index: int, response: Response) -> None:
            item = group[index]
            cache.put(item.key, response)
            record(item, response)
            if response.failed and suite.fail_fast:
                raise EngineError(f"arm '{item.arm.name}', example '{item.uid}' failed "
                                  f"(fail_fast is on): {response.error}")
            spend.add(prices[item.arm.name], response)

        engine.generate([i.request for i in group], progress=on_done)
    finally:
        # What the engine noticed while serving (a pool member gone, ...) goes to the manifest.
        if warnings is not None:
            warnings.extend(getattr(engine, "warnings", []))  # each names its engine
        # A judge on this engine reuses it (no second model load or server start).
        if judges is not None and judges.wants(engine_name):
            judges.adopt(engine_name, engine)
        else:
            engine.close()


def _score(scorers: dict[str, tuple[ScorerSpec, BoundScorer]], plan: Plan, store: RunStore,
           progress: Progress, counts: dict[str, int] | None = None) -> int:
    """Every scorer on every (arm, example) whose latest response answers its request, a chunk
    of examples at a time (responses read back once per chunk for all scorers), each chunk of
    SCORE_CHUNK scores written as soon as it is scored."""
    counts = counts if counts is not None else {}
    keys = {name: scorer_key(spec, bound) for name, (spec, bound) in scorers.items()}
    wanted = {name: ([a for a, arm in enumerate(plan.arms)
                      if spec.arms is None or arm.name in spec.arms],
                     None if spec.golden_sets is None else set(spec.golden_sets))
              for name, (spec, _) in scorers.items()}
    in_sets = {name: len(plan.examples) if sets is None else
               sum(1 for e in plan.examples if e.golden_set in sets)
               for name, (_, sets) in wanted.items()}
    total = sum(len(arms) * in_sets[name] for name, (arms, _) in wanted.items())
    done = _scores_done(store, plan, scorers) if store.scores.path.stat().st_size else {}
    task = progress.add_task("scoring", total=total)
    arms_needed = sorted({a for arms, _ in wanted.values() for a in arms})
    for examples in plan.ranges():
        items = {a: plan.items(a, examples) for a in arms_needed}
        responses = _read_answers(plan, store, [i for a in arms_needed for i in items[a]])
        for name, (_spec, bound) in scorers.items():
            progress.update(task, description=f"scoring {name}")
            arms, sets = wanted[name]
            hashes, present = done.get(name, (None, None))
            todo, asked = [], 0
            for a in arms:
                for item in items[a]:
                    if sets is not None and item.example.golden_set not in sets:
                        continue
                    asked += 1
                    response = responses.get((item.a, item.e))
                    if response is None:
                        continue  # never score an answer to another request
                    score_key = stable_hash({"scorer": keys[name],
                                             "request": response["request_key"],
                                             "reference": item.example.reference})[:24]
                    # An evaluator error is not done: a resumed run asks the scorer again.
                    at = plan.index(item.a, item.e)
                    if present is not None and present[at] and hashes[at] == hash(score_key):
                        continue
                    todo.append((item, response, score_key))
            progress.advance(task, asked - len(todo))
            # In chunks, each written as soon as it is scored: a killed run keeps what it scored.
            for start in range(0, len(todo), SCORE_CHUNK):
                chunk = todo[start:start + SCORE_CHUNK]
                samples = [Sample(item.example, Response.from_dict(r), item.request,
                                  item.arm.name, item.request.contexts)
                           for item, r, _ in chunk]
                scores = bound.score_samples(samples)
                records = []
                for (item, response, score_key), score in zip(chunk, scores, strict=True):
                    records.append({
                        "arm": item.arm.name, "uid": item.uid, "example_id": item.example.id,
                        "golden_set": item.example.golden_set, "scorer": name,
                        "value": None if score.failed else float(score.value),
                        "explanation": score.explanation, "answer": score.answer,
                        "score_key": score_key, "request_key": response["request_key"],
                        **({"error": score.error} if score.failed else {})})
                    if score.failed:
                        counts[f"evaluator_errors:{name}"] = (
                            counts.get(f"evaluator_errors:{name}", 0) + 1)
                store.scores.append_many(records)
                progress.advance(task, len(chunk))
    return total


def _read_answers(plan: Plan, store: RunStore,
                  items: list[WorkItem]) -> dict[tuple[int, int], dict[str, Any]]:
    """(arm index, example index) -> the latest response line of the items it answers."""
    wanted = sorted((plan.offset(i.a, i.e), (i.a, i.e)) for i in items
                     if plan.answers(i.a, i.e))
    lines = read_at(store.responses.path, [offset for offset, _ in wanted])
    return {where: line for (_, where), line in zip(wanted, lines, strict=True)}


def _scores_done(store: RunStore, plan: Plan,
                 scorers: dict[str, Any]) -> dict[str, tuple[array, bytearray]]:
    """What a resumed run already scored: scorer -> (hash(score key), present), columns laid
    out as the plan's (`plan.index`), from the successful lines of scores.jsonl."""
    arm_index = {arm.name: a for a, arm in enumerate(plan.arms)}
    done: dict[str, tuple[array, bytearray]] = {}
    for _, r in iter_jsonl(store.scores.path):
        name = r.get("scorer")
        a = arm_index.get(r.get("arm"))
        e = plan.positions().get(r.get("uid"))
        if name not in scorers or a is None or e is None or r.get("error"):
            continue
        if name not in done:
            done[name] = (array("q", [0]) * plan.size, bytearray(plan.size))
        hashes, present = done[name]
        at = plan.index(a, e)
        hashes[at], present[at] = hash(str(r.get("score_key"))), 1
    return done


def _judge_pairs(judges: dict[str, Any], engines: dict[str, ResolvedEngine], plan: Plan,
                 store: RunStore, progress: Progress) -> dict[str, int]:
    """Every pairwise judge on its pairs (and its calibration pairs), in both orders, each
    chunk written to judgements.jsonl as soon as it is judged."""
    pairwise = {name: j for name, j in judges.items() if j.pairwise}
    if not pairwise:
        return {}
    answers = {}
    for examples in plan.ranges():
        items = [i for a in range(len(plan.arms)) for i in plan.items(a, examples)]
        responses = _read_answers(plan, store, items)
        for item in items:
            r = responses.get((item.a, item.e))
            if r is not None:  # this request's own answer
                answers[(item.arm.name, item.uid)] = Sample(item.example, Response.from_dict(r),
                                                            item.request, item.arm.name)
    done = {(r.get("judge"), r.get("uid"), r.get("arm"), r.get("baseline"),
             r.get("judgement_key")) for r in store.judgement_records() if not r.get("error")}
    counts: dict[str, int] = {"judgements": 0}
    task = progress.add_task("judging", total=None)
    for name, judge in pairwise.items():
        key = judge_key(judge, engines)
        tasks = judge.tasks(plan.examples, answers) + judge.calibration_tasks()
        todo = [t for t in tasks
                if (name, t.uid, t.arm, t.baseline, t.key(key)) not in done]
        counts["judgements"] += len(tasks)
        progress.update(task, total=counts["judgements"], description=f"judging {name}",
                        advance=len(tasks) - len(todo))
        for start in range(0, len(todo), PAIR_CHUNK):
            chunk = todo[start:start + PAIR_CHUNK]
            for record in judge.judge(chunk, key):
                store.judgements.append(record)
                if record["error"]:
                    counts[f"evaluator_errors:{name}"] = (
                        counts.get(f"evaluator_errors:{name}", 0) + 1)
            progress.advance(task, len(chunk))
    return counts


def _evaluator_error_warnings(counts: dict[str, int]) -> list[str]:
    return [f"{key.split(':', 1)[1]}: {n} evaluator error(s) in this run (the scorer or judge "
            "could not score those examples: they are left out for every arm; see the report)"
            for key, n in counts.items() if key.startswith("evaluator_errors:") and n]


def _refuse_few_shot_leakage(suite: Suite, arms: list[Arm], golden_sets: list[GoldenSet]) -> None:
    """A few-shot example that is also a golden question would hand the arm its answer."""
    golden = {normalize_text(e.user_text): e.id for gs in golden_sets for e in gs.examples}
    for arm in arms:
        for user, _ in getattr(arm, "few_shot", []):
            hit = golden.get(normalize_text(user))
            if hit:
                raise ConfigError(f"{suite.path}: arm '{arm.name}' has a few-shot example that "
                                  f"is golden example '{hit}' (it would leak the answer)")


def _training_overlap_warnings(arms: list[Arm], golden_sets: list[GoldenSet]) -> list[str]:
    """Warn when an adapter's manifest says it was trained on a golden example."""
    warnings = []
    for arm in arms:
        adapter = getattr(arm, "adapter", None)
        if adapter is None:
            continue
        from harness.train.leakage import overlaps_with_manifest

        manifest_path = Path(adapter.path) / "manifest.json"
        if not manifest_path.is_file():
            warnings.append(f"adapter of arm '{arm.name}' has no manifest.json: cannot check "
                            "that it never saw the golden sets")
            continue
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("rag_arm") and not arm.roles.has_retrieval:
            warnings.append(f"adapter of arm '{arm.name}' was trained on the prompts of RAG arm "
                            f"'{manifest['rag_arm']}' (passages included), but arm "
                            f"'{arm.name}' sends none")
        for gs in golden_sets:
            overlap = overlaps_with_manifest(manifest, gs.examples)
            if overlap:
                shown = ", ".join(overlap[:5]) + (" ..." if len(overlap) > 5 else "")
                warnings.append(f"adapter of arm '{arm.name}' was trained on {len(overlap)} "
                                f"example(s) of golden set '{gs.name}': {shown}")
    return warnings


def package_versions() -> dict[str, str]:
    """The installed versions of the packages a run's results depend on (those installed)."""
    versions = {name: installed_version(name) for name in KEY_PACKAGES}
    return {name: version for name, version in versions.items() if version is not None}


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("[bold]{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    )
    with progress:
        yield progress
