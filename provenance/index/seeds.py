"""Seeds: the few keys of each post that a containment scan probes, chosen so that a probe's work is
bounded whatever the index's size (format 16).

*Which shingles.* A shingle held by at most ``seed_posts`` posts (:class:`~provenance.params.IndexParams`,
8; never more than ``max_key_posts``: a frequent shingle is no seed) is *eligible*. Each post keeps, left to right, every eligible shingle whose word window does not
overlap the window of the seed kept before it (greedy leftmost: the most disjoint windows a post's
eligible shingles allow). A post without an eligible shingle (a text that many accounts posted word
for word, a stock phrase) takes its disjoint shingles of at most ``max_key_posts`` (50) posts instead;
a post with none of those either (every shingle frequent) keeps its rarest shingle (fewest posts, then
lowest hash) as its one seed, as it was its one key before seeds. An unattributable post
(:data:`~.format.UNATTRIBUTABLE`) has no postings and no seed: it is never a containment candidate.

*The bound.* A probe (one document shingle) finds at most ``seed_posts`` posts, or at most
``max_key_posts`` when the shingle is the fallback seed of posts that have no rarer one: a seed's
posts are among the posts holding its shingle, which its post count bounds. The one exception is the
rarest shingle of posts whose every shingle is frequent: it finds the posts it is the rarest of. A document of ``s``
shingles therefore makes at most ``s * max(seed_posts, max_key_posts)`` (document, post) candidates,
whatever the number of posts indexed (in practice far fewer: most shingles of a document are no seed).

*The guarantee.* Seeds of one post cover disjoint runs of ``ngram`` words, so one edited word (a word
substituted, inserted or deleted: it changes the shingles whose windows hold it, or that span the
place of the insertion) breaks at most one seed. A copy of a post with ``e`` edited words is
therefore a candidate whenever the post has at least ``e + 1`` seeds; a post of ``t`` words has up
to ``floor(t / ngram)`` of them (2 for 6+ words, 3 for 9+ words at ``ngram`` 3), all of them when
every shingle of the post is eligible. A copy of a post with fewer seeds than its edits + 1 may be
missed (``tests/test_seeds.py``; the planted benchmarks measure how often). A scan may ask two
intact seeds of a post with many (:class:`~provenance.params.ScanParams` ``two_seeds_from``, 4):
its copies with up to ``seeds - 2`` edited words stay candidates (:func:`provenance.match.candidates.seed_candidates`).

*Files.* ``seed_keys.npy`` (uint64, sorted, distinct: the seed shingles), ``seed_ends.npy`` (the row
of ``seed_posts.npy`` after each seed key's last post; uint32 while the rows fit) and
``seed_posts.npy`` (uint32: the posts of each seed key, increasing).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .lookup import KeyFilter, find_in
from .spill import NpyWriter

__all__ = ["SEED_ARRAYS", "SeedChooser", "SeedTable", "disjoint_seeds", "seed_rows_of"]

SEED_ARRAYS = ("seed_keys", "seed_ends", "seed_posts")


def disjoint_seeds(eligible: NDArray[np.bool_], lengths: NDArray[np.int64], ngram: int) -> NDArray[np.bool_]:
    """Which shingles are seeds, for posts laid out one after the other (``lengths`` shingles each,
    ``eligible`` over all their shingles): left to right in each post, an eligible shingle at least
    ``ngram`` positions after the post's previous seed. All posts advance together, one position a
    step (the steps are the longest post's shingles; the work is one test a shingle)."""
    eligible = np.asarray(eligible, dtype=bool)
    lengths = np.asarray(lengths, dtype=np.int64)
    chosen = np.zeros(len(eligible), dtype=bool)
    if not len(lengths) or not eligible.any():
        return chosen
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    order = np.argsort(-lengths, kind="stable")  # the posts still running at step j are a prefix
    by_len, first = lengths[order], starts[order]
    last = np.full(len(order), -ngram, dtype=np.int64)
    for j in range(int(by_len[0])):
        k = int(np.searchsorted(-by_len, -j, side="left"))  # posts longer than j
        at = first[:k] + j
        pick = np.flatnonzero(eligible[at] & (last[:k] <= j - ngram))
        chosen[at[pick]] = True
        last[pick] = j
    return chosen


def seed_rows_of(keys: NDArray[np.uint64]) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """For the sorted hashes of a run of seed rows: the distinct ones and the row after each one's last."""
    if not len(keys):
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    last = np.flatnonzero(np.r_[keys[1:] != keys[:-1], True])
    return keys[last], last + 1


class SeedChooser:
    """Chooses and writes the seeds of a build, around its two passes over the postings in hash order:
    :meth:`mark` the eligible ones (pass 1, with their post counts over all posts), :meth:`choose`
    (post by post), then :meth:`write` the chosen ones (pass 2) and :meth:`close`."""

    def __init__(self, out: Path, work: Path, offsets: NDArray[np.int64], seed_posts: int, max_key_posts: int,
                 ngram: int, ends_type: type) -> None:
        self.offsets, self.seed_posts, self.max_key_posts, self.ngram = offsets, seed_posts, max_key_posts, ngram
        n = int(offsets[-1])
        self.work = work
        # per shingle of each post: 1 held by at most seed_posts posts, 2 by at most max_key_posts
        self.eligible = np.lib.format.open_memmap(work / "seed_eligible.npy", mode="w+", dtype=np.uint8, shape=(n,))
        self.chosen: NDArray[np.bool_] | None = None
        self.w_keys, self.w_posts = NpyWriter(out / "seed_keys.npy", np.uint64), NpyWriter(out / "seed_posts.npy", np.uint32)
        self.w_ends = NpyWriter(out / "seed_ends.npy", ends_type)
        self.rows = 0

    def mark(self, post: NDArray[np.uint32], pos: NDArray, df: NDArray[np.int64]) -> None:
        """Postings (post, first position) whose shingle ``df`` posts hold."""
        ok = np.flatnonzero(df <= self.max_key_posts)
        self.eligible[self.offsets[post[ok]] + pos[ok]] = np.where(df[ok] <= min(self.seed_posts, self.max_key_posts), 1, 2)

    def choose(self, step: int) -> None:
        """The seeds of every post, ``step`` shingles' worth of posts at a time."""
        n_posts = len(self.offsets) - 1
        self.chosen = np.lib.format.open_memmap(self.work / "seed_chosen.npy", mode="w+",
                                                dtype=np.bool_, shape=self.eligible.shape)
        a = 0
        while a < n_posts:
            b = int(np.searchsorted(self.offsets, self.offsets[a] + step, side="right")) - 1
            b = min(max(b, a + 1), n_posts)
            lo, hi = int(self.offsets[a]), int(self.offsets[b])
            grade, lengths = np.asarray(self.eligible[lo:hi]), np.diff(self.offsets[a : b + 1]).astype(np.int64)
            # a post without a shingle of seed_posts posts or fewer falls back to those of max_key_posts
            post_of = np.repeat(np.arange(b - a), lengths)
            fallback = np.bincount(post_of, weights=grade == 1, minlength=b - a) == 0
            eligible = (grade == 1) | ((grade == 2) & fallback[post_of])
            self.chosen[lo:hi] = disjoint_seeds(eligible, lengths, self.ngram)
            a = b

    def write(self, h: NDArray[np.uint64], post: NDArray[np.uint32], pos: NDArray, rarest: NDArray[np.bool_]) -> None:
        """Postings in hash order (then post): the chosen ones are written, and those marked ``rarest``
        (the rarest shingle of a post whose every shingle is frequent)."""
        assert self.chosen is not None
        seed = np.flatnonzero(self.chosen[self.offsets[post] + pos] | rarest)
        keys, ends = seed_rows_of(h[seed])
        self.w_keys.append(keys)
        self.w_ends.append(ends + self.rows)
        self.w_posts.append(post[seed])
        self.rows += len(seed)

    def close(self) -> None:
        for w in (self.w_keys, self.w_ends, self.w_posts):
            w.close()


@dataclass
class SeedTable:
    """An index's seeds, looked up: ``keys`` sorted distinct, ``ends`` (row after each key's last),
    ``posts`` (the seeds' posts, grouped by key); ``ranged``: the keys are one key range of the index's
    (a route part's), and so are the hashes looked up."""

    keys: NDArray[np.uint64]
    ends: NDArray[np.integer]
    posts: NDArray[np.uint32]
    ranged: bool = False

    @cached_property
    def filter(self) -> KeyFilter:
        return KeyFilter.of(np.asarray(self.keys), ranged=self.ranged)

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self, key: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The first row of each seed key number and its number of posts (at most ``seed_posts``)."""
        end = self.ends[key].astype(np.int64)
        start = np.where(key > 0, self.ends[np.maximum(key - 1, 0)].astype(np.int64), 0) if len(key) else end
        return start, end - start

    def find(self, hashes: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The hashes that are seeds: their indices in ``hashes`` (increasing) and their seed key numbers."""
        if not len(self.keys):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return find_in(self.keys, self.filter, hashes)

    def made_bytes(self) -> int:
        return self.filter.made_bytes() if "filter" in self.__dict__ else 0
