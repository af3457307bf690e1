"""What the two reports show, gathered once from a scan's output directory (``summary.json``,
``matches.parquet``, checked against the scan's evidence) and the index (its posts table, and the
posts' texts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import ProvenanceError
from .outputs import split_generic
from .texts import PostsSource, index_texts, post_texts

__all__ = ["report_data", "top_matches"]


def report_data(out_dir: str | Path, index_dir: str | Path | None = None, *, author_field: str | None = None,
                date_field: str | None = None, top: int = 20, posts: PostsSource | None = None) -> dict[str, Any]:
    """The tables of the two-sided report (see :func:`.report_markdown.markdown_report`), from
    ``summary.json``, ``matches.parquet`` and the index's ``posts.parquet``; the texts of the posts
    found from ``posts`` (the post files the index was built from), given."""
    from .tables import (AUTHOR_FIELDS, DATE_FIELDS, exposure, generic_table, licensed_documents, month_of, pick_field,
                         posts_by)

    from ..durable import sha256_of
    from ..index import open_index
    from .evidence import EVIDENCE, check_results

    out = Path(out_dir)
    if (out / EVIDENCE).is_file():  # no report from altered results
        problems = check_results(out)
        if problems:
            raise ProvenanceError(f"{problems[0].message} (see: provenance verify {out})")
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        matches = pl.read_parquet(out / "matches.parquet")
    except (OSError, ValueError, pl.exceptions.PolarsError) as e:
        raise ProvenanceError(f"{out}: not the output directory of a finished scan ({e})") from None
    index_path = Path(index_dir) if index_dir is not None else Path(summary["index"]["path"])
    if not (index_path / "manifest.json").is_file():
        raise ProvenanceError(f"{index_path}: no index here (name it with --index)")
    index = open_index(index_path, verify=False)  # (checks the manifests' own checksums)
    from ..index.shards import shards_of

    posts_files = []
    for shard, _ in shards_of(index):  # an unsharded index is one shard; each shard has its own posts
        posts_file = shard.path / "posts.parquet"
        if sha256_of(posts_file) != shard.manifest["files"]["posts.parquet"]["sha256"]:
            raise ProvenanceError(f"{posts_file}: checksum differs from the manifest (damaged or altered index)")
        posts_files.append(posts_file)
    manifest = index.manifest
    columns = list(pl.read_parquet_schema(posts_files[0]))
    author = pick_field(columns, AUTHOR_FIELDS, author_field)
    date = pick_field(columns, DATE_FIELDS, date_field)
    wanted = ["post_id", *(c for c in (author, date) if c)]
    posts_meta = pl.concat([pl.read_parquet(f, columns=wanted) for f in posts_files])
    specific, generic = split_generic(matches)
    found_ids = specific["post_id"].unique()
    exp = exposure(specific)
    if author or date:
        exp = exp.join(posts_meta.rename({c: c.removeprefix("meta_") for c in wanted[1:]}), on="post_id", how="left")
    per_input = pl.DataFrame([{k: i.get(k) for k in ("path", "docs_scanned", "docs_matched", "share_docs_matched",
                                                     "corpus_chars", "matched_chars", "share_chars_matched")}
                              for i in summary["inputs"]])
    return {
        "summary": summary, "index": index_path, "matches": matches, "top": top,
        "author": author and author.removeprefix("meta_"), "date": date and date.removeprefix("meta_"),
        "by_author": posts_by(posts_meta, found_ids, pl.col(author), "author") if author else None,
        "by_month": (posts_by(posts_meta, found_ids, month_of(pl.col(date).cast(pl.String)), "month").sort("month")
                     if date else None),
        "exposure": exp, "per_input": per_input, "documents": licensed_documents(specific),
        "generic": generic_table(generic, specific),
        "texts": (post_texts(posts, matches["post_id"].unique().to_list(), manifest.get("fields", {}),
                             manifest.get("inputs", []))
                  if posts is not None else index_texts(index, matches["post_id"].unique())),
    }


def top_matches(d: dict[str, Any]) -> pl.DataFrame:
    """The ``top`` matches that count, strongest first (most evidence bits, then containment), with
    identical spans collapsed: one row per span text (normalized: case and spacing), the strongest,
    with ``same_span`` the documents that hold that span (a phrase in many documents shows once)."""
    m = split_generic(d["matches"])[0]
    if not m.height:
        return m.with_columns(pl.lit(0, pl.UInt32).alias("same_span"))
    key = pl.col("doc_text").fill_null("").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
    ranked = m.sort(["evidence_bits", "containment", "span_tokens", "doc_id", "post_id"],
                    descending=[True, True, True, False, False], nulls_last=True)
    ranked = ranked.with_columns(key.alias("_span")).with_columns(
        pl.struct("source", "row").n_unique().over("_span").alias("same_span"))
    return ranked.unique("_span", keep="first", maintain_order=True).drop("_span").head(d["top"])
