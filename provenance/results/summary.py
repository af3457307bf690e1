"""``summary.json``: a scan's figures, from its tally and its judged matches, with what pins them (the
index's manifest sha256, the parameters, the inputs, the background model, the tool version)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from ..index import SHORT
from ..match.tally import Tally
from ..params import ScanParams
from ..text.background import default_background
from ..version import __version__
from .estimate import estimates
from .outputs import split_generic
from .significance import evalue_bar_bits, why_not_counts

if TYPE_CHECKING:
    from ..index import Index, ShardedIndex

__all__ = ["scan_summary"]


def scan_summary(index: "Index | ShardedIndex", t: Tally, matches: pl.DataFrame, params: ScanParams,
                 inputs: list[dict]) -> dict[str, Any]:
    """The content of ``summary.json``: what a scan of ``inputs`` against ``index`` found (``matches``, judged:
    all its columns, or only ``source``, ``row``, ``post_id``, ``method``, ``generic``, ``why_not``),
    its totals (``t``, counted again from the counted matches), the parameters and what pins them."""
    counts = index.manifest.get("counts", {})
    matched = np.fromiter(t.posts_matched, dtype=np.int64, count=len(t.posts_matched))
    by_method = (matches.group_by("method").len().with_columns(pl.col("method").cast(pl.String)).sort("method")
                 if matches.height else None)
    specific, generic = split_generic(matches)
    return {
        "posts_indexed": index.n_posts,
        "posts_matched": len(t.posts_matched),
        "docs_scanned": t.docs_scanned,
        "docs_matched": t.docs_matched,
        "corpus_chars": t.corpus_chars,
        "matched_chars": t.matched_chars,
        **t.shares(index.n_posts),
        "matches": matches.height,
        "matches_by_method": dict(by_method.iter_rows()) if by_method is not None else {},
        "short_posts_indexed": counts.get("short_posts", 0),
        "short_posts_matched": int((index.post_kind[np.sort(matched)] == SHORT).sum()),
        "empty_posts_indexed": counts.get("empty_posts", 0),
        "posts_unattributable": counts.get("unattributable_posts", 0),  # (too common to attribute: no keys)
        "posts_quoted": counts.get("quoted_posts", 0), "posts_dated": counts.get("dated_posts", 0),
        "frequent_shingles": counts.get("frequent_shingles", 0),
        "posts_with_only_frequent_shingles": counts.get("posts_with_only_frequent_shingles", 0),
        "candidates": t.candidates,
        "candidates_verified": t.verified,
        "candidates_aligned": t.aligned,
        "docs_total": t.docs_total,
        "chars_total": t.chars_total,
        "words_scanned": t.tokens_scanned,
        "significance": {"max_evalue": params.max_evalue, "posts_searched": index.n_posts, "calibrated": params.calibrated,
                         "bits_needed": round(evalue_bar_bits(index.n_posts, t.tokens_scanned, params.max_evalue), 2),
                         "not_counted": why_not_counts(matches)},
        "generic": {"matches": generic.height,
                    "posts": generic.filter(~pl.col("post_id").is_in(specific["post_id"].implode()))["post_id"].n_unique(),
                    "docs": generic.join(specific, on=["source", "row"], how="anti").select("source", "row").n_unique()},
        "estimates": estimates(t, index.n_posts, params.confidence, specific),
        "evidence_model": default_background().identity,
        "params": {"index": index.params.to_dict(), "scan": params.to_dict()},
        "index": {"path": str(index.path) if index.path else None, "manifest_sha256": index.checksum},
        "inputs": inputs,
        "skipped": t.skipped.to_dict(),
        "tool_version": __version__,
    }
