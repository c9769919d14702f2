"""Reports of a run: markdown for people, JSON for machines, JUnit XML for CI, a forest plot.

`write_reports(run_dir, reports_dir)` renders them from the run directory alone.
"""

from __future__ import annotations

from harness.report.writer import write_compare_reports, write_evaluation_reports, write_reports

__all__ = ["write_compare_reports", "write_evaluation_reports", "write_reports"]
