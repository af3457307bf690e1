"""Exact verification of candidate pairs: every reported match is re-checked against the post's full
shingle sequence (frequent shingles included) and located in the document.

Containment of post ``P`` in a document region: the number of distinct shingles of ``P`` that occur
in the region, divided by the number of distinct shingles of ``P``. The region is the one, among all
regions no longer than the post plus a slack, with the most distinct shared shingles (the earliest
on ties), so scattered common phrases far apart in a long document do not add up to a match.

Containment alone lets a generic phrase that fills half of a short post ("to be a part of the")
pass, so a match must also *cover* most of the post's tokens: a token is covered when a shingle
containing it was found. An edit costs about one token of coverage, a missing half costs half.

When the document shows the copy was cut off (the region is followed by "…" or "..."), the same
measures are taken over the post's prefix that ends with its last matched shingle (*prefix
containment*, *prefix coverage*); the match must then start at the post's beginning (its first
shingle found, or the second or third when an early word was edited).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..arrays import sorted_unique

if TYPE_CHECKING:
    from ..params import ScanParams

__all__ = ["Region", "Found", "best_region", "verify_pair", "window_width", "judge", "exact_jaccard", "TRUNCATION_AFTER",
           "CANDIDATE_SHARE", "CUT_SHARE", "shortest_cut"]

# After the last matched token: optional rest of a cut word, then an ellipsis.
TRUNCATION_AFTER = re.compile(r"\W{0,3}\w*(?:…|\.\.\.)")
# A cut-off copy of a short post keeps at least this share of it (and ngram + 1 tokens): a post of
# 7-9 tokens cut after its 5th is still a copy when the document shows the cut.
CUT_SHARE = 0.6
# Candidates must be able to reach this share of min_containment over the post's distinct shingles
# (a cut-off copy is judged on a prefix, which may be a small part of a long post).
CANDIDATE_SHARE = 0.25


@dataclass(frozen=True)
class Region:
    """Best region of a document for one post, in shingle positions of the document.

    ``first``/``last``: first and last matched shingle position in the document (inclusive);
    ``matched``: distinct post shingles in the region; ``distinct``: distinct shingles of the post;
    ``covered``: post tokens covered by the matched shingles (a substituted or deleted word costs
    about one token here, against ``n`` shingles in ``matched``); ``post_first``: the first post
    position whose shingle was found; ``prefix_distinct``, ``prefix_tokens`` and ``prefix_covered``:
    distinct shingles, tokens and covered tokens of the post's prefix that ends with the first
    occurrence of its last matched shingle.
    """

    first: int
    last: int
    matched: int
    distinct: int
    covered: int
    post_first: int
    prefix_distinct: int
    prefix_tokens: int
    prefix_covered: int

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


def window_width(length, slack: float):
    """The most document shingle positions, minus one, that a region for a post of ``length``
    shingles may span: the post plus ``slack`` of it (at least 3). ``length``: int or int64 array."""
    return length - 1 + np.maximum(3, np.ceil(slack * np.asarray(length))).astype(np.int64)


def verify_pair(positions: list[int], values: list[int], post_shingles: list[int], ngram: int,
                slack: float) -> Region | None:
    """Locate the best region of a post in a document.

    Args:
        positions: increasing document shingle positions holding a shingle of the post.
        values: the shingle hash at each of those positions.
        post_shingles: the post's shingle hashes in token order.
        ngram: tokens per shingle; slack: see :class:`ScanParams.window_slack`.

    Returns ``None`` when no shingle is shared.
    """
    if not positions:
        return None
    width = int(window_width(len(post_shingles), slack))
    matched, i, j = best_region(positions, values, width)
    found = set(values[i : j + 1])
    # Post positions whose shingle was found in the region, and the tokens they cover.
    hit_pos = [k for k, v in enumerate(post_shingles) if v in found]
    covered = {k + t for k in hit_pos for t in range(ngram)}
    # The prefix a cut-off copy covers ends at the first occurrence of its last found shingle
    # (a phrase the post repeats later does not stretch it).
    first_seen: dict[int, int] = {}
    for k in hit_pos:
        first_seen.setdefault(post_shingles[k], k)
    prefix_end = max(first_seen.values())
    prefix_tokens = prefix_end + ngram
    return Region(positions[i], positions[j], matched, len(set(post_shingles)), len(covered), hit_pos[0],
                  len(set(post_shingles[: prefix_end + 1])), prefix_tokens,
                  sum(1 for t in covered if t < prefix_tokens))


def exact_jaccard(a: NDArray[np.uint64], b: NDArray[np.uint64]) -> float:
    """Jaccard similarity of the sets of two hash arrays (1.0 for two empty sets)."""
    sa, sb = sorted_unique(a), sorted_unique(b)
    union = len(np.union1d(sa, sb))
    return len(np.intersect1d(sa, sb, assume_unique=True)) / union if union else 1.0


@dataclass(frozen=True)
class Found:
    """A verified match before it is located in the original text: token positions ``first..last``
    (inclusive) of document ``doc`` of the batch, and post ``post`` of the index."""

    doc: int
    post: int
    method: str
    containment: float
    coverage: float | None  # not measured by --mode jaccard
    jaccard: float | None
    first: int
    last: int
    matched: int
    distinct: int
    fallback: "Found | None" = None
    """For a ``containment_prefix`` match: what stands if the document does not show the copy cut off
    (a ``partial`` match, or nothing)."""
    inline: bool = False
    """``exact_short`` inside a sentence (not a whole record or line)."""
    shared: int | None = None
    """``exact_short``: the indexed posts with the same normalized text (the rest of the figure, and the
    other methods', is measured in :mod:`provenance.match.shared`)."""


@dataclass(frozen=True)
class _Verdict:
    method: str
    containment: float
    coverage: float
    distinct: int

    def found(self, doc: int, post: int, region: Region, ngram: int) -> Found:
        return Found(doc, post, self.method, self.containment, self.coverage, None, region.first,
                     region.last + ngram - 1, region.matched, self.distinct)


def shortest_cut(post_tokens, ngram: int, min_span_tokens: int):
    """The fewest tokens a cut-off copy of a post of ``post_tokens`` tokens must keep (int64 array):
    ``min_span_tokens``, or for a short post ``CUT_SHARE`` of it, at least ``ngram + 1``."""
    share = np.ceil(CUT_SHARE * np.asarray(post_tokens, dtype=np.int64) - 1e-9).astype(np.int64)
    return np.minimum(min_span_tokens, np.maximum(ngram + 1, share))


def judge(region: Region, post_tokens: int, ngram: int, params: "ScanParams") -> _Verdict | None:
    """Decide whether a region is a copy of the post.

    A whole copy needs containment >= ``min_containment`` and coverage >= ``min_coverage`` and a span
    of ``min_span_tokens``; a copy that may be cut off (``containment_prefix``, confirmed later by the
    "…" after it) needs the same over the post's prefix, found from the post's start; that prefix and
    the span must have :func:`shortest_cut` tokens and the region must be no wider than the prefix
    plus the window slack.
    """
    span = region.span_tokens(ngram)
    coverage = region.covered / post_tokens
    if span >= params.min_span_tokens and region.containment >= params.min_containment and coverage >= params.min_coverage:
        return _Verdict("containment", region.containment, coverage, region.distinct)
    cut = int(shortest_cut(np.array([post_tokens]), ngram, params.min_span_tokens)[0])
    if span < cut:
        return None
    # The prefix claimed must itself be long enough, and the region about as compact as the prefix.
    prefix_coverage = region.prefix_covered / region.prefix_tokens
    prefix_width = region.prefix_tokens + max(3, math.ceil(params.window_slack * region.prefix_tokens))
    if (region.post_first < ngram and region.prefix_tokens >= cut
            and region.span_tokens(ngram) <= prefix_width
            and region.prefix_containment >= params.min_containment and prefix_coverage >= params.min_coverage):
        return _Verdict("containment_prefix", region.prefix_containment, prefix_coverage, region.prefix_distinct)
    return None


# --------------------------------------------------------------------------- many pairs at once


@dataclass(frozen=True)
class Regions:
    """:class:`Region` fields for many pairs, one int64 array per field (see :func:`verify_many`)."""

    first: NDArray[np.int64]
    last: NDArray[np.int64]
    matched: NDArray[np.int64]
    distinct: NDArray[np.int64]
    covered: NDArray[np.int64]
    post_first: NDArray[np.int64]
    prefix_distinct: NDArray[np.int64]
    prefix_tokens: NDArray[np.int64]
    prefix_covered: NDArray[np.int64]

    def region(self, i: int) -> Region:
        return Region(*(int(getattr(self, f)[i]) for f in Region.__dataclass_fields__))


def _dense_ranks(values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Each value's rank among the distinct values (``np.unique(values, return_inverse=True)[1]``)."""
    order = np.argsort(values)
    ranks = np.empty(len(values), dtype=np.uint64)
    if len(values):
        ordered = values[order]
        ranks[order] = np.cumsum(np.r_[False, ordered[1:] != ordered[:-1]], dtype=np.uint64)
    return ranks


def _isin(values: NDArray[np.uint64], table: NDArray[np.uint64]) -> NDArray[np.bool_]:
    """``np.isin(values, table)`` by a sort of ``table`` and a binary search."""
    if not len(table):
        return np.zeros(len(values), dtype=bool)
    table = np.sort(table)
    return table[np.minimum(np.searchsorted(table, values), len(table) - 1)] == values


def verify_many(hit_offsets: NDArray[np.int64], hit_pos: NDArray[np.int64], hit_hashes: NDArray[np.uint64],
                post_offsets: NDArray[np.int64], post_hashes: NDArray[np.uint64], n_distinct: NDArray[np.int64],
                ngram: int, slack: float) -> Regions:
    """:func:`verify_pair` for many pairs at once, with numpy; gives exactly its regions.

    Pair ``i``'s document hits are ``hit_pos/hit_hashes[hit_offsets[i]:hit_offsets[i+1]]`` (positions
    increasing, at least one hit), its post's shingles ``post_hashes[post_offsets[i]:post_offsets[i+1]]``
    with ``n_distinct[i]`` distinct values. Only equality within a pair matters: the scan passes the
    posts' shingle ids (:mod:`provenance.index`), any values that are equal where the shingles are.
    """
    k = len(hit_offsets) - 1
    counts = np.diff(hit_offsets)
    pair = np.repeat(np.arange(k, dtype=np.int64), counts)
    lengths = np.diff(post_offsets)
    width = window_width(lengths, slack)
    # Shingle values as dense ranks, so (pair, value) packs into one uint64.
    values = np.concatenate([hit_hashes, post_hashes])
    ranks = values.astype(np.uint64) if len(values) and int(values.max()) < 1 << 32 else _dense_ranks(values)
    hit_key = (pair.astype(np.uint64) << np.uint64(32)) | ranks[: len(hit_hashes)]
    post_pair = np.repeat(np.arange(k, dtype=np.int64), lengths)
    post_key = (post_pair.astype(np.uint64) << np.uint64(32)) | ranks[len(hit_hashes) :]
    # Best window: for each right end j the leftmost i within the width, and the distinct values in
    # hits i..j; the first j with the most. Without repeated values that count is j - i + 1.
    where = (pair.astype(np.uint64) << np.uint64(32)) | hit_pos.astype(np.uint64)
    low = (pair.astype(np.uint64) << np.uint64(32)) + np.maximum(hit_pos - width[pair], 0).astype(np.uint64)
    left = np.searchsorted(where, low, side="left")
    inside = np.arange(len(where)) - left + 1
    by_value = np.argsort(hit_key, kind="stable")
    same = hit_key[by_value][1:] == hit_key[by_value][:-1]
    if same.any():
        # A hit counts when the previous hit of its value lies before i; windows hold at most
        # width + 1 hits, so a loop over the distance back from j is short.
        previous = np.full(len(where), -1, dtype=np.int64)
        previous[by_value[1:][same]] = by_value[:-1][same]
        repeats = np.zeros(k, dtype=bool)
        repeats[pair[by_value[1:][same]]] = True
        rows = np.flatnonzero(repeats[pair])
        j, i = rows, left[rows]
        distinct = np.zeros(len(rows), dtype=np.int64)
        for back in range(int((j - i).max()) + 1 if len(rows) else 0):
            t = j - back
            distinct += (t >= i) & (previous[np.maximum(t, 0)] < i)
        inside[rows] = distinct
    most = np.zeros(k, dtype=np.int64)
    most[counts > 0] = np.maximum.reduceat(inside, hit_offsets[:-1][counts > 0])
    at_most = np.flatnonzero(inside == most[pair])
    best_j = at_most[np.r_[True, pair[at_most][1:] != pair[at_most][:-1]]]
    best_i = left[best_j]
    # The region's values; the post positions holding one of them.
    marks = np.zeros(len(where) + 1, dtype=np.int64)
    np.add.at(marks, best_i, 1)
    np.add.at(marks, best_j + 1, -1)
    in_region = np.cumsum(marks[:-1]) > 0
    is_hit = _isin(post_key, hit_key[in_region])
    post_k = np.arange(len(post_hashes), dtype=np.int64) - np.repeat(post_offsets[:-1], lengths)
    # First post position of each distinct value: after a stable sort by (pair, value), the run heads.
    by_value = np.argsort(post_key, kind="stable")
    heads = by_value[np.r_[True, post_key[by_value][1:] != post_key[by_value][:-1]]]
    prefix_end = np.full(k, -1, dtype=np.int64)
    found_heads = heads[is_hit[heads]]
    np.maximum.at(prefix_end, post_pair[found_heads], post_k[found_heads])
    prefix_tokens = prefix_end + ngram
    prefix_distinct = np.bincount(post_pair[heads][post_k[heads] <= prefix_end[post_pair[heads]]], minlength=k)
    # Covered tokens: the union of [p, p + n) over the matched post positions p (rows in position order).
    mp, mk = post_pair[is_hit], post_k[is_hit]
    last_of_pair = np.r_[mp[1:] != mp[:-1], True]
    piece_end = np.where(last_of_pair, mk + ngram, np.minimum(mk + ngram, np.r_[mk[1:], 0]))
    covered = np.bincount(mp, weights=piece_end - mk, minlength=k).astype(np.int64)
    prefix_piece = np.maximum(0, np.minimum(piece_end, prefix_tokens[mp]) - mk)
    prefix_covered = np.bincount(mp, weights=prefix_piece, minlength=k).astype(np.int64)
    post_first = np.full(k, -1, dtype=np.int64)
    group = np.flatnonzero(np.r_[True, mp[1:] != mp[:-1]]) if len(mp) else np.zeros(0, dtype=np.int64)
    post_first[mp[group]] = mk[group]
    return Regions(hit_pos[best_i], hit_pos[best_j], most, n_distinct.astype(np.int64), covered, post_first,
                   prefix_distinct, prefix_tokens, prefix_covered)


METHOD_NONE, METHOD_CONTAINMENT, METHOD_PREFIX = 0, 1, 2


@dataclass(frozen=True)
class Verdicts:
    """:func:`judge` for many regions: ``method`` (``METHOD_*``), and the containment, coverage and
    distinct shingle count of the accepted measure (whole post or prefix); meaningless where rejected."""

    method: NDArray[np.int8]
    containment: NDArray[np.float64]
    coverage: NDArray[np.float64]
    distinct: NDArray[np.int64]


def judge_many(r: Regions, post_tokens: NDArray[np.int64], ngram: int, params: "ScanParams") -> Verdicts:
    """:func:`judge` of every region of ``r`` at once (same tests, same floating-point arithmetic)."""
    span = r.last - r.first + ngram
    long_enough = span >= params.min_span_tokens
    cut = shortest_cut(post_tokens, ngram, params.min_span_tokens)
    with np.errstate(divide="ignore", invalid="ignore"):
        containment = np.where(r.distinct > 0, r.matched / np.maximum(r.distinct, 1), 0.0)
        coverage = r.covered / post_tokens
        prefix_containment = np.where(r.prefix_distinct > 0, r.matched / np.maximum(r.prefix_distinct, 1), 0.0)
        prefix_coverage = r.prefix_covered / r.prefix_tokens
    whole = long_enough & (containment >= params.min_containment) & (coverage >= params.min_coverage)
    prefix_width = r.prefix_tokens + np.maximum(3, np.ceil(params.window_slack * r.prefix_tokens)).astype(np.int64)
    prefix = ((span >= cut) & ~whole & (r.post_first < ngram) & (r.prefix_tokens >= cut)
              & (span <= prefix_width) & (prefix_containment >= params.min_containment)
              & (prefix_coverage >= params.min_coverage))
    method = np.where(whole, METHOD_CONTAINMENT, np.where(prefix, METHOD_PREFIX, METHOD_NONE)).astype(np.int8)
    return Verdicts(method, np.where(whole, containment, prefix_containment), np.where(whole, coverage, prefix_coverage),
                    np.where(whole, r.distinct, r.prefix_distinct))
