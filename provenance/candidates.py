"""Candidate (document, post) pairs for a batch of documents, all vectorized.

*Containment*: every shingle of every document is probed against the index's candidate keys (a
bit-per-slot filter on the top hash bits drops most probes before a ``searchsorted``); each
(document, key) hit is expanded to the key's posts, and a pair survives when its number of distinct
key hits, plus the post's frequent shingles (which never generate candidates but may still match),
can still reach the verification threshold.

*Jaccard*: each document's MinHash band keys are looked up band by band in the index's sorted band
tables; any shared band makes a candidate (datasketch ``MinHashLSH.query`` semantics).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl
from numpy.typing import NDArray

from .index import Index, KeyFilter, find_in, lookup
from .shingle import ShingleBatch
from .sketch import band_keys, minhash
from .verify import window_width

__all__ = ["Candidates", "FrequentShingles", "KeyFilter", "PairHits", "containment_candidates", "jaccard_candidates",
           "expand_ranges", "find_in", "lookup", "pair_hits", "pair_hits_from_keys", "window_widths"]


def expand_ranges(starts: NDArray[np.int64], counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenate ``arange(s, s + c)`` for every pair; int64 ``(counts.sum(),)``."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.repeat(starts - (ends - counts), counts) + np.arange(total, dtype=np.int64)


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs and where their key shingles occur.

    ``doc``, ``post``: int64 ``(k,)``, sorted by document then post. ``row_pair``, ``row_pos``,
    ``row_ppos``, ``row_hash``: one row per occurrence of one of the post's keys in the document —
    the pair (index into ``doc``/``post``), the shingle position in the document, the key's first
    position in the post, and the key.
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
        probe: ``find_in(index.keys, key_filter, sb.hashes)`` if the caller has it already.
    """
    h = sb.hashes
    if len(h) == 0 or len(index.keys) == 0:
        return Candidates.empty()
    # shingle index in the batch (increasing), key number
    where, key = probe if probe is not None else find_in(index.keys, key_filter, h)
    if not len(where):
        return Candidates.empty()
    doc = np.searchsorted(sb.offsets, where, side="right") - 1
    # A key occurring again in the same document is no new distinct hit.
    _, first = np.unique((doc.astype(np.uint64) << np.uint64(40)) | key.astype(np.uint64), return_index=True)
    first_seen = np.zeros(len(key), dtype=bool)
    first_seen[first] = True
    # Every occurrence of a key, once per post holding it; the stable sort by pair keeps each
    # pair's occurrences in document order.
    counts = index.key_offsets[key + 1] - index.key_offsets[key]
    rows = expand_ranges(index.key_offsets[key], counts)
    pair = (np.repeat(doc, counts).astype(np.uint64) << np.uint64(32)) | index.key_posts[rows].astype(np.uint64)
    order = np.argsort(pair, kind="stable")
    pair = pair[order]
    row_key = np.repeat(key, counts)[order]
    row_pos = np.repeat(where - sb.offsets[doc], counts)[order]
    row_ppos = index.key_pos[rows][order].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    row_pair = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(pair)]))
    hits = np.bincount(row_pair[np.repeat(first_seen, counts)[order]], minlength=len(starts))
    first_pos = np.minimum.reduceat(row_ppos, starts)
    pair = pair[starts]
    doc = (pair >> np.uint64(32)).astype(np.int64)
    post = (pair & np.uint64(0xFFFFFFFF)).astype(np.int64)
    share = np.where((first_pos < ngram) | head_frequent[post], min_prefix_share, min_share)
    reachable = hits + n_frequent[post] >= np.ceil(share * n_distinct[post] - 1e-9)
    renumber = np.cumsum(reachable) - 1
    keep_row = reachable[row_pair]
    return Candidates(doc[reachable], post[reachable], renumber[row_pair[keep_row]], row_pos[keep_row],
                      row_ppos[keep_row], index.keys[row_key[keep_row]])


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
    pair = np.unique(pair)
    return (pair >> np.uint64(32)).astype(np.int64), (pair & np.uint64(0xFFFFFFFF)).astype(np.int64)


@dataclass(frozen=True)
class PairHits:
    """Where each candidate pair's post shingles occur in its document, in CSR layout.

    Pair ``i``'s hits are ``pos[offsets[i]:offsets[i+1]]`` (int64 shingle positions in the document,
    increasing, distinct) with their hashes in ``hashes``; ``bound[i]`` is the most hits that fit one
    window of the allowed width, an upper bound on the distinct shingles verification can find;
    ``first_post_pos[i]`` is the smallest post position among the hits (the post's length when none).
    """

    bound: NDArray[np.int64]
    first_post_pos: NDArray[np.int64]
    offsets: NDArray[np.int64]
    pos: NDArray[np.int64]
    hashes: NDArray[np.uint64]


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

    @classmethod
    def of(cls, index: Index) -> "FrequentShingles":
        return cls(index.frequent, index.frequent_offsets, index.frequent_hashes, index.frequent_pos)


def pair_hits_from_keys(index: Index, frequent: FrequentShingles, sb: ShingleBatch, cands: Candidates,
                        slack: float) -> PairHits:
    """:func:`pair_hits` for ``cands``, reusing their key occurrences: only the posts' frequent
    shingles are looked up in the documents. Gives exactly what :func:`pair_hits` gives."""
    k = len(cands.doc)
    lengths = (index.shingle_offsets[cands.post + 1] - index.shingle_offsets[cands.post]).astype(np.int64)
    parts = [(cands.row_pair, cands.row_pos, cands.row_ppos, cands.row_hash)]
    n_freq = frequent.offsets[cands.post + 1] - frequent.offsets[cands.post]
    if len(frequent.values) and n_freq.any():
        found, _ = find_in(frequent.values, frequent.filter, sb.hashes)
        if len(found):
            doc_len = np.diff(sb.offsets)
            doc_of = np.repeat(np.arange(len(doc_len), dtype=np.int64), doc_len)[found]
            right = pl.DataFrame({"d": doc_of, "h": sb.hashes[found], "pos": found - sb.offsets[doc_of]})
            rows = expand_ranges(frequent.offsets[cands.post], n_freq)
            pair_of = np.repeat(np.arange(k, dtype=np.int64), n_freq)
            left = pl.DataFrame({"pair": pair_of, "d": cands.doc[pair_of], "h": frequent.hashes[rows],
                                 "ppos": frequent.ppos[rows]})
            j = left.join(right, on=["d", "h"], how="inner")
            parts.append((j["pair"].to_numpy(), j["pos"].to_numpy(), j["ppos"].to_numpy(), j["h"].to_numpy()))
    pair, pos, ppos, h = (np.concatenate(c) for c in zip(*parts))
    return _collect_hits(k, pair.astype(np.int64), pos.astype(np.int64), ppos.astype(np.int64),
                         h.astype(np.uint64), lengths, window_widths(index, cands.post, slack))


def _collect_hits(k: int, pair: NDArray[np.int64], pos: NDArray[np.int64], ppos: NDArray[np.int64],
                  h: NDArray[np.uint64], lengths: NDArray[np.int64], width: NDArray[np.int64]) -> PairHits:
    """PairHits from (pair, document position, post position, hash) rows, in any order, repeats allowed."""
    key = (pair.astype(np.uint64) << np.uint64(32)) | pos.astype(np.uint64)
    order = np.argsort(key, kind="stable")
    key, pair, ppos, h = key[order], pair[order], ppos[order], h[order]
    first_post_pos = lengths.copy()
    if len(pair):
        group = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        first_post_pos[pair[group]] = np.minimum.reduceat(ppos, group)
    distinct = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
    key, pair, h = key[distinct], pair[distinct], h[distinct]
    hit_pos = (key & np.uint64(0xFFFFFFFF)).astype(np.int64)
    offsets = np.searchsorted(pair, np.arange(k + 1), side="left").astype(np.int64)
    bound = np.zeros(k, dtype=np.int64)
    if len(pair):
        in_window = np.searchsorted(key, key + width[pair].astype(np.uint64), side="right") - np.arange(len(key))
        starts = offsets[:-1][np.diff(offsets) > 0]
        bound[pair[starts]] = np.maximum.reduceat(in_window, starts)
    return PairHits(bound, first_post_pos, offsets, hit_pos, h)


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
    left = pl.DataFrame({"pair": pair_of, "d": docs[pair_of], "h": index.shingles[expand_ranges(offs[posts], lengths)],
                         "ppos": post_pos})
    right = pl.DataFrame({"d": doc_of, "h": sb.hashes, "pos": pos})
    j = left.join(right, on=["d", "h"], how="inner")
    return _collect_hits(k, j["pair"].to_numpy().astype(np.int64), j["pos"].to_numpy().astype(np.int64),
                         j["ppos"].to_numpy().astype(np.int64), j["h"].to_numpy().astype(np.uint64), lengths,
                         window_widths(index, posts, slack))
