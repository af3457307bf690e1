"""Building a sharded index on a Dask distributed cluster, file for file what a build in one process
writes (:func:`build_on_dask`).

A build in one process streams every post through one :class:`~.build.Builder` and cuts the finished
index into shards. On Dask the same index comes from five rounds of tasks, each a pure function of
files in a work directory inside the new index's temporary directory (so the index's path must be
one every worker can read and write, as for a scan on Dask):

1. one *part task* per input part (a file, or a part of a large uncompressed one) reads its posts and
   runs the text stage (:func:`.prepare.prepare_posts`); it stores the prepared posts, their distinct
   ``(shingle, post)`` postings sorted by shingle hash, and their id hashes, sorted;
2. one *id task* per range of id hashes finds the post ids that more than one post has (the build then
   stops naming both places or, with ``on_error="skip"``, leaves the later posts out);
3. one *count task* per range of shingle hashes counts the posts that hold each shingle over all
   posts: the frequent shingles (more than ``max_key_posts`` posts), the one decision that needs
   every post;
4. one *shard task* per shard feeds its range of posts to a Builder told those global facts
   (:class:`~.build.WholeFacts`), which writes the files a cut of the whole index would;
5. one *seal task* per shard stores its per-post counts in the dtype the largest value over all shards
   needs, and seals the shard's manifest.

The frequent shingles stay in the work directory (a sorted file a range, which shard tasks search
where it lies); only counts and small lists travel to the client, which writes the top manifest.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import polars as pl
from numpy.typing import NDArray

from ..arrays import expand_ranges, narrowest_uint, stable_argsort
from ..errors import InputError, ParameterError, Skipped
from ..io import InputFile, file_size
from ..keys import Key
from ..params import IndexParams
from ..text.shingles import TokenHasher
from .build import NARROWED, Builder, WholeFacts
from .format import POST_TEXTS, SHINGLED, UNATTRIBUTABLE
from .lookup import KeyFilter
from .prepare import PreparedPosts, prepare_posts
from .shards import MAX_SHARDS, shard_bounds, shard_name
from .manifest import seal_manifest, write_top_manifest
from .routes import write_routes
from .spill import NpyWriter, copy_narrow

__all__ = ["build_on_dask"]

_PAIR = np.dtype([("h", "<u8"), ("p", "<u4")])
_ARRAYS = (("kind", np.uint8), ("n_tokens", np.int64), ("exact", np.uint64), ("heads", np.uint64),
           ("lengths", np.int64), ("shingles", np.uint64), ("token_hashes", np.uint64), ("flags", np.uint8),
           ("days", np.uint16))
"""What a part task stores of its prepared posts (:class:`~.prepare.PreparedPosts`), one .npy each."""
_TOP_BITS = 16  # hash ranges are cut on the top bits of the hashes


# -- 1. parts ------------------------------------------------------------------------------------

def _pairs_by_hash(h: NDArray[np.uint64], p: NDArray[np.uint32], distinct: bool = False) -> NDArray:
    """The records ``(h, p)``, ``p`` not decreasing, sorted by hash then ``p`` (each pair once with
    ``distinct``)."""
    order = stable_argsort(h)  # (stable: p stays in order among equal hashes)
    h, p = h[order], p[order]
    if distinct and len(h):
        first = np.r_[True, (h[1:] != h[:-1]) | (p[1:] != p[:-1])]
        h, p = h[first], p[first]
    recs = np.empty(len(h), dtype=_PAIR)
    recs["h"], recs["p"] = h, p
    return recs


def _part_task(file: InputFile, work: str, params: IndexParams, key: Key | None, text_field: str,
               id_field: str | None, meta_fields: Sequence[str], skip: bool, keep_text: bool,
               batch_size: int, posts_from_names: bool = False, date_field: str | None = None) -> dict[str, Any]:
    """Round 1: read one input part and store its prepared posts in the directory ``work`` (the postings
    of the posts that hold keys: an unattributable post has none)."""
    from ..io import read_batches

    d = Path(work)
    shutil.rmtree(d, ignore_errors=True)  # (what an earlier try of this task left)
    d.mkdir(parents=True)
    skipped = Skipped() if skip else None
    hasher = TokenHasher(params.seed, key=key)
    writers = {name: NpyWriter(d / f"{name}.npy", dtype) for name, dtype in _ARRAYS}
    frames, texts, fallback = [], [], []
    hashes: dict[str, list[NDArray]] = {"postings": [], "ids": []}
    posts: dict[str, list[NDArray]] = {"postings": [], "ids": []}
    n = 0
    for batch in read_batches([file], text_field, id_field, skipped=skipped, meta_fields=list(meta_fields),
                              batch_size=batch_size, posts_from_names=posts_from_names):
        prep = prepare_posts(batch, params, hasher, date_field)
        for name, _ in _ARRAYS:
            writers[name].append(getattr(prep, name))
        numbers = np.arange(n, n + len(prep), dtype=np.uint32)
        keyed = np.repeat((prep.flags & UNATTRIBUTABLE) == 0, prep.lengths)
        hashes["postings"].append(prep.shingles[keyed])
        posts["postings"].append(np.repeat(numbers, prep.lengths)[keyed])
        hashes["ids"].append(prep.frame["post_id"].hash(seed=0).to_numpy())
        posts["ids"].append(numbers)
        frames.append(prep.frame)
        if keep_text:
            texts.append(pl.DataFrame({"post_id": batch.ids, "text": batch.texts}, schema={"post_id": pl.String, "text": pl.String}))
        if batch.id_fallback and batch.source not in fallback:
            fallback.append(batch.source)
        n += len(prep)
    for w in writers.values():
        w.close()
    lengths = np.load(d / "lengths.npy", mmap_mode="r", allow_pickle=False)
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    frame.write_parquet(d / "posts.parquet")
    if keep_text:
        (pl.concat(texts) if texts else pl.DataFrame(schema={"post_id": pl.String, "text": pl.String})).write_parquet(d / POST_TEXTS)
    for name in ("postings", "ids"):  # (each shingle of a post once)
        h = np.concatenate(hashes[name]) if n else np.zeros(0, np.uint64)
        p = np.concatenate(posts[name]) if n else np.zeros(0, np.uint32)
        np.save(d / f"{name}.npy", _pairs_by_hash(h, p, distinct=name == "postings"), allow_pickle=False)
    if skipped is not None and file.part is not None and file.part.start > 0:
        _once_a_file(skipped, f"{file.path}: no '{id_field}' field for the record ids")
    return {"posts": n, "bytes": file_size(file), "columns": frame.clear(), "id_fallback": fallback,
            "skipped": skipped.to_dict() if skipped is not None else None, "longest": int(lengths.max(initial=0))}


def _once_a_file(skipped: Skipped, message: str) -> None:
    """Leave out of a later part's ``skipped`` the file-wide skip ``message`` that its first part counts
    (a file without the id field asked for is skipped once, as in one process)."""
    if skipped.counts.get("wrong_schema") and message in (skipped.first.get("wrong_schema"), None):
        skipped.counts["wrong_schema"] -= 1
        if not skipped.counts["wrong_schema"]:
            del skipped.counts["wrong_schema"], skipped.first["wrong_schema"]


def _load(work: str, name: str) -> NDArray:
    path = Path(work) / f"{name}.npy"
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _in_range(work: str, name: str, lo: int, hi: int) -> NDArray:
    """The records of ``name`` (sorted by ``h``) whose hash's top bits are in ``lo .. hi-1``."""
    recs = _load(work, name)
    shift = 64 - _TOP_BITS
    h = recs["h"]
    a, b = np.searchsorted(h, np.uint64(lo << shift)), (np.searchsorted(h, np.uint64(hi << shift)) if hi < 1 << _TOP_BITS else len(h))
    return np.asarray(recs[a:b])


# -- 2. ids --------------------------------------------------------------------------------------

def _id_task(parts: list[str], lo: int, hi: int) -> list[tuple[str, list[tuple[int, int, str, int]]]]:
    """Round 2: the post ids held by more than one post whose id hash is in the range ``lo .. hi-1``:
    ``(id, [(part, post in part, source, row), ...])`` with the places in input order."""
    found = []
    for k, work in enumerate(parts):
        r = _in_range(work, "ids", lo, hi)
        found.append(np.stack([r["h"].view(np.int64), np.full(len(r), k, np.int64), r["p"].astype(np.int64)], axis=1))
    rows = np.concatenate(found) if found else np.zeros((0, 3), np.int64)
    rows = rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]
    same = np.flatnonzero(rows[1:, 0] == rows[:-1, 0])
    if not len(same):
        return []
    suspects = rows[np.unique(np.r_[same, same + 1])]
    places: list[tuple[str, int, int, str, int]] = []
    for k in np.unique(suspects[:, 1]).tolist():
        mine = suspects[suspects[:, 1] == k, 2]
        table = (pl.scan_parquet(Path(parts[k]) / "posts.parquet").select("post_id", "source", "row").with_row_index("_p")
                 .filter(pl.col("_p").is_in(mine.tolist())).collect())
        places += [(pid, k, int(p), src, int(row)) for p, pid, src, row in table.select("_p", "post_id", "source", "row").iter_rows()]
    places.sort(key=lambda t: (t[1], t[2]))
    by_id: dict[str, list[tuple[int, int, str, int]]] = {}
    for pid, k, p, src, row in places:
        by_id.setdefault(pid, []).append((k, p, src, row))
    return [(pid, where) for pid, where in by_id.items() if len(where) > 1]


# -- 3. counts -----------------------------------------------------------------------------------

def _count_task(parts: list[str], drops: list[NDArray[np.int64]], lo: int, hi: int, max_key_posts: int,
                table: str, seed_posts: int) -> tuple[int, int, int]:
    """Round 3: over all posts, the shingles (hash top bits in ``lo .. hi-1``) that more than
    ``min(seed_posts, max_key_posts)`` posts hold (no seeds, or frequent), sorted, with their post counts,
    into the files ``table``*; returns the number of frequent ones (more than ``max_key_posts``
    posts), the number of the other shingles and the number of postings."""
    hashes = []
    for work, drop in zip(parts, drops):
        r = _in_range(work, "postings", lo, hi)
        hashes.append(r["h"][~np.isin(r["p"], drop)] if len(drop) else r["h"])
    h = np.sort(np.concatenate(hashes)) if hashes else np.zeros(0, np.uint64)
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]]) if len(h) else np.zeros(0, np.int64)
    df = np.diff(np.r_[starts, len(h)])
    frequent, common = df > max_key_posts, df > min(seed_posts, max_key_posts)
    np.save(f"{table}.npy", h[starts[common]], allow_pickle=False)
    np.save(f"{table}-posts.npy", df[common], allow_pickle=False)
    return int(frequent.sum()), int((~frequent).sum()), len(h)


class FrequentFiles:
    """The shingles of more than ``min(seed_posts, max_key_posts)`` posts (no seeds, or frequent) and their post
    counts over all posts, as the count tasks wrote them (one sorted file a range of hash top bits),
    searched where they lie: called with sorted hashes, which are such and their post counts there. Pickled as its paths (each worker maps the files)."""

    def __init__(self, tables: list[str], ranges: list[tuple[int, int]]) -> None:
        self.tables, self.firsts = tables, np.array([lo for lo, _ in ranges], dtype=np.uint64)
        self._open: dict[int, tuple[NDArray[np.uint64], NDArray[np.int64], KeyFilter]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": {}}

    def _table(self, r: int) -> tuple[NDArray[np.uint64], NDArray[np.int64], KeyFilter]:
        if r not in self._open:
            hashes, posts = Path(f"{self.tables[r]}.npy"), Path(f"{self.tables[r]}-posts.npy")
            table = np.load(hashes, mmap_mode="r", allow_pickle=False)
            self._open[r] = (table, np.load(posts, mmap_mode="r", allow_pickle=False), KeyFilter.of(np.asarray(table), ranged=True))
        return self._open[r]

    def __call__(self, h: NDArray[np.uint64]) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
        freq, df = np.zeros(len(h), dtype=bool), np.zeros(len(h), dtype=np.int64)
        r_of = np.searchsorted(self.firsts, h >> np.uint64(64 - _TOP_BITS), side="right") - 1
        bounds = np.flatnonzero(np.r_[True, r_of[1:] != r_of[:-1], True])  # (h sorted: each range once)
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            table, posts, filt = self._table(int(r_of[a]))
            if not len(table):
                continue
            maybe = a + np.flatnonzero(filt.maybe(h[a:b]))  # (most shingles are no frequent one)
            at = np.minimum(np.searchsorted(table, h[maybe]), len(table) - 1)
            found = table[at] == h[maybe]
            freq[maybe[found]] = True
            df[maybe[found]] = posts[at[found]]
        return freq, df


# -- 4. shards -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Piece:
    """The posts of one part that a shard holds: positions ``keep`` (sorted) among the part's posts."""

    work: str
    keep: NDArray[np.int64]


def _feed(builder: Builder, piece: _Piece, step: int, texts: list[pl.DataFrame] | None) -> None:
    """Add the piece's posts to ``builder``, ``step`` posts at a time."""
    a = {name: _load(piece.work, name) for name, _ in _ARRAYS}
    shingle_start = np.r_[0, np.cumsum(a["lengths"])]
    token_start = np.r_[0, np.cumsum(np.where(a["kind"] == SHINGLED, a["n_tokens"], 0))]
    posts = pl.scan_parquet(Path(piece.work) / "posts.parquet")
    text_table = pl.scan_parquet(Path(piece.work) / POST_TEXTS) if texts is not None else None
    for i in range(0, len(piece.keep), step):
        keep = piece.keep[i : i + step]
        lo, hi = int(keep[0]), int(keep[-1]) + 1
        sh = expand_ranges(shingle_start[keep], shingle_start[keep + 1] - shingle_start[keep])
        tk = expand_ranges(token_start[keep], token_start[keep + 1] - token_start[keep])
        frame = posts.slice(lo, hi - lo).collect()[keep - lo]
        builder.add_prepared(PreparedPosts(frame, a["kind"][keep], a["n_tokens"][keep], a["exact"][keep], a["heads"][keep],
                                           np.asarray(a["shingles"][sh]), a["lengths"][keep], np.asarray(a["token_hashes"][tk]),
                                           a["flags"][keep], a["days"][keep]))
        if text_table is not None and texts is not None:
            texts.append(text_table.slice(lo, hi - lo).collect()[keep - lo])


@dataclass(frozen=True)
class _Global:
    """What every shard task is told of all posts (sent to each worker once)."""

    frequent: FrequentFiles
    longest: int
    postings: int
    columns: pl.DataFrame

    def facts(self, first_post: int) -> WholeFacts:
        return WholeFacts(self.frequent, self.longest, self.postings, first_post, self.columns)


def _shard_task(pieces: list[_Piece], out: str, params: IndexParams, key: Key | None, everything: _Global,
                first_post: int, memory_limit: int, keep_text: bool) -> dict[str, Any]:
    """Round 4: write one shard (its posts are ``pieces``, in order; the first is post ``first_post``
    of the index) into the directory ``out``."""
    whole = everything.facts(first_post)
    d = Path(out)
    shutil.rmtree(d, ignore_errors=True)  # (what an earlier try of this task left)
    d.mkdir(parents=True)
    builder = Builder(params, d, memory_limit, key, whole=whole)
    texts: list[pl.DataFrame] | None = [] if keep_text else None
    step = max(min(memory_limit // 2048, 1 << 16), 1024)
    for piece in pieces:
        _feed(builder, piece, step, texts)
    counts = builder.finish()
    if texts is not None:
        pl.concat(texts).rechunk().write_parquet(d / POST_TEXTS, statistics=True)
    largest = {name: int(_load(out, name).max(initial=0)) for name in NARROWED}
    return {"counts": counts, "largest": largest, "rarest_keys": builder.rarest_keys}


# -- 5. seals ------------------------------------------------------------------------------------

def _seal_task(out: str, dtypes: dict[str, int], manifest: dict[str, Any], memory_limit: int) -> str:
    """Round 5: the shard's per-post counts stored as narrow as every shard's need (``dtypes``: the
    largest value of each over all shards), then its manifest sealed; returns its sha256."""
    d = Path(out)
    for name, largest in dtypes.items():
        path, wide = d / f"{name}.npy", d / f"{name}.wide.npy"
        if np.load(path, mmap_mode="r", allow_pickle=False).dtype == narrowest_uint(largest):
            continue  # (a task run again)
        path.replace(wide)
        copy_narrow(wide, path, len(np.load(wide, mmap_mode="r", allow_pickle=False)), largest, memory_limit)
        wide.unlink()
    return seal_manifest(d, manifest)


# -- the client ----------------------------------------------------------------------------------

def _ranges(n: int) -> list[tuple[int, int]]:
    """``n`` ranges of the top hash bits, covering them all."""
    cuts = (np.arange(n + 1) * (1 << _TOP_BITS)) // n
    return [(int(cuts[i]), int(cuts[i + 1])) for i in range(n)]


def _numbering(infos: list[dict[str, Any]], drops: list[NDArray[np.int64]]) -> NDArray[np.int64]:
    """The number (over all posts) of each part's first kept post, and the total last."""
    kept = [info["posts"] - len(drop) for info, drop in zip(infos, drops)]
    return np.r_[0, np.cumsum(kept)].astype(np.int64)


def _pieces(parts: list[str], drops: list[NDArray[np.int64]], infos: list[dict[str, Any]], starts: NDArray[np.int64],
            a: int, b: int) -> list[_Piece]:
    """The parts' posts that are posts ``a .. b-1`` of the index."""
    out = []
    for k, work in enumerate(parts):
        lo, hi = max(a, int(starts[k])), min(b, int(starts[k + 1]))
        if lo >= hi:
            continue
        kept = np.setdiff1d(np.arange(infos[k]["posts"], dtype=np.int64), drops[k], assume_unique=True)
        out.append(_Piece(work, kept[lo - int(starts[k]) : hi - int(starts[k])]))
    return out


def build_on_dask(files: Sequence[InputFile], tmp: Path, params: IndexParams, *, client: Any, shards: int,
                  key: Key | None, text_field: str, id_field: str | None, meta_fields: Sequence[str],
                  skipped: Skipped | None, keep_text: bool, memory_limit: int, batch_size: int,
                  on_batch: Callable[[int, int], None] | None,
                  write_manifests: Callable[[dict[str, Any], dict[str, Any], list[str]], dict[str, Any]],
                  posts_from_names: bool = False, date_field: str | None = None) -> None:
    """Build the index over the posts of ``files`` (input parts, in order) as ``shards`` shards in the
    directory ``tmp`` on the Dask ``client``'s cluster. ``write_manifests(counts, info, meta_fields)``
    returns the whole index's manifest (not written); the shards' and the top manifest follow from it."""
    from distributed import as_completed

    if not 2 <= shards <= MAX_SHARDS:
        raise ParameterError(f"a build on Dask writes a sharded index: --shards must be between 2 and {MAX_SHARDS}, got {shards}")
    work = tmp / ".parts"
    parts = [str(work / f"part-{k:06d}") for k in range(len(files))]
    skip = skipped is not None
    futures = [client.submit(_part_task, f, parts[k], params, key, text_field, id_field, tuple(meta_fields), skip,
                             keep_text, batch_size, posts_from_names, date_field, pure=False) for k, f in enumerate(files)]
    try:
        if on_batch:
            for future in as_completed(futures, loop=client.loop):
                info = future.result()
                on_batch(info["bytes"], info["posts"])
        infos = client.gather(futures)
    except BaseException:
        client.cancel(futures)  # (a bad record stops the build: the other parts need not finish)
        raise
    for info in infos:
        if info["skipped"] is not None and skipped is not None:
            skipped.merge(Skipped.from_dict(info["skipped"]))
    buckets = max(shards, -(-sum(info["posts"] for info in infos) * 40 * 24 // max(memory_limit, 1)))
    ranges = _ranges(min(buckets, 1 << _TOP_BITS))
    drops = _duplicates(client, parts, ranges, skipped)
    starts = _numbering(infos, drops)
    n_posts = int(starts[-1])
    if n_posts == 0:
        raise InputError("no posts to index")
    if shards > n_posts:
        raise ParameterError(f"{shards} shards for {n_posts} posts: at most one shard a post")
    tables = [str(work / f"frequent-{r:05d}") for r in range(len(ranges))]
    counted = client.gather([client.submit(_count_task, parts, drops, lo, hi, params.max_key_posts, tables[r],
                                           params.seed_posts, pure=False)
                             for r, (lo, hi) in enumerate(ranges)])
    longest = max((_longest_kept(work_k, info, drop) for work_k, info, drop in zip(parts, infos, drops)), default=0)
    # (the columns of the parts that keep a post: one process never sees a post left out)
    columns = pl.concat([info["columns"] for info, drop in zip(infos, drops) if info["posts"] > len(drop)],
                        how="diagonal_relaxed")
    bounds = shard_bounds(n_posts, shards)
    shard_dirs = [str(tmp / shard_name(s)) for s in range(shards)]
    everything = _Global(FrequentFiles(tables, ranges), longest, sum(c[2] for c in counted), columns)
    done = client.gather([client.submit(
        _shard_task, _pieces(parts, drops, infos, starts, int(bounds[s]), int(bounds[s + 1])), shard_dirs[s], params, key,
        everything, int(bounds[s]), memory_limit, keep_text, pure=False) for s in range(shards)])
    shutil.rmtree(work, ignore_errors=True)
    kinds = [sum(d["counts"][k] for d in done) for k in ("shingled_posts", "short_posts", "empty_posts")]
    rarest = np.unique(np.concatenate([d["rarest_keys"] for d in done]))
    counts = {"posts": n_posts, "shingled_posts": kinds[0], "short_posts": kinds[1], "empty_posts": kinds[2],
              "shingles": sum(d["counts"]["shingles"] for d in done),
              "keys": sum(c[1] for c in counted) + len(rarest), "frequent_shingles": sum(c[0] for c in counted), "seeds": sum(d["counts"]["seeds"] for d in done),
              "posts_with_only_frequent_shingles": sum(d["counts"]["posts_with_only_frequent_shingles"] for d in done),
              **{k: sum(d["counts"][k] for d in done) for k in ("quoted_posts", "unattributable_posts", "dated_posts")}}
    fallback: list[str] = []
    for info in infos:
        fallback += [s for s in info["id_fallback"] if s not in fallback]
    meta = [c.removeprefix("meta_") for c in columns.columns if c.startswith("meta_")]
    top = write_manifests(counts, {"id_fallback_files": fallback}, meta)
    largest = {name: max(d["largest"][name] for d in done) for name in NARROWED}
    entries = []
    for s in range(shards):
        entries.append({"index": s, "of": shards, "dir": shard_name(s), "first_post": int(bounds[s]),
                        "posts": int(bounds[s + 1] - bounds[s])})
    sealed = client.gather([client.submit(_seal_task, shard_dirs[s], largest,
                                          {**top, "counts": done[s]["counts"], "shard": entries[s]}, memory_limit, pure=False)
                            for s in range(shards)])
    for entry, sha in zip(entries, sealed):
        entry["manifest_sha256"] = sha
    from .load import open_index  # (the sealed shards, read back: the routes are cut from them)

    cut = [(open_index(tmp / shard_name(s), verify=False, key=key, shard=entries[s]), int(bounds[s])) for s in range(shards)]
    write_top_manifest(tmp, {**top, "routes": write_routes(tmp, cut, shards, n_posts)}, entries)


def _longest_kept(work: str, info: dict[str, Any], drop: NDArray[np.int64]) -> int:
    if not len(drop):
        return int(info["longest"])
    lengths = np.array(_load(work, "lengths"))
    lengths[drop] = 0
    return int(lengths.max(initial=0))


def _duplicates(client: Any, parts: list[str], ranges: list[tuple[int, int]], skipped: Skipped | None) -> list[NDArray[np.int64]]:
    """The posts of each part left out because an earlier post has their id (with ``skipped``); without
    it, the first id that more than one post has stops the build, naming both places."""
    found = [d for part in client.gather([client.submit(_id_task, parts, lo, hi, pure=False) for lo, hi in ranges])
             for d in part]
    drops: list[list[int]] = [[] for _ in parts]
    if not found:
        return [np.zeros(0, np.int64) for _ in parts]
    found.sort(key=lambda d: d[1][0][:2])
    if skipped is None:
        pid, where = found[0]
        (_, _, src0, row0), (_, _, src1, row1) = where[0], where[1]
        raise InputError(f"{src1}:{row1}: duplicate post id {pid!r} (first at {src0}:{row0})")
    later = sorted(((k, p, src, row, pid) for pid, where in found for k, p, src, row in where[1:]))
    for k, p, src, row, pid in later:
        drops[k].append(p)
        skipped.add(InputError(f"{src}:{row}: duplicate post id {pid!r} (an earlier post has it; this one is left out)",
                               kind="duplicate_id"))
    return [np.array(sorted(d), dtype=np.int64) for d in drops]
