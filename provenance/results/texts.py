"""The posts' texts for the report's top matches, read from the post files the index was built from
(``provenance report --posts``) or from an index built with ``--keep-text``, and the words in which a
post and a document's span differ."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import ProvenanceError

__all__ = ["NO_TEXTS", "PostsSource", "post_texts", "index_texts", "diff_pieces"]


NO_TEXTS = ("post texts: pass --posts FILE (the posts the index was built from) or build the index with --keep-text "
            "to see each post beside its span")


@dataclass(frozen=True)
class PostsSource:
    """Where ``provenance report --posts`` reads the posts' texts: the post files the index was built
    from, with the fields it was built with (default: the ones the index's manifest records)."""

    paths: tuple[str | Path, ...]
    text_field: str | None = None
    id_field: str | None = None
    fmt: str | None = None


def _as_built(files: list[Any], inputs: list[dict[str, Any]], fmt: str | None) -> list[tuple[Any, dict[str, Any]]]:
    """Each post file with the format and fields the index read it with (its manifest ``inputs`` entry, found
    by its resolved path), so that files of several builds or appends (a CSV and lines files) are each
    read as they were indexed; ``{}`` for a file the manifest does not name."""
    from dataclasses import replace

    built = {}
    for entry in inputs:
        try:
            built[str(Path(entry["path"]).resolve())] = entry
        except (OSError, TypeError, KeyError):
            continue
    out = []
    for f in files:
        entry = built.get(str(Path(str(f.path)).resolve()), {})
        if entry.get("format") and fmt is None:
            f = replace(f, format=entry["format"])
        out.append((f, entry.get("fields") or {}))
    return out


def post_texts(source: PostsSource, wanted: list[str], fields: dict[str, Any],
               inputs: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """The texts of the posts ``wanted`` (ids), read from ``source`` with the project's readers (only
    those texts are kept). Each file is read with the format and fields it was indexed with (``inputs``,
    the manifest's), else the options given, else the index's last ``fields``. A file without the id or
    text field, or in which none of the wanted posts is, is an error naming it."""
    from ..io import expand_inputs, named_for_ids, read_batches

    text_field = source.text_field or fields.get("text") or "text"
    id_field = source.id_field if source.id_field is not None else fields.get("id")
    files = named_for_ids(expand_inputs(list(source.paths), source.fmt), fields.get("id_prefix", ""))
    groups: dict[tuple[str, str | None], list[Any]] = {}
    for f, own in _as_built(files, inputs or [], source.fmt):
        key = (source.text_field or own.get("text") or text_field,
               source.id_field if source.id_field is not None else own.get("id", id_field))
        groups.setdefault(key, []).append(f)
    want, found = set(wanted), {}
    # A FILE:ROW id of the index may name the file with more of its folders than these arguments give
    # (the index was built from a folder, the report is given a file in it): a wanted id is also found
    # by its ending after a '/', when one wanted id alone ends so.
    endings: dict[str, str | None] = {}
    for pid in want:
        for i in (i for i, c in enumerate(pid) if c == "/"):
            endings[pid[i + 1 :]] = None if pid[i + 1 :] in endings else pid
    for (text_field, id_field), group in groups.items():
        for batch in read_batches(group, text_field, id_field):
            for pid, text in zip(batch.ids, batch.texts):
                pid = pid if pid in want else (endings.get(pid) or pid)
                if pid in want and pid not in found:
                    found[pid] = text
    if want and not found:
        names = ", ".join(str(p) for p in source.paths)
        raise ProvenanceError(f"{names}: none of the {len(want):,} posts found has its id here (ids from "
                              f"{repr(id_field) if id_field else 'FILE:ROW'}; is it the file the index was built "
                              "from? name the id column with --id-field)")
    return found


def index_texts(index: Any, wanted: pl.Series) -> dict[str, str] | None:
    """The texts of the posts ``wanted`` (ids) from an index built with ``--keep-text`` (each shard's
    ``post_texts.parquet``, checked against its manifest), or None if the index keeps none."""
    from ..durable import sha256_of
    from ..index.format import POST_TEXTS
    from ..index.shards import shards_of

    shards = [shard for shard, _ in shards_of(index)]
    if not all(POST_TEXTS in shard.manifest.get("files", {}) for shard in shards):
        return None
    found: dict[str, str] = {}
    for shard in shards:
        f = shard.path / POST_TEXTS
        if not f.is_file() or sha256_of(f) != shard.manifest["files"][POST_TEXTS]["sha256"]:
            raise ProvenanceError(f"{f}: missing, or its checksum differs from the manifest (damaged or altered index)")
        rows = pl.scan_parquet(f).filter(pl.col("post_id").is_in(wanted.implode())).collect()
        found.update(zip(rows["post_id"].to_list(), rows["text"].to_list()))
    return found


def diff_pieces(post: str, span: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Post and document span cut into pieces ``(text, differs)``: the runs of normalized tokens (as
    the scan compares them) that one has and the other lacks, by difflib's SequenceMatcher over the
    two token sequences, are the pieces that differ; what normalization drops (case, links, mentions,
    punctuation) never differs."""
    from difflib import SequenceMatcher

    from ..text.offsets import tokenize_with_offsets

    a, b = tokenize_with_offsets(post), tokenize_with_offsets(span)
    ops = SequenceMatcher(None, a.words, b.words, autojunk=False).get_opcodes()

    def pieces(text: str, toks, runs: list[tuple[int, int]]) -> list[tuple[str, bool]]:
        out, pos = [], 0
        starts, ends = toks.starts.tolist(), toks.ends.tolist()
        for i, j in runs:
            s, e = max(starts[i], pos), ends[j - 1]
            if s > pos:
                out.append((text[pos:s], False))
            if e > s:
                out.append((text[s:e], True))
            pos = max(pos, e)
        if pos < len(text):
            out.append((text[pos:], False))
        return out

    return (pieces(post, a, [(i1, i2) for tag, i1, i2, _, _ in ops if tag in ("replace", "delete")]),
            pieces(span, b, [(j1, j2) for tag, _, _, j1, j2 in ops if tag in ("replace", "insert")]))
