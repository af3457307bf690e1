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
    bytes are hashed on the way; a read that ends normally records the sha256 (take_sha256)."""

    def __init__(self, file: InputFile, locate: Callable[[int], str] | None = None) -> None:
        self.file = file
        self.lineno = 0  # lines yielded so far
        self._locate = locate or (lambda lineno: where(file.path, lineno))
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

    def __iter__(self) -> Iterator[bytes]:
        try:
            for line in self._stream:
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
                line = stream.readline()
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
            return InputError(f"{loc}: read error ({error_reason(self._raw.error)})")
        if self.file.compression:
            if self.lineno == 0 and any(m in str(e) for m in ("Not a gzipped file", "nknown frame descriptor")):
                ext = {"gzip": ".gz", "zstd": ".zst"}[self.file.compression]
                return InputError(f"{self.file.path}: not {self.file.compression} data, although its name ends in {ext} "
                                  "(rename the file)", kind="wrong_format")
            return InputError(f"{loc}: truncated or corrupt {self.file.compression} stream", kind="truncated_stream")
        return InputError(f"{loc}: read error ({strerror(e) if isinstance(e, OSError) else e})")


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
