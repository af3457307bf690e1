"""Tokens → word n-gram hashes, a whole batch of texts at a time.

The hashes are those :mod:`provenance.text.hashing` defines. Tokens are hashed through a vocabulary cache (:class:`TokenHasher`): every token of a batch is looked
up at once in a numpy hash table, and xxhash (or keyed BLAKE2b) runs once per new word, not once per
token. Tokens come from :mod:`provenance.text.vectorized` as byte ranges of one buffer; shingles are
never materialized as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import polars as pl
import xxhash
from numpy.typing import NDArray

from .hashing import FOLD_MUL, bytes_hasher, combine, finisher, fmix64
from .normalize import TOKEN_RE, normalize_batch

if TYPE_CHECKING:
    from ..keys import Key

__all__ = ["ShingleBatch", "TokenHasher", "batch_shingles", "tokenize_batch"]


_K1, _K2 = np.uint64(0x9FB21C651E98DF25), np.uint64(0xD6E8FEB86659FD93)
_WORD_MASK = np.array([(1 << (8 * m)) - 1 for m in range(8)] + [(1 << 64) - 1], dtype=np.uint64)
_LONG_TOKEN = 64
"""Tokens longer than this (bytes) get their cache keys from xxhash, one call each (they are rare)."""


def _word_keys(data: NDArray[np.uint8], starts: NDArray[np.int64],
               ends: NDArray[np.int64]) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
    """Cache key and check of each token ``data[starts[i]:ends[i]]``; uint64 ``(len(starts),)`` each.

    A token of at most 8 bytes is its own key: its bytes as a little-endian word, zero-filled (no
    token holds a zero byte, so no two tokens share it), with check 0. A longer token's key and
    check are two independent 64-bit hashes of its 8-byte words and its length, both odd. No key is
    0, the table's mark of an empty slot.
    ``data`` must have 8 readable bytes past every token end.
    """
    lengths = (ends - starts).astype(np.int64)
    words = np.ndarray((max(len(data) - 7, 0),), dtype="<u8", buffer=data, strides=(1,))
    keys = words[starts]
    keys &= _WORD_MASK[np.minimum(lengths, 8)]
    checks = np.zeros(len(starts), dtype=np.uint64)
    longer = np.flatnonzero(lengths > 8)
    if not len(longer):
        return keys, checks
    k1 = lengths[longer].astype(np.uint64) * _K1
    k2 = lengths[longer].astype(np.uint64) * _K2
    at, left, live = starts[longer], lengths[longer], np.arange(len(longer))
    while len(live):
        w = words[at] & _WORD_MASK[np.minimum(left, 8)]
        a = (k1[live] ^ w) * FOLD_MUL
        b = (k2[live] ^ w) * _K1
        k1[live] = a ^ (a >> np.uint64(29))
        k2[live] = b ^ (b >> np.uint64(31))
        more = (left > 8) & (left <= _LONG_TOKEN)
        live, at, left = live[more], at[more] + 8, left[more] - 8
    keys[longer], checks[longer] = fmix64(k1) | np.uint64(1), fmix64(k2) | np.uint64(1)
    very_long = np.flatnonzero(lengths > _LONG_TOKEN)
    if len(very_long):
        raw = data.tobytes()
        spans = list(zip(starts[very_long].tolist(), ends[very_long].tolist()))
        keys[very_long] = [xxhash.xxh3_64_intdigest(raw[s:e], 1) | 1 for s, e in spans]
        checks[very_long] = [xxhash.xxh3_64_intdigest(raw[s:e], 2) | 1 for s, e in spans]
    return keys, checks


class TokenHasher:
    """Maps tokens to ``xxh3_64(token, seed)`` (with ``key``: their keyed BLAKE2b) through a bounded
    vocabulary cache.

    Tokens come as byte ranges of one UTF-8 buffer (:meth:`hash_tokens`). The cache is an
    open-addressing hash table in numpy arrays. Its key and its check are two independent 64-bit
    hashes of a token's bytes, computed for all tokens at once from the token's 8-byte words
    (:func:`_word_keys`; stable within one process, never stored). Only tokens not seen before are
    hashed with xxhash (or BLAKE2b), one Python call per new word. Should two words ever agree on the
    key, the check sees it and the batch is hashed word by word instead.
    """

    _MIN_SLOTS = 1 << 16

    def __init__(self, seed: int = 0, max_vocab: int = 2_000_000, key: "Key | bytes | None" = None) -> None:
        self.seed = seed
        self.keyed = key is not None
        self._digest = bytes_hasher(seed, key)
        self.finish = finisher(key)
        """The last step of shingle hashes and exact keys (pass it to :func:`sequence_keys`)."""
        self.max_vocab = max_vocab
        self._clear(self._MIN_SLOTS)

    def _clear(self, slots: int) -> None:
        self._table = np.zeros((slots, 3), dtype=np.uint64)  # key (0: empty), check, value
        self._count = 0

    @property
    def _keys(self) -> NDArray[np.uint64]:
        return self._table[:, 0]

    def hash_series(self, tokens: pl.Series) -> NDArray[np.uint64]:
        """Hash a polars String series of tokens; returns uint64 of shape ``(len(tokens),)``."""
        from .vectorized import to_buffer

        buf = to_buffer(tokens.to_list())
        return self.hash_tokens(buf.data, buf.offsets[:-1], buf.offsets[1:])

    def hash_tokens(self, data: NDArray[np.uint8], starts: NDArray[np.int64],
                    ends: NDArray[np.int64]) -> NDArray[np.uint64]:
        """Hash the tokens ``data[starts[i]:ends[i]]`` (UTF-8 bytes; ``data`` followed by at least 8
        readable bytes, as :class:`provenance.text.vectorized.TextBuffer` has); returns uint64
        ``(len(starts),)``."""
        if len(starts) == 0:
            return np.zeros(0, dtype=np.uint64)
        keys, checks = self._cache_keys(data, starts, ends)
        rows, found = self._lookup(keys)
        if (found & (rows[:, 1] != checks)).any():  # a key shared by two words
            return self._hash_words(data, starts, ends)
        values = np.ascontiguousarray(rows[:, 2])
        missing = np.flatnonzero(~found)
        if len(missing):
            new_keys, first, inverse = np.unique(keys[missing], return_index=True, return_inverse=True)
            first = missing[first]
            if (checks[missing] != checks[first][inverse]).any():  # two new words share a key
                return self._hash_words(data, starts, ends)
            if self._count and self._count + len(new_keys) > self.max_vocab:
                self._clear(self._MIN_SLOTS)  # start over; this batch's words all become new
                return self.hash_tokens(data, starts, ends)
            new_values = self._hash_words(data, starts[first], ends[first])
            self._insert(new_keys, checks[first], new_values)
            values[missing] = new_values[inverse]
        return values

    def _cache_keys(self, data: NDArray[np.uint8], starts: NDArray[np.int64],
                    ends: NDArray[np.int64]) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]:
        """Per token: the cache key and its check (:func:`_word_keys`)."""
        return _word_keys(data, starts, ends)

    def _hash_words(self, data: NDArray[np.uint8], starts: NDArray[np.int64], ends: NDArray[np.int64]) -> NDArray[np.uint64]:
        raw = data.tobytes() if len(starts) > 64 else None
        if raw is None:
            return self._digest([data[s:e].tobytes() for s, e in zip(starts.tolist(), ends.tolist())])
        return self._digest([raw[s:e] for s, e in zip(starts.tolist(), ends.tolist())])

    def _slot(self, keys: NDArray[np.uint64]) -> NDArray[np.int64]:
        """Each key's first slot: the top bits of the key times an odd constant (Fibonacci hashing:
        keys that are short words differ in their high bytes only)."""
        bits = len(self._keys).bit_length() - 1
        return ((keys * _K1) >> np.uint64(64 - bits)).astype(np.int64)

    def _lookup(self, keys: NDArray[np.uint64]) -> tuple[NDArray[np.uint64], NDArray[np.bool_]]:
        """The table rows (key, check, value) where ``keys`` are, or the empty rows where they would
        go, and which were found; linear probing, all keys at once."""
        mask = len(self._table) - 1
        slot = self._slot(keys)
        rows = np.take(self._table, slot, axis=0)  # one row per key: the three columns in one read
        found = rows[:, 0] == keys  # most tokens: found at their first slot
        pending = np.flatnonzero(~found & (rows[:, 0] != 0))  # another key's slot: look further
        while len(pending):
            slot[pending] = (slot[pending] + 1) & mask
            rows[pending] = np.take(self._table, slot[pending], axis=0)
            hit = rows[pending, 0] == keys[pending]
            found[pending[hit]] = True
            pending = pending[~hit & (rows[pending, 0] != 0)]
        return rows, found

    def _insert(self, keys: NDArray[np.uint64], checks: NDArray[np.uint64], values: NDArray[np.uint64]) -> None:
        """Insert distinct keys not in the table; grows the table to keep it at most half full."""
        if 2 * (self._count + len(keys)) > len(self._table):
            old = self._table[self._table[:, 0] != 0]
            new = np.stack([keys, checks, values], axis=1)
            slots = len(self._table)
            while 2 * (len(old) + len(new)) > slots:
                slots *= 2
            self._clear(slots)
            both = np.concatenate([old, new])
            keys, checks, values = both[:, 0], both[:, 1], both[:, 2]
        mask = len(self._table) - 1
        slot = self._slot(keys)
        pending = np.arange(len(keys))
        while len(pending):
            s = slot[pending]
            free = self._table[s, 0] == 0
            # Of the keys aiming at the same free slot, the first takes it.
            _, first = np.unique(s, return_index=True)
            take = np.zeros(len(pending), dtype=bool)
            take[first] = True
            take &= free
            k, t = pending[take], s[take]
            self._table[t, 0], self._table[t, 1], self._table[t, 2] = keys[k], checks[k], values[k]
            pending = pending[~take]
            slot[pending] = (slot[pending] + 1) & mask
        self._count += len(keys)


@dataclass(frozen=True)
class ShingleBatch:
    """Shingle hashes of a batch of texts, in CSR layout.

    ``hashes``: uint64 ``(s,)``, the n-gram hashes of text ``j`` at ``hashes[offsets[j]:offsets[j+1]]``
    in token order (shingle ``i`` of a text starts at its token ``i``); ``offsets``: int64 ``(k+1,)``;
    ``n_tokens``: int64 ``(k,)`` tokens per text; ``token_hashes``: uint64 ``(t,)``, every token's hash,
    text after text (text ``j``'s from ``token_offsets[j]``); ``line_starts`` (only when asked for):
    bool ``(t,)``, the token is the first of its text or follows a line break; ``nospace``: bool
    ``(t,)``, the token is of a script written without spaces (a character bigram, or a character on
    its own), which the background model weighs by its characters
    (:mod:`provenance.text.background`).
    """

    hashes: NDArray[np.uint64]
    offsets: NDArray[np.int64]
    n_tokens: NDArray[np.int64]
    token_hashes: NDArray[np.uint64]
    line_starts: NDArray[np.bool_] | None = None
    nospace: NDArray[np.bool_] | None = None

    def of(self, j: int) -> NDArray[np.uint64]:
        return self.hashes[self.offsets[j] : self.offsets[j + 1]]

    def __getstate__(self) -> dict:
        # what a matcher made of the batch and kept with it (``_join``) is not sent with it
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    @property
    def token_offsets(self) -> NDArray[np.int64]:
        out = np.zeros(len(self.n_tokens) + 1, dtype=np.int64)
        np.cumsum(self.n_tokens, out=out[1:])
        return out

    def docs(self, a: int, b: int) -> "ShingleBatch":
        """Texts ``a .. b-1`` as a batch of their own (text ``a`` becomes text 0)."""
        t = self.token_offsets
        lo, hi = int(self.offsets[a]), int(self.offsets[b])
        return ShingleBatch(self.hashes[lo:hi], self.offsets[a : b + 1] - lo, self.n_tokens[a:b],
                            self.token_hashes[t[a] : t[b]],
                            self.line_starts[t[a] : t[b]] if self.line_starts is not None else None,
                            self.nospace[t[a] : t[b]] if self.nospace is not None else None)


_LINE_BREAK = "\n"


def tokenize_batch(normalized: Sequence[str], lines: bool = False) -> tuple[pl.Series, NDArray[np.int64]]:
    """Tokens of already-normalized texts: a flat String series and int64 counts per text ``(k,)``.

    With ``lines``, every line break is a token of its own (``"\\n"``) and is counted.
    """
    pattern = TOKEN_RE.pattern + ("|\n" if lines else "")
    lists = pl.Series("t", normalized, dtype=pl.String).str.extract_all(pattern)
    counts = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    return lists.explode().drop_nulls(), counts


def batch_shingles(texts: Sequence[str], n: int, hasher: TokenHasher, *, normalized: bool = False,
                   lines: bool = False, vectorized: bool = True) -> ShingleBatch:
    """Normalize, tokenize and hash all word ``n``-grams of ``texts`` in one vectorized pass.

    With ``lines``, the batch also records where lines start (``ShingleBatch.line_starts``).
    ``normalized``: the texts are outputs of :func:`provenance.text.normalize.normalize` already (so every
    non-ASCII character in them is a letter or a decimal digit). ``vectorized=False`` normalizes text by text with the reference normalizer
    (:func:`provenance.text.normalize.normalize_batch`) and tokenizes with polars instead of
    :mod:`provenance.text.vectorized`; the result is the same.
    """
    from .nospace import nospace_tokens
    from .vectorized import normalize_buffer, to_buffer, tokenize

    if vectorized:
        buf = to_buffer(texts) if normalized else normalize_buffer(texts)
        toks = tokenize(buf, lines)
        token_hashes = hasher.hash_tokens(buf.data, toks.starts, toks.ends)
        return _shingles(token_hashes, toks.counts, n, hasher, toks.line_starts, nospace_tokens(buf.data, toks.starts))
    norm = list(texts) if normalized else normalize_batch(texts)
    tokens, n_tokens = tokenize_batch(norm, lines)
    line_starts = None
    if lines:
        is_break = (tokens == _LINE_BREAK).to_numpy()
        text_of = np.repeat(np.arange(len(n_tokens)), n_tokens)
        if is_break.any():
            word = ~is_break
            n_tokens = np.bincount(text_of[word], minlength=len(n_tokens)).astype(np.int64)
            breaks_before = np.cumsum(is_break)[word]
            tokens, text_of = tokens.filter(pl.Series(word)), text_of[word]
        else:
            breaks_before = np.zeros(len(tokens), dtype=np.int64)
        # A line is a run of tokens with the same text and the same number of breaks before them.
        line_starts = np.ones(len(tokens), dtype=bool)
        line_starts[1:] = (text_of[1:] != text_of[:-1]) | (breaks_before[1:] != breaks_before[:-1])
    words = to_buffer(tokens.to_list())
    return _shingles(hasher.hash_tokens(words.data, words.offsets[:-1], words.offsets[1:]), n_tokens, n, hasher,
                     line_starts, nospace_tokens(words.data, words.offsets[:-1]))


def _shingles(token_hashes: NDArray[np.uint64], n_tokens: NDArray[np.int64], n: int, hasher: TokenHasher,
              line_starts: NDArray[np.bool_] | None, nospace: NDArray[np.bool_]) -> ShingleBatch:
    """The batch's ``n``-gram hashes from its token hashes (text after text, ``n_tokens`` each)."""
    all_grams = combine(token_hashes, n, hasher.finish)
    per_text = np.maximum(n_tokens - n + 1, 0)
    offsets = np.zeros(len(per_text) + 1, dtype=np.int64)
    np.cumsum(per_text, out=offsets[1:])
    if len(all_grams) == 0 or offsets[-1] == 0:
        return ShingleBatch(np.zeros(0, dtype=np.uint64), offsets, n_tokens, token_hashes, line_starts, nospace)
    # n-gram i of text j sits at global token index tok_start[j] + i; keep those inside the text.
    tok_start = np.zeros(len(n_tokens), dtype=np.int64)
    np.cumsum(n_tokens[:-1], out=tok_start[1:])
    starts = np.repeat(tok_start, per_text) + (np.arange(offsets[-1]) - np.repeat(offsets[:-1], per_text))
    return ShingleBatch(all_grams[starts], offsets, n_tokens, token_hashes, line_starts, nospace)
