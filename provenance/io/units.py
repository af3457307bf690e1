"""Cutting large files into parts scanned (and checkpointed) as units of their own: :func:`split_units`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import polars as pl

from provenance.errors import InputError, ParameterError

from . import sources
from .batch import InputFile, Part
from .sources import path_size
from .streams import BOM
from .urls import URL

SPLITTABLE = ("jsonl", "lines", "parquet")


def split_units(files: Sequence[InputFile], unit_bytes: int, id_field: str | None = "id") -> list[InputFile]:
    """Cut local files larger than ``unit_bytes`` into parts of about that size: uncompressed JSONL
    and lines files at line starts, parquet files by rows. Other files (compressed, CSV, text,
    URLs) stay whole. Reading the parts one after the other gives the records, row numbers and ids
    of the whole file; cutting a line file costs one pass counting its newlines."""
    if unit_bytes < 1:
        raise ParameterError(f"unit size (--unit-size) must be positive, got {unit_bytes}")
    out: list[InputFile] = []
    for f in files:
        size = path_size(f.path)
        if (isinstance(f.path, URL) or f.part is not None or f.compression is not None or f.format not in SPLITTABLE
                or size <= unit_bytes):
            out.append(f)
        else:
            try:
                out.extend(_parquet_parts(f, size, unit_bytes) if f.format == "parquet"
                           else _line_parts(f, size, unit_bytes, id_field))
            except InputError:  # a damaged file stays whole: reading it reports (or skips) the damage
                out.append(f)
    return out


def _line_parts(f: InputFile, size: int, unit_bytes: int, id_field: str | None) -> list[InputFile]:
    assert isinstance(f.path, Path)
    cuts = [0]
    with sources.open_raw(f.path) as raw:
        for target in range(unit_bytes, size, unit_bytes):
            if target <= cuts[-1]:
                continue
            raw.seek(target - 1)  # the next line start at or after target
            at = target - 1
            while True:
                chunk = raw.read(1 << 16)
                if not chunk:
                    at = size
                    break
                nl = chunk.find(b"\n")
                if nl >= 0:
                    at += nl + 1
                    break
                at += len(chunk)
            if at >= size:
                break
            cuts.append(at)
        cuts.append(size)
        lines = [0]  # lines before each cut, by one pass counting newlines
        raw.seek(0)
        done, count = 0, 0
        for cut in cuts[1:-1]:
            while done < cut:
                chunk = raw.read(min(1 << 24, cut - done))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                done += len(chunk)
            lines.append(count)
    ids = None
    if f.format == "jsonl" and id_field is not None:
        ids = _first_record_has(f, id_field)
    return [replace(f, part=Part(a, b, b - a, n, ids)) for a, b, n in zip(cuts, cuts[1:], lines)]


def _first_record_has(f: InputFile, field_name: str) -> bool | None:
    """Whether the first record of JSONL file ``f`` has ``field_name`` (None if it cannot be told:
    the part holding the first record then decides, as for the whole file)."""
    assert isinstance(f.path, Path) and f.compression is None  # (only such files are cut)
    with open(f.path, "rb") as raw:  # not Source: that would read (and hash) the whole file
        for lineno, line in enumerate(raw, 1):
            if lineno == 1:
                line = line.removeprefix(BOM)
            if line.strip():
                try:
                    rec = json.loads(line.decode("utf-8"))
                except (ValueError, UnicodeDecodeError, RecursionError):
                    return None
                return field_name in rec if isinstance(rec, dict) else None
    return None


def _parquet_parts(f: InputFile, size: int, unit_bytes: int) -> list[InputFile]:
    try:
        total = pl.scan_parquet(f.path).select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(f"{f.path}: not a readable parquet file ({str(e).splitlines()[0]})", kind="not_parquet") from None
    step = max(1, -(-total * unit_bytes // size))
    return [replace(f, part=Part(a, min(a + step, total), size * (min(a + step, total) - a) // max(total, 1)))
            for a in range(0, total, step)] or [f]
