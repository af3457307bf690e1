"""An append of a small share of new posts to a large index (issue 28): seconds against a full build, the
files written, every existing file unchanged; then ``index compact`` against that full build, byte for byte;
and, with ``--scan``, the matches that count of the appended and the rebuilt index on planted corpora.

Run: ``python -m benchmarks.append --posts /work/bench/archive4/posts.jsonl --work DIR [--share 0.01]
[--scan /work/bench/archive4/wikinews.jsonl ...]`` (the archive benchmark's posts, :mod:`benchmarks.archive`;
about 5 minutes on 2 cores without ``--scan``). Every step is the ``provenance`` command in a process of
its own, timed whole (start-up included). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

from .common import run_measured

BUILD = ["--format", "jsonl", "--id-field", "id", "--meta-field", "created", "-q"]


def _cli(*args: Any) -> float:
    return run_measured(["-m", "provenance.cli", *map(str, args)]).seconds


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under ``root``: sha256, mtime (ns) and inode."""
    out = {}
    for f in sorted(root.rglob("*")):
        if f.is_file() and not f.name.startswith(".provenance"):
            st = f.stat()
            out[str(f.relative_to(root))] = (hashlib.sha256(f.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_ino)
    return out


def _counted(out: Path) -> pl.DataFrame:
    m = pl.read_parquet(out / "matches.parquet")
    m = m.filter(~pl.col("generic")) if "generic" in m.columns else m
    return m.select("doc_id", "post_id", "doc_start", "doc_end").unique().sort(pl.all())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=Path, required=True, help="JSONL posts (id, text, created)")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--share", type=float, default=0.01, help="share of the posts appended (the last ones)")
    ap.add_argument("--scan", type=Path, nargs="*", default=[], help="JSONL corpora to scan with both indexes")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    lines = a.posts.read_bytes().splitlines(keepends=True)
    cut = len(lines) - round(len(lines) * a.share)
    base_posts, new_posts = a.work / "base.jsonl", a.work / "new.jsonl"
    base_posts.write_bytes(b"".join(lines[:cut]))
    new_posts.write_bytes(b"".join(lines[cut:]))
    del lines
    idx, full = a.work / "idx", a.work / "full"
    r: dict[str, Any] = {"posts": cut + (n_new := sum(1 for _ in new_posts.open("rb"))), "base_posts": cut, "new_posts": n_new}
    r["base_build_s"] = _cli("index", "build", base_posts, "-o", idx, "--force", *BUILD)
    r["full_build_s"] = _cli("index", "build", base_posts, new_posts, "-o", full, "--force", *BUILD)
    before = snapshot(idx)
    r["append_s"] = _cli("index", "build", new_posts, "-o", idx, "--append", *BUILD)
    after = snapshot(idx)
    changed = sorted(n for n in before if after.get(n) != before[n])
    new = sorted(set(after) - set(before))
    r.update(append_share_of_full_build=r["append_s"] / r["full_build_s"], files_before=len(before),
             files_changed=changed, files_new=len(new), bytes_new=sum((idx / n).stat().st_size for n in new),
             existing_unchanged=changed == ["manifest.json"])  # (replaced by a rename: a new file, see index/segments.py)
    for corpus in a.scan:
        got = {}
        for name, ix in (("appended", idx), ("rebuilt", full)):
            out = a.work / f"scan-{corpus.stem}-{name}"
            _cli("scan", ix, corpus, "--format", "jsonl", "--id-field", "id", "-o", out, "--force", "-q")
            got[name] = _counted(out)
        same = got["appended"].equals(got["rebuilt"])
        r[f"scan_{corpus.stem}"] = {"counted_appended": got["appended"].height, "counted_rebuilt": got["rebuilt"].height,
                                    "same": same,
                                    "only_appended": got["appended"].join(got["rebuilt"], on=got["rebuilt"].columns, how="anti").height,
                                    "only_rebuilt": got["rebuilt"].join(got["appended"], on=got["rebuilt"].columns, how="anti").height}
    r["compact_s"] = _cli("index", "compact", idx, "-q")
    a_files, f_files = snapshot(idx), snapshot(full)
    r["compact_differs_from_full_build"] = sorted(n for n in set(a_files) | set(f_files)
                                                  if n != "manifest.json" and a_files.get(n, ("",))[0] != f_files.get(n, ("",))[0])
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
