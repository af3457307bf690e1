"""Running a scan's units on a Dask distributed cluster (a scheduler address, or a ``Client``).

An unsharded index: one task per unit, on any worker, which opens the whole index (from a path
every worker can read) and keeps it open across tasks. A sharded index: one task per unit too, whose
shards are matched by the workers that own them (:mod:`.dask_shards`)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..errors import ParameterError
from ..index import Index, ShardedIndex
from ..keys import Key
from ..params import ScanParams
from ..io import InputFile, file_size
from .dask_shards import submit_units
from .pipeline import Scanner
from .units import Progress, UnitResult, open_checked, scan_unit

__all__ = ["dask_client", "scan_on_dask"]


# Dask workers keep the index they opened, by path and manifest checksum, across tasks.
_OPEN_INDEXES: dict[tuple[str, str], Scanner] = {}


def _scan_file_task(index_path: str, checksum: str, key: Key | None, file: InputFile, text_field: str,
                    id_field: str | None, params: ScanParams, prefilter: bool = True) -> UnitResult:
    """One input file scanned on a Dask worker: it reads the file and the index itself (both must be
    on a path every worker can read); a keyed index's key comes with the task, in memory."""
    opened = (index_path, checksum)  # (the manifest pins the key's fingerprint: one key per checksum)
    if opened not in _OPEN_INDEXES:
        index = open_checked(index_path, checksum, key)
        _OPEN_INDEXES.clear()
        _OPEN_INDEXES[opened] = Scanner(index, params)
    scanner = _OPEN_INDEXES[opened]
    scanner.params, scanner.prefilter = params, prefilter
    return scan_unit(scanner.index, file, text_field, id_field, params, None, scanner=scanner)


@contextmanager
def dask_client(scheduler: Any) -> Iterator[Any]:
    """A ``distributed.Client`` of the cluster at ``scheduler`` (an address such as ``tcp://host:8786``,
    closed at the end), or ``scheduler`` itself when it is a client already."""
    try:
        from distributed import Client
    except ImportError:
        raise ParameterError("--scheduler needs dask's distributed scheduler: pip install 'dask[distributed]'") from None
    if isinstance(scheduler, Client):
        yield scheduler
        return
    try:
        client = Client(scheduler, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    try:
        yield client
    finally:
        client.close()


def scan_on_dask(index: "Index | ShardedIndex", files: Sequence[InputFile], text_field: str, id_field: str | None,
                  params: ScanParams, scheduler: Any, on_progress: Progress | None, prefilter: bool = True):
    """Scan the files as one Dask task each on the cluster at ``scheduler`` (an address such as
    ``tcp://host:8786``, or a ``distributed.Client``); yields ``(file, (tally, timings, rows))`` in file order."""
    if index.path is None:
        raise ParameterError("--scheduler needs an index saved on a path every worker can read")
    with dask_client(scheduler) as client:
        if isinstance(index, ShardedIndex):  # each worker opens the shards it owns, none the whole index
            futures = list(submit_units(client, index, files, text_field, id_field, params, prefilter))
        else:
            futures = [client.submit(_scan_file_task, str(Path(index.path).resolve()), index.checksum, index.key, f,
                                     text_field, id_field, params, prefilter, pure=False) for f in files]
        for file, future in zip(files, futures):  # in file order; the cluster works on all at once
            result = client.gather(future)
            if on_progress:
                on_progress(file_size(file), result[0].docs_scanned)
            yield file, result


