"""MinHash signatures and LSH band keys, vectorized over many sets at once.

We follow datasketch 2.x's default permutation scheme, ``"affine32"``: the 32-bit input hash ``h``
is pre-mixed with the 32-bit MurmurHash3 finalizer, then permutation ``k`` maps it to
``a_k * h + b_k mod 2^32`` (``a_k`` odd), and the signature keeps the minimum per permutation.
``a`` and ``b`` come from ``numpy.random.RandomState(seed)`` exactly as in
``datasketch.MinHash._init_permutations``, so for the same ``num_perm``, ``seed`` and input hash our
signatures equal ``datasketch.MinHash(num_perm, seed, hashfunc=..., scheme="affine32")`` bit for bit
(the tests check this with datasketch as the oracle). The input hash of a shingle is the low 32 bits
of its 64-bit shingle hash (:mod:`provenance.text.hashing`).

Signatures are laid out ``(num_perm, n_sets)`` and reduced with ``np.minimum.reduceat`` along axis 1.
An empty set gets the all-``0xFFFFFFFF`` signature, as datasketch's empty MinHash.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ..text.hashing import FOLD_INIT, fmix64, fold_step

__all__ = ["SCHEME", "KNOWN_LSH_PARAMS", "permutations", "minhash", "lsh_params", "band_keys"]

SCHEME = "affine32"
_EMPTY = np.uint32(0xFFFFFFFF)


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[NDArray[np.uint32], NDArray[np.uint32]]:
    """The ``(a, b)`` permutation parameters of datasketch's affine32 scheme, each uint32 ``(num_perm,)``."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def _fmix32(h: NDArray[np.uint32]) -> NDArray[np.uint32]:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def minhash(
    hashes: NDArray[np.uint64],
    offsets: NDArray[np.int64],
    num_perm: int,
    seed: int,
    *,
    chunk: int = 8192,
) -> NDArray[np.uint32]:
    """MinHash signatures of many sets given in CSR layout.

    Args:
        hashes: uint64 ``(s,)`` shingle hashes; set ``j`` is ``hashes[offsets[j]:offsets[j+1]]``
            (duplicates allowed, they do not change a MinHash).
        offsets: int64 ``(k+1,)``, non-decreasing, ``offsets[0] == 0``.
        num_perm, seed: as datasketch's ``MinHash``.
        chunk: columns (shingles) processed at once; bounds the ``(num_perm, chunk)`` work array.

    Returns:
        uint32 ``(num_perm, k)``.
    """
    a, b = permutations(num_perm, seed)
    k = len(offsets) - 1
    sig = np.full((num_perm, k), _EMPTY, dtype=np.uint32)
    lengths = np.diff(offsets)
    nonempty = np.flatnonzero(lengths > 0)
    if len(nonempty) == 0:
        return sig
    hv = _fmix32(hashes.astype(np.uint32))
    work = np.empty((num_perm, chunk), dtype=np.uint32)
    a, b = a[:, None], b[:, None]
    # Walk the non-empty sets in groups whose shingles fit one chunk (a set larger than a chunk is
    # a group of its own).
    lo = 0
    while lo < len(nonempty):
        start = offsets[nonempty[lo]]
        hi = int(np.searchsorted(offsets[nonempty + 1], start + chunk, side="right"))
        hi = max(hi, lo + 1)
        sets = nonempty[lo:hi]
        stop = offsets[sets[-1] + 1]
        phv = work[:, : stop - start] if stop - start <= chunk else np.empty((num_perm, stop - start), dtype=np.uint32)
        np.multiply(a, hv[None, start:stop], out=phv)
        phv += b
        sig[:, sets] = np.minimum.reduceat(phv, offsets[sets] - start, axis=1)
        lo = hi
    return sig


KNOWN_LSH_PARAMS = {(0.5, 128): (25, 5)}
""":func:`lsh_params` of the default parameters, as datasketch gives them (a test checks each): a
build with the defaults need not import datasketch, whose scipy takes about a second to load."""


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands ``b`` and rows ``r`` for a Jaccard threshold: datasketch's ``_optimal_param`` with equal
    false-positive and false-negative weights (the ``MinHashLSH`` defaults)."""
    if (threshold, num_perm) in KNOWN_LSH_PARAMS:
        return KNOWN_LSH_PARAMS[threshold, num_perm]
    from datasketch.lsh import _optimal_param

    b, r = _optimal_param(threshold, num_perm, 0.5, 0.5)
    return int(b), int(r)


def band_keys(sig: NDArray[np.uint32], bands: int, rows: int) -> NDArray[np.uint64]:
    """One uint64 key per band and set: shape ``(bands, k)`` from a ``(num_perm, k)`` signature.

    Band ``i`` hashes rows ``i*rows … (i+1)*rows-1`` (datasketch's ``hashranges``) together with ``i``,
    so equal keys in the same band mean equal band values (up to 64-bit hash collisions). This is
    :func:`provenance.text.hashing.fold_rows` of each band's rows with salt ``i``, all bands at once.
    """
    k = sig.shape[1]
    by_band = sig[: bands * rows].reshape(bands, rows, k)
    acc = fold_step(np.full((bands, k), FOLD_INIT, dtype=np.uint64), np.arange(bands, dtype=np.uint64)[:, None])
    tmp = np.empty_like(acc)
    for j in range(rows):
        fold_step(acc, by_band[:, j].astype(np.uint64), out=acc, tmp=tmp)
    return fmix64(acc)
