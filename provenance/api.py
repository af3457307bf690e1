"""The Python API: build an index, open it, scan corpora. Functions return results and never print.

Example::

    from provenance import api
    index = api.build_index(["posts.csv"], "idx", id_field="tweet_id", meta_fields=["name"])
    result = api.scan("idx", ["corpus/"], "out")
    print(result.summary["posts_matched"], result.matches.head())
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import xxhash
import polars as pl

from . import __version__
from .arrays import expand_ranges
from .errors import IndexFormatError, InputError, ParameterError, Skipped, skipping
from .checkpoint import Checkpoint
from .evidence import repin_results, unit_record, write_evidence
from .estimate import Tally, covered_chars, estimates, share_estimates
from .index import SHORT, Index, ShardedIndex, build_index as _build, open_index, shards_of
from .keys import Key
from .match.matcher import PostMatcher
from .match.shared import SHARED_SPAN_TOKENS, is_shared_phrase, shared_posts_of
from .match.background import default_background, plain_hasher, span_bits
from .normalize import replace_surrogates
from .params import IndexParams, ScanParams
from .read import Batch, InputFile, expand_inputs, file_size, iter_batches, split_units
from .report import MATCH_SCHEMA, split_generic, write_outputs
from .shingle import ShingleBatch, batch_shingles
from .text.offsets import token_spans_many
from .verify import TRUNCATION_AFTER, Found

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

__all__ = ["build_index", "open_index", "scan", "scan_texts", "ScanResult", "Progress"]

MAX_DOC_TEXT = 4000
"""Characters of a match's span kept in ``matches.parquet`` (``doc_text``)."""

FAN_OUT_ROWS = 1_000_000
"""A batch whose key hits expand to more (document, post, occurrence) rows than this is halved
(candidate pairs, their hits and their verification need a few hundred bytes per row at peak)."""

BUILD_BATCH = 8192
"""Posts per batch of an index build (or 8 MiB of text): the text stage has a fixed cost per batch
of a few milliseconds, and posts are short. The index does not depend on it."""

UNIT_SIZE = 256 << 20
"""Default ``unit_size`` of :func:`scan`: larger local files are scanned (and checkpointed) in parts."""

Progress = Callable[[int, int], None]
"""Called after each batch with (bytes read, records read) since the previous call."""


def _read(files: Sequence[InputFile], text_field: str, id_field: str | None, skipped: Skipped | None = None,
          **kwargs: Any) -> Iterator[Batch]:
    """Batches of ``files``. ``id_field=None`` takes ids from an ``id`` field where a file has one and
    uses FILE:ROW elsewhere; an id field named explicitly must be present. With ``skipped``, bad
    records and files are counted there and left out (see :func:`provenance.read.iter_batches`)."""
    without_ids: set[str] = set()
    for batch in iter_batches(files, text_field=text_field, id_field=id_field or "id", skipped=skipped, **kwargs):
        if id_field is not None and batch.id_fallback:
            if batch.source in without_ids:
                continue
            error = InputError(f"{batch.source}: no '{id_field}' field for the record ids", kind="wrong_schema")
            if skipped is None:
                raise error
            skipped.add(error)
            without_ids.add(batch.source)
            continue
        yield batch


def _describe(files: Sequence[InputFile]) -> list[dict[str, Any]]:
    return [{"path": str(f.path), "format": f.format, "bytes": file_size(f)} for f in files]


def build_index(
    posts: Sequence[str | Path],
    out: str | Path,
    *,
    params: IndexParams = IndexParams(),
    text_field: str = "text",
    id_field: str | None = None,
    meta_fields: Sequence[str] = (),
    fmt: str | None = None,
    append: bool = False,
    force: bool = False,
    on_progress: Progress | None = None,
    memory_limit: int | None = None,
    on_error: str = "stop",
    key: Key | bytes | None = None,
    shards: int | None = None,
) -> "Index | ShardedIndex":
    """Index the posts in ``posts`` (files or folders) and save the index to directory ``out``.

    With ``append``, the posts are added to the index already at ``out`` (its parameters are kept;
    ``params`` is ignored). ``memory_limit`` (bytes) bounds the build's working arrays; beyond it the
    build spills sorted runs to disk (default: a quarter of physical memory). ``on_error="skip"``
    leaves bad records and files out (and every post whose id an earlier post has), counted by
    kind in the manifest's ``skipped``. ``key`` (a secret of at least 16 bytes, or a
    :class:`provenance.keys.Key`) makes a keyed index: every token hash derives from it, and
    scanning the index needs it; with ``append`` it must be the index's key. ``shards`` > 1 cuts
    the index into that many shards of consecutive posts (:mod:`provenance.index.shards`; an append
    keeps the index's count unless given). Returns the saved :class:`Index` (a
    :class:`~provenance.index.ShardedIndex` when sharded).
    """
    skipped = skipping(on_error)
    base = open_index(out, key=key) if append else None
    if base is not None:
        params = base.params
    files = expand_inputs(posts, fmt, skipped)
    batches = _read(files, text_field, id_field, skipped=skipped, meta_fields=meta_fields, batch_size=BUILD_BATCH)
    if skipped is not None:
        batches = _first_of_each_id(batches, skipped, base)
    inputs = {"files": _describe(files), "fields": {"text": text_field, "id": id_field, "meta": list(meta_fields)}}
    return _build(batches, out, params, base=base, inputs=inputs, on_batch=on_progress, memory_limit=memory_limit,
                  overwrite=force, skipped=skipped, key=key, shards=shards)


class _SeenIds:
    """The 128-bit hashes (xxh3_128) of the post ids seen so far, in sorted levels that merge as they
    grow (16 bytes per post; equal hashes of different ids: about n^2 / 2^129, never in practice)."""

    def __init__(self) -> None:
        self.levels: list[tuple[np.ndarray, np.ndarray]] = []  # (high, low) 64-bit halves, sorted

    @staticmethod
    def _halves(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        h = [xxhash.xxh3_128_intdigest(i.encode("utf-8")) for i in ids]
        return (np.fromiter((x >> 64 for x in h), dtype=np.uint64, count=len(h)),
                np.fromiter((x & 0xFFFFFFFFFFFFFFFF for x in h), dtype=np.uint64, count=len(h)))

    def first_seen(self, ids: Sequence[str]) -> np.ndarray:
        """Which of ``ids`` were not seen before (nor earlier in ``ids``); records them all."""
        high, low = self._halves(ids)
        order = np.lexsort((np.arange(len(ids)), low, high))  # equal ids together, first occurrence first
        hs, ls = high[order], low[order]
        new = np.ones(len(ids), dtype=bool)
        new[order[1:]] = (hs[1:] != hs[:-1]) | (ls[1:] != ls[:-1])
        for lh, ll in self.levels:
            lo, hi = np.searchsorted(lh, high, "left"), np.searchsorted(lh, high, "right")
            for i in np.flatnonzero(hi > lo).tolist():  # same high half: compare the low halves
                if (ll[lo[i] : hi[i]] == low[i]).any():
                    new[i] = False
        keep = order[new[order]]
        self.levels.append((high[keep], low[keep]))
        while len(self.levels) > 1 and len(self.levels[-1][0]) * 2 >= len(self.levels[-2][0]):
            (h1, l1), (h2, l2) = self.levels.pop(), self.levels.pop()
            h, lw = np.concatenate([h2, h1]), np.concatenate([l2, l1])
            o = np.lexsort((lw, h))
            self.levels.append((h[o], lw[o]))
        return new


def _first_of_each_id(batches: Iterable[Batch], skipped: Skipped, base: Index | None) -> Iterator[Batch]:
    """The batches without the posts whose id an earlier post (or the ``base`` index) has; those are
    counted as ``duplicate_id``."""
    seen = _SeenIds()
    if base is not None:
        seen.first_seen(base.posts["post_id"].to_list())
    for batch in batches:
        new = seen.first_seen(batch.ids)
        if new.all():
            yield batch
            continue
        for i in np.flatnonzero(~new).tolist():
            skipped.add(InputError(f"{batch.source}:{batch.rows[i]}: duplicate post id {batch.ids[i]!r} (an earlier "
                                   "post has it; this one is left out)", kind="duplicate_id"))
        if new.any():
            yield batch.subset(np.flatnonzero(new).tolist())


def _opened(index: "Index | ShardedIndex | str | Path", key: Key | bytes | None) -> "Index | ShardedIndex":
    """``index`` opened (checksums checked in the background) with ``key``, ready to hash texts: a
    keyed index without its key, a wrong key, or a key for an index without one, is a SecretKeyError."""
    if isinstance(index, (Index, ShardedIndex)):
        index.use_key(key)
    else:
        index = open_index(index, verify="background", key=key)
    index.require_key()
    return index


@dataclass
class ScanResult:
    """What a scan found: ``matches`` (one row per verified document–post match, columns as in
    :data:`provenance.report.MATCH_SCHEMA`) and ``summary`` (the content of summary.json)."""

    matches: pl.DataFrame
    summary: dict[str, Any]
    out_dir: Path | None = None
    run: dict[str, Any] = field(default_factory=dict)
    """What changes from run to run (``run.json``): ``seconds`` per stage, ``inputs_reused`` and
    ``notes`` (damaged checkpoint files found, whose units were scanned again)."""


def _stage_timings() -> dict[str, float]:
    """Seconds per scan stage, all zero (``summary.json`` ``seconds``, ``total`` added at the end)."""
    return dict.fromkeys(("read", "shingle", "match", "locate"), 0.0)


class _Scanner:
    """Scans batches of documents against an index: the text stage, each shard's matcher
    (:class:`~provenance.match.matcher.PostMatcher`), then what depends on all posts of a document
    (short posts inside another post's copy, character offsets, evidence strength, the tallies)."""

    def __init__(self, index: "Index | ShardedIndex", params: ScanParams, prefilter: bool = True) -> None:
        if params.mode == "jaccard":
            index.require_sketches()
        self.index = index
        self.prefilter = prefilter  # the vectorized text stage (provenance.text.vectorized); False: the reference
        self.hasher = index.token_hasher()
        self.background, self.background_hasher = default_background(), plain_hasher()
        self.plain_tokens = index.key is None and index.params.seed == self.background_hasher.seed
        self.matchers = [PostMatcher(shard, first) for shard, first in shards_of(index)]
        self.timings = _stage_timings()
        self.tally = Tally()
        self.params = params
        self.max_docs = 1 << 62  # documents matched at once; lowered when a batch fans out too far

    @property
    def params(self) -> ScanParams:
        return self._params

    @params.setter
    def params(self, params: ScanParams) -> None:
        self._params = params
        for m in self.matchers:
            m.params = params

    @property
    def tally(self) -> Tally:
        return self._tally

    @tally.setter
    def tally(self, tally: Tally) -> None:
        self._tally = tally
        for m in getattr(self, "matchers", ()):
            m.tally = tally

    # -- one batch ------------------------------------------------------------------------------

    def scan_batch(self, batch: Batch) -> list[dict[str, Any]]:
        """Match one batch of documents; returns one dict per verified match (see ``MATCH_SCHEMA``)."""
        n, step = len(batch.texts), self.max_docs  # (a part may lower max_docs further)
        if n <= step:
            return self._scan_part(batch)
        rows: list[dict[str, Any]] = []
        for a in range(0, n, step):
            rows.extend(self._scan_part(batch.subset(range(a, min(a + step, n)))))
        return rows

    def _scan_part(self, batch: Batch) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        containment = self.params.mode == "containment"
        sb = batch_shingles(batch.texts, self.index.params.ngram, self.hasher, lines=containment,
                            vectorized=self.prefilter)
        probes: list[Any] = [None] * len(self.matchers)
        if containment:
            probes = [m.probe(sb) for m in self.matchers]
            fan_out = sum(m.fan_out(probe) for m, probe in zip(self.matchers, probes))
            if fan_out > FAN_OUT_ROWS and len(batch.texts) > 1:
                # Too many (document, post) rows at once (the common keys of a large index): from
                # now on, scan at most half as many documents at a time, so that memory stays
                # bounded whatever the index.
                self.timings["shingle"] += time.perf_counter() - t0
                self.max_docs = len(batch.texts) // 2
                return self.scan_batch(batch)
        t1 = time.perf_counter()
        found = [m.find(sb, probe) for m, probe in zip(self.matchers, probes)]
        found = _explained_runs_dropped(_shared_texts_summed(found))
        t2 = time.perf_counter()
        rows = self._locate(batch, found, sb)
        t3 = time.perf_counter()
        self.timings["shingle"] += t1 - t0
        self.timings["match"] += t2 - t1
        self.timings["locate"] += t3 - t2
        return rows

    def _locate(self, batch: Batch, found: list[Found], sb: ShingleBatch) -> list[dict[str, Any]]:
        """Turn token positions into character offsets of the original text; settle truncation cases."""
        n_tokens = sb.n_tokens
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
                    "row": batch.rows[d], "containment": f.containment, "coverage": f.coverage, "jaccard": f.jaccard,
                    "doc_start": start, "doc_end": end,
                    "doc_text": text[start : min(end, start + MAX_DOC_TEXT)],
                    "doc_chars": len(text),
                    "method": f.method,
                    "span_tokens": f.last - f.first + 1, "matched_shingles": f.matched, "post_shingles": f.distinct,
                    "evidence_bits": 0.0, "shared_posts": f.shared, "generic": False,
                    "_post": f.post, "_doc": d, "_first": f.first,
                })
        self._weigh(rows, sb)
        # The shares count the specific matches only.
        by_text: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            if not r["generic"]:
                by_text.setdefault(r.pop("_doc"), []).append(r)
            else:
                del r["_doc"]
        for d, found_rows in by_text.items():
            covered = covered_chars(np.array([r["doc_start"] for r in found_rows]), np.array([r["doc_end"] for r in found_rows]))
            self.tally.docs_matched += 1
            self.tally.matched_chars += covered
            self.tally.matched_sq += covered * covered
            self.tally.cross += covered * len(batch.texts[d])
        return rows

    def _weigh(self, rows: list[dict[str, Any]], sb: ShingleBatch) -> None:
        """Each match's evidence strength: the bits of its span (:mod:`provenance.match.background`)
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
            bits = self.background.bits_of_runs(sb.token_hashes, sb.token_offsets[doc] + first, length)
        else:
            bits = span_bits(self.background, [r["doc_text"] for r in rows], self.background_hasher)
        short = np.flatnonzero(length < SHARED_SPAN_TOKENS)
        if len(short):
            grams = np.maximum(length[short] - n + 1, 0)
            lo = sb.offsets[doc[short]] + first[short]
            posts = [-1 if rows[i]["method"] == "exact_short" else rows[i]["_post"] for i in short.tolist()]
            counts = shared_posts_of(shards_of(self.index), sb.hashes[expand_ranges(lo, grams)], np.r_[0, np.cumsum(grams)],
                                     np.array(posts, dtype=np.int64))
            for i, c in zip(short.tolist(), counts.tolist()):
                rows[i]["shared_posts"] = max(c, rows[i]["shared_posts"] or 0)
        for r in rows:
            if r["span_tokens"] >= SHARED_SPAN_TOKENS:
                r["shared_posts"] = None
            del r["_first"]
        shared = is_shared_phrase(np.array([r["shared_posts"] or 0 for r in rows], dtype=np.int64), length,
                                  p.max_shared_posts)
        for r, b, s in zip(rows, bits.tolist(), shared.tolist()):
            r["evidence_bits"] = round(b, 3)
            r["generic"] = b < p.min_evidence_bits or s


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


def _scan_counted(scanner: _Scanner, batch: Batch) -> tuple[list[dict[str, Any]], Tally, dict[str, float]]:
    """Scan one batch with fresh counters: its match rows, its tally and its stage timings."""
    scanner.tally, scanner.timings = Tally(), _stage_timings()
    t = scanner.tally
    t.docs_total, t.chars_total = len(batch.texts), sum(map(len, batch.texts))
    if scanner.params.sample < 1.0:
        batch = _sampled(batch, scanner.params)
    lengths = np.fromiter(map(len, batch.texts), dtype=np.int64, count=len(batch.texts))
    t.docs_scanned, t.corpus_chars, t.chars_sq = len(lengths), int(lengths.sum()), _sum_of_squares(lengths)
    rows = scanner.scan_batch(batch)
    scanner.tally.posts_matched.update(r["_post"] for r in rows if not r["generic"])
    return rows, scanner.tally, scanner.timings


# One scanner per worker process, made by the pool's initializer.
_WORKER_SCANNER: _Scanner | None = None


def _open_checked(index_path: str, checksum: str, key: Key | None) -> Index:
    """The index at ``index_path`` as a worker opens it: its manifest must be the client's (whose
    opening checked every file's sha256); here only sizes are checked, so that N workers do not
    hash the whole index N more times. ``key``: the client's key (handed over in memory)."""
    index = open_index(index_path, verify=False, key=key)
    if index.checksum != checksum:
        raise IndexFormatError(f"{index_path}: the index on this worker differs from the client's "
                               f"(manifest sha256 {index.checksum[:12]} != {checksum[:12]})")
    return index


def _worker_init(index_path: str, checksum: str, params: ScanParams, key: Key | None, prefilter: bool) -> None:
    global _WORKER_SCANNER
    _WORKER_SCANNER = _Scanner(_open_checked(index_path, checksum, key), params, prefilter)


def _worker_scan(batch: Batch) -> tuple[list[dict[str, Any]], Tally, dict[str, float]]:
    assert _WORKER_SCANNER is not None
    return _scan_counted(_WORKER_SCANNER, batch)


def _worker_scan_unit(file: InputFile, text_field: str, id_field: str | None):
    """One unit read and scanned by a pool worker: ``(tally, timings, rows)``."""
    scanner = _WORKER_SCANNER
    assert scanner is not None
    return _scan_unit(scanner.index, file, text_field, id_field, scanner.params, None, scanner=scanner)


# Dask workers keep the index they opened, by path and manifest checksum, across tasks.
_OPEN_INDEXES: dict[tuple[str, str], _Scanner] = {}


def _scan_file_task(index_path: str, checksum: str, key: Key | None, file: InputFile, text_field: str,
                    id_field: str | None, params: ScanParams, prefilter: bool = True) -> tuple[Tally, dict[str, float], list[dict[str, Any]]]:
    """One input file scanned on a Dask worker: it reads the file and the index itself (both must be
    on a path every worker can read); a keyed index's key comes with the task, in memory."""
    opened = (index_path, checksum)  # (the manifest pins the key's fingerprint: one key per checksum)
    if opened not in _OPEN_INDEXES:
        index = _open_checked(index_path, checksum, key)
        _OPEN_INDEXES.clear()
        _OPEN_INDEXES[opened] = _Scanner(index, params)
    scanner = _OPEN_INDEXES[opened]
    scanner.params, scanner.prefilter = params, prefilter
    return _scan_unit(scanner.index, file, text_field, id_field, params, None, scanner=scanner)


def _scan_unit(index: Index, file: InputFile, text_field: str, id_field: str | None, params: ScanParams,
               on_progress: Progress | None, **kwargs: Any) -> tuple[Tally, dict[str, float], list[dict[str, Any]]]:
    """Read and scan one unit (a file or a part); its bad records are skipped or stop the scan, as
    ``params.on_error`` says, and the skipped ones are counted in its tally."""
    skipped = skipping(params.on_error)
    batches = _read([file], text_field, id_field, skipped=skipped, batch_size=params.batch_size)
    tally, timings, rows = _scan_batches(index, batches, params, on_progress, **kwargs)
    if skipped is not None:
        tally.skipped.merge(skipped)
    return tally, timings, rows


def _scan_on_dask(index: Index, files: Sequence[InputFile], text_field: str, id_field: str | None,
                  params: ScanParams, scheduler: Any, on_progress: Progress | None, prefilter: bool = True):
    """Scan the files as one Dask task each on the cluster at ``scheduler`` (an address such as
    ``tcp://host:8786``, or a ``distributed.Client``); yields ``(file, (tally, timings, rows))`` in file order."""
    try:
        from distributed import Client
    except ImportError:
        raise ParameterError("--scheduler needs dask's distributed scheduler: pip install 'dask[distributed]'") from None
    if index.path is None:
        raise ParameterError("--scheduler needs an index saved on a path every worker can read")
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, set_as_default=False) if own else scheduler
    except (OSError, TimeoutError, ValueError) as e:
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    try:
        futures = [client.submit(_scan_file_task, str(Path(index.path).resolve()), index.checksum, index.key, f, text_field,
                                 id_field, params, prefilter, pure=False) for f in files]
        for file, future in zip(files, futures):  # in file order; the cluster works on all at once
            result = client.gather(future)
            if on_progress:
                on_progress(file_size(file), result[0].docs_scanned)
            yield file, result
    finally:
        if own:
            client.close()


def _scan_batches(index: Index, batches: Iterable[Batch], params: ScanParams, on_progress: Progress | None,
                  scanner: _Scanner | None = None, pool: ProcessPoolExecutor | None = None,
                  workers: int = 1) -> tuple[Tally, dict[str, float], list[dict[str, Any]]]:
    """Scan every batch, in this process (``scanner``) or on a local process ``pool`` of ``workers``;
    rows come back in batch order either way. Returns the tally, the stage timings (summed over
    workers) and the rows."""
    tally, timings = Tally(), _stage_timings()
    rows: list[dict[str, Any]] = []

    def collect(result: tuple[list[dict[str, Any]], Tally, dict[str, float]], nbytes: int) -> None:
        batch_rows, batch_tally, batch_timings = result
        rows.extend(batch_rows)
        tally.add(batch_tally)
        for k, v in batch_timings.items():
            timings[k] += v
        if on_progress:
            on_progress(nbytes, batch_tally.docs_scanned)

    def read_all() -> Iterator[Batch]:
        it = iter(batches)
        while True:
            t0 = time.perf_counter()
            batch = next(it, None)
            timings["read"] += time.perf_counter() - t0
            if batch is None:
                return
            yield batch

    t_start = time.perf_counter()
    if pool is None:
        scanner = scanner or _Scanner(index, params)
        for batch in read_all():
            collect(_scan_counted(scanner, batch), batch.nbytes)
    else:
        pending: deque[tuple[Future, int]] = deque()
        for batch in read_all():
            pending.append((pool.submit(_worker_scan, batch), batch.nbytes))
            while len(pending) > 2 * workers:  # bounded read-ahead
                future, nbytes = pending.popleft()
                collect(future.result(), nbytes)
        while pending:
            future, nbytes = pending.popleft()
            collect(future.result(), nbytes)
    timings["total"] = time.perf_counter() - t_start
    return tally, timings, rows


def _process_pool(index: Index, params: ScanParams, processes: int, prefilter: bool) -> ProcessPoolExecutor:
    """``processes`` worker processes that open the index themselves."""
    if index.path is None:
        raise ParameterError("--workers needs an index saved on disk (the workers open it themselves)")
    import multiprocessing  # (imported here: a run with one process does not pay for it)
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may already run polars' threads, which do not survive a fork.
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init,
                               initargs=(str(index.path), index.checksum, params, index.key, prefilter))


def _local_pool(index: Index, params: ScanParams, workers: int, prefilter: bool = True) -> ProcessPoolExecutor | None:
    """A pool of ``workers`` processes, or None for one worker (this process)."""
    return _process_pool(index, params, workers, prefilter) if workers > 1 else None


def _scan_units_shared(index: Index, files: Sequence[InputFile], text_field: str, id_field: str | None,
                       params: ScanParams, on_progress: Progress | None, workers: int, prefilter: bool):
    """Scan whole units on ``workers - 1`` pool processes and in this process, which takes the next
    unit itself whenever the pool has enough queued (so no core idles while a worker starts);
    yields ``(file, result)`` in file order."""
    pool = _process_pool(index, params, workers - 1, prefilter)
    scanner = _Scanner(index, params, prefilter)
    results: list[Any] = [None] * len(files)
    inflight: dict[int, Future] = {}
    queued = done = 0
    try:
        while done < len(files):
            while queued < len(files) and len(inflight) < 2 * (workers - 1):
                inflight[queued] = pool.submit(_worker_scan_unit, files[queued], text_field, id_field)
                queued += 1
            if queued < len(files):  # the pool has enough to do: take the next unit here
                results[queued] = _scan_unit(index, files[queued], text_field, id_field, params, None, scanner=scanner)
                queued += 1
            elif results[done] is None:  # all handed out: wait for the earliest one
                inflight[done].result()
            for i in [i for i, future in inflight.items() if future.done()]:
                results[i] = inflight.pop(i).result()
            while done < len(files) and results[done] is not None:
                if on_progress:
                    on_progress(file_size(files[done]), results[done][0].docs_scanned)
                yield files[done], results[done]
                results[done] = None
                done += 1
    finally:
        pool.shutdown(cancel_futures=True)


def _merge(results: Sequence[tuple[Tally, dict[str, float], list[dict[str, Any]]]], wall: float):
    tally, timings, rows = Tally(), _stage_timings(), []
    for file_tally, file_timings, file_rows in results:
        tally.add(file_tally)
        for k in timings:
            timings[k] += file_timings.get(k, 0.0)
        rows.extend(file_rows)
    timings["total"] = wall
    return tally, timings, rows


def _summary(index: Index, t: Tally, timings: dict[str, float], matches: pl.DataFrame, params: ScanParams,
             inputs: list[dict]) -> dict[str, Any]:
    counts = index.manifest.get("counts", {})
    matched = np.fromiter(t.posts_matched, dtype=np.int64, count=len(t.posts_matched))
    by_method = matches.group_by("method").len().sort("method") if matches.height else None
    specific, generic = split_generic(matches)
    return {
        "posts_indexed": index.n_posts,
        "posts_matched": len(t.posts_matched),
        "docs_scanned": t.docs_scanned,
        "docs_matched": t.docs_matched,
        "corpus_chars": t.corpus_chars,
        "matched_chars": t.matched_chars,
        **t.shares(index.n_posts),
        "matches": matches.height,
        "matches_by_method": dict(by_method.iter_rows()) if by_method is not None else {},
        "short_posts_indexed": counts.get("short_posts", 0),
        "short_posts_matched": int((index.post_kind[np.sort(matched)] == SHORT).sum()),
        "empty_posts_indexed": counts.get("empty_posts", 0),
        "frequent_shingles": counts.get("frequent_shingles", 0),
        "posts_with_only_frequent_shingles": counts.get("posts_with_only_frequent_shingles", 0),
        "candidates": t.candidates,
        "candidates_verified": t.verified,
        "candidates_aligned": t.aligned,
        "docs_total": t.docs_total,
        "chars_total": t.chars_total,
        "generic": {"matches": generic.height,
                    "posts": generic.filter(~pl.col("post_id").is_in(specific["post_id"].implode()))["post_id"].n_unique(),
                    "docs": generic.join(specific, on=["source", "row"], how="anti").select("source", "row").n_unique()},
        "estimates": estimates(t, index.n_posts, params.confidence, specific),
        "evidence_model": default_background().identity,
        "params": {"index": index.params.to_dict(), "scan": params.to_dict()},
        "index": {"path": str(index.path) if index.path else None, "manifest_sha256": index.checksum},
        "inputs": inputs,
        "skipped": t.skipped.to_dict(),
        "tool_version": __version__,
    }


def _run(index: Index, batches: Iterable[Batch] | Callable[[Index], Any], params: ScanParams,
         inputs: list[dict], out_dir: str | Path | None, on_progress: Progress | None,
         skipped: Skipped | None = None) -> ScanResult:
    run: dict[str, Any] = {}
    if callable(batches):  # scan() runs the files itself: ((tally, timings, rows), run facts)
        (tally, timings, rows), run = batches(index)
    else:
        tally, timings, rows = _scan_batches(index, batches, params, on_progress, pool=None)
    if skipped:  # arguments that gave no file
        tally.skipped.merge(skipped)
    matches = pl.DataFrame(rows, schema={**MATCH_SCHEMA, "_post": pl.Int64})
    # Post ids are filled in once, at the end, rather than looked up per match.
    matches = matches.with_columns(post_id=index.post_ids(matches["_post"].to_numpy())).drop("_post")
    matches = matches.sort(["source", "row", "doc_start", "post_id"])
    summary = _summary(index, tally, timings, matches, params, inputs)
    run = {"seconds": {k: round(v, 4) for k, v in timings.items()}, "inputs_reused": 0, "notes": [], **run}
    index.wait_verified()  # (an index opened with verify="background": no result from a damaged one)
    out = write_outputs(out_dir, matches, summary, run) if out_dir is not None else None
    return ScanResult(matches, summary, out, run)


def scan(
    index: Index | str | Path,
    corpus: Sequence[str | Path],
    out_dir: str | Path | None = None,
    *,
    params: ScanParams = ScanParams(),
    text_field: str = "text",
    id_field: str | None = None,
    fmt: str | None = None,
    on_progress: Progress | None = None,
    workers: int = 1,
    scheduler: Any = None,
    resume: bool = False,
    unit_size: int = UNIT_SIZE,
    until_ci: float | None = None,
    key: Key | bytes | None = None,
    prefilter: bool = True,
) -> ScanResult:
    """Scan corpus files or folders against an index; write ``matches.parquet`` and
    ``summary.json`` to ``out_dir`` when given.

    ``params.sample`` < 1 matches a random share of the documents (``summary["estimates"]`` gives
    the shares with intervals). With ``until_ci``, the sample doubles (from ``params.sample``, or
    0.05) until the intervals of the document and character shares are at most that wide, or every
    document is scanned; a larger sample with the same seed holds the smaller one, and
    ``summary["sample_rounds"]`` records each round.

    ``workers`` > 1 matches the batches in that many local processes (the index must be on disk);
    the results are the same as with one, only ``run["seconds"]`` differs (stage times are
    summed over the workers, ``total`` is wall time). ``matches.parquet`` and ``summary.json`` are
    byte-identical for the same inputs and parameters, whatever the workers, unit size or resumes;
    times and units reused are in ``run.json``.

    ``scheduler`` (a Dask scheduler address or ``distributed.Client``) runs one task per unit (file or part) on
    that cluster; index and corpus must be on paths every worker can read. Same results again.

    Local files larger than ``unit_size`` bytes are scanned in parts of about that size (uncompressed
    JSONL and lines files by line, parquet by rows; :func:`provenance.read.split_units`): a part is a
    Dask task and a checkpoint unit of its own. The results do not depend on it.

    With ``out_dir``, every finished unit is recorded under ``out_dir/units`` (see
    :mod:`provenance.checkpoint`); ``resume`` reuses the recorded units that are unchanged, so an
    interrupted scan continues and a re-scan reads only new or changed files.

    ``key``: the secret key of a keyed index (bytes or a :class:`provenance.keys.Key`); local and
    Dask workers receive it in memory. Without it a keyed index cannot be scanned; a wrong key, or a
    key for an index built without one, is an error too (:class:`provenance.errors.SecretKeyError`).

    ``prefilter`` (default on): normalize, tokenize and hash whole batches with numpy
    (:mod:`provenance.text.vectorized`), sending only the documents that hold entities, mentions,
    URLs or ``...`` through the per-document reference normalizer. Off, every document goes through
    the reference. The outputs are byte-identical either way; only the time differs."""
    index = _opened(index, key)
    if params.mode == "jaccard":
        index.require_sketches()
    if until_ci is not None:
        return _scan_until(until_ci, index, corpus, out_dir, params=params, text_field=text_field, id_field=id_field,
                           fmt=fmt, on_progress=on_progress, workers=workers, scheduler=scheduler, resume=resume,
                           unit_size=unit_size, prefilter=prefilter)
    if workers < 1:
        raise ParameterError(f"workers (--workers) must be at least 1, got {workers}")
    if scheduler is not None and workers != 1:
        raise ParameterError("use --workers or --scheduler, not both (the cluster has its own workers)")
    if resume and out_dir is None:
        raise ParameterError("--resume needs the output directory of the scan to resume")
    skipped = skipping(params.on_error)
    files = expand_inputs(corpus, fmt, skipped)
    units = split_units(files, _work_unit_size(files, unit_size, workers), id_field or "id")
    kept: dict[str, Any] = {}  # the opened index and the checkpoint, for the evidence

    def scan_files(ix: Index):
        t_start = time.perf_counter()
        kept["index"], checkpoint = ix, None
        if out_dir is not None:
            identity = {"index": ix.checksum, "params": params.to_dict(), "fields": [text_field, id_field],
                        "tool_version": __version__}
            checkpoint = Checkpoint(out_dir, identity, resume)
            kept["checkpoint"] = checkpoint
        results: list[Any] = [checkpoint.load(u) if checkpoint else None for u in units]
        for u, r in zip(units, results):
            if r is not None and on_progress:
                on_progress(file_size(u), r[0].docs_scanned)
        todo = [i for i, r in enumerate(results) if r is None]
        if scheduler is not None:
            done = _scan_on_dask(ix, [units[i] for i in todo], text_field, id_field, params, scheduler, on_progress,
                                 prefilter)
        else:
            done = _scan_local(ix, [units[i] for i in todo], text_field, id_field, params, on_progress, workers,
                               prefilter)
        for (f, result), i in zip(done, todo):  # done first: it ends (and cleans up) before zip stops
            if checkpoint is not None:
                checkpoint.store(f, result)
            results[i] = result
        _per_input(inputs, units, results, ix.n_posts, params.confidence)
        run = {"inputs_reused": checkpoint.reused, "notes": checkpoint.notes} if checkpoint else {}
        return _merge(results, time.perf_counter() - t_start), run

    inputs = _describe(files)
    result = _run(index, scan_files, params, inputs, out_dir, on_progress, skipped)
    if result.out_dir is not None:  # what a third party needs to check every match (provenance verify)
        write_evidence(result.out_dir, kept["index"], params, {"text": text_field, "id": id_field},
                       [unit_record(u, kept["checkpoint"].sha256[u.unit]) for u in units])
    return result


def _scan_until(width: float, index: Index | str | Path, corpus: Sequence[str | Path], out_dir: str | Path | None,
                *, params: ScanParams, **kwargs: Any) -> ScanResult:
    """:func:`scan` with ``until_ci``: doubling samples until the intervals are narrow enough."""
    if not 0.0 < width < 1.0:
        raise ParameterError(f"until_ci (--until-ci) must be in (0, 1), got {width}")
    fraction = params.sample if params.sample < 1.0 else 0.05
    rounds: list[dict[str, Any]] = []
    while True:
        result = scan(index, corpus, out_dir, params=replace(params, sample=fraction), **kwargs)
        est = result.summary["estimates"]
        widths = {k: est[k]["ci_high"] - est[k]["ci_low"] for k in ("share_docs_matched", "share_chars_matched")}
        rounds.append({"sample": fraction, "docs_scanned": result.summary["docs_scanned"], "ci_widths": widths})
        if max(widths.values()) <= width or fraction >= 1.0:
            break
        fraction = min(1.0, fraction * 2)
    result.summary["sample_rounds"] = rounds
    if result.out_dir is not None:  # the rounds join summary.json; the evidence pins its new sha256
        write_outputs(result.out_dir, result.matches, result.summary, result.run)
        repin_results(result.out_dir)
    return result


def _per_input(inputs: list[dict[str, Any]], units: Sequence[InputFile], results: Sequence[Any], n_posts: int,
               confidence: float) -> None:
    """Add each input file's totals (over its units), and its share estimates, to its
    ``summary.json`` ``inputs`` entry."""
    by_path: dict[str, Tally] = {}
    for unit, (tally, _, _) in zip(units, results):
        by_path.setdefault(str(unit.path), Tally()).add(tally)
    for entry in inputs:
        t = by_path.get(entry["path"], Tally())
        entry.update({"docs_scanned": t.docs_scanned, "docs_matched": t.docs_matched, "corpus_chars": t.corpus_chars,
                      "matched_chars": t.matched_chars, "posts_matched": len(t.posts_matched), **t.shares(n_posts),
                      "estimates": share_estimates(t, confidence), "skipped": dict(sorted(t.skipped.counts.items()))})


WORK_UNITS_PER_WORKER = 4
"""With ``workers`` > 1, files are cut into at least this many parts per worker (where they can be
cut), so that each worker reads and scans parts of its own (:func:`_scan_units_shared`)."""

MIN_WORK_UNIT = 4 << 20
"""... but into no parts smaller than this (bytes)."""


def _work_unit_size(files: Sequence[InputFile], unit_size: int, workers: int) -> int:
    """The unit size to cut ``files`` with: ``unit_size``, or smaller with ``workers`` > 1."""
    if workers <= 1 or unit_size < 1:
        return unit_size
    total = sum(file_size(f) for f in files)
    return max(min(unit_size, -(-total // (WORK_UNITS_PER_WORKER * workers))), min(unit_size, MIN_WORK_UNIT))


def _scan_local(index: Index, files: Sequence[InputFile], text_field: str, id_field: str | None, params: ScanParams,
                on_progress: Progress | None, workers: int, prefilter: bool = True):
    """Scan ``files`` one after the other here or with local worker processes; yields ``(file, result)``.

    With at least as many units as workers, every worker (this process one of them) reads and scans
    whole units; with fewer, this process reads and a pool of ``workers`` processes scans its batches."""
    if workers > 1 and len(files) >= workers:
        yield from _scan_units_shared(index, files, text_field, id_field, params, on_progress, workers, prefilter)
        return
    pool = _local_pool(index, params, workers, prefilter) if files else None
    scanner = None if pool is not None or not files else _Scanner(index, params, prefilter)
    try:
        for f in files:
            yield f, _scan_unit(index, f, text_field, id_field, params, on_progress, scanner=scanner, pool=pool,
                                workers=workers)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def scan_texts(index: Index | str | Path, texts: Iterable[str], *, ids: Iterable[str] | None = None,
               params: ScanParams = ScanParams(), source: str = "<texts>", key: Key | bytes | None = None) -> ScanResult:
    """Scan in-memory texts (ids default to their 1-based position); ``key`` as in :func:`scan`."""
    index = _opened(index, key)
    # Lone surrogates (a str from JSON may hold them) become U+FFFD, one for one, as the readers do.
    texts = [replace_surrogates(t) for t in texts]
    id_list = [replace_surrogates(str(i)) for i in ids] if ids is not None else [str(i + 1) for i in range(len(texts))]
    if len(id_list) != len(texts):
        raise InputError(f"{source}: {len(id_list)} ids for {len(texts)} texts")
    step = params.batch_size
    batches = (Batch(source, list(range(i + 1, min(i + step, len(texts)) + 1)), id_list[i : i + step], texts[i : i + step], {},
                     sum(len(t) for t in texts[i : i + step])) for i in range(0, len(texts), step))
    return _run(index, batches, params, [{"path": source, "format": "memory"}], None, None)
