"""Candidate (document, post) pairs for a batch of documents, all vectorized.

*Containment*: every shingle of every document is probed against the index's seeds
(:mod:`provenance.index.seeds`: each post's disjoint shingles held by at most ``seed_posts`` posts; a
bit-per-slot filter on the top hash bits drops most probes); each hit is expanded to the seed's posts
(at most ``seed_posts``), and every (document, post) so found is a candidate. Its hits, the post's whole
shingle sequence joined to the document's (:func:`pair_hits`), then bound its best window.

*Jaccard*: each document's MinHash band keys are looked up band by band in the index's sorted band
tables; any shared band makes a candidate (datasketch ``MinHashLSH.query`` semantics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..index import Index, KeyFilter, find_in, lookup
from ..text.shingles import ShingleBatch
from ..index.sketch import band_keys, minhash
from ..arrays import expand_ranges, sorted_unique
from .verify import window_width

__all__ = ["KeyFilter", "PairHits", "held_twice", "jaccard_candidates", "expand_ranges", "find_in", "lookup", "pair_hits",
           "seed_candidates", "window_widths"]


def _bits(n: int) -> int:
    """Bits that hold every value below ``n`` (at least 1)."""
    return max(int(n - 1).bit_length(), 1)


def seed_candidates(index: Index, sb: ShingleBatch, two_seeds_from: int = 0) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Candidate pairs for the documents of ``sb``: every (document, post) where the document holds one
    of the post's seeds (:mod:`provenance.index.seeds`), or two different ones when the post has at least
    ``two_seeds_from`` seeds (0: one always); ``(doc, post)`` int64, sorted, distinct. Each probe that hits
    expands to at most ``seed_posts`` posts."""
    empty = np.zeros(0, dtype=np.int64)
    where, key = index.seeds.find(sb.hashes)
    if not len(where):
        return empty, empty
    doc = np.searchsorted(sb.offsets, where, side="right") - 1
    start, count = index.seeds.rows(key)
    posts = index.seed_posts[expand_ranges(start, count)]
    pair = (np.repeat(doc, count).astype(np.uint64) << np.uint64(32)) | posts.astype(np.uint64)
    if two_seeds_from > 0:
        pair = _held_twice(index, pair, np.repeat(key, count), two_seeds_from)
    else:
        pair = sorted_unique(pair)
    return (pair >> np.uint64(32)).astype(np.int64), (pair & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _held_twice(index: Index, pair: NDArray[np.uint64], key: NDArray[np.int64], two_seeds_from: int) -> NDArray[np.uint64]:
    """The distinct ``pair`` values (document << 32 | post) whose post has fewer than ``two_seeds_from``
    seeds, or whose document holds two different seeds of its post (``key``: the seed of each hit)."""
    return held_twice(pair, key, two_seeds_from, index.post_seeds[(pair & np.uint64(0xFFFFFFFF)).astype(np.int64)])


def held_twice(pair: NDArray[np.uint64], key: NDArray[np.int64], two_seeds_from: int,
               counts: NDArray[np.integer]) -> NDArray[np.uint64]:
    """:func:`_held_twice` with each hit's post's number of seeds given beside it (``counts``); ``key``:
    small non-negative seed numbers, one a distinct seed."""
    if not len(pair):
        return pair
    doc, post = pair >> np.uint64(32), pair & np.uint64(0xFFFFFFFF)
    # (a post's seed count, capped at two_seeds_from: all the rule asks of it)
    few = np.minimum(counts, two_seeds_from).astype(np.uint64)
    d_bits, p_bits, k_bits = _bits(int(doc.max()) + 1), _bits(int(post.max()) + 1), _bits(int(key.max()) + 1)
    c_bits = _bits(two_seeds_from + 1)
    if d_bits + p_bits + c_bits + k_bits <= 64:  # one sort of one word a hit: (document, post, its count, seed)
        low = k_bits + c_bits
        hit = np.sort((doc << np.uint64(p_bits + low)) | (post << np.uint64(low)) | (few << np.uint64(k_bits))
                      | key.astype(np.uint64))
        of_pair = hit >> np.uint64(low)
        pair = ((of_pair >> np.uint64(p_bits)) << np.uint64(32)) | (of_pair & np.uint64((1 << p_bits) - 1))
        few = (hit >> np.uint64(k_bits)) & np.uint64((1 << c_bits) - 1)
        same_hit = np.r_[False, hit[1:] == hit[:-1]]
    else:
        order = np.lexsort((key, pair))
        pair, key, few = pair[order], key[order], few[order]
        same_hit = np.r_[False, (pair[1:] == pair[:-1]) & (key[1:] == key[:-1])]
    first = np.ones(len(pair), dtype=bool)
    first[1:] = pair[1:] != pair[:-1]
    # a pair's hits are one run: it has two seeds when some hit after its first is another seed
    other_seed = ~first & ~same_hit
    run = np.cumsum(first) - 1
    twice = np.zeros(int(first.sum()), dtype=bool)
    twice[run[other_seed]] = True
    return pair[first][twice | (few[first] < two_seeds_from)]


def window_widths(index: Index, posts: NDArray[np.int64], slack: float) -> NDArray[np.int64]:
    """For each post, the most document shingle positions a verified region may span, minus one."""
    return window_width((index.shingle_offsets[posts + 1] - index.shingle_offsets[posts]).astype(np.int64), slack)


def jaccard_candidates(index: Index, sb: ShingleBatch) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs that share at least one LSH band; ``(doc, post)`` int64 arrays, sorted, distinct."""
    empty = np.zeros(0, dtype=np.int64)
    if index.n_posts == 0 or len(sb.n_tokens) == 0:
        return empty, empty
    bands, rows = index.bands
    sig = minhash(sb.hashes, sb.offsets, index.params.num_perm, index.params.seed)
    keys = band_keys(sig, bands, rows)
    has_set = np.diff(sb.offsets) > 0
    docs_out, posts_out = [], []
    for b in range(bands):
        table = index.lsh_keys[b]
        lo = np.searchsorted(table, keys[b], side="left")
        hi = np.searchsorted(table, keys[b], side="right")
        counts = np.where(has_set, hi - lo, 0)
        docs_out.append(np.repeat(np.arange(len(counts)), counts))
        posts_out.append(index.lsh_posts[b][expand_ranges(lo, counts)].astype(np.int64))
    pair = (np.concatenate(docs_out).astype(np.uint64) << np.uint64(32)) | np.concatenate(posts_out).astype(np.uint64)
    pair = sorted_unique(pair)
    return (pair >> np.uint64(32)).astype(np.int64), (pair & np.uint64(0xFFFFFFFF)).astype(np.int64)


@dataclass(frozen=True)
class PairHits:
    """Where each candidate pair's post shingles occur in its document, in CSR layout.

    Pair ``i``'s hits are ``pos[offsets[i]:offsets[i+1]]`` (int64 shingle positions in the document,
    increasing, distinct) with their hashes in ``hashes`` and, in ``ids``, the post's shingle each is
    (its ``shingle_ids`` value: the post position where it first occurs); ``bound[i]`` is the most hits that fit one
    window of the allowed width, an upper bound on the distinct shingles verification can find;
    ``first_post_pos[i]`` is the smallest post position among the hits (the post's length when none).
    """

    bound: NDArray[np.int64]
    first_post_pos: NDArray[np.int64]
    offsets: NDArray[np.int64]
    pos: NDArray[np.int64]
    hashes: NDArray[np.uint64]
    ids: NDArray[np.int64]


def _collect_hits(index: Index, posts: NDArray[np.int64], pair: NDArray[np.int64], at: NDArray[np.int64],
                  ppos: NDArray[np.int64], hashes: NDArray[np.uint64], doc_start: NDArray[np.int64],
                  lengths: NDArray[np.int64], width: NDArray[np.int64]) -> PairHits:
    """PairHits from ``(pair, shingle index in the batch, post position)`` rows, in any order,
    repeats allowed; ``posts[i]`` is pair ``i``'s post, ``hashes`` the batch's shingles, ``doc_start[i]``
    where pair ``i``'s document starts among them."""
    k = len(posts)
    # The post's shingle of each row (equal for the rows of one (pair, index): one document shingle).
    ids = index.shingle_ids[index.shingle_offsets[posts[pair]].astype(np.int64) + ppos].astype(np.int64)
    first_post_pos = lengths.copy()
    np.minimum.at(first_post_pos, pair, ppos)
    bound = np.zeros(k, dtype=np.int64)
    # One word per hit, (pair, index): sorted, the hits of a pair come together in document order,
    # and a window of a pair's hits stays within the pair's own range of words.
    at_bits = _bits(len(hashes) + (int(width.max()) + 1 if k else 0))
    if _bits(k) + at_bits > 64:
        raise ValueError(f"{k} pairs over {len(hashes)} shingles: too many for one batch")
    key = (pair.astype(np.uint64) << np.uint64(at_bits)) | at.astype(np.uint64)
    id_bits = _bits(int(ids.max()) + 1) if len(ids) else 1
    if _bits(k) + at_bits + id_bits <= 64:  # the id rides along in the low bits of one sort
        key = np.sort((key << np.uint64(id_bits)) | ids.astype(np.uint64))
        ids = (key & np.uint64((1 << id_bits) - 1)).astype(np.int64)
        key >>= np.uint64(id_bits)
    else:
        order = np.argsort(key, kind="stable")
        key, ids = key[order], ids[order]
    if len(key):
        distinct = np.r_[True, key[1:] != key[:-1]]
        key, ids = key[distinct], ids[distinct]
    pair = (key >> np.uint64(at_bits)).astype(np.int64)
    at = (key & np.uint64((1 << at_bits) - 1)).astype(np.int64)
    offsets = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair, minlength=k), out=offsets[1:])
    if len(pair):
        in_window = np.searchsorted(key, key + width[pair].astype(np.uint64), side="right") - np.arange(len(key))
        starts = offsets[:-1][np.diff(offsets) > 0]
        bound[pair[starts]] = np.maximum.reduceat(in_window, starts)
    return PairHits(bound, first_post_pos, offsets, at - doc_start[pair], hashes[at], ids)


_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class _BatchJoin:
    """What :func:`pair_hits` joins the posts' shingles to, made once per batch (a scan matches one batch
    against every shard or segment of its index): ``slots``, a table of the top bits of each document
    shingle's hash mixed with its document (a byte a slot: most post shingles their document does not
    hold stop there); ``table``, the batch's shingles keyed (document, top bits of the hash) and sorted,
    ``order`` their places in the batch."""

    slots: NDArray[np.bool_]
    top: np.uint64
    shift: np.uint64
    low: np.uint64
    order: NDArray[np.int64]
    table: NDArray[np.uint64]


def _batch_join(sb: ShingleBatch) -> _BatchJoin:
    """The batch's :class:`_BatchJoin`, kept with the batch (its arrays never change)."""
    made = sb.__dict__.get("_join")
    if made is None:
        n_docs = len(sb.offsets) - 1
        doc_of = np.repeat(np.arange(n_docs, dtype=np.uint64), np.diff(sb.offsets))
        bits = KeyFilter.bits_for(len(sb.hashes))
        top = np.uint64(64 - bits)
        slots = np.zeros(1 << bits, dtype=bool)
        slots[(sb.hashes ^ (doc_of * _MIX)) >> top] = True
        shift, low = np.uint64(64 - _bits(n_docs)), np.uint64(_bits(n_docs))
        keys = (doc_of << shift) | (sb.hashes >> low)
        order = np.argsort(keys)
        made = _BatchJoin(slots, top, shift, low, order, keys[order])
        sb.__dict__["_join"] = made  # (a frozen dataclass: its fields stay as they are)
    return made


def pair_hits(
    index: Index, sb: ShingleBatch, docs: NDArray[np.int64], posts: NDArray[np.int64], slack: float,
) -> PairHits:
    """Find every candidate pair's shared shingles, and bound each pair's best window: every shingle of
    the pair's post (``index.shingles``, in token order) joined to every equal shingle of its document,
    as one sorted join over the batch."""
    k = len(docs)
    offs = index.shingle_offsets
    lo = offs[posts].astype(np.int64)
    lengths = offs[posts + 1].astype(np.int64) - lo
    doc_start = sb.offsets[docs]
    widths = window_widths(index, posts, slack)
    empty = np.zeros(0, dtype=np.int64)
    if not k or not len(sb.hashes):
        return _collect_hits(index, posts, empty, empty, empty, sb.hashes, doc_start, lengths, widths)
    post_hashes = index.shingles[expand_ranges(lo, lengths)]
    pair_of = np.repeat(np.arange(k, dtype=np.int64), lengths)
    join = _batch_join(sb)
    # The post shingles their document may hold (most it does not: the batch's table of slots drops them).
    some = np.flatnonzero(join.slots[(post_hashes ^ (docs[pair_of].astype(np.uint64) * _MIX)) >> join.top])
    post_pos = (np.arange(len(post_hashes), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths))[some]
    pair_of, post_hashes = pair_of[some], post_hashes[some]
    order, table, shift, low = join.order, join.table, join.shift, join.low
    want = (docs[pair_of].astype(np.uint64) << shift) | (post_hashes >> low)
    by_want = np.argsort(want)
    want = want[by_want]
    first = np.searchsorted(table, want, side="left")
    n = np.searchsorted(table, want, side="right") - first
    at = order[expand_ranges(first, n)]
    row = np.repeat(by_want, n)
    same = np.flatnonzero(sb.hashes[at] == post_hashes[row])
    at, row = at[same], row[same]
    return _collect_hits(index, posts, pair_of[row], at, post_pos[row], sb.hashes, doc_start, lengths, widths)
