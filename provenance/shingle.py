"""Tokens → word n-gram hashes, a whole batch of texts at a time.

Hash definition (pinned by ``HASH_NAME`` in the index manifest):

* a token's hash is ``xxh3_64(token.encode("utf-8"), seed)``; in a keyed index (``--key-file``) it is
  instead the keyed BLAKE2b ``blake2b(token.encode("utf-8"), key=subkey, digest_size=8)`` read as a
  little-endian uint64, with ``subkey`` derived from the secret key (:func:`provenance.keys.token_subkey`),
  and ``seed`` then only seeds the MinHash permutations (``KEYED_HASH_NAME`` in the manifest). xxh3 with
  a secret seed would not do: it is no pseudo-random function, and one known (token, hash) pair gives
  its seed away; keyed BLAKE2b is one, and it runs once per new word only (the vocabulary cache below);
* the hash of the n-gram ``t_0 … t_{n-1}`` folds the token hashes in order,
  ``acc = C; acc = rotl64((acc ^ h_i) * P, 29)`` for each ``i``, then the 64-bit MurmurHash3
  finalizer of ``acc``; in a keyed index, SipHash-2-4 of ``acc`` (its 8 little-endian bytes) under a
  second subkey (:func:`provenance.keys.shingle_subkey`) instead. :func:`shingle_hash` is the
  one-shingle reference implementation (used by the tests and as the ``hashfunc`` handed to
  datasketch); :func:`batch_shingles` computes the same values for a whole batch with numpy.

* the *exact key* of a whole token sequence (a short post, a line of a document) folds its token hashes
  the same way, after first folding in the sequence's length, and is finished the same way:
  :func:`text_key` (reference) and :func:`sequence_keys` (vectorized).

Why a keyed finish: the fold and fmix64 are public bijections, so from a stored hash anyone can compute
``A(t_0 … t_{n-2}) ^ h(t_{n-1})``; four shingles "a b c", "a b d", "e f c", "e f d" then XOR to zero
whatever the token hashes, which gives away which shingles share words (measured: tens of thousands
of such quadruples among the 6,000 most common shingles of 155,162 tweets). SipHash-2-4, a
pseudo-random function vectorized here with numpy, removes that structure; it costs about 30 ns per
shingle.

Tokens are hashed through a vocabulary cache (:class:`TokenHasher`): every token of a batch is looked
up at once in a numpy hash table, and xxhash (or keyed BLAKE2b) runs once per new word, not once per
token. Tokens come from :mod:`provenance.text.vectorized` as byte ranges of one buffer; shingles are
never materialized as strings.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import polars as pl
import xxhash
from numpy.typing import NDArray

from .keys import as_key, shingle_subkey, token_subkey
from .normalize import TOKEN_RE, normalize_batch

if TYPE_CHECKING:
    from .keys import Key

__all__ = ["HASH_NAME", "KEYED_HASH_NAME", "ShingleBatch", "TokenHasher", "batch_shingles", "shingle_hash", "token_hash",
           "combine", "fold_rows", "text_key", "sequence_keys", "siphash24"]

HASH_NAME = "xxh3_64-token+rotl29-fold+fmix64/v2"
KEYED_HASH_NAME = "keyed:blake2b64-token+rotl29-fold+siphash24/v1"


def bytes_hasher(seed: int = 0, key: "Key | bytes | None" = None) -> Callable[[Sequence[bytes]], NDArray[np.uint64]]:
    """The token hash as a function of a list of UTF-8 encoded words → uint64 ``(len(words),)``:
    ``xxh3_64(word, seed)``, or with ``key`` the keyed BLAKE2b of the word (see the module docstring)."""
    k = as_key(key)
    if k is None:
        digest = xxhash.xxh3_64_intdigest
        return lambda words: np.fromiter((digest(w, seed) for w in words), dtype=np.uint64, count=len(words))
    subkey, blake2b = token_subkey(k.secret), hashlib.blake2b

    def keyed(words: Sequence[bytes]) -> NDArray[np.uint64]:
        raw = b"".join([blake2b(w, key=subkey, digest_size=8).digest() for w in words])
        return np.frombuffer(raw, dtype="<u8").astype(np.uint64)

    return keyed


def words_hasher(seed: int = 0, key: "Key | bytes | None" = None) -> Callable[[Sequence[str]], NDArray[np.uint64]]:
    """:func:`bytes_hasher` for words given as ``str``."""
    digest = bytes_hasher(seed, key)
    return lambda words: digest([w.encode("utf-8") for w in words])


# ------------------------------------------------------------------------------------------ SipHash-2-4

_MASK = (1 << 64) - 1
_SIP_INIT = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)


def _rotl_int(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def _sipround_int(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK; v1 = _rotl_int(v1, 13) ^ v0; v0 = _rotl_int(v0, 32)  # noqa: E702
    v2 = (v2 + v3) & _MASK; v3 = _rotl_int(v3, 16) ^ v2  # noqa: E702
    v0 = (v0 + v3) & _MASK; v3 = _rotl_int(v3, 21) ^ v0  # noqa: E702
    v2 = (v2 + v1) & _MASK; v1 = _rotl_int(v1, 17) ^ v2; v2 = _rotl_int(v2, 32)  # noqa: E702
    return v0, v1, v2, v3


def siphash24_bytes(key: bytes, message: bytes) -> int:
    """SipHash-2-4 of ``message`` under the 16-byte ``key`` (Aumasson and Bernstein's reference
    algorithm, pure Python: the reference the vectorized :func:`siphash24` is tested against)."""
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:16], "little")
    v = (k0 ^ _SIP_INIT[0], k1 ^ _SIP_INIT[1], k0 ^ _SIP_INIT[2], k1 ^ _SIP_INIT[3])
    whole = len(message) // 8 * 8
    blocks = [int.from_bytes(message[i : i + 8], "little") for i in range(0, whole, 8)]
    blocks.append(((len(message) & 0xFF) << 56) | int.from_bytes(message[whole:], "little"))
    for m in blocks:
        v = (v[0], v[1], v[2], v[3] ^ m)
        for _ in range(2):
            v = _sipround_int(*v)
        v = (v[0] ^ m, v[1], v[2], v[3])
    v = (v[0], v[1], v[2] ^ 0xFF, v[3])
    for _ in range(4):
        v = _sipround_int(*v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


_SIP_CHUNK = 1 << 14  # values per step: the four state arrays stay in the CPU cache


def siphash24(values: NDArray[np.uint64], key: bytes) -> NDArray[np.uint64]:
    """SipHash-2-4 of every uint64 of ``values`` (as its 8 little-endian bytes) under the 16-byte
    ``key``: ``siphash24_bytes(key, v.to_bytes(8, "little"))`` for each, with numpy."""
    out = np.empty(len(values), dtype=np.uint64)
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:16], "little")
    init = [np.uint64(k ^ c) for k, c in zip((k0, k1, k0, k1), _SIP_INIT)]
    last = np.uint64(8 << 56)
    for a in range(0, len(values), _SIP_CHUNK):
        m = np.asarray(values[a : a + _SIP_CHUNK], dtype=np.uint64)
        n = len(m)
        v0, v1, v2, v3 = (np.full(n, c, dtype=np.uint64) for c in init)
        t = np.empty(n, dtype=np.uint64)

        def rotl(x: NDArray[np.uint64], b: int) -> None:
            np.right_shift(x, np.uint64(64 - b), out=t)
            x <<= np.uint64(b)
            x |= t

        add, xor = np.add, np.bitwise_xor

        def rounds(k: int) -> None:  # (in place: the state arrays are the closure's)
            for _ in range(k):
                add(v0, v1, out=v0); rotl(v1, 13); xor(v1, v0, out=v1); rotl(v0, 32)  # noqa: E702
                add(v2, v3, out=v2); rotl(v3, 16); xor(v3, v2, out=v3)  # noqa: E702
                add(v0, v3, out=v0); rotl(v3, 21); xor(v3, v0, out=v3)  # noqa: E702
                add(v2, v1, out=v2); rotl(v1, 17); xor(v1, v2, out=v1); rotl(v2, 32)  # noqa: E702

        v3 ^= m
        rounds(2)
        v0 ^= m
        v3 ^= last  # the final block: the message length (8) in the top byte
        rounds(2)
        v0 ^= last
        v2 ^= np.uint64(0xFF)
        rounds(4)
        v0 ^= v1
        v0 ^= v2
        v0 ^= v3
        out[a : a + n] = v0
    return out


def finisher(key: "Key | bytes | None" = None) -> Callable[[NDArray[np.uint64]], NDArray[np.uint64]]:
    """The last step of a shingle hash or exact key, from the fold's accumulator: fmix64 (in place), or
    with ``key`` SipHash-2-4 under the key's shingle subkey."""
    k = as_key(key)
    if k is None:
        return _fmix64
    subkey = shingle_subkey(k.secret)
    return lambda acc: siphash24(acc, subkey)


def _finish_int(acc: int, key: "Key | bytes | None") -> int:
    k = as_key(key)
    if k is None:
        return _fmix64_int(acc)
    return siphash24_bytes(shingle_subkey(k.secret), acc.to_bytes(8, "little"))


def token_hash(token: str, seed: int = 0, key: "Key | bytes | None" = None) -> int:
    """Reference hash of one token (see the module docstring)."""
    return int(words_hasher(seed, key)([token])[0])

_C = np.uint64(0x9E3779B97F4A7C15)
_P = np.uint64(0xC2B2AE3D27D4EB4F)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
def _fmix64(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """MurmurHash3's 64-bit finalizer, in place on ``h`` (which it returns)."""
    h ^= h >> np.uint64(33)
    h *= _M1
    h ^= h >> np.uint64(33)
    h *= _M2
    h ^= h >> np.uint64(33)
    return h


def combine(token_hashes: NDArray[np.uint64], n: int,
            finish: Callable[[NDArray[np.uint64]], NDArray[np.uint64]] | None = None) -> NDArray[np.uint64]:
    """Hash every run of ``n`` consecutive values of ``token_hashes`` (uint64, shape ``(t,)``).

    Returns uint64 of shape ``(max(t - n + 1, 0),)``; element ``i`` hashes ``token_hashes[i:i+n]``.
    The caller drops runs that cross a text boundary. ``finish``: the last step (:func:`finisher`;
    default fmix64).
    """
    m = len(token_hashes) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    acc = np.full(m, _C, dtype=np.uint64)
    tmp = np.empty(m, dtype=np.uint64)
    for i in range(n):
        _fold_step(acc, token_hashes[i : i + m], out=acc, tmp=tmp)
    return (finish or _fmix64)(acc)


def _fold_step(acc: NDArray[np.uint64], values: NDArray[np.uint64] | np.uint64, *,
               out: NDArray[np.uint64] | None = None, tmp: NDArray[np.uint64] | None = None) -> NDArray[np.uint64]:
    """``rotl64((acc ^ values) * P, 29)``; with ``out`` and ``tmp`` (same shape as ``acc``) it allocates nothing."""
    x = np.bitwise_xor(acc, values, out=out)
    x *= _P
    t = np.right_shift(x, np.uint64(35), out=tmp)
    x <<= np.uint64(29)
    x |= t
    return x


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


def _fold_int(acc: int, value: int) -> int:
    acc = ((acc ^ value) * 0xC2B2AE3D27D4EB4F) & _MASK
    return ((acc << 29) | (acc >> 35)) & _MASK


def shingle_hash(tokens: Sequence[str], seed: int = 0, key: "Key | bytes | None" = None) -> int:
    """Reference hash of one n-gram given as its tokens (pure Python, for tests and datasketch);
    ``key`` for a keyed index."""
    acc = 0x9E3779B97F4A7C15
    for h in words_hasher(seed, key)(list(tokens)).tolist():
        acc = _fold_int(acc, h)
    return _finish_int(acc, key)


def text_key(tokens: Sequence[str], seed: int = 0, key: "Key | bytes | None" = None) -> int:
    """Exact-match key of a whole token sequence (reference): its length, then its token hashes, folded."""
    acc = _fold_int(0x9E3779B97F4A7C15, len(tokens))
    for h in words_hasher(seed, key)(list(tokens)).tolist():
        acc = _fold_int(acc, h)
    return _finish_int(acc, key)


def sequence_keys(token_hashes: NDArray[np.uint64], starts: NDArray[np.int64], lengths: NDArray[np.int64],
                  finish: Callable[[NDArray[np.uint64]], NDArray[np.uint64]] | None = None) -> NDArray[np.uint64]:
    """:func:`text_key` of every run ``token_hashes[starts[i]:starts[i] + lengths[i]]``; uint64 ``(k,)``.

    One numpy step per token position, over the runs still that long: meant for short runs.
    ``finish`` as in :func:`combine`.
    """
    # Longest runs first: the runs still that long at step i are then a prefix.
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    first, length = np.asarray(starts, dtype=np.int64)[order], np.asarray(lengths, dtype=np.int64)[order]
    live = np.searchsorted(-length, -np.arange(int(length[0]) if len(length) else 0), side="left")
    acc = _fold_step(np.full(len(starts), _C, dtype=np.uint64), length.astype(np.uint64))
    tmp = np.empty_like(acc)
    for i, m in enumerate(live.tolist()):
        _fold_step(acc[:m], token_hashes[first[:m] + i], out=acc[:m], tmp=tmp[:m])
    out = np.empty_like(acc)
    out[order] = (finish or _fmix64)(acc)
    return out


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
        a = (k1[live] ^ w) * _P
        b = (k2[live] ^ w) * _K1
        k1[live] = a ^ (a >> np.uint64(29))
        k2[live] = b ^ (b >> np.uint64(31))
        more = (left > 8) & (left <= _LONG_TOKEN)
        live, at, left = live[more], at[more] + 8, left[more] - 8
    keys[longer], checks[longer] = _fmix64(k1) | np.uint64(1), _fmix64(k2) | np.uint64(1)
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
        from .text.vectorized import to_buffer

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
    bool ``(t,)``, the token is the first of its text or follows a line break.
    """

    hashes: NDArray[np.uint64]
    offsets: NDArray[np.int64]
    n_tokens: NDArray[np.int64]
    token_hashes: NDArray[np.uint64]
    line_starts: NDArray[np.bool_] | None = None

    def of(self, j: int) -> NDArray[np.uint64]:
        return self.hashes[self.offsets[j] : self.offsets[j + 1]]

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
                            self.line_starts[t[a] : t[b]] if self.line_starts is not None else None)


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
    ``normalized``: the texts are outputs of :func:`provenance.normalize.normalize` already (so every
    non-ASCII character in them is a letter or a decimal digit). ``vectorized=False`` normalizes text by text with the reference normalizer
    (:func:`provenance.normalize.normalize_batch`) and tokenizes with polars instead of
    :mod:`provenance.text.vectorized`; the result is the same.
    """
    from .text.vectorized import normalize_buffer, to_buffer, tokenize

    if vectorized:
        buf = to_buffer(texts) if normalized else normalize_buffer(texts)
        toks = tokenize(buf, lines)
        token_hashes = hasher.hash_tokens(buf.data, toks.starts, toks.ends)
        return _shingles(token_hashes, toks.counts, n, hasher, toks.line_starts)
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
    return _shingles(hasher.hash_series(tokens), n_tokens, n, hasher, line_starts)


def _shingles(token_hashes: NDArray[np.uint64], n_tokens: NDArray[np.int64], n: int, hasher: TokenHasher,
              line_starts: NDArray[np.bool_] | None) -> ShingleBatch:
    """The batch's ``n``-gram hashes from its token hashes (text after text, ``n_tokens`` each)."""
    all_grams = combine(token_hashes, n, hasher.finish)
    per_text = np.maximum(n_tokens - n + 1, 0)
    offsets = np.zeros(len(per_text) + 1, dtype=np.int64)
    np.cumsum(per_text, out=offsets[1:])
    if len(all_grams) == 0 or offsets[-1] == 0:
        return ShingleBatch(np.zeros(0, dtype=np.uint64), offsets, n_tokens, token_hashes, line_starts)
    # n-gram i of text j sits at global token index tok_start[j] + i; keep those inside the text.
    tok_start = np.zeros(len(n_tokens), dtype=np.int64)
    np.cumsum(n_tokens[:-1], out=tok_start[1:])
    starts = np.repeat(tok_start, per_text) + (np.arange(offsets[-1]) - np.repeat(offsets[:-1], per_text))
    return ShingleBatch(all_grams[starts], offsets, n_tokens, token_hashes, line_starts)
