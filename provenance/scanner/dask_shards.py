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

*Routed probes* (an index with routes, :mod:`provenance.index.routes`, in containment mode): step 2 is
two rounds instead of one task per shard. (a) The batch's shingles are cut by key range and each
range goes to the owner of its route part (part ``r`` is owned with shard ``r``), which returns the seed
hits and the short posts' head shingles it holds; then one task a shard, on the same owner, (b) looks
up the exact keys of the batch's short units (records, lines, runs from those heads) that fall in its
part and (c) verifies the candidate pairs of its posts that the hits make (the two-seeds rule applied
over all of them).
A document shingle is probed once, in one part, whatever the number of shards; the shards of later
segments (appends, one directory each) are probed as before. The finds are those of a task a shard.
(``PROVENANCE_PROBES=broadcast`` probes every shard instead: for measuring the difference.)

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

import os
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import IndexFormatError
from ..match.tally import Tally
from ..index import ShardedIndex, ShardRef, open_index
from ..keys import Key
from ..index.routes import RoutePart, RouteRef
from ..match.matcher import PostMatcher
from ..match.shared import Holders, Shares, asked_posts, holders_combined, shard_holders, shard_shares, shares_combined
from ..params import ScanParams
from ..io import InputFile
from ..text.shingles import ShingleBatch
from ..match.verify import Found
from .pipeline import Scanner
from .routed import Probed, RouteLayout, Verified, found_whole, probe_part, routed_find, verify_in_shard
from .units import UnitResult, scan_unit

__all__ = ["RemoteShards", "made_index_bytes", "opened_routes", "opened_shards", "resident_index_bytes", "shard_owners", "unit_on_shards"]


ATTEMPTS = 5
"""Times a unit task submits a batch's shard tasks before it gives up (see :meth:`RemoteShards._each`)."""

# Each worker process keeps the shards and route parts it opened, by path and manifest checksum, across tasks.
_OPEN_SHARDS: dict[tuple[str, str], PostMatcher] = {}
_OPEN_ROUTES: dict[tuple[str, str, int], RoutePart] = {}


def opened_shards() -> list[str]:
    """The shard directories this process has opened (run on each worker: ``client.run(opened_shards)``)."""
    return sorted(path for path, _ in _OPEN_SHARDS)


def opened_routes() -> list[str]:
    """The route part directories this process has opened."""
    return sorted(f"{path}/part-{r:04d}" for path, _, r in _OPEN_ROUTES)


def made_index_bytes() -> int:
    """Bytes the shards and route parts this process opened made in memory from their files (key filters,
    search buckets, offsets: :meth:`~provenance.index.store.Index.made_bytes`,
    :meth:`~provenance.index.routes.RoutePart.made_bytes`), resident beside their mapped pages."""
    return (sum(m.index.made_bytes() for m in _OPEN_SHARDS.values())
            + sum(part.made_bytes() for part in _OPEN_ROUTES.values()))


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


def _find_task(ref: ShardRef, key: Key | None, params: ScanParams, sb: ShingleBatch) -> Verified:
    """One shard's finds in one batch, and its candidate counts."""
    return found_whole(_matcher(ref, key), sb, params)


def _part(ref: RouteRef, r: int) -> RoutePart:
    opened = (ref.path, ref.checksum, r)
    if opened not in _OPEN_ROUTES:
        _OPEN_ROUTES[opened] = RoutePart(ref, r)
    return _OPEN_ROUTES[opened]


def _probe_task(ref: RouteRef, r: int, hashes: np.ndarray) -> Probed:
    """Part ``r``'s seed hits of ``hashes`` and its head shingles among them (:func:`~.routed.probe_part`)."""
    return probe_part(_part(ref, r), hashes)


def _second_task(routes: RouteRef, r: int, keys: np.ndarray, ref: ShardRef, key: Key | None, params: ScanParams,
                 sb: ShingleBatch | None, docs: np.ndarray, posts: np.ndarray) -> tuple[Any, Verified]:
    """On the owner of shard ``r`` and route part ``r``: part ``r``'s short posts of the exact ``keys``
    (None without keys), and shard ``r``'s finds among the candidate pairs ``(docs, posts)``."""
    short = _part(routes, r).short(keys) if len(keys) else None
    return short, verify_in_shard(_matcher(ref, key), sb, params, docs, posts)


def _shares_task(ref: ShardRef, key: Key | None, hashes: np.ndarray, wanted: np.ndarray) -> Shares:
    m = _matcher(ref, key)
    return shard_shares(m.index, m.first, hashes, wanted)


def _holders_task(ref: ShardRef, key: Key | None, hashes: np.ndarray, offsets: np.ndarray) -> Holders:
    return shard_holders(_matcher(ref, key).index, hashes, offsets)


class RemoteShards:
    """The shards of an index matched by the Dask workers that own them (a
    :class:`~provenance.scanner.pipeline.Shards` for the scanner of a unit task)."""

    def __init__(self, client: Any, refs: Sequence[ShardRef], owners: Sequence[str], key: Key | None, here: str,
                 max_key_posts: int, routes: RouteRef | None = None, routed: int = 0, hasher: Any = None,
                 short_tokens: int = 0) -> None:
        self.client, self.refs, self.owners, self.key, self.here = client, list(refs), list(owners), key, here
        self.max_key_posts = max_key_posts
        self.routes, self.routed, self.hasher, self.short_tokens = routes, routed, hasher, short_tokens

    def _each(self, fn: Any, *args: Any, scattered: Any = None) -> list[Any]:
        """``fn(shard, key, *args)`` for every shard, on its owner (or, if that worker is gone, on
        another). ``scattered``: an argument to put on the cluster first (from this worker), passed
        after ``args`` (see :meth:`_gathered`)."""
        def submit(data: Any) -> list[Any]:
            extra = () if data is None else (data,)
            return [self.client.submit(fn, ref, self.key, *args, *extra, workers=[owner], allow_other_workers=True,
                                       pure=False) for ref, owner in zip(self.refs, self.owners)]

        return self._gathered(submit, scattered)

    def _gathered(self, submit: Any, scattered: Any = None) -> list[Any]:
        """``submit(data)`` gathered: ``data`` is ``scattered`` put on the cluster from this worker (None
        without it). Tasks cancelled because a worker died with what they needed (the scattered value's
        only copy) are submitted again, up to :data:`ATTEMPTS` times."""
        from distributed.client import FutureCancelledError

        for attempt in range(ATTEMPTS):
            data = None
            if scattered is not None:
                [data] = self.client.scatter([scattered], workers=[self.here], hash=False)
            try:
                return self.client.gather(submit(data))
            except FutureCancelledError:
                if attempt + 1 == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def find(self, sb: ShingleBatch, params: ScanParams, tally: Tally) -> list[list[Found]]:
        if self.routes is not None and params.mode == "containment" and os.environ.get("PROVENANCE_PROBES") != "broadcast":
            shape = RouteLayout.of(self.routes, self.refs, self.routed, self.hasher, self.short_tokens)
            return routed_find(shape, self, sb, params, tally)
        results = self._each(_find_task, params, scattered=sb)
        for _, (candidates, verified, aligned) in results:
            tally.candidates += candidates
            tally.verified += verified
            tally.aligned += aligned
        return [found for found, _ in results]

    # -- the two rounds of a routed batch (provenance.scanner.routed), as tasks on the owners

    def probe(self, asked: list[tuple[int, np.ndarray]]) -> list[Probed]:
        futures = [self.client.submit(_probe_task, self.routes, r, hashes, workers=[self.owners[r % len(self.owners)]],
                                      allow_other_workers=True, pure=False) for r, hashes in asked]
        return self.client.gather(futures)

    def second(self, sb: ShingleBatch, params: ScanParams, asked: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
               rest: list[int]) -> dict[int, Any]:
        def submit(data: Any) -> list[Any]:
            return ([self.client.submit(_second_task, self.routes, s, keys, self.refs[s], self.key, params,
                                        data if len(docs) else None, docs, posts, workers=[self.owners[s]],
                                        allow_other_workers=True, pure=False) for s, keys, docs, posts in asked]
                    + [self.client.submit(_find_task, self.refs[s], self.key, params, data, workers=[self.owners[s]],
                                          allow_other_workers=True, pure=False) for s in rest])

        results = self._gathered(submit, sb)
        out: dict[int, Any] = dict(zip([s for s, *_ in asked], results))
        out.update({s: (None, verified) for s, verified in zip(rest, results[len(asked):])})
        return out

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
                   prefilter: bool = True, routes: RouteRef | None = None, routed: int = 0) -> UnitResult:
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
        scanner.shards = RemoteShards(client, refs, owners, key, get_worker().address, scanner.index.params.max_key_posts,
                                      routes, routed, scanner.hasher, scanner.index.params.short_tokens)
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
                            params, prefilter, index.routes, index.routed_shards, pure=False)
