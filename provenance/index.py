"""The post index: build, save, open, append.

An index is a directory a user can inspect:

==========================  ===================================================================
file                        content
==========================  ===================================================================
``manifest.json``           format version, tool version, :class:`IndexParams`, hash and MinHash
                            scheme names, counts, and the sha256 of every other file
``posts.parquet``           one row per post: ``post_id``, ``source``, ``row``, ``kind``
                            (``shingled`` / ``short`` / ``empty``), ``n_tokens``, ``n_shingles``
                            (distinct), ``n_frequent``, ``exact_key``, and the ``--meta-field``
                            columns
``shingles.npy``            uint64: every post's shingle hashes in token order, concatenated
``shingle_offsets.npy``     int64 ``(posts+1,)``: post ``i`` is ``shingles[o[i]:o[i+1]]``
``keys.npy``                uint64, sorted: the shingle hashes that generate candidates
``key_offsets.npy``         int64 ``(keys+1,)``; ``key_posts[o[j]:o[j+1]]`` hold key ``j``
``key_posts.npy``           uint32: post numbers (row of ``posts.parquet``)
``key_pos.npy``             uint32: the key's first position in that post's shingle sequence
``frequent.npy``            uint64, sorted: the frequent shingles (in more than ``max_key_posts`` posts; no keys)
``signatures.npy``          uint32 ``(num_perm, posts)``: MinHash signatures (datasketch affine32)
``lsh_keys.npy``            uint64 ``(bands, posts)``: band keys, sorted within each band
``lsh_posts.npy``           uint32 ``(bands, posts)``: the post of each band key
==========================  ===================================================================

Every file is written into a temporary directory that is renamed into place only when complete;
opening an index checks the format version and every checksum and refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import polars as pl
from numpy.typing import NDArray

from . import __version__
from .errors import IndexFormatError, InputError, ParameterError
from .params import IndexParams
from .report import umask
from .shingle import HASH_NAME, TokenHasher, batch_shingles, sequence_keys
from .sketch import SCHEME, band_keys, lsh_params, minhash

__all__ = ["Index", "build_index", "open_index", "FORMAT", "FORMAT_VERSION"]

FORMAT = "provenance-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_ARRAYS = ("shingles", "shingle_offsets", "keys", "key_offsets", "key_posts", "key_pos", "frequent", "signatures",
           "lsh_keys", "lsh_posts")

KIND_SHINGLED, KIND_SHORT, KIND_EMPTY = "shingled", "short", "empty"


@dataclass
class Index:
    """An opened (or freshly built) index. Arrays are read-only; see the module docstring for shapes."""

    path: Path | None
    params: IndexParams
    posts: pl.DataFrame
    shingles: NDArray[np.uint64]
    shingle_offsets: NDArray[np.int64]
    keys: NDArray[np.uint64]
    key_offsets: NDArray[np.int64]
    key_posts: NDArray[np.uint32]
    key_pos: NDArray[np.uint32]
    frequent: NDArray[np.uint64]
    signatures: NDArray[np.uint32]
    lsh_keys: NDArray[np.uint64]
    lsh_posts: NDArray[np.uint32]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def n_posts(self) -> int:
        return self.posts.height

    @property
    def bands(self) -> tuple[int, int]:
        return lsh_params(self.params.lsh_threshold, self.params.num_perm)

    @property
    def checksum(self) -> str:
        """sha256 of ``manifest.json`` (which pins every data file's sha256)."""
        return self.manifest.get("manifest_sha256", "")

    def post_shingles(self, i: int) -> NDArray[np.uint64]:
        return self.shingles[self.shingle_offsets[i] : self.shingle_offsets[i + 1]]


# ----------------------------------------------------------------------------------------- build


def _post_rows(batches: Iterable[Any], params: IndexParams, hasher: TokenHasher,
               on_batch: Callable[[int, int], None] | None) -> tuple[pl.DataFrame, list[NDArray[np.uint64]], list[NDArray[np.int64]], dict]:
    frames: list[pl.DataFrame] = []
    shingle_parts: list[NDArray[np.uint64]] = []
    length_parts: list[NDArray[np.int64]] = []
    info: dict[str, Any] = {"id_fallback_files": []}
    for batch in batches:
        sb = batch_shingles(batch.texts, params.ngram, hasher)
        n_tokens = sb.n_tokens
        kinds = np.where(n_tokens == 0, KIND_EMPTY, np.where(n_tokens < params.short_tokens, KIND_SHORT, KIND_SHINGLED))
        exact = np.where(n_tokens > 0, sequence_keys(sb.token_hashes, sb.token_offsets[:-1], n_tokens), np.uint64(0))
        # Short posts keep no shingles: they match only as whole records or lines.
        lengths = np.where(kinds == KIND_SHINGLED, np.diff(sb.offsets), 0)
        keep = np.repeat(kinds == KIND_SHINGLED, np.diff(sb.offsets))
        shingle_parts.append(sb.hashes[keep])
        length_parts.append(lengths)
        cols: dict[str, Any] = {
            "post_id": batch.ids,
            "source": [batch.source] * len(batch.ids),
            "row": batch.rows,
            "kind": kinds.tolist(),
            "n_tokens": n_tokens,
            "exact_key": exact,
        }
        for name, values in batch.meta.items():
            cols[f"meta_{name}"] = values
        frames.append(pl.DataFrame(cols, schema_overrides={"row": pl.Int64, "n_tokens": pl.Int64, "exact_key": pl.UInt64}))
        if getattr(batch, "id_fallback", False) and batch.source not in info["id_fallback_files"]:
            info["id_fallback_files"].append(batch.source)
        if on_batch:
            on_batch(getattr(batch, "nbytes", 0), len(batch.ids))
    posts = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    return posts, shingle_parts, length_parts, info


def _check_unique_ids(posts: pl.DataFrame) -> None:
    dup = posts.with_row_index("_i").filter(pl.col("post_id").is_duplicated())
    if dup.height:
        first = dup.group_by("post_id", maintain_order=True).agg(pl.col("source"), pl.col("row")).row(0)
        pid, sources, rows = first
        raise InputError(f"{sources[1]}:{rows[1]}: duplicate post id {pid!r} (first at {sources[0]}:{rows[0]})")


def _postings(shingles: NDArray[np.uint64], offsets: NDArray[np.int64], n_posts: int, max_key_posts: int, ngram: int):
    """Distinct (shingle, post) pairs → per-post distinct/frequent counts and the candidate keys."""
    lengths = np.diff(offsets)
    post_of = np.repeat(np.arange(n_posts, dtype=np.uint32), lengths)
    pos = (np.arange(len(shingles), dtype=np.int64) - np.repeat(offsets[:-1], lengths)).astype(np.uint32)
    order = np.lexsort((pos, post_of, shingles))
    h, p, pos = shingles[order], post_of[order], pos[order]
    first = np.ones(len(h), dtype=bool)
    first[1:] = (h[1:] != h[:-1]) | (p[1:] != p[:-1])
    h, p, pos = h[first], p[first], pos[first]  # each (shingle, post) once, at its first position
    # Posts per distinct shingle (document frequency among posts).
    new_key = np.ones(len(h), dtype=bool)
    new_key[1:] = h[1:] != h[:-1]
    run_id = np.cumsum(new_key) - 1
    df = np.bincount(run_id)[run_id]
    frequent = df > max_key_posts
    n_distinct = np.bincount(p, minlength=n_posts)
    n_frequent = np.bincount(p[frequent], minlength=n_posts)
    # Posts that begin with a frequent shingle: keys alone cannot tell whether a copy starts there.
    head_frequent = np.bincount(p[frequent & (pos < ngram)], minlength=n_posts) > 0
    use = ~frequent
    # A post whose every shingle is frequent keeps its rarest one so it can still be found.
    all_frequent = np.flatnonzero((n_distinct > 0) & (n_frequent == n_distinct))
    if len(all_frequent):
        cand = np.flatnonzero(np.isin(p, all_frequent))
        by_rarity = cand[np.lexsort((h[cand], df[cand], p[cand]))]
        firsts = by_rarity[np.r_[True, p[by_rarity][1:] != p[by_rarity][:-1]]]
        use[firsts] = True
    kh, kp = h[use], p[use]
    keys, starts = np.unique(kh, return_index=True)
    key_offsets = np.append(starts, len(kh)).astype(np.int64)
    frequent_values = np.unique(h[frequent])
    return (keys, key_offsets, kp.astype(np.uint32), pos[use], frequent_values, n_distinct, n_frequent, head_frequent,
            len(all_frequent))


def _lsh(shingles, offsets, params: IndexParams):
    sig = minhash(shingles, offsets, params.num_perm, params.seed)
    bands, rows = lsh_params(params.lsh_threshold, params.num_perm)
    if bands < 2:
        raise ParameterError(f"num_perm {params.num_perm} is too small for lsh_threshold {params.lsh_threshold} "
                             f"(gives {bands} LSH band; datasketch requires at least 2)")
    keys = band_keys(sig, bands, rows)
    order = np.argsort(keys, axis=1, kind="stable")
    return sig, np.take_along_axis(keys, order, axis=1), order.astype(np.uint32)


def _assemble(params: IndexParams, posts: pl.DataFrame, shingles, offsets, info: dict) -> Index:
    n = posts.height
    (keys, key_offsets, key_posts, key_pos, frequent, n_distinct, n_frequent, head_frequent,
     n_all_frequent) = _postings(shingles, offsets, n, params.max_key_posts, params.ngram)
    posts = posts.with_columns(
        pl.Series("n_shingles", n_distinct.astype(np.int64)),
        pl.Series("n_frequent", n_frequent.astype(np.int64)),
        pl.Series("head_frequent", head_frequent),
    )
    sig, lsh_keys, lsh_posts = _lsh(shingles, offsets, params)
    kinds = posts["kind"]
    counts = {
        "posts": n,
        "shingled_posts": int((kinds == KIND_SHINGLED).sum()),
        "short_posts": int((kinds == KIND_SHORT).sum()),
        "empty_posts": int((kinds == KIND_EMPTY).sum()),
        "shingles": int(len(shingles)),
        "keys": int(len(keys)),
        "frequent_shingles": int(len(frequent)),
        "posts_with_only_frequent_shingles": n_all_frequent,
    }
    manifest = {"counts": counts, **info}
    return Index(None, params, posts, shingles, offsets, keys, key_offsets, key_posts, key_pos, frequent, sig, lsh_keys,
                 lsh_posts, manifest)


def build_index(batches: Iterable[Any], params: IndexParams = IndexParams(), *, base: Index | None = None,
                inputs: dict[str, Any] | None = None, on_batch: Callable[[int, int], None] | None = None) -> Index:
    """Build an index from batches of posts (see :func:`provenance.read.iter_batches`).

    With ``base``, the new posts are appended to that index's posts (same parameters required) and
    all derived tables (frequencies, keys, signatures, bands) are rebuilt over the union.
    """
    if base is not None and base.params != params:
        raise ParameterError(f"cannot append with parameters {params} to an index built with {base.params}")
    hasher = TokenHasher(params.seed)
    posts, shingle_parts, length_parts, info = _post_rows(batches, params, hasher, on_batch)
    if base is not None:
        base_posts = base.posts.drop("n_shingles", "n_frequent", "head_frequent")
        posts = pl.concat([base_posts, posts], how="diagonal_relaxed") if posts.height else base_posts
        shingle_parts.insert(0, np.asarray(base.shingles))
        length_parts.insert(0, np.diff(base.shingle_offsets))
        info["id_fallback_files"] = sorted(set(base.manifest.get("id_fallback_files", [])) | set(info["id_fallback_files"]))
    if posts.height == 0:
        raise InputError("no posts to index")
    _check_unique_ids(posts)
    shingles = np.concatenate(shingle_parts) if shingle_parts else np.zeros(0, np.uint64)
    lengths = np.concatenate(length_parts) if length_parts else np.zeros(0, np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    info["inputs"] = (base.manifest.get("inputs", []) if base is not None else []) + (inputs or {}).get("files", [])
    info["fields"] = (inputs or {}).get("fields", base.manifest.get("fields", {}) if base is not None else {})
    return _assemble(params, posts, shingles, offsets, info)


# ----------------------------------------------------------------------------------------- save / open


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_index(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def save_index(index: Index, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``index`` to directory ``path`` atomically (temporary directory, then rename)."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise IndexFormatError(f"{path}: exists and is not a directory")
        if any(path.iterdir()) and not (overwrite and is_index(path)):
            what = "an index (use --append to add posts, or --force to replace it)" if is_index(path) else "not an empty directory"
            raise IndexFormatError(f"{path}: is {what}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes 0700; an index is an ordinary directory
    try:
        files: dict[str, dict[str, Any]] = {}
        index.posts.write_parquet(tmp / "posts.parquet", statistics=True)
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(index, name)), allow_pickle=False)
        for f in sorted(tmp.iterdir()):
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
            files[f.name] = {"sha256": _sha256(f), "bytes": f.stat().st_size}
        bands, rows = index.bands
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "tool_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "params": index.params.to_dict(),
            "hash": HASH_NAME,
            "minhash_scheme": f"datasketch 2.x {SCHEME}",
            "lsh": {"bands": bands, "rows": rows},
            "counts": index.manifest["counts"],
            "fields": index.manifest.get("fields", {}),
            "meta_fields": [c.removeprefix("meta_") for c in index.posts.columns if c.startswith("meta_")],
            "inputs": index.manifest.get("inputs", []),
            "id_fallback_files": index.manifest.get("id_fallback_files", []),
            "files": files,
        }
        data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
        with open(tmp / MANIFEST, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    index.path = path
    index.manifest = {**manifest, "manifest_sha256": hashlib.sha256(data).hexdigest()}
    return path


def open_index(path: str | Path, *, verify: bool = True) -> Index:
    """Open an index directory, checking format version, parameters and (with ``verify``) checksums."""
    path = Path(path)
    mpath = path / MANIFEST
    if not path.exists():
        raise IndexFormatError(f"{path}: no such index directory")
    if not mpath.is_file():
        raise IndexFormatError(f"{path}: not a provenance index (no {MANIFEST})")
    raw = mpath.read_bytes()
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise IndexFormatError(f"{mpath}: damaged manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{mpath}: not a provenance index manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{path}: index format version {version}, this provenance {__version__} reads version {FORMAT_VERSION}; rebuild the index")
    if manifest.get("hash") != HASH_NAME or manifest.get("minhash_scheme") != f"datasketch 2.x {SCHEME}":
        raise IndexFormatError(f"{path}: index uses hash {manifest.get('hash')!r}, this version uses {HASH_NAME!r}; rebuild the index")
    try:
        params = IndexParams.from_dict(manifest.get("params", {}))
    except (ParameterError, TypeError) as e:
        raise IndexFormatError(f"{mpath}: bad parameters ({e})") from None
    files = manifest.get("files", {})
    expected = {"posts.parquet", *(f"{n}.npy" for n in _ARRAYS)}
    missing = sorted(expected - set(files))
    if missing:
        raise IndexFormatError(f"{mpath}: manifest lists no checksum for {', '.join(missing)}")
    for name in sorted(expected):
        f = path / name
        if not f.is_file():
            raise IndexFormatError(f"{f}: missing index file")
        if f.stat().st_size != files[name].get("bytes"):
            raise IndexFormatError(f"{f}: size differs from the manifest (damaged or altered index)")
        if verify and _sha256(f) != files[name].get("sha256"):
            raise IndexFormatError(f"{f}: checksum differs from the manifest (damaged or altered index)")
    try:
        posts = pl.read_parquet(path / "posts.parquet")
        # Memory-mapped: a scan pages in what it touches (a containment scan never reads the MinHash tables).
        # (np.asarray: plain ndarray views of the maps, without np.memmap's per-operation overhead.)
        arrays = {n: np.asarray(np.load(path / f"{n}.npy", mmap_mode="r", allow_pickle=False)) for n in _ARRAYS}
    except Exception as e:  # a file that passed its checksum but does not parse
        raise IndexFormatError(f"{path}: unreadable index file ({type(e).__name__}: {e})") from None
    for a in arrays.values():
        a.setflags(write=False)
    manifest["manifest_sha256"] = hashlib.sha256(raw).hexdigest()
    return Index(path, params, posts, manifest=manifest, **arrays)
