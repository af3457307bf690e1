"""The parquet reader: row slices read with polars and taken by column, record by record wherever a
slice holds a bad record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from provenance.errors import InputError, where

from . import records, sources
from .batch import InputFile
from .records import Options, Piece, Record, State, column_list, meta_str, record_pieces, text_error
from .streams import Source
from .urls import URL


def read_parquet(f: InputFile, opt: Options, st: State, batch_size: int, max_bytes: int) -> Iterator[Piece]:
    path, source = f.path, str(f.path)
    data: Path | bytes
    if isinstance(path, URL):  # polars gets the bytes (hashed on the way): the whole file in memory
        with Source(f, lambda _: source) as src:
            data = src.read()
    else:  # polars reads the file itself, a row slice at a time (the checkpoint hashes it apart)
        sources.open_raw(path).close()  # clean "permission denied" before polars sees the file
        data = path
    try:
        schema = pl.read_parquet_schema(data)
        total = pl.scan_parquet(data).select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(f"{path}: not a readable parquet file ({str(e).splitlines()[0]})", kind="not_parquet") from None
    for name in (opt.text_field, *opt.meta_fields):
        if name not in schema:
            raise InputError(f"{path}: no column '{name}' {column_list(schema)}", kind="wrong_schema")
    dtype = schema[opt.text_field]
    if not (dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))):
        raise InputError(f"{path}: column '{opt.text_field}' is {dtype}, not a string type", kind="wrong_schema")
    use_ids = opt.id_field is not None and opt.id_field in schema
    st.id_fallback = opt.id_field is not None and not use_ids
    names = list(dict.fromkeys([opt.text_field, *([opt.id_field] if use_ids else []), *opt.meta_fields]))
    columns = [pl.col(n).cast(pl.String) if n == opt.text_field else pl.col(n) for n in names]
    first, size, done, step = 0, sources.path_size(path), 0, batch_size * 8
    if f.part is not None:  # rows [start, stop) only
        first, total, size = f.part.start, min(total, f.part.stop), f.part.nbytes
        done = first
    st.position = lambda: size * (done - first) // max(total - first, 1)
    while done < total:
        try:
            df = pl.scan_parquet(data).select(columns).slice(done, min(step, total - done)).collect()
        except (pl.exceptions.PolarsError, OSError) as e:
            raise InputError(f"{where(path, done + 1)}: cannot read parquet ({str(e).splitlines()[0]})",
                             kind="not_parquet") from None
        if df.height == 0:
            break
        texts = df[opt.text_field]
        ends, positions = [done + df.height], [st.position()]
        piece = _parquet_columns(df, texts, f.id_source, done, opt, use_ids, ends, positions) if records.FAST else None
        if piece is not None:
            yield piece
        else:
            yield from record_pieces(_parquet_records(df, texts, source, done, opt, use_ids, f.id_source), st, opt)
        done += df.height
        bytes_per_row = max(1, texts.str.len_bytes().sum() // df.height)
        step = max(batch_size, min(batch_size * 64, 4 * max_bytes // bytes_per_row))


def _parquet_columns(df: pl.DataFrame, texts: pl.Series, name: str, done: int, opt: Options, use_ids: bool,
                     ends: list[int], positions: list[int]) -> Piece | None:
    """A slice's records by column, when none is rejected (no null text, every id a value that
    :meth:`Options.record_id` turns into its ``str``); else None."""
    if texts.null_count():
        return None
    rows = list(range(done + 1, done + df.height + 1))
    if use_ids:
        values = df[opt.id_field].to_list()
        kinds = set(map(type, values))
        if kinds & {type(None), bool, list, dict} or (str in kinds and "" in values):
            return None
        ids = list(map(str, values))
    else:
        prefix = name + ":"
        ids = [prefix + str(row) for row in rows]
    meta = []
    for name in opt.meta_fields:
        values = df[name].to_list()
        meta.append(values if set(map(type, values)) <= {str, type(None)} else list(map(meta_str, values)))
    return Piece(rows, ids, texts.to_list(), meta, ends, positions, series=texts)


def _parquet_records(df: pl.DataFrame, texts: pl.Series, source: str, done: int, opt: Options,
                     use_ids: bool, name: str) -> Iterator[Record]:
    """A slice's records one by one, each checked (a null text, a missing or bad id rejected)."""
    text_list = texts.to_list()
    ids = df[opt.id_field].to_list() if use_ids else None
    metas = [[meta_str(v) for v in df[k].to_list()] for k in opt.meta_fields]
    for i, text in enumerate(text_list):
        row = done + i + 1
        if text is None:
            opt.reject(text_error(where(source, row), opt.text_field, None, present=True))
            continue
        if ids is None:
            rid = f"{name}:{row}"
        else:
            rid = opt.record_id(ids[i], lambda: where(source, row))
            if rid is None:
                continue
        yield row, rid, text, tuple(m[i] for m in metas)
