"""A sharded index on Dask distributed, where no worker has to hold the whole index.

Shard ``s`` is *owned* by worker ``s mod W`` (workers in address order). Per unit of the corpus:

1. a *unit task*, on any worker, reads the unit and runs the scan's text stage
   (:class:`~provenance.scanner.pipeline.Scanner`); it opens only the top manifest (parameters, key
   fingerprint), no shard;
2. for each batch, it puts the batch's shingle hashes on the cluster (``scatter``, kept on its own
   worker) and submits one *find task* per shard to the shard's owner: the owner opens that shard
   once (memory-mapped, kept across tasks), matches the batch against its posts
   (:class:`~provenance.match.matcher.PostMatcher`) and sends back the verified (document, post)
   pairs, which are few;
3. the unit task settles what depends on several posts of a document (offsets, shares), asking the
   owners, in a second small task per shard, how many of their posts hold the shingles of the short
   spans it found (:func:`provenance.match.shared.shard_shares`).

A shard task's worker restriction is loose (``allow_other_workers``), so that a lost owner's tasks
run elsewhere; with the scheduler's work stealing on (Dask's default), an idle worker also takes
shard tasks from a busy owner and maps that shard too. For a sharded index, run the scheduler with
``DASK_DISTRIBUTED__SCHEDULER__WORK_STEALING=False``.

The unit and find tasks are pure functions of their inputs: a worker lost mid-scan loses only
tasks that Dask runs again elsewhere (a shard's task may run on a worker that does not own it,
which then opens that shard too), and the results are the same bytes as a scan in one process. A
find task whose batch was lost with the worker that held it (Dask cancels it: scattered data cannot
be recomputed) is submitted again by its unit task, which still holds the batch.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import IndexFormatError
from ..match.tally import Tally
from ..index import ShardedIndex, ShardRef, open_index
from ..keys import Key
from ..match.matcher import PostMatcher
from ..match.shared import Holders, Shares, asked_posts, holders_combined, shard_holders, shard_shares, shares_combined
from ..params import ScanParams
from ..io import InputFile
from ..text.shingles import ShingleBatch
from ..match.verify import Found
from .pipeline import Scanner
from .units import UnitResult, scan_unit

__all__ = ["RemoteShards", "made_index_bytes", "opened_shards", "resident_index_bytes", "shard_owners", "unit_on_shards"]


ATTEMPTS = 5
"""Times a unit task submits a batch's shard tasks before it gives up (see :meth:`RemoteShards._each`)."""

# Each worker process keeps the shards it opened, by path and manifest checksum, across tasks.
_OPEN_SHARDS: dict[tuple[str, str], PostMatcher] = {}


def opened_shards() -> list[str]:
    """The shard directories this process has opened (run on each worker: ``client.run(opened_shards)``)."""
    return sorted(path for path, _ in _OPEN_SHARDS)


def made_index_bytes() -> int:
    """Bytes the shards this process opened made in memory from their files (key filters, search buckets,
    offsets: :meth:`~provenance.index.store.Index.made_bytes`), resident beside their mapped pages."""
    return sum(m.index.made_bytes() for m in _OPEN_SHARDS.values())


def resident_index_bytes(root: str) -> dict[str, int]:
    """Bytes of each file under ``root`` resident in this process's memory maps (``/proc/self/smaps``;
    empty where the system has no such file)."""
    out: dict[str, int] = {}
    path = None
    try:
        with open("/proc/self/smaps", encoding="utf-8", errors="replace") as f:
            for line in f:
                first = line.split(maxsplit=1)[0]
                if "-" in first and not first.endswith(":"):  # a mapping's header line
                    parts = line.split(maxsplit=5)
                    path = parts[5].strip() if len(parts) == 6 and parts[5].startswith(root) else None
                elif path is not None and first == "Rss:":
                    out[path] = out.get(path, 0) + int(line.split()[1]) * 1024
    except OSError:
        return {}
    return out


def _matcher(ref: ShardRef, key: Key | None) -> PostMatcher:
    opened = (ref.path, ref.checksum)
    if opened not in _OPEN_SHARDS:
        shard = open_index(ref.path, verify=False, key=key, shard=ref.entry)
        if shard.checksum != ref.checksum:
            raise IndexFormatError(f"{ref.path}: the shard on this worker differs from the client's "
                                   f"(manifest sha256 {shard.checksum[:12]} != {ref.checksum[:12]})")
        _OPEN_SHARDS[opened] = PostMatcher(shard, ref.first)
    return _OPEN_SHARDS[opened]


def _find_task(ref: ShardRef, key: Key | None, params: ScanParams, sb: ShingleBatch) -> tuple[list[Found], tuple[int, int, int]]:
    """One shard's finds in one batch, and its candidate counts."""
    tally = Tally()
    found = _matcher(ref, key).find(sb, params, tally)
    return found, (tally.candidates, tally.verified, tally.aligned)


def _shares_task(ref: ShardRef, key: Key | None, hashes: np.ndarray, wanted: np.ndarray) -> Shares:
    m = _matcher(ref, key)
    return shard_shares(m.index, m.first, hashes, wanted)


def _holders_task(ref: ShardRef, key: Key | None, hashes: np.ndarray, offsets: np.ndarray) -> Holders:
    return shard_holders(_matcher(ref, key).index, hashes, offsets)


class RemoteShards:
    """The shards of an index matched by the Dask workers that own them (a
    :class:`~provenance.scanner.pipeline.Shards` for the scanner of a unit task)."""

    def __init__(self, client: Any, refs: Sequence[ShardRef], owners: Sequence[str], key: Key | None, here: str,
                 max_key_posts: int) -> None:
        self.client, self.refs, self.owners, self.key, self.here = client, list(refs), list(owners), key, here
        self.max_key_posts = max_key_posts

    def _each(self, fn: Any, *args: Any, scattered: Any = None) -> list[Any]:
        """``fn(shard, key, *args)`` for every shard, on its owner (or, if that worker is gone, on
        another). ``scattered``: an argument to put on the cluster first (from this worker), passed
        after ``args``. A task cancelled because a worker died with what it needed (a scattered
        argument's only copy) is submitted again, up to :data:`ATTEMPTS` times."""
        from distributed.client import FutureCancelledError

        for attempt in range(ATTEMPTS):
            extra = ()
            if scattered is not None:
                [data] = self.client.scatter([scattered], workers=[self.here], hash=False)
                extra = (data,)
            futures = [self.client.submit(fn, ref, self.key, *args, *extra, workers=[owner], allow_other_workers=True,
                                          pure=False) for ref, owner in zip(self.refs, self.owners)]
            try:
                return self.client.gather(futures)
            except FutureCancelledError:
                if attempt + 1 == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def find(self, sb: ShingleBatch, params: ScanParams, tally: Tally) -> list[list[Found]]:
        results = self._each(_find_task, params, scattered=sb)
        for _, (candidates, verified, aligned) in results:
            tally.candidates += candidates
            tally.verified += verified
            tally.aligned += aligned
        return [found for found, _ in results]

    def shared(self, hashes: np.ndarray, offsets: np.ndarray, posts: np.ndarray) -> np.ndarray:
        if not len(hashes):
            return np.zeros(len(posts), dtype=np.int64)
        shares = self._each(_shares_task, hashes, asked_posts(offsets, posts))
        return shares_combined(shares, offsets, np.asarray(posts, dtype=np.int64), self.max_key_posts)

    def texts(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        if not len(hashes):
            return np.zeros(len(offsets) - 1, dtype=np.int64)
        return holders_combined(self._each(_holders_task, hashes, offsets), offsets, self.max_key_posts)


def unit_on_shards(top: str, checksum: str, refs: Sequence[ShardRef], owners: Sequence[str], key: Key | None,
                   file: InputFile, text_field: str, id_field: str | None, params: ScanParams,
                   prefilter: bool = True) -> UnitResult:
    """A unit task: read and scan ``file``, the shards matched by their owners (see the module)."""
    from distributed import get_worker, worker_client

    scanners = _UNIT_SCANNERS.__dict__.setdefault("by_index", {})
    scanner = scanners.get((top, checksum))
    if scanner is None:
        index = open_index(top, verify=False, key=key, with_shards=False)
        if index.checksum != checksum:
            raise IndexFormatError(f"{top}: the index on this worker differs from the client's "
                                   f"(manifest sha256 {index.checksum[:12]} != {checksum[:12]})")
        scanners.clear()
        scanner = scanners[(top, checksum)] = Scanner(index, params, prefilter, shards=_NO_SHARDS)
    scanner.params, scanner.prefilter = params, prefilter
    with worker_client() as client:  # (the task leaves the worker's thread pool while it waits)
        scanner.shards = RemoteShards(client, refs, owners, key, get_worker().address, scanner.index.params.max_key_posts)
        try:
            return scan_unit(scanner.index, file, text_field, id_field, params, None, scanner=scanner)
        finally:
            scanner.shards = _NO_SHARDS


# A unit task's scanner (its token hasher's vocabulary warm) is kept across the tasks one thread runs:
# a task waiting on its shards leaves the thread pool, so several may run at once, each in a thread of its own.
_UNIT_SCANNERS = threading.local()


class _Between:
    """The shards of a kept scanner between tasks: none (each task gives its own)."""

    def find(self, *args: Any) -> list[list[Found]]:
        raise RuntimeError("a unit task's scanner used outside its task")

    shared = texts = find


_NO_SHARDS = _Between()


def shard_owners(client: Any, n_shards: int) -> list[str]:
    """The worker that owns each shard: shard ``s`` to worker ``s mod W``, workers in address order."""
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        client.wait_for_workers(1)
        workers = sorted(client.scheduler_info()["workers"])
    return [workers[s % len(workers)] for s in range(n_shards)]


def submit_units(client: Any, index: ShardedIndex, files: Sequence[InputFile], text_field: str, id_field: str | None,
                 params: ScanParams, prefilter: bool) -> Iterator[Any]:
    """One unit task per file on ``client``'s cluster; yields their futures in file order."""
    owners = shard_owners(client, len(index.refs))
    top = str(Path(index.path).resolve())
    for f in files:
        yield client.submit(unit_on_shards, top, index.checksum, index.refs, owners, index.key, f, text_field, id_field,
                            params, prefilter, pure=False)
