"""Custom scorers as a product feature: the README's code in a real run, the example plugin
package installed with pip and used through its entry points, evaluator errors that drop an
example for every arm, and one clear line for each way a custom scorer can be wrong."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.decision.analysis import TASKS
from harness.decision.evaluate import evaluate
from harness.scoring import build_scorer, scorer
from harness.store import load_run
from harness.types import Example, Response, Sample
from tests.cli_helpers import invoke, one_line
from tests.conftest import REPO

GOLDEN = [{"id": f"q{i}", "instruction": f"say {i}", "output": f"say {i}"} for i in range(4)]


def write_suite(folder: Path, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in GOLDEN))
    suite = {"name": "plug", "golden_sets": [{"path": "golden.jsonl"}],
             "engine": {"kind": "scripted", "default": "{user}"},
             "arms": [{"name": "p", "kind": "prompt"},
                      {"name": "q", "kind": "prompt", "system_prompt": "be brief"}],
             "scorers": ["exact_match"], "output": {"runs_dir": "runs", "reports_dir": "reports"},
             **fields}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def scores_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "scores.jsonl").read_text().splitlines()]


def run_dir_of(folder: Path) -> Path:
    (found,) = (folder / "runs" / "plug").iterdir()
    return found


# ---- the README's "Write your own scorer" -----------------------------------------------------


def readme_blocks(language: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Write your own scorer", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_scorer_code_runs_in_a_real_suite(tmp_path):
    (code,), (scorers_yaml, *_) = readme_blocks("python"), readme_blocks("yaml")
    (tmp_path / "my_scorers.py").write_text(code)
    suite = write_suite(tmp_path, **yaml.safe_load(scorers_yaml))
    code, output = invoke("run", str(suite))
    assert code == 0, output
    rows = {(r["scorer"], r["arm"], r["example_id"]): r for r in scores_of(run_dir_of(tmp_path))}
    assert rows[("keywords", "p", "q0")]["value"] == 1.0  # min_length 5: "say" is no keyword
    assert rows[("keywords", "p", "q0")]["explanation"] == "no keyword in the reference"
    assert rows[("answered", "q", "q3")]["value"] == 1.0


# ---- the example plugin package, installed with pip -------------------------------------------


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """examples/support-scorers installed by pip into a folder of its own (never into .venv),
    next to a distribution whose entry point fails to import."""
    work = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(REPO / "examples" / "support-scorers", work / "src")
    site = work / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-build-isolation", "--no-index", "--target", str(site),
                           str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "support_scorers" / "__init__.py").is_file()
    broken = site / "broken_scorers-0.1.dist-info"
    broken.mkdir()
    (broken / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-scorers\n"
                                     "Version: 0.1\n")
    (broken / "entry_points.txt").write_text("[harness.scorers]\nbroken_scorer = "
                                             "no_such_plugin_module:scorer\n")
    return site


def harness_cli(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}"}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=180)


def test_the_example_plugin_installed_with_pip_scores_through_its_entry_points(
        tmp_path, plugin_site):
    suite = write_suite(tmp_path, scorers=[
        {"name": "short", "kind": "within_words", "options": {"max_words": 1}},
        "no_placeholder"])
    done = harness_cli(plugin_site, "run", str(suite))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {(r["scorer"], r["arm"], r["example_id"]): r for r in scores_of(run_dir_of(tmp_path))}
    # "say 0" has two words: over a budget of one.
    assert rows[("short", "p", "q0")]["value"] == 0.0
    assert rows[("short", "p", "q0")]["explanation"] == "2 words (at most 1)"
    assert {r["value"] for (s, *_), r in rows.items() if s == "no_placeholder"} == {1.0}
    manifest = json.loads((run_dir_of(tmp_path) / "manifest.json").read_text())
    assert {"short", "no_placeholder"} <= {s["name"] for s in manifest["scorers"]}


def test_a_plugin_option_mistake_is_one_line_naming_the_plugin_scorer(tmp_path, plugin_site):
    suite = write_suite(tmp_path, scorers=[{"name": "short", "kind": "within_words",
                                            "options": {"max_word": 3}}])
    done = harness_cli(plugin_site, "validate", str(suite))
    assert done.returncode == 2
    assert one_line(done.stderr).endswith("scorers[0]: scorer 'within_words' has no option "
                                          "'max_word'; accepted: max_words, field (did you "
                                          "mean 'max_words'?)")


def test_an_entry_point_that_fails_to_load_is_one_line_naming_it(tmp_path, plugin_site):
    suite = write_suite(tmp_path, scorers=["broken_scorer"])
    done = harness_cli(plugin_site, "validate", str(suite))
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done.stderr)
    assert ("scorer plugin 'broken_scorer' (no_such_plugin_module:scorer) failed to load: "
            "ModuleNotFoundError: No module named 'no_such_plugin_module'") in line


# ---- evaluator errors -------------------------------------------------------------------------


RAISES_ON_Q1 = '''
from harness.scoring import scorer
from harness.types import Score


@scorer("picky", needs=())
def picky(only_arm: str | None = None):
    def score(sample):
        if sample.example.id == "q1" and only_arm in (None, sample.arm):
            raise RuntimeError("cannot score q1")
        return Score(1.0 if sample.output == sample.reference else 0.0)
    return score
'''


@pytest.fixture(scope="module")
def picky_file(tmp_path_factory) -> Path:
    # One file for the module: a @scorer name is registered once per process.
    path = tmp_path_factory.mktemp("scorers") / "picky.py"
    path.write_text(RAISES_ON_Q1)
    return path


def evaluator_error_suite(tmp_path: Path, picky: Path, max_error_rate: float) -> Path:
    return write_suite(
        tmp_path, max_error_rate=max_error_rate,
        scorers=["exact_match", {"name": "picky", "kind": f"{picky}:picky",
                                 "options": {"only_arm": "q"}}],
        gates=[{"type": "threshold", "arm": "q", "scorer": "picky", "min": 0.5},
               {"type": "threshold", "arm": "q", "scorer": "exact_match", "min": 0.5}])


def test_a_scorer_that_raises_on_one_example_drops_it_for_every_arm_and_the_run_goes_on(
        tmp_path, picky_file):
    code, output = invoke("run", str(evaluator_error_suite(tmp_path, picky_file, 0.05)))
    assert code == 11, output  # inconclusive: the picky gate cannot be decided
    run_dir = run_dir_of(tmp_path)
    rows = {(r["scorer"], r["arm"], r["example_id"]): r for r in scores_of(run_dir)}
    failed = rows[("picky", "q", "q1")]
    assert failed["value"] is None and failed["error"] == "RuntimeError: cannot score q1"
    assert rows[("picky", "p", "q1")]["value"] == 1.0  # arm p scored fine on q1 ...
    ev = evaluate(load_run(run_dir), n_resamples=200)
    raw = ev.analysis.raw["picky"]
    assert np.isnan(raw["p"][1]) and np.isnan(raw["q"][1])  # ... but q1 is out for both arms
    assert not np.isnan(raw["p"][0])
    assert ev.analysis.arm_scores[(TASKS, "p", "picky")].n == 3
    errors = ev.analysis.evaluator_errors["picky"]
    assert (errors.failed, errors.dropped, errors.examples) == (1, 1, 4)
    picky_gate, exact_gate = ev.results
    assert picky_gate.status == "inconclusive"
    assert picky_gate.reason == ("picky: evaluator errors left out 1 of 4 examples (25%, above "
                                 "max_error_rate 5%)")
    assert exact_gate.status == "pass"  # other scorers are not affected
    report = next((tmp_path / "reports").glob("*.md")).read_text()
    assert "## Evaluator errors" in report and "RuntimeError: cannot score q1" in report
    assert "picky: 1 evaluator error(s) in this run" in output


def test_below_max_error_rate_the_gate_is_decided_on_the_remaining_examples(tmp_path,
                                                                          picky_file):
    code, output = invoke("run", str(evaluator_error_suite(tmp_path, picky_file, 0.3)))
    assert code == 0, output
    ev = evaluate(load_run(run_dir_of(tmp_path)), n_resamples=200)
    assert [r.status for r in ev.results] == ["pass", "pass"]


def test_an_arm_that_fails_to_answer_scores_worst_and_is_no_evaluator_error(tmp_path):
    suite = write_suite(tmp_path, engine={"kind": "scripted", "default": "{user}",
                                          "errors": ["say 2"]},
                        scorers=["exact_match"], max_error_rate=0.5)
    code, output = invoke("run", str(suite))
    assert code == 0, output
    rows = {(r["arm"], r["example_id"]): r for r in scores_of(run_dir_of(tmp_path))}
    assert rows[("p", "q2")]["value"] == 0.0 and "error" not in rows[("p", "q2")]
    assert rows[("p", "q2")]["explanation"] == "arm error: scripted failure"


def test_a_batch_scorer_that_raises_is_retried_one_sample_at_a_time():
    calls = []

    @scorer("test_fragile_batch", batch=True, needs=())
    def fragile():
        def score(samples):
            calls.append(len(samples))
            if any(s.output == "boom" for s in samples):
                raise ValueError("boom in the batch")
            return [1.0 for _ in samples]
        return score

    bound = build_scorer("test_fragile_batch")
    example = Example("e", ({"role": "user", "content": "q"},), "r")
    scores = bound.score_samples([Sample(example, Response(t)) for t in ("ok", "boom", "ok")])
    assert [s.value for s in scores if not s.failed] == [1.0, 1.0]
    assert scores[1].error == "ValueError: boom in the batch"
    assert calls == [3, 1, 1, 1]  # the batch, then each sample alone


# ---- bad input: one line each -----------------------------------------------------------------


WRONG_ARITY = '''
def three(a, b, c):
    return 1.0

from harness.scoring import scorer

@scorer("test_bad_returned_arity")
def bad_factory():
    return lambda a, b, c: 1.0
'''


@pytest.fixture(scope="module")
def bad_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "bad.py"
    path.write_text(WRONG_ARITY)
    return path


@pytest.mark.parametrize("kind, expected", [
    ("no_such_scorer_module:score",
     "scorer 'no_such_scorer_module:score': cannot import module 'no_such_scorer_module' (No "
     "module named 'no_such_scorer_module')"),
    ("FILE:missing", "scorer 'FILE:missing': FILE defines no 'missing'"),
    ("FILE:three", "scorer 'FILE:three' must take (sample) or (example, output), or be "
                   "decorated with @scorer"),
    ("FILE:bad_factory", "scorer 'FILE:bad_factory': its factory returned a function taking "
                         "(a, b, c); expected (sample) or (example, output)"),
])
def test_a_wrong_custom_scorer_is_one_line_and_exit_2(tmp_path, bad_file, kind, expected):
    suite = write_suite(tmp_path, scorers=[{"name": "mine",
                                            "kind": kind.replace("FILE", str(bad_file))}])
    code, output = invoke("validate", str(suite))
    assert code == 2
    line = one_line(output)
    assert line.endswith("scorers[0]: " + expected.replace("FILE", str(bad_file))), line


def test_the_demo_file_scorer_compares_the_figures_of_the_answers():
    bound = build_scorer("demo_scorers.py:numbers_f1", base_dir=REPO / "suites")
    example = Example("e", ({"role": "user", "content": "q"},), json.dumps(
        {"topic": "fares", "answer": "A single is 2.40 credits; seniors pay 1.10 credits."}))

    def value(answer: str) -> float:
        return bound.score(example, json.dumps({"topic": "fares", "answer": answer})).value

    assert value("Seniors pay 1.1 credits and a single is 2.40.") == 1.0
    assert value("A single is 3.40 credits.") == 0.0  # the one wrong figure
    assert value("A single is 2.40 credits.") == pytest.approx(2 / 3)
    assert bound.score(example, "not json").explanation == "output is not JSON with field answer"


def test_the_demo_suite_names_its_file_scorer():
    from harness.spec.suite import load_suite

    if "demo_scorers.py:numbers_f1" not in (REPO / "suites" / "demo.yaml").read_text():
        pytest.skip("suites/demo.yaml does not use suites/demo_scorers.py yet")
    suite = load_suite(REPO / "suites" / "demo.yaml", require_adapters=False)
    assert "demo_scorers.py:numbers_f1" in [s.scorer_kind for s in suite.scorer_specs]
