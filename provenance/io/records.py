"""What every reader shares: the read options (:class:`Options`: fields, ids, skipping), the per-file
state the batcher needs (:class:`State`), records by column (:class:`Piece`), and the value rules (ids,
meta values, one-line errors for bad values)."""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import polars as pl

from provenance.errors import InputError, Skipped
from provenance.params import MAX_RECORD_BYTES


_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, one for one: the same length (offsets
    still hold) and the same normalization (both fold to a space), but encodable as UTF-8, as
    Parquet, polars and JSON output need. A ``str`` decoded from JSON may hold them (``"\\ud83d"``,
    half an emoji)."""
    return _SURROGATE.sub("\ufffd", text) if not text.isascii() and _SURROGATE.search(text) else text


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number",
               float: "a number", bool: "a boolean", type(None): "null"}

Record = tuple[int, str, str, tuple[str | None, ...]]  # row, id, text, meta values


def utf8_error(loc: str, e: UnicodeDecodeError) -> InputError:
    return InputError(f"{loc}: not valid UTF-8 at byte offset {e.start} of the line", kind="not_utf8")


def type_name(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def text_error(loc: str, name: str, value: object, present: bool = False) -> InputError:
    if value is None:
        what = f"'{name}' is null" if present else f"record has no '{name}' field"
        return InputError(f"{loc}: {what}", kind="missing_text")
    return InputError(f"{loc}: '{name}' is {type_name(value)}, not a string", kind="text_not_string")


def _id_str(value: object, loc: Callable[[], str], name: str) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None or value == "":
        raise InputError(f"{loc()}: record has no '{name}' value (the file has ids, so every record needs one)",
                         kind="missing_id")
    if isinstance(value, (list, dict)):
        raise InputError(f"{loc()}: '{name}' is {type_name(value)}, not a string or number", kind="bad_id")
    return str(value)


def meta_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def column_list(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f"(columns: {shown})"


@dataclass
class State:
    """Per-file facts the batcher needs while records stream in."""

    position: Callable[[], int] = lambda: 0
    id_fallback: bool = False


@dataclass(frozen=True)
class Options:
    text_field: str
    id_field: str | None
    meta_fields: tuple[str, ...] = field(default=())
    skipped: Skipped | None = None  # on_error="skip": bad records and files are counted here
    max_record_bytes: int | None = MAX_RECORD_BYTES  # longest line or record read (decompressed bytes)
    posts_from_names: bool = False  # index build, formats from the names: refuse a .txt that reads as one post a line

    def reject(self, error: InputError) -> None:
        """A bad record: raise, or (skipping) count it; the reader then goes on with the next record."""
        if self.skipped is None:
            raise error
        self.skipped.add(error)

    def record_id(self, value: object, loc: Callable[[], str]) -> str | None:
        """The record's id from its ``id_field`` value; None for a bad one (raised, or counted)."""
        try:
            return _id_str(value, loc, self.id_field)  # type: ignore[arg-type]
        except InputError as e:
            self.reject(e)
            return None


@dataclass
class Piece:
    """Consecutive records of one file, by column, for the batcher (:mod:`.batching`). ``ends``/``positions``: the
    reader's on-disk position after row ``ends[i]`` (a record's is the first entry at or after its row).
    ``series``: the texts as a polars String Series, when the reader had them so."""

    rows: list[int]
    ids: list[str]
    texts: list[str]
    meta: list[list[str | None]]  # one list per meta field
    ends: list[int]
    positions: list[int]
    series: pl.Series | None = None

    def position(self, row: int) -> int:
        return self.positions[bisect_left(self.ends, row)]


FAST = True
"""Whether JSONL and parquet use their vectorized path (tests turn it off to compare with the record
by record path, which is also what the vectorized path falls back to whenever in doubt)."""

_PIECE_RECORDS = 256


def record_pieces(records: Iterator[Record], st: State, opt: Options) -> Iterator[Piece]:
    """Records as pieces, each record with the reader's position right after it. A reader that
    raises first hands on the records before."""
    rows: list[int] = []
    ids: list[str] = []
    texts: list[str] = []
    metas: list[list[str | None]] = [[] for _ in opt.meta_fields]
    positions: list[int] = []
    try:
        for row, rid, text, meta in records:
            rows.append(row)
            ids.append(rid)
            texts.append(text)
            for values, value in zip(metas, meta):
                values.append(value)
            positions.append(st.position())
            if len(rows) >= _PIECE_RECORDS:
                yield Piece(rows, ids, texts, metas, rows, positions)
                rows, ids, texts, metas, positions = [], [], [], [[] for _ in opt.meta_fields], []
    except Exception:
        if rows:
            yield Piece(rows, ids, texts, metas, rows, positions)
        raise
    if rows:
        yield Piece(rows, ids, texts, metas, rows, positions)
