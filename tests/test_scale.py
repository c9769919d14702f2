"""Flat memory, linear time: a 100,000-example suite with its response cache pre-filled runs
end to end through `harness run` (everything but generation: loading, cache keys and lookups,
the run store, string scorers, statistics, gates, reports, the Parquet export).

The report shows a ranked sample of examples, never all of them; every example is in
results.parquet, whose columns agree with the JSON summary.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.scale_suite import make_scale_suite, run_measured

N = 100_000
ARMS = ["baseline", "candidate", "strong"]
SCORERS = ["exact_match", "contains", "token_f1"]


def reports_of(folder: Path) -> tuple[Path, dict, pd.DataFrame]:
    (md,) = (folder / "reports").glob("scale-*.md")
    summary = json.loads(md.with_suffix(".json").read_text(encoding="utf-8"))
    results = pd.read_parquet(md.with_suffix("") / "results.parquet")
    return md, summary, results


def arm_means(summary: dict, scope: str) -> dict[tuple[str, str], float]:
    return {(s["arm"], s["scorer"]): s["mean"]["estimate"] for s in summary["arm_scores"]
            if s["scope"] == scope}


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("scale")
    suite = make_scale_suite(folder, N)
    return folder, run_measured("run", str(suite), timeout=900)


@pytest.mark.slow
def test_cached_100k_suite_runs_end_to_end_with_a_sampled_report(large):
    folder, run = large
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]  # APPROVE
    assert "verdict: APPROVE" in run.stdout
    assert re.search(rf"{3 * N} responses \({3 * N} from cache, 0 generated\), {9 * N} scores",
                     " ".join(run.stdout.split())), run.stdout[-2000:]
    # Streaming: nothing close to the gigabytes holding every line costs (measured 0.33 GB
    # here, 0.2 GB for 1,000 examples; bench/bench_scale.py).
    assert run.max_rss_mb < 1024, run.max_rss_mb

    md, summary, results = reports_of(folder)
    text = md.read_text(encoding="utf-8")
    assert len(text) < 64_000  # a sample, whatever the size
    assert "### Next biggest losses of candidate" in text
    assert re.search(r"candidate won \d+ and lost \d+ of the 90000 examples of tasks against "
                     r"baseline on exact_match; \d+ of them are not shown here", text)
    assert "results.parquet" in text
    assert text.count("\n| ") < 200  # table rows: tens, not one per example

    assert len(results) == 3 * N
    assert results.groupby("arm").size().to_dict() == dict.fromkeys(ARMS, N)
    assert results["uid"].nunique() == N
    assert results[[f"score.{s}" for s in SCORERS]].notna().all().all()
    assert results["cached"].all() and results["arm_error"].isna().all()
    tasks = results[~results["guard"]]
    for (arm, scorer), mean in arm_means(summary, "@tasks").items():
        assert tasks.loc[tasks["arm"] == arm, f"score.{scorer}"].mean() == pytest.approx(mean)


def test_parquet_columns_match_the_json_summary(tmp_path):
    suite = make_scale_suite(tmp_path, 400)
    run = run_measured("run", str(suite), timeout=300)
    assert run.returncode in (0, 10, 11), run.stdout[-3000:] + run.stderr[-3000:]
    _, summary, results = reports_of(tmp_path)
    scorers = {s["scorer"] for s in summary["arm_scores"]}
    assert scorers == set(SCORERS)
    assert {c.removeprefix("score.") for c in results.columns if c.startswith("score.")} == scorers
    assert set(results["arm"]) == {s["arm"] for s in summary["arm_scores"]} == set(ARMS)
    assert list(results.columns[:6]) == ["uid", "example_id", "golden_set", "guard", "tags", "arm"]
    # One row per example and arm, example-major, with the example, the response and the scores.
    assert len(results) == 400 * len(ARMS)
    assert list(results["arm"][:3]) == ARMS and results["uid"][0] == results["uid"][2]
    assert results["reference"].notna().all() and results["output"].notna().all()
    for scope, rows in (("@tasks", results[~results["guard"]]),
                        ("guard", results[results["guard"]])):
        means = arm_means(summary, scope)
        assert len(means) == len(ARMS) * len(SCORERS)
        for (arm, scorer), mean in means.items():
            column = rows.loc[rows["arm"] == arm, f"score.{scorer}"]
            assert column.mean() == pytest.approx(mean)
    n_scored = {(s["scope"], s["arm"], s["scorer"]): s["n"] for s in summary["arm_scores"]}
    assert n_scored[("@tasks", "candidate", "exact_match")] == int((~results["guard"]).sum()) // 3


def test_run_tables_read_what_the_dataframes_read(tmp_path):
    """The compact tables decisions use agree with the whole-file DataFrames: the last line
    of an (arm, example) wins, a line without a uid gets one, a torn tail is skipped."""
    import numpy as np

    from harness.decision.analysis import raw_values, scorer_metas
    from harness.decision.cost import arm_costs
    from harness.manifest import RunManifest
    from harness.store import RunStore, load_run, write_json_atomic

    store = RunStore(tmp_path)
    store.write_examples([{"uid": f"s/e{i}", "id": f"e{i}", "golden_set": "s",
                           "tags": ["odd" if i % 2 else "even"], "prompt": f"q{i}",
                           "reference": f"r{i}"} for i in range(5)])
    for arm in ("a", "b"):
        for i in range(5):
            store.responses.append({"arm": arm, "uid": f"s/e{i}", "text": f"{arm}{i}",
                                    "prompt_tokens": 10 + i, "completion_tokens": 2,
                                    "latency_s": 0.1 * i, "cached": i % 2 == 0,
                                    "error": "boom" if (arm, i) == ("b", 3) else None})
            for scorer in ("x", "y"):
                store.scores.append({"arm": arm, "uid": f"s/e{i}", "scorer": scorer,
                                     "value": (i % 3) / 2, "explanation": ""})
    store.responses.append({"arm": "a", "uid": "s/e1", "text": "redone", "latency_s": 9.0})
    store.scores.append({"arm": "b", "uid": "s/e4", "scorer": "y", "value": None,
                         "error": "scorer raised"})
    store.scores.append({"arm": "a", "example_id": "e2", "scorer": "x", "value": 1.0})  # no uid
    store.close()
    with open(tmp_path / "scores.jsonl", "a") as f:
        f.write('{"arm": "a", "uid": "s/e0", "sco')  # a killed writer's torn tail
    write_json_atomic(tmp_path / "manifest.json", RunManifest(
        run_id="r", suite_name="s", arms=[], scorers=[], status="complete").to_json())

    run = load_run(tmp_path)
    tables = run.tables
    assert tables.responses.rows == len(run.responses) == 10
    assert tables.scores.rows == len(run.scores) == 20
    assert run.torn_lines == {"scores.jsonl": [run.torn_lines["scores.jsonl"][0]]}
    ids = tables.examples.uids
    assert list(ids) == list(run.examples["uid"])
    scorers = scorer_metas(run)
    raw = raw_values(run, ids, ["a", "b"], scorers)
    for scorer in ("x", "y"):
        table = run.scores[run.scores["scorer"] == scorer].pivot(index="uid", columns="arm",
                                                                  values="value")
        failed = run.scores[(run.scores["scorer"] == scorer) & run.scores["error"].notna()]
        for arm in ("a", "b"):
            expected = table.reindex(ids)[arm].to_numpy(dtype=float, copy=True)
            expected[np.isin(ids, failed["uid"])] = np.nan
            assert np.array_equal(raw[scorer][arm], expected, equal_nan=True), (scorer, arm)
    assert raw["x"]["a"][2] == 1.0  # the line without a uid is e2's, and came last
    costs = {c.arm: c for c in arm_costs(tables.responses, ["a", "b"], run.manifest)}
    assert costs["a"].latency_mean_s == pytest.approx((0 + 9.0 + 0.2 + 0.3 + 0.4) / 5)
    for arm in ("a", "b"):
        rows = run.responses[run.responses["arm"] == arm]
        assert costs[arm].cached == int(rows["cached"].fillna(False).astype(bool).sum())
        assert costs[arm].errors == int(rows["error"].notna().sum())
        assert costs[arm].prompt_tokens == pytest.approx(
            pd.to_numeric(rows["prompt_tokens"], errors="coerce").mean())
    assert costs["b"].errors == 1 and costs["a"].prompt_tokens == 12.25  # e1 redone: no tokens
    assert tables.responses.texts([("a", 1), ("b", 0)]) == {("a", 1): "redone", ("b", 0): "b0"}
    assert {t: list(p) for t, p in tables.examples.tags.items()} == {"even": [0, 2, 4],
                                                                     "odd": [1, 3]}


def test_a_compact_golden_set_reads_back_the_same_examples(tmp_path):
    from harness.golden import ExampleStore, load_golden_set

    path = tmp_path / "g.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "instruction": "Q1", "input": "ctx", "output": "A1", "tags": ["t"],
         "metadata": {"k": [1, {"z": None}]}, "gold_doc_ids": ["d1", 2]},
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q2"},
                      {"role": "assistant", "content": "A2"}], "source": "x"},
        {"id": "c", "instruction": "Q3 é", "output": ""}]), encoding="utf-8")
    plain = load_golden_set(path, name="g")
    compact = load_golden_set(path, name="g", compact=True)
    assert isinstance(compact.examples, ExampleStore)
    assert list(compact.examples) == plain.examples
    assert [e.metadata for e in compact.examples] == [e.metadata for e in plain.examples]
    assert compact.content_hash == plain.content_hash and compact.warnings == plain.warnings
    assert compact.examples[-1] == plain.examples[-1] and compact.examples[1:] == plain.examples[1:]
    assert load_golden_set(path, name="g", compact=True, limit=2).examples[:] == plain.examples[:2]
    both = ExampleStore.chain([compact.examples, plain.examples])
    assert list(both) == plain.examples * 2
