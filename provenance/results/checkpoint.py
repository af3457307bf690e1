"""Scan checkpoints: each input file's results are kept as soon as the file is done, so an interrupted
scan resumes where it stopped and a re-scan re-reads only the files that changed.

Layout, inside the scan's output directory::

    units/scan.json            what the units belong to: index manifest sha256, scan parameters, fields
    units/<key>.parquet        one file's match rows (ROW_SCHEMA + the post's row number "_post"), in document
                               order, written a batch at a time while the unit is scanned
    units/<key>.json           that file's path or URL, size, change marker, sha256, tally and stage timings

A unit is a file, or a part of a large file (a byte range of a line file, a row range of a parquet
file; :func:`provenance.io.split_units`), with its own rows, tally and sha256 (of the part's bytes).
``<key>`` is a hash of the file's absolute path as given (symbolic links not followed: two names of
one file are two units, each with its own ``source``), or of its URL, and the part's range. Every file is written to a temporary name
and renamed, and the ``.json`` (which makes a unit count) is renamed last, so a killed scan leaves only
whole units. A unit is reused when ``scan.json`` is unchanged (same index, parameters and fields) and the
file is unchanged:

* a local file still has the recorded size and modification time (a file whose content changed but kept
  both is not noticed);
* a URL still has the recorded size and change marker, the first of :data:`MARKERS` that fsspec's
  ``info`` gave both then and now (an ETag, a modification or creation time); when there is none, the
  file is read again (not scanned) and its sha256 compared with the recorded one.

The recorded sha256 is of the on-disk (compressed) bytes, hashed while the scan read them
(:func:`provenance.io.take_sha256`), so a checkpointed scan reads each file once; only files read
elsewhere (Dask workers in other processes) and local parquet files (which polars reads itself) are
read a second time for it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import polars as pl

from ..durable import (DamagedFile, OutputError, atomic_write, remove_stale, sha256_of, temp_prefix, unseal,
                       write_failure, write_sealed)
from ..errors import ProvenanceError, Skipped
from ..io import URL, InputFile, file_sha256, take_sha256
from ..match.tally import Tally
from .judged import ROWS

__all__ = ["MARKERS", "Checkpoint", "RowWriter", "UnitResult"]

FORMAT = "provenance-scan-units/3"  # 2: tallies count the tokens scanned; 3: rows carry span_texts
UnitResult = tuple[Tally, dict[str, float], "list[dict[str, Any]] | Path"]
"""A unit's tally, stage timings and match rows (or the file that holds them)."""


class RowWriter:
    """One unit's match rows written as they are found, a batch at a time (:meth:`append`), into a
    temporary file that :meth:`close` renames into place (a killed scan leaves only a temporary file,
    which the next one removes). A write that fails (a full disk) removes it: one-line OutputError."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self._tmp = path.with_name(f"{temp_prefix(path.name)}rows.tmp")
        self._schema = pl.DataFrame(schema=ROWS).to_arrow().schema
        self._writer: Any = None
        self._do(lambda: setattr(self, "_writer", pq.ParquetWriter(self._tmp, self._schema)))

    def _do(self, step: Callable[[], Any]) -> None:
        import pyarrow as pa

        try:
            step()
        except (OSError, pa.ArrowException) as e:
            self.discard()
            raise OutputError(f"{self.path}: cannot write ({write_failure(e)})") from None

    def append(self, rows: list[dict[str, Any]]) -> None:
        if rows and self._writer is not None:
            table = pl.DataFrame(rows, schema=ROWS).to_arrow().cast(self._schema)
            self._do(lambda: self._writer.write_table(table))

    def close(self) -> None:
        if self._writer is not None:
            self._do(self._writer.close)
        self._writer = None
        atomic_write(self.path, lambda tmp: os.replace(self._tmp, tmp))

    def discard(self) -> None:
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()
        except OSError:
            pass
        self._tmp.unlink(missing_ok=True)

MARKERS = ("ETag", "etag", "md5Hash", "crc32c", "generation", "LastModified", "Last-Modified", "last_modified",
           "updated", "mtime", "created")
"""Keys of fsspec ``info`` that change when a remote file does, strongest first (content hashes, then
times; names differ between backends: s3fs, gcsfs, http, local and memory file systems)."""


def change_marker(info: dict[str, Any]) -> dict[str, str]:
    """The :data:`MARKERS` in an fsspec ``info``, as text (times as POSIX seconds, so a listing's
    float and a ``datetime`` of the same instant agree)."""
    out = {}
    for key in MARKERS:
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            value = value.timestamp()
        out[key] = repr(value) if isinstance(value, float) else str(value)
    return out


class Checkpoint:
    """The units of one scan's output directory (see the module docstring)."""

    def __init__(self, out_dir: str | Path, identity: dict[str, Any], resume: bool) -> None:
        self.dir = Path(out_dir) / "units"
        self.identity = {"format": FORMAT, **identity}
        self.reused = 0
        self._begun: set[str] = set()  # units this run began to record (see :attr:`stored`)
        self.notes: list[str] = []  # damaged checkpoint files found (their units are scanned again)
        self.sha256: dict[str, str] = {}  # unit -> sha256 of its bytes (for the scan's evidence)
        self._writers: dict[str, RowWriter] = {}  # unit key -> its rows, written as they are found
        self._hashed: dict[str, str] = {}  # file_sha256 memo: a parquet file's parts hash it once
        previous = None
        if resume and (self.dir / "scan.json").is_file():
            try:
                previous = unseal((self.dir / "scan.json").read_bytes(), self.dir / "scan.json", "checkpoint")
            except (OSError, DamagedFile) as e:
                self.notes.append(f"{e}; every unit is scanned again")
                previous = None
        try:
            if previous != self.identity and self.dir.exists():
                shutil.rmtree(self.dir)  # another index, other parameters, or no --resume: start over
            self.dir.mkdir(parents=True, exist_ok=True)
            remove_stale(self.dir)  # what a killed scan left
            if previous != self.identity:
                write_sealed(self.dir / "scan.json", self.identity)
        except OSError as e:
            raise ProvenanceError(f"{self.dir}: cannot keep scan checkpoints ({e.strerror or e})") from None

    @property
    def stored(self) -> int:
        """Units recorded by this run, counted on disk: a unit counts once its sealed metadata is in
        place, so a signal between that write and any bookkeeping after it still counts it."""
        return sum((self.dir / f"{key}.json").is_file() for key in self._begun)

    def kept_line(self, units: int, resumed: bool) -> str:
        """What an interrupted scan kept, and how to go on, in one sentence."""
        again = "again" if resumed else "with --resume"
        return (f"{self.reused + self.stored} of {units} units kept in {self.dir}; "
                f"run the same command {again} to continue")

    @staticmethod
    def _key(file: InputFile) -> str:
        name = str(file.path) if isinstance(file.path, URL) else str(file.path.absolute())
        if file.part is not None:  # a part of a file: its range too
            name += f"\0{file.format == 'parquet' and 'rows' or 'bytes'}\0{file.part.start}\0{file.part.stop}"
        return hashlib.sha256(name.encode("utf-8")).hexdigest()[:24]

    @staticmethod
    def _state(file: InputFile) -> dict[str, Any]:
        """What identifies the file's current version: path or URL, size, and mtime or change marker."""
        if isinstance(file.path, URL):
            info = file.path.info()
            return {"path": str(file.path), "bytes": info.get("size"), "marker": change_marker(info)}
        st = file.path.stat()
        state = {"path": str(file.path.absolute()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
        if file.part is not None:
            state["part"] = [file.part.start, file.part.stop]
        return state

    def load(self, file: InputFile) -> UnitResult | None:
        """The recorded result of ``file``, if it is complete and the file is unchanged."""
        key = self._key(file)
        meta_path, rows_path = self.dir / f"{key}.json", self.dir / f"{key}.parquet"
        if not meta_path.is_file() or not rows_path.is_file():
            return None
        try:
            meta = unseal(meta_path.read_bytes(), meta_path, "checkpoint")
            if sha256_of(rows_path) != meta["rows_sha256"]:
                raise DamagedFile(f"{rows_path}: damaged or altered checkpoint (sha256 differs from {meta_path.name})")
        except DamagedFile as e:
            self.notes.append(f"{e}; the unit is scanned again")
            return None
        except (OSError, KeyError):
            return None
        try:
            if not self._unchanged(file, meta):
                return None
            if set(ROWS) - set(pl.read_parquet_schema(rows_path)):
                return None
        except (ProvenanceError, OSError, ValueError, KeyError, pl.exceptions.PolarsError):
            return None  # foreign or unreadable: scan the file again (which reports its errors)
        tally = Tally(**{k: meta["tally"].get(k, 0) for k in Tally.COUNTS}, posts_matched=set(meta["tally"]["posts_matched"]),
                      skipped=Skipped.from_dict(meta["tally"].get("skipped")))
        self.reused += 1
        self.sha256[file.unit] = meta["sha256"]
        return tally, meta["seconds"], rows_path

    def _unchanged(self, file: InputFile, meta: dict[str, Any]) -> bool:
        now = self._state(file)
        if not isinstance(file.path, URL):
            keys = ("path", "bytes", "mtime_ns", "part")
            return all(meta.get(k) == now.get(k) for k in keys)
        if (meta["path"], meta["bytes"]) != (now["path"], now["bytes"]):
            return False
        then = meta.get("marker") or {}
        shared = [k for k in MARKERS if k in then and k in now["marker"]]
        if shared:
            return then[shared[0]] == now["marker"][shared[0]]
        return meta.get("sha256") == file_sha256(file, self._hashed)  # nothing tells a change: compare the content

    def writer(self, file: InputFile) -> RowWriter:
        """Where ``file``'s match rows go as they are found (batch after batch, in file order); :meth:`store`
        then finishes the file."""
        key = self._key(file)
        if key in self._writers:
            self._writers.pop(key).discard()
        self._writers[key] = RowWriter(self.dir / f"{key}.parquet")
        return self._writers[key]

    def discard(self) -> None:
        """Remove the rows of the units not stored (an interrupted scan)."""
        for w in self._writers.values():
            w.discard()
        self._writers.clear()

    def store(self, file: InputFile, result: UnitResult) -> Path:
        """Record ``file``'s result: rows first (those given after the ones written so far), then the
        metadata that makes the unit count; returns the file of its rows."""
        tally, seconds, rows = result
        key = self._key(file)
        try:
            (self.dir / f"{key}.json").unlink(missing_ok=True)  # an earlier run's, of a changed file: not kept now
        except OSError as e:
            raise ProvenanceError(f"{self.dir}: cannot keep scan checkpoints ({e.strerror or e})") from None
        self._begun.add(key)
        try:
            state = self._state(file)
            read = take_sha256(file)
            expected = state["bytes"] if file.part is None or file.format == "parquet" else file.part.nbytes
            sha256 = read[0] if read is not None and read[1] == expected else file_sha256(file, self._hashed)
        except (OSError, ProvenanceError):  # gone or unreadable: a file the scan skipped (--on-error skip)
            state, sha256 = {"path": str(file.path), "bytes": None}, None
        self.sha256[file.unit] = sha256
        rows_path = self.dir / f"{key}.parquet"
        writer = self._writers.pop(key, None) or RowWriter(rows_path)
        writer.append(rows if isinstance(rows, list) else [])
        writer.close()
        meta = {**state, "sha256": sha256, "seconds": seconds, "rows_sha256": sha256_of(rows_path),
                "tally": {**{k: getattr(tally, k) for k in Tally.COUNTS}, "posts_matched": sorted(tally.posts_matched),
                          "skipped": tally.skipped.to_dict()}}
        write_sealed(self.dir / f"{key}.json", meta)
        return rows_path
