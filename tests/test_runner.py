"""`harness run` end to end on the real embedded model: cache, re-scoring, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from harness.runner import run_suite
from harness.spec.suite import load_suite
from harness.store import find_resumable_run, load_run, read_jsonl

TWO_ARMS = [
    {"name": "terse", "kind": "prompt", "system_prompt": "Answer in one or two words."},
    {"name": "fewshot", "kind": "prompt", "system_prompt": "Answer briefly.",
     "few_shot": [{"user": "What is the capital of Germany?", "assistant": "Berlin"}]},
]


def test_first_run_generates_everything_and_records_it(suite_factory):
    suite = load_suite(suite_factory(arms=TWO_ARMS))
    result = run_suite(suite)
    run = load_run(result.run_dir)
    assert run.complete
    assert result.counts["generated_responses"] == 8 and result.counts["cached_responses"] == 0
    assert set(run.responses["arm"]) == {"terse", "fewshot"}
    assert len(run.responses) == 8 and len(run.scores) == 16  # 2 arms x 4 examples x 2 scorers
    assert run.responses["completion_tokens"].gt(0).all()
    assert run.manifest.golden_sets[0].hash
    assert run.manifest.engines[0].identity["model"].startswith("SmolLM2-135M-Instruct")
    assert {a.name: a.model for a in run.manifest.arms} == {"terse": "SmolLM2-135M-Instruct",
                                                          "fewshot": "SmolLM2-135M-Instruct"}
    assert "transformers" in run.manifest.package_versions
    paris = run.responses.query("example_id == 'q0' and arm == 'terse'")["text"].item()
    assert "paris" in paris.lower()  # the real model answers


def test_rerun_is_served_from_cache_and_adding_a_scorer_rescores_without_generating(
        suite_factory):
    first = run_suite(load_suite(suite_factory()))
    second = run_suite(load_suite(suite_factory()))
    assert second.run_dir != first.run_dir
    assert second.counts["cached_responses"] == 4 and second.counts["generated_responses"] == 0
    first_texts = load_run(first.run_dir).responses.set_index("example_id")["text"]
    second_texts = load_run(second.run_dir).responses.set_index("example_id")["text"]
    assert first_texts.sort_index().tolist() == second_texts.sort_index().tolist()

    rescored = run_suite(load_suite(suite_factory(scorers=["contains", "token_f1", "rouge_l"])))
    assert rescored.counts["generated_responses"] == 0
    assert set(load_run(rescored.run_dir).scores["scorer"]) == {"contains", "token_f1",
                                                                 "rouge_l"}


def test_changed_generation_settings_miss_the_cache(suite_factory):
    run_suite(load_suite(suite_factory()))
    changed = run_suite(load_suite(suite_factory(generation={"max_tokens": 12, "seed": 7})))
    assert changed.counts["generated_responses"] == 4


def test_killed_run_resumes_in_the_same_directory_without_regenerating(suite_factory, tmp_path):
    suite_path = suite_factory(engine={"kind": "local", "batch_size": 1},
                               generation={"max_tokens": 24})
    script = ("import sys; from harness.spec.suite import load_suite; "
              "from harness.runner import run_suite; run_suite(load_suite(sys.argv[1]))")
    proc = subprocess.Popen([sys.executable, "-c", script, str(suite_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    runs_root = tmp_path / "runs" / "tiny"
    deadline = time.monotonic() + 240
    responses = []
    while time.monotonic() < deadline and proc.poll() is None:
        files = list(runs_root.glob("*/responses.jsonl"))
        responses = read_jsonl(files[0]) if files else []
        if len(responses) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (killed_dir,) = runs_root.iterdir()
    done_before = len(read_jsonl(killed_dir / "responses.jsonl"))
    assert 2 <= done_before < 4

    result = run_suite(load_suite(suite_path))
    assert result.resumed and result.run_dir == killed_dir
    assert result.counts["generated_responses"] == 4 - done_before
    run = load_run(killed_dir)
    assert run.complete and len(run.responses) == 4
    assert len(read_jsonl(killed_dir / "responses.jsonl")) == 4  # nothing generated twice


def test_no_resume_starts_a_fresh_run_although_the_last_run_is_resumable(suite_factory, tmp_path):
    suite_path = suite_factory()
    first = run_suite(load_suite(suite_path))
    manifest = first.run_dir / "manifest.json"
    data = json.loads(manifest.read_text())
    data["status"] = "interrupted"
    manifest.write_text(json.dumps(data))
    # The setup is real: this run would be resumed without --no-resume.
    found = find_resumable_run(first.run_dir.parent, data["input_identity"])
    assert found.run_dir == first.run_dir
    fresh = run_suite(load_suite(suite_path), resume=False)
    assert not fresh.resumed and fresh.run_dir != first.run_dir


def test_cli_run_writes_a_report_that_says_how_much_came_from_cache(suite_factory, tmp_path):
    from click.testing import CliRunner

    from harness.cli.main import cli

    suite_path = suite_factory(gates=[{"type": "threshold", "arm": "prompt",
                                       "scorer": "contains", "min": 0.0}])
    first = CliRunner().invoke(cli, ["run", str(suite_path)])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(cli, ["run", str(suite_path)])
    assert second.exit_code == 0, second.output
    assert "4 from cache, 0 generated" in second.output
    reports = sorted((tmp_path / "reports").glob("tiny-*.md"))
    assert len(reports) == 2
    text = reports[-1].read_text()
    assert "APPROVE" in text
    assert "cache" in text.lower()
