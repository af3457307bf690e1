"""What an opened index's manifest may hold: every value of the type and in the range it must be,
the counts equal to what the data files hold, and the hash parameters those files were made with.

A manifest carries its own checksum (``self_sha256``), but anyone can recompute that after an edit:
the checks here keep an edited (or damaged and re-sealed) manifest from being believed. Each failure
is one :class:`IndexFormatError` line naming the file and the field.

*Hash parameters.* ``hashing.json`` (written beside the data files by
:func:`provenance.index.manifest.seal_manifest`, so the manifest pins its sha256 like any data file's)
records what the data files were made with: the index parameters, normalization, hash and MinHash
scheme names and the key's fingerprint. A manifest whose ``seed`` (or ``ngram``, or another of them)
was changed and re-sealed no longer agrees with it and is refused; without this, a scan would hash
its documents otherwise than the posts were hashed and find nothing, silently.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexFormatError

__all__ = ["HASHING", "hashing_record", "check_manifest_values", "check_place", "check_hashing", "check_counts", "check_top_counts"]

HASHING = "hashing.json"
MAX_COUNT = 2**53  # (exact in every JSON reader; far beyond any index)
COUNTS = ("posts", "shingled_posts", "short_posts", "empty_posts", "shingles", "keys", "seeds", "frequent_shingles",
          "posts_with_only_frequent_shingles")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def hashing_record(manifest: dict[str, Any]) -> dict[str, Any]:
    """What ``hashing.json`` holds for an index of ``manifest``: the parameters its data is made with."""
    key = manifest.get("key")
    return {"params": manifest.get("params"), "normalization": manifest.get("normalization"),
            "hash": manifest.get("hash"), "token_codes": manifest.get("token_codes"),
            "minhash_scheme": manifest.get("minhash_scheme"),
            "key_fingerprint": key.get("fingerprint") if isinstance(key, dict) else None}


def _count(mpath: Path, where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise IndexFormatError(f"{mpath}: {where} must be a whole number from 0 to 2^53, got {value!r} "
                               "(damaged or altered manifest)")
    return value


def check_manifest_values(mpath: Path, manifest: dict[str, Any]) -> None:
    """The types and ranges of the manifest's values (before anything is read by them)."""
    counts = manifest.get("counts")
    if not isinstance(counts, dict):
        raise IndexFormatError(f"{mpath}: counts must be an object, got {counts!r} (damaged or altered manifest)")
    for name in COUNTS:
        if name not in counts:
            raise IndexFormatError(f"{mpath}: counts.{name} missing (damaged or altered manifest)")
    for name, value in counts.items():
        _count(mpath, f"counts.{name}", value)
    if not isinstance(manifest.get("params"), dict):
        raise IndexFormatError(f"{mpath}: params must be an object (damaged or altered manifest)")
    files = manifest.get("files", {})
    if not isinstance(files, dict):
        raise IndexFormatError(f"{mpath}: files must be an object (damaged or altered manifest)")
    for name, entry in files.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) or not _HEX64.fullmatch(entry["sha256"]):
            raise IndexFormatError(f"{mpath}: files.{name}.sha256 must be 64 hex digits (damaged or altered manifest)")
        _count(mpath, f"files.{name}.bytes", entry.get("bytes"))
    for name, kind in (("fields", dict), ("meta_fields", list), ("inputs", list), ("skipped", dict)):
        if name in manifest and not isinstance(manifest[name], kind):
            raise IndexFormatError(f"{mpath}: {name} must be {'an object' if kind is dict else 'a list'} "
                                   "(damaged or altered manifest)")
    lsh = manifest.get("lsh")
    if lsh is not None:
        if not isinstance(lsh, dict):
            raise IndexFormatError(f"{mpath}: lsh must be an object (damaged or altered manifest)")
        for name in ("bands", "rows"):
            _count(mpath, f"lsh.{name}", lsh.get(name))


def check_hashing(path: Path, manifest: dict[str, Any], raw: bytes) -> None:
    """``hashing.json`` (``raw``, its checksum already checked) against what the manifest says."""
    import json

    f = path / HASHING
    try:
        stored = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise IndexFormatError(f"{f}: not JSON (damaged index)") from None
    said = hashing_record(manifest)
    if not isinstance(stored, dict):
        raise IndexFormatError(f"{f}: not an object (damaged index)")
    for name, value in said.items():
        if name == "params" and isinstance(value, dict) and isinstance(stored.get(name), dict):
            for p in sorted(set(value) | set(stored[name])):
                if value.get(p) != stored[name].get(p) or type(value.get(p)) is not type(stored[name].get(p)):
                    raise IndexFormatError(
                        f"{path}: the manifest says {p} {value.get(p)!r}, the index's data was made with "
                        f"{stored[name].get(p)!r} ({HASHING}): altered manifest; rebuild the index")
        elif stored.get(name) != value:
            raise IndexFormatError(f"{path}: the manifest says {name} {value!r}, the index's data was made with "
                                   f"{stored.get(name)!r} ({HASHING}): altered manifest; rebuild the index")


def check_counts(path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray], posts_rows: int) -> None:
    """The manifest's counts of an (unsharded) index against its data files: what ``summary.json``
    copies from them is then what the index holds."""
    counts = manifest["counts"]
    kinds = np.bincount(np.asarray(arrays["post_kind"]), minlength=3)
    held = {"posts": len(arrays["post_kind"]), "shingled_posts": int(kinds[0]), "short_posts": int(kinds[1]),
            "empty_posts": int(kinds[2]), "shingles": len(arrays["shingle_ids"]), "keys": len(arrays["key_lo"]),
            "seeds": len(arrays["seed_posts"]), "frequent_shingles": len(arrays["frequent"])}
    if len(kinds) > 3:
        raise IndexFormatError(f"{path / 'post_kind.npy'}: a post kind other than 0, 1, 2 (damaged index)")
    if posts_rows != held["posts"]:
        raise IndexFormatError(f"{path / 'posts.parquet'}: {posts_rows} rows for {held['posts']} posts (damaged index)")
    for name, value in held.items():
        if counts[name] != value:
            raise IndexFormatError(f"{path / 'manifest.json'}: counts.{name} is {counts[name]}, the index holds {value} "
                                   "(damaged or altered manifest)")
    if counts["posts_with_only_frequent_shingles"] > held["shingled_posts"]:
        raise IndexFormatError(f"{path / 'manifest.json'}: counts.posts_with_only_frequent_shingles is "
                               f"{counts['posts_with_only_frequent_shingles']}, more than the {held['shingled_posts']} "
                               "shingled posts (damaged or altered manifest)")


def check_top_counts(path: Path, manifest: dict[str, Any], shards: list[Any]) -> None:
    """The counts of a sharded index's top manifest against its (checked) shards': per-post counts add
    up; a key or frequent shingle may be in several shards."""
    counts, parts = manifest["counts"], [s.manifest["counts"] for s in shards]
    for name in ("posts", "shingled_posts", "short_posts", "empty_posts", "shingles", "seeds",
                 "posts_with_only_frequent_shingles"):
        total = sum(p[name] for p in parts)
        if counts[name] != total:
            raise IndexFormatError(f"{path / 'manifest.json'}: counts.{name} is {counts[name]}, its shards hold {total} "
                                   "(damaged or altered manifest)")
    for name in ("keys", "frequent_shingles"):
        low, high = max(p[name] for p in parts), sum(p[name] for p in parts)
        if not low <= counts[name] <= high:
            raise IndexFormatError(f"{path / 'manifest.json'}: counts.{name} is {counts[name]}, its shards hold "
                                   f"{low} to {high} (damaged or altered manifest)")


def check_place(mpath: Path, manifest: dict[str, Any], entry: dict[str, Any]) -> None:
    """A part's manifest against its ``entry`` in the top manifest's shard list: a shard's ``shard``
    and an appended segment's ``segment`` name the place the entry gives them; the first segment of an
    index built unsharded (opened through the copy of its manifest) names none."""
    if entry.get("manifest") is not None:
        if "shard" in manifest or "segment" in manifest or "shards" in manifest:
            raise IndexFormatError(f"{mpath}: not the first segment of its index (damaged or altered index)")
        return
    if entry.get("segment", 0):
        place = {k: entry.get(k) for k in ("segment", "dir", "first_post", "posts")}
        if manifest.get("segment") != place:
            raise IndexFormatError(f"{mpath}: not segment {entry.get('segment')} of its index (damaged or altered index)")
        return
    place = {k: entry.get(k) for k in ("index", "of", "dir", "first_post", "posts")}
    if manifest.get("shard") != place:
        raise IndexFormatError(f"{mpath}: not shard {entry.get('index')} of its index (damaged or altered index)")
