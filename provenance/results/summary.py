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
from .significance import evalue_bar_bits

if TYPE_CHECKING:
    from ..index import Index, ShardedIndex

__all__ = ["MatchFigures", "scan_summary"]


class MatchFigures:
    """What ``summary.json`` counts of a scan's judged match rows, added up a group of whole documents at
    a time (:meth:`add`), so that the rows need not all be held: how many, by method and by reason
    not counted, the generic ones, and the (document, post) pairs of the counted ones."""

    def __init__(self) -> None:
        self.matches = self.generic = self.generic_docs = 0
        self.by_method: dict[str, int] = {}
        self.not_counted: dict[str, int] = {}
        self.generic_posts: set[Any] = set()
        self.counted_posts: set[Any] = set()
        self._per_doc: list[np.ndarray] = []
        self._per_post: list[pl.DataFrame] = []

    @staticmethod
    def _counts(into: dict[str, int], rows: pl.DataFrame, column: str) -> None:
        for key, n in rows.filter(pl.col(column).is_not_null()).group_by(column).len().iter_rows():
            into[key] = into.get(key, 0) + n

    def add(self, rows: pl.DataFrame, post: str = "post_id") -> None:
        """Count ``rows`` (every row of each of their documents; ``post``: the column that tells posts apart)."""
        self.matches += rows.height
        self._counts(self.by_method, rows, "method")
        self._counts(self.not_counted, rows, "why_not")
        counted, generic = rows.filter(~pl.col("generic")), rows.filter(pl.col("generic"))
        self.generic += generic.height
        self.generic_docs += generic.join(counted, on=["source", "row"], how="anti").select("source", "row").n_unique()
        self.generic_posts.update(generic[post].unique().to_list())
        self.counted_posts.update(counted[post].unique().to_list())
        pairs = counted.select("source", "row", post).unique()  # (a document's pairs are all in one group)
        self._per_doc.append(pairs.group_by("source", "row").len()["len"].to_numpy().astype(np.int64))
        self._per_post.append(pairs.group_by(post).len().rename({post: "post"}))
        if len(self._per_post) > 64:
            self._per_post = [self._posts()]

    def _posts(self) -> pl.DataFrame:
        return pl.concat(self._per_post).group_by("post").agg(pl.col("len").sum())

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Of the counted (document, post) pairs: the posts of each document, the documents of each post."""
        per_doc = np.concatenate(self._per_doc) if self._per_doc else np.zeros(0, dtype=np.int64)
        per_post = self._posts()["len"].to_numpy().astype(np.int64) if self._per_post else np.zeros(0, dtype=np.int64)
        return per_doc, per_post


def scan_summary(index: "Index | ShardedIndex", t: Tally, matches: MatchFigures, params: ScanParams,
                 inputs: list[dict]) -> dict[str, Any]:
    """The content of ``summary.json``: what a scan of ``inputs`` against ``index`` found (``matches``: the
    figures of its judged rows), its totals (``t``, counted again from the counted matches), the
    parameters and what pins them."""
    counts = index.manifest.get("counts", {})
    matched = np.fromiter(t.posts_matched, dtype=np.int64, count=len(t.posts_matched))
    return {
        "posts_indexed": index.n_posts,
        "posts_matched": len(t.posts_matched),
        "docs_scanned": t.docs_scanned,
        "docs_matched": t.docs_matched,
        "corpus_chars": t.corpus_chars,
        "matched_chars": t.matched_chars,
        **t.shares(index.n_posts),
        "matches": matches.matches,
        "matches_by_method": dict(sorted(matches.by_method.items())),
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
                         "not_counted": dict(sorted(matches.not_counted.items()))},
        "generic": {"matches": matches.generic, "posts": len(matches.generic_posts - matches.counted_posts),
                    "docs": matches.generic_docs},
        "estimates": estimates(t, index.n_posts, params.confidence, matches.pairs()),
        "evidence_model": default_background().identity,
        "params": {"index": index.params.to_dict(), "scan": params.to_dict()},
        "index": {"path": str(index.path) if index.path else None, "manifest_sha256": index.checksum},
        "inputs": inputs,
        "skipped": t.skipped.to_dict(),
        "tool_version": __version__,
    }
