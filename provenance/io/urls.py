"""fsspec URL inputs: :class:`URL` (a file or folder named by a URL), the file system behind it, and
one-line errors for what its backend raises."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from provenance.errors import InputError

READ_BLOCK = 16 << 20
"""Bytes per request when reading a remote file (fsspec ``block_size`` with the ``readahead``
cache): one request per 16 MiB keeps per-request latency small next to the >1 s it takes to scan
that much text, and holds one block in memory per open file."""

READ_TIMEOUT = 60.0
"""Default seconds an http(s) read may wait for the next bytes (the ``PROVENANCE_READ_TIMEOUT``
environment variable, or ``--read-timeout``, sets it): a stalled server fails then, while a slow but
steady one is read to its end however long it takes (no total time limit; connecting has the same
limit)."""

STREAMED = frozenset({"http", "https"})  # one GET streamed (block_size=0): no range requests needed
_REMOTE_EXTRA = frozenset({"http", "https", "s3", "s3a"})  # backends in provenance[remote]


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
        url = self.url.split("?", 1)[0].split("#", 1)[0] if self.protocol in STREAMED else self.url
        return url.rstrip("/").rsplit("/", 1)[-1]

    def filesystem(self) -> tuple[Any, str]:
        """``(fsspec file system, path in it)``; InputError for an unknown protocol or a missing backend."""
        return url_to_fs(self.url)

    def info(self) -> dict[str, Any]:
        """fsspec's ``info`` of the URL (size, type, change markers); InputError if it cannot be had."""
        fs, path = self.filesystem()
        try:
            return fs.info(path)
        except Exception as e:  # noqa: BLE001 (every backend has its own exception types)
            raise url_error(self, e) from None

    def stat(self) -> URLStat:
        """The size, for code that takes ``path.stat().st_size`` of a local path."""
        return URLStat(url_size(self))


def is_url(arg: str | Path) -> bool:
    """Whether an input argument is an fsspec URL (it contains ``://``)."""
    return isinstance(arg, str) and "://" in arg


def url_size(url: URL) -> int:
    """The size seen when the URL was listed, else the one its file system says (0 if it does not)."""
    return url.size if url.size is not None else int(url.info().get("size") or 0)


def url_to_fs(url: str) -> tuple[Any, str]:
    """``(fsspec file system, path in it)`` of ``url`` (see :meth:`URL.filesystem`)."""
    import fsspec  # imported on first use: local-only runs do not pay for it

    protocol = url.split("://", 1)[0]
    try:
        return fsspec.core.url_to_fs(url, **_http_options(protocol.lower()))
    except ImportError as e:
        if protocol.lower() in _REMOTE_EXTRA:
            fix = "pip install 'provenance[remote]'"
        else:
            fix = str(e).splitlines()[0] if str(e) else f"install fsspec's backend for {protocol}://"
        raise InputError(f"{url}: reading {protocol}:// URLs needs a package that is not installed ({fix})") from None
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 (fsspec: ValueError for an unknown protocol; backends: their own)
        if isinstance(e, ValueError) and "protocol not known" in str(e).lower():
            raise InputError(f"{url}: unknown URL protocol '{protocol}' "
                             f"(fsspec reads file://, memory://, s3://, gs://, https:// and others)") from None
        raise InputError(f"{url}: {error_reason(e)}") from None


def read_timeout() -> float:
    """Seconds an http(s) read waits for the next bytes: ``PROVENANCE_READ_TIMEOUT``, or :data:`READ_TIMEOUT`."""
    text = os.environ.get("PROVENANCE_READ_TIMEOUT", "").strip()
    if not text:
        return READ_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e6:
        raise InputError(f"PROVENANCE_READ_TIMEOUT (--read-timeout) must be a number of seconds > 0, got {text!r}")
    return seconds


def _http_options(protocol: str) -> dict[str, Any]:
    """fsspec options of an http(s) file system: aiohttp's timeouts between bytes and to connect, and
    none for the whole transfer (aiohttp's default, 300 s, would cut a long, slow download); other
    client options from fsspec's config are kept."""
    if protocol not in STREAMED:
        return {}
    import aiohttp
    import fsspec

    seconds = read_timeout()
    client = dict(fsspec.config.conf.get(protocol, {}).get("client_kwargs") or {})
    client.setdefault("timeout", aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds))
    return {"client_kwargs": client}


def url_error(url: URL, e: BaseException) -> InputError:
    """The one-line InputError for what a backend raised about ``url``."""
    if isinstance(e, InputError):
        return e
    if isinstance(e, FileNotFoundError):
        return InputError(f"{url}: no such file or directory", kind="missing_file")
    if isinstance(e, PermissionError):
        return InputError(f"{url}: permission denied")
    if isinstance(e, IsADirectoryError):
        return InputError(f"{url}: is a folder, not a file")
    return InputError(f"{url}: cannot read ({error_reason(e)})")


def error_reason(e: BaseException) -> str:
    """A one-line account of a backend's exception."""
    if "timeout" in type(e).__name__.lower() or isinstance(e, TimeoutError):
        return f"no data for {read_timeout():g} s (--read-timeout)"
    text = (e.strerror if isinstance(e, OSError) and e.strerror else str(e)).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__
