"""The I/O edge of reporting: load a run, evaluate it, write markdown, PNG, JSON and JUnit.

Layout, for suite S and run R:
  <reports_dir>/S-R.md            the stakeholder report (links the plot relatively)
  <reports_dir>/S-R/forest.png    the forest plot of the intervals
  <reports_dir>/S-R.json          the summary for machines
  <reports_dir>/S-R.junit.xml     gates as JUnit test cases for CI
  <reports_dir>/S-R/results.parquet  every example x arm: response and scores (docs/scale.md)
A compare writes S-compare-BASE-vs-R.{md,json,junit.xml} and S-compare-BASE-vs-R/deltas.png.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.decision.completeness import load_scored_run
from harness.decision.evaluate import CompareEvaluation, Evaluation, evaluate
from harness.decision.verdict import APPROVE, NO_GATES
from harness.report.context import (
    compare_context,
    compare_panels,
    forest_panels,
    report_context,
)
from harness.report.json_summary import compare_summary, run_summary
from harness.report.junit import junit_xml
from harness.report.markdown import render
from harness.report.parquet import RESULTS, write_results_parquet
from harness.report.plots import forest_png
from harness.store import write_bytes_atomic as write_atomic  # readers never see half


def _write_all(reports_dir: Path, stem: str, plot_name: str, png: bytes, markdown: str,
               summary: dict, junit: str) -> list[Path]:
    paths = [reports_dir / f"{stem}.md", reports_dir / stem / plot_name,
             reports_dir / f"{stem}.json", reports_dir / f"{stem}.junit.xml"]
    write_atomic(paths[1], png)
    write_atomic(paths[0], markdown.encode("utf-8"))
    write_atomic(paths[2], (json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
                 .encode("utf-8"))
    write_atomic(paths[3], junit.encode("utf-8"))
    return paths


def write_evaluation_reports(ev: Evaluation, reports_dir: Path) -> list[Path]:
    """Write the reports of an evaluated run; returns [markdown, plot, json, junit, parquet]."""
    an = ev.analysis
    stem = f"{an.suite_name}-{an.run_id}"
    # The full per-example data first: the report links it.
    parquet = write_results_parquet(ev.run, an, Path(reports_dir) / stem / RESULTS)
    png = forest_png(forest_panels(ev), title=f"{an.suite_name} · {an.run_id}")
    markdown = render("report.md.j2", report_context(ev, f"{stem}/forest.png",
                                                     f"{stem}/{RESULTS}"))
    v = ev.verdict
    junit = junit_xml(an.suite_name, an.run_id, ev.results, v.decision, list(v.reasons),
                      v.decision in (APPROVE, NO_GATES), ev.completeness.summary)
    return [*_write_all(Path(reports_dir), stem, "forest.png", png, markdown, run_summary(ev),
                        junit), parquet]


def write_compare_reports(ce: CompareEvaluation, reports_dir: Path) -> list[Path]:
    comp = ce.comparison
    stem = f"{comp.suite_name}-compare-{comp.baseline_run}-vs-{comp.current_run}"
    png = forest_png(compare_panels(ce), title=f"{comp.suite_name}: {comp.current_run} vs "
                     f"{comp.baseline_run}")
    ctx = compare_context(ce, f"{stem}/deltas.png")
    markdown = render("compare.md.j2", {**ctx, "comparison": ctx})
    junit = junit_xml(comp.suite_name, comp.current_run, ce.results, ce.decision,
                      [r.reason for r in ce.results if r.status == "fail"], ce.exit_code == 0)
    return _write_all(Path(reports_dir), stem, "deltas.png", png, markdown, compare_summary(ce),
                      junit)


def write_reports(run_dir: str | Path, reports_dir: str | Path,
                  baseline_dir: str | Path | None = None) -> list[Path]:
    """Re-render every report of a run from its directory alone (plus an optional baseline)."""
    run = load_scored_run(run_dir)
    baseline = load_scored_run(baseline_dir) if baseline_dir is not None else None
    return write_evaluation_reports(evaluate(run, baseline), Path(reports_dir))
