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
    table.add_row("documents scanned", f"{s['docs_scanned']:,}", "")
    table.add_row("documents containing posts", f"{s['docs_matched']:,}", _pct(s["share_docs_matched"]))
    table.add_row("corpus characters", f"{s['corpus_chars']:,}", "")
    table.add_row("characters that are posts", f"{s['matched_chars']:,}", _pct(s["share_chars_matched"]))
    table.add_row("verified matches", f"{s['matches']:,}",
                  ", ".join(f"{k} {v}" for k, v in s.get("matches_by_method", {}).items()))
    table.add_row("candidate pairs / verified exactly", f"{s['candidates']:,} / {s['candidates_verified']:,}", "")
    table.add_row("frequent shingles (not used as candidate keys)", f"{s['frequent_shingles']:,}", "")
    total = s.get("seconds", {}).get("total", 0.0)
    rate = f"{s['corpus_chars'] / total / 1e6:.1f} M characters/s" if total > 0 else ""
    table.add_row("scan time", f"{total:.2f} s", rate)
    return table
