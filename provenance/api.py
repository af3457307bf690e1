"""The Python API: build an index, open it, scan corpora. Functions return results and never print.

Example::

    from provenance import api
    index = api.build_index(["posts.csv"], "idx", id_field="tweet_id", meta_fields=["name"])
    result = api.scan("idx", ["corpus/"], "out")
    print(result.summary["posts_matched"], result.matches.head())
"""

from __future__ import annotations

import time
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import polars as pl

from .version import __version__
from .results.checkpoint import Checkpoint
from .errors import InputError, Interrupted, ParameterError, Skipped, skipping
from .results.evidence import repin_results, unit_record, write_evidence
from .match.tally import Tally
from .results.estimate import share_estimates
from .index import Index, ShardedIndex, build_index as _build, compact_index as _compact, open_index
from .index.segments import KnownIds
from .index.size import IndexSize, index_size
from .keys import Key, as_key
from .locks import lock_directory
from .io.records import replace_surrogates
from .params import MAX_RECORD_BYTES, IndexParams, ScanParams, check_max_record_bytes
from .io import (Batch, InputFile, Selection, chosen_posts, expand_inputs, file_size, input_bytes, named_for_ids,
                 read_batches, split_units)
from .io.ids import first_of_each_id
from .results.evaluate import Evaluation, evaluate
from .results.judged import ROWS, Judgement
from .results.significance import Counted
from .results.summary import scan_summary
from .results.outputs import refuse_earlier_results, write_outputs
from .scanner.dask import scan_on_dask
from .scanner.local import scan_local, work_unit_size
from .scanner.pipeline import stage_timings
from .scanner.units import Progress, scan_batches

__all__ = ["build_index", "compact_index", "open_index", "scan", "scan_texts", "ScanResult", "Progress", "input_bytes", "index_size",
           "IndexSize", "evaluate", "Evaluation"]

BUILD_BATCH = 8192
"""Posts per batch of an index build (or 8 MiB of text): the text stage has a fixed cost per batch
of a few milliseconds, and posts are short. The index does not depend on it."""

UNIT_SIZE = 256 << 20
"""Default ``unit_size`` of :func:`scan`: larger local files are scanned (and checkpointed) in parts."""

BUILD_UNIT_SIZE = 64 << 20
"""Default ``unit_size`` of a :func:`build_index` on Dask: larger local files are read in parts, one task each."""

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
    keep_text: bool = False,
    scheduler: Any = None,
    unit_size: int = BUILD_UNIT_SIZE,
    max_record_bytes: int = MAX_RECORD_BYTES,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    id_prefix: str = "",
    date_field: str | None = None,
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
    keeps the index's count unless given). ``keep_text`` also stores the posts' texts
    (``post_texts.parquet``, in each shard), for ``provenance report``; never with ``key``; an append
    keeps the index's choice. Returns the saved :class:`Index` (a
    :class:`~provenance.index.ShardedIndex` when sharded).

    ``scheduler`` (a Dask scheduler address such as ``tcp://host:8786``, or a ``distributed.Client``)
    builds the index as Dask tasks (:mod:`provenance.index.distributed`): one per input part (local
    files larger than ``unit_size`` bytes are read in parts), then one per shard. It writes a sharded
    index (``shards``: at least 2, by default one a worker), the same files as a build in one
    process; ``out`` and the inputs must be on paths every worker can read. Not with ``append``.
    ``max_record_bytes``: a post longer than this (bytes after decompression; see
    :data:`provenance.params.MAX_RECORD_BYTES`) is a bad record (``record_too_long``), refused before
    it is held in memory (on Dask, the default applies). ``include``/``exclude``/``id_prefix``: which files
    of a folder are read, and how FILE:ROW post ids name them (:func:`provenance.io.chosen_posts`).

    ``date_field``: the field of each post's date (``post_date.npy``, and a meta field; :mod:`provenance.io.dates`).
    """
    check_max_record_bytes(max_record_bytes)
    meta_fields = [*meta_fields, date_field] if date_field is not None and date_field not in meta_fields else meta_fields
    if keep_text and key is not None:
        raise ParameterError("--keep-text with --key-file: a keyed index holds no post text")
    skipped = skipping(on_error)
    if scheduler is not None and append:
        raise ParameterError("--append with --scheduler: an append runs in one process (leave out --scheduler)")
    # One writer at a time, and no scan reading the index meanwhile (provenance.locks).
    with lock_directory(out, "an index append" if append else "an index build"):
        if scheduler is not None:
            return _build_on_dask(posts, out, params, scheduler, text_field=text_field, id_field=id_field,
                                  meta_fields=meta_fields, fmt=fmt, force=force, on_progress=on_progress,
                                  memory_limit=memory_limit, skipped=skipped, key=key, shards=shards,
                                  keep_text=keep_text, unit_size=unit_size, choose=(include, exclude, id_prefix),
                                  date_field=date_field)
        # (an append reads only the base's manifests and post ids, checked in KnownIds: it writes new files only)
        base = open_index(out, key=key, verify=False) if append else None
        if base is not None:
            params = base.params
        files, inputs = chosen_posts(posts, fmt, skipped, include, exclude, id_prefix, text_field, id_field, meta_fields)
        batches = read_batches(files, text_field, id_field, skipped=skipped, meta_fields=meta_fields,
                               batch_size=BUILD_BATCH, max_record_bytes=max_record_bytes, posts_from_names=fmt is None)
        if base is not None:
            batches = KnownIds(base).filter(batches, skipped)
        if skipped is not None:
            batches = first_of_each_id(batches, skipped)
        return _build(batches, out, params, base=base, inputs=inputs, on_batch=on_progress, memory_limit=memory_limit,
                      overwrite=force, skipped=skipped, key=key, shards=shards, keep_text=keep_text,
                      date_field=date_field)


def compact_index(index_dir: str | Path, *, shards: int | None = None, memory_limit: int | None = None,
                  key: Key | bytes | None = None) -> "Index | ShardedIndex":
    """Merge the segments that appends added to the index at ``index_dir`` into the index one build over
    all its posts writes (:func:`provenance.index.compact_index`), cut into ``shards`` (default: as its
    first segment). A keyed index needs its ``key``. Returns the compacted index."""
    with lock_directory(index_dir, "an index compaction"):
        index = open_index(index_dir, key=key)  # (every checksum checked: every file is read again)
        return _compact(index, shards=shards, memory_limit=memory_limit, key=key)


def _build_on_dask(posts: Sequence[str | Path], out: str | Path, params: IndexParams, scheduler: Any, *, fmt: str | None,
                   force: bool, on_progress: Progress | None, skipped: Any, shards: int | None, unit_size: int,
                   text_field: str, id_field: str | None, meta_fields: Sequence[str], choose: tuple,
                   **kwargs: Any) -> ShardedIndex:
    from .index.write import build_index_on_dask
    from .scanner.dask import dask_client

    files, inputs = chosen_posts(posts, fmt, skipped, *choose, text_field, id_field, meta_fields)
    parts = split_units(files, unit_size, id_field or "id")
    with dask_client(scheduler) as client:
        if shards is None:
            shards = max(2, len(client.scheduler_info()["workers"]))
        return build_index_on_dask(parts, out, params, client=client, shards=shards, text_field=text_field,
                                   id_field=id_field, meta_fields=meta_fields, inputs=inputs, on_batch=on_progress,
                                   overwrite=force, skipped=skipped, batch_size=BUILD_BATCH,
                                   posts_from_names=fmt is None, **kwargs)


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
    :data:`provenance.results.outputs.MATCH_SCHEMA`) and ``summary`` (the content of summary.json).

    A scan with an output directory holds no match in memory: ``matches`` reads ``matches.parquet``
    when first asked for."""

    frame: pl.DataFrame | None
    summary: dict[str, Any]
    out_dir: Path | None = None
    run: dict[str, Any] = field(default_factory=dict)
    """What changes from run to run (``run.json``): ``seconds`` per stage, ``inputs_reused`` and
    ``notes`` (damaged checkpoint files found, whose units were scanned again)."""

    @property
    def matches(self) -> pl.DataFrame:
        if self.frame is None and self.out_dir is not None:
            self.frame = pl.read_parquet(self.out_dir / "matches.parquet")
        assert self.frame is not None
        return self.frame


def _merge(results: Sequence[tuple[Tally, dict[str, float], "list[dict[str, Any]] | Path"]], wall: float):
    """The units' results as one: tally, stage timings, and their rows (files, or frames of those in memory)."""
    tally, timings, parts = Tally(), stage_timings(), []
    for file_tally, file_timings, file_rows in results:
        tally.add(file_tally)
        for k in timings:
            timings[k] += file_timings.get(k, 0.0)
        if isinstance(file_rows, Path) or file_rows:
            parts.append(file_rows if isinstance(file_rows, Path) else pl.DataFrame(file_rows, schema=ROWS))
    timings["total"] = wall
    return tally, timings, parts


def _run(index: Index, batches: Iterable[Batch] | Callable[[Index], Any], params: ScanParams,
         inputs: list[dict], out_dir: str | Path | None, on_progress: Progress | None,
         skipped: Skipped | None = None, per_input: Callable[[dict[str, Counted]], None] | None = None) -> ScanResult:
    run: dict[str, Any] = {}
    if callable(batches):  # scan() runs the files itself: ((tally, timings, rows of each unit), run facts)
        (tally, timings, parts), run = batches(index)
    else:
        tally, timings, rows = scan_batches(index, batches, params, on_progress, pool=None)
        parts = [pl.DataFrame(rows, schema=ROWS)]
    if skipped:  # arguments that gave no file
        tally.skipped.merge(skipped)
    # Which matches count is decided here, over the whole scan (the E-value needs its size), as the rows
    # pass from the units' files into matches.parquet (results.judged).
    judged = Judgement(index, params, tally.tokens_scanned, parts)
    run = {"seconds": {k: round(v, 4) for k, v in timings.items()}, "inputs_reused": 0, "notes": [], **run}
    index.wait_verified()  # (an index opened with verify="background": no result from a damaged one)
    frame = None
    if out_dir is not None:
        write_outputs(out_dir, judged.lazy(), None)
    else:
        frame = judged.frame()
    tally = judged.counted.tally(tally)
    if per_input is not None:
        per_input(judged.by_source)
    summary = scan_summary(index, tally, judged.figures, params, inputs)
    out = write_outputs(out_dir, None, summary, run) if out_dir is not None else None
    return ScanResult(frame, summary, out, run)


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
    force: bool = False,
    seal_key: Key | bytes | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> ScanResult:
    """Scan corpus files or folders against an index; write ``matches.parquet`` and
    ``summary.json`` to ``out_dir`` when given.

    An ``out_dir`` that already holds a scan's results is refused (:class:`ParameterError`) unless
    ``resume`` continues that scan or ``force`` replaces its results.

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
    JSONL and lines files by line, parquet by rows; :func:`provenance.io.split_units`): a part is a
    Dask task and a checkpoint unit of its own. The results do not depend on it.

    With ``out_dir``, every finished unit is recorded under ``out_dir/units`` (see
    :mod:`provenance.results.checkpoint`); ``resume`` reuses the recorded units that are unchanged, so an
    interrupted scan continues and a re-scan reads only new or changed files.

    ``key``: the secret key of a keyed index (bytes or a :class:`provenance.keys.Key`); local and
    Dask workers receive it in memory. Without it a keyed index cannot be scanned; a wrong key, or a
    key for an index built without one, is an error too (:class:`provenance.errors.SecretKeyError`).

    ``seal_key`` (default: ``key``) seals ``evidence.json`` with an HMAC only a holder of that key can
    make or check (:mod:`provenance.results.evidence`); without any key the seal is a checksum.

    ``prefilter`` (default on): normalize, tokenize and hash whole batches with numpy
    (:mod:`provenance.text.vectorized`), sending only the documents that hold entities, mentions,
    URLs or ``...`` through the per-document reference normalizer. Off, every document goes through
    the reference. The outputs are byte-identical either way; only the time differs. ``include``/``exclude``:
    as in :func:`build_index` (what a folder brought in and was left out is a line of ``run["notes"]``)."""
    index = _opened(index, key)
    if params.mode == "jaccard":
        index.require_sketches()
    if until_ci is not None:
        return _scan_until(until_ci, index, corpus, out_dir, params=params, text_field=text_field, id_field=id_field,
                           fmt=fmt, on_progress=on_progress, workers=workers, scheduler=scheduler, resume=resume,
                           unit_size=unit_size, prefilter=prefilter, force=force, seal_key=seal_key,
                           include=include, exclude=exclude)
    if workers < 1:
        raise ParameterError(f"workers (--workers) must be at least 1, got {workers}")
    if scheduler is not None and workers != 1:
        raise ParameterError("use --workers or --scheduler, not both (the cluster has its own workers)")
    if resume and out_dir is None:
        raise ParameterError("--resume needs the output directory of the scan to resume")
    with ExitStack() as held:
        # One scan writes into out_dir; no build replaces the index while the scan reads it (provenance.locks).
        if out_dir is not None:
            held.enter_context(lock_directory(out_dir, "a scan writing its results"))
            if not (resume or force):
                refuse_earlier_results(out_dir)
        if index.path is not None:
            held.enter_context(lock_directory(index.path, "a scan reading it", shared=True, create=False))
            index.check_unchanged()
        skipped = skipping(params.on_error)
        files = named_for_ids(expand_inputs(corpus, fmt, skipped, selection := Selection(include, exclude)))
        units = split_units(files, work_unit_size(files, unit_size, workers), id_field or "id")
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
                done = scan_on_dask(ix, [units[i] for i in todo], text_field, id_field, params, scheduler, on_progress,
                                     prefilter)
            else:
                done = scan_local(ix, [units[i] for i in todo], text_field, id_field, params, on_progress, workers,
                                   prefilter, sinks=(lambda u: checkpoint.writer(u).append) if checkpoint is not None else None)
            with closing(done):  # (an interrupted scan stops its workers now, not when the generator is collected)
                try:
                    for (f, result), i in zip(done, todo):  # done first: it ends (and cleans up) before zip stops
                        if checkpoint is not None:  # the rows are on disk now, not kept in memory
                            result = (result[0], result[1], checkpoint.store(f, result))
                        results[i] = result
                finally:
                    if checkpoint is not None:
                        checkpoint.discard()
            kept["results"] = results
            if ix.path is not None:
                ix.check_unchanged()
            notes = [n for n in [selection.note()] if n] + (checkpoint.notes if checkpoint else [])
            run = {"inputs_reused": checkpoint.reused if checkpoint else 0, "notes": notes}
            return _merge(results, time.perf_counter() - t_start), run

        inputs = _describe(files)

        def per_input(by_source: dict[str, Counted]) -> None:
            _per_input(inputs, units, kept["results"], by_source, kept["index"].n_posts, params.confidence)

        try:
            result = _run(index, scan_files, params, inputs, out_dir, on_progress, skipped, per_input)
        except (KeyboardInterrupt, Interrupted) as e:  # say what was kept, and how to go on
            if "checkpoint" not in kept:
                raise
            line = kept["checkpoint"].kept_line(len(units), resume)
            raise (Interrupted(e.signum, line) if isinstance(e, Interrupted) else KeyboardInterrupt(line)) from None
        if result.out_dir is not None:  # what a third party needs to check every match (provenance verify)
            write_evidence(result.out_dir, kept["index"], params, {"text": text_field, "id": id_field},
                           [unit_record(u, kept["checkpoint"].sha256[u.unit]) for u in units],
                           as_key(seal_key) or index.key)
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
        kwargs["force"] = True  # the next round replaces this round's results
        est = result.summary["estimates"]
        widths = {k: est[k]["ci_high"] - est[k]["ci_low"] for k in ("share_docs_matched", "share_chars_matched")}
        rounds.append({"sample": fraction, "docs_scanned": result.summary["docs_scanned"], "ci_widths": widths})
        if max(widths.values()) <= width or fraction >= 1.0:
            break
        fraction = min(1.0, fraction * 2)
    result.summary["sample_rounds"] = rounds
    if result.out_dir is not None:  # the rounds join summary.json; the evidence pins its new sha256
        write_outputs(result.out_dir, None, result.summary, result.run)
        repin_results(result.out_dir, as_key(kwargs.get("seal_key")) or getattr(index, "key", None))
    return result


def _per_input(inputs: list[dict[str, Any]], units: Sequence[InputFile], results: Sequence[Any],
               by_source: dict[str, Counted], n_posts: int, confidence: float) -> None:
    """Add each input file's totals (over its units; what matched from the judged matches, ``by_source``),
    and its share estimates, to its ``summary.json`` ``inputs`` entry."""
    by_path: dict[str, Tally] = {}
    for unit, (tally, _, _) in zip(units, results):
        by_path.setdefault(str(unit.path), Tally()).add(tally)
    for entry in inputs:
        t = by_source.get(entry["path"], Counted()).tally(by_path.get(entry["path"], Tally()))
        entry.update({"docs_scanned": t.docs_scanned, "docs_matched": t.docs_matched, "corpus_chars": t.corpus_chars,
                      "matched_chars": t.matched_chars, "posts_matched": len(t.posts_matched), **t.shares(n_posts),
                      "estimates": share_estimates(t, confidence), "skipped": dict(sorted(t.skipped.counts.items()))})


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
