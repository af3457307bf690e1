"""A file's decompressed bytes (gzip, zstd or plain) as numbered lines, chunks of lines or whole:
:class:`Source`, which reads through the sha256 tap and turns read errors into InputError."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import zstandard

from provenance.errors import InputError, where

from .batch import InputFile
from .sources import strerror
from .tap import open_tap, record_sha256
from .urls import error_reason

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, skipped at the start of a file

CHUNK_BYTES = 1 << 20
"""Bytes of JSONL lines parsed together (see :meth:`Source.chunks`)."""

LINE_BUFFER = 1 << 20
"""Read buffer of an uncompressed line file (the reader's position, and so ``Batch.nbytes``, moves by
this much at a time)."""


ZSTD_FEED = 256
"""Compressed bytes given to the zstd decompressor at a time. Its output is not bounded otherwise, and
zstd can pack 128 KiB in 4 bytes (a run of one byte), so a few KB of a bomb would be gigabytes at
once; 256 bytes make at most 8 MiB (and cost about 2 s per GB of text against 64 KiB)."""


class _ZstdRaw(io.RawIOBase):
    """Decompresses a (multi-frame) zstd stream, :data:`ZSTD_FEED` compressed bytes at a time; raises
    EOFError if it ends mid-frame, which zstandard's own stream reader silently accepts."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj: Any = None  # decompressor of the frame in progress
        self._out = b""
        self._pos = 0
        self._in = memoryview(b"")  # compressed bytes read, not yet decompressed

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._pos >= len(self._out):
            if not self._in:
                self._in = memoryview(self._raw.read(1 << 16))
            chunk, self._in = bytes(self._in[:ZSTD_FEED]), self._in[ZSTD_FEED:]
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
            self._out, self._pos = pieces[0] if len(pieces) == 1 else b"".join(pieces), 0
        n = min(len(buffer), len(self._out) - self._pos)
        buffer[:n] = self._out[self._pos : self._pos + n]
        self._pos += n
        return n


@dataclass
class Lines:
    """Consecutive lines of a file (without their ``\\n``), from :meth:`Source.chunks`."""

    lines: list[bytes]
    first: int  # line number of lines[0]
    newline: bool  # whether the last line ended in "\n" (only a file's last line may not)
    ends: list[int]  # line numbers at which the reader's position was taken (increasing), ...
    positions: list[int]  # ... and the on-disk bytes consumed by then


class Source:
    """Decompressed bytes of one file, as numbered lines or whole, with read errors
    converted to InputError. ``locate`` names the position of a failed read. The on-disk
    bytes are hashed on the way; a read that ends normally records the sha256 (take_sha256).

    ``max_line``: the longest line (without its ``\n``), or whole read, in decompressed bytes; a
    longer one is never held whole: ``reject`` gets its InputError (``record_too_long``) and either
    raises it or returns, and then the line is read past and given as an empty line (so the
    numbering holds) and a whole read as ``b""``. A decompression bomb so stops at ``max_line``."""

    def __init__(self, file: InputFile, locate: Callable[[int], str] | None = None, max_line: int | None = None,
                 reject: Callable[[InputError], None] | None = None) -> None:
        self.file = file
        self.lineno = 0  # lines yielded so far
        self._locate = locate or (lambda lineno: where(file.path, lineno))
        self._max = max_line
        self._reject = reject or _raise
        record_sha256(file.unit, None)  # a read that does not finish leaves no digest
        self._raw = open_tap(file)
        if file.part is not None and file.format != "parquet":
            self.lineno = file.part.lines
        self._stream: BinaryIO
        if file.compression == "gzip":
            self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb")  # type: ignore[assignment]
        elif file.compression == "zstd":
            self._stream = io.BufferedReader(_ZstdRaw(self._raw), 1 << 16)  # type: ignore[assignment]
        else:
            self._stream = io.BufferedReader(self._raw, LINE_BUFFER)  # type: ignore[assignment]

    def __enter__(self) -> Source:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is None:  # read to the end: the rest (normally nothing) completes the digest
                while self._raw.read(1 << 20):
                    pass
                record_sha256(self.file.unit, (self._raw.sha256.hexdigest(), self._raw.count))
        except OSError as e:
            raise self._error(e) from None
        finally:
            self._stream.close()
            self._raw.close()

    def position(self) -> int:
        """On-disk bytes consumed so far."""
        return self._raw.tell()

    def too_long(self, lineno: int, whole: bool = False) -> InputError:
        """The error of line ``lineno`` (``whole``: of the file) being longer than ``max_line``."""
        what = "file" if whole else "line"
        after = " after decompression" if self.file.compression else ""
        return InputError(f"{self._locate(lineno)}: {what} longer than {self._max:,} bytes{after} "
                          "(--max-record-bytes; raise it to read such records)", kind="record_too_long")

    def _readline(self) -> bytes:
        """The next line, as ``readline`` gives it, never more than ``max_line`` + 1 bytes held."""
        if self._max is None:
            return self._stream.readline()
        line = self._stream.readline(self._max + 1)
        if len(line) <= self._max or line.endswith(b"\n"):
            return line
        self._reject(self.too_long(self.lineno + 1))
        while True:  # skipping: read past the rest of the line
            rest = self._stream.readline(1 << 20)
            if not rest:
                return b""
            if rest.endswith(b"\n"):
                return b"\n"

    def _checked(self, lines: list[bytes]) -> None:
        """Lines taken from the buffer (``self.lineno`` is the line before them): a longer one than
        ``max_line`` is rejected, and (skipping) emptied in place."""
        if self._max is None or max(map(len, lines), default=0) <= self._max:
            return
        for i, line in enumerate(lines):
            if len(line) > self._max:
                self._reject(self.too_long(self.lineno + i + 1))
                lines[i] = b""

    def __iter__(self) -> Iterator[bytes]:
        try:
            while line := self._readline():
                self.lineno += 1
                if self.lineno == 1:  # (a part never starts on line 1)
                    _sniff(self.file, line)
                    if line.startswith(BOM):
                        line = line[len(BOM) :]
                yield line
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as e:
            raise self._error(e) from None

    def chunks(self, target: int | None = None) -> Iterator[Lines]:
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

        def take() -> Lines:
            return Lines(lines, first, newline, ends, positions)

        try:
            if self.lineno == 0:
                line = self._readline()
                if not line:
                    return
                self.lineno = 1
                _sniff(self.file, line)
                if line.startswith(BOM):
                    line = line[len(BOM) :]
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
                    self._checked(complete)
                    lines += complete
                    self.lineno += len(complete)
                    nbytes += cut
                    ends.append(self.lineno)
                    positions.append(raw.tell())
                if cut < len(buf):  # a line that goes on past the buffer
                    line = self._readline()
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
        """The whole (rest of the) file; past ``max_line`` bytes, rejected (see the class)."""
        try:
            data = self._stream.read() if self._max is None else self._stream.read(self._max + 1)
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as e:
            raise self._error(e) from None
        if self._max is not None and len(data) > self._max:
            self._reject(self.too_long(1, whole=True))
            return b""
        if self.file.format != "parquet":
            _sniff(self.file, data[:8])
        return data

    def _error(self, e: BaseException) -> InputError:
        loc = self._locate(self.lineno + 1)
        if self._raw.error is not None:  # the remote backend failed, not the data
            return InputError(f"{loc}: read error ({error_reason(self._raw.error)})")
        if self.file.compression:
            if self.lineno == 0 and any(m in str(e) for m in ("Not a gzipped file", "nknown frame descriptor")):
                ext = {"gzip": ".gz", "zstd": ".zst"}[self.file.compression]
                return InputError(f"{self.file.path}: not {self.file.compression} data, although its name ends in {ext} "
                                  "(rename the file)", kind="wrong_format")
            return InputError(f"{loc}: truncated or corrupt {self.file.compression} stream", kind="truncated_stream")
        return InputError(f"{loc}: read error ({strerror(e) if isinstance(e, OSError) else e})")


def _raise(error: InputError) -> None:
    raise error


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
