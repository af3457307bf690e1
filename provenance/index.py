"""The post index: build (in bounded memory), open, append.

An index is a directory a user can inspect. Post numbers are rows of ``posts.parquet``; every other
file is a NumPy ``.npy`` array (memory-mapped when opened, so a scan pages in only what it touches):

===========================  ===================================================================
file                         content
===========================  ===================================================================
``manifest.json``            format version, tool version, :class:`IndexParams`, normalization,
                             hash and MinHash scheme names, counts, the sha256 of every other file,
                             and for a keyed index the key's fingerprint (``key``; never the key)
``posts.parquet``            one row per post: ``post_id``, ``source``, ``row``, ``kind``
                             (``shingled`` / ``short`` / ``empty``), ``n_tokens``, ``exact_key``, ``head_key``
                             and the ``--meta-field`` columns (``meta_NAME``)
``post_kind.npy``            uint8 ``(posts,)``: 0 shingled, 1 short, 2 empty
``post_tokens.npy``          int32 ``(posts,)``: tokens after normalization
``post_distinct.npy``        int32 ``(posts,)``: distinct shingles (0 unless shingled)
``post_frequent.npy``        int32 ``(posts,)``: distinct frequent shingles
``post_head_frequent.npy``   bool ``(posts,)``: one of the post's first ``ngram`` shingles is frequent
``shingle_ids.npy``          every shingled post's shingles in token order, concatenated, each as the
                             position of its first occurrence in the post (uint8 while every post has
                             at most 256 shingles, else uint16 or uint32): what verification compares
                             (the hashes of a post's shingles are its postings and frequent occurrences)
``shingle_offsets.npy``      int64 ``(posts+1,)``: post ``i`` is ``shingle_ids[o[i]:o[i+1]]``
``token_codes.npy``          uint32: every shingled post's token codes in order, concatenated (the
                             alignment's view of its words, :func:`provenance.match.align.token_codes`)
``code_offsets.npy``         int64 ``(posts+1,)``: post ``i``'s codes are ``token_codes[o[i]:o[i+1]]``
``keys.npy``                 uint64, sorted: the shingle hashes that generate candidates
``key_offsets.npy``          ``(keys+1,)``; ``key_posts[o[j]:o[j+1]]`` hold key ``j`` (uint32 while the
                             postings fit, else int64)
``key_posts.npy``            uint32: post numbers, increasing within a key
``key_pos.npy``              the key's first position in that post's shingle sequence (uint16 while
                             every post's shingles fit, else uint32)
``key_filter.npy``           uint8: a bitmap over the keys' top bits ("certainly absent" test)
``frequent.npy``             uint64, sorted: the frequent shingles (in more than ``max_key_posts``
                             posts; not keys, except a post's rarest when all of its are frequent)
``frequent_offsets.npy``     int64 ``(posts+1,)``: post ``i``'s frequent shingle occurrences are
``frequent_hashes.npy``      uint64 ``hashes[o[i]:o[i+1]]`` at positions
``frequent_pos.npy``         uint32 ``pos[o[i]:o[i+1]]`` (every occurrence, in order)
``short_keys.npy``           uint64, sorted: exact keys of the short posts
``short_posts.npy``          uint32: the short post of each exact key
``short_heads.npy``          uint64, sorted, distinct: the first shingle of each short post of
                             ``inline_short_bits`` bits or more, where a scan looks for such a post inside
                             a sentence; ``posts.parquet`` keeps each one's as ``head_key`` (0 for the
                             other posts)
``shingles.npy``             uint64: the shingle hashes themselves, laid out as ``shingle_ids``
                             (exact Jaccard needs the posts' sets whole)
``signatures.npy``           uint32 ``(posts, num_perm)``: MinHash signatures (datasketch affine32)
``lsh_keys.npy``             uint64 ``(bands, posts)``: band keys, sorted within each band
``lsh_posts.npy``            uint32 ``(bands, posts)``: the post of each band key
===========================  ===================================================================

The last four (:data:`SKETCH_ARRAYS`) are written only for ``IndexParams(jaccard=True)``
(``index build --jaccard``): only ``scan --mode jaccard`` reads them, and they would be about
three quarters of the bytes of an index of tweets.

*Build in bounded memory.* Posts are read batch by batch; per-post arrays are appended to their files
as they come, and the tables that must be sorted across all posts (postings, band keys, short-post
keys, post ids) go through an external sort partitioned by hash range (:class:`~provenance.spill.HashSpill`):
records stay in memory up to a quarter of ``memory_limit``, then spill to one file per hash range;
ranges are then sorted and written one at a time (a range larger than an eighth of the limit is
split again). Sorted tables are the ranges concatenated in hash order, so the result does not depend
on the memory limit: every ``.npy`` file is byte-identical whatever the limit.

No post text is stored: only hashes, ids, the positions of the posts in their files and the
``--meta-field`` columns asked for. A *keyed* index (``key``) derives every token hash from a secret
key (:mod:`provenance.keys`); it opens without the key (to read its manifest and posts table), but
hashing texts against it, to scan or append, needs the key (:meth:`Index.token_hasher`).

Every file is written into a temporary directory that is renamed into place only when complete;
opening an index checks the format version and every checksum and refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import polars as pl
from numpy.typing import NDArray

from . import __version__
from .durable import (DamagedFile, OutputError, exchange, fsync_dir, remove_stale, sealed_json, sha256_of, temp_prefix, umask,
                      unseal, write_failure)
from .errors import IndexFormatError, InputError, ParameterError, SecretKeyError, Skipped
from .keys import FINGERPRINT_SCHEME, SHINGLE_HASH, TOKEN_HASH, Key, align_subkey, as_key, short
from .match.align import CODE_NAME, KEYED_CODE_NAME, token_codes
from .normalize import NORMALIZATION
from .params import IndexParams
from .shingle import HASH_NAME, KEYED_HASH_NAME, TokenHasher, batch_shingles, sequence_keys
from .sketch import SCHEME, band_keys, lsh_params, minhash
from .arrays import expand_ranges
from .spill import HashSpill, NpyWriter, sorted_unique, stable_argsort

__all__ = ["Index", "KeyFilter", "SKETCH_ARRAYS", "arrays_of", "build_index", "default_memory_limit", "find_in", "lookup", "open_index", "FORMAT",
           "FORMAT_VERSION"]

FORMAT = "provenance-index"
FORMAT_VERSION = 7  # 4: token codes; 5: short posts' head shingles; 6: sketches optional; 7: shingle ids, not hashes
MANIFEST = "manifest.json"
_ARRAYS = ("post_kind", "post_tokens", "post_distinct", "post_frequent", "post_head_frequent", "shingle_ids",
           "shingle_offsets", "token_codes", "code_offsets", "keys", "key_offsets", "key_posts", "key_pos", "key_filter", "frequent",
           "frequent_offsets", "frequent_hashes", "frequent_pos", "short_keys", "short_posts", "short_heads")
SKETCH_ARRAYS = ("shingles", "signatures", "lsh_keys", "lsh_posts")


def arrays_of(params: IndexParams) -> tuple[str, ...]:
    """The ``.npy`` files (without the suffix) an index built with ``params`` holds."""
    return _ARRAYS + (SKETCH_ARRAYS if params.jaccard else ())

KIND_SHINGLED, KIND_SHORT, KIND_EMPTY = "shingled", "short", "empty"
KINDS = (KIND_SHINGLED, KIND_SHORT, KIND_EMPTY)  # post_kind codes 0, 1, 2
SHINGLED, SHORT, EMPTY = 0, 1, 2


# ----------------------------------------------------------------------------------------- lookups


def lookup(table: NDArray[np.uint64], needles: NDArray[np.uint64]) -> NDArray[np.int64]:
    """Where each needle is or would go in the sorted, non-empty ``table`` (clipped to a valid index:
    compare ``table[result] == needles`` for membership).

    The needles are searched in sorted order: consecutive searches then touch nearby memory, several
    times faster than random order on a table larger than the CPU caches.
    """
    order = np.argsort(needles, kind="stable")
    pos = np.empty(len(needles), dtype=np.int64)
    pos[order] = np.searchsorted(table, needles[order])
    np.minimum(pos, len(table) - 1, out=pos)
    return pos


_BIT = (1 << np.arange(8)).astype(np.uint8)
_CHUNK = 1 << 16  # hashes tested at once: the temporaries stay in the CPU cache


class KeyFilter:
    """One bit per slot of the hashes' top bits, set where some key has those bits: a cheap
    "certainly absent" test (an eighth of a byte per slot, at most 128 MiB)."""

    def __init__(self, bitmap: NDArray[np.uint8]) -> None:
        bits = int(len(bitmap) * 8).bit_length() - 1
        if len(bitmap) * 8 != 1 << bits:
            raise ValueError(f"key filter of {len(bitmap)} bytes is not a power of two")
        self.bitmap = bitmap
        self.shift = np.uint64(64 - bits)
        # 64 slots per little-endian word: a test is one gather and one shift
        self._words = bitmap.view(np.uint64) if sys.byteorder == "little" and len(bitmap) % 8 == 0 else None
        self._buckets: tuple[weakref.ref, _Buckets] | None = None
        self._bytes: NDArray[np.bool_] | None = None  # a small filter's slots, a byte each (made on first use)

    @staticmethod
    def bits_for(n_keys: int) -> int:
        return int(np.clip(np.ceil(np.log2(max(n_keys, 1) * 8)), 16, 30))

    @classmethod
    def of(cls, keys: NDArray[np.uint64], bits: int | None = None) -> "KeyFilter":
        bitmap = np.zeros(1 << ((bits or cls.bits_for(len(keys))) - 3), dtype=np.uint8)
        f = cls(bitmap)
        f.add(keys)
        return f

    def add(self, keys: NDArray[np.uint64]) -> None:
        slots = keys >> self.shift
        np.bitwise_or.at(self.bitmap, slots >> np.uint64(3), _BIT[slots & np.uint64(7)])
        self._bytes = None

    _BYTE_SLOTS = 1 << 20
    """Filters of at most this many slots are tested through a table of one byte per slot (1 MiB)."""

    def maybe(self, hashes: NDArray[np.uint64]) -> NDArray[np.bool_]:
        out = np.empty(len(hashes), dtype=bool)
        if len(self.bitmap) * 8 <= self._BYTE_SLOTS:
            if self._bytes is None:
                self._bytes = np.unpackbits(self.bitmap, bitorder="little").view(bool)
            for a in range(0, len(hashes), _CHUNK):
                np.take(self._bytes, hashes[a : a + _CHUNK] >> self.shift, out=out[a : a + _CHUNK])
            return out
        for a in range(0, len(hashes), _CHUNK):
            self._test(hashes[a : a + _CHUNK], out[a : a + _CHUNK])
        return out

    def _test(self, hashes: NDArray[np.uint64], out: NDArray[np.bool_]) -> None:
        slots = hashes >> self.shift
        if self._words is not None:
            word = self._words[slots >> np.uint64(6)]
            word >>= slots & np.uint64(63)
            word &= np.uint64(1)
            np.not_equal(word, 0, out=out)
        else:
            np.not_equal(self.bitmap[slots >> np.uint64(3)] & _BIT[slots & np.uint64(7)], 0, out=out)

    def buckets(self, table: NDArray[np.uint64]) -> "_Buckets":
        """The :class:`_Buckets` of ``table`` (the sorted table this filter was made for), made once."""
        cached = self._buckets
        if cached is None or cached[0]() is not table:
            cached = (weakref.ref(table), _Buckets.of(table))
            self._buckets = cached
        return cached[1]


class _Buckets:
    """Where each range of top hash bits starts in a sorted table: ``start[b]`` is the first
    position whose top ``bits`` bits are at least ``b``. A lookup then searches only its bucket
    (about one key) instead of the whole table. Four bytes per bucket, at most 2^22 buckets."""

    MAX_BITS = 22

    def __init__(self, start: NDArray[np.integer], shift: np.uint64, steps: int) -> None:
        self.start, self.shift, self.steps = start, shift, steps

    @classmethod
    def of(cls, table: NDArray[np.uint64], chunk: int = 1 << 18) -> "_Buckets":
        bits = int(np.clip(len(table).bit_length(), 1, cls.MAX_BITS))
        shift = np.uint64(64 - bits)
        # start[b + 1] counts the keys of bucket b, then the running sum makes the starts (in place:
        # no other array of the table's size)
        start = np.zeros((1 << bits) + 1, dtype=np.int32 if len(table) < 2**31 else np.int64)
        for a in range(0, len(table), chunk):  # (sorted: each piece is runs of equal top bits)
            top = np.asarray(table[a : a + chunk]) >> shift
            edge = np.flatnonzero(np.r_[True, top[1:] != top[:-1]])
            start[top[edge].astype(np.int64) + 1] += np.diff(np.r_[edge, len(top)]).astype(start.dtype)
        most = int(start.max())
        np.cumsum(start, out=start)
        return cls(start, shift, most.bit_length())

    def search(self, table: NDArray[np.uint64], needles: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The needles present in ``table``: their indices in ``needles`` (increasing) and their
        first positions in ``table``."""
        top = (needles >> self.shift).astype(np.intp)
        lo = self.start[top].astype(np.int64)
        end = self.start[top + 1].astype(np.int64)
        at = np.flatnonzero(end > lo)
        lo, end, x = lo[at], end[at], needles[at]
        if self.steps <= 4:
            # Buckets of at most 15 keys: step through them, all needles at once, until the key
            # is found or passed.
            pos = np.full(len(at), -1, dtype=np.int64)
            live = np.arange(len(at))
            while len(live):
                v = table[lo]
                found = v == x
                pos[live[found]] = lo[found]
                more = np.flatnonzero((v < x) & (lo + 1 < end))
                live, lo, x, end = live[more], lo[more] + 1, x[more], end[more]
            hit = np.flatnonzero(pos >= 0)
            return at[hit], pos[hit]
        # Lower bound within each bucket, all needles at once: lo stays at a value below x (or at
        # the bucket's start) while the bucket halves.
        n = end - lo
        for _ in range(self.steps):
            half = n >> 1
            if not half.any():
                break
            mid = lo + half
            lo = np.where(table[mid] < x, mid, lo)
            n -= half
        lo += table[lo] < x
        hit = np.flatnonzero(lo < end)
        hit = hit[table[lo[hit]] == x[hit]]
        return at[hit], lo[hit]


def find_in(table: NDArray[np.uint64], table_filter: KeyFilter,
            needles: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The needles present in the sorted ``table``: their indices in ``needles`` (increasing) and
    their positions in ``table``. ``table_filter`` (a :class:`KeyFilter` of ``table``) drops most
    absent needles before the search, which looks only in the needle's bucket of top bits."""
    if len(table) == 0 or len(needles) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    maybe = np.flatnonzero(table_filter.maybe(needles))
    if len(maybe) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    found, pos = table_filter.buckets(table).search(table, needles[maybe])
    return maybe[found], pos


# ----------------------------------------------------------------------------------------- the index


@dataclass
class Index:
    """An opened index. Arrays are read-only memory maps; see the module docstring for shapes."""

    path: Path
    params: IndexParams
    post_kind: NDArray[np.uint8]
    post_tokens: NDArray[np.int32]
    post_distinct: NDArray[np.int32]
    post_frequent: NDArray[np.int32]
    post_head_frequent: NDArray[np.bool_]
    shingle_ids: NDArray[np.unsignedinteger]
    shingle_offsets: NDArray[np.int64]
    token_codes: NDArray[np.uint32]
    code_offsets: NDArray[np.int64]
    keys: NDArray[np.uint64]
    key_offsets: NDArray[np.integer]
    key_posts: NDArray[np.uint32]
    key_pos: NDArray[np.unsignedinteger]
    key_filter: NDArray[np.uint8]
    frequent: NDArray[np.uint64]
    frequent_offsets: NDArray[np.int64]
    frequent_hashes: NDArray[np.uint64]
    frequent_pos: NDArray[np.uint32]
    short_keys: NDArray[np.uint64]
    short_posts: NDArray[np.uint32]
    short_heads: NDArray[np.uint64]
    shingles: NDArray[np.uint64] | None = None
    """The shingle hashes, MinHash signatures, LSH band keys and their posts: only in an index built
    with ``jaccard``."""
    signatures: NDArray[np.uint32] | None = None
    lsh_keys: NDArray[np.uint64] | None = None
    lsh_posts: NDArray[np.uint32] | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    _verifying: "_Background | None" = field(default=None, repr=False, compare=False)
    key: Key | None = field(default=None, repr=False, compare=False)
    """The secret key of a keyed index, once given (checked against the manifest's fingerprint)."""

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of the key the index was built with; None for an index built without one."""
        entry = self.manifest.get("key")
        return entry.get("fingerprint") if isinstance(entry, dict) else None

    def use_key(self, key: "Key | bytes | None") -> "Index":
        """Check ``key`` against the index (see :func:`check_key`) and keep it for hashing; returns self."""
        k = check_key(self.path, self.fingerprint, as_key(key))
        if k is not None:
            self.key = k
        return self

    def require_key(self) -> None:
        """Raise SecretKeyError if the index is keyed and no key was given."""
        if self.fingerprint is not None and self.key is None:
            raise SecretKeyError(f"{self.path}: this index was built with a key (fingerprint {short(self.fingerprint)}); "
                                 "pass it with --key-file")

    def require_sketches(self) -> None:
        """Raise ParameterError unless the index holds MinHash signatures and LSH bands (``--jaccard``)."""
        if self.lsh_keys is None:
            raise ParameterError(f"{self.path}: this index holds no MinHash signatures or LSH bands, which --mode jaccard "
                                 "needs; build it with: provenance index build --jaccard")

    def token_hasher(self) -> TokenHasher:
        """A token hasher that hashes texts the way this index's posts were hashed."""
        self.require_key()
        return TokenHasher(self.params.seed, key=self.key)

    @property
    def n_posts(self) -> int:
        return len(self.post_kind)

    @cached_property
    def posts(self) -> pl.DataFrame:
        """``posts.parquet``, read on first use (a scan reads only the ids of the posts it found)."""
        return pl.read_parquet(self.path / "posts.parquet")

    def post_ids(self, posts: NDArray[np.int64]) -> pl.Series:
        """The ``post_id`` of each post number in ``posts`` (reads only those rows' ids)."""
        wanted = sorted_unique(np.asarray(posts))
        found = (pl.scan_parquet(self.path / "posts.parquet").select("post_id").with_row_index("_p")
                 .join(pl.LazyFrame({"_p": pl.Series(wanted, dtype=pl.UInt32)}), on="_p", how="semi").collect().sort("_p"))
        at = np.searchsorted(found["_p"].to_numpy(), posts)
        return found["post_id"].gather(at)

    @property
    def bands(self) -> tuple[int, int]:
        return lsh_params(self.params.lsh_threshold, self.params.num_perm)

    @property
    def checksum(self) -> str:
        """sha256 of ``manifest.json`` (which pins every data file's sha256)."""
        return self.manifest.get("manifest_sha256", "")

    @cached_property
    def keys_filter(self) -> KeyFilter:
        return KeyFilter(self.key_filter)

    def wait_verified(self) -> None:
        """Wait for a background checksum check (``open_index(verify="background")``); raise
        IndexFormatError if a file differs from the manifest."""
        pending, self._verifying = self._verifying, None
        if pending is not None:
            pending.result()

    def key_rows(self, keys: NDArray[np.integer]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """For key numbers ``keys``: the first row of each in ``key_posts`` / ``key_pos`` and its number
        of posts, int64 (``key_offsets`` is as narrow as the index allows)."""
        start = self.key_offsets[keys].astype(np.int64)
        return start, self.key_offsets[np.asarray(keys) + 1].astype(np.int64) - start

    def post_shingles(self, i: int) -> NDArray[np.uint64]:
        """Post ``i``'s shingle hashes in token order (see :meth:`shingle_hashes`)."""
        return self.shingle_hashes(np.array([i]))

    def shingle_hashes(self, posts: NDArray[np.integer]) -> NDArray[np.uint64]:
        """The shingle hashes of ``posts`` in token order, concatenated (``shingle_offsets`` gives each
        post's length). Stored as such only with ``jaccard``; otherwise rebuilt from the postings and
        the frequent occurrences, reading every posting: for inspection and tests (a scan compares
        ``shingle_ids``; an append streams :meth:`shingle_sequences`)."""
        posts = np.asarray(posts, dtype=np.int64)
        if self.shingles is not None:
            lo = self.shingle_offsets[posts].astype(np.int64)
            return self.shingles[expand_ranges(lo, self.shingle_offsets[posts + 1].astype(np.int64) - lo)]
        rows = np.flatnonzero(np.isin(self.key_posts, posts.astype(np.uint32)))
        key = np.searchsorted(self.key_offsets, rows, side="right") - 1
        return self._rebuild(posts, _by_post(self.key_posts[rows], self.key_pos[rows], self.keys[key]))

    def shingle_sequences(self, work: Path, memory: int) -> Iterator[tuple[int, int, NDArray[np.uint64]]]:
        """Every post's shingle hashes, in post order: ``(a, b, hashes of posts a..b-1 concatenated)``,
        in bounded memory (about ``memory`` bytes; an external sort of the postings by post in
        ``work``)."""
        off = self.shingle_offsets
        step = max(memory // 64, 1 << 16)  # shingles a piece
        if self.shingles is not None:
            for a, b in _pieces(off, 0, self.n_posts, step):
                yield a, b, np.asarray(self.shingles[off[a] : off[b]])
            return
        spill = HashSpill(work, "by-post", _BY_POST)
        ko = self.key_offsets
        for j0 in range(0, len(self.keys), step):
            j1 = min(j0 + step, len(self.keys))
            r0, r1 = int(ko[j0]), int(ko[j1])
            spill.add(_by_post(self.key_posts[r0:r1], self.key_pos[r0:r1],
                               np.repeat(self.keys[j0:j1], np.diff(ko[j0 : j1 + 1].astype(np.int64)))))
            if spill.buffered > memory // 4:
                spill.flush()
        done, carry = 0, np.zeros(0, dtype=_BY_POST)
        for r in [*spill.ranges(max(memory // 8, 256)), None]:
            recs = carry if r is None else _concatenate_records(carry, r)
            upto = self.n_posts if r is None else int(recs["h"][-1] >> np.uint64(32)) if len(recs) else done
            cut = int(np.searchsorted(recs["h"], np.uint64(upto) << np.uint64(32)))
            for a, b in _pieces(off, done, upto, step):
                lo, hi = np.searchsorted(recs["h"][:cut], np.array([a, b], dtype=np.uint64) << np.uint64(32))
                yield a, b, self._rebuild(np.arange(a, b), recs[lo:hi])
            done, carry = upto, recs[cut:]

    def _rebuild(self, posts: NDArray[np.int64], keyed: NDArray) -> NDArray[np.uint64]:
        """The shingle hashes of ``posts`` from ``keyed`` (the :data:`_BY_POST` records of their postings,
        any order) and their frequent occurrences: position ``k`` holds the shingle first seen at
        ``shingle_ids[k]``, which a posting (first occurrences) or a frequent occurrence names."""
        lo = self.shingle_offsets[posts].astype(np.int64)
        n = self.shingle_offsets[posts + 1].astype(np.int64) - lo
        flo = self.frequent_offsets[posts].astype(np.int64)
        fn = self.frequent_offsets[posts + 1].astype(np.int64) - flo
        frows = expand_ranges(flo, fn)
        table = np.concatenate([keyed, _by_post(np.repeat(posts, fn), self.frequent_pos[frows], self.frequent_hashes[frows])])
        table = table[np.argsort(table["h"], kind="stable")]
        want = (np.repeat(posts, n).astype(np.uint64) << np.uint64(32)) | self.shingle_ids[expand_ranges(lo, n)].astype(np.uint64)
        at = np.searchsorted(table["h"], want)
        if len(want) and (at.max() >= len(table) or np.any(table["h"][at] != want)):
            raise IndexFormatError(f"{self.path}: a post's shingle is neither a posting nor a frequent occurrence "
                                   "(damaged index)")
        return table["v"][at]


# ----------------------------------------------------------------------------------------- build


def default_memory_limit() -> int:
    """A quarter of the machine's physical memory (at least 256 MiB)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 4 << 30
    return max(total // 4, 256 << 20)


_POSTING = np.dtype([("h", "<u8"), ("p", "<u4"), ("pos", "<u4")])
_PAIR = np.dtype([("h", "<u8"), ("p", "<u4")])


_BY_POST = np.dtype([("h", "<u8"), ("v", "<u8")])
"""A shingle of a post by place: ``h`` = post << 32 | position, ``v`` its hash."""


def _by_post(post: NDArray, pos: NDArray, hashes: NDArray[np.uint64]) -> NDArray:
    out = np.empty(len(post), dtype=_BY_POST)
    out["h"] = (np.asarray(post).astype(np.uint64) << np.uint64(32)) | np.asarray(pos).astype(np.uint64)
    out["v"] = hashes
    return out


def _concatenate_records(a: NDArray, b: NDArray) -> NDArray:
    return np.concatenate([a, b]) if len(a) else b


def _pieces(offsets: NDArray, a: int, b: int, step: int) -> Iterator[tuple[int, int]]:
    """Consecutive post ranges covering ``a..b-1``, each of about ``step`` shingles (at least one post)."""
    while a < b:
        end = int(np.searchsorted(offsets, offsets[a] + step, side="right")) - 1
        end = min(max(end, a + 1), b)
        yield a, end
        a = end


def _pairs(h: NDArray[np.uint64], p: NDArray[np.uint32]) -> NDArray:
    out = np.empty(len(h), dtype=_PAIR)
    out["h"], out["p"] = h, p
    return out


def _frequency(h: NDArray[np.uint64]) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """For postings sorted by hash: is each hash's first posting, and its number of posts."""
    new = np.ones(len(h), dtype=bool)
    new[1:] = h[1:] != h[:-1]
    run = np.cumsum(new) - 1
    return new, np.bincount(run)[run]


class _Builder:
    """Writes an index into directory ``out`` from posts added batch by batch."""

    def __init__(self, params: IndexParams, out: Path, memory_limit: int, key: Key | None = None) -> None:
        self.params, self.out = params, out
        self.work = out / ".work"
        self.work.mkdir()
        self.buffer_limit = max(memory_limit // 4, 256)
        self.range_limit = max(memory_limit // 8, 256)
        self.n_bands, self.n_rows = lsh_params(params.lsh_threshold, params.num_perm) if params.jaccard else (0, 0)
        self.hasher = TokenHasher(params.seed, key=key)
        self.plain_tokens = key is None and params.seed == 0
        w = self._writer
        # The hashes stay in the work directory (the postings hold them) unless Jaccard needs them.
        self.shingles_path = (out if params.jaccard else self.work) / "shingles.npy"
        self.w_shingles = NpyWriter(self.shingles_path, np.uint64)
        self.w_ids = NpyWriter(self.work / "shingle_ids.npy", np.uint32)
        self.w_offsets = w("shingle_offsets", np.int64)
        self.w_offsets.append(np.zeros(1, dtype=np.int64))
        self.w_codes, self.w_code_offsets = w("token_codes", np.uint32), w("code_offsets", np.int64)
        self.w_code_offsets.append(np.zeros(1, dtype=np.int64))
        k = as_key(key)
        self.code_subkey = align_subkey(k.secret) if k is not None else None
        self.w_kind, self.w_tokens, self.w_distinct = w("post_kind", np.uint8), w("post_tokens", np.int32), w("post_distinct", np.int32)
        self.w_sig = w("signatures", np.uint32, (params.num_perm,)) if params.jaccard else None
        self.postings = HashSpill(self.work, "postings", _POSTING)
        self.bands = [HashSpill(self.work, f"band{b:03d}", _PAIR, bits=4) for b in range(self.n_bands)]
        self.short = HashSpill(self.work, "short", _PAIR, bits=4)
        self.short_heads = HashSpill(self.work, "short_heads", _PAIR, bits=4)
        self.ids = HashSpill(self.work, "ids", _PAIR, bits=4)
        self.spills = [self.postings, *self.bands, self.short, self.short_heads, self.ids]
        self.frames: list[pl.DataFrame] = []
        self.frame_bytes = 0
        self.parts: list[tuple[Path, int, int]] = []  # spilled posts tables: file, first post, posts
        self.n_posts = self.n_shingles = self.n_codes = 0
        self.longest = 0  # most shingles of one post
        self.kinds = np.zeros(3, dtype=np.int64)

    def _writer(self, name: str, dtype: Any, row_shape: tuple[int, ...] = ()) -> NpyWriter:
        return NpyWriter(self.out / f"{name}.npy", dtype, row_shape)

    # -- adding posts

    def add_texts(self, batch: Any) -> None:
        p = self.params
        sb = batch_shingles(batch.texts, p.ngram, self.hasher)
        n_tokens = sb.n_tokens
        kind = np.where(n_tokens == 0, EMPTY, np.where(n_tokens < p.short_tokens, SHORT, SHINGLED)).astype(np.uint8)
        exact = np.where(n_tokens > 0, sequence_keys(sb.token_hashes, sb.token_offsets[:-1], n_tokens, self.hasher.finish), np.uint64(0))
        # Short posts specific enough to be matched inside a sentence keep their first shingle.
        inline = kind == SHORT
        if inline.any():
            from .match.background import default_background, span_bits

            short = np.flatnonzero(inline)
            if self.plain_tokens:  # the background model hashes tokens as this index does
                bits = default_background().bits_of_runs(sb.token_hashes, sb.token_offsets[:-1][short], n_tokens[short])
            else:
                bits = span_bits(default_background(), [batch.texts[i] for i in short])
            inline[short] = bits >= p.inline_short_bits
        inline &= n_tokens >= p.ngram  # (a post with a shingle: its first is where a scan looks)
        heads = np.zeros(len(kind), dtype=np.uint64)
        heads[inline] = sb.hashes[sb.offsets[:-1][inline]]
        # Short posts keep no shingles: they match only as whole records or lines.
        counts = np.diff(sb.offsets)
        lengths = np.where(kind == SHINGLED, counts, 0)
        cols: dict[str, Any] = {
            "post_id": batch.ids,
            "source": [batch.source] * len(batch.ids),
            "row": batch.rows,
            "kind": np.array(KINDS)[kind].tolist(),
            "n_tokens": n_tokens,
            "exact_key": exact,
            "head_key": heads,
        }
        for name, values in batch.meta.items():
            cols[f"meta_{name}"] = values
        frame = pl.DataFrame(cols, schema_overrides={"row": pl.Int64, "n_tokens": pl.Int64, "exact_key": pl.UInt64,
                                                       "head_key": pl.UInt64})
        shingled = np.repeat(kind == SHINGLED, n_tokens)
        post_of_token = np.repeat(np.arange(self.n_posts, self.n_posts + len(n_tokens), dtype=np.int64), n_tokens)
        codes = token_codes(sb.token_hashes[shingled], post_of_token[shingled], self.code_subkey)
        self.add(frame, kind, n_tokens, exact, heads, sb.hashes[np.repeat(kind == SHINGLED, counts)], lengths, codes)

    def add_index(self, base: "Index", step: int = 1 << 16) -> None:
        """Add every post of ``base`` (its shingles are reused; the texts are not needed)."""
        lazy = pl.scan_parquet(base.path / "posts.parquet")
        off, co = base.shingle_offsets, base.code_offsets
        if self.n_posts:  # keyed codes depend on the post numbers, which stay the same only in front
            raise ValueError("add_index must come before any other posts")
        for a, b, shingles in base.shingle_sequences(self.work, self.range_limit):
            frame = lazy.slice(a, b - a).collect()
            self.add(frame, np.asarray(base.post_kind[a:b]), np.asarray(base.post_tokens[a:b]),
                     frame["exact_key"].to_numpy(), frame["head_key"].to_numpy(), shingles, np.diff(off[a : b + 1]),
                     np.asarray(base.token_codes[co[a] : co[b]]))

    def add(self, frame: pl.DataFrame, kind: NDArray[np.uint8], n_tokens: NDArray, exact: NDArray[np.uint64],
            heads: NDArray[np.uint64], shingles: NDArray[np.uint64], lengths: NDArray[np.int64],
            codes: NDArray[np.uint32]) -> None:
        """Add ``len(lengths)`` posts: their table rows, kinds, token counts, exact and head keys, and the
        shingles of the shingled ones (``lengths`` per post, 0 for the others) and their token codes
        (``n_tokens`` per shingled post) concatenated."""
        n, p0 = len(lengths), self.n_posts
        if p0 + n >= 1 << 32:
            raise InputError("more than 4,294,967,295 posts in one index; split the posts over several indexes")
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        self.w_shingles.append(shingles)
        self.w_offsets.append(offsets[1:] + self.n_shingles)
        self.w_kind.append(kind)
        self.w_tokens.append(n_tokens)
        code_lengths = np.where(kind == SHINGLED, np.asarray(n_tokens, dtype=np.int64), 0)
        self.w_codes.append(np.asarray(codes, dtype=np.uint32))
        self.w_code_offsets.append(np.cumsum(code_lengths) + self.n_codes)
        self.n_codes += int(code_lengths.sum())
        self.kinds += np.bincount(kind, minlength=3)
        post_no = np.arange(p0, p0 + n, dtype=np.uint32)
        # Each (shingle, post) once, at its first position; sorted by shingle, then post.
        post = np.repeat(post_no, lengths)
        pos = (np.arange(len(shingles), dtype=np.int64) - np.repeat(offsets[:-1], lengths)).astype(np.uint32)
        order = stable_argsort(shingles)  # (rows come in (post, position) order)
        h, p, pos = shingles[order], post[order], pos[order]
        first = np.ones(len(h), dtype=bool)
        first[1:] = (h[1:] != h[:-1]) | (p[1:] != p[:-1])
        ids = np.empty(len(shingles), dtype=np.uint32)  # each shingle as its first position in the post
        ids[order] = pos[first][np.cumsum(first) - 1]
        self.w_ids.append(ids)
        recs = np.empty(int(first.sum()), dtype=_POSTING)
        recs["h"], recs["p"], recs["pos"] = h[first], p[first], pos[first]
        self.postings.add(recs)
        self.w_distinct.append(np.bincount(recs["p"] - np.uint32(p0), minlength=n))
        self.longest = max(self.longest, int(lengths.max(initial=0)))
        if self.w_sig is not None:
            sig = minhash(shingles, offsets, self.params.num_perm, self.params.seed)
            self.w_sig.append(sig.T)
            for b, keys in enumerate(band_keys(sig, self.n_bands, self.n_rows)):
                self.bands[b].add(_pairs(keys, post_no))
        short = np.flatnonzero(kind == SHORT)
        self.short.add(_pairs(exact[short], post_no[short]))
        inline = np.flatnonzero(np.asarray(heads) != 0)
        self.short_heads.add(_pairs(np.asarray(heads)[inline], post_no[inline]))
        self.ids.add(_pairs(frame["post_id"].hash(seed=0).to_numpy(), post_no))
        self.frames.append(frame)
        self.frame_bytes += frame.estimated_size()
        self.n_posts += n
        self.n_shingles += len(shingles)
        if self.frame_bytes + sum(s.buffered for s in self.spills) > self.buffer_limit:
            self._flush()

    def _flush(self) -> None:
        for s in self.spills:
            s.flush()
        if self.frames:
            start = self.parts[-1][1] + self.parts[-1][2] if self.parts else 0
            frame = pl.concat(self.frames, how="diagonal_relaxed")
            part = self.work / f"posts-{len(self.parts):06d}.parquet"
            frame.write_parquet(part)
            self.parts.append((part, start, frame.height))
            self.frames, self.frame_bytes = [], 0

    # -- finishing

    def _posts_lazy(self) -> pl.LazyFrame:
        """The posts table so far, without the derived columns."""
        frames = [pl.scan_parquet(part) for part, _, _ in self.parts]
        if self.frames:
            frames.append(pl.concat(self.frames, how="diagonal_relaxed").lazy())
        return pl.concat(frames, how="diagonal_relaxed")

    def finish(self) -> dict[str, Any]:
        """Write every remaining file; return the manifest's ``counts``."""
        if self.n_posts == 0:
            raise InputError("no posts to index")
        if self.parts:  # something spilled already: spill the rest of the posts table too
            self._flush()
        for w in (self.w_shingles, self.w_ids, self.w_offsets, self.w_codes, self.w_code_offsets, self.w_kind,
                  self.w_tokens, self.w_distinct):
            w.close()
        self._narrow_ids()
        self._check_unique_ids()
        n_keys, n_frequent, n_all_frequent = self._postings()
        self._frequent_occurrences()
        if self.w_sig is not None:
            self.w_sig.close()
            self._sorted_pairs(self.bands, "lsh_keys", "lsh_posts", shape=(self.n_bands, self.n_posts))
        self._sorted_pairs([self.short], "short_keys", "short_posts")
        self._sorted_set(self.short_heads, "short_heads")
        self._posts_table()
        shutil.rmtree(self.work)
        return {
            "posts": self.n_posts,
            "shingled_posts": int(self.kinds[SHINGLED]),
            "short_posts": int(self.kinds[SHORT]),
            "empty_posts": int(self.kinds[EMPTY]),
            "shingles": self.n_shingles,
            "keys": n_keys,
            "frequent_shingles": n_frequent,
            "posts_with_only_frequent_shingles": n_all_frequent,
        }

    def _check_unique_ids(self) -> None:
        suspects: list[NDArray[np.uint32]] = []
        for r in self.ids.ranges(self.range_limit):
            same = np.flatnonzero(r["h"][1:] == r["h"][:-1])
            if len(same):
                suspects.append(r["p"][np.r_[same, same + 1]])
        if not suspects:
            return
        wanted = pl.Series(np.unique(np.concatenate(suspects)), dtype=pl.UInt32)
        rows = (self._posts_lazy().select("post_id", "source", "row").with_row_index("_p")
                .join(pl.LazyFrame({"_p": wanted}), on="_p", how="semi").collect().sort("_p"))
        dup = rows.filter(pl.col("post_id").is_duplicated())
        if dup.height:  # (equal id hashes of different ids are no duplicates)
            pid, sources, rows_ = dup.group_by("post_id", maintain_order=True).agg(pl.col("source"), pl.col("row")).row(0)
            raise InputError(f"{sources[1]}:{rows_[1]}: duplicate post id {pid!r} (first at {sources[0]}:{rows_[0]})")

    def _load(self, name: str) -> NDArray:
        """A finished array of the new index, memory-mapped."""
        return np.load(self.out / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    def _map(self, name: str, dtype: Any, fill: Any = 0, work: bool = False) -> NDArray:
        """A per-post array backed by a file (final, or in the work directory)."""
        path = (self.work if work else self.out) / f"{name}.npy"
        a = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(self.n_posts,))
        if fill:
            a[:] = fill
        return a

    def _postings(self) -> tuple[int, int, int]:
        """keys, key_offsets, key_posts, key_pos, key_filter, frequent and the per-post frequent counts.

        Pass 1 over the hash ranges finds the frequent shingles, counts them per post, and keeps for
        each post its rarest frequent shingle (lowest post count, then lowest hash). Pass 2 writes
        the keys: every shingle that is not frequent, plus that rarest shingle for the posts whose
        every shingle is frequent (so that they can still be found).
        """
        p = self.params
        n_frequent = self._map("post_frequent", np.int32)
        head_frequent = self._map("post_head_frequent", np.bool_)
        best_df = self._map("best_df", np.uint32, fill=np.iinfo(np.uint32).max, work=True)
        best_h = self._map("best_h", np.uint64, work=True)
        w_frequent = self._writer("frequent", np.uint64)
        runs: list[NDArray | Path] = []
        n_plain_keys = 0
        for k, r in enumerate(self.postings.ranges(self.range_limit)):
            h, post, pos = r["h"], r["p"], r["pos"]
            new, df = _frequency(h)
            freq = df > p.max_key_posts
            n_plain_keys += int((new & ~freq).sum())
            if freq.any():
                w_frequent.append(h[new & freq])
                fh, fp, fdf = h[freq], post[freq], df[freq]
                u, c = sorted_unique(fp, return_counts=True)
                n_frequent[u] += c.astype(np.int32)
                head_frequent[fp[pos[freq] < p.ngram]] = True
                o = np.lexsort((fh, fdf, fp))
                first = o[np.r_[True, fp[o][1:] != fp[o][:-1]]]
                bp, bdf, bh = fp[first], fdf[first], fh[first]
                better = bdf < best_df[bp]  # ranges come in hash order: equal counts keep the lower hash
                best_df[bp[better]], best_h[bp[better]] = bdf[better], bh[better]
            if self.postings.spilled:
                run = self.work / f"sorted-{k:06d}.bin"
                r.tofile(run)
                runs.append(run)
            else:
                runs.append(r)
        w_frequent.close()
        distinct = self._load("post_distinct")
        all_frequent = (np.asarray(distinct) > 0) & (n_frequent == np.asarray(distinct))
        n_all_frequent = int(all_frequent.sum())
        rescued = sorted_unique(best_h[all_frequent])
        key_filter = KeyFilter.of(np.zeros(0, np.uint64), bits=KeyFilter.bits_for(n_plain_keys + len(rescued)))
        # Offsets and positions as narrow as the postings allow (the .npy header names the dtype).
        offset_type = np.uint32 if self.postings.records < 1 << 32 else np.int64
        pos_type = np.uint16 if self.longest <= 1 << 16 else np.uint32
        w_keys, w_key_offsets = self._writer("keys", np.uint64), self._writer("key_offsets", offset_type)
        w_key_posts, w_key_pos = self._writer("key_posts", np.uint32), self._writer("key_pos", pos_type)
        total = 0
        for run in runs:
            r = np.fromfile(run, dtype=_POSTING) if isinstance(run, Path) else run
            h, post = r["h"], r["p"]
            _, df = _frequency(h)
            use = df <= p.max_key_posts
            if n_all_frequent:
                use |= all_frequent[post] & (best_h[post] == h)
            kh = h[use]
            starts = np.flatnonzero(np.r_[True, kh[1:] != kh[:-1]]) if len(kh) else np.zeros(0, np.int64)
            w_keys.append(kh[starts])
            key_filter.add(kh[starts])
            w_key_offsets.append((starts + total).astype(offset_type))
            w_key_posts.append(post[use])
            w_key_pos.append(r["pos"][use].astype(pos_type))
            total += len(kh)
            if isinstance(run, Path):
                run.unlink()
        w_key_offsets.append(np.array([total], dtype=offset_type))
        for w in (w_keys, w_key_offsets, w_key_posts, w_key_pos):
            w.close()
        np.save(self.out / "key_filter.npy", key_filter.bitmap, allow_pickle=False)
        n_frequent.flush()
        head_frequent.flush()
        return w_keys.rows, w_frequent.rows, n_all_frequent

    def _frequent_occurrences(self) -> None:
        """Every occurrence of a frequent shingle in each post (verification needs them: they are
        no keys, so candidate generation does not report them)."""
        frequent = self._load("frequent")
        offsets = np.asarray(self._load("shingle_offsets"))
        filt = KeyFilter.of(np.asarray(frequent)) if len(frequent) else None
        w_off, w_hash, w_pos = (self._writer("frequent_offsets", np.int64), self._writer("frequent_hashes", np.uint64),
                                self._writer("frequent_pos", np.uint32))
        w_off.append(np.zeros(1, dtype=np.int64))
        step = max(self.range_limit // 64, 1 << 16)  # shingles per piece (lookups need ~40 bytes each)
        total, a = 0, 0
        while a < self.n_posts:
            b = int(np.searchsorted(offsets, offsets[a] + step, side="right")) - 1
            b = min(max(b, a + 1), self.n_posts)
            base = offsets[a : b + 1] - offsets[a]
            sh = _read_rows(self.shingles_path, int(offsets[a]), int(offsets[b]))
            at = find_in(frequent, filt, sh)[0] if filt is not None else np.zeros(0, dtype=np.int64)
            post_of = np.searchsorted(base, at, side="right") - 1
            w_off.append(np.cumsum(np.bincount(post_of, minlength=b - a)) + total)
            w_hash.append(sh[at])
            w_pos.append(at - base[post_of])
            total += len(at)
            a = b
        for w in (w_off, w_hash, w_pos):
            w.close()

    def _narrow_ids(self) -> None:
        """``shingle_ids.npy`` in the narrowest dtype its values fit (they are below the longest post)."""
        dtype = np.uint8 if self.longest <= 1 << 8 else np.uint16 if self.longest <= 1 << 16 else np.uint32
        w = self._writer("shingle_ids", dtype)
        step = max(self.range_limit // 8, 1 << 16)
        for a in range(0, self.n_shingles, step):
            w.append(_read_rows(self.work / "shingle_ids.npy", a, min(a + step, self.n_shingles)).astype(dtype))
        w.close()

    def _sorted_pairs(self, spills: list[HashSpill], keys_name: str, posts_name: str,
                      shape: tuple[int, ...] | None = None) -> None:
        w_keys, w_posts = self._writer(keys_name, np.uint64), self._writer(posts_name, np.uint32)
        for spill in spills:
            for r in spill.ranges(self.range_limit):
                w_keys.append(r["h"])
                w_posts.append(r["p"])
        w_keys.close(shape)
        w_posts.close(shape)

    def _sorted_set(self, spill: HashSpill, name: str) -> None:
        """The distinct keys of ``spill``, sorted."""
        w = self._writer(name, np.uint64)
        for r in spill.ranges(self.range_limit):
            h = r["h"]
            w.append(h[np.r_[True, h[1:] != h[:-1]]] if len(h) else h)
        w.close()

    def _posts_table(self) -> None:
        target = self.out / "posts.parquet"
        if self.parts:
            pl.concat([pl.scan_parquet(part) for part, _, _ in self.parts], how="diagonal_relaxed").sink_parquet(
                target, statistics=True)
        else:
            pl.concat(self.frames, how="diagonal_relaxed").write_parquet(target, statistics=True)


def _read_rows(path: Path, start: int, stop: int) -> NDArray:
    """Rows ``start:stop`` of a 1-D ``.npy`` file, read (not memory-mapped: the pages stay in the
    page cache, not in this process)."""
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        _, _, dtype = np.lib.format.read_array_header_1_0(f)  # NpyWriter and np.save write version 1.0
        return np.fromfile(f, dtype=dtype, count=stop - start, offset=start * dtype.itemsize)


def _prepare(path: Path, overwrite: bool) -> Path:
    """Check that ``path`` may receive an index; return a fresh temporary directory beside it."""
    if path.exists():
        if not path.is_dir():
            raise IndexFormatError(f"{path}: exists and is not a directory")
        if any(path.iterdir()) and not (overwrite and is_index(path)):
            what = "an index (use --append to add posts, or --force to replace it)" if is_index(path) else "not an empty directory"
            raise IndexFormatError(f"{path}: is {what}")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, path.name)  # what a killed build left
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes 0700; an index is an ordinary directory
    return tmp


def build_index(batches: Iterable[Any], out: str | Path, params: IndexParams = IndexParams(), *,
                base: Index | None = None, inputs: dict[str, Any] | None = None,
                on_batch: Callable[[int, int], None] | None = None, memory_limit: int | None = None,
                overwrite: bool = False, skipped: Skipped | None = None, key: "Key | bytes | None" = None) -> Index:
    """Build an index from batches of posts (see :func:`provenance.read.iter_batches`) into directory
    ``out`` and open it.

    With ``base``, the new posts are appended to that index's posts (same parameters required) and
    all derived tables (frequencies, keys, signatures, bands) are rebuilt over the union. The build's
    working arrays stay within about ``memory_limit`` bytes (default :func:`default_memory_limit`);
    what does not fit spills to a work directory inside the new index directory. ``skipped`` (bad
    posts left out while reading, filled as the batches stream) goes into the manifest.
    what does not fit spills to a work directory inside the new index directory.

    With ``key`` (at least 16 bytes of secret), every token hash is derived from the key (see
    :mod:`provenance.shingle`) and the manifest records the key's fingerprint, never the key. Appending
    to ``base`` needs the key it was built with (or none, if it was built without).
    """
    key = as_key(key)
    if base is not None:  # the new posts are hashed as the base's were: with its key, or without
        key = check_key(base.path, base.fingerprint, key or base.key)
        if key is None:
            base.require_key()
    if base is not None and base.params != params:
        raise ParameterError(f"cannot append with parameters {params} to an index built with {base.params}")
    bands, _ = lsh_params(params.lsh_threshold, params.num_perm)
    if params.jaccard and bands < 2:
        raise ParameterError(f"num_perm {params.num_perm} is too small for lsh_threshold {params.lsh_threshold} "
                             f"(gives {bands} LSH band; datasketch requires at least 2)")
    if memory_limit is not None and memory_limit <= 0:
        raise ParameterError(f"memory limit (--memory-limit) must be positive, got {memory_limit}")
    path = Path(out)
    try:
        tmp = _prepare(path, overwrite or base is not None)
    except OSError as e:
        raise OutputError(f"{path}: cannot write the index ({write_failure(e)})") from None
    try:
        builder = _Builder(params, tmp, memory_limit or default_memory_limit(), key)
        info: dict[str, Any] = {"id_fallback_files": []}
        if base is not None:
            builder.add_index(base)
            info["id_fallback_files"] = list(base.manifest.get("id_fallback_files", []))
        for batch in batches:
            builder.add_texts(batch)
            if getattr(batch, "id_fallback", False) and batch.source not in info["id_fallback_files"]:
                info["id_fallback_files"].append(batch.source)
            if on_batch:
                on_batch(getattr(batch, "nbytes", 0), len(batch.ids))
        counts = builder.finish()
        info["id_fallback_files"] = sorted(info["id_fallback_files"]) if base is not None else info["id_fallback_files"]
        info["inputs"] = (base.manifest.get("inputs", []) if base is not None else []) + (inputs or {}).get("files", [])
        info["fields"] = (inputs or {}).get("fields", base.manifest.get("fields", {}) if base is not None else {})
        all_skipped = Skipped.from_dict(base.manifest.get("skipped")) if base is not None else Skipped()
        all_skipped.merge(skipped or Skipped())
        info["skipped"] = all_skipped.to_dict()
        meta_fields = [c.removeprefix("meta_") for c in pl.read_parquet_schema(tmp / "posts.parquet") if c.startswith("meta_")]
        _write_manifest(tmp, params, counts, info, meta_fields, key)
        _replace(tmp, path)
    except (OSError, pl.exceptions.PolarsError) as e:  # a full disk, ...: no index, and no temporary directory
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{path}: cannot write the index ({write_failure(e)})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return open_index(path, verify=False, key=key)


# ----------------------------------------------------------------------------------------- save / open


def is_index(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def _write_manifest(tmp: Path, params: IndexParams, counts: dict[str, int], info: dict[str, Any],
                    meta_fields: list[str], key: Key | None = None) -> None:
    def sealed(f: Path) -> dict[str, Any]:
        with open(f, "rb+") as fh:
            os.fsync(fh.fileno())
        return {"sha256": sha256_of(f), "bytes": f.stat().st_size}

    names = sorted(tmp.iterdir())
    # fsync and sha256 release the GIL: the files are done a few at a time
    with ThreadPoolExecutor(min(4, len(names) or 1)) as pool:
        files: dict[str, dict[str, Any]] = {f.name: entry for f, entry in zip(names, pool.map(sealed, names))}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": params.to_dict(),
        "normalization": NORMALIZATION,
        "hash": KEYED_HASH_NAME if key is not None else HASH_NAME,
        "token_codes": KEYED_CODE_NAME if key is not None else CODE_NAME,
        "minhash_scheme": f"datasketch 2.x {SCHEME}",
        "counts": counts,
        "fields": info.get("fields", {}),
        "meta_fields": meta_fields,
        "inputs": info.get("inputs", []),
        "id_fallback_files": info.get("id_fallback_files", []),
        "skipped": info.get("skipped", Skipped().to_dict()),
        "files": files,
    }
    if params.jaccard:
        bands, rows = lsh_params(params.lsh_threshold, params.num_perm)
        manifest["lsh"] = {"bands": bands, "rows": rows}
    if key is not None:  # the fingerprint only: the key and its subkey stay in memory
        manifest["key"] = {"fingerprint": key.fingerprint, "fingerprint_scheme": FINGERPRINT_SCHEME,
                           "token_hash": TOKEN_HASH, "shingle_hash": SHINGLE_HASH}
    with open(tmp / MANIFEST, "wb") as fh:
        fh.write(sealed_json(manifest))
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(tmp)


def _replace(tmp: Path, path: Path) -> None:
    """Rename the finished directory ``tmp`` to ``path``. An index already there is swapped out in one
    step (``renameat2``), so that ``path`` is always the old index or the new one; where the system
    cannot swap, it is renamed away first (a crash between the two renames leaves it at
    ``.NAME.HOST-PID.old.tmp``, which :func:`open_index` points to)."""
    if path.exists():
        if exchange(tmp, path):
            fsync_dir(path.parent)
            shutil.rmtree(tmp, ignore_errors=True)  # (now the old index)
            return
        old = path.with_name(f"{temp_prefix(path.name)}old.tmp")
        os.rename(path, old)
        os.rename(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, path)
    fsync_dir(path.parent)


class _Background:
    """``fn(*args)`` in a daemon thread (hashing releases the GIL): :meth:`result` waits and re-raises
    its exception. A daemon, so that a process stopping on an error does not wait for it."""

    def __init__(self, fn: Callable[..., None], *args: Any) -> None:
        self._error: BaseException | None = None

        def run() -> None:
            try:
                fn(*args)
            except BaseException as e:  # handed to result()
                self._error = e

        self._thread = threading.Thread(target=run, name="index-sha256", daemon=True)
        self._thread.start()

    def result(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _check_checksums(path: Path, files: dict[str, dict[str, Any]], names: list[str]) -> None:
    for name in names:
        f = path / name
        if sha256_of(f) != files[name].get("sha256"):
            raise IndexFormatError(f"{f}: checksum differs from the manifest (damaged or altered index)")


def check_key(path: Path | None, fp: str | None, key: Key | None) -> Key | None:
    """Check a key given for the index at ``path`` built with the key of fingerprint ``fp`` (None:
    built without a key): another key than the index's, or a key for an index built without one, is
    a SecretKeyError. No key at all is fine here (the index can be opened, not hashed against; see
    :meth:`Index.require_key`). Returns ``key``."""
    if key is None:
        return None
    if fp is None:
        raise SecretKeyError(f"{key.source}: the index {path} was built without a key; leave out --key-file")
    if key.fingerprint != fp:
        raise SecretKeyError(f"{key.source}: not the key of the index {path} (key fingerprint {short(key.fingerprint)}, "
                             f"the index's {short(fp)})")
    return key


def open_index(path: str | Path, *, verify: bool | str = True, key: "Key | bytes | None" = None) -> Index:
    """Open an index directory, checking format version, parameters, file sizes and (with ``verify``)
    checksums.

    ``key``: the secret key of a keyed index, checked against the manifest's fingerprint (a wrong key,
    or a key for an index built without one, is a SecretKeyError). A keyed index opens without its
    key too, but cannot then hash texts (scan, append): :meth:`Index.require_key`.

    ``verify="background"`` checks the checksums in a thread while the caller goes on (a scan of a
    large index need not wait for tens of gigabytes to be hashed); :meth:`Index.wait_verified`
    returns when they are checked and raises if one differs. A scan calls it before it writes any
    result.
    """
    path = Path(path)
    mpath = path / MANIFEST
    if not path.exists():
        left = sorted(p.name for p in path.parent.glob(f".{path.name}.*.tmp")) if path.name else []
        old = [n for n in left if n.endswith(".old.tmp") and is_index(path.parent / n)]
        if old:  # (only where the system cannot swap directories in one step)
            raise IndexFormatError(f"{path}: no index: a build that was replacing it stopped; the previous index is "
                                   f"{path.parent / old[0]} (rename it to {path.name}, or build again)")
        if left:
            raise IndexFormatError(f"{path}: no index: a build that was stopped left {path.parent / left[0]} "
                                   "(incomplete; build the index again)")
        raise IndexFormatError(f"{path}: no such index directory")
    if not mpath.is_file():
        raise IndexFormatError(f"{path}: not a provenance index (no {MANIFEST})")
    raw = mpath.read_bytes()
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise IndexFormatError(f"{mpath}: damaged manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{mpath}: not a provenance index manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{path}: index format version {version}, this provenance {__version__} reads version {FORMAT_VERSION}; rebuild the index")
    try:
        unseal(raw, mpath, "index manifest")
    except DamagedFile as e:
        raise IndexFormatError(str(e)) from None
    normalization = manifest.get("normalization")
    if normalization != NORMALIZATION:
        # Posts and documents must be normalized alike: a post normalized otherwise would be missed, silently.
        built = f"normalization {normalization!r}" if normalization else "an older normalization (none recorded)"
        raise IndexFormatError(f"{path}: index built with {built}, this version normalizes as {NORMALIZATION!r}; "
                               "rebuild the index")
    key_entry = manifest.get("key")
    fp = key_entry.get("fingerprint") if isinstance(key_entry, dict) else None
    if key_entry is not None and not (isinstance(fp, str) and len(fp) == 32):
        raise IndexFormatError(f"{mpath}: damaged key entry (no fingerprint)")
    hash_name = KEYED_HASH_NAME if fp is not None else HASH_NAME
    if manifest.get("hash") != hash_name or manifest.get("minhash_scheme") != f"datasketch 2.x {SCHEME}":
        raise IndexFormatError(f"{path}: index uses hash {manifest.get('hash')!r}, this version uses {hash_name!r}; rebuild the index")
    key = check_key(path, fp, as_key(key))
    try:
        params = IndexParams.from_dict(manifest.get("params", {}))
    except (ParameterError, TypeError) as e:
        raise IndexFormatError(f"{mpath}: bad parameters ({e})") from None
    files = manifest.get("files", {})
    names = arrays_of(params)
    expected = {"posts.parquet", *(f"{n}.npy" for n in names)}
    missing = sorted(expected - set(files))
    if missing:
        raise IndexFormatError(f"{mpath}: manifest lists no checksum for {', '.join(missing)}")
    for name in sorted(expected):
        f = path / name
        if not f.is_file():
            raise IndexFormatError(f"{f}: missing index file")
        if f.stat().st_size != files[name].get("bytes"):
            raise IndexFormatError(f"{f}: size differs from the manifest (damaged or altered index)")
    check = None
    if verify == "background":
        check = _Background(_check_checksums, path, files, sorted(expected))
    elif verify:
        _check_checksums(path, files, sorted(expected))
    try:
        pl.read_parquet_schema(path / "posts.parquet")
        # Memory-mapped: a scan pages in what it touches (a containment scan never reads the MinHash tables).
        # (np.asarray: plain ndarray views of the maps, without np.memmap's per-operation overhead.)
        arrays = {n: np.asarray(np.load(path / f"{n}.npy", mmap_mode="r", allow_pickle=False)) for n in names}
    except Exception as e:  # a file that passed its checksum but does not parse
        raise IndexFormatError(f"{path}: unreadable index file ({type(e).__name__}: {e})") from None
    for a in arrays.values():
        a.setflags(write=False)
    manifest["manifest_sha256"] = hashlib.sha256(raw).hexdigest()
    return Index(path, params, manifest=manifest, _verifying=check, key=key, **arrays)
