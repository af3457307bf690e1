"""An opened index (:class:`Index`): its arrays, its key, and the posts' shingle hashes rebuilt from them."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import polars as pl
from numpy.typing import NDArray

from ..arrays import expand_ranges
from ..errors import IndexFormatError, ParameterError, SecretKeyError
from ..keys import Key, as_key, short
from ..params import IndexParams
from ..text.shingles import TokenHasher
from .sketch import lsh_params
from ..arrays import sorted_unique
from .spill import HashSpill
from .format import MANIFEST, SHINGLED
from .lookup import KeyFilter, KeyRows, KeyTable
from .seeds import SeedTable

__all__ = ["Index", "KeyedByManifest", "check_key"]


if TYPE_CHECKING:
    from ..durable import BackgroundCheck


_BY_POST = np.dtype([("h", "<u8"), ("v", "<u8")])
"""A shingle of a post by place: ``h`` = post << 32 | position, ``v`` its hash."""


def _by_post(post: NDArray, pos: NDArray, hashes: NDArray[np.uint64]) -> NDArray:
    out = np.empty(len(post), dtype=_BY_POST)
    out["h"] = (np.asarray(post).astype(np.uint64) << np.uint64(32)) | np.asarray(pos).astype(np.uint64)
    out["v"] = hashes
    return out


def _concatenate_records(a: NDArray, b: NDArray) -> NDArray:
    return np.concatenate([a, b]) if len(a) else b


def _pieces(offsets: NDArray, a: int, b: int, step: int) -> Iterator[tuple[int, int]]:
    """Consecutive post ranges covering ``a..b-1``, each of about ``step`` shingles (at least one post)."""
    while a < b:
        end = int(np.searchsorted(offsets, int(offsets[a]) + step, side="right")) - 1
        end = min(max(end, a + 1), b)
        yield a, end
        a = end




def check_key(path: Path | None, fp: str | None, key: Key | None) -> Key | None:
    """Check a key given for the index at ``path`` built with the key of fingerprint ``fp`` (None:
    built without a key): another key than the index's, or a key for an index built without one, is
    a SecretKeyError. No key at all is fine here (the index can be opened, not hashed against; see
    :meth:`Index.require_key`). Returns ``key``."""
    if key is None:
        return None
    if fp is None:
        raise SecretKeyError(f"{key.source}: the index {path} was built without a key; leave out --key-file")
    if key.fingerprint != fp:
        raise SecretKeyError(f"{key.source}: not the key of the index {path} (key fingerprint {short(key.fingerprint)}, "
                             f"the index's {short(fp)})")
    return key






class KeyedByManifest:
    """What an index (or a sharded one) does with the key its manifest names: ``path``, ``params``,
    ``manifest`` and ``key`` are the class's own."""

    path: Path
    params: IndexParams
    manifest: dict[str, Any]
    key: Key | None

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of the key the index was built with; None for an index built without one."""
        entry = self.manifest.get("key")
        return entry.get("fingerprint") if isinstance(entry, dict) else None

    def use_key(self, key: "Key | bytes | None") -> Any:
        """Check ``key`` against the index (see :func:`check_key`) and keep it for hashing; returns self."""
        k = check_key(self.path, self.fingerprint, as_key(key))
        if k is not None:
            self.key = k
        return self

    def check_unchanged(self) -> None:
        """Raise IndexFormatError when the directory no longer holds the manifest the index was opened
        with (rebuilt or appended to since, by a process that did not wait for its lock)."""
        try:
            now = hashlib.sha256((Path(self.path) / MANIFEST).read_bytes()).hexdigest()
        except OSError:
            now = None
        if now != self.manifest.get("manifest_sha256"):
            raise IndexFormatError(f"{self.path}: the index changed after it was opened (rebuilt or appended to); "
                                   "nothing written: scan again")

    def require_key(self) -> None:
        """Raise SecretKeyError if the index is keyed and no key was given."""
        if self.fingerprint is not None and self.key is None:
            raise SecretKeyError(f"{self.path}: this index was built with a key (fingerprint {short(self.fingerprint)}); "
                                 "pass it with --key-file")

    def token_hasher(self) -> TokenHasher:
        """A token hasher that hashes texts the way this index's posts were hashed."""
        self.require_key()
        return TokenHasher(self.params.seed, key=self.key)


@dataclass
class Index(KeyedByManifest):
    """An opened index. Arrays are read-only memory maps; see the module docstring for shapes."""

    path: Path
    params: IndexParams
    post_kind: NDArray[np.uint8]
    post_flags: NDArray[np.uint8]
    post_date: NDArray[np.uint16]
    post_tokens: NDArray[np.unsignedinteger]  # (counts and offsets: as narrow as they fit, format 9)
    post_distinct: NDArray[np.unsignedinteger]
    post_frequent: NDArray[np.unsignedinteger]
    post_head_frequent: NDArray[np.bool_]
    shingle_ids: NDArray[np.unsignedinteger]
    token_codes: NDArray[np.uint32]
    key_counts: NDArray[np.unsignedinteger]
    key_hi: NDArray[np.uint16]
    key_lo: NDArray[np.uint32]
    key_multi: NDArray[np.integer]
    key_multi_ends: NDArray[np.integer]
    key_posts: NDArray[np.uint32]
    key_pos: NDArray[np.unsignedinteger]
    frequent: NDArray[np.uint64]
    frequent_offsets: NDArray[np.integer]
    frequent_hashes: NDArray[np.uint64]
    frequent_pos: NDArray[np.uint32]
    short_keys: NDArray[np.uint64]
    short_posts: NDArray[np.uint32]
    short_heads: NDArray[np.uint64]
    seed_keys: NDArray[np.uint64]
    seed_ends: NDArray[np.integer]
    seed_posts: NDArray[np.uint32]
    shingles: NDArray[np.uint64] | None = None
    """The shingle hashes, MinHash signatures, LSH band keys and their posts: only in an index built
    with ``jaccard``."""
    signatures: NDArray[np.uint32] | None = None
    lsh_keys: NDArray[np.uint64] | None = None
    lsh_posts: NDArray[np.uint32] | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    _verifying: "BackgroundCheck | None" = field(default=None, repr=False, compare=False)
    key: Key | None = field(default=None, repr=False, compare=False)
    """The secret key of a keyed index, once given (checked against the manifest's fingerprint)."""
    posts_fd: int | None = field(default=None, repr=False, compare=False)
    """``posts.parquet`` as opened with the index (a descriptor it closes when collected): post ids
    are read from it, so that an index replaced at its path meanwhile cannot change them."""

    def require_sketches(self) -> None:
        """Raise ParameterError unless the index holds MinHash signatures and LSH bands (``--jaccard``)."""
        if self.lsh_keys is None:
            raise ParameterError(f"{self.path}: this index holds no MinHash signatures or LSH bands, which --mode jaccard "
                                 "needs; build it with: provenance index build --jaccard")

    @property
    def n_posts(self) -> int:
        return len(self.post_kind)

    @cached_property
    def posts(self) -> pl.DataFrame:
        """``posts.parquet``, read on first use (a scan reads only the ids of the posts it found)."""
        return pl.read_parquet(self.path / "posts.parquet")

    def posts_column(self, name: str) -> pl.LazyFrame:
        """One column of ``posts.parquet``, read from the file the index was opened with (``posts_fd``)
        where it has one."""
        if self.posts_fd is None:
            return pl.scan_parquet(self.path / "posts.parquet").select(name)
        import pyarrow.parquet as pq

        with os.fdopen(os.dup(self.posts_fd), "rb") as fh:
            column = pl.from_arrow(pq.ParquetFile(fh).read(columns=[name]))[name]
        return pl.LazyFrame({name: column})

    @cached_property
    def head_keys(self) -> NDArray[np.uint64]:
        """Each post's ``head_key`` (its first shingle where the post is a short post matched inside a
        sentence, else 0), read on first use."""
        return self.posts_column("head_key").collect()["head_key"].to_numpy().astype(np.uint64, copy=False)

    def post_ids(self, posts: NDArray[np.int64]) -> pl.Series:
        """The ``post_id`` of each post number in ``posts`` (reads only those rows' ids)."""
        wanted = sorted_unique(np.asarray(posts))
        ids = self.posts_column("post_id")
        found = (ids.with_row_index("_p")
                 .join(pl.LazyFrame({"_p": pl.Series(wanted, dtype=pl.UInt32)}), on="_p", how="semi").collect().sort("_p"))
        at = np.searchsorted(found["_p"].to_numpy(), posts)
        return found["post_id"].gather(at)

    @property
    def bands(self) -> tuple[int, int]:
        return lsh_params(self.params.lsh_threshold, self.params.num_perm)

    @property
    def checksum(self) -> str:
        """sha256 of ``manifest.json`` (which pins every data file's sha256)."""
        return self.manifest.get("manifest_sha256", "")

    def made_bytes(self) -> int:
        """Bytes of what this index made in memory from its files when first used (key filter and search
        buckets, shingle and code offsets): resident beside the mapped files' pages."""
        d = self.__dict__
        n = sum(d[k].nbytes for k in ("shingle_offsets", "code_offsets") if k in d)
        return n + sum(d[k].made_bytes() for k in ("keys", "seeds") if k in d)

    @cached_property
    def shingle_offsets(self) -> NDArray[np.integer]:
        """``(posts+1,)``: post ``i``'s shingle ids are ``shingle_ids[o[i]:o[i+1]]`` (made from the token
        counts: a shingled post of ``t`` tokens has ``t - ngram + 1`` shingles, the others none)."""
        n = self.post_tokens.astype(np.int64) - (self.params.ngram - 1)
        return _running_sum(np.where(self.post_kind == SHINGLED, n, 0), len(self.shingle_ids), self.path)

    @cached_property
    def code_offsets(self) -> NDArray[np.integer]:
        """``(posts+1,)``: post ``i``'s token codes are ``token_codes[o[i]:o[i+1]]`` (a shingled post has
        one a token, the others none)."""
        return _running_sum(np.where(self.post_kind == SHINGLED, self.post_tokens.astype(np.int64), 0), len(self.token_codes), self.path)

    @cached_property
    def keys(self) -> KeyTable:
        """The sorted key hashes (:class:`~provenance.index.lookup.KeyTable`: ``len``, ``keys[j]``,
        ``keys.find(hashes)``)."""
        return KeyTable(self.key_counts, self.key_hi, self.key_lo)

    @cached_property
    def seeds(self) -> SeedTable:
        """The seeds a containment scan probes (:class:`~provenance.index.seeds.SeedTable`: ``find``, ``rows``)."""
        return SeedTable(self.seed_keys, self.seed_ends, self.seed_posts)

    @cached_property
    def post_seeds(self) -> NDArray[np.uint8]:
        """``(posts,)``: each post's number of seeds (at most 255; made when first asked, one count a seed)."""
        counts = np.zeros(self.n_posts, dtype=np.int64)
        posts = self.seed_posts
        for at in range(0, len(posts), 1 << 24):  # (bounded memory over a large shard's seeds)
            counts += np.bincount(np.asarray(posts[at:at + (1 << 24)], dtype=np.int64), minlength=self.n_posts)
        return np.minimum(counts, 255).astype(np.uint8)

    @property
    def keys_filter(self) -> KeyFilter:
        return self.keys.filter

    @property
    def key_filter(self) -> NDArray[np.uint8]:
        """The key filter's bitmap (made when the index is opened, not stored since format 10)."""
        return self.keys.filter.bitmap

    def wait_verified(self) -> None:
        """Wait for a background checksum check (``open_index(verify="background")``); raise
        IndexFormatError if a file differs from the manifest."""
        pending, self._verifying = self._verifying, None
        if pending is not None:
            pending.result()

    @cached_property
    def key_index(self) -> KeyRows:
        """Where each key's postings lie (:class:`~provenance.index.lookup.KeyRows`)."""
        return KeyRows(self.key_multi, self.key_multi_ends, len(self.keys))

    def key_rows(self, keys: NDArray[np.integer]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """For key numbers ``keys``: the first row of each in ``key_posts`` / ``key_pos`` and its number
        of posts, int64."""
        return self.key_index.rows(keys)

    @property
    def key_offsets(self) -> NDArray[np.int64]:
        """int64 ``(keys+1,)``: key ``j``'s postings are rows ``o[j]:o[j+1]``, computed whole (for
        inspection and tests; the scan asks :meth:`key_rows` for the keys it meets)."""
        return self.key_index.offsets(0, len(self.keys))

    def post_shingles(self, i: int) -> NDArray[np.uint64]:
        """Post ``i``'s shingle hashes in token order (see :meth:`shingle_hashes`)."""
        return self.shingle_hashes(np.array([i]))

    def shingle_hashes(self, posts: NDArray[np.integer]) -> NDArray[np.uint64]:
        """The shingle hashes of ``posts`` in token order, concatenated (``shingle_offsets`` gives each
        post's length). Stored as such only with ``jaccard``; otherwise rebuilt from the postings and
        the frequent occurrences, reading every posting: for inspection and tests (a scan compares
        ``shingle_ids``; an append streams :meth:`shingle_sequences`)."""
        posts = np.asarray(posts, dtype=np.int64)
        if self.shingles is not None:
            lo = self.shingle_offsets[posts].astype(np.int64)
            return self.shingles[expand_ranges(lo, self.shingle_offsets[posts + 1].astype(np.int64) - lo)]
        rows = np.flatnonzero(np.isin(self.key_posts, posts.astype(np.uint32)))
        key = self.key_index.key_of(rows)
        return self._rebuild(posts, _by_post(self.key_posts[rows], self.key_pos[rows], self.keys[key]))

    def shingle_sequences(self, work: Path, memory: int) -> Iterator[tuple[int, int, NDArray[np.uint64]]]:
        """Every post's shingle hashes, in post order: ``(a, b, hashes of posts a..b-1 concatenated)``,
        in bounded memory (about ``memory`` bytes; an external sort of the postings by post in
        ``work``)."""
        off = self.shingle_offsets
        step = max(memory // 64, 1 << 16)  # shingles a piece
        if self.shingles is not None:
            for a, b in _pieces(off, 0, self.n_posts, step):
                yield a, b, np.asarray(self.shingles[off[a] : off[b]])
            return
        spill = HashSpill(work, "by-post", _BY_POST)
        for j0 in range(0, len(self.keys), step):
            j1 = min(j0 + step, len(self.keys))
            ko = self.key_index.offsets(j0, j1)
            r0, r1 = int(ko[0]), int(ko[-1])
            spill.add(_by_post(self.key_posts[r0:r1], self.key_pos[r0:r1], np.repeat(self.keys[j0:j1], np.diff(ko))))
            if spill.buffered > memory // 4:
                spill.flush()
        done, carry = 0, np.zeros(0, dtype=_BY_POST)
        for r in [*spill.ranges(max(memory // 8, 256)), None]:
            recs = carry if r is None else _concatenate_records(carry, r)
            upto = self.n_posts if r is None else int(recs["h"][-1] >> np.uint64(32)) if len(recs) else done
            cut = int(np.searchsorted(recs["h"], np.uint64(upto) << np.uint64(32)))
            for a, b in _pieces(off, done, upto, step):
                lo, hi = np.searchsorted(recs["h"][:cut], np.array([a, b], dtype=np.uint64) << np.uint64(32))
                yield a, b, self._rebuild(np.arange(a, b), recs[lo:hi])
            done, carry = upto, recs[cut:]

    def _rebuild(self, posts: NDArray[np.int64], keyed: NDArray) -> NDArray[np.uint64]:
        """The shingle hashes of ``posts`` from ``keyed`` (the :data:`_BY_POST` records of their postings,
        any order) and their frequent occurrences: position ``k`` holds the shingle first seen at
        ``shingle_ids[k]``, which a posting (first occurrences) or a frequent occurrence names."""
        lo = self.shingle_offsets[posts].astype(np.int64)
        n = self.shingle_offsets[posts + 1].astype(np.int64) - lo
        flo = self.frequent_offsets[posts].astype(np.int64)
        fn = self.frequent_offsets[posts + 1].astype(np.int64) - flo
        frows = expand_ranges(flo, fn)
        table = np.concatenate([keyed, _by_post(np.repeat(posts, fn), self.frequent_pos[frows], self.frequent_hashes[frows])])
        table = table[np.argsort(table["h"], kind="stable")]
        want = (np.repeat(posts, n).astype(np.uint64) << np.uint64(32)) | self.shingle_ids[expand_ranges(lo, n)].astype(np.uint64)
        at = np.searchsorted(table["h"], want)
        if len(want) and (at.max() >= len(table) or np.any(table["h"][at] != want)):
            raise IndexFormatError(f"{self.path}: a post's shingle is neither a posting nor a frequent occurrence "
                                   "(damaged index)")
        return table["v"][at]


def _running_sum(lengths: NDArray[np.int64], total: int, path: Path) -> NDArray[np.integer]:
    """``(n+1,)`` offsets of consecutive runs of ``lengths``, as uint32 while they fit; checked against
    the ``total`` the stored sequence holds (a damaged count would misplace every later post)."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    if int(out[-1]) != total:
        raise IndexFormatError(f"{path}: the token counts make {int(out[-1]):,} entries where the index stores {total:,} (damaged index)")
    return out.astype(np.uint32) if total < 1 << 32 else out
