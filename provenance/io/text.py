"""The readers of plain text: ``lines`` (one document per non-blank line) and ``text`` (the whole file is
one document)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from provenance.errors import InputError, ParameterError, where

from . import records
from .batch import InputFile
from .records import Options, Piece, Record, State, record_pieces, utf8_error
from .streams import BOM, Source
from .urls import URL


def read_lines(f: InputFile, opt: Options, st: State) -> Iterator[Piece]:
    """A lines file a chunk at a time (:meth:`Source.chunks`): what :func:`_line_records` gives."""
    source, prefix = str(f.path), f"{f.id_source}:"
    st.id_fallback = opt.id_field is not None
    with Source(f, max_line=opt.max_record_bytes, reject=opt.reject) as src:
        st.position = src.position
        if not records.FAST:
            yield from record_pieces(_line_records(f, opt, st, src), st, opt)
            return
        for chunk in src.chunks():
            rows: list[int] = []
            texts: list[str] = []

            def piece() -> Piece:
                return Piece(rows, [prefix + str(row) for row in rows], texts,
                             [[None] * len(rows) for _ in opt.meta_fields], chunk.ends, chunk.positions)

            crlf = len(chunk.lines) - (not chunk.newline)  # lines before this one ended in "\n"
            try:
                for i, line in enumerate(chunk.lines):
                    if not line.strip():
                        continue
                    try:
                        text = line.decode("utf-8")
                    except UnicodeDecodeError as e:
                        opt.reject(utf8_error(where(source, chunk.first + i), e))
                        continue
                    rows.append(chunk.first + i)
                    texts.append(text[:-1] if i < crlf and text.endswith("\r") else text)
            except Exception:
                if rows:
                    yield piece()
                raise
            if rows:
                yield piece()


def _line_records(f: InputFile, opt: Options, st: State, src: Source) -> Iterator[Record]:
    source, no_meta, name = str(f.path), (None,) * len(opt.meta_fields), f.id_source
    for line in src:
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            opt.reject(utf8_error(where(source, src.lineno), e))
            continue
        if text.endswith("\n"):
            text = text[:-2] if text.endswith("\r\n") else text[:-1]
        yield src.lineno, f"{name}:{src.lineno}", text, no_meta


def read_text(f: InputFile, opt: Options, st: State) -> Iterator[Record]:
    with Source(f, lambda _: str(f.path), opt.max_record_bytes, opt.reject) as src:
        data = src.read()
    if not data:
        return
    skip = len(BOM) if data.startswith(BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{f.path}: not valid UTF-8 at byte offset {e.start + skip}", kind="not_utf8") from None
    if opt.posts_from_names:
        refuse_lines_file(f, text)
    if f.id_name is not None:
        doc_id = f.id_name
    elif isinstance(f.path, URL):
        doc_id = str(f.path)[len(str(f.root)) + 1 :] if f.root else f.path.name
    else:
        doc_id = f.path.relative_to(f.root).as_posix() if isinstance(f.root, Path) else f.path.name
    yield 1, doc_id, text, (None,) * len(opt.meta_fields)


LINES_FILE_LINES = 20
"""A ``text`` post of this many lines or more, none of them blank, reads as a file of one post a line."""
LINES_FILE_ANY = 1000
"""A ``text`` post of this many non-blank lines or more reads so, blank lines or not."""


def refuse_lines_file(f: InputFile, text: str) -> None:
    """Stop an index build that would read a file of one post a line (``train_text.txt``) as ONE post
    because its name ends in ``.txt``: :data:`LINES_FILE_LINES` or more lines without a blank one (a
    post's paragraphs have blank lines between them), or :data:`LINES_FILE_ANY` or more."""
    lines = text.strip().splitlines()
    filled = sum(1 for line in lines if line.strip())
    if filled >= LINES_FILE_ANY or (filled >= LINES_FILE_LINES and filled == len(lines)):
        raise ParameterError(f"{f.path}: {filled:,} lines would be read as ONE post (a .txt file is one record); add "
                             "--format lines for one post per line, or --format text to keep each file one post")
