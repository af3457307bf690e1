"""Writing an index directory: a temporary directory, the manifest, the swap into place."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import polars as pl

from ..version import __version__
from ..durable import (OutputError, exchange, fsync_dir, remove_stale, sha256_of, temp_prefix, umask, unseal,
                       write_failure)
from ..errors import IndexFormatError, InputError, ParameterError, Skipped
from ..locks import is_lock_file
from ..keys import FINGERPRINT_SCHEME, SHINGLE_HASH, TOKEN_HASH, Key, as_key
from ..text.hashing import CODE_NAME, KEYED_CODE_NAME
from ..text.normalize import NORMALIZATION
from ..params import IndexParams
from ..text.hashing import HASH_NAME, KEYED_HASH_NAME
from .sketch import SCHEME, lsh_params
from .build import Builder
from .spill import default_memory_limit
from .format import FORMAT, FORMAT_VERSION, MANIFEST, POST_TEXTS, is_index
from .routes import write_routes
from .load import open_index
from .shards import MAX_SHARDS, ShardedIndex, shards_of, write_shards
from .store import Index, check_key
from .manifest import seal_manifest, write_top_manifest
from .segments import install_segment, part_entries, segment_place

__all__ = ["build_index", "build_index_on_dask", "compact_index"]


class _TextWriter:
    """``post_texts.parquet`` written as the posts stream in (one row group a batch), in post order."""

    def __init__(self, path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.schema = pa.schema([("post_id", pa.string()), ("text", pa.string())])
        self.writer = pq.ParquetWriter(path, self.schema)

    def add(self, ids: list[str], texts: list[str]) -> None:
        import pyarrow as pa

        if ids:
            self.writer.write_table(pa.table({"post_id": ids, "text": texts}, schema=self.schema))

    def copy(self, source: Path, sha256: str) -> None:
        """The texts of an index's posts (an append), checked against that index's manifest first."""
        import pyarrow.parquet as pq

        if sha256_of(source) != sha256:
            raise IndexFormatError(f"{source}: checksum differs from the manifest (damaged or altered index)")
        import pyarrow as pa

        for batch in pq.ParquetFile(source).iter_batches(batch_size=65536, columns=["post_id", "text"]):
            self.writer.write_table(pa.Table.from_batches([batch]).cast(self.schema))

    def close(self) -> None:
        self.writer.close()


def _prepare(path: Path, overwrite: bool) -> Path:
    """Check that ``path`` may receive an index; return a fresh temporary directory beside it."""
    if path.exists():
        if not path.is_dir():
            raise IndexFormatError(f"{path}: exists and is not a directory")
        if any(not is_lock_file(p.name) for p in path.iterdir()) and not (overwrite and is_index(path)):
            what = "an index (use --append to add posts, or --force to replace it)" if is_index(path) else "not an empty directory"
            raise IndexFormatError(f"{path}: is {what}")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, path.name)  # what a killed build left
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes 0700; an index is an ordinary directory
    return tmp




def build_index(batches: Iterable[Any], out: str | Path, params: IndexParams = IndexParams(), *,
                base: Index | None = None, inputs: dict[str, Any] | None = None,
                on_batch: Callable[[int, int], None] | None = None, memory_limit: int | None = None,
                overwrite: bool = False, skipped: Skipped | None = None, key: "Key | bytes | None" = None,
                keep_text: bool = False,
                shards: int | None = None, date_field: str | None = None) -> "Index | ShardedIndex":
    """Build an index from batches of posts (see :func:`provenance.io.iter_batches`) into directory
    ``out`` and open it.

    With ``base``, the new posts are appended to that index (same parameters required) as a new
    segment (:mod:`.segments`): new files only, ``out`` is the base's directory. The build's
    working arrays stay within about ``memory_limit`` bytes (default :func:`default_memory_limit`);
    what does not fit spills to a work directory inside the new index directory. ``skipped`` (bad
    posts left out while reading, filled as the batches stream) goes into the manifest.

    With ``key`` (at least 16 bytes of secret), every token hash is derived from the key (see
    :mod:`provenance.text.hashing`) and the manifest records the key's fingerprint, never the key. Appending
    to ``base`` needs the key it was built with (or none, if it was built without).

    ``shards`` > 1 writes a sharded index (:mod:`.shards`): the index over all posts is built first,
    then cut into that many shards of consecutive posts (not with ``base``: see :func:`compact_index`).

    ``date_field``: the meta field of the batches that holds each post's date (``post_date.npy``).
    """
    if base is not None:
        if shards is not None:
            raise ParameterError("--shards with --append: an append adds one segment; to cut the index anew: "
                                 f"provenance index compact {base.path} --shards N")
        return _append_segment(batches, base, params, inputs=inputs, on_batch=on_batch, memory_limit=memory_limit,
                               skipped=skipped, key=key, keep_text=keep_text, date_field=date_field)
    return _build_whole(batches, Path(out), params, None, inputs=inputs, on_batch=on_batch, memory_limit=memory_limit,
                        overwrite=overwrite, skipped=skipped, key=key, keep_text=keep_text, shards=shards,
                        date_field=date_field)


def compact_index(index: "Index | ShardedIndex", *, shards: int | None = None, memory_limit: int | None = None,
                  key: "Key | bytes | None" = None) -> "Index | ShardedIndex":
    """Merge the segments of ``index`` (:mod:`.segments`) into the index one build over all its posts
    writes (byte for byte but the manifest's creation time), in its directory: cut into ``shards``,
    by default as many as its first segment has. Frequencies, keys and dtypes are decided over all
    posts again."""
    if shards is None:
        shards = sum(1 for e in part_entries(index) if e["segment"] == 0)
    return _build_whole((), Path(index.path), index.params, index, inputs=None, on_batch=None, memory_limit=memory_limit,
                        overwrite=True, skipped=None, key=key, keep_text=False, shards=shards, date_field=None)


def _feed(builder: Builder, texts: "_TextWriter | None", batches: Iterable[Any], info: dict[str, Any],
          on_batch: Callable[[int, int], None] | None) -> None:
    for batch in batches:
        builder.add_texts(batch)
        if texts is not None:
            texts.add(batch.ids, batch.texts)
        if getattr(batch, "id_fallback", False) and batch.source not in info["id_fallback_files"]:
            info["id_fallback_files"].append(batch.source)
        if on_batch:
            on_batch(getattr(batch, "nbytes", 0), len(batch.ids))


def _meta_fields(posts: Path, before: Sequence[str] = ()) -> list[str]:
    new = [c.removeprefix("meta_") for c in pl.read_parquet_schema(posts) if c.startswith("meta_")]
    return [*before, *(f for f in new if f not in before)]


def _append_segment(batches: Iterable[Any], base: "Index | ShardedIndex", params: IndexParams, *,
                    inputs: dict[str, Any] | None, on_batch: Callable[[int, int], None] | None, memory_limit: int | None,
                    skipped: Skipped | None, key: "Key | bytes | None", keep_text: bool,
                    date_field: str | None) -> "Index | ShardedIndex":
    """The posts of ``batches`` as a new segment of ``base`` (:mod:`.segments`): built beside the index,
    moved into it, and the top manifest replaced; no file of ``base`` changes."""
    key, _, keep_text = _checked(params, base, key, None, memory_limit, keep_text)
    path = Path(base.path)
    place = segment_place(base)
    tmp = _prepared(path, True)
    with _removed_on_failure(tmp, path, "append to the index"):
        builder = Builder(params, tmp, memory_limit or default_memory_limit(), key, date_field=date_field,
                          first_post=place["first_post"])
        texts = _TextWriter(tmp / POST_TEXTS) if keep_text else None
        info: dict[str, Any] = {"id_fallback_files": list(base.manifest.get("id_fallback_files", []))}
        _feed(builder, texts, batches, info, on_batch)
        if builder.n_posts == 0:
            raise InputError(f"{path}: no new posts to append (every post was left out; see 'skipped')")
        counts = builder.finish()
        if texts is not None:
            texts.close()
        info["id_fallback_files"] = sorted(info["id_fallback_files"])
        top = _manifest(params, counts, _described(info, inputs, base, skipped),
                        _meta_fields(tmp / "posts.parquet", base.manifest.get("meta_fields", [])), key)
        entry = {**place, "posts": counts["posts"]}
        entry["manifest_sha256"] = seal_manifest(tmp, {**top, "segment": dict(entry)})
        install_segment(base, tmp, entry, top, counts)
    return open_index(path, verify=False, key=key)


def _build_whole(batches: Iterable[Any], path: Path, params: IndexParams, base: "Index | ShardedIndex | None", *,
                 inputs: dict[str, Any] | None, on_batch: Callable[[int, int], None] | None, memory_limit: int | None,
                 overwrite: bool, skipped: Skipped | None, key: "Key | bytes | None", keep_text: bool, shards: int | None,
                 date_field: str | None) -> "Index | ShardedIndex":
    """An index over the posts of ``base`` (every segment; a compaction), then those of ``batches``,
    built in ``tmp`` beside ``path`` and swapped into place."""
    key, shards, keep_text = _checked(params, base, key, shards, memory_limit, keep_text)
    tmp = _prepared(path, overwrite or base is not None)
    try:
        builder = Builder(params, tmp, memory_limit or default_memory_limit(), key, date_field=date_field)
        texts = _TextWriter(tmp / POST_TEXTS) if keep_text else None
        info: dict[str, Any] = {"id_fallback_files": []}
        if base is not None:
            for shard, first in shards_of(base):
                builder.add_index(shard, first)
                if texts is not None:
                    texts.copy(shard.path / POST_TEXTS, shard.manifest["files"][POST_TEXTS]["sha256"])
            info["id_fallback_files"] = list(base.manifest.get("id_fallback_files", []))
        _feed(builder, texts, batches, info, on_batch)
        counts = builder.finish()
        if texts is not None:
            texts.close()
        info["id_fallback_files"] = sorted(info["id_fallback_files"]) if base is not None else info["id_fallback_files"]
        meta_fields = _meta_fields(tmp / "posts.parquet")
        seal_manifest(tmp, _manifest(params, counts, _described(info, inputs, base, skipped), meta_fields, key))
        if shards > 1:
            tmp = _sharded(tmp, path, shards, memory_limit or default_memory_limit(), key)
        _replace(tmp, path)
    except (OSError, pl.exceptions.PolarsError) as e:  # a full disk, ...: no index, and no temporary directory
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{path}: cannot write the index ({write_failure(e)})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return open_index(path, verify=False, key=key)


def build_index_on_dask(files: Sequence[Any], out: str | Path, params: IndexParams = IndexParams(), *, client: Any,
                        shards: int, text_field: str = "text", id_field: str | None = None,
                        meta_fields: Sequence[str] = (), inputs: dict[str, Any] | None = None,
                        on_batch: Callable[[int, int], None] | None = None, memory_limit: int | None = None,
                        overwrite: bool = False, skipped: Skipped | None = None, key: "Key | bytes | None" = None,
                        keep_text: bool = False, batch_size: int = 8192, posts_from_names: bool = False,
                        date_field: str | None = None) -> ShardedIndex:
    """Build a sharded index over the posts of ``files`` (input parts, in order) on the Dask cluster of
    ``client``: the files :func:`build_index` writes for the same posts and ``shards`` (the manifests'
    ``created`` time aside). See :mod:`.distributed`."""
    from .distributed import build_on_dask

    key, shards, keep_text = _checked(params, None, key, shards, memory_limit, keep_text)
    path = Path(out).absolute()  # (the workers write into it, wherever they run)
    tmp = _prepared(path, overwrite)

    def manifest(counts: dict[str, Any], info: dict[str, Any], meta: list[str]) -> dict[str, Any]:
        return {**_manifest(params, counts, _described(info, inputs, None, skipped), meta, key), "files": {}}

    with _removed_on_failure(tmp, path, "write the index"):
        build_on_dask(files, tmp, params, client=client, shards=shards, key=key, text_field=text_field, id_field=id_field,
                      meta_fields=meta_fields, skipped=skipped, keep_text=keep_text, date_field=date_field,
                      memory_limit=memory_limit or default_memory_limit(), batch_size=batch_size, on_batch=on_batch,
                      write_manifests=manifest, posts_from_names=posts_from_names)
        _replace(tmp, path)
    index = open_index(path, verify=False, key=key)
    assert isinstance(index, ShardedIndex)
    return index


@contextmanager
def _removed_on_failure(tmp: Path, path: Path, doing: str) -> Iterator[None]:
    """Remove ``tmp`` when the block fails; a failed write (a full disk, ...) is an OutputError."""
    try:
        yield
    except (OSError, pl.exceptions.PolarsError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{path}: cannot {doing} ({write_failure(e)})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _prepared(path: Path, overwrite: bool) -> Path:
    try:
        return _prepare(path, overwrite)
    except OSError as e:
        raise OutputError(f"{path}: cannot write the index ({write_failure(e)})") from None


def _described(info: dict[str, Any], inputs: dict[str, Any] | None, base: Index | None,
               skipped: Skipped | None) -> dict[str, Any]:
    """The manifest's account of the build's inputs: ``info`` (id fallback files) with the files and
    fields read, and the posts skipped (those of ``base`` too)."""
    info = dict(info)
    fields = (inputs or {}).get("fields")
    new_files = [{**f, "fields": fields} if fields else f for f in (inputs or {}).get("files", [])]  # (each file's own)
    info["inputs"] = (base.manifest.get("inputs", []) if base is not None else []) + new_files
    info["fields"] = (inputs or {}).get("fields", base.manifest.get("fields", {}) if base is not None else {})
    info["notes"] = (inputs or {}).get("notes", [])  # (this build's: what its folders brought in and it left out)
    all_skipped = Skipped.from_dict(base.manifest.get("skipped")) if base is not None else Skipped()
    all_skipped.merge(skipped or Skipped())
    info["skipped"] = all_skipped.to_dict()
    info["skipped_last"] = (skipped or Skipped()).to_dict()  # this build or append alone
    return info


def _checked(params: IndexParams, base: Index | None, key: "Key | bytes | None", shards: int | None,
             memory_limit: int | None, keep_text: bool) -> tuple[Key | None, int, bool]:
    """The build's key, shard count and text choice, after checking them against each other and ``base``."""
    key = as_key(key)
    if base is not None:  # the new posts are hashed as the base's were: with its key, or without
        key = check_key(base.path, base.fingerprint, key or base.key)
        if key is None:
            base.require_key()
    if base is not None and base.params != params:
        raise ParameterError(f"cannot append with parameters {params} to an index built with {base.params}")
    bands, _ = lsh_params(params.lsh_threshold, params.num_perm)
    if params.jaccard and bands < 2:
        raise ParameterError(f"num_perm {params.num_perm} is too small for lsh_threshold {params.lsh_threshold} "
                             f"(gives {bands} LSH band; datasketch requires at least 2)")
    if shards is None:
        shards = len(shards_of(base)) if base is not None else 1
    if not 1 <= shards <= MAX_SHARDS:
        raise ParameterError(f"shards (--shards) must be between 1 and {MAX_SHARDS}, got {shards}")
    if memory_limit is not None and memory_limit <= 0:
        raise ParameterError(f"memory limit (--memory-limit) must be positive, got {memory_limit}")
    base_texts = base is not None and all(POST_TEXTS in shard.manifest.get("files", {}) for shard, _ in shards_of(base))
    if keep_text and key is not None:
        raise ParameterError("--keep-text with --key-file: a keyed index holds no post text")
    if keep_text and base is not None and not base_texts:
        raise ParameterError(f"{base.path}: built without --keep-text, so it cannot keep the appended posts' texts "
                             "(rebuild it with --keep-text)")
    keep_text = keep_text or bool(base_texts)  # an append keeps the index's choice
    return key, shards, keep_text





def _sharded(whole_dir: Path, path: Path, shards: int, memory_limit: int, key: Key | None) -> Path:
    """Cut the finished index in ``whole_dir`` into ``shards`` shards in a new temporary directory
    beside ``path`` (returned, with its top manifest); ``whole_dir`` is removed."""
    whole = open_index(whole_dir, verify=False, key=key)
    assert isinstance(whole, Index)
    top = unseal((whole_dir / MANIFEST).read_bytes(), whole_dir / MANIFEST, "index manifest")
    tmp = _prepare(path, True)
    try:
        def shard_manifest(d: Path, entry: dict[str, Any]) -> str:
            place = {k: entry[k] for k in ("index", "of", "dir", "first_post", "posts")}
            return seal_manifest(d, {**top, "counts": entry["counts"], "shard": place})

        entries = write_shards(whole, tmp, shards, shard_manifest, memory_limit)
        routes = write_routes(tmp, [(whole, 0)], shards, whole.n_posts)
        write_top_manifest(tmp, {**top, "routes": routes}, entries)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(whole_dir, ignore_errors=True)
    return tmp


def _manifest(params: IndexParams, counts: dict[str, int], info: dict[str, Any], meta_fields: list[str],
              key: Key | None = None) -> dict[str, Any]:
    """The manifest of an index, but its files."""
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": params.to_dict(),
        "normalization": NORMALIZATION,
        "hash": KEYED_HASH_NAME if key is not None else HASH_NAME,
        "token_codes": KEYED_CODE_NAME if key is not None else CODE_NAME,
        "minhash_scheme": f"datasketch 2.x {SCHEME}",
        "counts": counts,
        "fields": info.get("fields", {}),
        "meta_fields": meta_fields,
        "inputs": info.get("inputs", []),
        "id_fallback_files": info.get("id_fallback_files", []),
        "notes": info.get("notes", []),
        "skipped": info.get("skipped", Skipped().to_dict()),
        "skipped_last": info.get("skipped_last", info.get("skipped", Skipped().to_dict())),
    }
    if params.jaccard:
        bands, rows = lsh_params(params.lsh_threshold, params.num_perm)
        manifest["lsh"] = {"bands": bands, "rows": rows}
    if key is not None:  # the fingerprint only: the key and its subkey stay in memory
        manifest["key"] = {"fingerprint": key.fingerprint, "fingerprint_scheme": FINGERPRINT_SCHEME,
                           "token_hash": TOKEN_HASH, "shingle_hash": SHINGLE_HASH}
    return manifest




def _replace(tmp: Path, path: Path) -> None:
    """Rename the finished directory ``tmp`` to ``path``. An index already there is swapped out in one
    step (``renameat2``), so that ``path`` is always the old index or the new one; where the system
    cannot swap, it is renamed away first (a crash between the two renames leaves it at
    ``.NAME.HOST-PID.old.tmp``, which :func:`open_index` points to)."""
    if path.exists():
        if exchange(tmp, path):
            fsync_dir(path.parent)
            shutil.rmtree(tmp, ignore_errors=True)  # (now the old index)
            return
        old = path.with_name(f"{temp_prefix(path.name)}old.tmp")
        os.rename(path, old)
        os.rename(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, path)
    fsync_dir(path.parent)
