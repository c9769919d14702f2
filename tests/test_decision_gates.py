"""Gates of a suite: how they are written and checked, and the verdict they give on run data
with a known truth (synthetic run directories in the real format)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.decision.completeness import load_scored_run
from harness.decision.evaluate import evaluate
from harness.decision.exit_codes import (
    EXIT_APPROVE,
    EXIT_INCONCLUSIVE,
    EXIT_REGRESSION,
    EXIT_REJECT,
)
from harness.decision.gates import FAIL, INCONCLUSIVE, PASS, SKIPPED
from harness.errors import ConfigError, HarnessError
from harness.spec.gates import GateSpec, check_gates
from tests.simulate import SimArm, SimRun, write_run

ARMS = ["prompt", "tuned"]
SCORERS = ["token_f1", "label_accuracy", "json_valid", "guard_contains"]


def gates(*raw: dict) -> list[GateSpec]:
    return [GateSpec.model_validate(g) for g in raw]


def evaluated(tmp_path, *, tuned=0.8, prompt=0.6, n=200, guard_tuned=0.9, guard_prompt=0.9,
              n_guard=60, gate_list=(), **kw):
    sim = SimRun(n_tasks=n, n_guard=n_guard, gates=list(gate_list), arms=[
        SimArm("prompt", quality=prompt, guard_quality=guard_prompt),
        SimArm("tuned", kind="tuned", quality=tuned, guard_quality=guard_tuned,
               prompt_tokens=80)], **kw)
    return evaluate(load_scored_run(write_run(tmp_path / "runs", sim)), n_resamples=4000)


BEATS = {"type": "beats", "arm": "tuned", "baseline": "prompt", "min_win_rate_lower": 0.5}


# --- writing and checking gates ----------------------------------------------------------------


def test_the_documented_gate_examples_are_valid():
    written = gates(BEATS,
                    {"type": "not_worse", "arm": "tuned", "baseline": "prompt", "scorers": "all",
                     "max_drop": "2 points"},
                    {"type": "threshold", "arm": "tuned", "scorer": "json_valid", "min": 0.98},
                    {"type": "no_regression", "arm": "tuned", "baseline": "prompt",
                     "golden_set": "general_guard"},
                    {"type": "vs_baseline_run", "arms": "all", "max_drop": 0.02})
    assert check_gates(written, ARMS, SCORERS, ["support", "general_guard"]) == []
    assert written[1].drop == pytest.approx(0.02)


@pytest.mark.parametrize("text,value", [("2 points", 0.02), ("1.5 pts", 0.015), ("3%", 0.03),
                                        (0.05, 0.05)])
def test_drops_can_be_written_as_points_or_fractions(text, value):
    gate = GateSpec(type="not_worse", arm="tuned", baseline="prompt", max_drop=text)
    assert gate.drop == pytest.approx(value)


@pytest.mark.parametrize("bad", [2, "lots", -0.1])
def test_a_drop_outside_zero_to_one_is_refused_with_a_hint(bad):
    with pytest.raises(ValidationError, match=r"0\.02|2 points"):
        GateSpec(type="not_worse", arm="tuned", baseline="prompt", max_drop=bad)


def test_a_gate_naming_an_unknown_arm_points_at_the_field_and_lists_the_arms():
    problems = check_gates(gates({**BEATS, "arm": "tunned"}), ARMS, SCORERS)
    assert problems == [(("gates", 0, "arm"),
                         "'tunned' is not an arm of this suite; expected one of: prompt, tuned")]


def test_a_gate_naming_an_unknown_scorer_or_baseline_is_a_problem():
    problems = check_gates(gates(
        {"type": "threshold", "arm": "tuned", "scorer": "json_ok", "min": 0.9},
        {"type": "not_worse", "arm": "tuned", "baseline": ["prompt", "rag"],
         "scorers": ["token_f1", "bleu"]}), ARMS, SCORERS)
    where = [loc for loc, _ in problems]
    assert ("gates", 0, "scorer") in where
    assert ("gates", 1, "baseline") in where
    assert ("gates", 1, "scorers") in where
    assert any("'rag' is not an arm" in m for _, m in problems)


def test_fields_a_gate_type_does_not_use_or_needs_are_reported():
    problems = dict(check_gates(gates(
        {"type": "beats", "arm": "tuned", "baseline": "prompt", "max_drop": 0.02},
        {"type": "threshold", "arm": "tuned", "scorer": "json_valid"},
        {"type": "not_worse", "arm": "tuned"}), ARMS, SCORERS))
    assert "does not use 'max_drop'" in problems[("gates", 0, "max_drop")]
    assert "needs 'min' or 'max'" in problems[("gates", 1)]
    assert "needs 'baseline'" in problems[("gates", 2, "baseline")]


def test_an_unknown_golden_set_is_reported_when_the_sets_are_known():
    problems = check_gates(gates({**BEATS, "golden_set": "suport"}), ARMS, SCORERS,
                           ["support", "general_guard"])
    assert problems and problems[0][0] == ("gates", 0, "golden_set")


def test_a_suite_with_a_gate_on_a_missing_arm_fails_to_load_naming_file_and_line(suite_factory):
    from harness.spec.suite import load_suite

    path = suite_factory(gates=[{"type": "beats", "arm": "tuned", "baseline": "prompt"}])
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    message = err.value.message
    assert str(path) in message and "gates[0].arm" in message and "'tuned'" in message
    assert "\n" not in message


# --- verdicts ----------------------------------------------------------------------------------


def test_a_clearly_better_tune_is_approved_with_exit_zero(tmp_path):
    ev = evaluated(tmp_path, gate_list=[BEATS])
    assert ev.results[0].status == PASS
    assert ev.verdict.decision == "APPROVE" and ev.verdict.exit_code == EXIT_APPROVE
    assert "win rate" in ev.verdict.reasons[0]


def test_a_clearly_worse_tune_is_rejected_with_exit_ten(tmp_path):
    ev = evaluated(tmp_path, tuned=0.5, prompt=0.8, gate_list=[BEATS])
    assert ev.results[0].status == FAIL
    assert ev.verdict.decision == "REJECT" and ev.verdict.exit_code == EXIT_REJECT


def test_too_few_examples_is_inconclusive_and_says_how_many_would_settle_it(tmp_path):
    ev = evaluated(tmp_path, tuned=0.66, prompt=0.6, n=40, gate_list=[BEATS])
    assert ev.results[0].status == INCONCLUSIVE
    assert ev.verdict.decision == "INCONCLUSIVE" and ev.verdict.exit_code == EXIT_INCONCLUSIVE
    assert ev.verdict.examples_needed is not None and ev.verdict.examples_needed > 40
    assert "more examples" in ev.results[0].reason


def test_not_worse_fails_only_when_the_whole_interval_is_beyond_the_allowance(tmp_path):
    gate = {"type": "not_worse", "arm": "tuned", "baseline": "prompt", "scorers": ["token_f1"],
            "max_drop": "2 points"}
    assert evaluated(tmp_path / "a", tuned=0.5, prompt=0.75,
                     gate_list=[gate]).results[0].status == FAIL
    assert evaluated(tmp_path / "b", tuned=0.8, prompt=0.6,
                     gate_list=[gate]).results[0].status == PASS


def test_threshold_compares_the_mean_on_the_scorers_own_scale(tmp_path):
    ev = evaluated(tmp_path, tuned=0.8, gate_list=[
        {"type": "threshold", "arm": "tuned", "scorer": "json_valid", "min": 0.98},
        {"type": "threshold", "arm": "tuned", "scorer": "json_valid", "min": 0.5}])
    assert [r.status for r in ev.results] == [FAIL, PASS]
    assert "misses at least 0.98" in ev.results[0].reason


def test_a_threshold_is_judged_on_its_interval_so_noise_around_the_bar_is_inconclusive(
        tmp_path):
    """Judged on the point estimate, this gate flipped between pass and fail on noise."""
    ev = evaluated(tmp_path, tuned=0.8, n=60, gate_list=[
        {"type": "threshold", "arm": "tuned", "scorer": "json_valid", "min": 0.78}])
    assert ev.results[0].status == INCONCLUSIVE
    assert "the interval includes 0.78" in ev.results[0].reason


def test_no_regression_checks_the_guard_set_and_catches_forgetting(tmp_path):
    gate = {"type": "no_regression", "arm": "tuned", "baseline": "prompt", "max_drop": 0.02}
    ev = evaluated(tmp_path, guard_tuned=0.3, guard_prompt=0.95, n_guard=120,
                   gate_list=[BEATS, gate])
    assert ev.results[0].status == PASS  # better on the task...
    assert ev.results[1].status == FAIL  # ...but it forgot general knowledge
    assert "guard_contains" in ev.results[1].reason
    assert ev.verdict.decision == "REJECT"


def test_a_partial_run_is_never_approved(tmp_path):
    ev = evaluated(tmp_path, gate_list=[BEATS], status="running", drop_fraction=0.1)
    assert ev.results[0].status == PASS
    assert ev.completeness.partial
    assert ev.verdict.decision == "INCONCLUSIVE"
    assert ev.verdict.reasons[0].startswith("the run is partial")


def test_a_partial_run_is_never_rejected_either(tmp_path):
    ev = evaluated(tmp_path, tuned=0.5, prompt=0.8, gate_list=[BEATS], status="running",
                   drop_fraction=0.1)
    assert ev.results[0].status == FAIL
    assert ev.verdict.decision == "INCONCLUSIVE" and ev.verdict.exit_code == EXIT_INCONCLUSIVE
    assert ev.verdict.reasons[0].startswith("the run is partial")
    assert any(r.startswith("would fail:") for r in ev.verdict.reasons)


def test_holm_rejects_step_down_and_stops_at_the_first_survivor():
    from harness.decision.gates import holm

    assert holm([0.001, 0.02, 0.03], alpha=0.025) == [True, False, False]
    assert holm([0.004, 0.011, 0.02], alpha=0.025) == [True, True, True]
    assert holm([0.03, 0.001], alpha=0.025) == [False, True]
    assert holm([]) == []


def test_a_failure_that_does_not_survive_holm_over_all_checks_is_inconclusive():
    from harness.decision.gates import Check, _confirm_failures

    marginal = Check(FAIL, "tuned vs prompt on x: -3 pts", p_fail=0.02)
    clear = Check(FAIL, "tuned vs prompt on y: -30 pts", p_fail=1e-6)
    passing = [Check(PASS, f"check {i}", p_fail=0.9) for i in range(4)]
    (first, second), _ = _confirm_failures([[marginal, clear], passing])
    assert first.status == INCONCLUSIVE and "not after Holm's correction over the 6" in \
        first.message
    assert second.status == FAIL
    alone = _confirm_failures([[marginal]])[0][0]
    assert alone.status == FAIL  # with one check, 0.02 < 0.025 stands


def test_validate_states_what_each_gate_can_settle_at_the_suites_sizes(suite_factory):
    from click.testing import CliRunner

    from harness.cli.main import cli

    path = suite_factory(arms=[{"name": "a", "kind": "prompt"}, {"name": "b", "kind": "prompt"}],
                         gates=[{"type": "not_worse", "arm": "b", "baseline": "a",
                                 "max_drop": "5 points"}])
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "gate 1" in said and "with 4 examples it can rule out drops of" in said
    assert "its bar of 5 points needs about 785 examples" in said


def test_missing_scores_are_paired_on_the_intersection_and_said(tmp_path):
    ev = evaluated(tmp_path, gate_list=[BEATS], drop_fraction=0.1)
    win = ev.analysis.win("@tasks", "tuned", "prompt")
    assert win.counts.n < 200 and win.n_missing > 0
    assert win.counts.n + win.n_missing <= 200


def test_no_gates_means_no_verdict_and_exit_zero(tmp_path):
    ev = evaluated(tmp_path)
    assert ev.verdict.decision == "NO GATES" and ev.verdict.exit_code == EXIT_APPROVE


def test_a_regression_gate_without_a_baseline_run_is_skipped(tmp_path):
    ev = evaluated(tmp_path, gate_list=[BEATS, {"type": "vs_baseline_run"}])
    assert [r.status for r in ev.results] == [PASS, SKIPPED]
    assert ev.verdict.decision == "APPROVE"


def test_only_regression_failures_exit_with_the_regression_code(tmp_path):
    root = tmp_path / "runs"
    arms_before = [SimArm("prompt", quality=0.6), SimArm("tuned", "tuned", quality=0.85)]
    arms_after = [SimArm("prompt", quality=0.6), SimArm("tuned", "tuned", quality=0.72)]
    before = write_run(root, SimRun(run_id="a", arms=arms_before, gates=[BEATS]))
    after = write_run(root, SimRun(run_id="b", arms=arms_after, gates=[BEATS], seed=1))
    ev = evaluate(load_scored_run(after), load_scored_run(before), n_resamples=4000)
    assert ev.results[0].status == PASS
    assert ev.results[-1].gate.type == "vs_baseline_run" and ev.results[-1].status == FAIL
    assert ev.verdict.decision == "REJECT" and ev.verdict.exit_code == EXIT_REGRESSION


def test_gates_in_a_run_manifest_are_checked_against_the_run(tmp_path):
    run_dir = write_run(tmp_path, SimRun(gates=[{**BEATS, "baseline": "rag"}]))
    with pytest.raises(ConfigError, match=r"gates\[0\]\.baseline: 'rag' is not an arm"):
        evaluate(load_scored_run(run_dir))


def test_exit_codes_avoid_bugs_and_bad_input_codes():
    codes = {EXIT_REJECT, EXIT_INCONCLUSIVE, EXIT_REGRESSION}
    assert len(codes) == 3
    assert codes.isdisjoint({1} | set(range(2, 8)))
    assert HarnessError("x").exit_code not in codes
