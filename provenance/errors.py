"""Typed errors. Every error a user can cause is a :class:`ProvenanceError` whose
message is one line naming the file (and line/row where there is one); the CLI
prints that line and exits non-zero, never a traceback.

Bad input has a *kind* (:data:`KINDS`). By default the first bad record or file stops the run;
with ``on_error="skip"`` (``--on-error skip``) it is left out instead and counted by kind in a
:class:`Skipped`, which ends up in ``summary.json`` (a scan) or the manifest (an index build).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ProvenanceError(Exception):
    """Base class for errors caused by input, arguments or files on disk."""


class InputError(ProvenanceError):
    """A corpus or post file cannot be read: missing, unknown format, broken record, bad encoding.

    ``kind`` is one of :data:`KINDS` (the first group of which are errors of one record)."""

    def __init__(self, message: str, kind: str = "unreadable") -> None:
        super().__init__(message)
        self.kind = kind


class IndexFormatError(ProvenanceError):
    """An index directory is missing, damaged, or from an incompatible version."""


class Interrupted(BaseException):
    """A run stopped by a signal (SIGINT, SIGTERM) the command line turned into this exception (a
    ``BaseException``, as ``KeyboardInterrupt``: no ``except Exception`` swallows it). ``kept``: one
    sentence saying what was kept and how to continue, or empty."""

    def __init__(self, signum: int = 2, kept: str = "") -> None:
        super().__init__(kept or f"signal {signum}")
        self.signum, self.kept = signum, kept


class ParameterError(ProvenanceError):
    """A parameter is out of range or inconsistent with another."""


class SecretKeyError(ProvenanceError):
    """A key file cannot be used (missing, unreadable, too short), or a key does not fit the index:
    missing for a keyed index, another key, or given for an index built without one."""


KINDS: dict[str, str] = {
    # one record (the reader goes on with the next)
    "broken_json": "a JSONL line that is not JSON",
    "not_an_object": "a JSONL line that is JSON but not an object",
    "not_utf8": "a line (or CSV row) that is not valid UTF-8",
    "missing_text": "a record without its text field, or with null",
    "text_not_string": "a record whose text is a number, list, object or boolean",
    "missing_id": "a record without a value for the id field (the file has ids)",
    "bad_id": "a record whose id is a list or object",
    "ragged_row": "a CSV/TSV row with more or fewer fields than the header",
    "duplicate_id": "a post whose id an earlier post already has (index build)",
    "record_too_long": "a line or record longer than --max-record-bytes after decompression (a text file: the file)",
    # a whole file (records read before the damage are kept)
    "truncated_stream": "a gzip/zstd file that is truncated or corrupt",
    "malformed_csv": "a CSV/TSV file the csv module cannot parse (e.g. a NUL byte, a stray quote)",
    "not_parquet": "a .parquet file that is not a readable parquet file",
    "wrong_schema": "a file without the text (or a meta) column, or with a non-string text column",
    "wrong_format": "a file whose content is not what its name says (gzip in a .jsonl, UTF-16, ...)",
    "empty_file": "a file with no records",
    "empty_directory": "a folder with no input files",
    "missing_file": "a path that does not exist",
    "unreadable": "a file that cannot be read (permissions, I/O error)",
    "special_file": "a FIFO, socket or device given or found as an input file (never read: it may never end)",
}
"""Kinds of bad input, with what each one means."""


@dataclass
class Skipped:
    """Bad records and files left out of a run, counted by kind, with the first message of each kind."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, error: InputError) -> None:
        self.counts[error.kind] = self.counts.get(error.kind, 0) + 1
        self.first.setdefault(error.kind, str(error))

    def merge(self, other: "Skipped") -> None:
        for kind, n in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        for kind, message in other.first.items():
            self.first.setdefault(kind, message)

    @property
    def records(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind in _RECORD_KINDS)

    @property
    def files(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind not in _RECORD_KINDS)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def to_dict(self) -> dict[str, Any]:
        """The ``skipped`` entry of summary.json and of an index manifest (kinds sorted)."""
        return {"records": self.records, "files": self.files, "by_kind": dict(sorted(self.counts.items())),
                "first": dict(sorted(self.first.items()))}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Skipped":
        data = data or {}
        return cls(dict(data.get("by_kind", {})), dict(data.get("first", {})))

    def line(self) -> str:
        """One line for the terminal: ``skipped 3 records and 1 file: broken_json 2, ...``."""
        parts = []
        if self.records:
            parts.append(f"{self.records:,} record{'s' * (self.records != 1)}")
        if self.files:
            parts.append(f"{self.files:,} file{'s' * (self.files != 1)}")
        kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(self.counts.items()))
        return f"skipped {' and '.join(parts)} ({kinds})"


_RECORD_KINDS = frozenset(("broken_json", "not_an_object", "not_utf8", "missing_text", "text_not_string", "missing_id",
                           "bad_id", "ragged_row", "duplicate_id", "record_too_long"))

ON_ERROR = ("stop", "skip")


def skipping(on_error: str) -> Skipped | None:
    """What a reader counts skipped input in: a fresh :class:`Skipped` for ``on_error="skip"``, None
    (bad input raises) for ``"stop"``."""
    if on_error not in ON_ERROR:
        raise ParameterError(f"on_error (--on-error) must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    return Skipped() if on_error == "skip" else None


def where(path: object, row: int | None = None) -> str:
    """Format a location as ``path`` or ``path:row`` (row is 1-based)."""
    return f"{path}:{row}" if row is not None else f"{path}"
