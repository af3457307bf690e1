"""``provenance demo``: index the bundled tweets and scan the bundled corpus (:mod:`provenance.demo`),
then the scan's summary, the recall against the planted truth and a few example matches."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import AsJson, Quiet, err, escape, progress, show_scan


def demo(
    out: Path = typer.Option(Path("provenance-demo"), "-o", "--out", help="Where to put the demo index and scan results."),
    quiet: bool = Quiet,
    as_json: bool = AsJson,
) -> None:
    """Index bundled real tweets, scan a bundled news/encyclopedia corpus with planted copies, report.

    Example: provenance demo -o /tmp/demo
    """
    from .. import demo as bundled

    paths = bundled.DemoPaths(bundled.fixtures_dir(), out)
    if not quiet:
        err.print(f"[bold]1/2[/] indexing the posts in {escape(str(paths.posts))}")
    with progress(quiet, "indexing", [paths.posts]) as bar:
        index = bundled.build_demo_index(paths, on_progress=bar)
    if not quiet:
        err.print(f"[bold]2/2[/] scanning the documents in {escape(str(paths.corpus))} (some posts planted)")
    with progress(quiet, "scanning", [paths.corpus]) as bar:
        result = bundled.scan_demo(index, paths, on_progress=bar)
    show_scan(result, quiet, as_json)
    if not quiet:
        check = bundled.check_against_truth(result.matches, paths.fixtures)
        err.print(bundled.truth_table(check))
        err.print(bundled.example_lines(result.matches, paths.fixtures))
        err.print(f"next: provenance report {paths.scan_dir} -o report.html   "
                  f"(or: provenance verify {paths.scan_dir} --inputs {paths.corpus})", highlight=False)
