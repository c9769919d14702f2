"""The ladder verdict: ship the cheapest rung that clears every gate, with known outcomes.

Runs use the scripted engine, one engine per quality and price, so which rung clears, fails or
is undecided is known: `right` answers every example, `wrong` none, `mostly` 10 of 12 (its mean
interval straddles a 0.75 bar). Every answer is two prompt tokens, so a rung's cost per call is
2 x its engine's input price per million tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.cli.main import cli
from harness.decision.completeness import load_scored_run
from harness.decision.cost import ArmCost
from harness.decision.evaluate import evaluate
from harness.decision.exit_codes import EXIT_APPROVE, EXIT_INCONCLUSIVE, EXIT_REJECT
from harness.decision.gates import FAIL, INCONCLUSIVE, PASS, SKIPPED
from harness.decision.ladder import NA, amortised_training, evaluate_ladder, rung_cost
from harness.spec.cost import CostConfig
from harness.spec.gates import GateSpec, gate_for_rung

N = 12
ROWS = [{"id": f"q{i}", "instruction": f"say {i}", "output": f"say {i}"} for i in range(N)]
THRESHOLD = {"type": "threshold", "scorer": "exact_match", "min": 0.75}
NOT_WORSE = {"type": "not_worse", "arm": "ladder", "baseline": "prompt", "max_drop": 0.05}


def engine(quality: str, price: float | None) -> dict:
    spec: dict = {"kind": "scripted", "label": quality,
                  "default": "nope" if quality == "wrong" else "{user}"}
    if quality == "mostly":
        spec["replies"] = {"say 0": "nope", "say 1": "nope"}
    if price is not None:
        spec["cost"] = {"input_per_million_tokens": price}
    return spec


def write_suite(folder: Path, arms: dict[str, tuple[str, float | None]], ladder, gates,
                cost: dict | None = None, tuned: tuple[str, ...] = ()) -> Path:
    """arms: name -> (quality, input price); names in `tuned` serve an adapter."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    adapter = folder / "adapter"
    adapter.mkdir(exist_ok=True)
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"]}))
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    suite = {"name": "ladder", "golden_sets": [{"path": "golden.jsonl"}],
             "engine": {"kind": "scripted"},
             "engines": {f"e_{name}": engine(q, p) for name, (q, p) in arms.items()},
             "arms": [{"name": name, "engine": f"e_{name}",
                       **({"kind": "tuned", "adapter": "adapter"} if name in tuned
                          else {"kind": "prompt"})} for name in arms],
             "scorers": ["exact_match"], "gates": gates,
             "output": {"runs_dir": "runs", "reports_dir": "reports"}}
    if ladder is not None:
        suite["ladder"] = ladder
    if cost is not None:
        suite["cost"] = cost
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), terminal_width=200)
    return result.exit_code, result.output


def run(path: Path) -> tuple[int, str, dict, str]:
    """`harness run`: exit code, console output, the JSON summary and the markdown report."""
    code, output = invoke("run", str(path))
    (json_path,) = (path.parent / "reports").glob("*.json")
    return code, output, json.loads(json_path.read_text()), json_path.with_suffix(".md").read_text()


# ---- through `harness run`: the exit code and the reports ---------------------------------


def test_the_cheapest_rung_that_clears_is_shipped_with_exit_0_and_leads_the_report(tmp_path):
    path = write_suite(tmp_path, {"prompt": ("wrong", 1), "rag": ("right", 10),
                                  "tuned": ("right", 100)},
                       ["prompt", "rag", "tuned"], [THRESHOLD], cost={}, tuned=("tuned",))
    code, output, summary, markdown = run(path)
    assert code == EXIT_APPROVE, output
    ladder = summary["ladder"]
    assert (ladder["decision"], ladder["rung"], ladder["order_by"]) == ("APPROVE", "rag", "cost")
    assert [r["outcome"] for r in ladder["rungs"]] == ["REJECT", "APPROVE", "APPROVE"]
    assert ladder["line"].startswith("Ship `rag`: the cheapest rung that clears every gate; "
                                     "`prompt` fails: exact_match of prompt is at least 0.75")
    assert "0.000 [0.000, 0.000]" in ladder["line"]  # the evidence of the cheaper rung
    assert summary["verdict"]["decision"] == "APPROVE"  # the ladder's verdict is the run's
    # The markdown report leads with the ladder, before the verdict.
    assert markdown.index("## Ladder") < markdown.index("## ✅ Verdict: APPROVE")
    assert "| **`rag`** | 2 | 2e-05 | — | 2e-05 | ✅ pass | ✅ APPROVE |" in markdown
    assert "ladder: Ship `rag`" in output and "verdict: APPROVE (exit code 0)" in output


def test_an_undecided_cheaper_rung_makes_the_ladder_inconclusive_exit_11(tmp_path):
    path = write_suite(tmp_path, {"prompt": ("mostly", 1), "rag": ("right", 10)},
                       ["prompt", "rag"], [THRESHOLD])
    code, output, summary, _ = run(path)
    assert code == EXIT_INCONCLUSIVE, output
    ladder = summary["ladder"]
    assert ladder["decision"] == "INCONCLUSIVE" and ladder["rung"] is None
    assert [r["outcome"] for r in ladder["rungs"]] == ["INCONCLUSIVE", "APPROVE"]
    assert ladder["reasons"][0].startswith("`prompt` is inconclusive: exact_match of prompt is "
                                           "at least 0.75")
    assert "more data could make it the answer" in ladder["reasons"][0]
    assert ladder["reasons"][-1] == "`rag` clears every gate, but `prompt` comes first"
    assert ladder["examples_needed"] and ladder["examples_needed"] > N


def test_a_ladder_where_no_rung_clears_is_rejected_exit_10(tmp_path):
    path = write_suite(tmp_path, {"prompt": ("wrong", 1), "rag": ("wrong", 10)},
                       ["prompt", "rag"], [THRESHOLD])
    code, output, summary, markdown = run(path)
    assert code == EXIT_REJECT, output
    assert summary["ladder"]["reasons"][0] == "no rung clears every gate"
    assert [r["outcome"] for r in summary["ladder"]["rungs"]] == ["REJECT", "REJECT"]
    assert "## ❌ Verdict: REJECT (exit code 10)" in markdown


def test_a_later_rung_that_is_cheaper_wins_when_both_clear(tmp_path):
    path = write_suite(tmp_path, {"prompt": ("wrong", 1), "rag": ("right", 100),
                                  "tuned": ("right", 5)},
                       ["prompt", "rag", "tuned"], [THRESHOLD, NOT_WORSE],
                       cost={"training_cost": 0}, tuned=("tuned",))
    code, output, summary, _ = run(path)
    assert code == EXIT_APPROVE, output
    assert summary["ladder"]["rung"] == "tuned"
    assert summary["ladder"]["order"] == ["prompt", "tuned", "rag"]


def test_amortised_training_makes_a_cheap_tune_cost_more_than_rag(tmp_path):
    # Per call the tune costs 1e-5, rag 2e-4; 60 / (1000 calls x 30 days) adds 2e-3 per call.
    path = write_suite(tmp_path, {"prompt": ("wrong", 1), "rag": ("right", 100),
                                  "tuned": ("right", 5)},
                       ["prompt", "rag", "tuned"], [THRESHOLD],
                       cost={"training_cost": 60, "calls_per_day": 1000,
                             "retune_every_days": 30}, tuned=("tuned",))
    code, output, summary, markdown = run(path)
    assert code == EXIT_APPROVE, output
    ladder = summary["ladder"]
    assert ladder["rung"] == "rag" and ladder["order"] == ["prompt", "rag", "tuned"]
    tuned = ladder["rungs"][2]
    assert tuned["cost_per_call"] == pytest.approx(1e-5)
    assert tuned["training_per_call"] == pytest.approx(2e-3)
    assert tuned["cost"] == pytest.approx(2.01e-3)
    assert "| `tuned` | 3 | 1e-05 | 0.002 | 0.00201 |" in markdown


def test_a_gate_whose_baseline_is_the_rung_is_na_for_that_rung(tmp_path):
    path = write_suite(tmp_path, {"prompt": ("right", 1), "rag": ("right", 10)},
                       ["prompt", "rag"], [THRESHOLD, NOT_WORSE])
    code, output, summary, markdown = run(path)
    assert code == EXIT_APPROVE, output
    prompt, rag = summary["ladder"]["rungs"]
    assert [g["status"] for g in prompt["gates"]] == [PASS, NA]
    assert "a rung is not compared with itself" in prompt["gates"][1]["reason"]
    assert prompt["checks"] == 1  # the n/a gate is no check: it neither passes nor fails
    assert [g["status"] for g in rag["gates"]] == [PASS, PASS]
    assert summary["ladder"]["rung"] == "prompt"
    assert "| **`prompt`** | 1 | 2e-06 | — | 2e-06 | ✅ pass | ➖ n/a | ✅ APPROVE |" in markdown
    junit = next((tmp_path / "reports").glob("*.junit.xml")).read_text()
    assert "n/a for rung prompt" in junit and "<skipped" in junit


def test_without_prices_rung_order_alone_decides_and_the_report_says_so(tmp_path):
    path = write_suite(tmp_path, {"prompt": ("wrong", None), "rag": ("right", None),
                                  "tuned": ("right", None)},
                       ["prompt", "tuned", "rag"], [THRESHOLD], tuned=("tuned",))
    code, output, summary, markdown = run(path)
    assert code == EXIT_APPROVE, output
    ladder = summary["ladder"]
    assert (ladder["order_by"], ladder["rung"]) == ("rung order", "tuned")
    assert ladder["line"].startswith("Ship `tuned`: the first rung (in rung order: a cost is "
                                     "unknown) that clears every gate")
    assert "`prompt` has no price" in ladder["cost_note"]
    assert "Rungs are tried in rung order alone, because a cost is unknown" in markdown


# ---- the pure function, on one real run with every kind of arm ------------------------------


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    """One run: arms of each quality and price, judged by evaluate_ladder in many ladders."""
    folder = tmp_path_factory.mktemp("ladder-run")
    path = write_suite(folder, {"prompt": ("wrong", 1), "mostly": ("mostly", 2),
                                "cheap": ("right", 0.5), "rag": ("right", 10),
                                "rag_twin": ("right", 10), "dear": ("right", 100),
                                "tuned": ("right", 5)},
                       None, [], cost={"training_cost": 0}, tuned=("tuned",))
    code, output = invoke("run", str(path))
    assert code == EXIT_APPROVE, output
    (run_dir,) = (folder / "runs" / "ladder").iterdir()
    return evaluate(load_scored_run(run_dir), n_resamples=2000)


def ladder_of(ev, rungs, gates=(THRESHOLD,), cost=None):
    return evaluate_ladder(rungs, [GateSpec.model_validate(g) for g in gates], ev.analysis,
                           None, ev.costs, cost or ev.cost_config, error_rates={},
                           max_error_rate=0.05)


def test_equal_costs_keep_rung_order(one_run):
    assert ladder_of(one_run, ["rag", "rag_twin"]).chosen == "rag"
    assert ladder_of(one_run, ["rag_twin", "rag"]).chosen == "rag_twin"


def test_cost_order_decides_over_rung_order(one_run):
    ladder = ladder_of(one_run, ["dear", "rag", "prompt"])
    assert ladder.order == ("prompt", "rag", "dear")
    assert ladder.chosen == "rag" and ladder.verdict.exit_code == EXIT_APPROVE
    assert ladder.verdict.reasons[1].startswith("`prompt` fails: ")


def test_a_costlier_undecided_rung_does_not_block_a_cheaper_one_that_clears(one_run):
    # mostly (undecided) costs 4e-6; rag clears at 2e-5: rag is tried after mostly ...
    assert ladder_of(one_run, ["rag", "mostly"]).verdict.decision == "INCONCLUSIVE"
    # ... but a clearing rung cheaper than the undecided one (1e-6) is shipped.
    ladder = ladder_of(one_run, ["mostly", "cheap"])
    assert ladder.chosen == "cheap" and ladder.order == ("cheap", "mostly")
    ladder = ladder_of(one_run, ["dear", "mostly", "prompt"],
                       gates=[{**THRESHOLD, "min": 0.5}])  # mostly clears a lower bar
    assert ladder.chosen == "mostly"


def test_each_rung_is_its_own_holm_family(one_run):
    gates = [THRESHOLD, {**THRESHOLD, "min": 0.5}, NOT_WORSE]
    ladder = ladder_of(one_run, ["prompt", "rag"], gates=gates)
    prompt, rag = ladder.rungs
    assert prompt.verdict.checks == 2 and rag.verdict.checks == 3  # n/a gates are no checks
    assert [g.status for g in prompt.gates] == [FAIL, FAIL, NA]
    assert ladder.verdict.checks == 5


def test_training_cost_is_spread_over_calls_per_day_times_retune_days():
    cfg = CostConfig(training_cost=30, calls_per_day=100, retune_every_days=3)
    assert amortised_training(cfg) == (pytest.approx(0.1), None)
    assert amortised_training(CostConfig(training_cost=0)) == (0.0, None)
    value, why = amortised_training(CostConfig(training_cost=30, calls_per_day=100))
    assert value is None and "retune_every_days" in why
    assert amortised_training(None)[0] is None
    tuned = ArmCost("t", True, 10, 0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.5)
    assert rung_cost("t", tuned, cfg).total == pytest.approx(0.6)
    untuned = ArmCost("p", False, 10, 0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.5)
    assert rung_cost("p", untuned, None).total == 0.5  # no training to spread
    assert rung_cost("t", tuned, None).total is None


def test_a_rung_is_dropped_from_a_list_of_baselines_and_na_when_none_is_left():
    gate = GateSpec(type="beats", baseline=["prompt", "rag"])
    assert gate_for_rung(gate, "rag").baseline == "prompt"
    assert gate_for_rung(gate, "tuned").arm == "tuned"
    assert "compared with itself" in gate_for_rung(GateSpec(type="beats", baseline="rag"), "rag")
    named = GateSpec(type="threshold", name="valid", scorer="s", min=0.5)
    assert gate_for_rung(named, "rag").name == "valid (rag)"
    regression = GateSpec(type="vs_baseline_run", arms=["tuned"])
    assert isinstance(gate_for_rung(regression, "rag"), str)
    assert gate_for_rung(regression, "tuned").arms == ["tuned"]
    assert gate_for_rung(GateSpec(type="vs_baseline_run"), "rag").arms == ["rag"]


def test_a_partial_run_is_an_inconclusive_ladder(one_run):
    gates = [GateSpec.model_validate(THRESHOLD)]
    ladder = evaluate_ladder(["prompt", "rag"], gates, one_run.analysis, None, one_run.costs,
                             one_run.cost_config, error_rates={}, max_error_rate=0.05,
                             partial="2 responses missing")
    assert ladder.verdict.exit_code == EXIT_INCONCLUSIVE
    assert ladder.verdict.reasons[0].startswith("the run is partial (2 responses missing)")
    assert ladder.verdict.reasons[1].startswith("`prompt` so far fails: ")


def test_a_rung_over_the_error_rate_is_undecided_not_failed(one_run):
    gates = [GateSpec.model_validate(THRESHOLD)]
    ladder = evaluate_ladder(["prompt", "rag"], gates, one_run.analysis, None, one_run.costs,
                             one_run.cost_config, error_rates={"prompt": 0.5},
                             max_error_rate=0.05)
    assert ladder.rungs[0].gates[0].status == INCONCLUSIVE
    assert ladder.verdict.decision == "INCONCLUSIVE"
    assert [r.status for r in ladder.results] == [INCONCLUSIVE, PASS]
    assert SKIPPED not in [r.status for r in ladder.results]


# ---- bad input: one line naming the file, line and field ---------------------------------


def bad_suite(tmp_path: Path, ladder, gates) -> tuple[int, str]:
    path = write_suite(tmp_path, {"prompt": ("wrong", 1), "rag": ("right", 10),
                                  "tuned": ("right", 5)}, ladder, gates, tuned=("tuned",))
    return invoke("validate", str(path))


@pytest.mark.parametrize("ladder,gates,fragments", [
    (["prompt"], [THRESHOLD], ["ladder:", "at least two rungs", "got 1"]),
    (["prompt", "ragg"], [THRESHOLD], ["ladder[1]:", "'ragg' is not an arm", "prompt, rag"]),
    (["prompt", "rag", "prompt"], [THRESHOLD], ["ladder[2]:", "duplicate rung 'prompt'"]),
    (["prompt", "rag"], [], ["ladder:", "a ladder needs gates"]),
    (["prompt", "rag"], [{**THRESHOLD, "arm": "tuned"}],
     ["gates[0].arm:", "write `arm: ladder` or leave `arm` out", "'tuned'"]),
    (["prompt", "rag"], [NOT_WORSE], ["ladder[0]:", "no gate applies to rung 'prompt'"]),
    (None, [{**THRESHOLD, "arm": "ladder"}], ["gates[0].arm:", "a top-level `ladder:` list"]),
    ("prompt", [THRESHOLD], ["ladder:", "list"]),
])
def test_a_bad_ladder_is_one_line_naming_the_file_line_and_field(tmp_path, ladder, gates,
                                                                 fragments):
    code, output = bad_suite(tmp_path, ladder, gates)
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in output, output
    assert f"{tmp_path / 'suite.yaml'}:" in lines[0]
    assert lines[0].split(f"{tmp_path / 'suite.yaml'}:")[1].split(":")[0].isdigit(), output
    for fragment in fragments:
        assert fragment in lines[0], output


def test_a_valid_ladder_suite_validates(tmp_path):
    code, output = bad_suite(tmp_path, ["prompt", "rag", "tuned"], [THRESHOLD, NOT_WORSE])
    assert code == 0, output
