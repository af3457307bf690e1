"""Running a scan's units on this machine: one after the other in this process, or on a pool of
worker processes that open the index themselves (each unit's results come back in unit order)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import ParameterError
from ..index import Index, ShardedIndex
from ..params import ScanParams
from ..io import InputFile, file_size
from .pipeline import Scanner
from .units import Progress, RowSink, scan_unit, worker_init, worker_scan_unit

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

__all__ = ["MIN_WORK_UNIT", "WORK_UNITS_PER_WORKER", "scan_local", "work_unit_size"]


def _process_pool(index: "Index | ShardedIndex", params: ScanParams, processes: int, prefilter: bool) -> ProcessPoolExecutor:
    """``processes`` worker processes that open the index themselves."""
    if index.path is None:
        raise ParameterError("--workers needs an index saved on disk (the workers open it themselves)")
    import multiprocessing  # (imported here: a run with one process does not pay for it)
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may already run polars' threads, which do not survive a fork.
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=worker_init,
                               initargs=(str(index.path), index.checksum, params, index.key, prefilter))


def _stop(pool: "ProcessPoolExecutor", before: set, finished: bool) -> None:
    """Shut ``pool`` down: after its work is done, as usual; otherwise (an error, SIGINT or SIGTERM in
    this process) at once, its worker processes (the children started since ``before``) terminated
    rather than left to finish their units."""
    import multiprocessing

    if not finished:
        mine = [p for p in multiprocessing.active_children() if p not in before]
        for p in mine:
            p.terminate()
        for p in mine:
            p.join(10)
    pool.shutdown(wait=True, cancel_futures=True)


def _local_pool(index: "Index | ShardedIndex", params: ScanParams, workers: int, prefilter: bool = True) -> ProcessPoolExecutor | None:
    """A pool of ``workers`` processes, or None for one worker (this process)."""
    return _process_pool(index, params, workers, prefilter) if workers > 1 else None


def _scan_units_shared(index: "Index | ShardedIndex", files: Sequence[InputFile], text_field: str, id_field: str | None,
                       params: ScanParams, on_progress: Progress | None, workers: int, prefilter: bool,
                       sinks: Callable[[InputFile], RowSink] | None):
    """Scan whole units on ``workers - 1`` pool processes and in this process, which takes the next
    unit itself whenever the pool has enough queued (so no core idles while a worker starts);
    yields ``(file, result)`` in file order (a pool's unit with its rows, this process's sent to ``sinks``)."""
    import multiprocessing

    before = set(multiprocessing.active_children())
    pool = _process_pool(index, params, workers - 1, prefilter)
    scanner = Scanner(index, params, prefilter)
    results: list[Any] = [None] * len(files)
    inflight: dict[int, Future] = {}
    queued = done = 0
    finished = False
    try:
        while done < len(files):
            while queued < len(files) and len(inflight) < 2 * (workers - 1):
                inflight[queued] = pool.submit(worker_scan_unit, files[queued], text_field, id_field)
                queued += 1
            if queued < len(files):  # the pool has enough to do: take the next unit here
                results[queued] = scan_unit(index, files[queued], text_field, id_field, params, None, scanner=scanner,
                                            sink=sinks(files[queued]) if sinks is not None else None)
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
        finished = True
    finally:
        _stop(pool, before, finished)


WORK_UNITS_PER_WORKER = 4
"""With ``workers`` > 1, files are cut into at least this many parts per worker (where they can be
cut), so that each worker reads and scans parts of its own (:func:`_scan_units_shared`)."""

MIN_WORK_UNIT = 4 << 20
"""... but into no parts smaller than this (bytes)."""


def work_unit_size(files: Sequence[InputFile], unit_size: int, workers: int) -> int:
    """The unit size to cut ``files`` with: ``unit_size``, or smaller with ``workers`` > 1."""
    if workers <= 1 or unit_size < 1:
        return unit_size
    total = sum(file_size(f) for f in files)
    return max(min(unit_size, -(-total // (WORK_UNITS_PER_WORKER * workers))), min(unit_size, MIN_WORK_UNIT))


def scan_local(index: "Index | ShardedIndex", files: Sequence[InputFile], text_field: str, id_field: str | None, params: ScanParams,
                on_progress: Progress | None, workers: int, prefilter: bool = True,
                sinks: Callable[[InputFile], RowSink] | None = None):
    """Scan ``files`` one after the other here or with local worker processes; yields ``(file, result)``.

    With at least as many units as workers, every worker (this process one of them) reads and scans
    whole units; with fewer, this process reads and a pool of ``workers`` processes scans its batches.
    With ``sinks``, the rows of a unit read in this process go to ``sinks(file)`` a batch at a time as
    they are found, not into its result."""
    if workers > 1 and len(files) >= workers:
        yield from _scan_units_shared(index, files, text_field, id_field, params, on_progress, workers, prefilter,
                                      sinks)
        return
    import multiprocessing

    before = set(multiprocessing.active_children()) if workers > 1 else set()
    pool = _local_pool(index, params, workers, prefilter) if files else None
    scanner = None if pool is not None or not files else Scanner(index, params, prefilter)
    finished = False
    try:
        for f in files:
            yield f, scan_unit(index, f, text_field, id_field, params, on_progress, scanner=scanner, pool=pool,
                                workers=workers, sink=sinks(f) if sinks is not None else None)
        finished = True
    finally:
        if pool is not None:
            _stop(pool, before, finished)


