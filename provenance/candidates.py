"""Candidate (document, post) pairs for a batch of documents, all vectorized.

*Containment*: every shingle of every document is probed against the index's candidate keys (a
byte-per-slot filter on the top hash bits drops most probes before a ``searchsorted``); each
(document, key) hit is expanded to the key's posts, and a pair survives when its number of distinct
key hits, plus the post's frequent shingles (which never generate candidates but may still match),
can still reach the verification threshold.

*Jaccard*: each document's MinHash band keys are looked up band by band in the index's sorted band
tables; any shared band makes a candidate (datasketch ``MinHashLSH.query`` semantics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from .index import Index
from .shingle import ShingleBatch
from .sketch import band_keys, minhash

__all__ = ["KeyFilter", "PairHits", "containment_candidates", "jaccard_candidates", "expand_ranges", "pair_hits"]


def expand_ranges(starts: NDArray[np.int64], counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenate ``arange(s, s + c)`` for every pair; int64 ``(counts.sum(),)``."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.repeat(starts - (ends - counts), counts) + np.arange(total, dtype=np.int64)


class KeyFilter:
    """A byte per slot, set where some key has those top bits: a cheap "certainly absent" test."""

    def __init__(self, keys: NDArray[np.uint64]) -> None:
        bits = int(np.clip(np.ceil(np.log2(max(len(keys), 1) * 8)), 16, 28))
        self.shift = np.uint64(64 - bits)
        self.slots = np.zeros(1 << bits, dtype=bool)
        self.slots[keys >> self.shift] = True

    def maybe(self, hashes: NDArray[np.uint64]) -> NDArray[np.bool_]:
        return self.slots[hashes >> self.shift]


def containment_candidates(
    index: Index, key_filter: KeyFilter, sb: ShingleBatch, n_distinct: NDArray[np.int64],
    n_frequent: NDArray[np.int64], head_frequent: NDArray[np.bool_], min_share: float, min_prefix_share: float,
    ngram: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Candidate pairs for the documents of ``sb``.

    Args:
        n_distinct, n_frequent: int64 ``(posts,)`` per-post distinct and frequent shingle counts.
        min_share: smallest share of a post's distinct shingles a whole verified copy can have.
        head_frequent: bool ``(posts,)``, one of the post's first ``ngram`` shingles is frequent.
        min_prefix_share: the same for a cut-off copy, which must hit one of the post's first
            ``ngram`` shingles (or may, when one of them is frequent and so not a key).

    Returns:
        ``(doc, post)``: int64 arrays of equal length, sorted by document then post; ``doc`` indexes
        the batch, ``post`` the index's posts.
    """
    empty = np.zeros(0, dtype=np.int64)
    h = sb.hashes
    if len(h) == 0 or len(index.keys) == 0:
        return empty, empty
    probe = np.flatnonzero(key_filter.maybe(h))
    pos = np.searchsorted(index.keys, h[probe])
    pos[pos == len(index.keys)] = 0
    hit = index.keys[pos] == h[probe]
    if not hit.any():
        return empty, empty
    key = pos[hit].astype(np.int64)
    doc = np.searchsorted(sb.offsets, probe[hit], side="right") - 1
    # Distinct (document, key) pairs, then their posts.
    dk = np.unique((doc.astype(np.uint64) << np.uint64(40)) | key.astype(np.uint64))
    doc = (dk >> np.uint64(40)).astype(np.int64)
    key = (dk & np.uint64((1 << 40) - 1)).astype(np.int64)
    counts = index.key_offsets[key + 1] - index.key_offsets[key]
    rows = expand_ranges(index.key_offsets[key], counts)
    posts = index.key_posts[rows].astype(np.uint64)
    pair = (np.repeat(doc, counts).astype(np.uint64) << np.uint64(32)) | posts
    order = np.argsort(pair, kind="stable")
    pair, post_pos = pair[order], index.key_pos[rows][order]
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    hits = np.diff(np.r_[starts, len(pair)])
    first_pos = np.minimum.reduceat(post_pos, starts)
    pair = pair[starts]
    doc = (pair >> np.uint64(32)).astype(np.int64)
    post = (pair & np.uint64(0xFFFFFFFF)).astype(np.int64)
    share = np.where((first_pos < ngram) | head_frequent[post], min_prefix_share, min_share)
    reachable = hits + n_frequent[post] >= np.ceil(share * n_distinct[post] - 1e-9)
    return doc[reachable], post[reachable]


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


def pair_hits(
    index: Index, sb: ShingleBatch, docs: NDArray[np.int64], posts: NDArray[np.int64], slack: float,
) -> PairHits:
    """Find every candidate pair's shared shingles with one join, and bound each pair's best window."""
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
    joined = left.join(right, on=["d", "h"], how="inner")
    first_post_pos = lengths.copy()
    firsts = joined.group_by("pair").agg(pl.col("ppos").min())
    first_post_pos[firsts["pair"].to_numpy()] = firsts["ppos"].to_numpy()
    hits = joined.select("pair", "pos", "h").unique(["pair", "pos"]).sort(["pair", "pos"])
    pair = hits["pair"].to_numpy().astype(np.int64)
    hit_pos = hits["pos"].to_numpy().astype(np.int64)
    offsets = np.searchsorted(pair, np.arange(k + 1), side="left").astype(np.int64)
    bound = np.zeros(k, dtype=np.int64)
    if len(pair):
        key = (pair.astype(np.uint64) << np.uint64(32)) | hit_pos.astype(np.uint64)
        width = lengths - 1 + np.maximum(3, np.ceil(slack * lengths).astype(np.int64))
        reach = np.searchsorted(key, key + width[pair].astype(np.uint64), side="right")
        in_window = reach - np.arange(len(key))
        starts = offsets[:-1][np.diff(offsets) > 0]
        bound[pair[starts]] = np.maximum.reduceat(in_window, starts)
    return PairHits(bound, first_post_pos, offsets, hit_pos, hits["h"].to_numpy().astype(np.uint64))
