"""Token alignment of candidate (document, post) pairs: how many of the post's tokens a region of the
document holds *in order*, and where that region starts and ends.

Shingle containment judges a short edited copy harshly: with word 3-grams one substituted word of a
7-token post removes three of its five shingles, although six of its seven words are there in order.
Alignment judges what a reader sees. For each pair, the post's token codes are aligned to a window of
the document's token codes around the pair's best shingle region by a longest common subsequence
(LCS) that must match the post's first and last tokens (so that the copy spans the whole post; a
post's part, such as "the Art Institute of Chicago" out of "en The Art Institute of Chicago", is a
phrase the shingle tests judge) and is restricted to a diagonal band: the copy may drift from the region's diagonal by at most the
band's half-width, which bounds the edits the copy may have. All pairs of a batch are aligned at once
with numpy, one row of the dynamic programme per step, pairs grouped by post length so that little
padding is computed (:func:`align_many`).

A pair is an *aligned* copy (``method = aligned``) when, with ``m`` the post's tokens and
``E = m - ceil(min_aligned * m)`` the edits allowed:

* the alignment matches ``l >= m - E`` of the post's tokens in order (at most ``E`` post tokens
  substituted or left out), and at least :data:`ALIGNED_MIN_TOKENS` (5) of them, or
  ``min_span_tokens`` if fewer. A 6-token post with one word changed is 5 words, which may be common
  ones ("Born in the USA @ United States" against "born in the United States"): like every match, it
  counts only when its evidence strength (:mod:`provenance.text.background`,
  :mod:`provenance.match.shared`) says it is no stock phrase;
* the document's span from the first to the last matched token holds at most ``E`` tokens besides
  those ``l`` (at most ``E`` inserted or substituted words).

Every copy within ``E`` word edits of the post (substitutions, deletions, insertions, one edit each)
passes these tests, and still holds enough of the post's shingles to be aligned at all
(:func:`min_shingle_hits`): the scan aligns only the pairs that reach that many.

Token codes (:func:`provenance.text.hashing.token_codes`) are 32 bits of the token hash; in a keyed index, SipHash-2-4 of the
token hash and the post's number under a subkey of the secret (so that the stored codes show neither
which posts share a word nor how often a word occurs across posts). Two different words share a code
with probability 2^-32 per comparison; a false token match can only add to ``l`` and is very unlikely
to change a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..text.hashing import token_codes

__all__ = ["PARTIAL_SHARE", "Runs", "longest_runs", "Alignments", "align_many", "allowed_edits", "min_shingle_hits", "BUCKETS"]

_L_SHIFT = 20  # packed DP cell: LCS length << 20 | (first matched window column + 1)
_COL_MASK = (1 << _L_SHIFT) - 1

ALIGNED_MIN_TOKENS = 5
"""An aligned copy finds at least this many of the post's words in order (and no more than
``min_span_tokens``): a 6-word post with one word changed is 5 words, counted only when its evidence
strength says they are not a stock phrase."""

PARTIAL_SHARE = 0.5
"""A partial copy (``method = partial``) is a verbatim run of at least ``min_partial_tokens`` of the
post's tokens that is also at least this share of the post."""

BUCKETS = (6, 9, 13, 18, 25, 35, 50, 70, 100)
"""Pairs are aligned in groups of posts with ``BUCKETS[i] <= m < BUCKETS[i + 1]`` tokens (posts under
the first bound go with the first group, posts of ``BUCKETS[-1]`` tokens or more in a group per
length); a group's band is the one its longest possible post needs."""


def allowed_edits(m: NDArray[np.int64], min_aligned: float) -> NDArray[np.int64]:
    """``E``: the post tokens an aligned copy of an ``m``-token post may miss (and the extra tokens its
    span may hold)."""
    m = np.asarray(m, dtype=np.int64)
    return m - np.ceil(min_aligned * m - 1e-9).astype(np.int64)


def min_shingle_hits(m: NDArray[np.int64], ngram: int, min_aligned: float) -> NDArray[np.int64]:
    """The fewest distinct shingles of an ``m``-token post that a copy within ``E`` word edits of it
    still holds (at least 1): a substituted or deleted word removes at most ``ngram`` of the post's
    shingles, an inserted one at most ``ngram - 1``. Such a copy has at most ``E`` missing and ``E``
    extra words, so the alignment accepts it; pairs with fewer shingle hits are not aligned.
    (A copy with ``E`` deletions *and* ``E`` insertions, ``2E`` edits, passes the alignment's test
    too but is not guaranteed to reach it.)"""
    m = np.asarray(m, dtype=np.int64)
    return np.maximum(1, m - ngram + 1 - allowed_edits(m, min_aligned) * ngram)


@dataclass(frozen=True)
class Alignments:
    """Per pair: ``matched`` post tokens in order in the best alignment that matches both the post's
    first and its last token, and the document tokens ``first``..``last`` (inclusive, positions within
    the document) those two match; ``matched = 0`` and ``first = last = -1`` when there is none."""

    matched: NDArray[np.int64]
    first: NDArray[np.int64]
    last: NDArray[np.int64]


def align_many(post_codes: NDArray[np.uint32], post_offsets: NDArray[np.int64], doc_hashes: NDArray[np.uint64],
               doc_lo: NDArray[np.int64], doc_hi: NDArray[np.int64], diagonal: NDArray[np.int64],
               posts: NDArray[np.int64], subkey: bytes | None, min_aligned: float,
               needed: NDArray[np.int64] | None = None) -> Alignments:
    """Banded LCS of many (post, document) pairs at once.

    Pair ``k`` aligns its post's token codes ``post_codes[post_offsets[k]:post_offsets[k+1]]`` (``m``
    of them) with the codes (:func:`~provenance.text.hashing.token_codes` for post ``posts[k]``) of its document's tokens, the
    token hashes ``doc_hashes[doc_lo[k]:doc_hi[k]]``: post token ``i`` may match document token
    ``diagonal[k] + i + d`` (positions within the document) for ``-b <= d <= b``, where ``b`` is the
    allowed edits (:func:`allowed_edits`) of the longest post of the pair's length group, plus 2.

    ``needed``: a pair whose window holds fewer than ``needed[k]`` of its post's tokens at all cannot
    align that many and is not aligned (``matched = 0``); the rest get their best alignment.
    """
    k = len(doc_lo)
    m = np.diff(post_offsets).astype(np.int64)
    matched = np.zeros(k, dtype=np.int64)
    first = np.full(k, -1, dtype=np.int64)
    last = np.full(k, -1, dtype=np.int64)
    # Length groups; posts beyond the last bound each get a group of their own length, so that a
    # pair's band never depends on the other pairs of its batch.
    group = np.searchsorted(np.asarray(BUCKETS[1:]), m, side="right")
    group = np.where(m >= BUCKETS[-1], len(BUCKETS) + m, group)
    for g in np.unique(group).tolist():
        rows = np.flatnonzero(group == g)
        longest = BUCKETS[g + 1] - 1 if g + 1 < len(BUCKETS) else g - len(BUCKETS)
        b = int(allowed_edits(np.array([longest]), min_aligned)[0]) + 2
        args = (post_codes, post_offsets[:-1][rows], m[rows], doc_hashes, doc_lo[rows], doc_hi[rows], diagonal[rows],
                posts[rows], subkey, b)
        if needed is not None:
            # An alignment finds at most as many post tokens as occur in its window at all: pairs with
            # too few (most pairs of short posts with a single shingle hit) skip the DP.
            post, post_ok, doc, doc_ok = _windows(*args)
            present = ((post[:, :, None] == doc[:, None, :]) & doc_ok[:, None, :]).any(axis=2) & post_ok
            rows = rows[present.sum(axis=1) >= needed[rows]]
            if not len(rows):
                continue
        got = _align_group(post_codes, post_offsets[:-1][rows], m[rows], doc_hashes, doc_lo[rows], doc_hi[rows],
                           diagonal[rows], posts[rows], subkey, b)
        matched[rows], first[rows], last[rows] = got
    return Alignments(matched, first, last)


def _windows(post_codes, starts, m, doc_hashes, doc_lo, doc_hi, diagonal, posts, subkey, b):
    """Padded post codes ``(n, M)`` with their mask, and each pair's document window ``(n, M + 2b)``
    of codes with its mask: column ``c`` is document token ``doc_lo + diagonal - b + c``."""
    n, M = len(m), int(m.max())
    cols = M + 2 * b
    i = np.arange(M)
    post_ok = i[None, :] < m[:, None]
    post = np.where(post_ok, post_codes[np.minimum(starts[:, None] + i[None, :], len(post_codes) - 1)], 0)
    at = doc_lo[:, None] + diagonal[:, None] - b + np.arange(cols)[None, :]
    doc_ok = (at >= doc_lo[:, None]) & (at < doc_hi[:, None])
    hashes = (doc_hashes[np.clip(at, 0, len(doc_hashes) - 1)] if len(doc_hashes)
              else np.zeros(at.shape, dtype=np.uint64))
    doc = token_codes(hashes.ravel(), np.repeat(posts, cols), subkey).reshape(n, cols)
    return post, post_ok, doc, doc_ok


def _align_group(post_codes, starts, m, doc_hashes, doc_lo, doc_hi, diagonal, posts, subkey, b):
    """:func:`align_many` for pairs whose posts are at most ``M`` tokens, band half-width ``b``."""
    n, M = len(m), int(m.max())
    width = 2 * b + 1
    post, post_ok, doc, doc_ok = _windows(post_codes, starts, m, doc_hashes, doc_lo, doc_hi, diagonal, posts, subkey, b)
    one = np.int64(1) << _L_SHIFT
    prev = np.zeros((n, width + 1), dtype=np.int64)  # band cells of row i-1, one spare column
    best = np.zeros(n, dtype=np.int64)
    best_col = np.full(n, -1, dtype=np.int64)
    d = np.arange(width)
    last_row = m - 1
    for r in range(M):
        c = r + d  # window columns of this row's band cells
        hit = (doc[:, c] == post[:, r : r + 1]) & doc_ok[:, c] & post_ok[:, r : r + 1]
        diag = prev[:, :width]
        if r == 0:  # an alignment starts with the post's first token ...
            extended = np.broadcast_to(one | (c + 1)[None, :], hit.shape)
        else:
            extended = np.where(diag > 0, diag + one, 0)
        step = np.where(hit, extended, 0)
        cell = np.maximum(step, prev[:, 1:])
        np.maximum.accumulate(cell, axis=1, out=cell)
        ends = np.flatnonzero(last_row == r)  # ... and ends with its last
        if len(ends):
            j = step[ends].argmax(axis=1)
            best[ends] = step[ends, j]
            best_col[ends] = r + j
        prev[:, :width] = cell
    ell = best >> _L_SHIFT
    origin = diagonal - b  # window column 0, as a position within the document
    got_first = np.where(ell > 0, origin + (best & _COL_MASK) - 1, -1)
    got_last = np.where(ell > 0, origin + best_col, -1)
    return ell, got_first, got_last


@dataclass(frozen=True)
class Runs:
    """Per pair: the longest run of consecutive post tokens found verbatim, consecutive, in the
    document: its ``length``, its first post token ``post_first`` and its first document token
    ``first`` (a position within the document); ``length = 0``, ``first = -1`` when none."""

    length: NDArray[np.int64]
    post_first: NDArray[np.int64]
    first: NDArray[np.int64]


def longest_runs(post_codes: NDArray[np.uint32], post_offsets: NDArray[np.int64], doc_hashes: NDArray[np.uint64],
                 doc_lo: NDArray[np.int64], doc_hi: NDArray[np.int64], diagonal: NDArray[np.int64],
                 posts: NDArray[np.int64], subkey: bytes | None, band: int = 3) -> Runs:
    """The longest verbatim run of each pair's post in its document, on the diagonals within ``band``
    of ``diagonal`` (arguments as in :func:`align_many`); all pairs at once, one numpy step per diagonal.
    Ties go to the run that starts first in the post, then to the lower diagonal."""
    k = len(doc_lo)
    length, post_first, first = np.zeros(k, dtype=np.int64), np.full(k, -1, dtype=np.int64), np.full(k, -1, dtype=np.int64)
    if not k:
        return Runs(length, post_first, first)
    m = np.diff(post_offsets).astype(np.int64)
    post, post_ok, doc, doc_ok = _windows(post_codes, post_offsets[:-1], m, doc_hashes, doc_lo, doc_hi, diagonal,
                                          posts, subkey, band)
    M = post.shape[1]
    i = np.arange(M)
    rows = np.arange(k)
    for d in range(2 * band + 1):
        eq = (post == doc[:, d : d + M]) & post_ok & doc_ok[:, d : d + M]
        # Run length ending at each token: its distance from the last mismatch before it.
        last_miss = np.maximum.accumulate(np.where(eq, -1, i[None, :]), axis=1)
        run = i[None, :] - last_miss
        end = run.argmax(axis=1)  # the first longest run
        got = run[rows, end]
        better = got > length
        start = end - got + 1
        better |= (got == length) & (got > 0) & (start < post_first)
        length[better], post_first[better] = got[better], start[better]
        first[better] = (diagonal - band + d + start)[better]
    return Runs(length, post_first, first)
