"""The two-sided report's tables over the matches and the posts table: per post (exposure, posts found
by author or by month of creation), per document (its licensed share) and the generic matches by post."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from ..match.tally import covered_chars

__all__ = ["AUTHOR_FIELDS", "DATE_FIELDS", "natural_key", "exposure", "pick_field", "month_of", "posts_by",
           "licensed_documents", "generic_table"]


AUTHOR_FIELDS = ("author", "user", "screen_name", "username", "name")
DATE_FIELDS = ("created_at", "tweet_created", "created", "date", "timestamp", "time")


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key of natural order: digit runs compare as numbers (``p2`` before ``p10``), the rest as
    text; equal keys (``p02``, ``p2``) fall back to the text itself."""
    parts = re.split(r"([0-9]+)", text)
    return (tuple(int(t) if i % 2 else t for i, t in enumerate(parts)), text)


def exposure(matches: pl.DataFrame) -> pl.DataFrame:
    """Per post found: in how many documents and how many input files it occurs, its matches and its
    best containment; most exposed first (most documents), then by post id in natural order."""
    if matches.height == 0:
        return pl.DataFrame(schema={"post_id": pl.String, "documents": pl.UInt32, "sources": pl.UInt32,
                                    "matches": pl.UInt32, "best_containment": pl.Float64})
    return (matches.group_by("post_id")
            .agg(documents=pl.struct("source", "row").n_unique(), sources=pl.col("source").n_unique(),
                 matches=pl.len(), best_containment=pl.col("containment").max())
            .pipe(lambda t: t.join(_natural_rank(t["post_id"]), on="post_id"))
            .sort(["documents", "_rank"], descending=[True, False]).drop("_rank"))


def _natural_rank(ids: pl.Series) -> pl.DataFrame:
    """Each id with its place in natural order (:func:`natural_key`)."""
    ordered = sorted(ids.unique().to_list(), key=natural_key)
    return pl.DataFrame({"post_id": ordered, "_rank": range(len(ordered))}, schema={"post_id": pl.String, "_rank": pl.Int64})


def pick_field(columns: list[str], wanted: tuple[str, ...], given: str | None) -> str | None:
    """The posts-table column for ``given`` (a --meta-field name), or the first of ``wanted`` present."""
    names = [c.removeprefix("meta_") for c in columns if c.startswith("meta_")]
    if given is not None:
        return f"meta_{given}" if given in names else None
    return next((f"meta_{w}" for w in wanted if w in names), None)


def month_of(dates: pl.Expr) -> pl.Expr:
    """``YYYY-MM`` of a date written as text (ISO dates, ``2015-02-24 11:35:52 -0800``, RFC 2822 as
    Twitter writes ``created_at``); null when none of these."""
    iso = dates.str.extract(r"^(\d{4}-\d{2})", 1)
    rfc = dates.str.extract(r"^\w{3} (\w{3}) \d{2} [\d:]{8} [+-]\d{4} (\d{4})$", 1)
    year = dates.str.extract(r"^\w{3} \w{3} \d{2} [\d:]{8} [+-]\d{4} (\d{4})$", 1)
    months = {m: f"{i:02d}" for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}
    return pl.coalesce(iso, pl.concat_str([year, rfc.replace_strict(months, default=None)], separator="-"))


def posts_by(posts: pl.DataFrame, found_ids: pl.Series, key: pl.Expr, name: str) -> pl.DataFrame:
    """Posts indexed and found per value of ``key`` (over the posts table), most found first."""
    table = posts.select(pl.col("post_id"), key.alias(name)).with_columns(
        found=pl.col("post_id").is_in(found_ids.implode()))
    return (table.group_by(name).agg(indexed=pl.len(), found=pl.col("found").sum())
            .with_columns(share_found=pl.col("found") / pl.col("indexed"))
            .sort(["found", "indexed", name], descending=[True, True, False], nulls_last=True))


def licensed_documents(matches: pl.DataFrame) -> pl.DataFrame:
    """Per matched document: characters covered by posts (overlaps once), its length and the share;
    highest share first."""
    rows = []
    for (source, row, doc_id, chars), spans in matches.group_by(["source", "row", "doc_id", "doc_chars"]):
        covered = covered_chars(spans["doc_start"].to_numpy(), spans["doc_end"].to_numpy())
        rows.append((source, row, doc_id, chars, covered, spans["post_id"].n_unique()))
    frame = pl.DataFrame(rows, schema={"source": pl.String, "row": pl.Int64, "doc_id": pl.String, "doc_chars": pl.Int64,
                                       "licensed_chars": pl.Int64, "posts": pl.UInt32}, orient="row")
    return (frame.with_columns(licensed_share=pl.col("licensed_chars") / pl.col("doc_chars"))
            .sort(["licensed_share", "licensed_chars", "source", "row"], descending=[True, True, False, False]))


def generic_table(generic: pl.DataFrame, specific: pl.DataFrame) -> pl.DataFrame:
    """The generic matches by post: documents, the strongest span's bits, and that span."""
    if not generic.height:
        return pl.DataFrame(schema={"post_id": pl.String, "docs": pl.UInt32, "evidence_bits": pl.Float64,
                                    "also_specific": pl.Boolean, "doc_text": pl.String})
    return (generic.sort("evidence_bits", descending=True)
            .group_by("post_id", maintain_order=True)
            .agg(docs=pl.struct("source", "row").n_unique(), evidence_bits=pl.col("evidence_bits").first(),
                 doc_text=pl.col("doc_text").first())
            .with_columns(also_specific=pl.col("post_id").is_in(specific["post_id"].implode()))
            .select("post_id", "docs", "evidence_bits", "also_specific", "doc_text")
            .sort(["docs", "evidence_bits"], descending=[True, False]))
