"""Exact verification of candidate pairs: every reported match is re-checked against the post's full
shingle sequence (frequent shingles included) and located in the document.

Containment of post ``P`` in a document region: the number of distinct shingles of ``P`` that occur
in the region, divided by the number of distinct shingles of ``P``. The region is the one, among all
regions no longer than the post plus a slack, with the most distinct shared shingles (the earliest
on ties), so scattered common phrases far apart in a long document do not add up to a match.

When the document shows the copy was cut off (the region is followed by "…" or "..."), the
*prefix containment* is also computed: the same count over the distinct shingles of the post's
prefix up to the last matched shingle; it counts when that prefix holds at least a quarter of the post's distinct shingles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Region", "best_region", "verify_pair", "exact_jaccard", "TRUNCATION_AFTER", "MIN_PREFIX_SHARE"]

# After the last matched token: optional rest of a cut word, then an ellipsis.
TRUNCATION_AFTER = re.compile(r"\W{0,3}\w*(?:…|\.\.\.)")
MIN_PREFIX_SHARE = 0.25


@dataclass(frozen=True)
class Region:
    """Best region of a document for one post, in shingle positions of the document.

    ``first``/``last``: first and last matched shingle position (inclusive); ``matched``: distinct post
    shingles in the region; ``distinct``: distinct shingles of the post; ``prefix_distinct``:
    distinct shingles of the post's prefix up to its last matched shingle.
    """

    first: int
    last: int
    matched: int
    distinct: int
    prefix_distinct: int

    @property
    def containment(self) -> float:
        return self.matched / self.distinct if self.distinct else 0.0

    @property
    def prefix_containment(self) -> float:
        return self.matched / self.prefix_distinct if self.prefix_distinct else 0.0

    def span_tokens(self, ngram: int) -> int:
        return self.last - self.first + ngram


def best_region(positions: list[int], values: list[int], width: int) -> tuple[int, int, int]:
    """Two-pointer scan: the window ``positions[i..j]`` with ``positions[j] - positions[i] <= width``
    holding the most distinct ``values``. Returns ``(distinct, i, j)``; ``(0, 0, -1)`` when empty."""
    best = (0, 0, -1)
    counts: dict[int, int] = {}
    distinct = 0
    i = 0
    for j, v in enumerate(values):
        c = counts.get(v, 0)
        if c == 0:
            distinct += 1
        counts[v] = c + 1
        while positions[j] - positions[i] > width:
            u = values[i]
            counts[u] -= 1
            if counts[u] == 0:
                distinct -= 1
            i += 1
        if distinct > best[0]:
            best = (distinct, i, j)
    return best


def verify_pair(doc_shingles: NDArray[np.uint64], post_shingles: NDArray[np.uint64], slack: float) -> Region | None:
    """Locate the best region of ``post_shingles`` (uint64, token order) in ``doc_shingles``.

    Returns ``None`` when no shingle is shared.
    """
    post_set = np.unique(post_shingles)
    where = np.flatnonzero(np.isin(doc_shingles, post_set, assume_unique=False))
    if len(where) == 0:
        return None
    length = len(post_shingles)
    width = length - 1 + max(3, int(np.ceil(slack * length)))
    matched, i, j = best_region(where.tolist(), doc_shingles[where].tolist(), width)
    window_values = np.unique(doc_shingles[where[i : j + 1]])
    # Post position of each matched shingle's first occurrence → the prefix the region covers.
    first_pos = {v: k for k, v in reversed(list(enumerate(post_shingles.tolist())))}
    last_post_pos = max(first_pos[v] for v in window_values.tolist())
    prefix_distinct = len(np.unique(post_shingles[: last_post_pos + 1]))
    return Region(int(where[i]), int(where[j]), matched, len(post_set), prefix_distinct)


def exact_jaccard(a: NDArray[np.uint64], b: NDArray[np.uint64]) -> float:
    """Jaccard similarity of the sets of two hash arrays (1.0 for two empty sets)."""
    sa, sb = np.unique(a), np.unique(b)
    union = len(np.union1d(sa, sb))
    return len(np.intersect1d(sa, sb, assume_unique=True)) / union if union else 1.0
