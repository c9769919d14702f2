"""Every example's results as one Parquet file: one row per example and arm, with the example,
the arm's response and every scorer's value (columns in docs/scale.md).

It is the full data behind a report that shows only a ranked sample of examples: open it with
pandas (`pd.read_parquet`), DuckDB (`SELECT ... FROM 'results.parquet'`) or Polars. Written a
chunk of examples at a time (each chunk one row group), so memory stays flat whatever the
size of the run; written to a temporary file and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness.decision.analysis import Analysis
from harness.store import RunData, atomic_path

RESULTS = "results.parquet"
CHUNK = 1_000  # examples per row group (and held in memory at a time)
SCORE_PREFIX = "score."


def results_schema(scorers: list[str]) -> Any:
    import pyarrow as pa

    fields = [
        ("uid", pa.string()), ("example_id", pa.string()), ("golden_set", pa.string()),
        ("guard", pa.bool_()), ("tags", pa.list_(pa.string())), ("arm", pa.string()),
        ("prompt", pa.string()), ("reference", pa.string()), ("output", pa.string()),
        ("arm_error", pa.string()), ("finish_reason", pa.string()), ("cached", pa.bool_()),
        ("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()),
        ("latency_s", pa.float64()), ("model", pa.string()), ("request_key", pa.string()),
    ]
    fields += [(SCORE_PREFIX + name, pa.float64()) for name in scorers]
    return pa.schema(fields)


def _int(value: Any) -> int | None:
    # JSON may hold Infinity (a hand-edited or foreign file): null, not a failed report.
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value == value else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def write_results_parquet(run: RunData, an: Analysis, path: Path) -> Path:
    """Write `path` (atomically): a row per example of the run and arm of the analysis."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = run.tables
    examples = tables.examples
    scorers = [s.name for s in an.scorers]
    schema = results_schema(scorers)
    guards = {g.name: g.guard for g in run.manifest.golden_sets}
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for start in range(0, examples.n, CHUNK):
                positions = list(range(start, min(examples.n, start + CHUNK)))
                columns = _chunk(run, an.arms, scorers, guards, positions)
                writer.write_table(pa.table(columns, schema=schema))
            if examples.n == 0:
                writer.write_table(schema.empty_table())
        pa.default_memory_pool().release_unused()  # what the writer freed goes back
    return path


def _chunk(run: RunData, arms: list[str], scorers: list[str], guards: dict[str, bool],
           positions: list[int]) -> dict[str, Any]:
    """The columns of a chunk of examples: a row per example and arm, example-major."""
    import numpy as np
    import pyarrow as pa

    tables = run.tables
    examples = tables.examples.records(positions)
    found = tables.responses.records((arm, p) for p in positions for arm in arms)
    rows = [(example, arm, found.get((arm, pos), {}))
            for pos, example in zip(positions, examples, strict=True) for arm in arms]
    golden = [str(tables.examples.golden_sets[p]) for p in positions for _ in arms]

    def tags(example: dict[str, Any]) -> list[str]:
        listed = example.get("tags")
        return [str(t) for t in listed] if isinstance(listed, list | tuple) else []

    out: dict[str, Any] = {
        "uid": [str(tables.examples.uids[p]) for p in positions for _ in arms],
        "example_id": [str(e.get("id")) for e, _, _ in rows],
        "golden_set": golden,
        "guard": [bool(guards.get(g, False)) for g in golden],
        "tags": [tags(e) for e, _, _ in rows],
        "arm": [arm for _, arm, _ in rows],
        "prompt": [_str(e.get("prompt")) for e, _, _ in rows],
        "reference": [_str(e.get("reference")) for e, _, _ in rows],
        "output": [_str(r.get("text")) for _, _, r in rows],
        "arm_error": [_str(r.get("error")) for _, _, r in rows],
        "finish_reason": [_str(r.get("finish_reason")) for _, _, r in rows],
        "cached": [bool(r.get("cached")) if r else None for _, _, r in rows],
        "prompt_tokens": [_int(r.get("prompt_tokens")) for _, _, r in rows],
        "completion_tokens": [_int(r.get("completion_tokens")) for _, _, r in rows],
        "latency_s": [_float(r.get("latency_s")) for _, _, r in rows],
        "model": [_str(r.get("model")) for _, _, r in rows],
        "request_key": [_str(r.get("request_key")) for _, _, r in rows],
    }
    at = np.asarray(positions, dtype=np.int64)
    for scorer in scorers:
        values = np.full(len(rows), np.nan)
        for a, arm in enumerate(arms):
            cols = tables.scores.column(scorer, arm)
            if cols is not None:  # a failed score has no value
                values[a::len(arms)] = np.where(cols.present[at] & ~cols.failed[at],
                                                cols.value[at], np.nan)
        out[SCORE_PREFIX + scorer] = pa.array(values, from_pandas=True)  # NaN -> null
    return out
