"""From files to batches: :func:`iter_batches` runs each file's reader and cuts its records into batches
by count and text size, each with the on-disk bytes read for it; :func:`read_batches` adds what a scan
and an index build ask of the ids."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any
from itertools import accumulate

import polars as pl

from provenance.errors import InputError, ParameterError, Skipped
from provenance.params import MAX_RECORD_BYTES

from .batch import Batch, InputFile
from .delimited import read_delimited
from .jsonl import read_jsonl
from .parquet import read_parquet
from .records import Options, Piece, State, record_pieces
from .sources import FORMATS, file_size
from .text import read_lines, read_text


def iter_batches(files: Sequence[InputFile], *, text_field: str = "text", id_field: str | None = "id",
                 meta_fields: Sequence[str] = (), batch_size: int = 512,
                 max_batch_bytes: int = 8 << 20, skipped: Skipped | None = None,
                 max_record_bytes: int | None = MAX_RECORD_BYTES, posts_from_names: bool = False) -> Iterator[Batch]:
    """Stream the records of ``files`` in order, as batches that never span two files.

    A batch is yielded when it holds ``batch_size`` records or ``max_batch_bytes`` of text,
    and at the end of each file. Raises InputError for unreadable or malformed input and for
    a file with no records; with ``skipped``, a bad record is left out and a bad file ends early
    (the records read before the damage are kept), each counted there by kind. A line or record
    longer than ``max_record_bytes`` (decompressed; None: no limit) is a bad record
    (``record_too_long``), never held in memory whole; parquet values are not limited.
    ``posts_from_names`` (an index build whose formats come from the file names): a ``text`` file that
    holds one post a line is refused (ParameterError, see :func:`provenance.io.text.refuse_lines_file`).
    """
    if batch_size < 1 or max_batch_bytes < 1:
        raise ParameterError(f"batch_size and max_batch_bytes must be positive "
                             f"(got {batch_size}, {max_batch_bytes})")
    opt = Options(text_field, id_field, tuple(dict.fromkeys(meta_fields)), skipped, max_record_bytes, posts_from_names)
    for f in files:
        st = State()
        pieces: Iterator[Piece]
        if f.format == "parquet":
            pieces = read_parquet(f, opt, st, batch_size, max_batch_bytes)
        elif f.format == "jsonl":
            pieces = read_jsonl(f, opt, st)
        elif f.format == "lines":
            pieces = read_lines(f, opt, st)
        elif f.format in ("csv", "tsv"):
            pieces = record_pieces(read_delimited(f, opt, st), st, opt)
        elif f.format == "text":
            pieces = record_pieces(read_text(f, opt, st), st, opt)
        else:
            raise InputError(f"{f.path}: unknown format '{f.format}' (use one of {', '.join(FORMATS)})")
        yield from _batches(f, pieces, st, opt, batch_size, max_batch_bytes)


def _batches(f: InputFile, pieces: Iterator[Piece], st: State, opt: Options,
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


def read_batches(files: Sequence[InputFile], text_field: str, id_field: str | None, skipped: Skipped | None = None,
          **kwargs: Any) -> Iterator[Batch]:
    """Batches of ``files``. ``id_field=None`` takes ids from an ``id`` field where a file has one and
    uses FILE:ROW elsewhere; an id field named explicitly must be present. With ``skipped``, bad
    records and files are counted there and left out (see :func:`provenance.io.iter_batches`)."""
    without_ids: set[str] = set()
    for batch in iter_batches(files, text_field=text_field, id_field=id_field or "id", skipped=skipped, **kwargs):
        if id_field is not None and batch.id_fallback:
            if batch.source in without_ids:
                continue
            error = InputError(f"{batch.source}: no '{id_field}' field for the record ids", kind="wrong_schema")
            if skipped is None:
                raise error
            skipped.add(error)
            without_ids.add(batch.source)
            continue
        yield batch
