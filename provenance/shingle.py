"""Tokens → word n-gram hashes, a whole batch of texts at a time.

Hash definition (pinned by ``HASH_NAME`` in the index manifest):

* a token's hash is ``xxh3_64(token.encode("utf-8"), seed)``;
* the hash of the n-gram ``t_0 … t_{n-1}`` folds the token hashes in order,
  ``acc = C; acc = rotl64((acc ^ h_i) * P, 29)`` for each ``i``, then the 64-bit MurmurHash3
  finalizer of ``acc``. :func:`shingle_hash` is the one-shingle reference implementation (used by the
  tests and as the ``hashfunc`` handed to datasketch); :func:`batch_shingles` computes the same
  values for a whole batch with numpy.

Tokens are hashed through a vocabulary cache: a batch's distinct tokens are looked up in a dict
(xxhash runs once per new word, not once per token) and mapped back onto every token by polars.
Shingles are never materialized as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import polars as pl
import xxhash
from numpy.typing import NDArray

from .normalize import TOKEN_RE, normalize

__all__ = ["HASH_NAME", "ShingleBatch", "TokenHasher", "batch_shingles", "shingle_hash", "combine", "fold_rows", "text_key"]

HASH_NAME = "xxh3_64-token+rotl29-fold+fmix64/v1"

_C = np.uint64(0x9E3779B97F4A7C15)
_P = np.uint64(0xC2B2AE3D27D4EB4F)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_MASK = (1 << 64) - 1


def _fmix64(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    h = h ^ (h >> np.uint64(33))
    h = h * _M1
    h = h ^ (h >> np.uint64(33))
    h = h * _M2
    return h ^ (h >> np.uint64(33))


def combine(token_hashes: NDArray[np.uint64], n: int) -> NDArray[np.uint64]:
    """Hash every run of ``n`` consecutive values of ``token_hashes`` (uint64, shape ``(t,)``).

    Returns uint64 of shape ``(max(t - n + 1, 0),)``; element ``i`` hashes ``token_hashes[i:i+n]``.
    The caller drops runs that cross a text boundary.
    """
    m = len(token_hashes) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    acc = np.full(m, _C, dtype=np.uint64)
    for i in range(n):
        acc = _fold_step(acc, token_hashes[i : i + m])
    return _fmix64(acc)


def _fold_step(acc: NDArray[np.uint64], values: NDArray[np.uint64]) -> NDArray[np.uint64]:
    acc = (acc ^ values) * _P
    return (acc << np.uint64(29)) | (acc >> np.uint64(35))


def fold_rows(values: NDArray[np.uint64], salt: int = 0) -> NDArray[np.uint64]:
    """Hash each column of ``values`` (uint64 ``(r, k)``) with the n-gram fold; returns ``(k,)``.

    ``salt`` is folded in first, so equal columns under different salts hash differently.
    """
    acc = _fold_step(np.full(values.shape[1], _C, dtype=np.uint64), np.uint64(salt))
    for row in values:
        acc = _fold_step(acc, row)
    return _fmix64(acc)


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK
    return h ^ (h >> 33)


def shingle_hash(tokens: Sequence[str], seed: int = 0) -> int:
    """Reference hash of one n-gram given as its tokens (pure Python, for tests and datasketch)."""
    acc = 0x9E3779B97F4A7C15
    for t in tokens:
        acc = ((acc ^ xxhash.xxh3_64_intdigest(t.encode("utf-8"), seed)) * 0xC2B2AE3D27D4EB4F) & _MASK
        acc = ((acc << 29) | (acc >> 35)) & _MASK
    return _fmix64_int(acc)


def text_key(tokens: Sequence[str], seed: int = 0) -> int:
    """Hash of a whole token sequence (the exact-match key of short posts and lines)."""
    return xxhash.xxh3_64_intdigest(" ".join(tokens).encode("utf-8"), seed)


class TokenHasher:
    """Maps tokens to ``xxh3_64(token, seed)`` through a bounded vocabulary cache."""

    def __init__(self, seed: int = 0, max_vocab: int = 2_000_000) -> None:
        self.seed = seed
        self.max_vocab = max_vocab
        self._cache: dict[str, int] = {}

    def hash_series(self, tokens: pl.Series) -> NDArray[np.uint64]:
        """Hash a polars String series of tokens; returns uint64 of shape ``(len(tokens),)``."""
        if len(tokens) == 0:
            return np.zeros(0, dtype=np.uint64)
        uniq = tokens.unique()
        words = uniq.to_list()
        cache = self._cache
        if len(cache) + len(words) > self.max_vocab:
            cache.clear()
        seed = self.seed
        digest = xxhash.xxh3_64_intdigest
        values = []
        for w in words:
            h = cache.get(w)
            if h is None:
                h = cache[w] = digest(w.encode("utf-8"), seed)
            values.append(h)
        mapped = tokens.replace_strict(uniq, pl.Series(values, dtype=pl.UInt64), return_dtype=pl.UInt64)
        return mapped.to_numpy()


@dataclass(frozen=True)
class ShingleBatch:
    """Shingle hashes of a batch of texts, in CSR layout.

    ``hashes``: uint64 ``(s,)``, the n-gram hashes of text ``j`` at ``hashes[offsets[j]:offsets[j+1]]``
    in token order (shingle ``i`` of a text starts at its token ``i``); ``offsets``: int64 ``(k+1,)``;
    ``n_tokens``: int64 ``(k,)`` tokens per text.
    """

    hashes: NDArray[np.uint64]
    offsets: NDArray[np.int64]
    n_tokens: NDArray[np.int64]

    def of(self, j: int) -> NDArray[np.uint64]:
        return self.hashes[self.offsets[j] : self.offsets[j + 1]]


def tokenize_batch(normalized: Sequence[str]) -> tuple[pl.Series, NDArray[np.int64]]:
    """Tokens of already-normalized texts: a flat String series and int64 token counts ``(k,)``."""
    lists = pl.Series("t", normalized, dtype=pl.String).str.extract_all(TOKEN_RE.pattern)
    counts = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    return lists.explode().drop_nulls(), counts


def batch_shingles(texts: Sequence[str], n: int, hasher: TokenHasher, *, normalized: bool = False) -> ShingleBatch:
    """Normalize, tokenize and hash all word ``n``-grams of ``texts`` in one vectorized pass."""
    norm = list(texts) if normalized else [normalize(t) for t in texts]
    tokens, n_tokens = tokenize_batch(norm)
    token_hashes = hasher.hash_series(tokens)
    all_grams = combine(token_hashes, n)
    per_text = np.maximum(n_tokens - n + 1, 0)
    offsets = np.zeros(len(per_text) + 1, dtype=np.int64)
    np.cumsum(per_text, out=offsets[1:])
    if len(all_grams) == 0 or offsets[-1] == 0:
        return ShingleBatch(np.zeros(0, dtype=np.uint64), offsets, n_tokens)
    # n-gram i of text j sits at global token index tok_start[j] + i; keep those inside the text.
    tok_start = np.zeros(len(n_tokens), dtype=np.int64)
    np.cumsum(n_tokens[:-1], out=tok_start[1:])
    starts = np.repeat(tok_start, per_text) + (np.arange(offsets[-1]) - np.repeat(offsets[:-1], per_text))
    return ShingleBatch(all_grams[starts], offsets, n_tokens)
