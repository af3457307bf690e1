"""What the readers hand on: :class:`InputFile` (a file to read, or a :class:`Part` of one) and
:class:`Batch` (consecutive records of one file)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .urls import URL


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
    argument it was found in, if any; ``part`` a piece of it (see :func:`split_units`). ``id_name``:
    what FILE:ROW ids name the file by (:func:`provenance.io.names.named_for_ids`; an index build sets
    it), else the path as given."""

    path: Path | URL
    format: str
    compression: str | None
    root: Path | URL | None = None
    part: Part | None = None
    id_name: str | None = None

    @property
    def id_source(self) -> str:
        """The FILE of the file's FILE:ROW ids."""
        return self.id_name if self.id_name is not None else str(self.path)

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
