"""How an index is cut and what it takes on disk (``provenance index info``)."""

from __future__ import annotations

from dataclasses import dataclass

from .shards import ShardedIndex, shards_of
from .store import Index

__all__ = ["IndexSize", "index_size"]


@dataclass(frozen=True)
class IndexSize:
    """How an index is cut and what it takes on disk (for ``provenance index info``)."""

    posts: int
    shard_posts: tuple[int, ...]
    """Posts in each shard (one entry for an unsharded index)."""
    disk_bytes: int
    """Bytes of the files its manifests (the shards' and the routes', when sharded) list."""
    route_parts: int = 0
    """Parts of its routes (:mod:`.routes`; 0 without)."""

    @property
    def bytes_per_post(self) -> float:
        return self.disk_bytes / max(self.posts, 1)


def index_size(index: "Index | ShardedIndex") -> IndexSize:
    """The shards of ``index`` and the bytes its files take."""
    parts = [shard for shard, _ in shards_of(index)]
    disk = sum(f.get("bytes", 0) for shard in parts for f in shard.manifest.get("files", {}).values())
    routes = index.routes if isinstance(index, ShardedIndex) else None
    return IndexSize(index.n_posts, tuple(shard.n_posts for shard in parts), disk + (routes.bytes if routes else 0),
                     routes.parts if routes else 0)
