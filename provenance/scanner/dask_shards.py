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
from ..arrays import sorted_unique
from ..index.routes import RoutePart, RouteRef, route_of
from ..match.candidates import held_twice
from ..match.matcher import PostMatcher, short_found, short_units
from ..text.hashing import sequence_keys
from ..match.shared import Holders, Shares, asked_posts, holders_combined, shard_holders, shard_shares, shares_combined
from ..params import ScanParams
from ..io import InputFile
from ..text.shingles import ShingleBatch
from ..match.verify import Found
from .pipeline import Scanner
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


def _verify_task(ref: ShardRef, key: Key | None, params: ScanParams, sb: ShingleBatch, docs: np.ndarray,
                 posts: np.ndarray) -> tuple[list[Found], tuple[int, int, int]]:
    """One shard's finds among the candidate pairs routed to it (posts numbered in the shard)."""
    tally = Tally()
    found = _matcher(ref, key).verify(sb, docs, posts, params, tally)
    return found, (0, tally.verified, tally.aligned)


def _part(ref: RouteRef, r: int) -> RoutePart:
    opened = (ref.path, ref.checksum, r)
    if opened not in _OPEN_ROUTES:
        _OPEN_ROUTES[opened] = RoutePart(ref, r)
    return _OPEN_ROUTES[opened]


def _probe_task(ref: RouteRef, r: int, hashes: np.ndarray) -> tuple[np.ndarray, ...]:
    """Part ``r``'s seed hits of ``hashes`` (index, post, seed, the post's seed count) and its head shingles
    among them (indices)."""
    part = _part(ref, r)
    return (*part.seeds(hashes), part.heads(hashes))


def _second_task(routes: RouteRef, r: int, keys: np.ndarray, ref: ShardRef, key: Key | None, params: ScanParams,
                 sb: ShingleBatch | None, docs: np.ndarray, posts: np.ndarray) -> tuple[Any, Any]:
    """On the owner of shard ``r`` and route part ``r``: part ``r``'s short posts of the exact ``keys``
    (None without keys), and shard ``r``'s finds among the candidate pairs ``(docs, posts)``."""
    short = _part(routes, r).short(keys) if len(keys) else None
    return short, (_verify_task(ref, key, params, sb, docs, posts) if len(docs) else ([], (0, 0, 0)))


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
            return self._routed(sb, params, tally)
        results = self._each(_find_task, params, scattered=sb)
        for _, (candidates, verified, aligned) in results:
            tally.candidates += candidates
            tally.verified += verified
            tally.aligned += aligned
        return [found for found, _ in results]

    def _by_part(self, fn: Any, values: np.ndarray) -> list[tuple[np.ndarray, Any]]:
        """``fn(routes, r, values of part r)`` on each part's owner, for the parts some value falls in:
        ``(indices of those values in values, the task's result)`` a part."""
        part = route_of(values, self.routes.parts)
        order = np.argsort(part, kind="stable")
        cuts = np.searchsorted(part[order], np.arange(self.routes.parts + 1))
        asked = [(r, order[cuts[r]:cuts[r + 1]]) for r in range(self.routes.parts) if cuts[r + 1] > cuts[r]]
        futures = [self.client.submit(fn, self.routes, r, values[at], workers=[self.owners[r % len(self.owners)]],
                                      allow_other_workers=True, pure=False) for r, at in asked]
        return [(at, result) for (_, at), result in zip(asked, self.client.gather(futures))]

    def _routed(self, sb: ShingleBatch, params: ScanParams, tally: Tally) -> list[list[Found]]:
        """:meth:`find` with routed probes (see the module docstring); the same finds, shard by shard."""
        empty = np.zeros(0, dtype=np.int64)
        routed = self.refs[: self.routed]
        first = np.array([r.first for r in routed] + [routed[-1].first + int(routed[-1].entry["posts"])], dtype=np.int64)
        # (a) seed hits and head shingles, each shingle probed in its part
        probed = self._by_part(_probe_task, sb.hashes)
        at = np.concatenate([back[res[0]] for back, res in probed] + [empty])
        post = np.concatenate([res[1] for _, res in probed] + [empty])
        seed = np.concatenate([res[2] for _, res in probed] + [np.zeros(0, np.uint64)])
        count = np.concatenate([res[3] for _, res in probed] + [np.zeros(0, np.uint8)])
        heads = np.sort(np.concatenate([back[res[4]] for back, res in probed] + [empty]))
        doc = np.searchsorted(sb.offsets, at, side="right") - 1
        pair = (doc.astype(np.uint64) << np.uint64(32)) | post.astype(np.uint64)
        if params.two_seeds_from > 0:
            known, where = np.unique(post, return_index=True)
            seeds_of = count[where]
            pair = held_twice(pair, np.unique(seed, return_inverse=True)[1].astype(np.int64), params.two_seeds_from,
                              lambda p: seeds_of[np.searchsorted(known, p)])
        else:
            pair = sorted_unique(pair)
        docs = (pair >> np.uint64(32)).astype(np.int64)
        posts = (pair & np.uint64(0xFFFFFFFF)).astype(np.int64)
        tally.candidates += len(docs)
        # (b) the exact keys of the batch's short units (records, lines, runs at the heads found), cut by part
        units = short_units(sb, self.short_tokens, heads)
        keys = sequence_keys(sb.token_hashes, units.first, units.count, self.hasher.finish)
        kpart = route_of(keys, self.routes.parts)
        korder = np.argsort(kpart, kind="stable")
        kcuts = np.searchsorted(kpart[korder], np.arange(self.routes.parts + 1))
        keys_of = [korder[kcuts[r]:kcuts[r + 1]] for r in range(self.routes.parts)]
        # (c) the candidate pairs, by the shard of their post (each shard's stay sorted by document, then post)
        shard_of = np.searchsorted(first, posts, side="right") - 1
        by_shard = np.argsort(shard_of, kind="stable")
        docs, posts, shard_of = docs[by_shard], posts[by_shard], shard_of[by_shard]
        cuts = np.searchsorted(shard_of, np.arange(len(routed) + 1))
        pairs_of = [(docs[cuts[s]:cuts[s + 1]], posts[cuts[s]:cuts[s + 1]] - first[s]) for s in range(len(routed))]
        # one task a shard (its part is on the same worker) looks up (b) and verifies (c); later segments'
        # shards are probed whole
        asked = [s for s in range(len(routed)) if len(keys_of[s]) or len(pairs_of[s][0])]
        rest = list(range(len(routed), len(self.refs)))

        def submit(data: Any) -> list[Any]:
            return ([self.client.submit(_second_task, self.routes, s, keys[keys_of[s]], self.refs[s], self.key, params,
                                        data if len(pairs_of[s][0]) else None, *pairs_of[s], workers=[self.owners[s]],
                                        allow_other_workers=True, pure=False) for s in asked]
                    + [self.client.submit(_find_task, self.refs[s], self.key, params, data, workers=[self.owners[s]],
                                          allow_other_workers=True, pure=False) for s in rest])

        results = dict(zip(asked + rest, self._gathered(submit, sb))) if asked or rest else {}
        looked = [(keys_of[s], results[s][0]) for s in asked if results[s][0] is not None]
        unit = np.concatenate([back[res[0]] for back, res in looked] + [empty])
        short_post = np.concatenate([res[1] for _, res in looked] + [empty])
        inline = np.concatenate([res[2] for _, res in looked] + [np.zeros(0, bool)])
        order = np.lexsort((short_post, unit))
        unit, short_post, inline = unit[order], short_post[order], inline[order]
        shard_of_short = np.searchsorted(first, short_post, side="right") - 1
        # the posts of one text that a shard holds (as the shard's own lookup counts them)
        group = unit * len(routed) + shard_of_short
        _, inverse, sizes = np.unique(group, return_inverse=True, return_counts=True)
        same = sizes[inverse]
        keep = (unit < units.n_whole) | inline
        out: list[list[Found]] = []
        for s in range(len(self.refs)):
            found, counted = (results[s][1] if s < len(routed) else results[s]) if s in results else ([], (0, 0, 0))
            tally.candidates += counted[0]
            tally.verified += counted[1]
            tally.aligned += counted[2]
            if s < len(routed):
                mine = np.flatnonzero(keep & (shard_of_short == s))
                found = found + short_found(sb, units, unit[mine], short_post[mine], same[mine])
            out.append(found)
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
