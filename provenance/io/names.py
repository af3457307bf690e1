"""Stable names for FILE:ROW ids: a file's path inside the folder argument it was found in, or its name
when it was named itself, so that the ids of a lines file (``train_text.txt.gz:2757``) do not change
when the data moves. Files that would share a name get as many of their folder's names in front as
tell them apart (``irony/train_text.txt.gz``, ``hate/train_text.txt.gz``). An ``--id-prefix`` goes in
front of every name."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from typing import Any

from provenance.errors import Skipped

from .batch import InputFile
from .select import Selection
from .sources import expand_inputs, file_size
from .urls import URL

__all__ = ["chosen_posts", "named_for_ids"]


def _name_and_folders(f: InputFile) -> tuple[str, list[str]]:
    """The file's path inside its folder argument (or its name), and the names of the folders above
    that, outermost first."""
    if isinstance(f.path, URL):
        full = f.path.url
        base = str(f.root).rstrip("/") if f.root is not None else full.rsplit("/", 1)[0]
        folders = base.split("://", 1)[-1].strip("/").split("/")
        return full[len(base) + 1 :], [p for p in folders if p]
    base = f.root if isinstance(f.root, Path) else f.path.parent
    folders = list(Path(os.path.abspath(base)).parts[1:])
    return f.path.relative_to(base).as_posix(), folders


def named_for_ids(files: Sequence[InputFile], prefix: str = "") -> list[InputFile]:
    """``files`` with ``id_name`` set: ``prefix`` + the stable name of each (see the module docstring).
    The same file given twice keeps one name (its posts then share ids, which the build refuses)."""
    entries = [_name_and_folders(f) for f in files]
    depth = [0] * len(files)

    def name(i: int) -> str:
        rel, folders = entries[i]
        return "/".join(folders[len(folders) - depth[i] :] + [rel]) if depth[i] else rel

    while True:
        names = [name(i) for i in range(len(files))]
        count = Counter(names)
        grow = [i for i, n in enumerate(names) if count[n] > 1 and depth[i] < len(entries[i][1])]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    return [replace(f, id_name=prefix + n) for f, n in zip(files, names)]


def chosen_posts(paths: Sequence[str | Path], fmt: str | None, skipped: Skipped | None, include: Sequence[str],
                 exclude: Sequence[str], id_prefix: str, text_field: str, id_field: str | None,
                 meta_fields: Sequence[str]) -> tuple[list[InputFile], dict[str, Any]]:
    """An index build's post files (:func:`~provenance.io.expand_inputs` with the ``--include``/``--exclude``
    patterns, named for FILE:ROW ids with ``id_prefix``), and the manifest's account of them: files,
    ``notes`` (what the folders brought in that was left out), fields."""
    selection = Selection(tuple(include), tuple(exclude))
    files = named_for_ids(expand_inputs(paths, fmt, skipped, selection), id_prefix)
    return files, {"files": [{"path": str(f.path), "format": f.format, "bytes": file_size(f)} for f in files],
                   "notes": [n for n in [selection.note()] if n],
                   "fields": {"text": text_field, "id": id_field, "meta": list(meta_fields), "id_prefix": id_prefix}}
