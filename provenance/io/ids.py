"""Post ids seen once: a stream of batches without the posts whose id an earlier post has.

An index build reads posts file after file; a post id must name one post. With skipping asked for,
a later post with an id seen before is left out and counted as ``duplicate_id`` (otherwise the build
refuses the whole index, naming both places)."""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np
import xxhash

from ..errors import InputError, Skipped
from .batch import Batch

__all__ = ["SeenIds", "first_of_each_id"]


class SeenIds:
    """The 128-bit hashes (xxh3_128) of the post ids seen so far, in sorted levels that merge as they
    grow (16 bytes per post; equal hashes of different ids: about n^2 / 2^129, never in practice)."""

    def __init__(self) -> None:
        self.levels: list[tuple[np.ndarray, np.ndarray]] = []  # (high, low) 64-bit halves, sorted

    @staticmethod
    def _halves(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        h = [xxhash.xxh3_128_intdigest(i.encode("utf-8")) for i in ids]
        return (np.fromiter((x >> 64 for x in h), dtype=np.uint64, count=len(h)),
                np.fromiter((x & 0xFFFFFFFFFFFFFFFF for x in h), dtype=np.uint64, count=len(h)))

    def first_seen(self, ids: Sequence[str]) -> np.ndarray:
        """Which of ``ids`` were not seen before (nor earlier in ``ids``); records them all."""
        high, low = self._halves(ids)
        order = np.lexsort((np.arange(len(ids)), low, high))  # equal ids together, first occurrence first
        hs, ls = high[order], low[order]
        new = np.ones(len(ids), dtype=bool)
        new[order[1:]] = (hs[1:] != hs[:-1]) | (ls[1:] != ls[:-1])
        for lh, ll in self.levels:
            lo, hi = np.searchsorted(lh, high, "left"), np.searchsorted(lh, high, "right")
            for i in np.flatnonzero(hi > lo).tolist():  # same high half: compare the low halves
                if (ll[lo[i] : hi[i]] == low[i]).any():
                    new[i] = False
        keep = order[new[order]]
        self.levels.append((high[keep], low[keep]))
        while len(self.levels) > 1 and len(self.levels[-1][0]) * 2 >= len(self.levels[-2][0]):
            (h1, l1), (h2, l2) = self.levels.pop(), self.levels.pop()
            h, lw = np.concatenate([h2, h1]), np.concatenate([l2, l1])
            o = np.lexsort((lw, h))
            self.levels.append((h[o], lw[o]))
        return new


def first_of_each_id(batches: Iterable[Batch], skipped: Skipped, earlier: Sequence[str] = ()) -> Iterator[Batch]:
    """The batches without the posts whose id an earlier post (or ``earlier``, e.g. the ids of the
    index appended to) has; those are counted in ``skipped`` as ``duplicate_id``."""
    seen = SeenIds()
    if len(earlier):
        seen.first_seen(earlier)
    for batch in batches:
        new = seen.first_seen(batch.ids)
        if new.all():
            yield batch
            continue
        for i in np.flatnonzero(~new).tolist():
            skipped.add(InputError(f"{batch.source}:{batch.rows[i]}: duplicate post id {batch.ids[i]!r} (an earlier "
                                   "post has it; this one is left out)", kind="duplicate_id"))
        if new.any():
            yield batch.subset(np.flatnonzero(new).tolist())
