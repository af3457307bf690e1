"""The CSV and TSV reader: a header row, then one record per row.

CSV fields may be quoted (RFC 4180: a quoted field may hold the separator, quotes doubled, line breaks).
TSV is the IANA ``text/tab-separated-values`` form: no quoting at all, a field holds no tab and no line
break, and a quotation mark is a character like any other (a title such as ``"Physics" and guns`` is
read as written)."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from provenance.errors import InputError, where

from .batch import InputFile
from .records import Options, Record, State, column_list, utf8_error
from .streams import Source


def read_delimited(f: InputFile, opt: Options, st: State) -> Iterator[Record]:
    source = str(f.path)
    row = 0  # data rows completed
    header: list[str] | None = None

    def locate(lineno: int) -> str:
        return f"{where(source, row + 1)} (line {lineno})" if header is not None else f"{source} (header)"

    bad_lines: list[InputError] = []  # (skipping) lines of the current row that are not UTF-8

    def decoded(src: Source) -> Iterator[str]:
        for line in src:
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as e:
                if opt.skipped is None:
                    raise utf8_error(locate(src.lineno), e) from None
                # Skipping: the csv module still gets the line (it may be inside a quoted field),
                # and the row it belongs to is left out.
                bad_lines.append(utf8_error(locate(src.lineno), e))
                yield line.decode("utf-8", errors="replace")

    too_long: list[InputError] = []  # (skipping) a line too long to read: the Source gives an empty one

    def reject_long(error: InputError) -> None:
        opt.reject(error)
        too_long.append(error)

    csv.field_size_limit(min(opt.max_record_bytes or 1 << 30, 1 << 30))
    with Source(f, locate, opt.max_record_bytes, reject_long) as src:
        st.position = src.position
        if f.format == "tsv":
            reader = csv.reader(decoded(src), dialect="excel-tab", quoting=csv.QUOTE_NONE)
        else:
            reader = csv.reader(decoded(src), dialect="excel", strict=True)  # strict: no silent misparse
        try:
            header = next(reader, None)
            if header is None:
                return
            for name in (opt.text_field, *opt.meta_fields):
                if name not in header:
                    raise InputError(f"{source}: no column '{name}' {column_list(header)}", kind="wrong_schema")
            text_i = header.index(opt.text_field)
            meta_i = [header.index(k) for k in opt.meta_fields]
            id_i = header.index(opt.id_field) if opt.id_field in header else None
            st.id_fallback = opt.id_field is not None and id_i is None
            for fields in reader:
                if not fields:
                    if too_long:  # the row it stood for keeps its number
                        row += 1
                        too_long.clear()
                    bad_lines.clear()
                    continue
                row += 1
                if bad_lines:
                    opt.reject(bad_lines[0])
                    bad_lines.clear()
                    continue
                if len(fields) != len(header):
                    opt.reject(InputError(f"{where(source, row)}: row has {len(fields)} fields, the header has "
                                          f"{len(header)}", kind="ragged_row"))
                    continue
                if id_i is None:
                    rid = f"{f.id_source}:{row}"
                else:
                    rid = opt.record_id(fields[id_i], lambda: where(source, row))
                    if rid is None:
                        continue
                yield row, rid, fields[text_i], tuple(fields[i] for i in meta_i)
        except csv.Error as e:
            if "field larger than field limit" in str(e):
                raise InputError(f"{locate(src.lineno)}: field longer than {opt.max_record_bytes:,} bytes "
                                 "(--max-record-bytes; raise it to read such records)", kind="record_too_long") from None
            raise InputError(f"{locate(src.lineno)}: malformed {f.format.upper()} ({e})", kind="malformed_csv") from None
