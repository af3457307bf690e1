"""A scan's match rows judged over the whole scan (:mod:`provenance.results.significance`) without
holding them: read back from where the scan put them (each unit's checkpoint file, or a frame), a
group of whole documents at a time, and handed on in the order of ``matches.parquet``.

Of what :func:`~provenance.results.significance.judge` needs, only ``span_docs`` (the documents of the
scan in which a post was found) spans documents: a first pass counts it on three narrow columns
(``source``, ``row``, ``_post``) and looks up the ids of the posts found. The rest is a row's own (its
E-value, its ``span_texts`` set when it was scanned, its post's facts), so the second pass judges each
group of whole documents by itself, counts what matched (over the scan and per input:
:class:`~provenance.results.significance.Counted`), adds up the figures of ``summary.json``
(:class:`~provenance.results.summary.MatchFigures`), fills in the post ids and sorts the group. The
rows of one unit are in document order and every document is in one unit, so the units taken by
``source`` (in their order for the parts of one file), each sorted group after the one before, are
the rows of the whole scan sorted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
import polars as pl

from .outputs import MATCH_SCHEMA, ROW_SCHEMA, SORT_KEYS
from .significance import Counted, judge, with_post_facts
from .summary import MatchFigures

if TYPE_CHECKING:
    from ..index import Index, ShardedIndex
    from ..params import ScanParams

__all__ = ["GROUP_ROWS", "ROWS", "Judgement", "doc_groups"]

ROWS: dict[str, pl.DataType] = {**ROW_SCHEMA, "_post": pl.Int64}
"""The columns of a match row as scanned (and checkpointed): the post's row number in ``_post``."""

GROUP_ROWS = 16384
"""Rows read and judged at a time (more when one document has more)."""


def _chunks(part: Path | pl.DataFrame, columns: Sequence[str] | None) -> Iterator[pl.DataFrame]:
    if isinstance(part, pl.DataFrame):
        yield part.select(columns) if columns else part
        return
    names = list(columns or ROWS)
    rows = pl.scan_parquet(part).select(pl.len()).collect().item()
    for start in range(0, rows, GROUP_ROWS):
        yield pl.scan_parquet(part).slice(start, GROUP_ROWS).select(names).collect().cast({k: ROWS[k] for k in names})


def doc_groups(parts: Sequence[Path | pl.DataFrame], columns: Sequence[str] | None = None) -> Iterator[pl.DataFrame]:
    """The rows of ``parts``, one after the other, in groups of about :data:`GROUP_ROWS` that hold every
    row of each of their documents (``columns``: only these, which must hold ``source`` and ``row``)."""
    held: list[pl.DataFrame] = []
    rows = 0
    for part in parts:
        for chunk in _chunks(part, columns):
            if not chunk.height:
                continue
            held.append(chunk)
            rows += chunk.height
            if rows < GROUP_ROWS:
                continue
            group = pl.concat(held)
            last = (group["source"] == group["source"][-1]) & (group["row"] == group["row"][-1])
            cut = group.height - int(last.sum())  # (a document's rows are together: the last one may go on)
            if cut:
                yield group.head(cut)
            held, rows = [group.tail(group.height - cut)], group.height - cut
    if rows:
        yield pl.concat(held)


def _first_source(part: Path | pl.DataFrame) -> str | None:
    if isinstance(part, pl.DataFrame):
        return part["source"][0] if part.height else None
    import pyarrow.parquet as pq

    with pq.ParquetFile(part) as f:
        if not f.metadata.num_rows:
            return None
        return next(f.iter_batches(batch_size=1, columns=["source"])).column(0)[0].as_py()


class Judgement:
    """The judged rows of a scan (``parts``: its units' rows, in unit order), streamed by :meth:`groups`;
    once they have all passed, what matched (:attr:`counted`, :attr:`by_source`) and the figures of
    ``summary.json`` (:attr:`figures`)."""

    def __init__(self, index: "Index | ShardedIndex", params: "ScanParams", words_scanned: int,
                 parts: Sequence[Path | pl.DataFrame]) -> None:
        self.index, self.params, self.words = index, params, words_scanned
        first = [(_first_source(p), i) for i, p in enumerate(parts)]
        # matches.parquet's order: by source (Python orders str as polars orders UTF-8), a file's parts in turn
        self.parts = [parts[i] for s, i in sorted((s, i) for s, i in first if s is not None)]
        self.counted = Counted()
        self.by_source: dict[str, Counted] = {}
        self.figures = MatchFigures()
        self._posts: tuple[np.ndarray, np.ndarray, pl.Series] | None = None

    def _per_post(self, posts: np.ndarray) -> tuple[np.ndarray, pl.Series]:
        """Of each post in ``posts``: the documents of the scan it was found in, and its id. A first pass
        counts the documents on three columns (a document is in one group only, so its (document, post)
        pairs are counted once) and looks up the ids of the posts found, all at once."""
        if self._posts is None:
            pieces: list[pl.DataFrame] = []
            for group in doc_groups(self.parts, ["source", "row", "_post"]):
                pieces.append(group.unique().group_by("_post").len())
                if len(pieces) > 64:
                    pieces = [pl.concat(pieces).group_by("_post").agg(pl.col("len").sum())]
            per_post = (pl.concat(pieces).group_by("_post").agg(pl.col("len").sum()).sort("_post") if pieces
                        else pl.DataFrame(schema={"_post": pl.Int64, "len": pl.UInt32}))
            known = per_post["_post"].to_numpy()
            self._posts = known, per_post["len"].to_numpy().astype(np.int64), self.index.post_ids(known)
        known, counts, ids = self._posts
        at = np.searchsorted(known, posts)
        return counts[at], ids.gather(at)

    def groups(self) -> Iterator[pl.DataFrame]:
        """The judged rows (:data:`~provenance.results.outputs.MATCH_SCHEMA`, post ids filled in), in
        sorted groups of whole documents, one group after the other in the order of ``matches.parquet``."""
        self.counted, self.by_source, self.figures = Counted(), {}, MatchFigures()
        index, params = self.index, self.params
        for group in doc_groups(self.parts):
            group = with_post_facts(group, index.post_flags, index.post_date, params.corpus_date)
            span_docs, post_ids = self._per_post(group["_post"].to_numpy())
            group = judge(group, params, index.n_posts, self.words, span_docs=span_docs)
            counted = group.filter(~pl.col("generic"))
            self.counted.add(counted)
            for (source,), rows in counted.partition_by("source", as_dict=True).items():
                self.by_source.setdefault(source, Counted()).add(rows)
            self.figures.add(group, post="_post")  # (post numbers tell posts apart as their ids do)
            group = group.with_columns(post_id=post_ids).drop("_post")
            group = group.sort(SORT_KEYS).select(list(MATCH_SCHEMA))
            yield group

    def frame(self) -> pl.DataFrame:
        """Every judged row in one frame (for a scan without an output directory)."""
        groups = list(self.groups())
        return pl.concat(groups) if groups else pl.DataFrame(schema=MATCH_SCHEMA)

    def lazy(self) -> pl.LazyFrame:
        """The judged rows as a lazy frame whose source is :meth:`groups` (to be sunk into a file once)."""
        from polars.io.plugins import register_io_source

        def source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
                   batch_size: int | None) -> Iterator[pl.DataFrame]:
            for group in self.groups():
                yield group.select(with_columns) if with_columns is not None else group

        return register_io_source(source, schema=MATCH_SCHEMA)
