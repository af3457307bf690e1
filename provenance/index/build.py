"""Building an index's arrays in bounded memory, batch by batch (:class:`Builder`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl
from numpy.typing import NDArray

from ..errors import InputError
from ..keys import Key, align_subkey, as_key
from ..text.hashing import token_codes
from ..params import IndexParams
from ..text.shingles import TokenHasher
from .sketch import band_keys, lsh_params, minhash
from ..arrays import narrowest_uint, sorted_unique, stable_argsort
from .spill import HashSpill, KeyWriter, NpyWriter, copy_narrow, narrow_in_place, read_rows, write_distinct
from .format import EMPTY, SHINGLED, SHORT, UNATTRIBUTABLE, post_facts
from .lookup import KeyFilter, KeyRows, find_in
from .prepare import PreparedPosts, prepare_posts
from .seeds import SeedChooser
from .store import Index

__all__ = ["Builder", "NARROWED", "WholeFacts"]

NARROWED = ("frequent_offsets", "post_tokens", "post_distinct", "post_frequent")
"""Per-post arrays written wide while the posts stream in, then stored in the narrowest unsigned dtype
that holds their largest value (format 9)."""


_POSTING = np.dtype([("h", "<u8"), ("p", "<u4"), ("pos", "<u4")])
_PAIR = np.dtype([("h", "<u8"), ("p", "<u4")])


def _pairs(h: NDArray[np.uint64], p: NDArray[np.uint32]) -> NDArray:
    out = np.empty(len(h), dtype=_PAIR)
    out["h"], out["p"] = h, p
    return out


def _frequency(h: NDArray[np.uint64]) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """For postings sorted by hash: is each hash's first posting, and its number of posts."""
    new = np.ones(len(h), dtype=bool)
    new[1:] = h[1:] != h[:-1]
    run = np.cumsum(new) - 1
    return new, np.bincount(run)[run]


@dataclass
class WholeFacts:
    """What a shard built on its own (a Dask build, :mod:`.distributed`) must know of the index over all
    posts to write the files a cut of that index would: which shingles more than ``min(seed_posts,
    max_key_posts)`` posts hold over all posts (``frequent``: for sorted hashes, which are and their post counts there), the most shingles of one post
    (``longest``), the number of (shingle, post) postings (``postings``), and the number of the
    shard's first post among all posts (``first_post``: keyed token codes depend on it)."""

    frequent: Callable[[NDArray[np.uint64]], tuple[NDArray[np.bool_], NDArray[np.int64]]]
    longest: int
    postings: int
    first_post: int
    posts_columns: pl.DataFrame
    """No rows, the columns of the posts table over all posts (a shard's table has them all)."""


class Builder:
    """Writes an index into directory ``out`` from posts added batch by batch.

    With ``whole``, it writes one shard of an index over more posts, as :func:`.shards.write_shards`
    would cut it from that index: frequency and dtypes are decided by ``whole``, post ids are not
    checked (the Dask build checks them over all posts), and the per-post arrays that are stored
    narrow (:data:`NARROWED`) stay wide, to be narrowed once every shard's largest values are known.

    With ``first_post`` alone, it writes an index of its own whose posts follow that many others (an
    appended segment, :mod:`.segments`): only the keyed token codes depend on it.
"""

    def __init__(self, params: IndexParams, out: Path, memory_limit: int, key: Key | None = None,
                 whole: WholeFacts | None = None, date_field: str | None = None, first_post: int = 0) -> None:
        self.params, self.out, self.whole, self.date_field = params, out, whole, date_field
        self.first_post = whole.first_post if whole is not None else first_post  # (a segment's: see .segments)
        self.work = out / ".work"
        self.work.mkdir()
        self.buffer_limit = max(memory_limit // 4, 256)
        self.range_limit = max(memory_limit // 8, 256)
        self.n_bands, self.n_rows = lsh_params(params.lsh_threshold, params.num_perm) if params.jaccard else (0, 0)
        self.hasher = TokenHasher(params.seed, key=key)
        w = self._writer
        self.shingles_path = out / "shingles.npy"
        self.w_shingles = NpyWriter(self.shingles_path, np.uint64)
        self.w_ids = NpyWriter(self.work / "shingle_ids.npy", np.uint32)
        # (the offsets follow from the token counts when the index is opened: only the build keeps them)
        self.w_offsets = NpyWriter(self.work / "shingle_offsets.npy", np.int64)
        self.w_offsets.append(np.zeros(1, dtype=np.int64))
        self.w_codes = w("token_codes", np.uint32)
        k = as_key(key)
        self.code_subkey = align_subkey(k.secret) if k is not None else None
        self.w_kind, self.w_tokens, self.w_distinct = w("post_kind", np.uint8), w("post_tokens", np.int32), w("post_distinct", np.int32)
        self.w_flags, self.w_date = w("post_flags", np.uint8), w("post_date", np.uint16)
        self.w_sig = w("signatures", np.uint32, (params.num_perm,)) if params.jaccard else None
        self.postings = HashSpill(self.work, "postings", _POSTING)
        self.bands = [HashSpill(self.work, f"band{b:03d}", _PAIR, bits=4) for b in range(self.n_bands)]
        self.short = HashSpill(self.work, "short", _PAIR, bits=4)
        self.short_heads = HashSpill(self.work, "short_heads", _PAIR, bits=4)
        self.ids = HashSpill(self.work, "ids", _PAIR, bits=4)
        self.spills = [self.postings, *self.bands, self.short, self.short_heads, self.ids]
        self.frames: list[pl.DataFrame] = []
        self.frame_bytes = 0
        self.parts: list[tuple[Path, int, int]] = []  # spilled posts tables: file, first post, posts
        self.n_posts = self.n_shingles = 0
        self.longest = 0  # most shingles of one post
        self.kinds = np.zeros(3, dtype=np.int64)
        self.facts = {"quoted_posts": 0, "unattributable_posts": 0, "dated_posts": 0}
        self.rarest_keys = np.zeros(0, dtype=np.uint64)
        self.n_seeds = 0

    def _writer(self, name: str, dtype: Any, row_shape: tuple[int, ...] = ()) -> NpyWriter:
        return NpyWriter(self.out / f"{name}.npy", dtype, row_shape)

    # -- adding posts

    def add_texts(self, batch: Any) -> None:
        self.add_prepared(prepare_posts(batch, self.params, self.hasher, self.date_field))

    def add_prepared(self, posts: PreparedPosts) -> None:
        """Add posts the text stage prepared (:func:`prepare_posts`), numbered from the next post."""
        first = self.n_posts + self.first_post
        shingled_tokens = np.where(posts.kind == SHINGLED, posts.n_tokens, 0)
        post_of_token = np.repeat(np.arange(first, first + len(posts), dtype=np.int64), shingled_tokens)
        codes = token_codes(posts.token_hashes, post_of_token, self.code_subkey)
        self.add(posts.frame, posts.kind, posts.n_tokens, posts.exact, posts.heads, posts.shingles, posts.lengths, codes,
                 posts.flags, posts.days)

    def add_index(self, base: "Index", first: int = 0) -> None:
        """Add every post of ``base``, whose first post is post ``first`` of the new index (its shingles
        are reused; the texts are not needed)."""
        lazy = pl.scan_parquet(base.path / "posts.parquet")
        off, co = base.shingle_offsets, base.code_offsets
        if self.n_posts != first:  # keyed codes depend on the post numbers, which must stay the same
            raise ValueError(f"add_index: post {first} would become post {self.n_posts}")
        for a, b, shingles in base.shingle_sequences(self.work, self.range_limit):
            frame = lazy.slice(a, b - a).collect()
            self.add(frame, np.asarray(base.post_kind[a:b]), np.asarray(base.post_tokens[a:b]),
                     frame["exact_key"].to_numpy(), frame["head_key"].to_numpy(), shingles, np.diff(off[a : b + 1]),
                     np.asarray(base.token_codes[co[a] : co[b]]), np.asarray(base.post_flags[a:b]),
                     np.asarray(base.post_date[a:b]))

    def add(self, frame: pl.DataFrame, kind: NDArray[np.uint8], n_tokens: NDArray, exact: NDArray[np.uint64],
            heads: NDArray[np.uint64], shingles: NDArray[np.uint64], lengths: NDArray[np.int64],
            codes: NDArray[np.uint32], flags: NDArray[np.uint8], days: NDArray[np.uint16]) -> None:
        """Add ``len(lengths)`` posts: their table rows, kinds, token counts, exact and head keys, the
        shingles of the shingled ones (``lengths`` per post, 0 for the others) and their token codes
        (``n_tokens`` per shingled post) concatenated, their flags and dates (``post_flags``,
        ``post_date``). An unattributable post keeps its shingles (the layout follows the token
        counts) but no postings: it is no key's post, never a candidate."""
        n, p0 = len(lengths), self.n_posts
        if p0 + n >= 1 << 32:
            raise InputError("more than 4,294,967,295 posts in one index; split the posts over several indexes")
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        self.w_shingles.append(shingles)
        self.w_offsets.append(offsets[1:] + self.n_shingles)
        self.w_kind.append(kind)
        self.w_tokens.append(n_tokens)
        self.w_codes.append(np.asarray(codes, dtype=np.uint32))
        self.w_flags.append(flags)
        self.w_date.append(days)
        self.kinds += np.bincount(kind, minlength=3)
        unattributable = (flags & UNATTRIBUTABLE) != 0
        for name, count in post_facts(flags, days).items():
            self.facts[name] += count
        post_no = np.arange(p0, p0 + n, dtype=np.uint32)
        # Each (shingle, post) once, at its first position; sorted by shingle, then post.
        post = np.repeat(post_no, lengths)
        pos = (np.arange(len(shingles), dtype=np.int64) - np.repeat(offsets[:-1], lengths)).astype(np.uint32)
        order = stable_argsort(shingles)  # (rows come in (post, position) order)
        h, p, pos = shingles[order], post[order], pos[order]
        first = np.ones(len(h), dtype=bool)
        first[1:] = (h[1:] != h[:-1]) | (p[1:] != p[:-1])
        ids = np.empty(len(shingles), dtype=np.uint32)  # each shingle as its first position in the post
        ids[order] = pos[first][np.cumsum(first) - 1]
        self.w_ids.append(ids)
        recs = np.empty(int(first.sum()), dtype=_POSTING)
        recs["h"], recs["p"], recs["pos"] = h[first], p[first], pos[first]
        self.w_distinct.append(np.bincount(recs["p"] - np.uint32(p0), minlength=n))
        self.postings.add(recs[~unattributable[recs["p"] - np.uint32(p0)]] if unattributable.any() else recs)
        self.longest = max(self.longest, int(lengths.max(initial=0)))
        if self.w_sig is not None:
            sig = minhash(shingles, offsets, self.params.num_perm, self.params.seed)
            self.w_sig.append(sig.T)
            for b, keys in enumerate(band_keys(sig, self.n_bands, self.n_rows)):
                self.bands[b].add(_pairs(keys, post_no))
        short = np.flatnonzero((kind == SHORT) & ~unattributable)
        self.short.add(_pairs(exact[short], post_no[short]))
        inline = np.flatnonzero(np.asarray(heads) != 0)
        self.short_heads.add(_pairs(np.asarray(heads)[inline], post_no[inline]))
        if self.whole is None:  # (a shard's ids are checked over all posts)
            self.ids.add(_pairs(frame["post_id"].hash(seed=0).to_numpy(), post_no))
        self.frames.append(frame)
        self.frame_bytes += frame.estimated_size()
        self.n_posts += n
        self.n_shingles += len(shingles)
        if self.frame_bytes + sum(s.buffered for s in self.spills) > self.buffer_limit:
            self._flush()

    def _flush(self) -> None:
        for s in self.spills:
            s.flush()
        if self.frames:
            start = self.parts[-1][1] + self.parts[-1][2] if self.parts else 0
            frame = pl.concat(self.frames, how="diagonal_relaxed")
            part = self.work / f"posts-{len(self.parts):06d}.parquet"
            frame.write_parquet(part)
            self.parts.append((part, start, frame.height))
            self.frames, self.frame_bytes = [], 0

    # -- finishing

    def _posts_lazy(self) -> pl.LazyFrame:
        """The posts table so far, without the derived columns."""
        frames = [pl.scan_parquet(part) for part, _, _ in self.parts]
        if self.frames:
            frames.append(pl.concat(self.frames, how="diagonal_relaxed").lazy())
        return pl.concat(frames, how="diagonal_relaxed")

    def finish(self) -> dict[str, Any]:
        """Write every remaining file; return the manifest's ``counts``."""
        if self.n_posts == 0:
            raise InputError("no posts to index")
        if self.parts:  # something spilled already: spill the rest of the posts table too
            self._flush()
        for w in (self.w_shingles, self.w_ids, self.w_offsets, self.w_codes, self.w_kind,
                  self.w_tokens, self.w_distinct, self.w_flags, self.w_date):
            w.close()
        self._narrow_ids()
        if self.whole is None:
            self._check_unique_ids()
        n_keys, n_frequent, n_all_frequent = self._postings()
        self._frequent_occurrences()
        if self.w_sig is not None:
            self.w_sig.close()
            self._sorted_pairs(self.bands, "lsh_keys", "lsh_posts", shape=(self.n_bands, self.n_posts))
        self._sorted_pairs([self.short], "short_keys", "short_posts")
        write_distinct(self.short_heads, self._writer("short_heads", np.uint64), self.range_limit)
        self._posts_table()
        if self.whole is None:
            for name in NARROWED:
                narrow_in_place(self.out / f"{name}.npy", self.work, self.range_limit)
        shutil.rmtree(self.work)
        return {
            "posts": self.n_posts,
            "shingled_posts": int(self.kinds[SHINGLED]),
            "short_posts": int(self.kinds[SHORT]),
            "empty_posts": int(self.kinds[EMPTY]),
            "shingles": self.n_shingles,
            "keys": n_keys,
            "seeds": self.n_seeds,
            "frequent_shingles": n_frequent,
            "posts_with_only_frequent_shingles": n_all_frequent,
            **self.facts,
        }

    def _check_unique_ids(self) -> None:
        suspects: list[NDArray[np.uint32]] = []
        for r in self.ids.ranges(self.range_limit):
            same = np.flatnonzero(r["h"][1:] == r["h"][:-1])
            if len(same):
                suspects.append(r["p"][np.r_[same, same + 1]])
        if not suspects:
            return
        wanted = pl.Series(np.unique(np.concatenate(suspects)), dtype=pl.UInt32)
        rows = (self._posts_lazy().select("post_id", "source", "row").with_row_index("_p")
                .join(pl.LazyFrame({"_p": wanted}), on="_p", how="semi").collect().sort("_p"))
        dup = rows.filter(pl.col("post_id").is_duplicated())
        if dup.height:  # (equal id hashes of different ids are no duplicates)
            pid, sources, rows_ = dup.group_by("post_id", maintain_order=True).agg(pl.col("source"), pl.col("row")).row(0)
            raise InputError(f"{sources[1]}:{rows_[1]}: duplicate post id {pid!r} (first at {sources[0]}:{rows_[0]})")

    def _load(self, name: str) -> NDArray:
        """A finished array of the new index, memory-mapped."""
        return np.load(self.out / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    def _map(self, name: str, dtype: Any, fill: Any = 0, work: bool = False) -> NDArray:
        """A per-post array backed by a file (final, or in the work directory)."""
        path = (self.work if work else self.out) / f"{name}.npy"
        a = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(self.n_posts,))
        if fill:
            a[:] = fill
        return a

    def _postings(self) -> tuple[int, int, int]:
        """the keys, key_multi, key_multi_ends, key_posts, key_pos, frequent and the per-post frequent counts.

        Pass 1 over the hash ranges finds the frequent shingles, counts them per post, and keeps for
        each post its rarest frequent shingle (lowest post count, then lowest hash), and marks the
        shingles seeds may be (:mod:`.seeds`), chosen post by post after it. Pass 2 writes the seeds and
        the keys: every shingle that is not frequent, plus that rarest shingle for the posts whose
        every shingle is frequent (so that they can still be found).
        """
        p = self.params
        n_frequent = self._map("post_frequent", np.int32)
        head_frequent = self._map("post_head_frequent", np.bool_)
        best_df = self._map("best_df", np.uint32, fill=np.iinfo(np.uint32).max, work=True)
        best_h = self._map("best_h", np.uint64, work=True)
        w_frequent = self._writer("frequent", np.uint64)
        runs: list[NDArray | Path] = []
        n_plain_keys = 0
        records = self.whole.postings if self.whole is not None else self.postings.records
        offset_type = np.uint32 if records < 1 << 32 else np.int64
        offsets = np.load(self.work / "shingle_offsets.npy", mmap_mode="r", allow_pickle=False)
        seeds = SeedChooser(self.out, self.work, offsets, p.seed_posts, p.max_key_posts, p.ngram, offset_type)
        for k, r in enumerate(self.postings.ranges(self.range_limit)):
            h, post, pos = r["h"], r["p"], r["pos"]
            new, df, freq = self._frequency(h)
            seeds.mark(post, pos, df)
            n_plain_keys += int((new & ~freq).sum())
            if freq.any():
                w_frequent.append(h[new & freq])
                fh, fp, fdf = h[freq], post[freq], df[freq]
                u, c = sorted_unique(fp, return_counts=True)
                n_frequent[u] += c.astype(np.int32)
                head_frequent[fp[pos[freq] < p.ngram]] = True
                o = np.lexsort((fh, fdf, fp))
                first = o[np.r_[True, fp[o][1:] != fp[o][:-1]]]
                bp, bdf, bh = fp[first], fdf[first], fh[first]
                better = bdf < best_df[bp]  # ranges come in hash order: equal counts keep the lower hash
                best_df[bp[better]], best_h[bp[better]] = bdf[better], bh[better]
            if self.postings.spilled:
                run = self.work / f"sorted-{k:06d}.bin"
                r.tofile(run)
                runs.append(run)
            else:
                runs.append(r)
        w_frequent.close()
        distinct = self._load("post_distinct")
        all_frequent = (np.asarray(distinct) > 0) & (n_frequent == np.asarray(distinct))
        n_all_frequent = int(all_frequent.sum())
        # the key chosen for each post whose every shingle is frequent (few): looked up by post below,
        # instead of gathering from per-post arrays for every posting
        rarest_posts = np.flatnonzero(all_frequent).astype(np.uint32)
        rarest = np.asarray(best_h[rarest_posts])
        self.rarest_keys = np.unique(rarest)  # (a Dask build counts them over all shards)
        seeds.choose(max(self.range_limit // 4, 1 << 16))
        # Offsets and positions as narrow as the postings allow (the .npy header names the dtype).
        pos_type = narrowest_uint(max(self._longest - 1, 0))
        keys = KeyWriter(self._writer("key_hi", np.uint16), self._writer("key_lo", np.uint32))
        w_key_posts, w_key_pos = self._writer("key_posts", np.uint32), self._writer("key_pos", pos_type)
        # where each key's postings lie, for the keys of more than one post (KeyRows)
        w_multi, w_ends = self._writer("key_multi", offset_type), self._writer("key_multi_ends", offset_type)
        total = 0
        for run in runs:
            r = np.fromfile(run, dtype=_POSTING) if isinstance(run, Path) else run
            h, post = r["h"], r["p"]
            freq = self._frequency(h)[2]
            use = ~freq
            if n_all_frequent and freq.any():  # a frequent shingle is a key where it is its post's rarest
                f = np.flatnonzero(freq)
                at = np.minimum(np.searchsorted(rarest_posts, post[f]), n_all_frequent - 1)
                use[f] = (rarest_posts[at] == post[f]) & (rarest[at] == h[f])
            seeds.write(h, post, r["pos"], use & freq)  # (... and a seed)
            kh = h[use]
            starts = np.flatnonzero(np.r_[True, kh[1:] != kh[:-1]]) if len(kh) else np.zeros(0, np.int64)
            multi, ends = KeyRows.of_run(starts, len(kh), keys.rows, total)
            keys.append(kh[starts])
            w_multi.append(multi)
            w_ends.append(ends)
            w_key_posts.append(post[use])
            w_key_pos.append(r["pos"][use].astype(pos_type))
            total += len(kh)
            if isinstance(run, Path):
                run.unlink()
        for w in (w_multi, w_ends, w_key_posts, w_key_pos):
            w.close()
        keys.close(self.out / "key_counts.npy")
        seeds.close()
        self.n_seeds = seeds.rows
        n_frequent.flush()
        head_frequent.flush()
        return keys.rows, w_frequent.rows, n_all_frequent

    @property
    def _longest(self) -> int:
        """The most shingles of one post, over all posts of the index."""
        return self.whole.longest if self.whole is not None else self.longest

    def _frequency(self, h: NDArray[np.uint64]) -> tuple[NDArray[np.bool_], NDArray[np.int64], NDArray[np.bool_]]:
        """For postings sorted by hash: is each hash's first posting, its number of posts (over all
        posts of the index, where that is more than ``max_key_posts``), and whether it is frequent."""
        new, df = _frequency(h)
        if self.whole is not None:  # (its table: the shingles of more than min(seed_posts, max_key_posts) posts)
            common, posts = self.whole.frequent(h)
            df[common] = posts[common]
        return new, df, df > self.params.max_key_posts

    def _frequent_occurrences(self) -> None:
        """Every occurrence of a frequent shingle in each post (verification needs them: they are
        no keys, so candidate generation does not report them)."""
        frequent = self._load("frequent")
        offsets = np.load(self.work / "shingle_offsets.npy", mmap_mode="r", allow_pickle=False)
        filt = KeyFilter.of(np.asarray(frequent)) if len(frequent) else None
        w_off, w_hash, w_pos = (self._writer("frequent_offsets", np.int64), self._writer("frequent_hashes", np.uint64),
                                self._writer("frequent_pos", np.uint32))
        w_off.append(np.zeros(1, dtype=np.int64))
        step = max(self.range_limit // 64, 1 << 16)  # shingles per piece (lookups need ~40 bytes each)
        total, a = 0, 0
        while a < self.n_posts:
            b = int(np.searchsorted(offsets, offsets[a] + step, side="right")) - 1
            b = min(max(b, a + 1), self.n_posts)
            base = offsets[a : b + 1] - offsets[a]
            sh = read_rows(self.shingles_path, int(offsets[a]), int(offsets[b]))
            at = find_in(frequent, filt, sh)[0] if filt is not None else np.zeros(0, dtype=np.int64)
            post_of = np.searchsorted(base, at, side="right") - 1
            w_off.append(np.cumsum(np.bincount(post_of, minlength=b - a)) + total)
            w_hash.append(sh[at])
            w_pos.append(at - base[post_of])
            total += len(at)
            a = b
        for w in (w_off, w_hash, w_pos):
            w.close()

    def _narrow_ids(self) -> None:
        """``shingle_ids.npy`` in the narrowest dtype its values fit (they are below the longest post)."""
        copy_narrow(self.work / "shingle_ids.npy", self.out / "shingle_ids.npy", self.n_shingles,
                    max(self._longest - 1, 0), self.range_limit)

    def _sorted_pairs(self, spills: list[HashSpill], keys_name: str, posts_name: str,
                      shape: tuple[int, ...] | None = None) -> None:
        """The (hash, post) records of ``spills``, in hash order, as two arrays (``shape``: their shape)."""
        w_keys, w_posts = self._writer(keys_name, np.uint64), self._writer(posts_name, np.uint32)
        for spill in spills:
            for r in spill.ranges(self.range_limit):
                w_keys.append(r["h"])
                w_posts.append(r["p"])
        w_keys.close(shape)
        w_posts.close(shape)

    def _posts_table(self) -> None:
        """``posts.parquet``: in one piece (its bytes then depend only on its rows, not on the batches),
        unless it spilled in a build of a whole index (then streamed from its parts)."""
        target = self.out / "posts.parquet"
        if self.parts and self.whole is None:
            pl.concat([pl.scan_parquet(part) for part, _, _ in self.parts], how="diagonal_relaxed").sink_parquet(
                target, statistics=True)
            return
        frames = ([self.whole.posts_columns] if self.whole is not None else []) + [self._posts_lazy().collect()]
        pl.concat(frames, how="diagonal_relaxed").rechunk().write_parquet(target, statistics=True)
