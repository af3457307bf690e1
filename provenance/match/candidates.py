"""Candidate (document, post) pairs for a batch of documents, all vectorized.

*Containment*: every shingle of every document is probed against the index's candidate keys (a
bit-per-slot filter on the top hash bits drops most probes, the rest are looked up in their bucket of
top bits only); each
(document, key) hit is expanded to the key's posts, and a pair survives when its number of distinct
key hits, plus the post's frequent shingles (which never generate candidates but may still match),
can still reach the verification threshold, or the fewer hits an edited copy that the token alignment
accepts keeps (:func:`provenance.match.align.min_shingle_hits`).

*Jaccard*: each document's MinHash band keys are looked up band by band in the index's sorted band
tables; any shared band makes a candidate (datasketch ``MinHashLSH.query`` semantics).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np
import polars as pl
from numpy.typing import NDArray

from ..index import Index, KeyFilter, find_in, lookup
from ..text.shingles import ShingleBatch
from ..index.sketch import band_keys, minhash
from ..arrays import expand_ranges, sorted_unique
from .verify import window_width

__all__ = ["Candidates", "FrequentShingles", "KeyFilter", "PairHits", "containment_candidates", "jaccard_candidates",
           "expand_ranges", "find_in", "lookup", "pair_hits", "pair_hits_from_keys", "window_widths"]


def _bits(n: int) -> int:
    """Bits that hold every value below ``n`` (at least 1)."""
    return max(int(n - 1).bit_length(), 1)


def _sort_with_order(values: NDArray[np.uint64], value_bits: int) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """``values`` (each below ``2**value_bits``) sorted stably, and the permutation that sorts them.

    When the row numbers fit in the bits the values leave free, they are packed below the values and
    one plain ``np.sort`` of the packed words does the work (several times faster than a stable
    ``argsort``); otherwise a stable ``argsort``.
    """
    n = len(values)
    row_bits = _bits(n)
    if value_bits + row_bits <= 64:
        packed = np.sort((values << np.uint64(row_bits)) | np.arange(n, dtype=np.uint64))
        return packed >> np.uint64(row_bits), (packed & np.uint64((1 << row_bits) - 1)).astype(np.int64)
    order = np.argsort(values, kind="stable")
    return values[order], order


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs and where their key shingles occur.

    ``doc``, ``post``: int64 ``(k,)``, sorted by document then post. ``row_pair``, ``row_pos``,
    ``row_ppos``, ``row_hash``: one row per occurrence of one of the post's keys in the document —
    the pair (index into ``doc``/``post``), the shingle position in the document, the key's first
    position in the post, and the key. The rows of a pair are together, in no particular order.
    """

    doc: NDArray[np.int64]
    post: NDArray[np.int64]
    row_pair: NDArray[np.int64]
    row_pos: NDArray[np.int64]
    row_ppos: NDArray[np.int64]
    row_hash: NDArray[np.uint64]

    @classmethod
    def empty(cls) -> "Candidates":
        i, u = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
        return cls(i, i, i, i, i, u)


def containment_candidates(
    index: Index, key_filter: KeyFilter, sb: ShingleBatch, n_distinct: NDArray[np.int64],
    n_frequent: NDArray[np.int64], head_frequent: NDArray[np.bool_], min_share: float, min_prefix_share: float,
    ngram: int, probe: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
    min_hits: Callable[[NDArray[np.int64]], NDArray[np.int64]] | None = None,
) -> Candidates:
    """Candidate pairs for the documents of ``sb``.

    A pair survives when its distinct key hits, plus all the post's frequent shingles (which are no
    keys but may still match), can reach the share verification needs.

    Args:
        n_distinct, n_frequent: int64 ``(posts,)`` per-post distinct and frequent shingle counts.
        min_share: smallest share of a post's distinct shingles a whole verified copy can have.
        head_frequent: bool ``(posts,)``, one of the post's first ``ngram`` shingles is frequent.
        min_prefix_share: the same for a cut-off copy, which must hit one of the post's first
            ``ngram`` shingles (or may, when one of them is frequent and so not a key).
        probe: ``index.keys.find(sb.hashes)`` if the caller has it already.
        min_hits: a second bar: a pair also survives when its key hits plus its post's frequent
            shingles reach ``min_hits(posts)`` (the token alignment's, which an edited copy of a
            short post can meet below the shares).
    """
    h = sb.hashes
    if len(h) == 0 or len(index.keys) == 0:
        return Candidates.empty()
    # shingle index in the batch (increasing), key number
    where, key = probe if probe is not None else index.keys.find(h)
    if not len(where):
        return Candidates.empty()
    doc = np.searchsorted(sb.offsets, where, side="right") - 1
    doc_bits, key_bits, post_bits = _bits(len(sb.offsets) - 1), _bits(len(index.keys)), _bits(index.n_posts)
    # The hits grouped by (document, key), each group in document order: a key occurring again in
    # the same document is no new distinct hit, and has the same posts.
    dk, by_dk = _sort_with_order((doc.astype(np.uint64) << np.uint64(key_bits)) | key.astype(np.uint64),
                                 doc_bits + key_bits)
    group_start = np.flatnonzero(np.r_[True, dk[1:] != dk[:-1]])
    group_hits = np.diff(np.r_[group_start, len(dk)])
    first = by_dk[group_start]
    g_key = key[first]
    # Each (document, key) once per post holding the key; grouped by pair, a row whose key starts
    # the post (position < ngram) first.
    key_start, counts = index.key_rows(g_key)
    rows = expand_ranges(key_start, counts)
    ppos = index.key_pos[rows]
    pair = (np.repeat(doc[first], counts).astype(np.uint64) << np.uint64(post_bits)) | index.key_posts[rows].astype(np.uint64)
    pair = (pair << np.uint64(1)) | (ppos >= ngram).astype(np.uint64)
    pair, by_pair = _sort_with_order(pair, doc_bits + post_bits + 1)
    head = (pair & np.uint64(1)) == 0
    pair >>= np.uint64(1)
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    hits = np.diff(np.r_[starts, len(pair)])  # distinct keys of the post in the document
    pair = pair[starts]
    doc_of = (pair >> np.uint64(post_bits)).astype(np.int64)
    post = (pair & np.uint64((1 << post_bits) - 1)).astype(np.int64)
    share = np.where(head[starts] | head_frequent[post], min_prefix_share, min_share)
    reach = hits + n_frequent[post].astype(np.int64)
    ok = reach >= np.ceil(share * n_distinct[post] - 1e-9)
    if min_hits is not None:
        ok |= reach >= min_hits(post)
    reachable = np.flatnonzero(ok)
    # The reachable pairs' rows, then every occurrence of each row's key in the document.
    n_rows = hits[reachable]
    row = by_pair[expand_ranges(starts[reachable], n_rows)]
    group = np.repeat(np.arange(len(first)), counts)[row]
    occurrences = group_hits[group]
    hit = by_dk[expand_ranges(group_start[group], occurrences)]
    row_pair = np.repeat(np.repeat(np.arange(len(reachable)), n_rows), occurrences)
    return Candidates(doc_of[reachable], post[reachable], row_pair, where[hit] - sb.offsets[doc[hit]],
                      np.repeat(ppos[row], occurrences).astype(np.int64), h[where[hit]])


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


@dataclass(frozen=True)
class FrequentShingles:
    """The index's frequent shingles (no candidate keys) and, per post, where they sit in it.

    ``values``: uint64, sorted, distinct; post ``i``'s frequent shingles are ``hashes[offsets[i]:offsets[i+1]]``
    at post positions ``ppos[...]`` (every position, in order).
    """

    values: NDArray[np.uint64]
    offsets: NDArray[np.int64]
    hashes: NDArray[np.uint64]
    ppos: NDArray[np.uint32]

    @cached_property
    def filter(self) -> KeyFilter:
        return KeyFilter.of(np.asarray(self.values))

    @cached_property
    def ranks(self) -> NDArray[np.int64]:
        """Where each of ``hashes`` is in ``values``."""
        return np.searchsorted(self.values, self.hashes).astype(np.int32 if len(self.values) < 2**31 else np.int64)

    @classmethod
    def of(cls, index: Index) -> "FrequentShingles":
        return cls(index.frequent, index.frequent_offsets, index.frequent_hashes, index.frequent_pos)


def pair_hits_from_keys(index: Index, frequent: FrequentShingles, sb: ShingleBatch, cands: Candidates,
                        slack: float) -> PairHits:
    """:func:`pair_hits` for ``cands``, reusing their key occurrences: only the posts' frequent
    shingles are looked up in the documents. Gives exactly what :func:`pair_hits` gives."""
    lengths = (index.shingle_offsets[cands.post + 1] - index.shingle_offsets[cands.post]).astype(np.int64)
    doc_start = sb.offsets[cands.doc]
    # (pair, shingle index in the batch, post position) of every hit
    parts = [(cands.row_pair, doc_start[cands.row_pair] + cands.row_pos, cands.row_ppos)]
    n_freq = frequent.offsets[cands.post + 1].astype(np.int64) - frequent.offsets[cands.post]
    if len(frequent.values) and n_freq.any():
        found, rank = find_in(frequent.values, frequent.filter, sb.hashes)
        if len(found):
            parts.append(_frequent_hits(frequent, sb, cands, n_freq, found, rank))
    pair, at, ppos = (np.concatenate(c) for c in zip(*parts))
    return _collect_hits(index, cands.post, pair, at, ppos, sb.hashes, doc_start, lengths,
                         window_widths(index, cands.post, slack))


def _frequent_hits(frequent: FrequentShingles, sb: ShingleBatch, cands: Candidates, n_freq: NDArray[np.int64],
                   found: NDArray[np.int64], rank: NDArray[np.int64]) -> tuple[NDArray[np.int64], ...]:
    """Rows ``(pair, shingle index in the batch, post position)`` for every occurrence in a pair's
    document of one of the post's frequent shingles: the join of the frequent shingles found in the
    documents (``found``, at ``rank`` in ``frequent.values``) with the posts' frequent occurrences on
    (document, shingle)."""
    n_docs = len(sb.offsets) - 1
    rank_bits = _bits(len(frequent.values))
    doc_of = np.searchsorted(sb.offsets, found, side="right") - 1
    # Found ones, by (document, shingle); pairs whose document has none need no lookup.
    found_key, order = _sort_with_order((doc_of.astype(np.uint64) << np.uint64(rank_bits)) | rank.astype(np.uint64),
                                        _bits(n_docs) + rank_bits)
    has = np.flatnonzero((n_freq > 0) & (np.bincount(doc_of, minlength=n_docs)[cands.doc] > 0))
    rows = expand_ranges(frequent.offsets[cands.post[has]], n_freq[has])
    pair = np.repeat(has, n_freq[has])
    want = (cands.doc[pair].astype(np.uint64) << np.uint64(rank_bits)) | frequent.ranks[rows].astype(np.uint64)
    lo = np.minimum(np.searchsorted(found_key, want, side="left"), len(found_key) - 1)
    some = np.flatnonzero(found_key[lo] == want)  # (most of a post's frequent shingles are not in the document)
    rows, pair, want, lo = rows[some], pair[some], want[some], lo[some]
    n = np.searchsorted(found_key, want, side="right") - lo
    return (np.repeat(pair, n), found[order[expand_ranges(lo, n)]], np.repeat(frequent.ppos[rows].astype(np.int64), n))


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


def pair_hits(
    index: Index, sb: ShingleBatch, docs: NDArray[np.int64], posts: NDArray[np.int64], slack: float,
) -> PairHits:
    """Find every candidate pair's shared shingles with one join, and bound each pair's best window.

    The direct definition (every post shingle against every document shingle); the scan uses the
    equal and cheaper :func:`pair_hits_from_keys`.
    """
    k = len(docs)
    offs = index.shingle_offsets
    lengths = (offs[posts + 1] - offs[posts]).astype(np.int64)
    pair_of = np.repeat(np.arange(k, dtype=np.int64), lengths)
    doc_len = np.diff(sb.offsets)
    doc_of = np.repeat(np.arange(len(doc_len), dtype=np.int64), doc_len)
    pos = np.arange(len(sb.hashes), dtype=np.int64) - np.repeat(sb.offsets[:-1], doc_len)
    post_pos = np.arange(len(pair_of), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    left = pl.DataFrame({"pair": pair_of, "d": docs[pair_of], "h": index.shingle_hashes(posts), "ppos": post_pos})
    right = pl.DataFrame({"d": doc_of, "h": sb.hashes, "pos": pos})
    j = left.join(right, on=["d", "h"], how="inner")
    doc_start = sb.offsets[docs]
    pair = j["pair"].to_numpy().astype(np.int64)
    return _collect_hits(index, posts, pair, doc_start[pair] + j["pos"].to_numpy(), j["ppos"].to_numpy().astype(np.int64),
                         sb.hashes, doc_start, lengths, window_widths(index, posts, slack))
