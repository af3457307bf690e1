"""Scan checkpoints: each input file's results are kept as soon as the file is done, so an interrupted
scan resumes where it stopped and a re-scan re-reads only the files that changed.

Layout, inside the scan's output directory::

    units/scan.json            what the units belong to: index manifest sha256, scan parameters, fields
    units/<key>.parquet        one file's match rows (MATCH_SCHEMA + the post's row number "_post")
    units/<key>.json           that file's path, size, mtime, sha256 and its tally and stage timings

``<key>`` is a hash of the file's resolved path. Every file is written to a temporary name and renamed,
and the ``.json`` (which makes a unit count) is renamed last, so a killed scan leaves only whole units.
A unit is reused when ``scan.json`` is unchanged (same index, parameters and fields) and the file still
has the recorded size and modification time; a file whose content changed but kept both is not noticed
(the recorded sha256 is for evidence, not checked on reuse, which would mean reading every file again).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from .errors import ProvenanceError
from .estimate import Tally
from .read import InputFile
from .report import MATCH_SCHEMA, atomic_write

__all__ = ["Checkpoint", "UnitResult"]

FORMAT = "provenance-scan-units/1"
UnitResult = tuple[Tally, dict[str, float], list[dict[str, Any]]]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Checkpoint:
    """The units of one scan's output directory (see the module docstring)."""

    def __init__(self, out_dir: str | Path, identity: dict[str, Any], resume: bool) -> None:
        self.dir = Path(out_dir) / "units"
        self.identity = {"format": FORMAT, **identity}
        self.reused = 0
        previous = None
        if resume and (self.dir / "scan.json").is_file():
            try:
                previous = json.loads((self.dir / "scan.json").read_text(encoding="utf-8"))
            except ValueError:
                previous = None
        try:
            if previous != self.identity and self.dir.exists():
                shutil.rmtree(self.dir)  # another index, other parameters, or no --resume: start over
            self.dir.mkdir(parents=True, exist_ok=True)
            if previous != self.identity:
                _write_json(self.dir / "scan.json", self.identity)
        except OSError as e:
            raise ProvenanceError(f"{self.dir}: cannot keep scan checkpoints ({e.strerror or e})") from None

    @staticmethod
    def _key(file: InputFile) -> str:
        return hashlib.sha256(str(file.path.resolve()).encode("utf-8")).hexdigest()[:24]

    def load(self, file: InputFile) -> UnitResult | None:
        """The recorded result of ``file``, if it is complete and the file is unchanged."""
        key = self._key(file)
        meta_path, rows_path = self.dir / f"{key}.json", self.dir / f"{key}.parquet"
        if not meta_path.is_file() or not rows_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            st = file.path.stat()
            if (meta["path"], meta["bytes"], meta["mtime_ns"]) != (str(file.path.resolve()), st.st_size, st.st_mtime_ns):
                return None
            rows = pl.read_parquet(rows_path).to_dicts()
        except (OSError, ValueError, KeyError, pl.exceptions.PolarsError):
            return None  # damaged or foreign: scan the file again
        tally = Tally(**{k: meta["tally"][k] for k in Tally.COUNTS}, posts_matched=set(meta["tally"]["posts_matched"]))
        self.reused += 1
        return tally, meta["seconds"], rows

    def store(self, file: InputFile, result: UnitResult) -> None:
        """Record ``file``'s result: rows first, then the metadata that makes the unit count."""
        tally, seconds, rows = result
        key = self._key(file)
        st = file.path.stat()
        frame = pl.DataFrame(rows, schema={**MATCH_SCHEMA, "_post": pl.Int64})
        try:
            atomic_write(self.dir / f"{key}.parquet", frame.write_parquet)
            meta = {"path": str(file.path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
                    "sha256": _file_sha256(file.path), "seconds": seconds,
                    "tally": {**{k: getattr(tally, k) for k in Tally.COUNTS}, "posts_matched": sorted(tally.posts_matched)}}
            _write_json(self.dir / f"{key}.json", meta)
        except OSError as e:
            raise ProvenanceError(f"{self.dir}: cannot write a scan checkpoint ({e.strerror or e})") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, sort_keys=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
