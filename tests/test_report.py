"""Reports rendered from a run directory alone: the markdown a manager reads, the plot, the JSON
summary, the JUnit XML, partial runs, incomplete runs, and `harness report`."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from rich.console import Console

from harness.cli.finish import finish_run
from harness.cli.main import cli
from harness.errors import RunError
from harness.report import write_reports
from harness.report.markdown import cell
from tests.simulate import SimArm, SimRun, write_run

GATES = [
    {"type": "beats", "arm": "tuned", "baseline": "prompt"},
    {"type": "threshold", "arm": "tuned", "scorer": "json_valid", "min": 0.98},
    {"type": "no_regression", "arm": "tuned", "baseline": "prompt"},
]
COST = {"input_per_million_tokens": 0.5, "output_per_million_tokens": 1.5,
        "training_cost": 40, "retune_every_days": 30, "calls_per_day": 20000}


def demo_run(root, **kw):
    kw.setdefault("gates", GATES)
    kw.setdefault("cost", COST)
    kw.setdefault("arms", [SimArm("base", quality=0.4), SimArm("prompt", quality=0.6),
                           SimArm("tuned", "tuned", quality=0.8, prompt_tokens=80)])
    return write_run(root / "runs", SimRun(n_tasks=120, n_guard=30, **kw))


@pytest.fixture
def report(tmp_path):
    paths = write_reports(demo_run(tmp_path), tmp_path / "reports")
    return paths, paths[0].read_text(encoding="utf-8")


def test_reports_are_markdown_plot_json_and_junit_named_after_suite_and_run(report, tmp_path):
    paths, _ = report
    reports = tmp_path / "reports"
    assert paths == [reports / "demo-r1.md", reports / "demo-r1" / "forest.png",
                     reports / "demo-r1.json", reports / "demo-r1.junit.xml",
                     reports / "demo-r1" / "results.parquet"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert paths[1].read_bytes().startswith(b"\x89PNG")
    assert paths[4].read_bytes().startswith(b"PAR1")


def test_the_report_opens_with_the_verdict_and_its_reasons(report):
    _, md = report
    lines = [line for line in md.splitlines() if line.strip()]
    assert lines[0].startswith("# demo")
    assert "Verdict: REJECT" in lines[1] and "exit code 10" in lines[1]
    assert lines[2].startswith("- failed: json_valid of tuned is at least 0.98")


def test_the_report_shows_the_matrix_the_plot_and_side_by_side_examples(report, tmp_path):
    _, md = report
    assert "| beats → | base | prompt | tuned |" in md
    assert "![Forest plot of the intervals](demo-r1/forest.png)" in md
    assert (tmp_path / "reports" / "demo-r1/forest.png").is_file()  # the link is relative
    assert "### Biggest wins of tuned" in md and "### Biggest losses of tuned" in md
    assert "**Input:**" in md and "**Reference:**" in md and "| output |" in md


def test_the_report_has_tags_costs_break_even_cache_counts_and_hashes(report):
    _, md = report
    assert "Mean **token_f1** per tag" in md and "| fares |" in md
    assert "cost per call (USD)" in md and "paid back after" in md
    assert "came from the response cache" in md
    assert "`h-support`" in md and "general_guard" in md


def test_rendering_twice_gives_identical_files(tmp_path):
    run_dir = demo_run(tmp_path)
    first = [p.read_bytes() for p in write_reports(run_dir, tmp_path / "one")]
    second = [p.read_bytes() for p in write_reports(run_dir, tmp_path / "two")]
    assert first == second


def test_the_json_summary_carries_the_verdict_gates_and_every_interval(report):
    paths, _ = report
    summary = json.loads(paths[2].read_text())
    assert summary["verdict"]["decision"] == "REJECT" and summary["verdict"]["exit_code"] == 10
    assert [g["status"] for g in summary["gates"]][:2] == ["pass", "fail"]
    win = next(w for w in summary["win_rates"] if {w["arm"], w["baseline"]} == {"tuned",
                                                                               "prompt"})
    assert 0 <= win["win_rate"]["low"] <= win["win_rate"]["high"] <= 1
    assert {d["scorer"] for d in summary["differences"]} >= {"token_f1", "guard_contains"}


def test_junit_has_a_case_per_gate_and_fails_the_ones_that_failed(report):
    paths, _ = report
    root = ET.fromstring(paths[3].read_text())
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(GATES) + 2  # + run complete + verdict
    assert cases[1].find("failure").get("type") == "fail"
    assert cases[0].find("failure") is None
    assert int(suite.get("failures")) >= 2


def test_a_partial_run_is_marked_partial_at_the_top(tmp_path):
    run_dir = demo_run(tmp_path, status="running", drop_fraction=0.2)
    md = write_reports(run_dir, tmp_path / "reports")[0].read_text()
    assert md.splitlines()[2].startswith("> **PARTIAL RUN**")
    assert "status 'running'" in md


def test_a_run_without_scores_is_refused_naming_the_missing_file(tmp_path):
    run_dir = demo_run(tmp_path)
    (run_dir / "scores.jsonl").unlink()
    with pytest.raises(RunError, match=r"incomplete run: scores.jsonl is missing"):
        write_reports(run_dir, tmp_path / "reports")


def test_harness_report_rerenders_from_the_run_directory_alone(tmp_path):
    run_dir = demo_run(tmp_path)
    out = tmp_path / "elsewhere"
    result = CliRunner().invoke(cli, ["report", str(run_dir), "--reports-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "demo-r1.md").is_file() and "REJECT" in result.output
    gated = CliRunner().invoke(cli, ["report", str(run_dir), "--reports-dir", str(out), "--gate"])
    assert gated.exit_code == 10


def test_harness_report_of_an_incomplete_run_is_one_line_with_a_nonzero_exit(tmp_path):
    run_dir = demo_run(tmp_path)
    (run_dir / "responses.jsonl").unlink()
    result = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert result.exit_code == RunError("x").exit_code
    assert "responses.jsonl is missing" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_finish_run_returns_the_exit_code_verdict_and_paths_and_prints_a_summary(tmp_path):
    console = Console(record=True, width=120)
    outcome = finish_run(demo_run(tmp_path), tmp_path / "reports", console=console)
    assert (outcome.exit_code, outcome.verdict) == (10, "REJECT")
    assert outcome.report_paths[0].name == "demo-r1.md"
    printed = console.export_text()
    assert "token_f1 (primary)" in printed and "verdict: REJECT" in printed


def test_finish_run_with_a_baseline_adds_the_regression_section(tmp_path):
    before = demo_run(tmp_path, run_id="r0")
    after = demo_run(tmp_path, run_id="r1", seed=3)
    quiet = Console(file=io.StringIO())
    outcome = finish_run(after, tmp_path / "reports", baseline_dir=before, console=quiet)
    md = outcome.report_paths[0].read_text()
    assert "## Against the baseline run r0" in md and "### Flips" in md


def test_table_cells_survive_pipes_and_newlines():
    assert cell("a|b\nc") == "a\\|b<br>c"


def test_a_response_with_an_infinite_token_count_exports_as_null_not_a_failed_report(tmp_path):
    import pandas as pd

    run_dir = demo_run(tmp_path)
    responses = run_dir / "responses.jsonl"
    lines = responses.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["completion_tokens"] = float("inf")  # json writes Infinity, a foreign file may too
    lines[0] = json.dumps(first)
    responses.write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths = write_reports(run_dir, tmp_path / "reports")
    results = pd.read_parquet(paths[4])
    row = results[(results["example_id"] == str(first["example_id"]))
                  & (results["arm"] == first["arm"])]
    assert len(row) == 1 and pd.isna(row["completion_tokens"].iloc[0])
    assert results["completion_tokens"].notna().sum() == len(results) - 1
