"""Appends as segments: an append writes new files only.

An index appended to holds its posts in *segments*, each a complete index of its own over the posts
added at once (the first segment: the index as built; then one a ``index build --append``)::

    idx/manifest.json          the top manifest (as a sharded index's, :mod:`.shards`): parameters,
                               counts over all posts, and ``shards``: every part of every segment in
                               post order (directory, first post, posts, the sha256 of its manifest,
                               its ``segment``), and ``segments``, their number
    idx/...                    the first segment as it was built: its files, or its shard directories
    idx/segment-0000.json      (an index built unsharded) a copy of its manifest, which ``manifest.json``
                               held before the first append: that segment's part reads this one
    idx/segment-0001/ ...      an index of the posts of the first append, numbered from 0 inside it;
                               its manifest's ``segment`` names its place

*New files only.* An append builds its segment in a temporary directory beside the index, renames it
into the index directory, and then replaces ``manifest.json`` with a new top manifest in one rename:
no file of the index changes, and a process that opened the index before keeps reading its snapshot
(the old top manifest pins the files it reads, which stay as they were).

*Decisions per segment.* Which shingles are frequent (no keys), and the dtypes of the per-post arrays,
are decided over the segment's posts, as in Lucene's segments: a shingle frequent over all posts
but not within a segment stays a key there. A scan matches each part like a shard
(:func:`.shards.shards_of`, posts numbered over all segments, so keyed token codes are those of a
rebuild) and settles what depends on several posts after the parts' finds are put together: the
matches that count are a rebuild's (tested on the planted corpus and benchmark), not its bytes.
``index compact`` merges the segments into the index a build over all posts writes, byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import polars as pl

from ..durable import fsync_dir, remove_stale, sealed_json, sha256_of, temp_prefix, umask
from ..errors import IndexFormatError, InputError, Skipped
from ..io.batch import Batch
from .format import MANIFEST
from .shards import BASE_MANIFEST, ShardedIndex, segment_name, shards_of
from .store import Index

__all__ = ["BASE_MANIFEST", "KnownIds", "install_segment", "part_entries", "segment_count", "segment_place"]


def part_entries(base: "Index | ShardedIndex") -> list[dict[str, Any]]:
    """The ``shards`` entries of ``base``'s parts, each with its ``segment`` (an index never appended
    to is one segment: its shards, or itself through the copy of its manifest)."""
    if isinstance(base, ShardedIndex):
        return [{**e, "segment": int(e.get("segment", 0))} for e in base.manifest["shards"]]
    return [{"segment": 0, "dir": ".", "manifest": BASE_MANIFEST, "first_post": 0, "posts": base.n_posts,
             "manifest_sha256": base.checksum}]


def segment_count(index: "Index | ShardedIndex") -> int:
    """How many segments ``index`` has (1 for an index never appended to)."""
    return int(part_entries(index)[-1]["segment"]) + 1


def segment_place(base: "Index | ShardedIndex") -> dict[str, Any]:
    """The place of the segment an append to ``base`` writes (its entry but the checksum): the next
    segment number, its directory and its first post; ``posts`` is filled in once it is built."""
    s = segment_count(base)
    return {"segment": s, "dir": segment_name(s), "first_post": base.n_posts}


def install_segment(base: "Index | ShardedIndex", built: Path, entry: dict[str, Any], top: dict[str, Any],
                    counts: dict[str, Any]) -> None:
    """Move the sealed segment ``built`` (a directory beside the index) into the index directory as
    ``entry["dir"]``, then replace the top manifest in one rename: ``top`` (the manifest of the whole,
    but its files and counts), with ``counts`` (the new segment's) added to the base's. Only new files
    are written; the base's stay as they are."""
    path = Path(base.path)
    mpath = path / MANIFEST
    for name in (MANIFEST, BASE_MANIFEST):  # what a killed append left
        remove_stale(path, name)
    entries = part_entries(base)
    raw = mpath.read_bytes()
    if hashlib.sha256(raw).hexdigest() != base.checksum:  # (the lock keeps other writers out: a hand edit)
        raise IndexFormatError(f"{mpath}: the index changed after it was opened; nothing appended")
    if not isinstance(base, ShardedIndex):  # the first append to an unsharded index: keep its manifest under another name
        copy = path / BASE_MANIFEST
        if not copy.is_file() or copy.read_bytes() != raw:
            _write_new(copy, raw)
    total = {k: v + counts.get(k, 0) for k, v in base.manifest["counts"].items()}
    total.update({k: v for k, v in counts.items() if k not in total})
    if (path / entry["dir"]).exists():  # a killed append's, never listed in the manifest
        shutil.rmtree(path / entry["dir"])
    os.rename(built, path / entry["dir"])
    fsync_dir(path)
    entries.append(entry)
    routes = {"routes": base.manifest["routes"]} if "routes" in base.manifest else {}  # (they cover the first segment)
    _write_new(mpath, sealed_json({**top, **routes, "counts": total, "files": {}, "shards": entries,
                                   "segments": int(entry["segment"]) + 1}))


def _write_new(target: Path, raw: bytes) -> None:
    """``raw`` as ``target``: written to a new file, fsynced, renamed over ``target`` (whose old
    inode, and what a reader holds of it, stays as it was)."""
    tmp = target.with_name(f"{temp_prefix(target.name)}new.tmp")
    with open(tmp, "wb") as fh:
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o666 & ~umask())
    os.replace(tmp, target)
    fsync_dir(target.parent)


class KnownIds:
    """The post ids of an index appended to, for refusing (or, skipping, leaving out) a new post with
    the id of one of them: their 64-bit hashes sorted, compared exactly where a hash is found."""

    def __init__(self, base: "Index | ShardedIndex") -> None:
        tables = []
        for shard, _ in shards_of(base):
            f = shard.path / "posts.parquet"
            if sha256_of(f) != shard.manifest["files"]["posts.parquet"]["sha256"]:
                raise IndexFormatError(f"{f}: checksum differs from the manifest (damaged or altered index)")
            tables.append(pl.scan_parquet(f))
        self.tables = tables
        self.posts = pl.concat([t.select("post_id") for t in tables]).collect()  # (the places: read on a refusal)
        self.hashes = np.sort(self.posts["post_id"].hash(seed=0).to_numpy())

    def known(self, ids: list[str]) -> np.ndarray:
        """Which of ``ids`` an indexed post has."""
        h = pl.Series(ids, dtype=pl.String).hash(seed=0).to_numpy()
        at = np.minimum(np.searchsorted(self.hashes, h), max(len(self.hashes) - 1, 0))
        maybe = np.flatnonzero(self.hashes[at] == h) if len(self.hashes) else np.zeros(0, dtype=np.int64)
        out = np.zeros(len(ids), dtype=bool)
        if len(maybe):  # (equal hashes of different ids are no duplicates)
            wanted = pl.DataFrame({"post_id": [ids[i] for i in maybe.tolist()]}, schema={"post_id": pl.String})
            hit = wanted.with_row_index("_i").join(self.posts.select("post_id"), on="post_id", how="semi")["_i"]
            out[maybe[hit.to_numpy()]] = True
        return out

    def first_place(self, post_id: str) -> str:
        row = pl.concat([t.select("post_id", "source", "row") for t in self.tables]).filter(
            pl.col("post_id") == post_id).head(1).collect().row(0, named=True)
        return f"{row['source']}:{row['row']}"

    def filter(self, batches: Iterable[Batch], skipped: Skipped | None) -> Iterator[Batch]:
        """``batches`` without the posts whose id the index has: counted in ``skipped`` as
        ``duplicate_id``, or (``skipped`` None) an InputError naming both places."""
        for batch in batches:
            known = self.known(batch.ids)
            if not known.any():
                yield batch
                continue
            for i in np.flatnonzero(known).tolist():
                pid = batch.ids[i]
                if skipped is None:
                    raise InputError(f"{batch.source}:{batch.rows[i]}: duplicate post id {pid!r} "
                                     f"(first at {self.first_place(pid)})")
                skipped.add(InputError(f"{batch.source}:{batch.rows[i]}: duplicate post id {pid!r} (an earlier "
                                       "post has it; this one is left out)", kind="duplicate_id"))
            if not known.all():
                yield batch.subset(np.flatnonzero(~known).tolist())
