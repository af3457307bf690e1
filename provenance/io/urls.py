"""fsspec URL inputs: :class:`URL` (a file or folder named by a URL), the file system behind it, and
one-line errors for what its backend raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from provenance.errors import InputError

READ_BLOCK = 16 << 20
"""Bytes per request when reading a remote file (fsspec ``block_size`` with the ``readahead``
cache): one request per 16 MiB keeps per-request latency small next to the >1 s it takes to scan
that much text, and holds one block in memory per open file."""

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
        raise InputError(f"{url}: {error_reason(e)}") from None


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
    text = (e.strerror if isinstance(e, OSError) and e.strerror else str(e)).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__
