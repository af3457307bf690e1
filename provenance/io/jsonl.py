"""The JSONL reader: a chunk of lines parsed at once with orjson and taken by column, record by record
(the path that defines the results) wherever a chunk holds anything unusual."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import chain, repeat
from typing import Any

import orjson

from provenance.errors import InputError, where

from . import records
from .batch import InputFile
from .records import (Options, Piece, Record, State, meta_str, record_pieces, replace_surrogates, text_error, type_name,
                      utf8_error)
from .streams import Lines, Source

_PLAIN = frozenset((str, int, bool, type(None)))  # JSON values that orjson and json decode alike
_DEEP = 200  # a line with this many '[' and '{' may nest deeper than json.loads can (RecursionError)
_EXACT_FLOAT = float(1 << 63)  # orjson turns integers outside [-2**63, 2**64) into floats; json keeps them


class _JsonlReader:
    """The records of one JSONL file. A chunk of lines is parsed at once with orjson and its columns
    taken with C-level maps; a chunk that has anything unusual (a line orjson rejects or that is
    blank, a record that is not an object or whose text is not a string, an id that is not a
    non-empty string or an integer, a meta value that is a float orjson may have decoded otherwise
    than json, containers nested deep enough to matter) goes record by record through
    :meth:`record`, today's path, which gives its errors and skips."""

    def __init__(self, f: InputFile, opt: Options, st: State) -> None:
        self.source, self.opt, self.st, self.id_source = str(f.path), opt, st, f.id_source
        self.use_ids: bool | None = None  # decided by the file's first record
        if f.part is not None and f.part.ids is not None:
            self.use_ids = opt.id_field is not None and f.part.ids
            st.id_fallback = opt.id_field is not None and not self.use_ids

    def record(self, line: bytes, row: int, rec: Any = None) -> Record | None:
        """The record of a non-blank ``line`` (with its ``\\n``), or None when it is rejected (raised, or
        counted). ``rec``: the line already decoded, when it is known to be what json.loads gives."""
        opt, source = self.opt, self.source
        text_field, id_field = opt.text_field, opt.id_field
        if rec is None:
            try:
                rec = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as e:
                opt.reject(utf8_error(where(source, row), e))
                return None
            except (ValueError, RecursionError) as e:
                reason = f"{e.msg}: column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
                hint = "; expected one JSON object per line" if self.use_ids is None else ""
                opt.reject(InputError(f"{where(source, row)}: broken JSON ({reason}{hint})", kind="broken_json"))
                return None
        if type(rec) is not dict:
            opt.reject(InputError(f"{where(source, row)}: expected a JSON object, got {type_name(rec)}",
                                  kind="not_an_object"))
            return None
        text = rec.get(text_field)
        if type(text) is not str:
            opt.reject(text_error(where(source, row), text_field, text, text_field in rec))
            return None
        if self.use_ids is None:
            self.use_ids = id_field is not None and id_field in rec
            self.st.id_fallback = id_field is not None and not self.use_ids
        if self.use_ids:
            rid = opt.record_id(rec.get(id_field), lambda: where(source, row))
            if rid is None:
                return None
        else:
            rid = f"{self.id_source}:{row}"
        meta = tuple(meta_str(rec.get(k)) for k in opt.meta_fields)
        if b"\\ud" in line or b"\\uD" in line:  # a lone surrogate escaped (half an emoji): U+FFFD, one for one
            text, rid = replace_surrogates(text), replace_surrogates(rid)
            meta = tuple(m if m is None else replace_surrogates(m) for m in meta)
        return row, rid, text, meta

    def records(self, src: Source) -> Iterator[Record]:
        """Record by record, as the file's lines come."""
        for line in src:
            if line.strip():
                record = self.record(line, src.lineno)
                if record is not None:
                    yield record

    def pieces(self, src: Source) -> Iterator[Piece]:
        for chunk in src.chunks():
            piece = self._vectorized(chunk)
            if piece is not None:
                yield piece
            else:
                yield from self._one_by_one(chunk)

    def _vectorized(self, chunk: Lines) -> Piece | None:
        """The chunk's records, all of them good and decoded alike by orjson and json; else None."""
        lines, opt = chunk.lines, self.opt
        rows: list[int] | range
        try:
            recs = list(map(orjson.loads, lines))
            rows = range(chunk.first, chunk.first + len(lines))
        except ValueError:  # (orjson.JSONDecodeError) a bad line, or a blank one
            recs, rows = [], []
            for i, line in enumerate(lines, chunk.first):
                if line.strip():
                    try:
                        recs.append(orjson.loads(line))
                    except ValueError:
                        return None
                    rows.append(i)
            if not recs:
                return None
        try:
            texts = list(map(dict.get, recs, repeat(opt.text_field)))
        except TypeError:  # a record that is not an object
            return None
        if set(map(type, texts)) != {str}:
            return None
        kinds = set(map(type, chain.from_iterable(map(dict.values, recs))))
        if (list in kinds or dict in kinds) and any(
                a + b >= _DEEP for a, b in zip(map(bytes.count, lines, repeat(b"[")), map(bytes.count, lines, repeat(b"{")))):
            return None
        use_ids = self.use_ids
        if use_ids is None:
            use_ids = opt.id_field is not None and opt.id_field in recs[0]
        if use_ids:
            ids = list(map(dict.get, recs, repeat(opt.id_field)))
            kinds = set(map(type, ids))
            if not kinds <= {str, int} or (str in kinds and "" in ids):
                return None
            if int in kinds:
                ids = list(map(str, ids))
        else:
            prefix = self.id_source + ":"
            ids = [prefix + str(row) for row in rows]
        meta = []
        for name in opt.meta_fields:
            values = list(map(dict.get, recs, repeat(name)))
            kinds = set(map(type, values))
            if not kinds <= {str, type(None)}:
                if not kinds <= _PLAIN | {float}:
                    return None
                if float in kinds and not all(abs(v) < _EXACT_FLOAT for v in values if type(v) is float):
                    return None
                values = list(map(meta_str, values))
            meta.append(values)
        if self.use_ids is None:
            self.use_ids = use_ids
            self.st.id_fallback = opt.id_field is not None and not use_ids
        return Piece(list(rows), ids, texts, meta, chunk.ends, chunk.positions)

    def _one_by_one(self, chunk: Lines) -> Iterator[Piece]:
        """The chunk through :meth:`record`, line by line (a line orjson decodes to an object of plain
        values is not decoded again). A rejection that raises first hands on the records before it."""
        rows: list[int] = []
        ids: list[str] = []
        texts: list[str] = []
        metas: list[list[str | None]] = [[] for _ in self.opt.meta_fields]
        last = len(chunk.lines) - 1
        try:
            for i, line in enumerate(chunk.lines):
                if not line.strip():
                    continue
                try:
                    rec = orjson.loads(line)
                    if type(rec) is not dict or not set(map(type, rec.values())) <= _PLAIN:
                        rec = None
                except ValueError:
                    rec = None
                record = self.record(line + b"\n" if i < last or chunk.newline else line, chunk.first + i, rec)
                if record is not None:
                    row, rid, text, meta = record
                    rows.append(row)
                    ids.append(rid)
                    texts.append(text)
                    for values, value in zip(metas, meta):
                        values.append(value)
        except Exception:
            if rows:
                yield Piece(rows, ids, texts, metas, chunk.ends, chunk.positions)
            raise
        if rows:
            yield Piece(rows, ids, texts, metas, chunk.ends, chunk.positions)


def read_jsonl(f: InputFile, opt: Options, st: State) -> Iterator[Piece]:
    reader = _JsonlReader(f, opt, st)
    with Source(f, max_line=opt.max_record_bytes, reject=opt.reject) as src:
        st.position = src.position
        yield from reader.pieces(src) if records.FAST else record_pieces(reader.records(src), st, opt)
