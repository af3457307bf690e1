"""The two-sided report in Markdown (``provenance report -o report.md``).

Everything the report did not write itself (post ids, authors, dates, paths, texts, column names, the
values of summary.json) goes through :func:`_md_text`: one line, and every character Markdown or HTML
would read (``<``, ``&``, ``|``, ``*``, backticks, ...) escaped, so that a post id such as
``<img src=x onerror=...>`` shows as text and a ``|`` or a newline cannot break a table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl

from .headline import GENERIC_WORDS, headline_rows
from .report_data import report_data, top_matches
from .texts import NO_TEXTS, PostsSource, diff_pieces

__all__ = ["markdown_report"]


def _table(frame: pl.DataFrame, formats: dict[str, str] | None = None) -> str:
    """A Markdown table of ``frame`` (numbers right-aligned, ``formats`` per column)."""
    formats = formats or {}

    def cell(name: str, v: Any) -> str:
        if v is None:
            return "–"
        if name in formats:
            return formats[name].format(v)
        if isinstance(v, float):
            return f"{v:.4f}"
        if isinstance(v, int):
            return f"{v:,}"
        return _md_text(str(v))

    numeric = [dt.is_numeric() for dt in frame.dtypes]
    heads = [c if re.fullmatch(r"\w+", c) else _md_text(c) for c in frame.columns]  # (a meta field's name)
    lines = ["| " + " | ".join(heads) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(c, v) for c, v in zip(frame.columns, r)) + " |" for r in frame.iter_rows()]
    return "\n".join(lines)


def _md_text(text: str) -> str:
    """``text`` as inline Markdown: one line, the characters Markdown (or HTML inside it) would read escaped."""
    return re.sub(r"([\\`*_~|<>&\[\]#!])", r"\\\1", re.sub(r"\s+", " ", str(text)))


def _md_pieces(pieces: list[tuple[str, bool]], mark: str) -> str:
    return "".join(f"{mark}{_md_text(t)}{mark}" if differs and t.strip() else _md_text(t) for t, differs in pieces).strip()


def _md_matches(d: dict[str, Any]) -> list[str]:
    tm, texts = top_matches(d), d["texts"]
    lines = ["## Top matches", "", f"The {tm.height:,} strongest matches that count (most evidence first; a span that several documents "
                                        "hold is shown once, with their number)."]
    if texts is None:
        lines += ["", f"({NO_TEXTS}.)", "", _table(tm.select("post_id", "doc_id", "containment", "method", "doc_text")), ""]
        return lines
    lines += ["", "Each post beside the document's span: ~~struck~~ words of the post are not in the span, **bold** "
              "words of the span are not in the post (normalized words compared, as the scan does).", "",
              "| post_id | doc_id | containment | method | post text | document span |", "|---|---|---:|---|---|---|"]
    for r in tm.iter_rows(named=True):
        text = texts.get(r["post_id"])
        if text is None:
            post, span = "(text not found)", _md_text(r["doc_text"] or "")
        else:
            a, b = diff_pieces(text, r["doc_text"] or "")
            post, span = _md_pieces(a, "~~"), _md_pieces(b, "**")
        more = f" (the same span in {r['same_span']:,} documents)" if (r.get("same_span") or 0) > 1 else ""
        lines.append(f"| {_md_text(r['post_id'])} | {_md_text(r['doc_id'])}{more} | {r['containment']:.4f} | {_md_text(r['method'])} | "
                     f"{post} | {span} |")
    return [*lines, ""]


def markdown_report(out_dir: str | Path, index_dir: str | Path | None = None, *, author_field: str | None = None,
                    date_field: str | None = None, top: int = 20, posts: PostsSource | None = None) -> str:
    """The two-sided report of a scan's output directory, in Markdown: the post side (posts found,
    by author and by month of creation when the index keeps such ``--meta-field`` columns, and each
    post's exposure) and the corpus side (shares per input file, the documents with the highest
    licensed share), then the top matches (each post's text beside the document's span, differences
    marked, given ``posts``). Every number comes from ``summary.json`` and ``matches.parquet``."""
    d = report_data(out_dir, index_dir, author_field=author_field, date_field=date_field, top=top, posts=posts)
    s, pct = d["summary"], "{:.2%}"
    lines = [
        "# provenance report",
        "",
        f"Scan of {len(s['inputs'])} input file(s) against the index {_md_text(d['index'])} (manifest sha256 "
        f"{_md_text(str(s['index']['manifest_sha256'])[:16])}…), provenance {_md_text(s['tool_version'])}.",
        "",
        "| measure | count | share |",
        "|---|---:|---:|",
        *(f"| {a} | {_md_text(b)} | {_md_text(c)} |" for a, b, c in headline_rows(s)),
        "",
        "## Post side",
        "",
    ]
    if d["by_author"] is not None:
        lines += [f"**By author** ({_md_text(d['author'])}; the {top} with most posts found)", "",
                  _table(d["by_author"].head(top), {"share_found": pct}), ""]
    if d["by_month"] is not None:
        lines += [f"**By month of creation** ({_md_text(d['date'])})", "", _table(d["by_month"], {"share_found": pct}), ""]
    if d["by_author"] is None and d["by_month"] is None:
        lines += ["(The index keeps no author or date column: build it with `--meta-field` to see posts by author "
                  "and month.)", ""]
    lines += [f"**Exposure** (posts found in the most documents; {d['exposure'].height:,} posts in all)", "",
              _table(d["exposure"].head(top)), ""]
    g = d["generic"]
    if g.height:
        bits = s["params"]["scan"].get("min_evidence_bits", 0)
        lines += [f"**Generic matches** ({g.height:,} posts)", "", GENERIC_WORDS.format(bits=bits), "",
                  _table(g.head(top), {"evidence_bits": "{:.1f}"}), ""]
    lines += ["## Corpus side", "", "**Per input file**", "",
              _table(d["per_input"], {"share_docs_matched": pct, "share_chars_matched": pct}), ""]
    lines += [f"**Documents with the highest licensed share** (characters covered by posts / document characters; top {top})",
              "", _table(d["documents"].head(top), {"licensed_share": pct}), ""]
    lines += _md_matches(d)
    return "\n".join(lines)
