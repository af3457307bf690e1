"""Bounded-memory building blocks for the index build: append-only ``.npy`` writers and an external
sort of fixed-size records by a uint64 hash, partitioned by hash range.

An index over 100 M posts has billions of (shingle, post) postings; they never fit in memory at once.
:class:`HashSpill` keeps records in memory until the build's buffer budget is used up, then appends
them to one file per hash range (the top ``bits`` bits of the hash). :meth:`HashSpill.ranges` hands the
ranges back in hash order, each sorted by hash (stably: records with equal hashes keep the order they
were added in). A range file larger than the per-range budget is split again on the next bits, so
the memory a range needs stays bounded however skewed or large the input.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterator

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..arrays import narrowest_uint, stable_argsort
from .lookup import KeyTable

__all__ = ["HashSpill", "KeyWriter", "NpyWriter", "copy_narrow", "default_memory_limit", "narrow_in_place", "parse_size", "read_rows",
           "write_distinct"]

_HEADER = 128  # bytes reserved for an .npy header (version 1.0 pads it to a multiple of 64)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 10**3, "kib": 1 << 10, "m": 1 << 20, "mb": 10**6, "mib": 1 << 20,
          "g": 1 << 30, "gb": 10**9, "gib": 1 << 30, "t": 1 << 40, "tb": 10**12, "tib": 1 << 40}


def parse_size(text: str) -> int:
    """``"512MiB"``, ``"2G"``, ``"1.5GB"``, ``"1000000"`` → bytes. Raises ValueError."""
    s = text.strip().lower().replace(" ", "")
    number = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(number):]
    if unit not in _UNITS or not number:
        raise ValueError(f"not a size: {text!r} (use e.g. 512MiB, 4GiB, 2G)")
    return int(float(number) * _UNITS[unit])


def _header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    return buf.getvalue()


class NpyWriter:
    """Writes an ``.npy`` file by appending rows; the header (with the final shape) is written on
    :meth:`close`. The file is byte-identical to ``np.save`` of the concatenated rows."""

    def __init__(self, path: Path, dtype: DTypeLike, row_shape: tuple[int, ...] = ()) -> None:
        self.path, self.dtype, self.row_shape = path, np.dtype(dtype), row_shape
        self.rows = 0
        self._f = open(path, "wb")
        self._f.write(b"\0" * _HEADER)

    def append(self, values: NDArray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        assert values.shape[1:] == self.row_shape, (values.shape, self.row_shape)
        self._f.write(memoryview(values.reshape(-1)).cast("B"))
        self.rows += values.shape[0]

    def close(self, shape: tuple[int, ...] | None = None) -> None:
        """Finish the file. ``shape`` (same number of elements) overrides ``(rows, *row_shape)``."""
        shape = shape or (self.rows, *self.row_shape)
        assert int(np.prod(shape)) == self.rows * int(np.prod(self.row_shape)), (shape, self.rows)
        header = _header(self.dtype, shape)
        if len(header) != _HEADER:  # cannot happen below 10^40 elements, but never write a broken file
            raise RuntimeError(f"{self.path}: .npy header of {len(header)} bytes, {_HEADER} reserved")
        self._f.seek(0)
        self._f.write(header)
        self._f.close()


class KeyWriter:
    """Writes the sorted keys in the three parts of :class:`~provenance.index.lookup.KeyTable`: the low 48
    bits of each key to ``hi`` and ``lo`` as they come, the counts of the top 16 bits on :meth:`close`."""

    def __init__(self, hi: NpyWriter, lo: NpyWriter) -> None:
        self.hi, self.lo = hi, lo
        self.counts = np.zeros(1 << KeyTable.TOP_BITS, dtype=np.int64)

    @property
    def rows(self) -> int:
        return self.lo.rows

    def append(self, keys: NDArray[np.uint64]) -> None:
        counts, hi, lo = KeyTable.split(keys)
        self.counts += counts
        self.hi.append(hi)
        self.lo.append(lo)

    def close(self, counts_path: Path) -> None:
        self.hi.close()
        self.lo.close()
        np.save(counts_path, self.counts.astype(narrowest_uint(int(self.counts.max()))), allow_pickle=False)


def _concatenate(parts: list[NDArray], dtype: np.dtype) -> NDArray:
    """``np.concatenate`` of record arrays, as raw bytes (numpy copies records field by field)."""
    raw = np.dtype((np.void, dtype.itemsize))
    return np.concatenate([np.ascontiguousarray(p).view(raw) for p in parts]).view(dtype) if parts else np.zeros(0, dtype)


class HashSpill:
    """External sort of structured records by their uint64 field ``"h"``, partitioned by hash range."""

    def __init__(self, directory: Path, name: str, dtype: np.dtype, bits: int = 8) -> None:
        self.dir, self.name, self.dtype, self.bits = directory, name, np.dtype(dtype), bits
        self._parts: list[NDArray] = []
        self.buffered = 0  # bytes held in memory
        self.spilled = False
        self.records = 0
        self._files: set[str] = set()  # range files written and not yet consumed

    def add(self, records: NDArray) -> None:
        if len(records):
            self._parts.append(records)
            self.buffered += records.nbytes
            self.records += len(records)

    def flush(self) -> None:
        """Append the buffered records to their range files and free the buffer."""
        if not self._parts:
            return
        recs = _concatenate(self._parts, self.dtype)
        self._parts, self.buffered = [], 0
        self._append_ranges(recs, 64 - self.bits, self.bits, self.name)
        self.spilled = True

    def _file(self, stem: str) -> Path:
        return self.dir / f"{stem}.bin"

    def _append_ranges(self, recs: NDArray, shift: int, bits: int, stem: str) -> None:
        """Append ``recs`` to ``stem-XX`` files by hash bits ``[shift, shift + bits)`` (order kept)."""
        part = ((recs["h"] >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.uint16)  # (a radix sort)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange((1 << bits) + 1))
        recs = np.take(recs, order)
        for r in np.flatnonzero(np.diff(bounds)):
            name = f"{stem}-{r:0{(bits + 3) // 4}x}"
            with open(self._file(name), "ab") as f:
                recs[bounds[r] : bounds[r + 1]].tofile(f)
            self._files.add(name)

    def ranges(self, limit: int) -> Iterator[NDArray]:
        """The records, range by range in hash order, each sorted stably by hash. A range holds at
        most ``limit`` bytes unless its records all share one hash prefix that cannot be split."""
        if not self.spilled:
            recs = _concatenate(self._parts, self.dtype)
            self._parts, self.buffered = [], 0
            if len(recs):
                yield np.take(recs, stable_argsort(recs["h"]))
            return
        self.flush()
        yield from self._range_files(self.name, 64 - self.bits, self.bits, limit)

    def _range_files(self, stem: str, shift: int, bits: int, limit: int) -> Iterator[NDArray]:
        width = (bits + 3) // 4
        for r in range(1 << bits):
            name = f"{stem}-{r:0{width}x}"
            if name in self._files:
                self._files.discard(name)
                yield from self._range_file(name, shift, limit)

    def _range_file(self, stem: str, shift: int, limit: int) -> Iterator[NDArray]:
        path = self._file(stem)
        size = path.stat().st_size
        if size <= limit or shift == 0:
            recs = np.fromfile(path, dtype=self.dtype)
            path.unlink()
            yield np.take(recs, stable_argsort(recs["h"]))
            return
        # Too large: split on the next bits (enough for pieces of about half the limit, at most 8),
        # reading the file in budget-sized pieces.
        bits = int(min(8, shift, max(1, np.ceil(np.log2(size / limit)) + 1)))
        step = max(limit // self.dtype.itemsize, 1)
        total = size // self.dtype.itemsize
        for start in range(0, total, step):
            chunk = np.fromfile(path, dtype=self.dtype, count=min(step, total - start),
                                offset=start * self.dtype.itemsize)
            self._append_ranges(chunk, shift - bits, bits, stem)
        path.unlink()
        yield from self._range_files(stem, shift - bits, bits, limit)


def default_memory_limit() -> int:
    """A quarter of the machine's physical memory (at least 256 MiB)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 4 << 30
    return max(total // 4, 256 << 20)


def read_rows(path: Path, start: int, stop: int) -> NDArray:
    """Rows ``start:stop`` of a 1-D ``.npy`` file, read (not memory-mapped: the pages stay in the
    page cache, not in this process)."""
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        _, _, dtype = np.lib.format.read_array_header_1_0(f)  # NpyWriter and np.save write version 1.0
        return np.fromfile(f, dtype=dtype, count=stop - start, offset=start * dtype.itemsize)


def copy_narrow(source: Path, dest: Path, rows: int, largest: int, memory: int) -> None:
    """The 1-D ``.npy`` file ``source`` (``rows`` values, none above ``largest``) copied to ``dest`` in
    the narrowest dtype that holds ``largest`` (:func:`provenance.arrays.narrowest_uint`), a piece at a time."""
    w = NpyWriter(dest, narrowest_uint(largest))
    step = max(memory // 8, 1 << 16)
    for a in range(0, rows, step):
        w.append(read_rows(source, a, min(a + step, rows)).astype(w.dtype))
    w.close()


def narrow_in_place(path: Path, work: Path, memory: int) -> None:
    """The 1-D ``.npy`` file ``path`` written again in the narrowest dtype its largest value fits (moved
    into the directory ``work``, on the same file system, while it is copied back)."""
    values = np.load(path, mmap_mode="r", allow_pickle=False)
    rows, largest = len(values), int(values.max(initial=0))
    del values
    wide = work / path.name
    os.replace(path, wide)
    copy_narrow(wide, path, rows, largest, memory)
    wide.unlink()


def write_distinct(spill: HashSpill, w: NpyWriter, memory: int) -> None:
    """The distinct hashes of ``spill``'s records, sorted, into ``w`` (closed)."""
    for r in spill.ranges(memory):
        h = r["h"]
        w.append(h[np.r_[True, h[1:] != h[:-1]]] if len(h) else h)
    w.close()
