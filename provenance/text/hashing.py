"""The hashes of tokens, word n-grams (shingles) and whole token sequences: their definition,
vectorized with numpy, and one-value references.

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
  datasketch); :func:`combine` computes the same values for many shingles at once with numpy.

* the *exact key* of a whole token sequence (a short post, a line of a document) folds its token hashes
  the same way, after first folding in the sequence's length, and is finished the same way:
  :func:`text_key` (reference) and :func:`sequence_keys` (vectorized).

Why a keyed finish: the fold and fmix64 are public bijections, so from a stored hash anyone can compute
``A(t_0 … t_{n-2}) ^ h(t_{n-1})``; four shingles "a b c", "a b d", "e f c", "e f d" then XOR to zero
whatever the token hashes, which gives away which shingles share words (measured: tens of thousands
of such quadruples among the 6,000 most common shingles of 155,162 tweets). SipHash-2-4, a
pseudo-random function vectorized here with numpy, removes that structure; it costs about 30 ns per
shingle.

:mod:`provenance.text.shingles` applies these definitions to whole batches of texts.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import xxhash
from numpy.typing import NDArray

from ..keys import as_key, shingle_subkey, token_subkey

if TYPE_CHECKING:
    from ..keys import Key

__all__ = ["HASH_NAME", "KEYED_HASH_NAME", "FOLD_INIT", "FOLD_MUL", "bytes_hasher", "words_hasher", "token_hash",
           "shingle_hash", "text_key", "combine", "fold_rows", "fold_step", "fmix64", "sequence_keys", "finisher",
           "siphash24", "siphash24_bytes", "CODE_NAME", "KEYED_CODE_NAME", "token_codes"]

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
        return fmix64
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

FOLD_INIT = np.uint64(0x9E3779B97F4A7C15)
FOLD_MUL = np.uint64(0xC2B2AE3D27D4EB4F)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
def fmix64(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
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
    acc = np.full(m, FOLD_INIT, dtype=np.uint64)
    tmp = np.empty(m, dtype=np.uint64)
    for i in range(n):
        fold_step(acc, token_hashes[i : i + m], out=acc, tmp=tmp)
    return (finish or fmix64)(acc)


def fold_step(acc: NDArray[np.uint64], values: NDArray[np.uint64] | np.uint64, *,
               out: NDArray[np.uint64] | None = None, tmp: NDArray[np.uint64] | None = None) -> NDArray[np.uint64]:
    """``rotl64((acc ^ values) * P, 29)``; with ``out`` and ``tmp`` (same shape as ``acc``) it allocates nothing."""
    x = np.bitwise_xor(acc, values, out=out)
    x *= FOLD_MUL
    t = np.right_shift(x, np.uint64(35), out=tmp)
    x <<= np.uint64(29)
    x |= t
    return x


def fold_rows(values: NDArray[np.uint64], salt: int = 0) -> NDArray[np.uint64]:
    """Hash each column of ``values`` (uint64 ``(r, k)``) with the n-gram fold; returns ``(k,)``.

    ``salt`` is folded in first, so equal columns under different salts hash differently.
    """
    acc = fold_step(np.full(values.shape[1], FOLD_INIT, dtype=np.uint64), np.uint64(salt))
    for row in values:
        acc = fold_step(acc, row)
    return fmix64(acc)


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
    acc = fold_step(np.full(len(starts), FOLD_INIT, dtype=np.uint64), length.astype(np.uint64))
    tmp = np.empty_like(acc)
    for i, m in enumerate(live.tolist()):
        fold_step(acc[:m], token_hashes[first[:m] + i], out=acc[:m], tmp=tmp[:m])
    out = np.empty_like(acc)
    out[order] = (finish or fmix64)(acc)
    return out


CODE_NAME = "low32(token-hash)/v1"
KEYED_CODE_NAME = "keyed:low32(siphash24(token-hash ^ post * 0x9E3779B97F4A7C15))/v1"
"""The token codes' definitions, pinned in the index manifest (the alignment's view of a post's words)."""
_LOW32 = np.uint64(0xFFFFFFFF)
_POST_MIX = np.uint64(0x9E3779B97F4A7C15)


def token_codes(hashes: NDArray[np.uint64], posts: NDArray[np.integer], subkey: bytes | None) -> NDArray[np.uint32]:
    """The alignment code of each token hash: its low 32 bits, or with ``subkey`` (a keyed index) the
    low 32 bits of SipHash-2-4 of ``hash ^ post * K`` (``posts``: the post each token is compared with)."""
    h = np.asarray(hashes, dtype=np.uint64)
    if subkey is None:
        return (h & _LOW32).astype(np.uint32)
    mixed = h ^ (np.asarray(posts, dtype=np.uint64) * _POST_MIX)
    return (siphash24(mixed, subkey) & _LOW32).astype(np.uint32)
