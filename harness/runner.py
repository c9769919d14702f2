"""Orchestration of `harness run`: wires config, golden sets, arms, engine, cache, scorers and the
run store. It owns no business rule; each stage lives in its own module.

Everything is written as it is produced: a response goes to the cache and to responses.jsonl the
moment the engine finishes it, and a score the moment it is computed. A killed run therefore
resumes where it stopped: the next `harness run` of the same suite continues the unfinished run
directory, and whatever was generated is served from the cache.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness.arms import Arm, build_arms
from harness.config import Suite
from harness.engines.factory import engine_identity, make_engine
from harness.errors import ConfigError, EngineError
from harness.golden import GoldenSet, load_golden_set, normalize_text
from harness.models import resolve_model
from harness.scoring import build_scorer
from harness.store import (
    ResponseCache,
    RunStore,
    find_resumable_run,
    new_run_id,
    now_iso,
)
from harness.types import Example, Request, Response

KEY_PACKAGES = ["harness", "torch", "transformers", "peft", "trl", "bitsandbytes",
                "sentence-transformers", "qdrant-client", "numpy", "scipy", "pandas"]


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


def run_suite(suite: Suite, *, console: Console | None = None, resume: bool = True,
              limit: int | None = None) -> RunResult:
    console = console or Console()
    warnings: list[str] = []
    golden_sets = [
        load_golden_set(suite.resolve(spec.path), name=name, fmt=spec.format,
                        columns=spec.columns, limit=limit or spec.limit, guard=spec.guard)
        for spec, name in zip(suite.golden_sets, suite.golden_set_names, strict=True)
    ]
    for gs in golden_sets:
        warnings.extend(gs.warnings)
    examples = [e for gs in golden_sets for e in gs.examples]

    model = resolve_model(suite.model.base, suite.base_dir)
    arms = build_arms(suite, model.identity)
    _refuse_few_shot_leakage(suite, arms, golden_sets)
    warnings.extend(_training_overlap_warnings(arms, golden_sets))
    scorers = {spec.name: (spec, build_scorer(spec.scorer_kind, spec.options,
                                              base_dir=suite.base_dir))
               for spec in suite.scorer_specs}

    runs_root = suite.resolve(suite.output.runs_dir) / suite.name
    suite_hash = suite.content_hash()
    resumable = find_resumable_run(runs_root, suite_hash) if resume else None
    run_dir = resumable or runs_root / new_run_id()
    store = RunStore(run_dir)
    cache = ResponseCache(suite.resolve(suite.output.cache) if suite.output.cache
                          else suite.resolve(suite.output.runs_dir) / "cache.sqlite")
    identity = engine_identity(suite, model)

    manifest: dict[str, Any] = {
        **store.read_manifest(),
        "run_id": run_dir.name,
        "suite_name": suite.name,
        "suite_path": str(suite.path),
        "suite_hash": suite_hash,
        "suite": suite.model_dump(mode="json", exclude_unset=True),  # as written
        "golden_sets": [{"name": gs.name, "path": str(gs.path), "hash": gs.content_hash,
                         "n_examples": len(gs.examples), "guard": gs.guard}
                        for gs in golden_sets],
        "model": {"spec": suite.model.base, "path": model.path, "identity": model.identity},
        "engine": {"identity": identity},
        "arms": [arm.describe() for arm in arms],
        "scorers": [{"name": name, "kind": spec.scorer_kind, "range": list(bound.info.range),
                     "higher_is_better": bound.info.higher_is_better,
                     "binary": bound.info.binary, "primary": name == suite.primary,
                     "golden_sets": spec.golden_sets, "options": spec.options}
                    for name, (spec, bound) in scorers.items()],
        "primary_scorer": suite.primary,
        "seed": suite.generation.seed,
        "package_versions": package_versions(),
        "python": platform.python_version(),
        "status": "running",
        "finished_at": None,
        "warnings": warnings,
    }
    manifest.setdefault("started_at", now_iso())
    manifest.setdefault("resumed_at", [])
    if resumable:
        manifest["resumed_at"].append(now_iso())
    store.write_manifest(manifest)
    store.write_examples([
        {"id": e.id, "golden_set": e.golden_set, "tags": list(e.tags), "reference": e.reference,
         "prompt": e.user_text, "metadata": e.metadata}
        for e in examples
    ])

    counts = {"examples": len(examples), "arms": len(arms)}
    try:
        with _progress(console) as progress:
            gen_counts = _generate(suite, model, arms, examples, store, cache, identity,
                                   run_dir, progress)
            counts.update(gen_counts)
            counts["scores"] = _score(scorers, arms, examples, store, progress)
    except BaseException as exc:
        manifest["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        manifest["counts"] = counts
        store.write_manifest(manifest)
        raise
    finally:
        store.close()
        cache.close()
    manifest.update(status="complete", finished_at=now_iso(), counts=counts)
    store.write_manifest(manifest)
    return RunResult(run_dir=run_dir, resumed=resumable is not None, counts=counts,
                     warnings=warnings)


def _generate(suite: Suite, model, arms: list[Arm], examples: list[Example], store: RunStore,
              cache: ResponseCache, identity: dict[str, Any], run_dir: Path,
              progress: Progress) -> dict[str, int]:
    done = store.done_responses()
    items = [
        WorkItem(arm, ex, request, ResponseCache.key(identity, request))
        for arm in arms for ex in examples
        if (arm.name, ex.id) not in done
        for request in [arm.build(ex)]
    ]
    counts = {"responses": len(done), "cached_responses": sum(
        1 for r in done.values() if r.get("cached")), "generated_responses": 0}
    task = progress.add_task("generating", total=len(arms) * len(examples),
                             completed=len(done))

    def record(item: WorkItem, response: Response) -> None:
        store.responses.append({
            "arm": item.arm.name, "example_id": item.example.id, **response.as_dict(),
            "request_key": item.key,
        })
        counts["responses"] += 1
        counts["cached_responses" if response.cached else "generated_responses"] += 1
        progress.advance(task)

    misses: list[WorkItem] = []
    for item in items:
        hit = cache.get(item.key)
        if hit is not None:
            record(item, hit)
        else:
            misses.append(item)
    if not misses:
        return counts

    adapters = list({a.adapter.content_hash: a.adapter for a in arms
                     if getattr(a, "adapter", None)}.values())
    progress.update(task, description="loading model")
    engine = make_engine(suite, model, adapters, log_dir=run_dir)
    try:
        if engine.identity() != identity:
            raise EngineError(f"engine identity {engine.identity()} differs from the predicted "
                              f"{identity}: cache keys would be wrong (this is a bug)")
        progress.update(task, description="generating")

        def on_done(index: int, response: Response) -> None:
            item = misses[index]
            cache.put(item.key, response)
            record(item, response)

        engine.generate([m.request for m in misses], progress=on_done)
    finally:
        engine.close()
    return counts


def _score(scorers: dict, arms: list[Arm], examples: list[Example], store: RunStore,
           progress: Progress) -> int:
    outputs = {key: r["text"] for key, r in store.done_responses().items()}
    done = store.done_scores()
    total = 0
    task = progress.add_task("scoring", total=None)
    for name, (spec, bound) in scorers.items():
        wanted = [e for e in examples if spec.golden_sets is None or e.golden_set
                  in spec.golden_sets]
        todo = [(arm, e) for arm in arms for e in wanted
                if (arm.name, e.id, name) not in done and (arm.name, e.id) in outputs]
        total += len(wanted) * len(arms)
        progress.update(task, total=total, description=f"scoring {name}")
        if not todo:
            progress.advance(task, len(wanted) * len(arms))
            continue
        progress.advance(task, len(wanted) * len(arms) - len(todo))
        batch_examples = [e for _, e in todo]
        batch_outputs = [outputs[(arm.name, e.id)] for arm, e in todo]
        scores = bound.score_batch(batch_examples, batch_outputs)
        for (arm, example), score in zip(todo, scores, strict=True):
            store.scores.append({"arm": arm.name, "example_id": example.id, "scorer": name,
                                 "value": float(score.value), "explanation": score.explanation})
        progress.advance(task, len(todo))
    return total


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
        for gs in golden_sets:
            overlap = overlaps_with_manifest(manifest, gs.examples)
            if overlap:
                shown = ", ".join(overlap[:5]) + (" ..." if len(overlap) > 5 else "")
                warnings.append(f"adapter of arm '{arm.name}' was trained on {len(overlap)} "
                                f"example(s) of golden set '{gs.name}': {shown}")
    return warnings


def package_versions() -> dict[str, str]:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("[bold]{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    )
    with progress:
        yield progress
