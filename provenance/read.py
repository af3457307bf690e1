"""Read corpus and post files as batches of ``(row, id, text, meta)`` records.

Formats (from the extension after stripping ``.gz``/``.zst``, or forced with ``fmt``):

* ``jsonl`` (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line; blank lines
  are skipped but still counted.
* ``csv`` / ``tsv``: a header row, then one record per row; quoted fields may span lines.
* ``parquet`` (``.parquet``, ``.pq``): read in row slices with polars; never compressed
  externally.
* ``text`` (``.txt``): the whole file is one document (``--format text`` for other extensions;
  ``.md`` is not picked up by default so a dataset folder's README is not read as a document).
* ``lines``: one document per non-blank line (only via ``fmt``).

Row numbers are 1-based: the physical line for jsonl and lines, the data row (header and
blank rows excluded) for csv/tsv, the row index + 1 for parquet, and 1 for text.

Ids: with ``id_field=None`` every record's id is ``"{source}:{row}"``. Otherwise the first
record (jsonl) or the header/schema (csv, tsv, parquet) decides: if it has the field, every
record must carry a non-null value, converted to ``str`` (JSON integers keep their exact
decimal form); if not, the whole file falls back to ``source:row`` ids and its batches say
``id_fallback=True`` (as do ``lines`` files, which have no fields). A ``text`` document's
id is its path relative to the directory argument it was found in, or its file name.

Errors: everything a user can cause raises :class:`InputError` with a one-line message
that starts with the file and, where there is one, the row (``corpus.jsonl:17: ...``).
CSV/TSV read errors add the physical line (``posts.csv:5 (line 9): ...``); a truncated or
corrupt ``.gz``/``.zst`` names the line after the last good one; byte offsets in encoding
errors are 0-based. Input must be UTF-8 (a leading BOM is skipped). Compressed input is
streamed and parquet read in row slices, so memory stays bounded, except for ``text``
documents, which are read whole. A file with no records is an error.

URLs: an argument containing ``://`` is an fsspec URL (``file://``, ``memory://``, ``s3://``,
``https://``, ...; see :class:`URL`). It names a file, or a folder when the file system says it is
one or the URL ends in ``/``, and may be a glob pattern (not for http). Errors name the URL as
given. Remote files are read sequentially in large requests (``READ_BLOCK``); a parquet file
from a URL is loaded whole into memory.

While a file is read, its on-disk (compressed) bytes are hashed: :func:`take_sha256` hands the
sha256 of a complete read to the checkpoint, which so need not read the file a second time.

Speed: JSONL is parsed a chunk of lines (:data:`CHUNK_BYTES`) at a time with orjson and its fields
taken by column; parquet slices are taken by column. Whenever a chunk or slice holds anything
unusual (a bad record, a value orjson might decode otherwise than the json module), it goes record
by record, the path that defines the results: batches, errors and skips are the same either way.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import threading
import zlib
from bisect import bisect_left
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import accumulate, chain, repeat
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import orjson
import polars as pl
import zstandard

from provenance.errors import InputError, ParameterError, Skipped, where
from provenance.normalize import replace_surrogates

FORMATS = ("jsonl", "csv", "tsv", "parquet", "text", "lines")

_EXTENSIONS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet", ".pq": "parquet", ".txt": "text",
}
_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
_BOM = b"\xef\xbb\xbf"
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number",
               float: "a number", bool: "a boolean", type(None): "null"}

Record = tuple[int, str, str, tuple[str | None, ...]]  # row, id, text, meta values

CHUNK_BYTES = 1 << 20
"""Bytes of JSONL lines parsed together (see :meth:`_Source.chunks`)."""

LINE_BUFFER = 1 << 20
"""Read buffer of an uncompressed line file (the reader's position, and so ``Batch.nbytes``, moves by
this much at a time)."""


READ_BLOCK = 16 << 20
"""Bytes per request when reading a remote file (fsspec ``block_size`` with the ``readahead``
cache): one request per 16 MiB keeps per-request latency small next to the >1 s it takes to scan
that much text, and holds one block in memory per open file."""

_STREAMED = frozenset({"http", "https"})  # one GET streamed (block_size=0): no range requests needed
_REMOTE_EXTRA = frozenset({"http", "https", "s3", "s3a"})  # backends in provenance[remote]
_GLOB_MAGIC = frozenset("*?[")


class URLStat(NamedTuple):
    """What :meth:`URL.stat` knows: the size, as ``os.stat_result.st_size``."""

    st_size: int


@dataclass(frozen=True)
class URL:
    """A file or folder named by an fsspec URL (``memory://corpus/a.jsonl``, ``s3://bucket/key``).

    Only the URL text is kept (so it pickles to Dask workers); the file system comes from fsspec on
    each use (fsspec caches its instances) and is configured the fsspec way: credentials and
    endpoints from the backend's environment variables or fsspec's config. ``size`` is the size
    seen when the URL was listed, if any. It prints as the URL, as given.
    """

    url: str
    size: int | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.url

    @property
    def protocol(self) -> str:
        return self.url.split("://", 1)[0].lower()

    @property
    def name(self) -> str:
        """The last path segment (an http URL's query string excluded)."""
        url = self.url.split("?", 1)[0].split("#", 1)[0] if self.protocol in _STREAMED else self.url
        return url.rstrip("/").rsplit("/", 1)[-1]

    def filesystem(self) -> tuple[Any, str]:
        """``(fsspec file system, path in it)``; InputError for an unknown protocol or a missing backend."""
        return _filesystem(self.url)

    def info(self) -> dict[str, Any]:
        """fsspec's ``info`` of the URL (size, type, change markers); InputError if it cannot be had."""
        fs, path = self.filesystem()
        try:
            return fs.info(path)
        except Exception as e:  # noqa: BLE001 (every backend has its own exception types)
            raise _url_error(self, e) from None

    def stat(self) -> URLStat:
        """The size, for code that takes ``path.stat().st_size`` of a local path."""
        return URLStat(_size(self))


def is_url(arg: str | Path) -> bool:
    """Whether an input argument is an fsspec URL (it contains ``://``)."""
    return isinstance(arg, str) and "://" in arg


@dataclass(frozen=True)
class Part:
    """A piece of a large file, scanned (and checkpointed) as a unit of its own.

    Line formats (uncompressed JSONL, lines): bytes ``[start, stop)`` of the file, which begin on a
    line start, after ``lines`` lines; ``ids`` says whether the file's first record has the id field
    (the whole file's choice between record ids and FILE:ROW). Parquet: rows ``[start, stop)``.
    ``nbytes``: the part's share of the file's bytes (exact for line formats).
    """

    start: int
    stop: int
    nbytes: int
    lines: int = 0
    ids: bool | None = None


@dataclass(frozen=True)
class InputFile:
    """One input file: a local path or a :class:`URL`. ``root`` is the directory (folder URL)
    argument it was found in, if any; ``part`` a piece of it (see :func:`split_units`)."""

    path: Path | URL
    format: str
    compression: str | None
    root: Path | URL | None = None
    part: Part | None = None

    @property
    def unit(self) -> str:
        """The file, with its byte or row range when it is a part."""
        if self.part is None:
            return str(self.path)
        kind = "rows" if self.format == "parquet" else "bytes"
        return f"{self.path} ({kind} {self.part.start}-{self.part.stop})"


@dataclass
class Batch:
    """Consecutive records of one file.

    ``text_series``: the same texts as a polars String Series, when the reader had them so (parquet);
    else None, and :meth:`text_column` builds one. It is not compared, and not pickled (a batch sent
    to a worker process carries its texts once)."""

    source: str
    rows: list[int]
    ids: list[str]
    texts: list[str]
    meta: dict[str, list[str | None]]
    nbytes: int
    id_fallback: bool = False
    text_series: pl.Series | None = field(default=None, compare=False, repr=False)

    def text_column(self) -> pl.Series:
        """The texts as a polars String Series: the reader's, or built from ``texts`` (in one pass, no
        Python call per text)."""
        if self.text_series is None:
            self.text_series = pl.Series("text", self.texts, dtype=pl.String)
        return self.text_series

    def subset(self, keep: Sequence[int]) -> "Batch":
        """The records at positions ``keep`` (in that order), with this batch's ``nbytes``."""
        pick = lambda values: [values[i] for i in keep]  # noqa: E731
        return Batch(self.source, pick(self.rows), pick(self.ids), pick(self.texts),
                     {k: pick(v) for k, v in self.meta.items()}, self.nbytes, self.id_fallback)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "text_series": None}


# --------------------------------------------------------------------------- inputs


def expand_inputs(paths: Sequence[str | Path], fmt: str | None = None, skipped: Skipped | None = None) -> list[InputFile]:
    """Turn file and directory arguments into input files.

    A directory contributes every supported, non-hidden file below it, sorted by path
    (with ``fmt`` given: every non-hidden file). ``fmt`` overrides all extensions. With
    ``skipped``, an argument that gives no file (missing, an empty folder, an unknown format) is
    counted there instead of raising, as long as some argument gives files.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}' (use one of {', '.join(FORMATS)})")
    if not paths:
        raise InputError("no input files given")
    files: list[InputFile] = []
    for arg in paths:
        try:
            files.extend(_expand_one(arg, fmt))
        except InputError as e:
            if skipped is None:
                raise
            skipped.add(e)
    if not files:
        raise InputError(f"no input files (skipped: {'; '.join(skipped.first.values())})" if skipped else "no input files",
                         kind="missing_file")
    return files


def _expand_one(arg: str | Path, fmt: str | None) -> list[InputFile]:
    if is_url(arg):
        return _expand_url(str(arg), fmt)
    path = Path(arg)
    try:
        is_dir = path.is_dir() if path.exists() else None
    except OSError as e:
        raise InputError(f"{path}: {_strerror(e)}") from None
    if is_dir is None:
        raise InputError(f"{path}: no such file or directory", kind="missing_file")
    if not is_dir:
        single = _classify(path, fmt, root=None, explicit=True)
        assert single is not None  # explicit=True raises instead
        return [single]
    found = [f for p in _walk(path) if (f := _classify(p, fmt, root=path, explicit=False))]
    if not found:
        exts = ", ".join(sorted(_EXTENSIONS))
        raise InputError(f"{path}: no supported input files in directory (looked for {exts})", kind="empty_directory")
    return found


def _walk(root: Path) -> list[Path]:
    """Non-hidden files below ``root``, sorted by path."""

    def fail(e: OSError) -> None:
        raise InputError(f"{e.filename}: {_strerror(e)}")

    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=fail):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(Path(dirpath, n) for n in filenames if not n.startswith("."))
    return sorted(found)


def _expand_url(arg: str, fmt: str | None) -> list[InputFile]:
    """The files a URL names: itself, the supported files below a folder URL (hidden ones
    skipped, sorted), or a glob pattern's matches."""
    url = URL(arg)
    fs, path = url.filesystem()
    if url.protocol not in _STREAMED and _GLOB_MAGIC & set(arg.split("://", 1)[1]):
        magic = min(i for i, c in enumerate(arg) if c in _GLOB_MAGIC)
        base = arg[: arg.rfind("/", 0, magic) + 1]
        try:
            found = fs.glob(path, detail=True)
        except ValueError as e:
            raise InputError(f"{arg}: bad pattern ({e})") from None
        except Exception as e:  # noqa: BLE001
            raise _url_error(url, e) from None
        files = [f for u in _listed(fs, base, found) if (f := _classify(u, fmt, root=None, explicit=False))]
        if not files:
            raise InputError(f"{arg}: no supported input files match", kind="missing_file")
        return files
    info = url.info()
    if info.get("type") != "directory" and not arg.endswith("/"):
        try:
            single = _classify(URL(arg, info.get("size")), fmt, root=None, explicit=True)
        except InputError as e:
            if url.protocol in _STREAMED and "." not in url.name:
                raise InputError(f"{e} (an http folder URL ends in '/')") from None
            raise
        assert single is not None  # explicit=True raises instead
        return [single]
    try:
        found = fs.find(path, detail=True)
    except Exception as e:  # noqa: BLE001
        raise _url_error(url, e) from None
    root = URL(arg.rstrip("/"))
    files = [f for u in _listed(fs, arg, found) if (f := _classify(u, fmt, root=root, explicit=False))]
    if not files:
        exts = ", ".join(sorted(_EXTENSIONS))
        raise InputError(f"{arg}: no supported input files in folder (looked for {exts})", kind="empty_directory")
    return files


def _listed(fs: Any, base: str, found: dict[str, dict[str, Any]]) -> list[URL]:
    """The non-hidden files of an fsspec listing below the folder URL ``base``, as URLs spelled
    like ``base``, sorted."""
    base_path = _filesystem(base)[1].rstrip("/") if base.split("://", 1)[1] else ""
    out = []
    for name, info in found.items():
        if info.get("type", "file") != "file":
            continue
        if base_path:
            if not name.startswith(base_path + "/"):
                continue  # a listing may hold neighbours sharing the prefix
            rel = name[len(base_path) + 1 :]
            url = base.rstrip("/") + "/" + rel
        else:
            rel = name.split("://", 1)[-1]
            url = name if "://" in name else fs.unstrip_protocol(name)
        if not any(part.startswith(".") for part in rel.split("/")):
            out.append(URL(url, info.get("size")))
    return sorted(out, key=lambda u: u.url.split("/"))  # as local folders: by path component


def _filesystem(url: str) -> tuple[Any, str]:
    import fsspec  # imported on first use: local-only runs do not pay for it

    protocol = url.split("://", 1)[0]
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as e:
        if protocol.lower() in _REMOTE_EXTRA:
            fix = "pip install 'provenance[remote]'"
        else:
            fix = str(e).splitlines()[0] if str(e) else f"install fsspec's backend for {protocol}://"
        raise InputError(f"{url}: reading {protocol}:// URLs needs a package that is not installed ({fix})") from None
    except Exception as e:  # noqa: BLE001 (fsspec: ValueError for an unknown protocol; backends: their own)
        if isinstance(e, ValueError) and "protocol not known" in str(e).lower():
            raise InputError(f"{url}: unknown URL protocol '{protocol}' "
                             f"(fsspec reads file://, memory://, s3://, gs://, https:// and others)") from None
        raise InputError(f"{url}: {_reason(e)}") from None


def _url_error(url: URL, e: BaseException) -> InputError:
    if isinstance(e, InputError):
        return e
    if isinstance(e, FileNotFoundError):
        return InputError(f"{url}: no such file or directory", kind="missing_file")
    if isinstance(e, PermissionError):
        return InputError(f"{url}: permission denied")
    if isinstance(e, IsADirectoryError):
        return InputError(f"{url}: is a folder, not a file")
    return InputError(f"{url}: cannot read ({_reason(e)})")


def _reason(e: BaseException) -> str:
    """A one-line account of a backend's exception."""
    text = (e.strerror if isinstance(e, OSError) and e.strerror else str(e)).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def _classify(path: Path | URL, fmt: str | None, root: Path | URL | None, explicit: bool) -> InputFile | None:
    """Format and compression of ``path``; None (directory) or InputError (file argument)
    when the format is unknown."""
    stem, compression = path.name.lower(), None
    for ext, comp in _COMPRESSIONS.items():
        if stem.endswith(ext):
            stem, compression = stem[: -len(ext)], comp
            break
    suffix = os.path.splitext(stem)[1]
    format_ = fmt or _EXTENSIONS.get(suffix)
    if format_ is None:
        if not explicit:
            return None
        what = f"'{suffix}'" if suffix else "(no file extension)"
        raise InputError(f"{path}: unknown format {what} (use --format one of {', '.join(FORMATS)})", kind="wrong_format")
    if format_ == "parquet" and compression:
        raise InputError(f"{path}: parquet files cannot be gzip/zstd compressed (decompress it first)", kind="wrong_format")
    return InputFile(path, format_, compression, root)


def total_bytes(files: Sequence[InputFile]) -> int:
    """Sum of the files' on-disk sizes (for a progress bar)."""
    return sum(_size(f.path) for f in files)


def file_size(file: InputFile) -> int:
    """The on-disk (compressed) size of ``file`` or of its part (0 for a remote file whose server
    does not say)."""
    return file.part.nbytes if file.part is not None else _size(file.path)


SPLITTABLE = ("jsonl", "lines", "parquet")


def split_units(files: Sequence[InputFile], unit_bytes: int, id_field: str | None = "id") -> list[InputFile]:
    """Cut local files larger than ``unit_bytes`` into parts of about that size: uncompressed JSONL
    and lines files at line starts, parquet files by rows. Other files (compressed, CSV, text,
    URLs) stay whole. Reading the parts one after the other gives the records, row numbers and ids
    of the whole file; cutting a line file costs one pass counting its newlines."""
    if unit_bytes < 1:
        raise ParameterError(f"unit size (--unit-size) must be positive, got {unit_bytes}")
    out: list[InputFile] = []
    for f in files:
        size = _size(f.path)
        if (isinstance(f.path, URL) or f.part is not None or f.compression is not None or f.format not in SPLITTABLE
                or size <= unit_bytes):
            out.append(f)
        else:
            try:
                out.extend(_parquet_parts(f, size, unit_bytes) if f.format == "parquet"
                           else _line_parts(f, size, unit_bytes, id_field))
            except InputError:  # a damaged file stays whole: reading it reports (or skips) the damage
                out.append(f)
    return out


def _line_parts(f: InputFile, size: int, unit_bytes: int, id_field: str | None) -> list[InputFile]:
    assert isinstance(f.path, Path)
    cuts = [0]
    with _open(f.path) as raw:
        for target in range(unit_bytes, size, unit_bytes):
            if target <= cuts[-1]:
                continue
            raw.seek(target - 1)  # the next line start at or after target
            at = target - 1
            while True:
                chunk = raw.read(1 << 16)
                if not chunk:
                    at = size
                    break
                nl = chunk.find(b"\n")
                if nl >= 0:
                    at += nl + 1
                    break
                at += len(chunk)
            if at >= size:
                break
            cuts.append(at)
        cuts.append(size)
        lines = [0]  # lines before each cut, by one pass counting newlines
        raw.seek(0)
        done, count = 0, 0
        for cut in cuts[1:-1]:
            while done < cut:
                chunk = raw.read(min(1 << 24, cut - done))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                done += len(chunk)
            lines.append(count)
    ids = None
    if f.format == "jsonl" and id_field is not None:
        ids = _first_record_has(f, id_field)
    return [replace(f, part=Part(a, b, b - a, n, ids)) for a, b, n in zip(cuts, cuts[1:], lines)]


def _first_record_has(f: InputFile, field_name: str) -> bool | None:
    """Whether the first record of JSONL file ``f`` has ``field_name`` (None if it cannot be told:
    the part holding the first record then decides, as for the whole file)."""
    assert isinstance(f.path, Path) and f.compression is None  # (only such files are cut)
    with open(f.path, "rb") as raw:  # not _Source: that would read (and hash) the whole file
        for lineno, line in enumerate(raw, 1):
            if lineno == 1:
                line = line.removeprefix(_BOM)
            if line.strip():
                try:
                    rec = json.loads(line.decode("utf-8"))
                except (ValueError, UnicodeDecodeError, RecursionError):
                    return None
                return field_name in rec if isinstance(rec, dict) else None
    return None


def _parquet_parts(f: InputFile, size: int, unit_bytes: int) -> list[InputFile]:
    try:
        total = pl.scan_parquet(f.path).select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(f"{f.path}: not a readable parquet file ({str(e).splitlines()[0]})", kind="not_parquet") from None
    step = max(1, -(-total * unit_bytes // size))
    return [replace(f, part=Part(a, min(a + step, total), size * (min(a + step, total) - a) // max(total, 1)))
            for a in range(0, total, step)] or [f]


def describe(files: Sequence[InputFile]) -> str:
    """A one-line summary such as ``3 files (2 jsonl.gz, 1 parquet), 12.4 MB``."""
    suffix = {None: "", "gzip": ".gz", "zstd": ".zst"}
    kinds = Counter(f.format + suffix[f.compression] for f in files)
    parts = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    noun = "file" if len(files) == 1 else "files"
    return f"{len(files)} {noun} ({parts}), {_human_size(total_bytes(files))}"


def _human_size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            break
    return f"{size:.1f} {unit}"


def _size(path: Path | URL) -> int:
    if isinstance(path, URL):
        return path.size if path.size is not None else int(path.info().get("size") or 0)
    try:
        return path.stat().st_size
    except OSError as e:
        raise InputError(f"{path}: {_strerror(e)}") from None


def _strerror(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


# --------------------------------------------------------------------------- byte streams


class _ZstdRaw(io.RawIOBase):
    """Decompresses a (multi-frame) zstd stream; raises EOFError if it ends mid-frame,
    which zstandard's own stream reader silently accepts."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj: Any = None  # decompressor of the frame in progress
        self._out = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._pos >= len(self._out):
            chunk = self._raw.read(1 << 16)
            if not chunk:
                if self._obj is not None:
                    raise EOFError("zstd stream ended inside a frame")
                return 0
            pieces = []
            while chunk:
                if self._obj is None:
                    self._obj = self._dctx.decompressobj()
                pieces.append(self._obj.decompress(chunk))
                chunk = b""
                if self._obj.eof:  # frame complete; the rest may start another frame
                    chunk, self._obj = self._obj.unused_data, None
            self._out, self._pos = b"".join(pieces), 0
        n = min(len(buffer), len(self._out) - self._pos)
        buffer[:n] = self._out[self._pos : self._pos + n]
        self._pos += n
        return n


class _Tap(io.RawIOBase):
    """The on-disk bytes of a file as they are read: counted and fed to sha256. A remote backend's
    own exceptions become OSError (kept in ``error``) so that read errors are handled in one place."""

    def __init__(self, raw: Any, remote: bool, limit: int | None = None) -> None:
        self._raw = raw
        self._remote = remote
        self._limit = limit  # read at most this many bytes (a part of a file)
        self.sha256 = hashlib.sha256()
        self.count = 0
        self.error: BaseException | None = None
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._eof:  # some backends warn when asked again at the end
            return 0
        if self._limit is not None:
            if self.count >= self._limit:
                self._eof = True
                return 0
            buffer = memoryview(buffer)[: self._limit - self.count]
        try:
            n = self._raw.readinto(buffer)
        except Exception as e:
            if not self._remote:
                raise
            self.error = e
            raise OSError(_reason(e)) from None
        if not n:
            self._eof = True
            return 0
        self.sha256.update(memoryview(buffer)[:n])
        self.count += n
        return n

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)

    def tell(self) -> int:
        return self.count

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def _open(path: Path | URL) -> Any:
    """A raw binary stream of the file: unbuffered local file, or an fsspec file reading
    sequentially in large requests."""
    if isinstance(path, URL):
        fs, fs_path = path.filesystem()
        options = {"block_size": 0} if path.protocol in _STREAMED else {"block_size": READ_BLOCK, "cache_type": "readahead"}
        try:
            return fs.open(fs_path, "rb", **options)
        except Exception as e:  # noqa: BLE001
            raise _url_error(path, e) from None
    try:
        return open(path, "rb", buffering=0)
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or directory", kind="missing_file") from None
    except OSError as e:
        raise InputError(f"{path}: {_strerror(e)}") from None


# sha256 and byte count of the last complete read of each file, by str(path) (see take_sha256)
_DIGESTS: OrderedDict[str, tuple[str, int]] = OrderedDict()
_DIGESTS_LOCK = threading.Lock()
_DIGESTS_KEPT = 256


def take_sha256(file: InputFile) -> tuple[str, int] | None:
    """``(sha256 hex digest, byte count)`` of ``file``'s on-disk bytes (of its part's bytes) from
    its last complete read in this process, handed out once; None if it was not read to the end
    here since."""
    with _DIGESTS_LOCK:
        return _DIGESTS.pop(file.unit, None)


def _record_sha256(key: str, value: tuple[str, int] | None) -> None:
    with _DIGESTS_LOCK:
        _DIGESTS.pop(key, None)
        if value is not None:
            _DIGESTS[key] = value
            while len(_DIGESTS) > _DIGESTS_KEPT:
                _DIGESTS.popitem(last=False)


def file_sha256(file: InputFile, memo: dict[str, str] | None = None) -> str:
    """sha256 of ``file``'s on-disk bytes (of its part's bytes; a part of a parquet file, being a row
    range, has the whole file's), read for that alone (when no read recorded it). With ``memo``,
    the digests already computed there are reused: the parts of one parquet file hash it once."""
    key = str(file.path) if file.format == "parquet" else file.unit
    if memo is not None and key in memo:
        return memo[key]
    digest = _read_sha256(file)
    if memo is not None:
        memo[key] = digest
    return digest


def _read_sha256(file: InputFile) -> str:
    tap = _tap(file)
    with tap:
        try:
            while tap.read(1 << 20):
                pass
        except OSError as e:
            raise InputError(f"{file.path}: read error ({_reason(e) if tap.error is None else _reason(tap.error)})") from None
    return tap.sha256.hexdigest()


def _tap(file: InputFile) -> _Tap:
    """The raw bytes of ``file``, or of its part (line formats: the part's byte range)."""
    raw = _open(file.path)
    part = file.part if file.format != "parquet" else None
    if part is not None:
        raw.seek(part.start)
    return _Tap(raw, isinstance(file.path, URL), part.stop - part.start if part is not None else None)


class _Source:
    """Decompressed bytes of one file, as numbered lines or whole, with read errors
    converted to InputError. ``locate`` names the position of a failed read. The on-disk
    bytes are hashed on the way; a read that ends normally records the sha256 (take_sha256)."""

    def __init__(self, file: InputFile, locate: Callable[[int], str] | None = None) -> None:
        self.file = file
        self.lineno = 0  # lines yielded so far
        self._locate = locate or (lambda lineno: where(file.path, lineno))
        _record_sha256(file.unit, None)  # a read that does not finish leaves no digest
        self._raw = _tap(file)
        if file.part is not None and file.format != "parquet":
            self.lineno = file.part.lines
        self._stream: BinaryIO
        if file.compression == "gzip":
            self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb")  # type: ignore[assignment]
        elif file.compression == "zstd":
            self._stream = io.BufferedReader(_ZstdRaw(self._raw), 1 << 16)  # type: ignore[assignment]
        else:
            self._stream = io.BufferedReader(self._raw, LINE_BUFFER)  # type: ignore[assignment]

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:  # read to the end: the rest (normally nothing) completes the digest
                while self._raw.read(1 << 20):
                    pass
                _record_sha256(self.file.unit, (self._raw.sha256.hexdigest(), self._raw.count))
        except OSError as e:
            raise self._error(e) from None
        finally:
            self._stream.close()
            self._raw.close()

    def position(self) -> int:
        """On-disk bytes consumed so far."""
        return self._raw.tell()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for line in self._stream:
                self.lineno += 1
                if self.lineno == 1:  # (a part never starts on line 1)
                    _sniff(self.file, line)
                    if line.startswith(_BOM):
                        line = line[len(_BOM) :]
                yield line
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as e:
            raise self._error(e) from None

    def chunks(self, target: int | None = None) -> Iterator[_Lines]:
        """The same lines as iterating, in chunks of about ``target`` bytes, each line with the on-disk
        position a line-by-line read would have had after it.

        The stream is read through the same buffered reader with the same raw reads as ``readline``
        makes (``peek`` fills the buffer exactly when ``readline`` would; the complete lines in the
        buffer are then taken without a raw read; a line that runs past the buffer is read by
        ``readline``), so positions, and where a truncated or failing stream stops, are those of
        the line-by-line read. A failed read yields the lines before it, then raises."""
        stream, raw, target = self._stream, self._raw, target or CHUNK_BYTES
        lines: list[bytes] = []
        ends: list[int] = []
        positions: list[int] = []
        first, nbytes, newline = self.lineno + 1, 0, True

        def take() -> _Lines:
            return _Lines(lines, first, newline, ends, positions)

        try:
            if self.lineno == 0:
                line = stream.readline()
                if not line:
                    return
                self.lineno = 1
                _sniff(self.file, line)
                if line.startswith(_BOM):
                    line = line[len(_BOM) :]
                newline = line.endswith(b"\n")
                lines.append(line[:-1] if newline else line)
                nbytes += len(line)
                ends.append(1)
                positions.append(raw.tell())
            while newline:  # (a line without one is the last)
                buf = stream.peek(1)
                if not buf:
                    break
                cut = buf.rfind(b"\n") + 1
                if cut:
                    got = stream.read(cut)  # buffered: no raw read
                    assert len(got) == cut
                    complete = got.split(b"\n")
                    complete.pop()
                    lines += complete
                    self.lineno += len(complete)
                    nbytes += cut
                    ends.append(self.lineno)
                    positions.append(raw.tell())
                if cut < len(buf):  # a line that goes on past the buffer
                    line = stream.readline()
                    newline = line.endswith(b"\n")
                    lines.append(line[:-1] if newline else line)
                    self.lineno += 1
                    nbytes += len(line)
                    ends.append(self.lineno)
                    positions.append(raw.tell())
                if nbytes >= target:
                    yield take()
                    lines, ends, positions, first, nbytes = [], [], [], self.lineno + 1, 0
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as e:
            error = self._error(e)
            if lines:
                yield take()
            raise error from None
        if lines:
            yield take()

    def read(self) -> bytes:
        try:
            data = self._stream.read()
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as e:
            raise self._error(e) from None
        if self.file.format != "parquet":
            _sniff(self.file, data[:8])
        return data

    def _error(self, e: BaseException) -> InputError:
        loc = self._locate(self.lineno + 1)
        if self._raw.error is not None:  # the remote backend failed, not the data
            return InputError(f"{loc}: read error ({_reason(self._raw.error)})")
        if self.file.compression:
            if self.lineno == 0 and any(m in str(e) for m in ("Not a gzipped file", "nknown frame descriptor")):
                ext = {"gzip": ".gz", "zstd": ".zst"}[self.file.compression]
                return InputError(f"{self.file.path}: not {self.file.compression} data, although its name ends in {ext} "
                                  "(rename the file)", kind="wrong_format")
            return InputError(f"{loc}: truncated or corrupt {self.file.compression} stream", kind="truncated_stream")
        return InputError(f"{loc}: read error ({_strerror(e) if isinstance(e, OSError) else e})")


_MAGIC = ((b"\x1f\x8b", "gzip-compressed data"), (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
          (b"PAR1", "a parquet file"), (b"PK\x03\x04", "a zip archive"), (b"BZh", "bzip2-compressed data"),
          (b"\xfd7zXZ\x00", "xz-compressed data"), (b"\xff\xfe", "UTF-16 text (convert it to UTF-8)"),
          (b"\xfe\xff", "UTF-16 text (convert it to UTF-8)"))


def _sniff(file: InputFile, head: bytes) -> None:
    """Raise when a text format's first bytes show another kind of file (a .jsonl that is gzip, ...)."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            name = f"{file.format}" + (f" ({file.compression})" if file.compression else "")
            raise InputError(f"{file.path}: is {what}, not {name} as its name or --format says", kind="wrong_format")


# --------------------------------------------------------------------------- values


def _utf8_error(loc: str, e: UnicodeDecodeError) -> InputError:
    return InputError(f"{loc}: not valid UTF-8 at byte offset {e.start} of the line", kind="not_utf8")


def _type_name(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _text_error(loc: str, name: str, value: object, present: bool = False) -> InputError:
    if value is None:
        what = f"'{name}' is null" if present else f"record has no '{name}' field"
        return InputError(f"{loc}: {what}", kind="missing_text")
    return InputError(f"{loc}: '{name}' is {_type_name(value)}, not a string", kind="text_not_string")


def _id_str(value: object, loc: Callable[[], str], name: str) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None or value == "":
        raise InputError(f"{loc()}: record has no '{name}' value (the file has ids, so every record needs one)",
                         kind="missing_id")
    if isinstance(value, (list, dict)):
        raise InputError(f"{loc()}: '{name}' is {_type_name(value)}, not a string or number", kind="bad_id")
    return str(value)


def _meta_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _columns(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f"(columns: {shown})"


# --------------------------------------------------------------------------- formats


@dataclass
class _State:
    """Per-file facts the batcher needs while records stream in."""

    position: Callable[[], int] = lambda: 0
    id_fallback: bool = False


@dataclass(frozen=True)
class _Options:
    text_field: str
    id_field: str | None
    meta_fields: tuple[str, ...] = field(default=())
    skipped: Skipped | None = None  # on_error="skip": bad records and files are counted here

    def reject(self, error: InputError) -> None:
        """A bad record: raise, or (skipping) count it; the reader then goes on with the next record."""
        if self.skipped is None:
            raise error
        self.skipped.add(error)

    def record_id(self, value: object, loc: Callable[[], str]) -> str | None:
        """The record's id from its ``id_field`` value; None for a bad one (raised, or counted)."""
        try:
            return _id_str(value, loc, self.id_field)  # type: ignore[arg-type]
        except InputError as e:
            self.reject(e)
            return None


@dataclass
class _Lines:
    """Consecutive lines of a file (without their ``\\n``), from :meth:`_Source.chunks`."""

    lines: list[bytes]
    first: int  # line number of lines[0]
    newline: bool  # whether the last line ended in "\n" (only a file's last line may not)
    ends: list[int]  # line numbers at which the reader's position was taken (increasing), ...
    positions: list[int]  # ... and the on-disk bytes consumed by then


@dataclass
class _Piece:
    """Consecutive records of one file, by column, for :func:`_batches`. ``ends``/``positions``: the
    reader's on-disk position after row ``ends[i]`` (a record's is the first entry at or after its row).
    ``series``: the texts as a polars String Series, when the reader had them so."""

    rows: list[int]
    ids: list[str]
    texts: list[str]
    meta: list[list[str | None]]  # one list per meta field
    ends: list[int]
    positions: list[int]
    series: pl.Series | None = None

    def position(self, row: int) -> int:
        return self.positions[bisect_left(self.ends, row)]


_FAST = True
"""Whether JSONL and parquet use their vectorized path (tests turn it off to compare with the record
by record path, which is also what the vectorized path falls back to whenever in doubt)."""

_PLAIN = frozenset((str, int, bool, type(None)))  # JSON values that orjson and json decode alike
_DEEP = 200  # a line with this many '[' and '{' may nest deeper than json.loads can (RecursionError)
_EXACT_FLOAT = float(1 << 63)  # orjson turns integers outside [-2**63, 2**64) into floats; json keeps them


class _JsonlReader:
    """The records of one JSONL file. A chunk of lines is parsed at once with orjson and its columns
    taken with C-level maps; a chunk that has anything unusual (a line orjson rejects or that is
    blank, a record that is not an object or whose text is not a string, an id that is not a
    non-empty string or an integer, a meta value that is a float orjson may have decoded otherwise
    than json, containers nested deep enough to matter) goes record by record through
    :meth:`record`, today's path, which gives its errors and skips."""

    def __init__(self, f: InputFile, opt: _Options, st: _State) -> None:
        self.source, self.opt, self.st = str(f.path), opt, st
        self.use_ids: bool | None = None  # decided by the file's first record
        if f.part is not None and f.part.ids is not None:
            self.use_ids = opt.id_field is not None and f.part.ids
            st.id_fallback = opt.id_field is not None and not self.use_ids

    def record(self, line: bytes, row: int, rec: Any = None) -> Record | None:
        """The record of a non-blank ``line`` (with its ``\\n``), or None when it is rejected (raised, or
        counted). ``rec``: the line already decoded, when it is known to be what json.loads gives."""
        opt, source = self.opt, self.source
        text_field, id_field = opt.text_field, opt.id_field
        if rec is None:
            try:
                rec = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as e:
                opt.reject(_utf8_error(where(source, row), e))
                return None
            except (ValueError, RecursionError) as e:
                reason = f"{e.msg}: column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
                hint = "; expected one JSON object per line" if self.use_ids is None else ""
                opt.reject(InputError(f"{where(source, row)}: broken JSON ({reason}{hint})", kind="broken_json"))
                return None
        if type(rec) is not dict:
            opt.reject(InputError(f"{where(source, row)}: expected a JSON object, got {_type_name(rec)}",
                                  kind="not_an_object"))
            return None
        text = rec.get(text_field)
        if type(text) is not str:
            opt.reject(_text_error(where(source, row), text_field, text, text_field in rec))
            return None
        if self.use_ids is None:
            self.use_ids = id_field is not None and id_field in rec
            self.st.id_fallback = id_field is not None and not self.use_ids
        if self.use_ids:
            rid = opt.record_id(rec.get(id_field), lambda: where(source, row))
            if rid is None:
                return None
        else:
            rid = f"{source}:{row}"
        meta = tuple(_meta_str(rec.get(k)) for k in opt.meta_fields)
        if b"\\ud" in line or b"\\uD" in line:  # a lone surrogate escaped (half an emoji): U+FFFD, one for one
            text, rid = replace_surrogates(text), replace_surrogates(rid)
            meta = tuple(m if m is None else replace_surrogates(m) for m in meta)
        return row, rid, text, meta

    def records(self, src: _Source) -> Iterator[Record]:
        """Record by record, as the file's lines come."""
        for line in src:
            if line.strip():
                record = self.record(line, src.lineno)
                if record is not None:
                    yield record

    def pieces(self, src: _Source) -> Iterator[_Piece]:
        for chunk in src.chunks():
            piece = self._vectorized(chunk)
            if piece is not None:
                yield piece
            else:
                yield from self._one_by_one(chunk)

    def _vectorized(self, chunk: _Lines) -> _Piece | None:
        """The chunk's records, all of them good and decoded alike by orjson and json; else None."""
        lines, opt = chunk.lines, self.opt
        rows: list[int] | range
        try:
            recs = list(map(orjson.loads, lines))
            rows = range(chunk.first, chunk.first + len(lines))
        except ValueError:  # (orjson.JSONDecodeError) a bad line, or a blank one
            recs, rows = [], []
            for i, line in enumerate(lines, chunk.first):
                if line.strip():
                    try:
                        recs.append(orjson.loads(line))
                    except ValueError:
                        return None
                    rows.append(i)
            if not recs:
                return None
        try:
            texts = list(map(dict.get, recs, repeat(opt.text_field)))
        except TypeError:  # a record that is not an object
            return None
        if set(map(type, texts)) != {str}:
            return None
        kinds = set(map(type, chain.from_iterable(map(dict.values, recs))))
        if (list in kinds or dict in kinds) and any(
                a + b >= _DEEP for a, b in zip(map(bytes.count, lines, repeat(b"[")), map(bytes.count, lines, repeat(b"{")))):
            return None
        use_ids = self.use_ids
        if use_ids is None:
            use_ids = opt.id_field is not None and opt.id_field in recs[0]
        if use_ids:
            ids = list(map(dict.get, recs, repeat(opt.id_field)))
            kinds = set(map(type, ids))
            if not kinds <= {str, int} or (str in kinds and "" in ids):
                return None
            if int in kinds:
                ids = list(map(str, ids))
        else:
            prefix = self.source + ":"
            ids = [prefix + str(row) for row in rows]
        meta = []
        for name in opt.meta_fields:
            values = list(map(dict.get, recs, repeat(name)))
            kinds = set(map(type, values))
            if not kinds <= {str, type(None)}:
                if not kinds <= _PLAIN | {float}:
                    return None
                if float in kinds and not all(abs(v) < _EXACT_FLOAT for v in values if type(v) is float):
                    return None
                values = list(map(_meta_str, values))
            meta.append(values)
        if self.use_ids is None:
            self.use_ids = use_ids
            self.st.id_fallback = opt.id_field is not None and not use_ids
        return _Piece(list(rows), ids, texts, meta, chunk.ends, chunk.positions)

    def _one_by_one(self, chunk: _Lines) -> Iterator[_Piece]:
        """The chunk through :meth:`record`, line by line (a line orjson decodes to an object of plain
        values is not decoded again). A rejection that raises first hands on the records before it."""
        rows: list[int] = []
        ids: list[str] = []
        texts: list[str] = []
        metas: list[list[str | None]] = [[] for _ in self.opt.meta_fields]
        last = len(chunk.lines) - 1
        try:
            for i, line in enumerate(chunk.lines):
                if not line.strip():
                    continue
                try:
                    rec = orjson.loads(line)
                    if type(rec) is not dict or not set(map(type, rec.values())) <= _PLAIN:
                        rec = None
                except ValueError:
                    rec = None
                record = self.record(line + b"\n" if i < last or chunk.newline else line, chunk.first + i, rec)
                if record is not None:
                    row, rid, text, meta = record
                    rows.append(row)
                    ids.append(rid)
                    texts.append(text)
                    for values, value in zip(metas, meta):
                        values.append(value)
        except Exception:
            if rows:
                yield _Piece(rows, ids, texts, metas, chunk.ends, chunk.positions)
            raise
        if rows:
            yield _Piece(rows, ids, texts, metas, chunk.ends, chunk.positions)


def _jsonl(f: InputFile, opt: _Options, st: _State) -> Iterator[_Piece]:
    reader = _JsonlReader(f, opt, st)
    with _Source(f) as src:
        st.position = src.position
        yield from reader.pieces(src) if _FAST else _record_pieces(reader.records(src), st, opt)


def _delimited(f: InputFile, opt: _Options, st: _State) -> Iterator[Record]:
    source = str(f.path)
    row = 0  # data rows completed
    header: list[str] | None = None

    def locate(lineno: int) -> str:
        return f"{where(source, row + 1)} (line {lineno})" if header is not None else f"{source} (header)"

    bad_lines: list[InputError] = []  # (skipping) lines of the current row that are not UTF-8

    def decoded(src: _Source) -> Iterator[str]:
        for line in src:
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as e:
                if opt.skipped is None:
                    raise _utf8_error(locate(src.lineno), e) from None
                # Skipping: the csv module still gets the line (it may be inside a quoted field),
                # and the row it belongs to is left out.
                bad_lines.append(_utf8_error(locate(src.lineno), e))
                yield line.decode("utf-8", errors="replace")

    csv.field_size_limit(1 << 30)
    with _Source(f, locate) as src:
        st.position = src.position
        dialect = "excel-tab" if f.format == "tsv" else "excel"
        reader = csv.reader(decoded(src), dialect=dialect, strict=True)  # strict: no silent misparse
        try:
            header = next(reader, None)
            if header is None:
                return
            for name in (opt.text_field, *opt.meta_fields):
                if name not in header:
                    raise InputError(f"{source}: no column '{name}' {_columns(header)}", kind="wrong_schema")
            text_i = header.index(opt.text_field)
            meta_i = [header.index(k) for k in opt.meta_fields]
            id_i = header.index(opt.id_field) if opt.id_field in header else None
            st.id_fallback = opt.id_field is not None and id_i is None
            for fields in reader:
                if not fields:
                    bad_lines.clear()
                    continue
                row += 1
                if bad_lines:
                    opt.reject(bad_lines[0])
                    bad_lines.clear()
                    continue
                if len(fields) != len(header):
                    opt.reject(InputError(f"{where(source, row)}: row has {len(fields)} fields, the header has "
                                          f"{len(header)}", kind="ragged_row"))
                    continue
                if id_i is None:
                    rid = f"{source}:{row}"
                else:
                    rid = opt.record_id(fields[id_i], lambda: where(source, row))
                    if rid is None:
                        continue
                yield row, rid, fields[text_i], tuple(fields[i] for i in meta_i)
        except csv.Error as e:
            raise InputError(f"{locate(src.lineno)}: malformed {f.format.upper()} ({e})", kind="malformed_csv") from None


def _lines(f: InputFile, opt: _Options, st: _State) -> Iterator[_Piece]:
    """A lines file a chunk at a time (:meth:`_Source.chunks`): what :func:`_line_records` gives."""
    source, prefix = str(f.path), f"{f.path}:"
    st.id_fallback = opt.id_field is not None
    with _Source(f) as src:
        st.position = src.position
        if not _FAST:
            yield from _record_pieces(_line_records(f, opt, st, src), st, opt)
            return
        for chunk in src.chunks():
            rows: list[int] = []
            texts: list[str] = []

            def piece() -> _Piece:
                return _Piece(rows, [prefix + str(row) for row in rows], texts,
                              [[None] * len(rows) for _ in opt.meta_fields], chunk.ends, chunk.positions)

            crlf = len(chunk.lines) - (not chunk.newline)  # lines before this one ended in "\n"
            try:
                for i, line in enumerate(chunk.lines):
                    if not line.strip():
                        continue
                    try:
                        text = line.decode("utf-8")
                    except UnicodeDecodeError as e:
                        opt.reject(_utf8_error(where(source, chunk.first + i), e))
                        continue
                    rows.append(chunk.first + i)
                    texts.append(text[:-1] if i < crlf and text.endswith("\r") else text)
            except Exception:
                if rows:
                    yield piece()
                raise
            if rows:
                yield piece()


def _line_records(f: InputFile, opt: _Options, st: _State, src: _Source) -> Iterator[Record]:
    source, no_meta = str(f.path), (None,) * len(opt.meta_fields)
    for line in src:
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            opt.reject(_utf8_error(where(source, src.lineno), e))
            continue
        if text.endswith("\n"):
            text = text[:-2] if text.endswith("\r\n") else text[:-1]
        yield src.lineno, f"{source}:{src.lineno}", text, no_meta


def _text(f: InputFile, opt: _Options, st: _State) -> Iterator[Record]:
    with _Source(f, lambda _: str(f.path)) as src:
        data = src.read()
    if not data:
        return
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{f.path}: not valid UTF-8 at byte offset {e.start + skip}", kind="not_utf8") from None
    if isinstance(f.path, URL):
        doc_id = str(f.path)[len(str(f.root)) + 1 :] if f.root else f.path.name
    else:
        doc_id = f.path.relative_to(f.root).as_posix() if isinstance(f.root, Path) else f.path.name
    yield 1, doc_id, text, (None,) * len(opt.meta_fields)


def _parquet(f: InputFile, opt: _Options, st: _State, batch_size: int, max_bytes: int) -> Iterator[_Piece]:
    path, source = f.path, str(f.path)
    data: Path | bytes
    if isinstance(path, URL):  # polars gets the bytes (hashed on the way): the whole file in memory
        with _Source(f, lambda _: source) as src:
            data = src.read()
    else:  # polars reads the file itself, a row slice at a time (the checkpoint hashes it apart)
        _open(path).close()  # clean "permission denied" before polars sees the file
        data = path
    try:
        schema = pl.read_parquet_schema(data)
        total = pl.scan_parquet(data).select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(f"{path}: not a readable parquet file ({str(e).splitlines()[0]})", kind="not_parquet") from None
    for name in (opt.text_field, *opt.meta_fields):
        if name not in schema:
            raise InputError(f"{path}: no column '{name}' {_columns(schema)}", kind="wrong_schema")
    dtype = schema[opt.text_field]
    if not (dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))):
        raise InputError(f"{path}: column '{opt.text_field}' is {dtype}, not a string type", kind="wrong_schema")
    use_ids = opt.id_field is not None and opt.id_field in schema
    st.id_fallback = opt.id_field is not None and not use_ids
    names = list(dict.fromkeys([opt.text_field, *([opt.id_field] if use_ids else []), *opt.meta_fields]))
    columns = [pl.col(n).cast(pl.String) if n == opt.text_field else pl.col(n) for n in names]
    first, size, done, step = 0, _size(path), 0, batch_size * 8
    if f.part is not None:  # rows [start, stop) only
        first, total, size = f.part.start, min(total, f.part.stop), f.part.nbytes
        done = first
    st.position = lambda: size * (done - first) // max(total - first, 1)
    while done < total:
        try:
            df = pl.scan_parquet(data).select(columns).slice(done, min(step, total - done)).collect()
        except (pl.exceptions.PolarsError, OSError) as e:
            raise InputError(f"{where(path, done + 1)}: cannot read parquet ({str(e).splitlines()[0]})",
                             kind="not_parquet") from None
        if df.height == 0:
            break
        texts = df[opt.text_field]
        ends, positions = [done + df.height], [st.position()]
        piece = _parquet_columns(df, texts, source, done, opt, use_ids, ends, positions) if _FAST else None
        if piece is not None:
            yield piece
        else:
            yield from _record_pieces(_parquet_records(df, texts, source, done, opt, use_ids), st, opt)
        done += df.height
        bytes_per_row = max(1, texts.str.len_bytes().sum() // df.height)
        step = max(batch_size, min(batch_size * 64, 4 * max_bytes // bytes_per_row))


def _parquet_columns(df: pl.DataFrame, texts: pl.Series, source: str, done: int, opt: _Options, use_ids: bool,
                     ends: list[int], positions: list[int]) -> _Piece | None:
    """A slice's records by column, when none is rejected (no null text, every id a value that
    :func:`_id_str` turns into its ``str``); else None."""
    if texts.null_count():
        return None
    rows = list(range(done + 1, done + df.height + 1))
    if use_ids:
        values = df[opt.id_field].to_list()
        kinds = set(map(type, values))
        if kinds & {type(None), bool, list, dict} or (str in kinds and "" in values):
            return None
        ids = list(map(str, values))
    else:
        prefix = source + ":"
        ids = [prefix + str(row) for row in rows]
    meta = []
    for name in opt.meta_fields:
        values = df[name].to_list()
        meta.append(values if set(map(type, values)) <= {str, type(None)} else list(map(_meta_str, values)))
    return _Piece(rows, ids, texts.to_list(), meta, ends, positions, series=texts)


def _parquet_records(df: pl.DataFrame, texts: pl.Series, source: str, done: int, opt: _Options,
                     use_ids: bool) -> Iterator[Record]:
    """A slice's records one by one, each checked (a null text, a missing or bad id rejected)."""
    text_list = texts.to_list()
    ids = df[opt.id_field].to_list() if use_ids else None
    metas = [[_meta_str(v) for v in df[k].to_list()] for k in opt.meta_fields]
    for i, text in enumerate(text_list):
        row = done + i + 1
        if text is None:
            opt.reject(_text_error(where(source, row), opt.text_field, None, present=True))
            continue
        if ids is None:
            rid = f"{source}:{row}"
        else:
            rid = opt.record_id(ids[i], lambda: where(source, row))
            if rid is None:
                continue
        yield row, rid, text, tuple(m[i] for m in metas)


# --------------------------------------------------------------------------- batches


def iter_batches(files: Sequence[InputFile], *, text_field: str = "text", id_field: str | None = "id",
                 meta_fields: Sequence[str] = (), batch_size: int = 512,
                 max_batch_bytes: int = 8 << 20, skipped: Skipped | None = None) -> Iterator[Batch]:
    """Stream the records of ``files`` in order, as batches that never span two files.

    A batch is yielded when it holds ``batch_size`` records or ``max_batch_bytes`` of text,
    and at the end of each file. Raises InputError for unreadable or malformed input and for
    a file with no records; with ``skipped``, a bad record is left out and a bad file ends early
    (the records read before the damage are kept), each counted there by kind.
    """
    if batch_size < 1 or max_batch_bytes < 1:
        raise ParameterError(f"batch_size and max_batch_bytes must be positive "
                             f"(got {batch_size}, {max_batch_bytes})")
    opt = _Options(text_field, id_field, tuple(dict.fromkeys(meta_fields)), skipped)
    for f in files:
        st = _State()
        pieces: Iterator[_Piece]
        if f.format == "parquet":
            pieces = _parquet(f, opt, st, batch_size, max_batch_bytes)
        elif f.format == "jsonl":
            pieces = _jsonl(f, opt, st)
        elif f.format == "lines":
            pieces = _lines(f, opt, st)
        elif f.format in ("csv", "tsv"):
            pieces = _record_pieces(_delimited(f, opt, st), st, opt)
        elif f.format == "text":
            pieces = _record_pieces(_text(f, opt, st), st, opt)
        else:
            raise InputError(f"{f.path}: unknown format '{f.format}' (use one of {', '.join(FORMATS)})")
        yield from _batches(f, pieces, st, opt, batch_size, max_batch_bytes)


_PIECE_RECORDS = 256


def _record_pieces(records: Iterator[Record], st: _State, opt: _Options) -> Iterator[_Piece]:
    """Records as pieces, each record with the reader's position right after it. A reader that
    raises first hands on the records before."""
    rows: list[int] = []
    ids: list[str] = []
    texts: list[str] = []
    metas: list[list[str | None]] = [[] for _ in opt.meta_fields]
    positions: list[int] = []
    try:
        for row, rid, text, meta in records:
            rows.append(row)
            ids.append(rid)
            texts.append(text)
            for values, value in zip(metas, meta):
                values.append(value)
            positions.append(st.position())
            if len(rows) >= _PIECE_RECORDS:
                yield _Piece(rows, ids, texts, metas, rows, positions)
                rows, ids, texts, metas, positions = [], [], [], [[] for _ in opt.meta_fields], []
    except Exception:
        if rows:
            yield _Piece(rows, ids, texts, metas, rows, positions)
        raise
    if rows:
        yield _Piece(rows, ids, texts, metas, rows, positions)


def _batches(f: InputFile, pieces: Iterator[_Piece], st: _State, opt: _Options,
             batch_size: int, max_bytes: int) -> Iterator[Batch]:
    """Batches of ``batch_size`` records, or fewer when their texts reach ``max_bytes`` characters
    (the record that reaches it ends the batch), and the rest at the end of the file; ``nbytes`` is
    the on-disk bytes read since the previous batch, as the reader's position after the last record."""
    source = str(f.path)
    skips_before = sum(opt.skipped.counts.values()) if opt.skipped is not None else 0
    try:
        size = file_size(f)
    except InputError as e:  # gone since it was listed
        if opt.skipped is None:
            raise
        opt.skipped.add(e)
        return
    count = consumed = text_bytes = 0
    rows: list[int] = []
    ids: list[str] = []
    texts: list[str] = []
    metas: list[list[str | None]] = [[] for _ in opt.meta_fields]
    series: list[pl.Series] | None = []  # the texts as Series, while every piece has them

    def batch(nbytes: int) -> Batch:
        text_series = None
        if series:
            text_series = series[0] if len(series) == 1 else pl.concat(series, rechunk=False)
        return Batch(source, rows, ids, texts, dict(zip(opt.meta_fields, metas)), nbytes, st.id_fallback,
                     text_series=text_series)

    try:
        for piece in pieces:
            n = len(piece.rows)
            count += n
            cum = list(accumulate(map(len, piece.texts)))
            i = 0
            while i < n:
                base = cum[i - 1] if i else 0
                # the first record at or after i that fills the batch, by count or by text size
                j = min(i + batch_size - len(rows) - 1, bisect_left(cum, base + max_bytes - text_bytes, i))
                stop = min(j + 1, n)
                rows += piece.rows[i:stop]
                ids += piece.ids[i:stop]
                texts += piece.texts[i:stop]
                for values, column in zip(metas, piece.meta):
                    values += column[i:stop]
                if series is not None:
                    series = None if piece.series is None else series + [piece.series.slice(i, stop - i)]
                if j >= n:
                    text_bytes += cum[-1] - base
                    break
                position = min(piece.position(piece.rows[j]), size)
                yield batch(position - consumed)
                consumed, text_bytes = position, 0
                rows, ids, texts, metas, series = [], [], [], [[] for _ in opt.meta_fields], []
                i = j + 1
        if count == 0 and f.part is None and (opt.skipped is None or sum(opt.skipped.counts.values()) == skips_before):
            # (a part of a file may hold only blank lines; a file whose records were all skipped is counted so)
            raise InputError(f"{source}: no records", kind="empty_file")
    except InputError as e:
        if opt.skipped is None:
            raise
        opt.skipped.add(e)  # the file ends here; what was read before stays
    if rows:
        yield batch(max(0, size - consumed))
