"""Shared phrases: how many indexed posts hold a match's most distinctive part.

The background model (:mod:`provenance.text.background`) knows ordinary *written* English; posts
have stock phrases of their own that encyclopedic text rarely uses ("It's been a while", "couldn't
have asked for a better", a check-in's "@ The Museum of Fine Arts, Houston"). The index itself
measures them: a phrase that many posts hold is no evidence that the document copied any one of them.

A match's ``shared_posts`` is the number of indexed posts that hold the rarest of the post's shingles
found in the matched span (the span's most distinctive part). A short post matched whole (``exact_short``) is no candidate
key; its figure is the larger of the number of posts with the same normalized text and the number of
posts holding the rarest of the span's shingles ("Thank you very much": many posts hold each of its
word 3-grams; "SF @ Golden Gate Park": none holds "sf golden gate"). A shingle held by more than the
index's ``max_key_posts`` posts counts as ``max_key_posts + 1`` (the index keeps no exact count of its
frequent shingles).

A span under :data:`SHARED_SPAN_TOKENS` tokens whose ``shared_posts`` exceeds ``max_shared_posts`` is
*generic*, like a span under the evidence threshold. A longer span that several posts share is a post
that several accounts posted (a retweet), and a copy of each of them: it is never generic for being
shared, and its ``shared_posts`` is not measured (empty).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from numpy.typing import NDArray

from ..arrays import expand_ranges

if TYPE_CHECKING:
    from ..index import Index, ShardedIndex

__all__ = ["SHARED_SPAN_TOKENS", "Holders", "Shares", "asked_posts", "holders_combined", "shard_holders", "span_texts_of", "is_shared_phrase", "shard_shares", "shared_posts", "shared_posts_of",
           "shares_combined"]

SHARED_SPAN_TOKENS = 10
"""Spans of this many tokens or more are never generic for being shared by several posts."""


def _posts_per_shingle(index: "Index", hashes: NDArray[np.uint64]) -> NDArray[np.int64]:
    """Indexed posts holding each shingle: its key's post count, ``max_key_posts + 1`` for a frequent
    shingle, 0 for one no post holds."""
    counts, frequent = _key_posts(index, hashes)
    counts[frequent] = index.params.max_key_posts + 1
    return counts


def _key_posts(index: "Index", hashes: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Posts of ``index`` holding each shingle as a key (its post count, 0 for none), and whether the
    shingle is frequent (held by more than ``max_key_posts`` posts of the whole index)."""
    _, counts, frequent = _keys_of(index, hashes)
    return counts, frequent


def _keys_of(index: "Index", hashes: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
    """:func:`_key_posts` with each shingle's key number (-1 for none) first."""
    from ..index import lookup

    counts = np.zeros(len(hashes), dtype=np.int64)
    keys = np.full(len(hashes), -1, dtype=np.int64)
    where, key = index.keys.find(hashes)
    counts[where] = index.key_rows(key)[1]
    keys[where] = key
    frequent = index.frequent
    is_frequent = np.zeros(len(hashes), dtype=bool)
    if len(frequent) and len(hashes):
        is_frequent = frequent[lookup(frequent, hashes)] == hashes
    return keys, counts, is_frequent


def shared_posts(index: "Index | ShardedIndex", spans: Sequence[str], posts: Sequence[int], hasher) -> NDArray[np.int64]:
    """For each matched span (document text) and its post: the indexed posts holding the rarest of the
    post's shingles that the span holds (0 when the span holds none of them); for a post given as -1,
    the posts holding the rarest of all the span's shingles (0 when no post holds one of them)."""
    from ..index import shards_of
    from ..text.shingles import batch_shingles

    sb = batch_shingles(list(spans), index.params.ngram, hasher, lines=False)
    return shared_posts_of(shards_of(index), sb.hashes, sb.offsets, np.asarray(posts, dtype=np.int64))


def _held_by(index: "Index", hashes: NDArray[np.uint64], posts: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Whether post ``posts[i]`` (-1: none) has shingle ``hashes[i]``: among the key's postings, or
    among the post's frequent occurrences (a post's shingles are exactly those)."""

    mine = np.zeros(len(hashes), dtype=bool)
    where, key = index.keys.find(hashes)
    if len(where):
        wanted = posts[where] >= 0
        found, key = where[wanted], key[wanted]
        start, count = index.key_rows(key)
        rows = expand_ranges(start, count)
        holds = index.key_posts[rows] == np.repeat(posts[found], count)
        mine[np.repeat(found, count)[holds]] = True
    mine_posts = np.flatnonzero(posts >= 0)
    fo = index.frequent_offsets
    lo = fo[posts[mine_posts]].astype(np.int64)
    fn = fo[posts[mine_posts] + 1].astype(np.int64) - lo
    if fn.any():  # (row, hash) of the posts' frequent occurrences against those of the spans
        occ = index.frequent_hashes[expand_ranges(lo, fn)]
        _, rank = np.unique(np.concatenate([hashes[mine_posts], occ]), return_inverse=True)
        want = (np.arange(len(mine_posts), dtype=np.int64) << 32) | rank[: len(mine_posts)]
        have = np.sort((np.repeat(np.arange(len(mine_posts), dtype=np.int64), fn) << 32) | rank[len(mine_posts):])
        at = np.minimum(np.searchsorted(have, want), len(have) - 1)
        mine[mine_posts[have[at] == want]] = True
    return mine


Shares = tuple[NDArray[np.bool_], NDArray[np.int64], NDArray[np.bool_]]
"""What one shard knows of a list of shingles: whether the wanted post holds each, how many of its
posts hold it as a key, whether it is frequent."""


def shard_shares(shard: "Index", first: int, hashes: NDArray[np.uint64], wanted: NDArray[np.int64]) -> Shares:
    """:data:`Shares` of ``shard`` (whose first post is post ``first`` of the whole index) for the
    shingles ``hashes``, where ``wanted[i]`` is the post (numbered in the whole index; -1: none) that
    shingle ``i`` is asked about."""
    local = wanted - first
    mine = _held_by(shard, hashes, np.where((wanted >= 0) & (local < shard.n_posts), local, -1))
    count, frequent = _key_posts(shard, hashes)
    return mine, count, frequent


def shares_combined(shares: Sequence[Shares], offsets: NDArray[np.int64], posts: NDArray[np.int64],
                    max_key_posts: int) -> NDArray[np.int64]:
    """:func:`shared_posts_of` from every shard's :func:`shard_shares`: a shingle's posts are summed
    over the shards (a frequent one counts ``max_key_posts + 1``; it may also be a key of a few posts
    whose shingles are all frequent), and a post holds a shingle in its own shard."""
    n = len(posts)
    out = np.zeros(n, dtype=np.int64)
    if offsets[-1] == 0:
        return out
    span_row = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    mine = (posts < 0)[span_row]
    held = np.zeros(len(span_row), dtype=np.int64)
    frequent = np.zeros(len(span_row), dtype=bool)
    for shard_mine, count, is_frequent in shares:
        mine |= shard_mine
        held += count
        frequent |= is_frequent
    # (segments of an appended index decide frequency each over its own posts: a shingle held by more
    # posts than max_key_posts over all of them counts as frequent, as in the index rebuilt over all)
    held[frequent | (held > max_key_posts)] = max_key_posts + 1
    counts = np.where(mine, held, np.iinfo(np.int64).max)
    has = np.diff(offsets) > 0
    least = np.minimum.reduceat(counts, offsets[:-1][has])
    out[has] = np.where(least == np.iinfo(np.int64).max, 0, least)
    return out


def asked_posts(offsets: NDArray[np.int64], posts: NDArray[np.int64]) -> NDArray[np.int64]:
    """The post each shingle of the spans is asked about (span ``i``'s shingles: ``posts[i]``)."""
    return np.repeat(np.asarray(posts, dtype=np.int64), np.diff(offsets))


def shared_posts_of(index: "Index | Sequence[tuple[Index, int]]", hashes: NDArray[np.uint64], offsets: NDArray[np.int64],
                    posts: NDArray[np.int64]) -> NDArray[np.int64]:
    """:func:`shared_posts` of spans given as their shingle hashes (span ``i``'s are
    ``hashes[offsets[i]:offsets[i+1]]``). ``index``: an index, or the ``(shard, first post)`` pairs
    of a sharded one (:func:`provenance.index.shards_of`)."""
    shards = [(index, 0)] if not isinstance(index, (list, tuple)) else index
    if not len(hashes):
        return np.zeros(len(posts), dtype=np.int64)
    wanted = asked_posts(offsets, posts)
    return shares_combined([shard_shares(shard, first, hashes, wanted) for shard, first in shards], offsets,
                           np.asarray(posts, dtype=np.int64), shards[0][0].params.max_key_posts)


def is_shared_phrase(shared: NDArray[np.int64], span_tokens: NDArray[np.int64], max_shared_posts: int) -> NDArray[np.bool_]:
    """Matches whose short span is a phrase more than ``max_shared_posts`` posts share (0: never)."""
    if max_shared_posts <= 0:
        return np.zeros(len(shared), dtype=bool)
    return (np.asarray(span_tokens) < SHARED_SPAN_TOKENS) & (np.asarray(shared) > max_shared_posts)


Holders = tuple[NDArray[np.int64], NDArray[np.uint64], NDArray[np.int64]]
"""What one shard knows of who holds a list of spans: ``(span, text)`` of each of its posts that holds every
shingle of the span (the text as a fingerprint, :func:`shard_holders`), and per shingle of the spans the
posts of the shard that hold it (``max_key_posts + 1`` for a frequent one): summed over the shards, they
tell which shingles are frequent over all posts (a span whose every shingle is: its holders are not
counted), as one index over all posts decides, also where each shard (an appended segment,
:mod:`provenance.index.segments`) decided frequency over its own posts."""


def shard_holders(shard: "Index", hashes: NDArray[np.uint64], offsets: NDArray[np.int64]) -> Holders:
    """:data:`Holders` of the spans given as shingle hashes (span ``i``'s: ``hashes[offsets[i]:offsets[i+1]]``).

    A post holds a span when it holds every shingle of it. One shingle of the span that is no frequent
    one names the posts that may (at most ``max_key_posts``); each is checked against every shingle.
    Posts of one text (a retweet's copies: the normalization drops ``RT @user:`` and mentions) are one
    text (:func:`_text_prints`)."""
    n = len(offsets) - 1
    lens = np.diff(offsets).astype(np.int64)
    none = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64))
    if not len(hashes):
        return (*none, np.zeros(0, dtype=np.int64))
    span_of = np.repeat(np.arange(n, dtype=np.int64), lens)
    keys, counts, frequent = _keys_of(shard, hashes)
    held_by = np.where(frequent, shard.params.max_key_posts + 1, counts)
    has = lens > 0
    # The span's shingle of least hash that is not frequent names the posts that may hold it: the same
    # shingle in every shard (a frequent one may be the key of the few posts whose shingles are all
    # frequent: it names no others).
    order = np.lexsort((hashes, frequent, span_of))
    best = order[offsets[:-1][has]]
    ok = ~frequent[best] & (keys[best] >= 0)
    spans, best = np.flatnonzero(has)[ok], best[ok]
    if not len(spans):
        return (*none, held_by)
    start, count = shard.key_rows(keys[best])
    rows = expand_ranges(start, count)
    cand, cand_span = shard.key_posts[rows].astype(np.int64), np.repeat(spans, count)
    need = lens[cand_span]
    at = np.r_[0, np.cumsum(need)[:-1]]
    held = _held_by(shard, hashes[expand_ranges(offsets[cand_span], need)], np.repeat(cand, need))
    holds = np.add.reduceat(held.astype(np.int64), at) == need
    return cand_span[holds], _text_prints(shard, cand[holds], shard.key_pos[rows][holds]), held_by


_PRINT_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def _text_prints(shard: "Index", posts: NDArray[np.int64], pos: NDArray[np.integer]) -> NDArray[np.uint64]:
    """A fingerprint of each post's text (``pos``: where the shingle that named it first sits in it). A
    plain index's token codes are its words' hashes: the fingerprint is a polynomial hash of them, equal
    for equal texts. A keyed index mixes the post number into its codes, so there the fingerprint is the
    post's length in tokens, its distinct shingles and ``pos``: equal for equal texts, and for a few
    different ones (which then count as one)."""
    if shard.fingerprint is not None or not len(posts):
        return ((shard.post_tokens[posts].astype(np.uint64) << np.uint64(40))
                | (shard.post_distinct[posts].astype(np.uint64) << np.uint64(20)) | np.asarray(pos).astype(np.uint64))
    lo = shard.code_offsets[posts].astype(np.int64)
    n = shard.code_offsets[posts + 1].astype(np.int64) - lo
    at = np.r_[0, np.cumsum(n)[:-1]]
    codes = shard.token_codes[expand_ranges(lo, n)].astype(np.uint64) + np.uint64(1)
    powers = np.cumprod(np.full(int(n.max()), _PRINT_MULTIPLIER, dtype=np.uint64))
    with np.errstate(over="ignore"):
        terms = codes * powers[np.arange(len(codes)) - np.repeat(at, n)]
        return np.add.reduceat(terms, at) ^ n.astype(np.uint64)


def holders_combined(holders: Sequence[Holders], offsets: NDArray[np.int64], max_key_posts: int) -> NDArray[np.int64]:
    """The different post texts holding each span (span ``i``'s shingles: ``offsets[i]:offsets[i+1]``) over
    every shard's :func:`shard_holders` (``max_key_posts + 1`` for a span whose every shingle is
    frequent over all posts)."""
    n = len(offsets) - 1
    out = np.zeros(n, dtype=np.int64)
    many = np.zeros(n, dtype=bool)
    spans = np.concatenate([h[0] for h in holders]) if holders else np.zeros(0, dtype=np.int64)
    texts = np.concatenate([h[1] for h in holders]) if holders else np.zeros(0, dtype=np.uint64)
    held = np.zeros(int(offsets[-1]) if n else 0, dtype=np.int64)
    for h in holders:
        if len(h[2]):
            held += h[2]
    has = np.diff(offsets) > 0
    if has.any():
        many[has] = np.logical_and.reduceat(held > max_key_posts, np.asarray(offsets[:-1])[has])
    if len(spans):
        order = np.lexsort((texts, spans))
        spans, texts = spans[order], texts[order]
        new = np.r_[True, (spans[1:] != spans[:-1]) | (texts[1:] != texts[:-1])]
        out += np.bincount(spans[new], minlength=n)
    out[many] = max_key_posts + 1
    return out


def span_texts_of(index: "Index | Sequence[tuple[Index, int]]", hashes: NDArray[np.uint64],
                  offsets: NDArray[np.int64]) -> NDArray[np.int64]:
    """:func:`holders_combined` over every shard of ``index`` (an index, or the ``(shard, first post)``
    pairs of a sharded one)."""
    shards = [(index, 0)] if not isinstance(index, (list, tuple)) else index
    return holders_combined([shard_holders(shard, hashes, offsets) for shard, _ in shards], offsets,
                            shards[0][0].params.max_key_posts)
