"""The sha256 tap: a file's on-disk (compressed) bytes are counted and hashed while they are read, and the
digest of a complete read is handed to the checkpoint (:func:`take_sha256`), which so need not read the
file a second time; :func:`file_sha256` reads a file for its digest alone."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from typing import Any

from provenance.errors import InputError

from . import sources
from .batch import InputFile
from .urls import STREAMED, URL, error_reason


class Tap(io.RawIOBase):
    """The on-disk bytes of a file as they are read: counted and fed to sha256. A remote backend's
    own exceptions become OSError (kept in ``error``) so that read errors are handled in one place."""

    def __init__(self, raw: Any, remote: bool, limit: int | None = None, expected: int | None = None) -> None:
        self._raw = raw
        self._remote = remote
        self._limit = limit  # read at most this many bytes (a part of a file)
        self._expected = expected  # the size the file system gave: a read that ends short of it failed
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
            raise OSError(error_reason(e)) from None
        if not n:
            if self._expected is not None and self.count != self._expected:
                self.error = OSError(f"the transfer ended after {self.count:,} of {self._expected:,} bytes")
                raise OSError(str(self.error))
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


def record_sha256(key: str, value: tuple[str, int] | None) -> None:
    """Keep ``value`` as the digest of unit ``key``'s last complete read (None: forget it)."""
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
    tap = open_tap(file)
    with tap:
        try:
            while tap.read(1 << 20):
                pass
        except OSError as e:
            reason = error_reason(e) if tap.error is None else error_reason(tap.error)
            raise InputError(f"{file.path}: read error ({reason})") from None
    return tap.sha256.hexdigest()


def open_tap(file: InputFile) -> Tap:
    """The raw bytes of ``file``, or of its part (line formats: the part's byte range).

    A remote file is checked for a short read: a file system that gives the size (S3, GCS, memory,
    ...) must deliver that many bytes; over http(s) the response must be framed, by a Content-Length
    or a chunked transfer (aiohttp fails a body cut short of either), or else the file must carry its
    own end (gzip's trailer, zstd's frame end, parquet's footer): a plain file sent until the connection
    closes is refused, as its end could not be told from a broken connection."""
    raw = sources.open_raw(file.path)
    part = file.part if file.format != "parquet" else None
    if part is not None:
        raw.seek(part.start)
    expected = None
    if isinstance(file.path, URL):
        if file.path.protocol in STREAMED:
            headers = getattr(getattr(raw, "r", None), "headers", None) or {}
            framed = "Content-Length" in headers or "chunked" in headers.get("Transfer-Encoding", "").lower()
            if not framed and file.compression is None and file.format != "parquet":
                raw.close()
                raise InputError(f"{file.path}: the server sends no Content-Length and no chunked framing, so a "
                                 "transfer cut short could not be told from the end of the file (serve it with its "
                                 "size, or compressed as .gz or .zst)")
        elif part is None and isinstance(getattr(raw, "size", None), int):
            expected = raw.size
    return Tap(raw, isinstance(file.path, URL), part.stop - part.start if part is not None else None, expected)
