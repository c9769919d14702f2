"""Regression compare of two runs of a suite: matching by id, refusals, deltas, flips, exit codes
(through the real CLI too)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli.main import cli
from harness.decision.compare import compare_runs
from harness.decision.completeness import load_scored_run
from harness.decision.evaluate import evaluate_compare
from harness.decision.exit_codes import EXIT_APPROVE, EXIT_REGRESSION
from harness.errors import RunError
from tests.simulate import SimArm, SimRun, write_run


def arms(tuned_quality: float) -> list[SimArm]:
    return [SimArm("prompt", quality=0.6), SimArm("tuned", "tuned", quality=tuned_quality)]


@pytest.fixture
def runs(tmp_path):
    """A good baseline run and a re-tune that got worse, of the same suite and golden sets."""
    root = tmp_path / "runs"
    before = write_run(root, SimRun(run_id="before", arms=arms(0.85)))
    after = write_run(root, SimRun(run_id="after", arms=arms(0.65), seed=1))
    return before, after


def test_a_run_compared_with_itself_changes_nothing_and_passes(runs):
    before, _ = runs
    run = load_scored_run(before)
    ce = evaluate_compare(run, run, n_resamples=2000)
    assert ce.exit_code == EXIT_APPROVE and ce.decision == "NO REGRESSION"
    assert not ce.comparison.flips
    for delta in ce.comparison.deltas.values():
        assert (delta.interval.low, delta.interval.high) == (0.0, 0.0)


def test_a_worse_retune_is_a_regression_with_exit_twelve_and_its_flips(runs):
    before, after = runs
    ce = evaluate_compare(load_scored_run(before), load_scored_run(after), n_resamples=2000)
    assert ce.exit_code == EXIT_REGRESSION and ce.decision == "REGRESSION"
    delta = ce.comparison.deltas[(None, "tuned", "token_f1")]
    assert delta.interval.high < 0 and delta.current_mean < delta.baseline_mean
    lost = [f for f in ce.comparison.flips if not f.to_pass and f.arm == "tuned"]
    gained = [f for f in ce.comparison.flips if f.to_pass and f.arm == "tuned"]
    assert len(lost) > len(gained) > 0
    # The flips of the arm and scorer that dropped most come first.
    assert ce.comparison.flips[0].arm == "tuned" and not ce.comparison.flips[0].to_pass


def test_a_generous_max_drop_turns_the_regression_off(runs):
    before, after = runs
    ce = evaluate_compare(load_scored_run(before), load_scored_run(after), max_drop=0.5,
                          n_resamples=2000)
    assert ce.exit_code == EXIT_APPROVE


def test_a_change_whose_interval_straddles_the_allowance_is_inconclusive(tmp_path):
    """Few examples and a small drop: a regression can be neither shown nor ruled out."""
    root = tmp_path / "runs"
    before = write_run(root, SimRun(run_id="b", arms=arms(0.75), n_tasks=30, n_guard=10))
    after = write_run(root, SimRun(run_id="a", arms=arms(0.72), n_tasks=30, n_guard=10, seed=1))
    ce = evaluate_compare(load_scored_run(before), load_scored_run(after), max_drop=0.02,
                          n_resamples=2000)
    assert ce.decision == "INCONCLUSIVE" and ce.exit_code == 11
    assert any(r.status == "inconclusive" for r in ce.results)


def test_runs_of_different_suites_are_refused(tmp_path):
    a = write_run(tmp_path, SimRun(suite="alpha"))
    b = write_run(tmp_path, SimRun(suite="beta"))
    with pytest.raises(RunError, match="different suites"):
        compare_runs(load_scored_run(a), load_scored_run(b))


def test_changed_golden_sets_are_refused_unless_common_ids_are_asked_for(tmp_path):
    a = write_run(tmp_path, SimRun(run_id="a", n_tasks=100))
    b = write_run(tmp_path, SimRun(run_id="b", n_tasks=120, golden_hash="h-new"))
    base, cur = load_scored_run(a), load_scored_run(b)
    with pytest.raises(RunError) as err:
        compare_runs(base, cur)
    assert "golden set 'support'" in err.value.message and "--common-ids" in err.value.message
    comp = compare_runs(base, cur, common_ids=True, n_resamples=1000)
    assert comp.n_common == 100 + 40  # the shared task ids and the unchanged guard set
    assert any("golden sets differ" in note for note in comp.notes)


def test_cli_compare_prints_flips_and_gates_and_exits_with_the_regression_code(runs, tmp_path):
    before, after = runs
    result = CliRunner().invoke(cli, ["compare", str(before), str(after), "--reports-dir",
                                      str(tmp_path / "reports")])
    assert result.exit_code == EXIT_REGRESSION, result.output
    assert "pass → fail" in result.output and "REGRESSION" in result.output
    summary = json.loads(next((tmp_path / "reports").glob("*.json")).read_text())
    assert summary["decision"] == "REGRESSION" and summary["flips"]


def test_cli_compare_of_runs_of_different_suites_is_one_line_and_exit_six(tmp_path):
    a = write_run(tmp_path, SimRun(suite="alpha"))
    b = write_run(tmp_path, SimRun(suite="beta"))
    result = CliRunner().invoke(cli, ["compare", str(a), str(b)])
    assert result.exit_code == RunError("x").exit_code
    assert "different suites" in result.output
    assert "Traceback" not in result.output


def test_cli_compare_refuses_a_bad_max_drop(runs):
    before, after = runs
    result = CliRunner().invoke(cli, ["compare", str(before), str(after), "--max-drop", "lots"])
    assert result.exit_code == 2 and "--max-drop" in result.output
