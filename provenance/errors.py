"""Typed errors. Every error a user can cause is a :class:`ProvenanceError` whose
message is one line naming the file (and line/row where there is one); the CLI
prints that line and exits non-zero, never a traceback."""

from __future__ import annotations


class ProvenanceError(Exception):
    """Base class for errors caused by input, arguments or files on disk."""


class InputError(ProvenanceError):
    """A corpus or post file cannot be read: missing, unknown format, broken record, bad encoding."""


class IndexFormatError(ProvenanceError):
    """An index directory is missing, damaged, or from an incompatible version."""


class ParameterError(ProvenanceError):
    """A parameter is out of range or inconsistent with another."""


class SecretKeyError(ProvenanceError):
    """A key file cannot be used (missing, unreadable, too short), or a key does not fit the index:
    missing for a keyed index, another key, or given for an index built without one."""


def where(path: object, row: int | None = None) -> str:
    """Format a location as ``path`` or ``path:row`` (row is 1-based)."""
    return f"{path}:{row}" if row is not None else f"{path}"
