"""Dates of posts and documents, read from a field of their records (:func:`parse_days`).

A date is kept as whole days since 1970-01-01 in UTC (``int32``; :data:`NO_DATE` when a record has
none): what the scan compares is whether a post is of a *later day* than a document
(:mod:`provenance.results.significance`), so the time of day is not needed, and a crawl's date
(``--corpus-date 2024-05-01``), which has none, compares with the others as it is.

The forms read (all of one column at once, with polars string operations):

* a number: seconds since 1970-01-01 UTC, as Reddit's ``created_utc`` (``1345107919.0``); a number
  of 12 digits or more before any decimal point is taken as milliseconds;
* ``YYYY-MM-DD``, optionally followed by a time (``T`` or a space, then ``HH:MM`` or ``HH:MM:SS``
  with any fraction of a second) and a zone (``Z``, ``+HH:MM``, ``+HHMM``, ``-0800`` after a space,
  as in the airline tweets' ``2015-02-24 11:35:52 -0800``); no zone is UTC;
* Twitter's ``Wed Feb 25 14:22:50 +0000 2015``.

An empty value (or a missing field) is no date. Any other value is an error naming the file and the
record: a date read wrong would silently count or drop matches.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl
from numpy.typing import NDArray

from ..errors import InputError

__all__ = ["NO_DATE", "parse_days", "parse_day"]

NO_DATE = np.iinfo(np.int32).min
"""The stored day of a post (or document) without a date."""

_ISO = (r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?"
        r"\s*(Z|[+-]\d{2}:?\d{2})?$")
_TWITTER = r"^[A-Za-z]{3} ([A-Za-z]{3}) (\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-]\d{4}) (\d{4})$"
_MONTHS = {m: i + 1 for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                            "Dec"))}


def _zone_seconds(zone: pl.Expr) -> pl.Expr:
    """Seconds east of UTC of a zone written ``Z``, ``+HH:MM`` or ``+HHMM`` (0 when absent)."""
    digits = zone.str.replace(":", "", literal=True)
    sign = pl.when(digits.str.starts_with("-")).then(-1).otherwise(1)
    hours = digits.str.slice(1, 2).cast(pl.Int64, strict=False)
    minutes = digits.str.slice(3, 2).cast(pl.Int64, strict=False)
    return (sign * (hours * 3600 + minutes * 60)).fill_null(0)


def parse_days(values: Sequence[str | None], where: str = "", rows: Sequence[int] | None = None) -> NDArray[np.int32]:
    """Days since 1970-01-01 (UTC) of each value (see the module docstring); :data:`NO_DATE` for an
    empty one. A value of no known form is an :class:`InputError` naming ``where`` (a file) and its
    row (``rows[i]``, else its position)."""
    s = pl.Series("v", list(values), dtype=pl.String).str.strip_chars()
    frame = pl.DataFrame({"v": s})
    number = pl.col("v").cast(pl.Float64, strict=False)
    integer_digits = pl.col("v").str.extract(r"^\s*[+-]?(\d+)", 1).str.len_chars()
    seconds_of_number = pl.when(integer_digits >= 12).then(number / 1000.0).otherwise(number)
    iso = pl.col("v").str.extract_groups(_ISO)
    tw = pl.col("v").str.extract_groups(_TWITTER)
    month = tw.struct.field("1").replace_strict(_MONTHS, default=None, return_dtype=pl.Int64)

    def day_seconds(y: pl.Expr, m: pl.Expr, d: pl.Expr, hh: pl.Expr, mm: pl.Expr, ss: pl.Expr, zone: pl.Expr) -> pl.Expr:
        text = pl.concat_str([y.cast(pl.String), m.cast(pl.String).str.zfill(2), d.cast(pl.String).str.zfill(2)],
                             separator="-")
        day = text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Int64)
        clock = (hh.cast(pl.Int64, strict=False).fill_null(0) * 3600 + mm.cast(pl.Int64, strict=False).fill_null(0) * 60
                 + ss.cast(pl.Int64, strict=False).fill_null(0))
        ok = (hh.cast(pl.Int64, strict=False).fill_null(0) < 24) & (mm.cast(pl.Int64, strict=False).fill_null(0) < 60) \
            & (ss.cast(pl.Int64, strict=False).fill_null(0) <= 60)
        return pl.when(ok).then(day * 86400 + clock - _zone_seconds(zone))

    f = iso.struct.field
    g = tw.struct.field
    seconds = pl.coalesce(
        pl.when(number.is_not_null() & number.is_finite()).then(seconds_of_number),
        day_seconds(f("1"), f("2"), f("3"), f("4"), f("5"), f("6"), f("7")).cast(pl.Float64),
        day_seconds(g("7"), month, g("2"), g("3"), g("4"), g("5"), g("6")).cast(pl.Float64),
    )
    out = frame.select(empty=pl.col("v").is_null() | (pl.col("v") == ""),
                       days=(seconds / 86400.0).floor())
    empty = out["empty"].to_numpy()
    days = out["days"].to_numpy()
    bad = ~empty & ~(np.isfinite(days) & (np.abs(days) < 2**31 - 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = rows[i] if rows is not None else i + 1
        raise InputError(f"{where}:{row}: not a date: {values[i]!r} (use seconds since 1970, YYYY-MM-DD with an "
                         "optional time and zone, or Twitter's 'Wed Feb 25 14:22:50 +0000 2015')")
    return np.where(empty, NO_DATE, np.nan_to_num(days)).astype(np.int32)


def parse_day(value: str, what: str) -> int:
    """One date (as :func:`parse_days` reads them) as days since 1970; ``what`` names it in the error."""
    try:
        day = int(parse_days([value])[0])
    except InputError:
        day = NO_DATE
    if day == NO_DATE:
        from ..errors import ParameterError

        raise ParameterError(f"{what} must be a date such as 2024-05-01, got {value!r}")
    return day
