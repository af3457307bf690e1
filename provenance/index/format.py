"""The index format: its files, their layout, the format version.

An index is a directory a user can inspect. Post numbers are rows of ``posts.parquet``; every other
file is a NumPy ``.npy`` array (memory-mapped when opened, so a scan pages in only what it touches):

===========================  ===================================================================
file                         content
===========================  ===================================================================
``manifest.json``            format version, tool version, :class:`IndexParams`, normalization,
                             hash and MinHash scheme names, counts, the sha256 of every other file,
                             and for a keyed index the key's fingerprint (``key``; never the key)
``hashing.json``             the parameters the data files were made with (index parameters,
                             normalization, hash names, key fingerprint), pinned by its sha256 like
                             every data file: opening refuses a manifest that says otherwise
                             (:mod:`provenance.index.validate`; format 11)
``posts.parquet``            one row per post: ``post_id``, ``source``, ``row``, ``kind``
                             (``shingled`` / ``short`` / ``empty``), ``n_tokens``, ``exact_key`` (the
                             hash of a short post's whole token sequence; 0 for the other posts),
                             ``head_key`` and the ``--meta-field`` columns (``meta_NAME``)
``post_kind.npy``            uint8 ``(posts,)``: 0 shingled, 1 short, 2 empty
``post_flags.npy``           uint8 ``(posts,)``: 1 the post quotes someone (its words are a common
                             origin's, :func:`~.prepare.quoted_posts`), 2 *unattributable*: a short
                             post whose whole text carries fewer than ``min_post_bits`` evidence bits,
                             so no match of it could count; it holds no exact key or head; 4 the post
                             is a quotation and nothing more (no words of its own outside it, or a
                             retweet; format 17)
``post_date.npy``            uint16 ``(posts,)``: the post's date (``index build --date-field``), days
                             since 1970-01-01 UTC (up to 2149-06-05); 65535 for none
                             (:data:`NO_POST_DATE`; the forms read: :mod:`provenance.io.dates`)
``post_tokens.npy``          ``(posts,)``: tokens after normalization
``post_distinct.npy``        ``(posts,)``: distinct shingles (0 unless shingled)
``post_frequent.npy``        ``(posts,)``: distinct frequent shingles
``post_head_frequent.npy``   bool ``(posts,)``: one of the post's first ``ngram`` shingles is frequent
``shingle_ids.npy``          every shingled post's shingles in token order, concatenated, each as the
                             position of its first occurrence in the post (uint8 while every post has
                             at most 256 shingles, else uint16 or uint32): what verification compares
                             (the hashes of a post's shingles are its postings and frequent occurrences)
``token_codes.npy``          uint32: every shingled post's token codes in order, concatenated (the
                             alignment's view of its words, :func:`provenance.text.hashing.token_codes`)
``key_counts.npy``           the shingle hashes that generate candidates (the *keys*), sorted, in three
``key_hi.npy``               parts: how many keys have each value of the top 16 bits (65,536 counts,
``key_lo.npy``               as narrow as they fit), then bits 32-47 of each key (uint16) and bits
                             0-31 (uint32): six bytes a key, nothing lost
                             (:class:`~provenance.index.lookup.KeyTable`; format 9 stored uint64)
``key_multi.npy``            increasing: the numbers of the keys held by more than one post (uint32
                             while the postings fit, else int64)
``key_multi_ends.npy``       the row of ``key_posts`` after each such key's last posting (same dtype);
                             every other key has one posting, and key ``j``'s rows follow from these
                             two (:class:`~provenance.index.lookup.KeyRows`; format 8 stored ``(keys+1,)``
                             offsets, 4 bytes a key where 90 % of a tweet index's keys have one post)
``key_posts.npy``            uint32: post numbers, grouped by key in key order, increasing within a key
``key_pos.npy``              the key's first position in that post's shingle sequence (uint8 while
                             every post has at most 256 shingles, else uint16 or uint32)
``seed_keys.npy``            uint64, sorted, distinct: the *seeds*, the keys a containment scan probes:
``seed_ends.npy``            each post's disjoint shingles of at most ``seed_posts`` posts
``seed_posts.npy``           (:mod:`provenance.index.seeds`); the row of ``seed_posts`` after each seed's
                             last post (uint32 while the postings fit, else int64); uint32 posts,
                             grouped by seed, increasing within one (format 16)
``frequent.npy``             uint64, sorted: the frequent shingles (in more than ``max_key_posts``
                             posts; not keys, except a post's rarest when all of its are frequent)
``frequent_offsets.npy``     ``(posts+1,)``: post ``i``'s frequent shingle occurrences are
``frequent_hashes.npy``      uint64 ``hashes[o[i]:o[i+1]]`` at positions
``frequent_pos.npy``         uint32 ``pos[o[i]:o[i+1]]`` (every occurrence, in order)
``short_keys.npy``           uint64, sorted: exact keys of the short posts
``short_posts.npy``          uint32: the short post of each exact key
``short_heads.npy``          uint64, sorted, distinct: the first shingle of each short post of
                             ``inline_short_bits`` bits or more, where a scan looks for such a post inside
                             a sentence; ``posts.parquet`` keeps each one's as ``head_key`` (0 for the
                             other posts)
``shingles.npy``             uint64: the shingle hashes themselves, laid out as ``shingle_ids``
                             (a containment scan joins a candidate post's whole sequence to the
                             document, exact Jaccard needs the posts' sets whole; format 16: in
                             every index)
``signatures.npy``           uint32 ``(posts, num_perm)``: MinHash signatures (datasketch affine32)
``lsh_keys.npy``             uint64 ``(bands, posts)``: band keys, sorted within each band
``lsh_posts.npy``            uint32 ``(bands, posts)``: the post of each band key
===========================  ===================================================================

The three per-post counts (``post_tokens``, ``post_distinct``, ``post_frequent``) and
``frequent_offsets`` are stored in the narrowest of uint8, uint16, uint32 that holds their largest
value (int64 beyond), like ``shingle_ids`` and ``key_pos``; the ``.npy`` header names the dtype.

*Made on opening, not stored* (format 10; everything a file would hold follows from the stored ones):
where each post's shingle ids and token codes start (a shingled post of ``t`` tokens has ``t - ngram
+ 1`` shingles and ``t`` codes, the others none: ``Index.shingle_offsets`` / ``Index.code_offsets``,
running sums of ``post_tokens``) and the key filter, a bitmap over the keys' top bits that answers
"certainly absent" for most shingles of a document before any search (``Index.keys.filter``). Both
are made when first used, in memory (4 bytes a post each, and one or two bytes a key).

The last three (:data:`SKETCH_ARRAYS`) are written only for ``IndexParams(jaccard=True)``
(``index build --jaccard``): only ``scan --mode jaccard`` reads them, and they would be about
three quarters of the bytes of an index of tweets.

*Build in bounded memory.* Posts are read batch by batch; per-post arrays are appended to their files
as they come, and the tables that must be sorted across all posts (postings, band keys, short-post
keys, post ids) go through an external sort partitioned by hash range (:class:`~provenance.index.spill.HashSpill`):
records stay in memory up to a quarter of ``memory_limit``, then spill to one file per hash range;
ranges are then sorted and written one at a time (a range larger than an eighth of the limit is
split again). Sorted tables are the ranges concatenated in hash order, so the result does not depend
on the memory limit: every ``.npy`` file is byte-identical whatever the limit.

No post text is stored: only hashes, ids, the positions of the posts in their files and the
``--meta-field`` columns asked for. A *keyed* index (``key``) derives every token hash from a secret
key (:mod:`provenance.keys`); it opens without the key (to read its manifest and posts table), but
hashing texts against it, to scan or append, needs the key (:meth:`Index.token_hasher`).

Every file is written into a temporary directory that is renamed into place only when complete;
opening an index checks the format version and every checksum and refuses a mismatch.

*Sharded* (``index build --shards N``, :mod:`.shards`): the directory holds only ``manifest.json``,
whose ``shards`` list each shard's directory (``shard-0000`` ...), first post, number of posts and
manifest sha256, and one directory per shard laid out as above (an index of its posts, numbered from
0, whose manifest's ``shard`` names its place); and ``routes/`` (format 18, :mod:`.routes`): what a
probe reads (seeds, short posts' exact keys and heads) for all posts, cut into as many ranges of key
hash as there are shards, pinned by the top manifest's ``routes``.

*Appended to* (``index build --append``, :mod:`.segments`; format 15): the top manifest of a sharded
index, whose ``shards`` entries each carry their ``segment``: the first segment's parts (the index as
built: its shard directories, or, for an index built unsharded, its own files in the directory, read
through ``segment-0000.json``, the copy of its manifest), then one directory an append
(``segment-0001`` ...: an index of the appended posts, numbered from 0, whose manifest's ``segment``
names its place); ``segments`` counts them. ``index compact`` writes the single-build form again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..params import IndexParams

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "ARRAYS", "SKETCH_ARRAYS", "arrays_of", "is_index", "KINDS", "SHINGLED",
           "SHORT", "EMPTY", "QUOTED", "QUOTE_ONLY", "UNATTRIBUTABLE", "NO_POST_DATE", "post_facts"]


FORMAT = "provenance-index"
FORMAT_VERSION = 18  # 4: token codes; 5: short posts' head shingles; 6: sketches optional; 7: shingle ids, not hashes; 8: shards;
# 9: per-post counts and offsets as narrow as they fit; key rows stored for keys of several posts only;
# 10: keys in six bytes (key_counts, key_hi, key_lo); key filter, shingle and code offsets made on opening;
# 11: hashing.json (the parameters the data files were made with, pinned like them: an edited manifest is refused);
# 12: text in scripts written without spaces (Han, kana, Thai ...) is tokenized as character bigrams
# (normalization provenance-normalize/3): the tokens, shingles and keys of such posts changed;
# 13: FILE:ROW post ids name the file by its path inside the folder given, or its name (io/names.py), not the
# path as typed; manifest "fields" has "id_prefix", and "notes"
# 14: post_flags (quoted, unattributable: no keys) and post_date
# 15: appends as segments (index/segments.py): the top manifest's "shards" entries carry "segment" (and the
# first segment of an index built unsharded "manifest": segment-0000.json), "segments" counts them
# 16: seeds (seed_keys, seed_ends, seed_posts; params.seed_posts): the few disjoint keys of each post a scan probes;
# shingles.npy in every index
# 17: post_flags bit 4, QUOTE_ONLY: a post that is a quotation and nothing more (found whole, it still counts as quoted)
# 18: routes (index/routes.py): a sharded index's seeds and short-post tables also cut by key hash, so that a
# distributed scan sends each document shingle to one part, not to every shard; the top manifest's "routes"
MANIFEST = "manifest.json"
ARRAYS = ("post_kind", "post_flags", "post_date", "post_tokens", "post_distinct", "post_frequent", "post_head_frequent", "shingle_ids",
           "token_codes", "key_counts", "key_hi", "key_lo", "key_multi", "key_multi_ends", "key_posts", "key_pos", "frequent",
           "frequent_offsets", "frequent_hashes", "frequent_pos", "short_keys", "short_posts", "short_heads", "seed_keys",
           "seed_ends", "seed_posts", "shingles")
SKETCH_ARRAYS = ("signatures", "lsh_keys", "lsh_posts")


def arrays_of(params: IndexParams) -> tuple[str, ...]:
    """The ``.npy`` files (without the suffix) an index built with ``params`` holds."""
    return ARRAYS + (SKETCH_ARRAYS if params.jaccard else ())

KIND_SHINGLED, KIND_SHORT, KIND_EMPTY = "shingled", "short", "empty"
KINDS = (KIND_SHINGLED, KIND_SHORT, KIND_EMPTY)  # post_kind codes 0, 1, 2
SHINGLED, SHORT, EMPTY = 0, 1, 2
QUOTED, UNATTRIBUTABLE, QUOTE_ONLY = 1, 2, 4  # post_flags bits
NO_POST_DATE = 0xFFFF  # post_date of a post without a date




def post_facts(flags: Any, dates: Any) -> dict[str, int]:
    """The manifest's counts of quoted, unattributable and dated posts, from ``post_flags`` and ``post_date``."""
    flags, dates = np.asarray(flags), np.asarray(dates)
    return {"quoted_posts": int(((flags & QUOTED) != 0).sum()),
            "unattributable_posts": int(((flags & UNATTRIBUTABLE) != 0).sum()),
            "dated_posts": int((dates != NO_POST_DATE).sum())}


def is_index(path: Path) -> bool:
    return (path / MANIFEST).is_file()


POST_TEXTS = "post_texts.parquet"
"""Optional (``index build --keep-text``): ``post_id`` and ``text`` of every post, in post order; listed and
checksummed in the manifest like every other file. Never in a keyed index."""
