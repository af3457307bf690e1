"""The scan of one batch of documents, as a value (:class:`Scanner`): the text stage (normalize,
tokenize, hash), each shard's matcher (:class:`~provenance.match.matcher.PostMatcher`, here or on
the Dask workers that hold the shards: :class:`LocalShards`, :mod:`provenance.scanner.dask`), then
what depends on all the posts of a document: short posts inside another post's copy, character
offsets, evidence strength and the tallies."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from typing import Any, Protocol

import numpy as np
import xxhash

from ..arrays import expand_ranges
from ..match.tally import Tally
from ..index import Index, ShardedIndex, shards_of
from ..text.background import default_background, plain_hasher, span_bits
from ..match.matcher import PostMatcher
from ..match.shared import SHARED_SPAN_TOKENS, is_shared_phrase, shared_posts_of, span_texts_of
from ..params import ScanParams, doc_meta_names
from ..io import Batch
from ..io.dates import NO_DATE, parse_days
from ..text.shingles import ShingleBatch, batch_shingles
from ..text.offsets import starts_unit, token_spans_many
from ..match.verify import TRUNCATION_AFTER, Found
from ..index.routes import RoutePart
from .routed import Probed, RouteLayout, found_whole, probe_part, routed_find, verify_in_shard

__all__ = ["CONTEXT_CHARS", "MAX_DOC_TEXT", "LocalShards", "Scanner", "Shards", "scan_counted", "stage_timings"]

MAX_DOC_TEXT = 4000
"""Characters of a match's span kept in ``matches.parquet`` (``doc_text``)."""
CONTEXT_CHARS = 200
"""Characters of the document kept before and after a span (``context_before``, ``context_after``)."""



class Shards(Protocol):
    """Where a scan's posts are matched: every shard in this process (:class:`LocalShards`), or on the
    Dask workers that hold them (:class:`provenance.scanner.dask.RemoteShards`)."""

    def find(self, sb: ShingleBatch, params: ScanParams, tally: Tally) -> list[list[Found]]:
        """Each shard's finds in the batch (posts numbered as in the whole index); adds its candidate
        counts to ``tally``."""

    def shared(self, hashes: np.ndarray, offsets: np.ndarray, posts: np.ndarray) -> np.ndarray:
        """:func:`provenance.match.shared.shared_posts_of` over all the shards."""

    def texts(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """:func:`provenance.match.shared.span_texts_of` over all the shards."""


class LocalShards:
    """Every shard of the index matched in this process. A sharded index with routes is probed by key
    (:mod:`provenance.scanner.routed`: each document shingle once, in one part, whatever the number of
    shards) unless ``routed`` is False or ``PROVENANCE_PROBES=broadcast`` (every shard probes every
    shingle: the same finds, for measuring the difference)."""

    def __init__(self, index: "Index | ShardedIndex", routed: bool | None = None) -> None:
        self.parts = shards_of(index)
        self.matchers = [PostMatcher(shard, first) for shard, first in self.parts]
        routes = getattr(index, "routes", None)
        if routed is None:
            routed = os.environ.get("PROVENANCE_PROBES") != "broadcast"
        self.routes, self.shape = None, None
        if routed and routes is not None:
            self.routes = routes
            self.shape = RouteLayout.of(routes, index.refs, index.routed_shards, index.token_hasher(),
                                        index.params.short_tokens)
        self._route_parts: dict[int, RoutePart] = {}

    def find(self, sb: ShingleBatch, params: ScanParams, tally: Tally) -> list[list[Found]]:
        if self.shape is not None and params.mode == "containment":
            return routed_find(self.shape, self, sb, params, tally)
        return [m.find(sb, params, tally) for m in self.matchers]

    # -- the two rounds of a routed batch, here

    def _part(self, r: int) -> RoutePart:
        if r not in self._route_parts:
            self._route_parts[r] = RoutePart(self.routes, r)
        return self._route_parts[r]

    def probe(self, asked: list[tuple[int, np.ndarray]]) -> list[Probed]:
        return [probe_part(self._part(r), hashes) for r, hashes in asked]

    def second(self, sb: ShingleBatch, params: ScanParams, asked: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
               rest: list[int]) -> dict[int, Any]:
        out: dict[int, Any] = {s: (self._part(s).short(keys) if len(keys) else None,
                                   verify_in_shard(self.matchers[s], sb, params, docs, posts))
                               for s, keys, docs, posts in asked}
        out.update({s: (None, found_whole(self.matchers[s], sb, params)) for s in rest})
        return out

    def shared(self, hashes: np.ndarray, offsets: np.ndarray, posts: np.ndarray) -> np.ndarray:
        return shared_posts_of(self.parts, hashes, offsets, posts)

    def texts(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        return span_texts_of(self.parts, hashes, offsets)


def stage_timings() -> dict[str, float]:
    """Seconds per scan stage, all zero (``summary.json`` ``seconds``, ``total`` added at the end)."""
    return dict.fromkeys(("read", "shingle", "match", "locate"), 0.0)


class Scanner:
    """Scans batches of documents against an index: the text stage, each shard's matcher
    (:class:`~provenance.match.matcher.PostMatcher`), then what depends on all posts of a document
    (short posts inside another post's copy, character offsets, evidence strength, the tallies)."""

    def __init__(self, index: "Index | ShardedIndex", params: ScanParams, prefilter: bool = True,
                 shards: Shards | None = None) -> None:
        if params.mode == "jaccard" and shards is None:
            index.require_sketches()
        self.index, self.params = index, params
        self.prefilter = prefilter  # the vectorized text stage (provenance.text.vectorized); False: the reference
        self.hasher = index.token_hasher()
        self.background, self.background_hasher = default_background(), plain_hasher()
        self.plain_tokens = index.key is None and index.params.seed == self.background_hasher.seed
        self.shards: Shards = shards if shards is not None else LocalShards(index)
        self.timings = stage_timings()
        self.tally = Tally()

    # -- one batch ------------------------------------------------------------------------------

    def scan_batch(self, batch: Batch) -> list[dict[str, Any]]:
        """Match one batch of documents; returns one dict per verified match (see ``MATCH_SCHEMA``)."""
        t0 = time.perf_counter()
        sb = batch_shingles(batch.texts, self.index.params.ngram, self.hasher, lines=self.params.mode == "containment",
                            vectorized=self.prefilter)
        t1 = time.perf_counter()
        self.tally.tokens_scanned += len(sb.token_hashes)
        found = self.shards.find(sb, self.params, self.tally)
        found = _explained_runs_dropped(_shared_texts_summed(found))
        t2 = time.perf_counter()
        rows = self._locate(batch, found, sb)
        t3 = time.perf_counter()
        self.timings["shingle"] += t1 - t0
        self.timings["match"] += t2 - t1
        self.timings["locate"] += t3 - t2
        return rows

    def _doc_days(self, batch: Batch) -> np.ndarray | None:
        """The batch's documents' dates (days since 1970) from ``doc_date_field``; None without one."""
        values = batch.meta.get(self.params.doc_date_field) if self.params.doc_date_field else None
        return parse_days(values, batch.source, batch.rows) if values is not None else None

    def _doc_meta(self, batch: Batch, d: int) -> str | None:
        """Document ``d``'s ``--doc-meta-field`` values as a JSON object (``doc_meta``); None without any
        (made for matched documents only)."""
        names = doc_meta_names(self.params)
        if not names:
            return None
        return json.dumps({n: batch.meta[n][d] if n in batch.meta else None for n in names}, ensure_ascii=False)

    def _locate(self, batch: Batch, found: list[Found], sb: ShingleBatch) -> list[dict[str, Any]]:
        """Turn token positions into character offsets of the original text; settle truncation cases."""
        n_tokens = sb.n_tokens
        days = self._doc_days(batch)  # (every batch: a bad date is an error whether or not it matched)
        by_doc: dict[int, list[Found]] = {}
        for f in found:
            by_doc.setdefault(f.doc, []).append(f)
        rows: list[dict[str, Any]] = []
        for d in list(by_doc):
            text = batch.texts[d]
            if "…" not in text and "..." not in text:  # no cut-off copy can be confirmed here
                by_doc[d] = [f.fallback if f.method == "containment_prefix" else f for f in by_doc[d]]
                by_doc[d] = [f for f in by_doc[d] if f is not None]
                if not by_doc[d]:
                    del by_doc[d]
        docs = sorted(by_doc)
        spans = token_spans_many([batch.texts[d] for d in docs])
        for d, (tok_starts, tok_ends) in zip(docs, spans):
            text = batch.texts[d]
            if len(tok_starts) != n_tokens[d]:
                raise RuntimeError(f"{batch.source}:{batch.rows[d]}: tokenizer mismatch "
                                   f"({len(tok_starts)} != {n_tokens[d]}); please report this document")
            for f in by_doc[d]:
                start, end = int(tok_starts[f.first]), int(tok_ends[f.last])
                if f.method == "containment_prefix" and not TRUNCATION_AFTER.match(text, end, min(len(text), end + 40)):
                    # The copy is not cut off here: the prefix measures do not apply.
                    if f.fallback is None:
                        continue
                    f = f.fallback
                    start, end = int(tok_starts[f.first]), int(tok_ends[f.last])
                rows.append({
                    "doc_id": batch.ids[d], "post_id": None, "source": batch.source,
                    "doc_date": None if days is None or days[d] == NO_DATE else int(days[d]),
                    "doc_meta": self._doc_meta(batch, d),
                    "row": batch.rows[d], "containment": f.containment, "coverage": f.coverage, "jaccard": f.jaccard,
                    "doc_start": start, "doc_end": end,
                    "doc_text": text[start : min(end, start + MAX_DOC_TEXT)],
                    "doc_chars": len(text),
                    "method": f.method,
                    "placement": "unit" if starts_unit(text, start) else "inline",
                    "span_tokens": f.last - f.first + 1, "matched_shingles": f.matched, "post_shingles": f.distinct,
                    "evidence_bits": 0.0, "shared_posts": f.shared, "span_texts": None, "generic": False,
                    "_post": f.post, "_doc": d, "_first": f.first,
                })
        self._weigh(rows, sb)
        for r in rows:  # the words around the span, for a reader: only where the match may count
            text = batch.texts[r["_doc"]]
            keep = not r["generic"]
            r["context_before"] = text[max(0, r["doc_start"] - CONTEXT_CHARS) : r["doc_start"]] if keep else None
            r["context_after"] = text[r["doc_end"] : r["doc_end"] + CONTEXT_CHARS] if keep else None
        for r in rows:  # (what matched is counted once the whole scan is judged: results.significance.recount)
            del r["_doc"]
        return rows

    def _weigh(self, rows: list[dict[str, Any]], sb: ShingleBatch) -> None:
        """Each match's evidence strength: the bits of its span (:mod:`provenance.text.background`)
        and the posts that share it (:mod:`provenance.match.shared`); ``generic`` below
        ``min_evidence_bits``, or a short span more than ``max_shared_posts`` posts share. Both are read
        off the batch's own token and shingle hashes (shingle ``i`` of a text starts at its token ``i``)."""
        if not rows:
            return
        p, n = self.params, self.index.params.ngram
        doc = np.array([r["_doc"] for r in rows], dtype=np.int64)
        first = np.array([r["_first"] for r in rows], dtype=np.int64)
        length = np.array([r["span_tokens"] for r in rows], dtype=np.int64)
        if self.plain_tokens:  # the index hashes tokens as the background model does
            bits = self.background.bits_of_runs(sb.token_hashes, sb.token_offsets[doc] + first, length, sb.nospace)
        else:
            bits = span_bits(self.background, [r["doc_text"] for r in rows], self.background_hasher)
        short = np.flatnonzero(length < SHARED_SPAN_TOKENS)
        if len(short):
            grams = np.maximum(length[short] - n + 1, 0)
            lo = sb.offsets[doc[short]] + first[short]
            posts = [-1 if rows[i]["method"] == "exact_short" else rows[i]["_post"] for i in short.tolist()]
            counts = self.shards.shared(sb.hashes[expand_ranges(lo, grams)], np.r_[0, np.cumsum(grams)],
                                     np.array(posts, dtype=np.int64))
            for i, c in zip(short.tolist(), counts.tolist()):
                rows[i]["shared_posts"] = max(c, rows[i]["shared_posts"] or 0)
        for r in rows:
            if r["span_tokens"] >= SHARED_SPAN_TOKENS:
                r["shared_posts"] = None
            del r["_first"]
        shared = is_shared_phrase(np.array([r["shared_posts"] or 0 for r in rows], dtype=np.int64), length,
                                  p.max_shared_posts)
        generic = (bits < p.min_evidence_bits) | shared
        for r, b, g in zip(rows, bits.tolist(), generic.tolist()):
            r["evidence_bits"] = round(b, 3)
            r["generic"] = g
        # The different post texts that hold the whole span (commonness in the archive), for the spans
        # of a shingle or more that may still count
        whole = np.flatnonzero(~generic & (length >= n) & np.array([r["method"] != "exact_short" for r in rows]))
        if len(whole):
            grams = length[whole] - n + 1
            lo = sb.offsets[doc[whole]] + first[whole]
            texts = self.shards.texts(sb.hashes[expand_ranges(lo, grams)], np.r_[0, np.cumsum(grams)])
            for i, c in zip(whole.tolist(), texts.tolist()):
                rows[i]["span_texts"] = c


def _shared_texts_summed(found: list[list[Found]]) -> list[Found]:
    """The shards' finds as one list. A short post matched whole counts the posts of the same text
    (``shared``) in its own shard; over several shards, each such match gets the sum (the posts of
    one text are found together, at the same span, in every shard that holds one of them)."""
    if len(found) == 1:
        return found[0]
    per_span: dict[tuple[int, int, int], dict[int, int]] = {}
    for s, shard_found in enumerate(found):
        for f in shard_found:
            if f.method == "exact_short":
                per_span.setdefault((f.doc, f.first, f.last), {})[s] = f.shared or 0
    return [replace(f, shared=sum(per_span[(f.doc, f.first, f.last)].values())) if f.method == "exact_short" else f
            for shard_found in found for f in shard_found]


def _explained_runs_dropped(found: list[Found]) -> list[Found]:
    """``found`` without the short posts found inside a sentence where another post's match covers
    them: the document's words are that post's copy, not separate evidence of the short post."""
    inline = [f for f in found if f.inline]
    if not inline:
        return found
    spans: dict[int, list[tuple[int, int, int]]] = {}
    for f in found:
        if not f.inline:
            spans.setdefault(f.doc, []).append((f.first, f.last, f.post))
    return [f for f in found if not f.inline
            or not any(a <= f.last and f.first <= b and q != f.post for a, b, q in spans.get(f.doc, ()))]


def _sampled(batch: Batch, params: ScanParams) -> Batch:
    """The documents of ``batch`` in the sample: each document is in it when a hash of the sample
    seed, its file and its row falls below ``sample`` (so every file is sampled at that rate, and the
    same seed picks the same documents whatever the batch, worker or unit)."""
    limit = int(params.sample * 2**64)
    return batch.subset([i for i, row in enumerate(batch.rows)
                         if xxhash.xxh64_intdigest(f"{batch.source}\0{row}".encode(), seed=params.sample_seed) < limit])


def _sum_of_squares(x: np.ndarray) -> int:
    """``sum(v * v for v in x)`` as a Python int, in int64 when it cannot overflow."""
    if not len(x):
        return 0
    top = int(x.max())
    if top * top * len(x) < 2**63:
        return int(np.dot(x, x))
    return sum(v * v for v in x.tolist())


def scan_counted(scanner: Scanner, batch: Batch) -> tuple[list[dict[str, Any]], Tally, dict[str, float]]:
    """Scan one batch with fresh counters: its match rows, its tally and its stage timings."""
    scanner.tally, scanner.timings = Tally(), stage_timings()
    t = scanner.tally
    t.docs_total, t.chars_total = len(batch.texts), sum(map(len, batch.texts))
    if scanner.params.sample < 1.0:
        batch = _sampled(batch, scanner.params)
    lengths = np.fromiter(map(len, batch.texts), dtype=np.int64, count=len(batch.texts))
    t.docs_scanned, t.corpus_chars, t.chars_sq = len(lengths), int(lengths.sum()), _sum_of_squares(lengths)
    rows = scanner.scan_batch(batch)
    return rows, scanner.tally, scanner.timings


