"""Routes: the probe tables of a sharded index cut by key instead of by post (format 18).

A shard holds its posts' verification data (their shingles, token codes, counts) *and* the keys that
find them: a scan that sends every document shingle to every shard probes each shingle once per
shard, so its probe work per GB grows with the number of shards. The routes hold what a probe reads,
for all posts, cut into ``parts`` ranges of key hash (part ``r`` holds the hashes whose top 32 bits,
times ``parts``, have ``r`` above bit 32: :func:`route_of`): a document shingle goes to the one part
that can hold it, whatever the number of shards, and only the candidate pairs it finds go on, each to
the shard of its post, to be verified there (:mod:`provenance.scanner.dask_shards`).

Layout (``routes/`` in the directory of a sharded index, pinned by the top manifest's ``routes``:
its directory, its part count and the sha256 of ``routes/manifest.json``, which pins every file)::

    routes/manifest.json          format, parts, posts, and each file's sha256 and size
    routes/part-0000/seed_keys.npy      uint64, sorted, distinct: the part's seeds (:mod:`.seeds`)
    routes/part-0000/seed_ends.npy      int64: the row after each seed's last post
    routes/part-0000/seed_posts.npy     the seeds' posts, numbered over the whole index (uint32 while
                                        they fit, else uint64), increasing within a seed
    routes/part-0000/seed_counts.npy    uint8: each row's post's number of seeds (the two-seeds rule)
    routes/part-0000/short_keys.npy     uint64, sorted: the exact keys of short posts in the part
    routes/part-0000/short_posts.npy    their posts (as ``seed_posts``), increasing within a key
    routes/part-0000/short_inline.npy   bool: the post is also matched inside sentences (it has a head)
    routes/part-0000/short_heads.npy    uint64, sorted, distinct: short posts' head shingles

Every row comes from the shards' own tables (a seed of a post is the same seed whether it is looked up
in its shard or in its part), so a routed scan finds the candidate pairs a scan of every shard finds:
the same results (tested). The routes cover the shards of the index as built (its first segment);
an append's segment is one directory and is probed as a whole.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from ..arrays import expand_ranges
from ..durable import BackgroundCheck, DamagedFile, fsync_dir, sealed_json, sha256_of, unseal
from ..errors import IndexFormatError
from .lookup import KeyFilter, find_in
from .seeds import SeedTable, seed_rows_of
from .store import Index

__all__ = ["ROUTES", "ROUTE_ARRAYS", "RouteRef", "RoutePart", "route_of", "write_routes", "routes_ref"]

ROUTES = "routes"
ROUTE_FORMAT = "provenance-routes"
ROUTE_ARRAYS = ("seed_keys", "seed_ends", "seed_posts", "seed_counts", "short_keys", "short_posts", "short_inline",
                "short_heads")


def route_of(hashes: NDArray[np.uint64], parts: int) -> NDArray[np.int64]:
    """The part of each hash: ``(top 32 bits x parts) >> 32``, increasing with the hash (a range cut)."""
    return ((np.asarray(hashes, dtype=np.uint64) >> np.uint64(32)) * np.uint64(parts) >> np.uint64(32)).astype(np.int64)


def part_name(r: int) -> str:
    return f"part-{r:04d}"


def _cuts(sorted_hashes: NDArray[np.uint64], parts: int) -> NDArray[np.int64]:
    """Where each part's hashes start in a sorted table, and its length last."""
    return np.searchsorted(route_of(sorted_hashes, parts), np.arange(parts + 1), side="left")


def _seed_rows(shard: Index, first: int, lo: int, hi: int) -> tuple[NDArray, NDArray, NDArray]:
    """(hash, global post, the post's seed count) of the rows of seed keys ``lo .. hi-1`` of ``shard``."""
    start, counts = shard.seeds.rows(np.arange(lo, hi))
    local = np.asarray(shard.seed_posts[expand_ranges(start, counts)]).astype(np.int64)
    return (np.repeat(np.asarray(shard.seed_keys[lo:hi]), counts), local + first,
            np.asarray(shard.post_seeds)[local].astype(np.uint8))


def _by_hash_then_post(hashes: NDArray[np.uint64], posts: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.lexsort((posts, hashes))


def write_routes(out: Path, parts_of: Sequence[tuple[Index, int]], parts: int, n_posts: int) -> dict[str, Any]:
    """Write ``out/routes`` for the index whose parts (each an index and the number of its first post)
    are ``parts_of`` (the whole index, or its shards in order), cut into ``parts`` key ranges; returns
    the top manifest's ``routes`` entry. The bytes depend only on the posts, not on how they are cut."""
    root = out / ROUTES
    root.mkdir()
    post_dtype = np.uint32 if n_posts <= 2**32 else np.uint64
    seed_cuts = [_cuts(np.asarray(s.seed_keys), parts) for s, _ in parts_of]
    short_cuts = [_cuts(np.asarray(s.short_keys), parts) for s, _ in parts_of]
    head_cuts = [_cuts(np.asarray(s.short_heads), parts) for s, _ in parts_of]
    inline = [np.asarray(s.head_keys)[np.asarray(s.short_posts).astype(np.int64)] != 0 if len(s.short_posts)
              else np.zeros(0, dtype=bool) for s, _ in parts_of]
    files: dict[str, dict[str, Any]] = {}
    for r in range(parts):
        d = root / part_name(r)
        d.mkdir()
        rows = [_seed_rows(s, first, int(c[r]), int(c[r + 1])) for (s, first), c in zip(parts_of, seed_cuts)]
        h, p, n = (np.concatenate([x[i] for x in rows]) for i in range(3))
        order = _by_hash_then_post(h, p)
        keys, ends = seed_rows_of(h[order])
        arrays: dict[str, NDArray] = {"seed_keys": keys, "seed_ends": ends.astype(np.int64),
                                      "seed_posts": p[order].astype(post_dtype), "seed_counts": n[order].astype(np.uint8)}
        sk = np.concatenate([np.asarray(s.short_keys[c[r]:c[r + 1]]) for (s, _), c in zip(parts_of, short_cuts)])
        sp = np.concatenate([np.asarray(s.short_posts[c[r]:c[r + 1]]).astype(np.int64) + first
                             for (s, first), c in zip(parts_of, short_cuts)])
        si = np.concatenate([f[c[r]:c[r + 1]] for f, c in zip(inline, short_cuts)])
        order = _by_hash_then_post(sk, sp)
        arrays.update(short_keys=sk[order].astype(np.uint64), short_posts=sp[order].astype(post_dtype),
                      short_inline=si[order].astype(bool))
        heads = np.concatenate([np.asarray(s.short_heads[c[r]:c[r + 1]]) for (s, _), c in zip(parts_of, head_cuts)])
        arrays["short_heads"] = np.unique(heads).astype(np.uint64)
        for name in ROUTE_ARRAYS:
            f = d / f"{name}.npy"
            np.save(f, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
            files[f"{part_name(r)}/{name}.npy"] = {"sha256": sha256_of(f), "bytes": f.stat().st_size}
        fsync_dir(d)
    manifest = {"format": ROUTE_FORMAT, "parts": parts, "posts": n_posts, "files": files}
    with open(root / "manifest.json", "wb") as fh:
        fh.write(sealed_json(manifest))
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(root)
    return {"dir": ROUTES, "parts": parts, "manifest_sha256": sha256_of(root / "manifest.json")}


@dataclass(frozen=True)
class RouteRef:
    """Where a sharded index's routes are and what their manifest must be: enough for a worker to open
    one part (and only it)."""

    path: str
    parts: int
    checksum: str
    bytes: int = 0  # of the files the routes' manifest lists


def routes_ref(index_path: Path, entry: Any, n_posts: int, verify: bool | str) -> tuple[RouteRef, BackgroundCheck | None]:
    """The checked ``routes`` entry of a top manifest: its manifest's sha256, part count and posts, every
    file's size, and (``verify``) every file's sha256, in a thread with ``verify="background"`` (its
    check returned, as :func:`~.load.open_index` does for the index's own files)."""
    mpath = index_path / "manifest.json"
    if not (isinstance(entry, dict) and entry.get("dir") == ROUTES and isinstance(entry.get("parts"), int)
            and not isinstance(entry.get("parts"), bool) and entry["parts"] >= 1
            and isinstance(entry.get("manifest_sha256"), str) and len(entry["manifest_sha256"]) == 64):
        raise IndexFormatError(f"{mpath}: damaged routes entry")
    root = index_path / ROUTES
    manifest = _route_manifest(root, entry["manifest_sha256"])
    if manifest.get("parts") != entry["parts"] or manifest.get("posts") != n_posts:
        raise IndexFormatError(f"{root / 'manifest.json'}: parts or posts differ from {mpath} (damaged or altered index)")
    wanted = {f"{part_name(r)}/{name}.npy" for r in range(entry["parts"]) for name in ROUTE_ARRAYS}
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != wanted:
        raise IndexFormatError(f"{root / 'manifest.json'}: damaged file list")
    for name, f in sorted(files.items()):
        _check_file(root / name, f, verify=False)
    check = None
    if verify == "background":
        check = BackgroundCheck(_check_checksums, root, files)
    elif verify:
        _check_checksums(root, files)
    return RouteRef(str(root.resolve()), int(entry["parts"]), entry["manifest_sha256"],
                    sum(int(f["bytes"]) for f in files.values())), check


def _check_checksums(root: Path, files: dict[str, Any]) -> None:
    for name, f in sorted(files.items()):
        _check_file(root / name, f, verify=True)


def _route_manifest(root: Path, checksum: str) -> dict[str, Any]:
    mpath = root / "manifest.json"
    try:
        raw = mpath.read_bytes()
    except OSError as e:
        raise IndexFormatError(f"{mpath}: cannot read the routes' manifest ({e.strerror or e})") from None
    if hashlib.sha256(raw).hexdigest() != checksum:
        raise IndexFormatError(f"{mpath}: checksum differs from the index's manifest (damaged or altered index)")
    try:
        manifest = unseal(raw, mpath, "routes manifest")
    except DamagedFile as e:
        raise IndexFormatError(str(e)) from None
    if manifest.get("format") != ROUTE_FORMAT:
        raise IndexFormatError(f"{mpath}: not a routes manifest")
    return manifest


def _check_file(f: Path, entry: Any, verify: bool) -> None:
    if not isinstance(entry, dict) or not f.is_file() or f.stat().st_size != entry.get("bytes"):
        raise IndexFormatError(f"{f}: missing, or its size differs from the routes' manifest (damaged or altered index)")
    if verify and sha256_of(f) != entry.get("sha256"):
        raise IndexFormatError(f"{f}: checksum differs from the routes' manifest (damaged or altered index)")


class RoutePart:
    """One part of the routes, memory-mapped: what a probe of a document shingle (or a short unit's
    exact key) in its key range finds, over all posts."""

    def __init__(self, ref: RouteRef, r: int) -> None:
        if not 0 <= r < ref.parts:
            raise IndexFormatError(f"{ref.path}: no route part {r} of {ref.parts}")
        root = Path(ref.path)
        files = _route_manifest(root, ref.checksum)["files"]
        self.r, self.parts = r, ref.parts
        arrays = {}
        for name in ROUTE_ARRAYS:
            f = root / part_name(r) / f"{name}.npy"
            _check_file(f, files.get(f"{part_name(r)}/{name}.npy"), verify=False)
            arrays[name] = np.asarray(np.load(f, mmap_mode="r", allow_pickle=False))
        self.a = arrays

    @cached_property
    def _seeds(self) -> SeedTable:
        return SeedTable(self.a["seed_keys"], self.a["seed_ends"], self.a["seed_posts"], ranged=True)

    @cached_property
    def _head_filter(self) -> KeyFilter:
        return KeyFilter.of(self.a["short_heads"], ranged=True)

    def made_bytes(self) -> int:
        """Bytes this part made in memory when first used (its seeds' and heads' filters and search
        buckets), resident beside its mapped files' pages."""
        d = self.__dict__
        made = d["_seeds"].made_bytes() if "_seeds" in d else 0
        if "_head_filter" in d:
            made += d["_head_filter"].made_bytes()
        return made

    def seeds(self, hashes: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.uint8]]:
        """The hits of ``hashes`` on this part's seeds: for each (hash, post) hit, the hash's index in
        ``hashes``, the post, the seed (its number in this part) and the post's number of seeds."""
        at, key = self._seeds.find(hashes)
        start, counts = self._seeds.rows(key)
        rows = expand_ranges(start, counts)
        return (np.repeat(at, counts), self.a["seed_posts"][rows].astype(np.int64), np.repeat(key, counts),
                self.a["seed_counts"][rows])

    def heads(self, hashes: NDArray[np.uint64]) -> NDArray[np.int64]:
        """The indices (increasing) of ``hashes`` that are a short post's head shingle."""
        if not len(self.a["short_heads"]):
            return np.zeros(0, dtype=np.int64)
        return find_in(self.a["short_heads"], self._head_filter, hashes)[0]

    def short(self, keys: NDArray[np.uint64]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
        """The short posts of each exact key in ``keys``: (the key's index in ``keys``, the post, whether the
        post is matched inside sentences), by key index, then post."""
        table = self.a["short_keys"]
        lo = np.searchsorted(table, keys, side="left")
        hi = np.searchsorted(table, keys, side="right")
        at = expand_ranges(lo, hi - lo)
        return (np.repeat(np.arange(len(keys), dtype=np.int64), hi - lo), self.a["short_posts"][at].astype(np.int64),
                self.a["short_inline"][at].astype(bool))

