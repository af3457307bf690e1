"""Sorted-table lookups the index and the scan share: exact search, the key filter, bucketed search."""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["KeyFilter", "KeyRows", "KeyTable", "find_in", "lookup"]


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


@dataclass(frozen=True)
class HashRange:
    """The hashes ``base .. base + 2^bits - 1`` that a sorted table's values lie in (``bits`` 64: every
    hash). A filter or search buckets made for the table cut this range into equal slots, so that a table
    of one narrow range of hashes (a route part's keys) spreads over all its slots, as a table of every
    range does over the top bits of the hashes."""

    base: int = 0
    bits: int = 64

    @classmethod
    def spanned(cls, lowest: int, highest: int) -> "HashRange":
        """The range of a table whose values run from ``lowest`` to ``highest`` (every hash when that
        range is half of them or more)."""
        bits = max(highest - lowest, 1).bit_length()
        return cls(lowest, bits) if bits < 63 else cls()

    def slots(self, hashes: NDArray[np.uint64], slot_bits: int) -> tuple[NDArray[np.uint64], NDArray[np.bool_] | None]:
        """The slot of each hash among the range's ``2^slot_bits`` slots, and which hashes lie in the
        range (None: all of them; those outside get slot 0)."""
        shift = np.uint64(max(self.bits - slot_bits, 0))
        if self.bits >= 64:
            return hashes >> shift, None
        base = np.uint64(self.base)
        rel = hashes - base  # (wraps below the base: out of range either way)
        inside = (hashes >= base) & ((rel >> np.uint64(self.bits)) == 0)
        return np.where(inside, rel, np.uint64(0)) >> shift, inside


_BIT = (1 << np.arange(8)).astype(np.uint8)
_CHUNK = 1 << 16  # hashes tested at once: the temporaries stay in the CPU cache


class KeyFilter:
    """One bit per slot of the hashes' top bits, set where some key has those bits: a cheap
    "certainly absent" test (an eighth of a byte per slot, at most 128 MiB)."""

    def __init__(self, bitmap: NDArray[np.uint8], span: HashRange = HashRange()) -> None:
        bits = int(len(bitmap) * 8).bit_length() - 1
        if len(bitmap) * 8 != 1 << bits:
            raise ValueError(f"key filter of {len(bitmap)} bytes is not a power of two")
        self.bitmap, self.bits = bitmap, bits
        self.span = span  # the hashes its slots cut (a route part's filter: its key range only)
        # 64 slots per little-endian word: a test is one gather and one shift
        self._words = bitmap.view(np.uint64) if sys.byteorder == "little" and len(bitmap) % 8 == 0 else None
        self._buckets: tuple[weakref.ref, _Buckets] | None = None
        self._bytes: NDArray[np.bool_] | None = None  # a small filter's slots, a byte each (made on first use)

    @staticmethod
    def bits_for(n_keys: int) -> int:
        return int(np.clip(np.ceil(np.log2(max(n_keys, 1) * 8)), 16, 30))

    @classmethod
    def of(cls, keys: NDArray[np.uint64], bits: int | None = None, ranged: bool = False) -> "KeyFilter":
        """The filter of ``keys``; ``ranged``: of the range the keys span (their lowest to their highest),
        for keys that hold a narrow range of hashes and are tested with hashes of that range."""
        bitmap = np.zeros(1 << ((bits or cls.bits_for(len(keys))) - 3), dtype=np.uint8)
        span = HashRange.spanned(int(np.min(keys)), int(np.max(keys))) if ranged and len(keys) else HashRange()
        f = cls(bitmap, span)
        f.add(keys)
        return f

    def add(self, keys: NDArray[np.uint64]) -> None:
        slots, inside = self.span.slots(np.asarray(keys, dtype=np.uint64), self.bits)
        if inside is not None and not inside.all():
            raise ValueError("a key outside the range of a ranged key filter")
        self.add_slots(slots)

    def add_slots(self, slots: NDArray[np.uint64]) -> None:
        """Set the slots (top bits of the hashes) ``slots``."""
        slots = np.asarray(slots, dtype=np.uint64)
        if not len(slots):
            return
        if not (slots[1:] >= slots[:-1]).all():  # (the keys of a table come sorted: their slots too)
            slots = np.sort(slots)
        # A byte a slot over one window of slots at a time, then packed into the window's bits: a
        # scatter and a pack, several times faster than or-ing each byte's bits together (5.1 M seeds:
        # 0.06 s against 0.2-0.5 s), in at most ``_WINDOW`` bytes of scratch.
        n_slots = len(self.bitmap) * 8
        window = min(self._WINDOW, n_slots)
        scratch = np.empty(window, dtype=bool)
        edges = np.searchsorted(slots, np.arange(0, n_slots + 1, window, dtype=np.uint64))
        for w in np.flatnonzero(np.diff(edges)):
            lo = int(w) * window
            scratch[:] = False
            scratch[(slots[edges[w] : edges[w + 1]] - np.uint64(lo)).astype(np.intp)] = True
            self.bitmap[lo >> 3 : (lo + window) >> 3] |= np.packbits(scratch, bitorder="little")
        self._bytes = None

    _WINDOW = 1 << 23
    """Slots set at once by :meth:`add_slots` (its scratch, a byte a slot: 8 MiB)."""

    _BYTE_SLOTS = 1 << 20
    """Filters of at most this many slots are tested through a table of one byte per slot (1 MiB)."""

    def maybe(self, hashes: NDArray[np.uint64]) -> NDArray[np.bool_]:
        out = np.empty(len(hashes), dtype=bool)
        small = len(self.bitmap) * 8 <= self._BYTE_SLOTS
        if small and self._bytes is None:
            self._bytes = np.unpackbits(self.bitmap, bitorder="little").view(bool)
        for a in range(0, len(hashes), _CHUNK):
            slots, inside = self.span.slots(hashes[a : a + _CHUNK], self.bits)
            part = out[a : a + _CHUNK]
            if small:
                np.take(self._bytes, slots, out=part)
            else:
                self._test(slots, part)
            if inside is not None:
                part &= inside
        return out

    def _test(self, slots: NDArray[np.uint64], out: NDArray[np.bool_]) -> None:
        if self._words is not None:
            word = self._words[slots >> np.uint64(6)]
            word >>= slots & np.uint64(63)
            word &= np.uint64(1)
            np.not_equal(word, 0, out=out)
        else:
            np.not_equal(self.bitmap[slots >> np.uint64(3)] & _BIT[slots & np.uint64(7)], 0, out=out)

    def made_bytes(self) -> int:
        """Bytes of the filter and of what it made for lookups (its byte table, its search buckets)."""
        made = self.bitmap.nbytes + (self._bytes.nbytes if self._bytes is not None else 0)
        return made + (self._buckets[1].start.nbytes if self._buckets is not None else 0)

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

    def __init__(self, start: NDArray[np.integer], bits: int, steps: int, mask: np.uint64 | None = None,
                 span: HashRange = HashRange()) -> None:
        self.start, self.bits, self.steps = start, bits, steps
        self.mask = mask  # what of a needle the table's values hold (all of it when None)
        self.span = span  # the hashes the buckets cut (a route part's table: its key range only)

    @classmethod
    def of(cls, table: NDArray[np.uint64], chunk: int = 1 << 18) -> "_Buckets":
        bits = int(np.clip(len(table).bit_length(), 1, cls.MAX_BITS))
        span = HashRange.spanned(int(table[0]), int(table[-1])) if len(table) else HashRange()
        tops = (span.slots(np.asarray(table[a : a + chunk]), bits)[0] for a in range(0, len(table), chunk))
        made = cls.of_tops(tops, bits, len(table))
        made.span = span
        return made

    @classmethod
    def of_tops(cls, tops: Iterator[NDArray[np.uint64]], bits: int, n: int, mask: np.uint64 | None = None) -> "_Buckets":
        """The buckets of a sorted table of ``n`` values whose top ``bits`` bits come in ``tops``, pieces
        in order."""
        # start[b + 1] counts the keys of bucket b, then the running sum makes the starts (in place:
        # no other array of the table's size)
        start = np.zeros((1 << bits) + 1, dtype=np.int32 if n < 2**31 else np.int64)
        for top in tops:  # (sorted: each piece is runs of equal top bits)
            edge = np.flatnonzero(np.r_[True, top[1:] != top[:-1]])
            start[top[edge].astype(np.int64) + 1] += np.diff(np.r_[edge, len(top)]).astype(start.dtype)
        most = int(start.max())
        np.cumsum(start, out=start)
        return cls(start, bits, most.bit_length(), mask)

    def search(self, table: NDArray[np.uint64], needles: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The needles present in ``table``: their indices in ``needles`` (increasing) and their
        first positions in ``table``."""
        # (a needle outside the table's range gets bucket 0, whose values it cannot equal)
        top = self.span.slots(needles, self.bits)[0].astype(np.intp)
        lo = self.start[top].astype(np.int64)
        end = self.start[top + 1].astype(np.int64)
        at = np.flatnonzero(end > lo)
        lo, end, x = lo[at], end[at], needles[at]
        if self.mask is not None:
            x = x & self.mask
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


class KeyTable:
    """The sorted key hashes of an index, stored in three parts (format 10) and nothing lost: how many
    keys have each value of the top 16 bits (``key_counts``, 65,536 counts), then each key's other 48
    bits as uint16 ``key_hi`` and uint32 ``key_lo``: six bytes a key instead of eight. Key ``j``'s top
    bits are the count bucket whose range of key numbers holds ``j``.

    Reads like the sorted uint64 array (``len``, ``table[j]`` for key numbers, ``np.asarray(table)``
    whole); :meth:`find` searches it. Its key filter and search buckets are made when first needed
    (from the top 32 bits, read piece by piece)."""

    TOP_BITS = 16
    _LOW = np.uint64((1 << 48) - 1)

    def __init__(self, counts: NDArray[np.unsignedinteger], hi: NDArray[np.uint16], lo: NDArray[np.uint32]) -> None:
        if len(counts) != 1 << self.TOP_BITS or len(hi) != len(lo) or int(np.sum(counts, dtype=np.int64)) != len(lo):
            raise ValueError("key_counts, key_hi and key_lo do not agree")
        self.starts = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.starts[1:])
        self.hi, self.lo = hi, lo

    @classmethod
    def split(cls, keys: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.uint16], NDArray[np.uint32]]:
        """Sorted ``keys`` as ``(counts, hi, lo)``, the counts of this piece (to be summed over pieces)."""
        counts = np.bincount((keys >> np.uint64(48)).astype(np.intp), minlength=1 << cls.TOP_BITS)
        return counts, (keys >> np.uint64(32)).astype(np.uint16), keys.astype(np.uint32)

    def __len__(self) -> int:
        return len(self.lo)

    def __getitem__(self, j: Any) -> Any:
        """The hashes of key numbers ``j`` (an int, a slice or an array of them)."""
        if isinstance(j, slice):
            a, b, step = j.indices(len(self))
            if step == 1:
                return self._values(a, b)
            j = np.arange(a, b, step)
        idx = np.asarray(j, dtype=np.int64)
        top = (np.searchsorted(self.starts, idx, side="right") - 1).astype(np.uint64)
        full = (top << np.uint64(48)) | (self.hi[idx].astype(np.uint64) << np.uint64(32)) | self.lo[idx].astype(np.uint64)
        return full if idx.ndim else np.uint64(full)

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[np.uint64]:
        full = self._values(0, len(self))
        return full if dtype is None else full.astype(dtype)

    def _top32(self, a: int, b: int) -> NDArray[np.uint64]:
        """The top 32 bits of keys ``a .. b-1``."""
        top = np.repeat(np.arange(1 << self.TOP_BITS, dtype=np.uint64), np.diff(np.clip(self.starts, a, b)))
        return (top << np.uint64(16)) | self.hi[a:b].astype(np.uint64)

    def _values(self, a: int, b: int) -> NDArray[np.uint64]:
        return (self._top32(a, b) << np.uint64(32)) | self.lo[a:b].astype(np.uint64)

    def _pieces(self, shift: int, chunk: int = 1 << 20) -> Iterator[NDArray[np.uint64]]:
        for a in range(0, len(self), chunk):
            yield self._top32(a, min(a + chunk, len(self))) >> np.uint64(shift)

    FEW_NEEDLES = 64
    """A lookup of fewer needles than the keys / this searches without the filter until it exists."""

    @cached_property
    def filter(self) -> KeyFilter:
        """The :class:`KeyFilter` of the keys (made when first used: it is not stored)."""
        bits = KeyFilter.bits_for(len(self))
        f = KeyFilter(np.zeros(1 << (bits - 3), dtype=np.uint8))
        for slots in self._pieces(32 - bits):
            f.add_slots(slots)
        return f

    @cached_property
    def _buckets(self) -> "_Buckets":
        # at least the 16 stored top bits: a bucket's keys then differ only in the bits the table keeps
        bits = int(np.clip(len(self).bit_length(), self.TOP_BITS, _Buckets.MAX_BITS))
        return _Buckets.of_tops(self._pieces(32 - bits), bits, len(self), mask=self._LOW)

    def made_bytes(self) -> int:
        """Bytes this table made in memory (bucket starts, and the filter and search buckets once made)."""
        n = self.starts.nbytes
        if "filter" in self.__dict__:
            n += self.filter.made_bytes()
        if "_buckets" in self.__dict__:
            n += self._buckets.start.nbytes
        return n

    def find(self, needles: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The needles that are keys: their indices in ``needles`` (increasing) and their key numbers."""
        if len(self) == 0 or len(needles) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if "filter" not in self.__dict__ and len(needles) * self.FEW_NEEDLES < len(self):
            # a few needles (a scan's matched spans): all searched, without making the filter, which
            # costs about a byte a key to make when the table is opened
            maybe = np.arange(len(needles))
        else:
            maybe = np.flatnonzero(self.filter.maybe(needles))
        if len(maybe) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        found, pos = self._buckets.search(_Low48(self.hi, self.lo), needles[maybe])
        return maybe[found], pos


class _Low48:
    """The low 48 bits of the keys, gathered from the two arrays that hold them."""

    def __init__(self, hi: NDArray[np.uint16], lo: NDArray[np.uint32]) -> None:
        self.hi, self.lo = hi, lo

    def __getitem__(self, j: NDArray[np.int64]) -> NDArray[np.uint64]:
        return (self.hi[j].astype(np.uint64) << np.uint64(32)) | self.lo[j]


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


class KeyRows:
    """Where each key's postings lie in ``key_posts`` / ``key_pos``, stored for the keys of more than
    one post only (format 9; most keys of real posts have one: 90 % of a tweet index's).

    The postings are grouped by key in key order, so key ``j``'s first row is ``j`` plus the extra
    rows (postings beyond the first) of the keys before it, and only keys with extra rows need
    storing: ``multi`` (increasing key numbers) and ``ends`` (the row after each one's last posting).
    Key ``j`` with ``r`` multi keys before it starts at ``j + extra(r)``, where ``extra(r)`` is
    ``ends[r-1] - multi[r-1] - 1`` (0 for ``r = 0``); it has ``ends[r] - start`` postings if it is
    ``multi[r]``, else 1. Both arrays are as narrow as the postings allow.
    """

    def __init__(self, multi: NDArray[np.integer], ends: NDArray[np.integer], n_keys: int) -> None:
        self.multi, self.ends, self.n_keys = multi, ends, n_keys

    def _extra(self, r: NDArray[np.int64]) -> NDArray[np.int64]:
        """Extra rows of the first ``r`` multi keys."""
        last = np.maximum(r - 1, 0)
        extra = self.ends[last].astype(np.int64) - self.multi[last].astype(np.int64) - 1 if len(self.multi) else np.zeros(len(r), np.int64)
        return np.where(r > 0, extra, 0)

    def rows(self, keys: NDArray[np.integer]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """For key numbers ``keys``: the first row of each and its number of postings, int64."""
        keys = np.asarray(keys, dtype=np.int64)
        r = np.searchsorted(self.multi, keys, side="left").astype(np.int64)
        start = keys + self._extra(r)
        at = np.minimum(r, max(len(self.multi) - 1, 0))
        is_multi = (r < len(self.multi)) & (self.multi[at] == keys) if len(self.multi) else np.zeros(len(keys), bool)
        count = np.where(is_multi, self.ends[at].astype(np.int64) - start, 1) if len(self.multi) else np.ones(len(keys), np.int64)
        return start, count

    def offsets(self, j0: int, j1: int) -> NDArray[np.int64]:
        """The first row of keys ``j0 .. j1`` (``j1`` may be ``n_keys``: the number of postings), int64
        ``(j1 - j0 + 1,)``: the dense offsets of a range of keys."""
        keys = np.arange(j0, j1 + 1, dtype=np.int64)
        return keys + self._extra(np.searchsorted(self.multi, keys, side="left").astype(np.int64))

    def key_of(self, rows: NDArray[np.integer]) -> NDArray[np.int64]:
        """The key number of each posting row."""
        rows = np.asarray(rows, dtype=np.int64)
        m = np.searchsorted(self.ends, rows, side="right").astype(np.int64)  # multi keys that end at or before a row
        key = rows - self._extra(m)
        if len(self.multi):
            at = np.minimum(m, len(self.multi) - 1)
            first = self.multi[at].astype(np.int64) + self._extra(at)
            inside = (m < len(self.multi)) & (rows >= first)
            key = np.where(inside, self.multi[at].astype(np.int64), key)
        return key

    @staticmethod
    def of_run(starts: NDArray[np.int64], n_rows: int, first_key: int, first_row: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """``(multi, ends)`` entries of consecutive keys whose postings start at rows ``starts`` of a run of
        ``n_rows`` postings, numbered from ``first_key``, the run's first posting being row ``first_row``."""
        counts = np.diff(np.r_[starts, n_rows])
        multi = np.flatnonzero(counts > 1)
        return multi + first_key, first_row + starts[multi] + counts[multi]
