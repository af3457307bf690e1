"""Sealing an index's manifests: each file's sha256 and size, the manifest's own checksum, and the top
manifest of a sharded index that pins every shard's."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..durable import fsync_dir, sealed_json, sha256_of
from .format import MANIFEST
from .validate import HASHING, hashing_record

__all__ = ["seal_manifest", "write_top_manifest"]


def write_top_manifest(tmp: Path, top: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """The top manifest of a sharded index in ``tmp``: ``top`` (the whole index's manifest), no files
    of its own, and the ``shards`` entries that pin each shard's manifest."""
    with open(tmp / MANIFEST, "wb") as fh:
        fh.write(sealed_json({**top, "files": {}, "shards": entries}))
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(tmp)


def seal_manifest(tmp: Path, manifest: dict[str, Any]) -> str:
    """Write ``manifest`` with the sha256 and size of every file in ``tmp`` (each fsynced first), and
    ``hashing.json``, the parameters the files were made with (:mod:`.validate`), among them;
    returns the manifest file's sha256."""
    (tmp / HASHING).write_text(json.dumps(hashing_record(manifest), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    def sealed(f: Path) -> dict[str, Any]:
        with open(f, "rb+") as fh:
            os.fsync(fh.fileno())
        return {"sha256": sha256_of(f), "bytes": f.stat().st_size}

    names = sorted(f for f in tmp.iterdir() if f.name != MANIFEST)
    # fsync and sha256 release the GIL: the files are done a few at a time
    with ThreadPoolExecutor(min(4, len(names) or 1)) as pool:
        files: dict[str, dict[str, Any]] = {f.name: entry for f, entry in zip(names, pool.map(sealed, names))}
    with open(tmp / MANIFEST, "wb") as fh:
        fh.write(sealed_json({**manifest, "files": files}))
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(tmp)
    return sha256_of(tmp / MANIFEST)
