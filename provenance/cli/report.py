"""``provenance report``: :func:`provenance.results.report_markdown.markdown_report` or
:func:`provenance.results.report_html.html_report` of a scan, to standard output or to the file ``-o``
names (its extension giving the format)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ParameterError

EXTENSIONS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}


def report_format(output: Optional[Path], fmt: Optional[str]) -> str:
    """The report's format: ``--format`` if given, else from the extension of ``-o`` (as pandas, polars and
    matplotlib do), else Markdown (on standard output)."""
    if fmt is not None:
        if fmt not in ("md", "html"):
            raise ParameterError(f"--format: md or html, got {fmt!r}")
        return fmt
    if output is None:
        return "md"
    found = EXTENSIONS.get(output.suffix.lower())
    if found is None:
        raise ParameterError(f"{output}: cannot tell the report format from the extension {output.suffix or '(none)'!r} "
                             "(use .md, .markdown, .html or .htm, or give --format md|html)")
    return found


def report(
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="Output directory of a scan."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the report here; its extension gives the "
                                          "format (.md/.markdown: Markdown, .html/.htm: HTML) [default: Markdown on "
                                          "standard output]."),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="md|html",
                                      help="md (Markdown) or html (one self-contained page with charts); overrides the "
                                           "extension of -o."),
    index_dir: Optional[Path] = typer.Option(None, "--index", help="The index, if it is no longer where the scan found it."),
    author_field: Optional[str] = typer.Option(None, help="--meta-field of the posts holding the author [default: author, "
                                                          "user, screen_name, username or name]."),
    date_field: Optional[str] = typer.Option(None, help="--meta-field of the posts holding the creation date [default: "
                                                        "created_at, tweet_created, created, date, timestamp or time]."),
    top: int = typer.Option(20, help="Rows of the top-N tables."),
    posts: Optional[List[str]] = typer.Option(
        None, "--posts", metavar="FILE",
        help="The post files the index was built from (repeatable; files or folders): the top matches then show each "
             "post's text beside the document's span, differences marked. Only the matched posts' texts are kept."),
    text_field: Optional[str] = typer.Option(None, "--text-field", help="Field/column of --posts holding the text "
                                             "[default: the one the index was built with]."),
    id_field: Optional[str] = typer.Option(None, "--id-field", help="Field/column of --posts holding the post ids "
                                           "[default: the one the index was built with]."),
    posts_format: Optional[str] = typer.Option(None, "--posts-format", help="Force the format of --posts: jsonl, csv, "
                                               "tsv, parquet, text, lines [default: from the extension]."),
) -> None:
    """Two-sided report of a scan: posts found (by author, by month, exposure) and licensed share of the
    corpus (per input file, top documents), then the top matches (with --posts: each post's text beside
    the document's span, the words that differ marked). Markdown or one self-contained HTML page, as the
    extension of -o says (or --format).

    Example: provenance report out -o report.html --posts tweets.csv
    """
    from ..results.report_html import html_report
    from ..results.report_markdown import markdown_report
    from ..results.texts import PostsSource

    fmt = report_format(output, fmt)
    if posts is None and (text_field is not None or id_field is not None or posts_format is not None):
        raise ParameterError("--text-field, --id-field and --posts-format describe --posts: give --posts FILE too")
    source = PostsSource(tuple(posts), text_field, id_field, posts_format) if posts else None
    if top < 1:
        raise ParameterError(f"--top must be at least 1, got {top}")
    render = html_report if fmt == "html" else markdown_report
    text = render(out_dir, index_dir, author_field=author_field, date_field=date_field, top=top, posts=source)
    if output is None:
        sys.stdout.write(text)
    else:
        from ..durable import atomic_write

        atomic_write(output, lambda p: Path(p).write_text(text, encoding="utf-8"))
