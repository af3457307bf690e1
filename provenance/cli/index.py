"""``provenance index build`` and ``provenance index info``: :func:`provenance.api.build_index` and
:func:`provenance.api.open_index`, with the index's parameters and counts as a table or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from ..errors import Skipped
from ..params import IndexParams
from .common import AsJson, Exclude, Format, IdField, Include, MaxRecord, OnError, Quiet, ReadTimeout, set_read_timeout, \
    TextField, err, escape, load_key, print_json, progress, show_skipped, size_option

if TYPE_CHECKING:
    from ..index import Index, ShardedIndex

DEFAULT = IndexParams()


def build(
    posts: List[str] = typer.Argument(..., metavar="POSTS", help="Post files or folders (JSONL, CSV/TSV, Parquet, text; .gz/.zst), "
                                                               "local or fsspec URLs (s3://, https://, file://, ...)."),
    out: Path = typer.Option(..., "-o", "--out", help="Index directory to create."),
    text_field: str = TextField,
    id_field: Optional[str] = IdField,
    meta_field: Optional[List[str]] = typer.Option(None, "--meta-field", help="Extra post field to keep for reports (repeatable)."),
    fmt: Optional[str] = Format,
    include: Optional[List[str]] = Include,
    exclude: Optional[List[str]] = Exclude,
    id_prefix: str = typer.Option("", "--id-prefix", metavar="TEXT",
                                  help="Put TEXT before every FILE:ROW post id (files without an id field). FILE is "
                                       "the file's path inside the folder given, or its name for a file given, so "
                                       "ids stay the same when the data moves."),
    append: bool = typer.Option(False, "--append", help="Add the posts to the existing index at -o as a new segment: "
                                                        "new files only, no existing file changes ('index compact' "
                                                        "merges the segments)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing index at -o."),
    ngram: int = typer.Option(DEFAULT.ngram, help="Words per shingle."),
    seed: int = typer.Option(DEFAULT.seed, help="Seed of token hashes and MinHash permutations (with --key-file: "
                                                "of MinHash permutations only)."),
    jaccard: bool = typer.Option(DEFAULT.jaccard, "--jaccard",
                                 help="Also store MinHash signatures and LSH bands, which scan --mode jaccard needs "
                                      "(about 0.8 KB a post; a containment scan never reads them)."),
    num_perm: int = typer.Option(DEFAULT.num_perm, help="MinHash permutations (with --jaccard)."),
    lsh_threshold: float = typer.Option(DEFAULT.lsh_threshold, help="Jaccard threshold the LSH bands are tuned for (with --jaccard)."),
    short_tokens: int = typer.Option(DEFAULT.short_tokens, help="Posts with fewer tokens match only as whole records or lines."),
    max_key_posts: int = typer.Option(DEFAULT.max_key_posts, help="Shingles in more posts than this are frequent "
                                                                   "(counted as shared phrases, not measured)."),
    seed_posts: int = typer.Option(DEFAULT.seed_posts, help="A post's seeds, the keys a scan probes, are disjoint shingles "
                                                             "of at most this many posts: a probe finds at most this many."),
    inline_short_bits: float = typer.Option(DEFAULT.inline_short_bits,
                                            help="Short posts carrying at least this many bits (evidence strength) are "
                                                 "also matched inside a sentence, the others only as a whole line."),
    min_post_bits: float = typer.Option(DEFAULT.min_post_bits,
                                        help="Posts carrying fewer bits than this are too common to attribute: no "
                                             "keys, never matched, counted apart (0: keep every post)."),
    date_field: Optional[str] = typer.Option(None, "--date-field", metavar="FIELD",
                                             help="Post field holding each post's date (seconds since 1970, ISO "
                                                  "dates, '2015-02-24 11:35:52 -0800'); a scan does not count a "
                                                  "match of a post newer than its document. Kept as a --meta-field."),
    memory_limit: Optional[str] = typer.Option(
        None, "--memory-limit", metavar="SIZE",
        help="Memory for the build's working arrays, e.g. 2GiB; beyond it sorted runs spill to disk "
             "[default: a quarter of RAM]."),
    shards: Optional[int] = typer.Option(
        None, "--shards", metavar="N",
        help="Cut the index into N shards of consecutive posts, each a complete index a Dask worker opens on its "
             "own (scan --scheduler); scans give the results of the unsharded index [default: 1; with --scheduler: one "
             "a worker, at least 2]. Not with --append (see 'index compact --shards')."),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", metavar="ADDRESS",
        help="Build on the Dask cluster at this scheduler address (tcp://HOST:PORT): one task per input part, then "
             "one per shard; writes a sharded index, the same files as a build in one process. Inputs and -o must "
             "be on paths every worker can read and write. Not with --append."),
    unit_size: str = typer.Option(
        "64MiB", "--unit-size", metavar="SIZE",
        help="With --scheduler: local JSONL, lines and parquet files larger than this are read in parts, one task each."),
    key_file: Optional[Path] = typer.Option(
        None, "--key-file", metavar="KEY",
        help="Build a keyed index: every shingle hash derives from the secret key in this file (at least 16 "
             "random bytes; make one with: head -c 32 /dev/urandom > KEY). Without the key the index cannot "
             "be scanned nor tested for a text; the manifest holds the key's fingerprint, never the key. "
             "With --append: the index's key. What it protects: docs/THREAT_MODEL.md."),
    keep_text: bool = typer.Option(
        False, "--keep-text",
        help="Also store the posts' texts in the index (post_texts.parquet, checksummed in the manifest; in each "
             "shard its own posts'), so that 'provenance report' shows each post beside its copy without --posts. "
             "Not with --key-file: a keyed index holds no text. With --append: the index's choice."),
    on_error: str = OnError,
    max_record: str = MaxRecord,
    read_timeout: Optional[float] = ReadTimeout,
    quiet: bool = Quiet,
    as_json: bool = AsJson,
) -> None:
    """Index posts: shingle hashes, candidate keys and token codes on disk (with --jaccard also MinHash
    signatures and LSH bands). The index holds no post text unless --keep-text: hashes, ids, and the
    --meta-field columns asked for.

    Example: provenance index build tweets.csv -o idx --id-field tweet_id --meta-field name --key-file KEY
    """
    from .. import api

    params = IndexParams(ngram=ngram, seed=seed, jaccard=jaccard, num_perm=num_perm, lsh_threshold=lsh_threshold,
                         short_tokens=short_tokens, max_key_posts=max_key_posts, seed_posts=seed_posts,
                         inline_short_bits=inline_short_bits, min_post_bits=min_post_bits)
    limit = size_option(memory_limit, "--memory-limit") if memory_limit is not None else None
    key = load_key(key_file)
    set_read_timeout(read_timeout)
    with progress(quiet, "indexing", posts, fmt) as bar:
        index = api.build_index(posts, out, params=params, text_field=text_field, id_field=id_field,
                                meta_fields=meta_field or [], fmt=fmt, append=append, force=force, on_progress=bar,
                                memory_limit=limit, on_error=on_error, key=key, shards=shards, keep_text=keep_text,
                                scheduler=scheduler, unit_size=size_option(unit_size, "--unit-size"),
                                max_record_bytes=size_option(max_record, "--max-record-bytes"),
                                include=include or (), exclude=exclude or (), id_prefix=id_prefix,
                                date_field=date_field)
    for note in index.manifest.get("notes", []) if not quiet else []:
        err.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    fallback = index.manifest.get("id_fallback_files", [])
    if fallback and not quiet:
        err.print(f"note: no 'id' field in {escape(', '.join(fallback))}: those post ids are FILE:ROW "
                  "(name the id column with --id-field)", highlight=False)
    show_index(index, quiet, as_json)
    # what this build or append left out (an append's manifest counts the earlier builds' skips too)
    last = index.manifest.get("skipped_last", index.manifest.get("skipped"))
    show_skipped(Skipped.from_dict(last), "the manifest's 'skipped_last'")


def compact(
    index_dir: Path = typer.Argument(..., metavar="INDEX_DIR", help="Index directory appended to (index build --append)."),
    shards: Optional[int] = typer.Option(
        None, "--shards", metavar="N", help="Cut the compacted index into N shards [default: as many as before the "
                                            "first append]."),
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit", metavar="SIZE",
                                               help="Memory for the build's working arrays [default: a quarter of RAM]."),
    key_file: Optional[Path] = typer.Option(None, "--key-file", metavar="KEY", help="The key of a keyed index."),
    quiet: bool = Quiet,
    as_json: bool = AsJson,
) -> None:
    """Merge an index's segments (one an append) into one: the index a build over all its posts writes,
    byte for byte (which shingles are frequent, and so which are keys, is decided over all posts again).
    Replaces the index in one step once done; scans and appends wait for it.

    Example: provenance index compact idx
    """
    from .. import api

    limit = size_option(memory_limit, "--memory-limit") if memory_limit is not None else None
    show_index(api.compact_index(index_dir, shards=shards, memory_limit=limit, key=load_key(key_file)), quiet, as_json)


def info(
    index_dir: Path = typer.Argument(..., metavar="INDEX_DIR", help="Index directory."),
    as_json: bool = AsJson,
) -> None:
    """Show an index's parameters and counts (after checking its checksums).

    Example: provenance index info idx
    """
    from .. import api

    show_index(api.open_index(index_dir), False, as_json)


def show_index(index: Index | ShardedIndex, quiet: bool, as_json: bool) -> None:
    """The manifest (JSON on stdout with --json), else a table of counts, parameters and sizes on stderr."""
    m = index.manifest
    if as_json:
        print_json({k: v for k, v in m.items() if k != "files"} | {"path": str(index.path)})
        return
    if quiet:
        return
    from rich.table import Table

    from ..api import index_size

    table = Table(title=f"index {index.path}", show_header=False)
    for key, value in m["counts"].items():
        table.add_row(key.replace("_", " "), f"{value:,}")
    for key, value in m["params"].items():
        table.add_row(key, str(value))
    if "lsh" in m:
        table.add_row("LSH bands x rows", f"{m['lsh']['bands']} x {m['lsh']['rows']}")
    else:
        table.add_row("MinHash / LSH", "- (not stored; build with --jaccard for --mode jaccard)")
    size = index_size(index)
    if m.get("segments", 1) > 1:
        table.add_row("segments", f"{m['segments']} (appends; merge them with: provenance index compact)")
    if len(size.shard_posts) > 1:
        table.add_row("shards", f"{len(size.shard_posts)} shards of {min(size.shard_posts):,}-{max(size.shard_posts):,} posts")
    if size.route_parts:
        table.add_row("routes", f"{size.route_parts} parts by key hash (a scan on Dask probes each document shingle in one)")
    table.add_row("on disk", f"{size.disk_bytes / 2**20:,.1f} MiB ({size.bytes_per_post:,.0f} bytes a post)")
    table.add_row("normalization", m["normalization"])
    table.add_row("hash", m["hash"])
    table.add_row("key fingerprint", index.fingerprint or "- (built without a key)")
    table.add_row("MinHash scheme", m["minhash_scheme"])
    table.add_row("meta fields", ", ".join(m.get("meta_fields", [])) or "-")
    table.add_row("manifest sha256", m.get("manifest_sha256", "")[:16] + "…")
    err.print(table)
