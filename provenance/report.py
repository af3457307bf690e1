"""Scan outputs: ``matches.parquet`` and ``summary.json`` written atomically, and the terminal table."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from .errors import ProvenanceError

__all__ = ["MATCH_SCHEMA", "MATCH_COLUMNS_DOC", "write_outputs", "summary_table", "umask"]

MATCH_SCHEMA: dict[str, pl.DataType] = {
    "doc_id": pl.String,
    "post_id": pl.String,
    "source": pl.String,
    "row": pl.Int64,
    "containment": pl.Float64,
    "coverage": pl.Float64,
    "jaccard": pl.Float64,
    "doc_start": pl.Int64,
    "doc_end": pl.Int64,
    "doc_text": pl.String,
    "doc_chars": pl.Int64,
    "method": pl.String,
    "span_tokens": pl.Int64,
    "matched_shingles": pl.Int64,
    "post_shingles": pl.Int64,
}

MATCH_COLUMNS_DOC = {
    "doc_id": "document id (id field, or FILE:ROW)",
    "post_id": "post id from the index",
    "source": "input file the document came from",
    "row": "1-based record number of the document in that file",
    "containment": "verified share of the post's distinct shingles found in the matched region (0-1)",
    "coverage": "share of the post's tokens covered by the matched shingles (of its prefix for containment_prefix; "
                "empty for --mode jaccard)",
    "jaccard": "exact Jaccard similarity of post and record (--mode jaccard and exact_short on records only)",
    "doc_start": "0-based character offset where the matched span starts in the original document text",
    "doc_end": "end-exclusive character offset of the matched span",
    "doc_text": "the matched span of the document (its first 4,000 characters if longer)",
    "doc_chars": "characters of the whole document",
    "method": "containment | containment_prefix (copy cut off with …) | exact_short | jaccard",
    "span_tokens": "tokens covered by the matched span",
    "matched_shingles": "distinct post shingles found in the span",
    "post_shingles": "distinct shingles of the post (of its matched prefix for containment_prefix)",
}


def umask() -> int:
    """The process umask (read without changing it for long)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write) -> None:
    """Write ``path`` through ``write(tmp_name)`` on a temporary name, fsync, then rename into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_outputs(out_dir: str | Path, matches: pl.DataFrame, summary: dict[str, Any]) -> Path:
    """Write ``matches.parquet`` then ``summary.json`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProvenanceError(f"{out}: cannot create output directory ({e.strerror})") from None
    if not out.is_dir():
        raise ProvenanceError(f"{out}: not a directory")
    try:
        atomic_write(out / "matches.parquet", lambda p: matches.write_parquet(p, statistics=True))
        data = json.dumps(summary, indent=2, sort_keys=False) + "\n"
        atomic_write(out / "summary.json", lambda p: Path(p).write_text(data, encoding="utf-8"))
    except OSError as e:
        raise ProvenanceError(f"{out}: cannot write outputs ({e.strerror or e})") from None
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def summary_table(summary: dict[str, Any]):
    """A rich Table with the headline figures of a scan summary."""
    from rich.table import Table

    s = summary
    table = Table(title="provenance scan", show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("share", justify="right")
    table.add_row("posts indexed", f"{s['posts_indexed']:,}", "")
    table.add_row("posts found in the corpus", f"{s['posts_matched']:,}", _pct(s["share_posts_matched"]))
    table.add_row("  of them short posts (exact match)", f"{s['short_posts_matched']:,}",
                  f"of {s['short_posts_indexed']:,} short")
    est = s.get("estimates", {})
    sampled = s.get("docs_total", s["docs_scanned"]) > s["docs_scanned"]

    def share(name: str) -> str:
        e = est.get(name)
        if not sampled or not e:
            return _pct(s[name])
        return f"{_pct(e['value'])} ({_pct(e['ci_low'])} – {_pct(e['ci_high'])})"

    if sampled:
        table.add_row("documents read / sampled and scanned", f"{s['docs_total']:,} / {s['docs_scanned']:,}",
                      f"{est.get('confidence', 0.95):.0%} intervals below")
    else:
        table.add_row("documents scanned", f"{s['docs_scanned']:,}", "")
    table.add_row("documents containing posts", f"{s['docs_matched']:,}", share("share_docs_matched"))
    table.add_row("corpus characters", f"{s['corpus_chars']:,}", "")
    table.add_row("characters that are posts", f"{s['matched_chars']:,}", share("share_chars_matched"))
    table.add_row("verified matches", f"{s['matches']:,}",
                  ", ".join(f"{k} {v}" for k, v in s.get("matches_by_method", {}).items()))
    table.add_row("candidate pairs / verified exactly", f"{s['candidates']:,} / {s['candidates_verified']:,}", "")
    table.add_row("frequent shingles (not used as candidate keys)", f"{s['frequent_shingles']:,}", "")
    total = s.get("seconds", {}).get("total", 0.0)
    rate = f"{s['corpus_chars'] / total / 1e6:.1f} M characters/s" if total > 0 else ""
    table.add_row("scan time", f"{total:.2f} s", rate)
    return table


# ----------------------------------------------------------------------------- provenance report


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
        return str(v).replace("|", "\\|").replace("\n", " ")

    numeric = [dt.is_numeric() for dt in frame.dtypes]
    lines = ["| " + " | ".join(frame.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(c, v) for c, v in zip(frame.columns, r)) + " |" for r in frame.iter_rows()]
    return "\n".join(lines)


def markdown_report(out_dir: str | Path, index_dir: str | Path | None = None, *, author_field: str | None = None,
                    date_field: str | None = None, top: int = 20) -> str:
    """The two-sided report of a scan's output directory, in Markdown: the post side (posts found,
    by author and by month of creation when the index keeps such ``--meta-field`` columns, and each
    post's exposure) and the corpus side (shares per input file, the documents with the highest
    licensed share). Every number comes from ``summary.json`` and ``matches.parquet``."""
    from .estimate import AUTHOR_FIELDS, DATE_FIELDS, exposure, licensed_documents, month_of, pick_field, posts_by

    out = Path(out_dir)
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        matches = pl.read_parquet(out / "matches.parquet")
    except (OSError, ValueError, pl.exceptions.PolarsError) as e:
        raise ProvenanceError(f"{out}: not the output directory of a finished scan ({e})") from None
    index_path = Path(index_dir) if index_dir is not None else Path(summary["index"]["path"])
    posts_file = index_path / "posts.parquet"
    if not posts_file.is_file():
        raise ProvenanceError(f"{index_path}: no index here (name it with --index)")
    columns = list(pl.read_parquet_schema(posts_file))
    s = summary
    pct = "{:.2%}"
    lines = [
        "# provenance report",
        "",
        f"Scan of {len(s['inputs'])} input file(s) against the index `{index_path}` (manifest sha256 "
        f"`{s['index']['manifest_sha256'][:16]}…`), provenance {s['tool_version']}.",
        "",
        "| measure | count | share |",
        "|---|---:|---:|",
        f"| posts found in the corpus | {s['posts_matched']:,} of {s['posts_indexed']:,} | {s['share_posts_matched']:.2%} |",
        f"| documents containing posts | {s['docs_matched']:,} of {s['docs_scanned']:,} | {s['share_docs_matched']:.2%} |",
        f"| characters that are posts | {s['matched_chars']:,} of {s['corpus_chars']:,} | {s['share_chars_matched']:.2%} |",
        f"| verified matches | {s['matches']:,} | |",
        "",
        "## Post side",
        "",
    ]
    found_ids = matches["post_id"].unique()
    author = pick_field(columns, AUTHOR_FIELDS, author_field)
    date = pick_field(columns, DATE_FIELDS, date_field)
    wanted = ["post_id", *(c for c in (author, date) if c)]
    posts = pl.read_parquet(posts_file, columns=wanted)
    if author:
        by_author = posts_by(posts, found_ids, pl.col(author), "author").head(top)
        lines += [f"**By author** (`{author.removeprefix('meta_')}`; the {top} with most posts found)", "",
                  _table(by_author, {"share_found": pct}), ""]
    if date:
        by_month = posts_by(posts, found_ids, month_of(pl.col(date).cast(pl.String)), "month").sort("month")
        lines += [f"**By month of creation** (`{date.removeprefix('meta_')}`)", "", _table(by_month, {"share_found": pct}), ""]
    if not author and not date:
        lines += ["(The index keeps no author or date column: build it with `--meta-field` to see posts by author "
                  "and month.)", ""]
    exp = exposure(matches)
    if author or date:
        exp = exp.join(posts.rename({c: c.removeprefix("meta_") for c in wanted[1:]}), on="post_id", how="left")
    lines += [f"**Exposure** (posts found in the most documents; {exp.height:,} posts in all)", "",
              _table(exp.head(top)), ""]
    lines += ["## Corpus side", "", "**Per input file**", ""]
    per_input = pl.DataFrame([{k: i.get(k) for k in ("path", "docs_scanned", "docs_matched", "share_docs_matched",
                                                     "corpus_chars", "matched_chars", "share_chars_matched")}
                              for i in s["inputs"]])
    lines += [_table(per_input, {"share_docs_matched": pct, "share_chars_matched": pct}), ""]
    docs = licensed_documents(matches).head(top)
    lines += [f"**Documents with the highest licensed share** (characters covered by posts / document characters; top {top})",
              "", _table(docs, {"licensed_share": pct}), ""]
    return "\n".join(lines)
