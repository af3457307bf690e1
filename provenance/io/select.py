"""Which files a folder argument brings in (:class:`Selection`): ``--include``/``--exclude`` patterns,
documentation files (README, LICENSE, ``*.md``, ...) left out and counted, files that look like labels or
mappings refused rather than read as posts or documents; and the inner format of a gzip/zstd file whose
name does not say it, from its first decompressed bytes (:func:`sniff_compressed`).

Patterns are shell globs (``fnmatch``, case-sensitive): one with a ``/`` is matched against the path
inside the folder argument (``irony/*_text.txt.gz``), one without against the file name
(``*_labels.txt``). ``--include`` given: only the files of a folder that match one of its patterns are read
(documentation and label-like files too, when a pattern names them). ``--exclude``: a matching file is left
out, whatever ``--include`` says. A file named as an argument is read whatever the patterns say, except
that a label-like name needs an ``--include`` pattern that matches it.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import zstandard

from provenance.errors import ParameterError

from .urls import URL

__all__ = ["Selection", "is_documentation", "is_label_like", "sniff_compressed"]

_DOC_NAME = re.compile(r"^(readme|licen[cs]e|copying|notice|changelog|changes|authors|contributing|citation)"
                       r"([ ._-].*)?$", re.IGNORECASE)
_DOC_EXTENSIONS = (".md", ".markdown", ".rst", ".rtf", ".pdf", ".html", ".htm", ".doc", ".docx")
_LABEL_WORDS = frozenset(("label", "labels", "mapping", "mappings"))
_COMPRESSED = (".gz", ".zst")

SNIFF_BYTES = 1 << 16
"""Decompressed bytes :func:`sniff_compressed` reads at most."""


def _bare(name: str) -> str:
    name = name.lower()
    for ext in _COMPRESSED:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def is_documentation(name: str) -> bool:
    """A README, LICENSE, COPYING, CHANGELOG, ... or a ``.md``/``.rst``/``.rtf``/``.pdf``/``.html`` file:
    what a dataset folder holds beside its data."""
    bare = _bare(name)
    return bool(_DOC_NAME.match(bare)) or bare.endswith(_DOC_EXTENSIONS)


def is_label_like(name: str) -> bool:
    """A file whose name has the word label(s) or mapping(s) (``train_labels.txt``, ``mapping.txt``)."""
    stem = _bare(name).rsplit(".", 1)[0] if "." in _bare(name) else _bare(name)
    return bool(_LABEL_WORDS & set(re.split(r"[ ._-]+", stem)))


def _matches(patterns: tuple[str, ...], rel: str, name: str) -> bool:
    return any(fnmatchcase(rel if "/" in p else name, p) for p in patterns)


_REASONS = {"documentation": "documentation", "unknown": "of no input format"}


@dataclass
class Selection:
    """The ``--include``/``--exclude`` patterns, and what the folders brought in that was left out
    without being asked to (``left_out``: reason -> paths, for a one-line note) or refused (label-like
    files). Files the patterns leave out are not listed: the user asked for that."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    left_out: dict[str, list[str]] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    labels_in_folders: int = 0

    def __post_init__(self) -> None:
        self.include, self.exclude = tuple(self.include), tuple(self.exclude)
        for p in self.include + self.exclude:
            if not p or p.startswith("/"):
                raise ParameterError(f"--include/--exclude pattern {p!r}: give a file name pattern such as '*_text.txt.gz' "
                                     "or a path inside the folder such as 'irony/*.txt'")

    def leave_out(self, reason: str, shown: str) -> None:
        self.left_out.setdefault(reason, []).append(shown)

    def admits(self, rel: str, name: str, shown: str) -> bool:
        """Whether the folder member at ``rel`` (path inside the folder argument) may be read, by the
        patterns and the documentation rule; ``shown`` names it in the note."""
        if self.exclude and _matches(self.exclude, rel, name):
            return False
        if self.include:
            return _matches(self.include, rel, name)
        if is_documentation(name):
            self.leave_out("documentation", shown)
            return False
        return True

    def refuses(self, rel: str, name: str, shown: str, in_folder: bool = True) -> bool:
        """Whether a file that would be read is refused as label-like (no ``--include`` pattern names
        it); collected for :meth:`refuse_labels`. ``rel``: the path inside its folder, or as given."""
        if is_label_like(name) and not _matches(self.include, rel, name):
            self.labels.append(shown)
            self.labels_in_folders += in_folder
            return True
        return False

    def refuse_labels(self) -> None:
        """Stop (one line) when the arguments brought in files that look like labels or mappings."""
        if not self.labels:
            return
        shown = ", ".join(self.labels[:3]) + (f" and {len(self.labels) - 3:,} more" if len(self.labels) > 3 else "")
        names = sorted({Path(p).name for p in self.labels})
        one = len(self.labels) == 1
        it, verb = ("it", "looks") if one else ("them", "look")
        if self.labels_in_folders:
            excludes = " ".join(f"--exclude '{n}'" for n in names) if len(names) <= 2 else \
                "--exclude '*label*' --exclude 'mapping*'"
            how = f"{excludes}, or name only the text files, e.g. --include '*_text*'"
        else:
            how = "name only the text files among the arguments, e.g. DIR/*_text.txt.gz"
        raise ParameterError(f"{shown}: {verb} like labels or a mapping, not texts; leave {it} out ({how}), "
                             f"or --include {it} to read {it} as texts")

    def note(self) -> str | None:
        """One line on what the folders brought in that was not read, or None."""
        if not self.left_out:
            return None
        parts = []
        for reason, paths in self.left_out.items():
            names = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
            parts.append(f"{len(paths):,} {_REASONS[reason]} ({names})")
        n = sum(map(len, self.left_out.values()))
        return (f"left out {n:,} file{'s' * (n != 1)} of the folders given: {'; '.join(parts)}; "
                "--include PATTERN reads a file anyway")

    def unknown_hint(self) -> str:
        """For a folder that gave no input file: the files of no known format it holds, if any."""
        paths = self.left_out.get("unknown", [])
        if not paths:
            return ""
        names = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
        return f"; it holds {len(paths):,} file{'s' * (len(paths) != 1)} of no known format ({names}): add --format"


def sniff_compressed(path: Path | URL, compression: str) -> str | None:
    """The format of a gzip/zstd file whose name does not say it, from its first decompressed bytes:
    ``jsonl`` when the first non-blank byte is ``{``; else None (also when it cannot be read: the reader
    then says why)."""
    try:
        local = path if not isinstance(path, URL) else path.filesystem()[1] if path.protocol == "file" else None
        if local is not None and not stat.S_ISREG(os.stat(local).st_mode):
            return None  # a FIFO, socket or device is never opened (expand_inputs refuses it)
        raw: Any = path.filesystem()[0].open(path.filesystem()[1], "rb") if isinstance(path, URL) else open(path, "rb")
    except Exception:  # noqa: BLE001 (unreadable: not this function's to report)
        return None
    try:
        with raw:
            if compression == "gzip":
                head = gzip.GzipFile(fileobj=raw, mode="rb").read(SNIFF_BYTES)
            else:
                head = zstandard.ZstdDecompressor().stream_reader(raw).read(SNIFF_BYTES)
    except (OSError, EOFError, zlib.error, zstandard.ZstdError):
        return None
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return "jsonl" if head.startswith(b"{") else None
