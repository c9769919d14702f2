"""`harness index SUITE`: bring the index of every corpus of a suite up to date.

`harness run` does the same by itself when a retrieval misses its cache; this command builds
ahead of time and says what it did (embedded, rewritten, deleted, unchanged, chunks/s).
"""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import console, handle_errors
from harness.errors import ConfigError
from harness.spec.suite import load_suite


@click.command()
@click.argument("suite_file", type=click.Path(path_type=Path))
@click.option("--corpus", "names", multiple=True, help="Only this corpus (repeatable).")
@handle_errors
def index(suite_file: Path, names: tuple[str, ...]) -> None:
    """Index the suite's corpora incrementally: only new or changed chunks are embedded."""
    from harness.retrieval.index import build_index

    suite = load_suite(suite_file)
    if not suite.corpora:
        raise ConfigError(f"{suite_file}: the suite has no `corpora:` section")
    for name in names:
        if name not in suite.corpora:
            raise ConfigError(f"{suite_file}: --corpus {name}: not a corpus of this suite; "
                              f"expected one of: {', '.join(sorted(suite.corpora))}")
    for name, spec in suite.corpora.items():
        if names and name not in names:
            continue
        report = build_index(spec, suite.base_dir, progress=True)
        console.print(
            f"corpus {name}: {report.documents} documents, {report.chunks} chunks; embedded "
            f"{report.embedded}, payload rewritten {report.payload_updated}, deleted "
            f"{report.deleted}, unchanged {report.unchanged} in {report.seconds:.2f} s"
            + (f" ({report.chunks_per_s:.1f} chunks/s, embedder "
               f"{100 * report.embedder_share:.0f}% of it)" if report.embedded else "")
            + f"; index {report.identity} at {report.index_dir}", highlight=False,
            soft_wrap=True)


def register(group: click.Group) -> None:
    group.add_command(index)
