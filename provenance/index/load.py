"""Opening an index: format version, normalization, key, sizes and checksums checked."""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..version import __version__
from ..durable import BackgroundCheck, DamagedFile, sha256_of, unseal
from ..errors import IndexFormatError, ParameterError
from ..keys import Key, as_key
from ..locks import held_by, is_lock_file
from ..text.normalize import NORMALIZATION
from ..params import IndexParams
from ..text.hashing import HASH_NAME, KEYED_HASH_NAME
from .sketch import SCHEME
from .format import FORMAT, FORMAT_VERSION, MANIFEST, arrays_of, is_index
from .shards import ShardedIndex, open_shards
from .validate import HASHING, check_counts, check_place, check_hashing, check_manifest_values, check_top_counts
from .store import Index, check_key

__all__ = ["open_index"]


def _check_checksums(path: Path, files: dict[str, dict[str, Any]], names: list[str]) -> None:
    for name in names:
        f = path / name
        if sha256_of(f) != files[name].get("sha256"):
            raise IndexFormatError(f"{f}: checksum differs from the manifest (damaged or altered index)")




def open_index(path: str | Path, *, verify: bool | str = True, key: "Key | bytes | None" = None,
               shard: dict[str, Any] | None = None, with_shards: bool = True) -> "Index | ShardedIndex":
    """Open an index directory, checking format version, parameters, file sizes and (with ``verify``)
    checksums.

    ``key``: the secret key of a keyed index, checked against the manifest's fingerprint (a wrong key,
    or a key for an index built without one, is a SecretKeyError). A keyed index opens without its
    key too, but cannot then hash texts (scan, append): :meth:`Index.require_key`.

    ``verify="background"`` checks the checksums in a thread while the caller goes on (a scan of a
    large index need not wait for tens of gigabytes to be hashed); :meth:`Index.wait_verified`
    returns when they are checked and raises if one differs. A scan calls it before it writes any
    result.

    A sharded index (``index build --shards N``, :mod:`.shards`) opens as a :class:`ShardedIndex`,
    every shard checked as an index of its own and against the sha256 the top manifest pins for it
    (``shard``: that entry, when a shard is opened as part of its index; ``with_shards=False``: the
    top manifest only, no shard opened).
    """
    path = Path(path)
    mpath = path / (shard.get("manifest") or MANIFEST if shard is not None else MANIFEST)  # (see .segments)
    try:
        empty = path.is_dir() and all(is_lock_file(p.name) for p in path.iterdir())  # (a build's lock only)
    except OSError as e:
        raise IndexFormatError(f"{path}: cannot read the index directory ({e.strerror or e})") from None
    busy = held_by(path) if empty else None  # a build of a new index, under way
    if busy:
        raise IndexFormatError(busy)
    if not path.exists() or empty:
        left = sorted(p.name for p in path.parent.glob(f".{path.name}.*.tmp")) if path.name else []
        old = [n for n in left if n.endswith(".old.tmp") and is_index(path.parent / n)]
        if old:  # (only where the system cannot swap directories in one step)
            raise IndexFormatError(f"{path}: no index: a build that was replacing it stopped; the previous index is "
                                   f"{path.parent / old[0]} (rename it to {path.name}, or build again)")
        if left:
            raise IndexFormatError(f"{path}: no index: a build that was stopped left {path.parent / left[0]} "
                                   "(incomplete; build the index again)")
        raise IndexFormatError(f"{path}: no index (an empty directory)" if empty else f"{path}: no such index directory")
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
    try:
        unseal(raw, mpath, "index manifest")
    except DamagedFile as e:
        raise IndexFormatError(str(e)) from None
    normalization = manifest.get("normalization")
    if normalization != NORMALIZATION:
        # Posts and documents must be normalized alike: a post normalized otherwise would be missed, silently.
        built = f"normalization {normalization!r}" if normalization else "an older normalization (none recorded)"
        raise IndexFormatError(f"{path}: index built with {built}, this version normalizes as {NORMALIZATION!r}; "
                               "rebuild the index")
    key_entry = manifest.get("key")
    fp = key_entry.get("fingerprint") if isinstance(key_entry, dict) else None
    if key_entry is not None and not (isinstance(fp, str) and len(fp) == 32):
        raise IndexFormatError(f"{mpath}: damaged key entry (no fingerprint)")
    hash_name = KEYED_HASH_NAME if fp is not None else HASH_NAME
    if manifest.get("hash") != hash_name or manifest.get("minhash_scheme") != f"datasketch 2.x {SCHEME}":
        raise IndexFormatError(f"{path}: index uses hash {manifest.get('hash')!r}, this version uses {hash_name!r}; rebuild the index")
    key = check_key(path, fp, as_key(key))
    check_manifest_values(mpath, manifest)
    try:
        params = IndexParams.from_dict(manifest["params"])
    except (ParameterError, TypeError) as e:
        raise IndexFormatError(f"{mpath}: bad parameters ({e})") from None
    manifest["manifest_sha256"] = hashlib.sha256(raw).hexdigest()
    if "shards" in manifest:
        if shard is not None:
            raise IndexFormatError(f"{mpath}: a shard that holds shards (damaged index)")
        sharded = open_shards(path, manifest, params, key, open_index, verify, with_shards)
        if sharded.shards:
            check_top_counts(path, manifest, sharded.shards)
        return sharded
    if shard is not None:
        check_place(mpath, manifest, shard)
    elif "shard" in manifest:
        raise IndexFormatError(f"{path}: is shard {manifest['shard'].get('index')} of the sharded index {path.parent}; "
                               "open that directory")
    elif "segment" in manifest:
        place = manifest["segment"]
        raise IndexFormatError(f"{path}: is segment {place.get('segment') if isinstance(place, dict) else '?'} of the "
                               f"index {path.parent}; open that directory")
    files = manifest.get("files", {})
    names = arrays_of(params)
    expected = {"posts.parquet", HASHING, *(f"{n}.npy" for n in names)}
    missing = sorted(expected - set(files))
    if missing:
        raise IndexFormatError(f"{mpath}: manifest lists no checksum for {', '.join(missing)}")
    for name in sorted(expected):
        f = path / name
        if not f.is_file():
            raise IndexFormatError(f"{f}: missing index file")
        if f.stat().st_size != files[name].get("bytes"):
            raise IndexFormatError(f"{f}: size differs from the manifest (damaged or altered index)")
    check = None
    if verify == "background":
        check = BackgroundCheck(_check_checksums, path, files, sorted(expected))
    elif verify:
        _check_checksums(path, files, sorted(expected))
    hashing = (path / HASHING).read_bytes()
    if hashlib.sha256(hashing).hexdigest() != files[HASHING].get("sha256"):
        raise IndexFormatError(f"{path / HASHING}: checksum differs from the manifest (damaged or altered index)")
    check_hashing(path, manifest, hashing)
    try:
        pl.read_parquet_schema(path / "posts.parquet")
        posts_rows = pl.scan_parquet(path / "posts.parquet").select(pl.len()).collect().item()
        # Memory-mapped: a scan pages in what it touches (a containment scan never reads the MinHash tables).
        # (np.asarray: plain ndarray views of the maps, without np.memmap's per-operation overhead.)
        arrays = {n: np.asarray(np.load(path / f"{n}.npy", mmap_mode="r", allow_pickle=False)) for n in names}
        posts_fd = os.open(path / "posts.parquet", os.O_RDONLY | os.O_CLOEXEC)  # (see Index.posts_fd)
    except Exception as e:  # a file that passed its checksum but does not parse
        raise IndexFormatError(f"{path}: unreadable index file ({type(e).__name__}: {e})") from None
    for a in arrays.values():
        a.setflags(write=False)
    check_counts(path, manifest, arrays, posts_rows)
    index = Index(path, params, manifest=manifest, _verifying=check, key=key, posts_fd=posts_fd, **arrays)
    weakref.finalize(index, os.close, posts_fd)
    return index
