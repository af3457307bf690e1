"""Scoring a scan against labelled pairs (``provenance eval``): precision, recall and F1 of the (post,
document) pairs a scan matched, at thresholds of one score column of ``matches.parquet``.

The labelled pairs file (CSV, TSV or JSONL, optionally ``.gz``) has a post id, a document id and a label
per row (columns ``post_id``, ``doc_id``, ``label`` unless named otherwise). A label is ``1``/``0``,
``true``/``false`` or ``yes``/``no`` (any case). The ids are those of the scan: the index's post ids and
the documents' ids (their id field, or ``FILE:ROW`` with FILE the path inside the folder scanned, or the
file's name).

A pair is predicted at threshold ``t`` when one of its match rows has a score of at least ``t`` (the
pair's score is the highest of its rows; a row without a value, e.g. ``jaccard`` in a containment scan,
predicts nothing but at the ``any`` row). Each threshold is scored three times: with the rows that count
(``generic`` false), with the rows that do not (``generic`` true, ``why_not`` says why: how many true pairs
those rules set aside), and with all rows. Labelled positives the scan did not match are misses,
whether or not their post was indexed and their document scanned; matched pairs that are not in the file
are counted as ``unlabelled``, not as errors.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from ..errors import InputError, ParameterError

__all__ = ["Evaluation", "evaluate", "read_pairs", "SCORES"]

SCORES = ("containment", "coverage", "jaccard", "evidence_bits", "span_tokens", "matched_shingles")
"""Score columns of ``matches.parquet`` a threshold can be put on (higher: more likely a copy)."""

ROWS = ("counted", "generic", "all")
_TRUE = frozenset(("1", "true", "yes", "y", "t"))
_FALSE = frozenset(("0", "false", "no", "n", "f"))
DEFAULT_STEPS = 11


@dataclass
class Evaluation:
    """The scores of a scan against labelled pairs: ``table`` has a row per (``rows``, ``threshold``) with
    ``predicted``, ``tp``, ``fp``, ``fn``, ``unlabelled``, ``precision``, ``recall``, ``f1`` (null where
    undefined); ``threshold`` null is the ``any`` row (every matched pair)."""

    score: str
    pairs: int
    positives: int
    negatives: int
    table: pl.DataFrame
    notes: list[str] = field(default_factory=list)

    def best(self, rows: str = "counted") -> dict[str, Any] | None:
        """The threshold row of ``rows`` with the highest F1 (the lowest such threshold), or None."""
        scored = self.table.filter((pl.col("rows") == rows) & pl.col("f1").is_not_null() & pl.col("threshold").is_not_null())
        if scored.height == 0:
            return None
        return scored.sort(["f1", "threshold"], descending=[True, False]).row(0, named=True)

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "pairs": self.pairs, "positives": self.positives, "negatives": self.negatives,
                "best": {r: self.best(r) for r in ROWS}, "notes": self.notes, "table": self.table.to_dicts()}


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: {(e.strerror or str(e)).lower()}", kind="missing_file") from None
    if path.name.lower().endswith(".gz"):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise InputError(f"{path}: not readable gzip ({e})", kind="truncated_stream") from None
    return data


def read_pairs(path: str | Path, post_field: str = "post_id", doc_field: str = "doc_id",
               label_field: str = "label") -> pl.DataFrame:
    """The labelled pairs of a CSV/TSV/JSONL file as ``post_id``, ``doc_id`` (strings) and ``label``
    (boolean), one row per pair. A missing column, an empty id, a label that is not 1/0, true/false
    or yes/no, or a pair labelled both ways is an InputError naming the file (and row)."""
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    data = _read_bytes(path)
    try:
        if name.endswith((".jsonl", ".ndjson", ".json")):
            frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
        elif name.endswith((".csv", ".tsv", ".txt")):
            frame = pl.read_csv(io.BytesIO(data), separator="," if name.endswith(".csv") else "\t",
                                infer_schema=False, quote_char='"')
        else:
            raise InputError(f"{path}: unknown pairs format (use .csv, .tsv or .jsonl, optionally .gz)", kind="wrong_format")
    except pl.exceptions.PolarsError as e:
        raise InputError(f"{path}: cannot read the pairs ({str(e).splitlines()[0]})", kind="wrong_format") from None
    missing = [c for c in (post_field, doc_field, label_field) if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: no column {', '.join(repr(c) for c in missing)} (columns: "
                         f"{', '.join(frame.columns[:20])}; name them with --post-field, --doc-field, --label-field)",
                         kind="wrong_schema")
    frame = frame.select(post_id=pl.col(post_field).cast(pl.String), doc_id=pl.col(doc_field).cast(pl.String),
                         label=pl.col(label_field).cast(pl.String).str.strip_chars().str.to_lowercase())
    frame = frame.with_row_index("row", offset=1)
    empty = frame.filter(pl.col("post_id").is_null() | (pl.col("post_id") == "") | pl.col("doc_id").is_null()
                         | (pl.col("doc_id") == ""))
    if empty.height:
        raise InputError(f"{path}:{empty['row'][0]}: no post id or document id", kind="missing_id")
    label = pl.when(pl.col("label").is_in(list(_TRUE))).then(True).when(pl.col("label").is_in(list(_FALSE))).then(False)
    frame = frame.with_columns(label=label, _given=pl.col("label"))
    bad = frame.filter(pl.col("label").is_null())
    if bad.height:
        raise InputError(f"{path}:{bad['row'][0]}: label {bad['_given'][0]!r} is not 1/0, true/false or yes/no",
                         kind="wrong_schema")
    both = frame.group_by("post_id", "doc_id").agg(pl.col("label").n_unique().alias("n"), pl.col("row").min())
    both = both.filter(pl.col("n") > 1).sort("row")
    if both.height:
        r = both.row(0, named=True)
        raise InputError(f"{path}:{r['row']}: the pair ({r['post_id']!r}, {r['doc_id']!r}) is labelled both ways",
                         kind="wrong_schema")
    return frame.select("post_id", "doc_id", "label").unique(["post_id", "doc_id"], keep="first", maintain_order=True)


def _matches(matches: str | Path | pl.DataFrame, score: str) -> pl.DataFrame:
    if isinstance(matches, pl.DataFrame):
        frame = matches
    else:
        path = Path(matches)
        path = path / "matches.parquet" if path.is_dir() else path
        try:
            frame = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as e:
            raise InputError(f"{path}: cannot read the matches ({str(e).splitlines()[0]})", kind="unreadable") from None
    if score not in SCORES:
        raise ParameterError(f"--score {score!r}: one of {', '.join(SCORES)}")
    missing = [c for c in ("post_id", "doc_id", "generic", score) if c not in frame.columns]
    if missing:
        raise InputError(f"matches: no column {', '.join(missing)} (is it a scan's matches.parquet?)", kind="wrong_schema")
    return frame.select("post_id", "doc_id", "generic", pl.col(score).cast(pl.Float64).alias("score"))


def _thresholds(scores: pl.Series, given: Sequence[float] | None) -> list[float]:
    if given is not None:
        return sorted(set(float(t) for t in given))
    values = scores.drop_nulls()
    if values.len() == 0:
        return []
    lo, hi = float(values.min()), float(values.max())  # type: ignore[arg-type]
    if lo == hi:
        return [lo]
    return sorted({round(lo + (hi - lo) * i / (DEFAULT_STEPS - 1), 6) for i in range(DEFAULT_STEPS)})


def evaluate(matches: str | Path | pl.DataFrame, pairs: str | Path | pl.DataFrame, *, score: str = "containment",
             thresholds: Sequence[float] | None = None, post_field: str = "post_id", doc_field: str = "doc_id",
             label_field: str = "label") -> Evaluation:
    """Score a scan (its output directory, its ``matches.parquet``, or the frame) against labelled pairs
    (a file, see :func:`read_pairs`, or a frame of ``post_id``, ``doc_id``, ``label``) at ``thresholds`` of
    the column ``score`` (default: 11 steps from its lowest to its highest value among the matches)."""
    rows = _matches(matches, score)
    truth = pairs if isinstance(pairs, pl.DataFrame) else read_pairs(pairs, post_field, doc_field, label_field)
    truth = truth.select(pl.col("post_id").cast(pl.String), pl.col("doc_id").cast(pl.String), pl.col("label").cast(pl.Boolean))
    positives = int(truth["label"].sum())
    cuts = _thresholds(rows["score"], thresholds)
    frames = []
    for kind in ROWS:
        part = rows if kind == "all" else rows.filter(pl.col("generic") == (kind == "generic"))
        per_pair = part.group_by("post_id", "doc_id").agg(pl.col("score").max())
        joined = per_pair.join(truth, on=["post_id", "doc_id"], how="left")
        for t in [None, *cuts]:
            hit = joined if t is None else joined.filter(pl.col("score") >= t)
            tp = int((hit["label"] == True).sum())  # noqa: E712 (a null label: unlabelled)
            fp = int((hit["label"] == False).sum())  # noqa: E712
            frames.append({"rows": kind, "threshold": t, "predicted": hit.height, "tp": tp, "fp": fp,
                           "fn": positives - tp, "unlabelled": int(hit["label"].is_null().sum())})
    table = pl.DataFrame(frames, schema={"rows": pl.String, "threshold": pl.Float64, "predicted": pl.Int64,
                                         "tp": pl.Int64, "fp": pl.Int64, "fn": pl.Int64, "unlabelled": pl.Int64})
    precision = pl.when(pl.col("tp") + pl.col("fp") > 0).then(pl.col("tp") / (pl.col("tp") + pl.col("fp")))
    recall = pl.when(pl.lit(positives) > 0).then(pl.col("tp") / pl.lit(positives))
    table = table.with_columns(precision=precision, recall=recall)
    f1 = pl.when(pl.col("precision") + pl.col("recall") > 0).then(
        2 * pl.col("precision") * pl.col("recall") / (pl.col("precision") + pl.col("recall")))
    table = table.with_columns(f1=f1)
    return Evaluation(score, truth.height, positives, truth.height - positives, table, _notes(rows, truth, score))


def _notes(rows: pl.DataFrame, truth: pl.DataFrame, score: str) -> list[str]:
    """What makes the numbers suspect: ids of the two sides that never meet, a score without values."""
    notes = []
    if rows.height and rows["score"].null_count() == rows.height:
        notes.append(f"no match row has a {score} value (a containment scan has no jaccard, a jaccard scan no "
                     "coverage): every threshold predicts nothing")
    for side, what in (("post_id", "post"), ("doc_id", "document")):
        if rows.height and truth.height and not truth[side].is_in(rows[side].implode()).any():
            notes.append(f"none of the labelled pairs' {what} ids is among the matches' (the pairs file has e.g. "
                         f"{truth[side][0]!r}, the matches {rows[side][0]!r}): are they the same ids?")
    return notes
