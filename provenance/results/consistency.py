"""``summary.json`` against ``matches.parquet``: what ``provenance verify`` recomputes from the rows.

The seal of ``evidence.json`` pins the sha256 of both files, but an unkeyed seal is only a checksum:
whoever edits the files can seal them again. What follows from the rows is therefore recomputed and
compared with what the summary says, so that the two cannot disagree unseen: the number of matches (in
all and by method), the posts and documents matched and the characters they cover (all but the
generic matches), the generic counts, the shares (from those numerators and the summary's totals), the
same per input file, and the figures copied from the index. A row may not repeat another, and every
row's ``source`` must be one of the inputs the evidence records. Each difference is one line.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import polars as pl

from .outputs import split_generic
from .significance import covered_per_doc, why_not_counts

__all__ = ["summary_differences"]


def _share(a: int, b: int) -> float:
    return a / b if b else 0.0  # (as the scan computes it: provenance.match.tally.Tally.shares)


def _covered_chars(rows: pl.DataFrame) -> int:
    """Characters covered by the rows' spans, overlaps within a document counted once."""
    return int(covered_per_doc(rows)["covered"].sum()) if rows.height else 0


def _matched(specific: pl.DataFrame) -> dict[str, int]:
    """Posts and documents matched and characters covered by the (specific) rows."""
    return {"posts_matched": specific["post_id"].n_unique(),
            "docs_matched": specific.select("source", "row").n_unique() if specific.height else 0,
            "matched_chars": _covered_chars(specific)}


def _differ(where: str, said: dict[str, Any], found: dict[str, Any]) -> Iterable[str]:
    for name, value in found.items():
        if said.get(name) != value or type(said.get(name)) is not type(value):
            yield f"{where}: {name} is {said.get(name)!r}, matches.parquet gives {value!r}"


def summary_differences(summary: Any, matches: pl.DataFrame, evidence: dict[str, Any], index: Any,
                        compared: tuple[str, ...], listed: int = 20) -> list[str]:
    """The differences between ``summary`` (summary.json's content), ``matches`` and what ``evidence``
    and ``index`` (the scan's, checked) record; ``compared`` are the columns that make a row."""
    if not isinstance(summary, dict):
        return ["summary.json: not a JSON object"]
    out: list[str] = []
    cols = [c for c in compared if c in matches.columns]
    repeated = matches.filter(matches.select(cols).is_duplicated())
    if repeated.height:
        r = repeated.row(0, named=True)
        out.append(f"matches.parquet: {repeated.height:,} rows repeat another row (the first: {r['source']}:{r['row']}, "
                   f"post {r['post_id']!r})")
    recorded = {rec.get("path") for rec in evidence.get("inputs", []) if isinstance(rec, dict)}
    for source in sorted(set(matches["source"].unique().to_list()) - recorded, key=str)[:listed]:
        n = matches.filter(pl.col("source") == source).height
        out.append(f"matches.parquet: {n:,} rows from {source!r}, which is not among the inputs evidence.json records")
    specific, generic = split_generic(matches)
    totals = _matched(specific)
    by_method = matches.group_by("method").len().sort("method") if matches.height else None
    n_posts = index.n_posts
    counts = index.manifest.get("counts", {})
    found = {
        "matches": matches.height,
        "matches_by_method": dict(by_method.iter_rows()) if by_method is not None else {},
        **totals,
        "posts_indexed": n_posts,
        "share_posts_matched": _share(totals["posts_matched"], n_posts),
        "short_posts_indexed": counts.get("short_posts", 0),
        "short_posts_matched": _short_posts(index, specific["post_id"].unique()),
        "empty_posts_indexed": counts.get("empty_posts", 0),
        "frequent_shingles": counts.get("frequent_shingles", 0),
        "posts_with_only_frequent_shingles": counts.get("posts_with_only_frequent_shingles", 0),
        "generic": {"matches": generic.height,
                    "posts": generic.filter(~pl.col("post_id").is_in(specific["post_id"].implode()))["post_id"].n_unique(),
                    "docs": generic.join(specific, on=["source", "row"], how="anti").select("source", "row").n_unique()},
        "params": {"index": index.params.to_dict(), "scan": evidence.get("params")},
    }
    out += [f"summary.json: {m}" for m in _shares(summary, totals, found)]
    out += _differ("summary.json", summary, found)
    said = summary.get("significance")
    if isinstance(said, dict):  # (the judgement itself is checked by judging the rows again: evidence._rejudge)
        out += _differ("summary.json significance", said, {"not_counted": why_not_counts(matches), "posts_searched": n_posts})
    said_index = summary.get("index")
    if not isinstance(said_index, dict) or said_index.get("manifest_sha256") != index.checksum:
        out.append("summary.json: index.manifest_sha256 is not the sha256 of the scan's index manifest")
    out += _per_input(summary, specific, recorded)
    return out


def _shares(said: dict[str, Any], totals: dict[str, int], found: dict[str, Any]) -> list[str]:
    """The document and character shares, from the totals of ``said`` (what a rescan of the matched
    documents cannot recompute: every document's length) and the numerators found; added to ``found``."""
    for total, part, share in (("docs_scanned", "docs_matched", "share_docs_matched"),
                               ("corpus_chars", "matched_chars", "share_chars_matched")):
        value = said.get(total)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return [f"{total} is {value!r}, not a count"]
        found[share] = _share(totals[part], value)
    return []


def _short_posts(index: Any, ids: pl.Series) -> int:
    """How many of the posts ``ids`` are short (each shard's posts table read for those ids only)."""
    from ..index import SHORT, shards_of

    wanted = pl.LazyFrame({"post_id": ids.cast(pl.String)})
    short = 0
    for shard, _ in shards_of(index):
        rows = (pl.scan_parquet(shard.path / "posts.parquet").select("post_id").with_row_index("_p")
                .join(wanted, on="post_id", how="semi").collect()["_p"].to_numpy())
        short += int((np.asarray(shard.post_kind)[rows] == SHORT).sum())
    return short


def _per_input(summary: dict[str, Any], specific: pl.DataFrame, recorded: set[Any]) -> list[str]:
    """Each input file's entry of summary.json against its rows; the entries' totals against the summary's."""
    entries = summary.get("inputs")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return ["summary.json: inputs is not a list of objects"]
    out = []
    paths = [e.get("path") for e in entries]
    if set(paths) != recorded:
        out.append(f"summary.json: its inputs ({len(set(paths))} files) are not the inputs evidence.json records "
                   f"({len(recorded)})")
    for name in ("docs_scanned", "corpus_chars"):
        total = sum(e[name] for e in entries if isinstance(e.get(name), int))
        if total != summary.get(name):
            out.append(f"summary.json: {name} is {summary.get(name)!r}, its inputs add up to {total!r}")
    for e in entries:
        mine = specific.filter(pl.col("source") == e.get("path"))
        totals = _matched(mine)
        found: dict[str, Any] = dict(totals)
        where = f"summary.json, input {e.get('path')}"
        out += [f"{where}: {m}" for m in _shares(e, totals, found)]
        out += _differ(where, e, found)
    return out
