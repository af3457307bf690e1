"""One unit of a scan (a file or a part of one) read and scanned batch by batch, in this process or
on a local pool's worker processes (each opens the index once, :func:`worker_init`)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..errors import IndexFormatError, skipping
from ..match.tally import Tally
from ..index import Index, ShardedIndex, open_index
from ..keys import Key
from ..params import ScanParams, doc_fields
from ..io import Batch, InputFile, read_batches
from .pipeline import Scanner, scan_counted, stage_timings

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

__all__ = ["Progress", "RowSink", "UnitResult", "open_checked", "scan_batches", "scan_unit", "worker_init",
           "worker_scan", "worker_scan_unit"]

Progress = Callable[[int, int], None]
"""Called after each batch with (bytes read, records read) since the previous call."""



UnitResult = tuple[Tally, dict[str, float], list[dict[str, Any]]]
"""What scanning a unit gives: its tally, its stage timings and its match rows."""

RowSink = Callable[[list[dict[str, Any]]], None]
"""Takes a unit's match rows a batch at a time, in batch order, as they are found (:func:`scan_batches`)."""


def scan_unit(index: "Index | ShardedIndex", file: InputFile, text_field: str, id_field: str | None, params: ScanParams,
               on_progress: Progress | None, **kwargs: Any) -> UnitResult:
    """Read and scan one unit (a file or a part); its bad records are skipped or stop the scan, as
    ``params.on_error`` says, and the skipped ones are counted in its tally. ``kwargs``: those of
    :func:`scan_batches` (``sink``: the rows go there as they are found, not into the result)."""
    skipped = skipping(params.on_error)
    meta = doc_fields(params)
    batches = read_batches([file], text_field, id_field, skipped=skipped, batch_size=params.batch_size, meta_fields=meta,
                           max_record_bytes=params.max_record_bytes)
    tally, timings, rows = scan_batches(index, batches, params, on_progress, **kwargs)
    if skipped is not None:
        tally.skipped.merge(skipped)
    return tally, timings, rows


def scan_batches(index: "Index | ShardedIndex", batches: Iterable[Batch], params: ScanParams, on_progress: Progress | None,
                  scanner: Scanner | None = None, pool: ProcessPoolExecutor | None = None,
                  workers: int = 1, sink: RowSink | None = None) -> UnitResult:
    """Scan every batch, in this process (``scanner``) or on a local process ``pool`` of ``workers``;
    rows come back in batch order either way. Returns the tally, the stage timings (summed over
    workers) and the rows; with ``sink``, each batch's rows go there as they are found instead (so
    that memory does not grow with the matches), and none are returned."""
    tally, timings = Tally(), stage_timings()
    rows: list[dict[str, Any]] = []

    def collect(result: tuple[list[dict[str, Any]], Tally, dict[str, float]], nbytes: int) -> None:
        batch_rows, batch_tally, batch_timings = result
        if sink is not None:
            sink(batch_rows)
        else:
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
        scanner = scanner or Scanner(index, params)
        for batch in read_all():
            collect(scan_counted(scanner, batch), batch.nbytes)
    else:
        pending: deque[tuple[Future, int]] = deque()
        for batch in read_all():
            pending.append((pool.submit(worker_scan, batch), batch.nbytes))
            while len(pending) > 2 * workers:  # bounded read-ahead
                future, nbytes = pending.popleft()
                collect(future.result(), nbytes)
        while pending:
            future, nbytes = pending.popleft()
            collect(future.result(), nbytes)
    timings["total"] = time.perf_counter() - t_start
    return tally, timings, rows


# One scanner per worker process, made by the pool's initializer.
_WORKER_SCANNER: Scanner | None = None


def open_checked(index_path: str, checksum: str, key: Key | None) -> "Index | ShardedIndex":
    """The index at ``index_path`` as a worker opens it: its manifest must be the client's (whose
    opening checked every file's sha256); here only sizes are checked, so that N workers do not
    hash the whole index N more times. ``key``: the client's key (handed over in memory)."""
    index = open_index(index_path, verify=False, key=key)
    if index.checksum != checksum:
        raise IndexFormatError(f"{index_path}: the index on this worker differs from the client's "
                               f"(manifest sha256 {index.checksum[:12]} != {checksum[:12]})")
    return index


def worker_init(index_path: str, checksum: str, params: ScanParams, key: Key | None, prefilter: bool) -> None:
    """A pool worker's start: its scanner. Ctrl-C reaches the whole process group: the worker leaves
    it to the parent, which stops the pool; and a worker whose parent is gone (killed) exits."""
    global _WORKER_SCANNER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="exit-with-parent", daemon=True).start()
    _WORKER_SCANNER = Scanner(open_checked(index_path, checksum, key), params, prefilter)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def worker_scan(batch: Batch) -> tuple[list[dict[str, Any]], Tally, dict[str, float]]:
    assert _WORKER_SCANNER is not None
    return scan_counted(_WORKER_SCANNER, batch)


def worker_scan_unit(file: InputFile, text_field: str, id_field: str | None):
    """One unit read and scanned by a pool worker: ``(tally, timings, rows)``."""
    scanner = _WORKER_SCANNER
    assert scanner is not None
    return scan_unit(scanner.index, file, text_field, id_field, scanner.params, None, scanner=scanner)


