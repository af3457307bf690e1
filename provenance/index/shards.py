"""A sharded index: the posts cut into ``N`` contiguous ranges, each range a complete index of its own.

Layout::

    idx/manifest.json        the usual manifest (parameters, counts over all posts, key fingerprint),
                             with ``shards``: each shard's directory, first post, posts and the
                             sha256 of its manifest (so the top manifest pins every file of every shard)
    idx/shard-0000/ ...      an index directory (see :mod:`.format`) of posts ``first .. first+posts-1``,
                             numbered from 0 inside it; its manifest's ``shard`` names its place

*Why by post, not by key hash.* A candidate pair is verified against the post's own shingle ids and
token codes. With the posts cut into ranges, a shard holds the keys *and* the verification data of
its posts: a document is matched against each shard where it is (a shard is the whole pipeline for
its posts), and only the found pairs travel back. Cut by key hash instead, every candidate pair
would need a second exchange to fetch its post's data from wherever that lives. A distributed scan
makes that exchange anyway, to probe each document shingle once: the routes (:mod:`.routes`) hold
the probe tables cut by key hash beside the shards, which verify the candidate pairs sent to them.

*Same results as one index.* Every shard is cut from the index built over all posts, so the
global decisions stay global: a shingle is frequent (no key) when more than ``max_key_posts`` of
*all* posts hold it, and a post's counts are those of the whole build. Matching one pair depends
only on that pair's document and post; what depends on several posts of a document (a short post
inside another post's copy, the share of characters covered, the posts that share a phrase) is
decided after the shards' finds are put together (:mod:`provenance.api`). A one-shard split is the
index itself, byte for byte (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl
from numpy.typing import NDArray

from ..durable import fsync_dir
from ..errors import IndexFormatError, ParameterError
from ..keys import Key
from ..params import IndexParams
from ..arrays import sorted_unique
from .spill import KeyWriter, NpyWriter
from .format import MANIFEST, POST_TEXTS, post_facts
from .lookup import KeyRows
from .routes import RouteRef, routes_ref
from .seeds import SEED_ARRAYS, seed_rows_of
from .store import Index, KeyedByManifest

__all__ = ["BASE_MANIFEST", "MAX_SHARDS", "segment_name", "ShardRef", "ShardedIndex", "shard_bounds", "shards_of", "write_shards"]

MAX_SHARDS = 4096


def shard_bounds(n_posts: int, shards: int) -> NDArray[np.int64]:
    """The first post of each of ``shards`` ranges of (nearly) equal size, and ``n_posts`` last."""
    return (np.arange(shards + 1, dtype=np.int64) * n_posts) // shards


def shard_name(i: int) -> str:
    return f"shard-{i:04d}"


def segment_name(s: int) -> str:
    """The directory of segment ``s`` > 0 of an index appended to (:mod:`.segments`)."""
    return f"segment-{s:04d}"


BASE_MANIFEST = "segment-0000.json"
"""The manifest of an index built unsharded, once appended to (its first segment, :mod:`.segments`)."""


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _placed(entries: list[Any], i: int) -> bool:
    """Whether entry ``i`` of a top manifest's shard list is where its segment puts it: the first
    segment's shards named in order (or the first segment itself, built unsharded, through its manifest's
    copy), then one directory a later segment, in order (:mod:`.segments`)."""
    e, seg = entries[i], entries[i].get("segment", 0)
    before = entries[i - 1].get("segment", 0) if i else 0
    if not _count(seg) or not (seg == before or (seg == before + 1 and i)):
        return False
    if seg > 0:
        return e.get("dir") == segment_name(seg) and "manifest" not in e and seg == before + 1
    if "manifest" in e:
        return len(entries) > 1 and i == 0 and e.get("dir") == "." and e["manifest"] == BASE_MANIFEST
    return e.get("dir") == shard_name(i)


# -- writing ---------------------------------------------------------------------------------------

class _ShardWriter:
    """The files of one shard (posts ``a .. b-1`` of ``whole``) in directory ``out``."""

    def __init__(self, whole: Index, out: Path, a: int, b: int) -> None:
        self.whole, self.out, self.a, self.b = whole, out, a, b
        out.mkdir()

    def save(self, name: str, values: NDArray) -> None:
        np.save(self.out / f"{name}.npy", np.ascontiguousarray(values), allow_pickle=False)

    def writer(self, name: str, like: NDArray) -> NpyWriter:
        return NpyWriter(self.out / f"{name}.npy", like.dtype, like.shape[1:])

    def per_post(self, step: int) -> None:
        """Per-post arrays and the concatenated per-post sequences, rebased to the shard's first post."""
        w, a, b = self.whole, self.a, self.b
        for name in ("post_kind", "post_flags", "post_date", "post_tokens", "post_distinct", "post_frequent",
                     "post_head_frequent"):
            self.save(name, getattr(w, name)[a:b])
        if w.signatures is not None:
            self.save("signatures", w.signatures[a:b])
        sequences = [("shingle_offsets", ["shingle_ids"] + (["shingles"] if w.shingles is not None else [])),
                     ("code_offsets", ["token_codes"]), ("frequent_offsets", ["frequent_hashes", "frequent_pos"])]
        for offsets_name, names in sequences:
            offsets = getattr(w, offsets_name)
            lo, hi = int(offsets[a]), int(offsets[b])
            if offsets_name == "frequent_offsets":  # (the others are made from the token counts on opening)
                self.save(offsets_name, (np.asarray(offsets[a : b + 1]) - offsets[a]).astype(offsets.dtype))
            for name in names:
                data = getattr(w, name)
                out = self.writer(name, data)
                for i in range(lo, hi, step):
                    out.append(data[i : min(i + step, hi)])
                out.close()
        # The frequent shingles this shard's posts hold (all of them are frequent over all posts).
        self.save("frequent", sorted_unique(np.asarray(w.frequent_hashes[w.frequent_offsets[a] : w.frequent_offsets[b]])))

    def short_posts(self, head_keys: NDArray[np.uint64]) -> None:
        w, a, b = self.whole, self.a, self.b
        mine = (w.short_posts >= a) & (w.short_posts < b)
        self.save("short_keys", w.short_keys[mine])
        self.save("short_posts", (w.short_posts[mine] - a).astype(w.short_posts.dtype))
        self.save("short_heads", sorted_unique(head_keys[head_keys != 0]))
        if w.lsh_keys is not None:
            mine = (w.lsh_posts >= a) & (w.lsh_posts < b)  # (bands, posts): each band keeps its order
            bands = w.lsh_keys.shape[0]
            self.save("lsh_keys", w.lsh_keys[mine].reshape(bands, b - a))
            self.save("lsh_posts", (w.lsh_posts[mine] - a).astype(w.lsh_posts.dtype).reshape(bands, b - a))


def _split_postings(whole: Index, writers: list[_ShardWriter], bounds: NDArray[np.int64], step: int) -> list[int]:
    """The keys, key_multi, key_multi_ends, key_posts and key_pos of every shard, in one pass over the
    postings (a key goes to the shards that hold one of its posts). Returns each shard's key count."""
    w = whole
    n = len(writers)
    out = [{name: wr.writer(name, getattr(w, name)) for name in ("key_multi", "key_multi_ends", "key_posts", "key_pos")}
           for wr in writers]
    keys_out = [KeyWriter(wr.writer("key_hi", w.key_hi), wr.writer("key_lo", w.key_lo)) for wr in writers]
    totals = [0] * n
    for j0 in range(0, len(w.keys), step):
        j1 = min(j0 + step, len(w.keys))
        ko = w.key_index.offsets(j0, j1)
        r0, r1 = int(ko[0]), int(ko[-1])
        posts = np.asarray(w.key_posts[r0:r1])
        pos = np.asarray(w.key_pos[r0:r1])
        key_of = np.repeat(np.arange(j0, j1), np.diff(ko))
        values = w.keys[j0:j1]
        shard = np.searchsorted(bounds, posts, side="right") - 1
        for s in range(n):
            rows = np.flatnonzero(shard == s)
            if not len(rows):
                continue
            k = key_of[rows]
            starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
            files = out[s]
            multi, ends = KeyRows.of_run(starts, len(rows), keys_out[s].rows, totals[s])
            keys_out[s].append(values[k[starts] - j0])
            files["key_multi"].append(multi)
            files["key_multi_ends"].append(ends)
            files["key_posts"].append((posts[rows] - bounds[s]).astype(w.key_posts.dtype))
            files["key_pos"].append(pos[rows])
            totals[s] += len(rows)
    counts = []
    for s, files in enumerate(out):
        for f in files.values():
            f.close()
        keys_out[s].close(writers[s].out / "key_counts.npy")
        counts.append(keys_out[s].rows)
    return counts


def _split_seeds(whole: Index, writers: list[_ShardWriter], bounds: NDArray[np.int64], step: int) -> list[int]:
    """The seed_keys, seed_ends and seed_posts of every shard (a seed goes to the shards that hold one
    of its posts). Returns each shard's seed rows."""
    out = [{name: wr.writer(name, getattr(whole, name)) for name in SEED_ARRAYS} for wr in writers]
    totals = [0] * len(writers)
    n_keys = len(whole.seed_keys)
    for j0 in range(0, n_keys, step):
        j1 = min(j0 + step, n_keys)
        r0 = int(whole.seed_ends[j0 - 1]) if j0 else 0
        ends = np.asarray(whole.seed_ends[j0:j1]).astype(np.int64)
        posts = np.asarray(whole.seed_posts[r0 : int(ends[-1])])
        hashes = np.repeat(np.asarray(whole.seed_keys[j0:j1]), np.diff(np.r_[r0, ends]))
        shard = np.searchsorted(bounds, posts, side="right") - 1
        for s, files in enumerate(out):
            rows = np.flatnonzero(shard == s)
            keys, key_ends = seed_rows_of(hashes[rows])
            files["seed_keys"].append(keys)
            files["seed_ends"].append(key_ends + totals[s])
            files["seed_posts"].append((posts[rows] - bounds[s]).astype(whole.seed_posts.dtype))
            totals[s] += len(rows)
    for files in out:
        for f in files.values():
            f.close()
    return totals


def write_shards(whole: Index, out: Path, shards: int, write_manifest: Callable[[Path, dict[str, Any]], str],
                 memory_limit: int) -> list[dict[str, Any]]:
    """Cut the index ``whole`` into ``shards`` shard directories inside ``out`` (an empty directory).
    ``write_manifest(dir, shard_entry)`` seals one shard's manifest and returns its sha256. Returns
    the ``shards`` entries of the top manifest."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ParameterError(f"shards (--shards) must be between 1 and {MAX_SHARDS}, got {shards}")
    if shards > whole.n_posts:
        raise ParameterError(f"{shards} shards for {whole.n_posts} posts: at most one shard a post")
    bounds = shard_bounds(whole.n_posts, shards)
    step = max(memory_limit // 64, 1 << 16)
    writers = [_ShardWriter(whole, out / shard_name(s), int(bounds[s]), int(bounds[s + 1])) for s in range(shards)]
    posts = pl.scan_parquet(whole.path / "posts.parquet")
    texts = pl.scan_parquet(whole.path / POST_TEXTS) if (whole.path / POST_TEXTS).is_file() else None
    for wr in writers:
        wr.per_post(step)
        part = posts.slice(wr.a, wr.b - wr.a).collect().rechunk()  # (in one piece: the bytes follow the rows)
        part.write_parquet(wr.out / "posts.parquet", statistics=True)
        if texts is not None:  # each shard keeps its own posts' texts
            texts.slice(wr.a, wr.b - wr.a).collect().rechunk().write_parquet(wr.out / POST_TEXTS, statistics=True)
        wr.short_posts(part["head_key"].to_numpy().astype(np.uint64))
    n_keys = _split_postings(whole, writers, bounds, step)
    n_seeds = _split_seeds(whole, writers, bounds, step)
    entries = []
    for s, wr in enumerate(writers):
        distinct, frequent = np.asarray(whole.post_distinct[wr.a : wr.b]), np.asarray(whole.post_frequent[wr.a : wr.b])
        kinds = np.bincount(np.asarray(whole.post_kind[wr.a : wr.b]), minlength=3)
        counts = {"posts": wr.b - wr.a, "shingled_posts": int(kinds[0]), "short_posts": int(kinds[1]),
                  "empty_posts": int(kinds[2]), "shingles": int(whole.shingle_offsets[wr.b] - whole.shingle_offsets[wr.a]),
                  "keys": n_keys[s], "seeds": n_seeds[s], "frequent_shingles": int(np.load(wr.out / "frequent.npy", mmap_mode="r", allow_pickle=False).shape[0]),
                  "posts_with_only_frequent_shingles": int(((distinct > 0) & (frequent == distinct)).sum()),
                  **post_facts(whole.post_flags[wr.a : wr.b], whole.post_date[wr.a : wr.b])}
        entry = {"index": s, "of": shards, "dir": shard_name(s), "first_post": wr.a, "posts": wr.b - wr.a}
        entry["manifest_sha256"] = write_manifest(wr.out, {**entry, "counts": counts})
        entries.append(entry)
    fsync_dir(out)
    return entries


# -- reading ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShardRef:
    """Where one shard is and what it must be: enough for a worker to open it (and only it)."""

    path: str
    entry: dict[str, Any] = field(compare=False, hash=False)  # its entry in the top manifest
    checksum: str = ""  # the sha256 of its manifest that the top manifest pins

    @property
    def first(self) -> int:
        return int(self.entry["first_post"])


@dataclass
class ShardedIndex(KeyedByManifest):
    """An opened sharded index: the top manifest and its shards (each an :class:`Index` numbering its
    posts from 0; shard ``s`` holds the posts ``first[s] ..``). It answers what a scan asks of the
    whole index (post count, kinds, ids, key, parameters); matching goes shard by shard (:func:`shards_of`)."""

    path: Path
    params: IndexParams
    manifest: dict[str, Any]
    shards: list[Index]
    """The opened shards; empty for an index opened ``with_shards=False`` (what a Dask worker that
    reads documents needs: parameters and key, no posts)."""
    first: NDArray[np.int64]
    refs: list[ShardRef]
    key: Key | None = field(default=None, repr=False, compare=False)
    routes: RouteRef | None = None
    """The probe tables of the first segment's shards cut by key (:mod:`.routes`); None in an index
    without them."""
    routed_shards: int = 0
    """How many of ``refs`` (the first ones: the first segment's shards) the routes cover."""
    _route_check: Any = field(default=None, repr=False, compare=False)  # (the routes' checksums, verify="background")

    def use_key(self, key: "Key | bytes | None") -> "ShardedIndex":
        super().use_key(key)
        for s in self.shards:
            s.key = self.key
        return self

    def require_sketches(self) -> None:
        if self.shards:
            self.shards[0].require_sketches()

    def wait_verified(self) -> None:
        for s in self.shards:
            s.wait_verified()
        pending, self._route_check = self._route_check, None
        if pending is not None:
            pending.result()

    @property
    def n_posts(self) -> int:
        return int(self.first[-1])

    @property
    def checksum(self) -> str:
        return self.manifest.get("manifest_sha256", "")

    @cached_property
    def post_kind(self) -> NDArray[np.uint8]:
        return np.concatenate([np.asarray(s.post_kind) for s in self.shards])

    @cached_property
    def post_flags(self) -> NDArray[np.uint8]:
        return np.concatenate([np.asarray(s.post_flags) for s in self.shards])

    @cached_property
    def post_date(self) -> NDArray[np.uint16]:
        return np.concatenate([np.asarray(s.post_date) for s in self.shards])

    @cached_property
    def posts(self) -> pl.DataFrame:
        return pl.concat([s.posts for s in self.shards], how="diagonal_relaxed")  # (segments: own meta columns)

    def post_ids(self, posts: NDArray[np.int64]) -> pl.Series:
        """The ``post_id`` of each (global) post number in ``posts``, read from the shards that hold them."""
        posts = np.asarray(posts, dtype=np.int64)
        shard = self.shard_of(posts)
        ids = np.empty(len(posts), dtype=object)
        for s in np.unique(shard).tolist():
            at = np.flatnonzero(shard == s)
            ids[at] = self.shards[s].post_ids(posts[at] - self.first[s]).to_numpy()
        return pl.Series("post_id", ids, dtype=pl.String)

    def shard_of(self, posts: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.searchsorted(self.first, np.asarray(posts, dtype=np.int64), side="right") - 1


def shards_of(index: "Index | ShardedIndex") -> list[tuple[Index, int]]:
    """``(shard, number of its first post)`` for every shard; an unsharded index is one shard."""
    if isinstance(index, ShardedIndex):
        return [(s, int(f)) for s, f in zip(index.shards, index.first[:-1].tolist())]
    return [(index, 0)]


def open_shards(path: Path, manifest: dict[str, Any], params: IndexParams, key: Key | None,
                open_one: Callable[..., Index], verify: bool | str, with_shards: bool = True) -> ShardedIndex:
    """The shards listed in the (checked) top ``manifest`` at ``path``, each opened with ``open_one``
    and checked against the sha256 the top manifest pins for it (none opened without ``with_shards``)."""
    entries = manifest.get("shards")
    if not isinstance(entries, list) or not entries:
        raise IndexFormatError(f"{path / MANIFEST}: damaged shard list")
    shards, first, refs = [], [0], []
    for i, e in enumerate(entries):
        if not (isinstance(e, dict) and e.get("first_post") == first[-1] and _count(e.get("posts")) and e["posts"] > 0
                and _placed(entries, i)):
            raise IndexFormatError(f"{path / MANIFEST}: damaged shard list (entry {i})")
        refs.append(ShardRef(str((path / e["dir"]).resolve()), dict(e), str(e.get("manifest_sha256", ""))))
        first.append(first[-1] + e["posts"])
        if not with_shards:
            continue
        shard = open_one(path / e["dir"], verify=verify, key=key, shard=e)
        if shard.checksum != e.get("manifest_sha256"):
            raise IndexFormatError(f"{path / e['dir'] / MANIFEST}: checksum differs from the manifest (damaged or altered index)")
        if shard.params != params or shard.n_posts != e["posts"]:
            raise IndexFormatError(f"{path / e['dir']}: shard {i} does not match the manifest (damaged or altered index)")
        shards.append(shard)
    segments = int(entries[-1].get("segment", 0)) + 1
    said = manifest.get("segments", 1)
    if not _count(said) or said != segments:
        raise IndexFormatError(f"{path / MANIFEST}: segments is {manifest.get('segments')!r}, the shard list holds "
                               f"{segments} (damaged or altered manifest)")
    if first[-1] != manifest.get("counts", {}).get("posts"):
        raise IndexFormatError(f"{path / MANIFEST}: the shards hold {first[-1]} posts, the manifest says "
                               f"{manifest.get('counts', {}).get('posts')}")
    routes, routed, route_check = None, 0, None
    if "routes" in manifest:
        routed = sum(1 for e in entries if e.get("segment", 0) == 0 and "manifest" not in e)
        if routed == 0:
            raise IndexFormatError(f"{path / MANIFEST}: routes without shards to route to (damaged or altered manifest)")
        routes, route_check = routes_ref(path, manifest["routes"], int(first[routed]), verify)
        if routes.parts != routed:  # (part r is verified beside shard r: one a shard)
            raise IndexFormatError(f"{path / MANIFEST}: {routes.parts} route parts for {routed} shards (damaged or altered manifest)")
    return ShardedIndex(path, params, manifest, shards, np.array(first, dtype=np.int64), refs, key=key, routes=routes,
                        routed_shards=routed, _route_check=route_check)

