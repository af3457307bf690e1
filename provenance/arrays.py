"""Array kernels shared by the stages: ranges expanded, sorts and distinct values, all with numpy.

Small pure functions, arrays in and arrays out (numpy 2.4's ``np.unique`` and stable ``argsort`` are
slow on the sizes a scan or build meets; these are the ways around them)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["expand_ranges", "narrowest_uint", "sorted_unique", "stable_argsort"]


def expand_ranges(starts: NDArray[np.int64], counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenate ``arange(s, s + c)`` for every pair; int64 ``(counts.sum(),)``. The inputs may be of
    any integer dtype (an index stores offsets as narrow as they fit); the arithmetic is int64."""
    starts = np.asarray(starts).astype(np.int64, copy=False)
    counts = np.asarray(counts).astype(np.int64, copy=False)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.repeat(starts - (ends - counts), counts) + np.arange(total, dtype=np.int64)


def narrowest_uint(largest: int) -> np.dtype:
    """The narrowest of uint8, uint16 and uint32 that holds every value from 0 to ``largest``, else int64
    (the dtypes an index's narrow arrays are stored in; the ``.npy`` header names it)."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if largest <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def stable_argsort(values: NDArray[np.uint64]) -> NDArray[np.int64]:
    """``np.argsort(values, kind="stable")`` for uint64 values, several times faster.

    The row numbers replace the values' lowest bits and one plain ``np.sort`` orders the packed
    words: rows come out sorted by their top bits and, among equal top bits, in row order. Where the
    full values then come out in order too (always, but for two values that differ only in their
    low bits, which is rare for hashes) that is the stable order; otherwise the stable argsort runs.
    """
    n = len(values)
    row_bits = max(int(n - 1).bit_length(), 1)
    if n < 2 or row_bits > 32:
        return np.argsort(values, kind="stable")
    low = np.uint64((1 << row_bits) - 1)
    values = np.ascontiguousarray(values)  # (a field of records: read once, then gathered from)
    packed = values & ~low
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    packed &= low
    order = packed.astype(np.int64)
    ordered = values[order]
    if (ordered[1:] < ordered[:-1]).any():
        return np.argsort(values, kind="stable")
    return order


def sorted_unique(values: NDArray, return_counts: bool = False):
    """``np.unique(values)`` (and its ``return_counts``) of a 1-D integer array, by one sort: numpy
    2.4's ``np.unique`` takes time growing faster than the length (seconds for a million values)."""
    ordered = np.sort(values)
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(ordered) else np.zeros(0, dtype=np.int64)
    if return_counts:
        return ordered[first], np.diff(np.r_[first, len(ordered)])
    return ordered[first]
