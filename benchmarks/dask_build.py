"""An index built on a Dask LocalCluster (``index build --scheduler``) against the same build in one process.

The synthetic posts of the sharded-scan benchmark (``benchmarks/synth.py``), written as JSONL so that
they are read in parts (one Dask task each), are built into a 4-shard index: once in one process,
then on a LocalCluster of 2 worker processes (one thread each; the cluster's start is not timed).
For each: the wall time of the build, the peak RSS of the client and of the largest worker, and
whether every file of the index is the one-process build's (the manifests' ``created`` time and the
checksums that include it aside). Each run is a child process of its own (``--child``)."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Context, mib, run_measured, table, vm_hwm

SHARDS = 4
WORKERS = 2
UNIT_MIB = 16  # the posts are read in parts of this size: one task each


def _child(posts: Path, out: Path, workers: int, memory_limit: str) -> dict[str, Any]:
    from provenance import api
    from provenance.index.spill import parse_size

    shutil.rmtree(out, ignore_errors=True)
    options = {"shards": SHARDS, "memory_limit": parse_size(memory_limit), "fmt": "jsonl"}
    if workers == 0:
        t0 = time.perf_counter()
        api.build_index([posts], out, **options)
        return {"seconds": time.perf_counter() - t0, "vm_hwm": vm_hwm()}
    import distributed

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit=0) as cluster, distributed.Client(cluster) as client:
        t0 = time.perf_counter()
        api.build_index([posts], out, scheduler=client, unit_size=UNIT_MIB << 20, **options)
        seconds = time.perf_counter() - t0
        peaks = client.run(vm_hwm)
    return {"seconds": seconds, "worker_peak_rss": sorted(peaks.values()), "vm_hwm": vm_hwm()}


def contents(index: Path) -> dict[str, Any]:
    """Every file of an index: its sha256, a manifest its content without what differs between two
    builds of the same posts (when it was made, and the checksums of manifests that include that)."""
    out: dict[str, Any] = {}
    for f in sorted(p for p in index.rglob("*") if p.is_file()):
        if f.name == "manifest.json":
            m = json.loads(f.read_text())
            m.pop("created", None), m.pop("self_sha256", None)
            for entry in m.get("shards", []):
                entry.pop("manifest_sha256", None)
            out[str(f.relative_to(index))] = m
        else:
            out[str(f.relative_to(index))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def measure(ctx: Context, posts_csv: Path, n_posts: int, memory_limit: str) -> dict[str, Any]:
    """Build the posts of ``posts_csv`` (as JSONL) in one process and on Dask; the figures."""
    import polars as pl

    root = ctx.work / "scale" / f"dask-build-n{n_posts}"
    root.mkdir(parents=True, exist_ok=True)
    posts = root / "posts.jsonl"
    pl.read_csv(posts_csv, infer_schema=False).write_ndjson(posts)
    runs, files = {}, {}
    for w in (0, WORKERS):
        out = root / f"index-w{w}"
        ctx.log(f"scale: building a {SHARDS}-shard index of {n_posts:,} posts, " + (f"{w} Dask workers" if w else "one process"))
        m = run_measured(["-m", "benchmarks.dask_build", "--posts", str(posts), "--out", str(out), "--workers", str(w),
                          "--memory-limit", memory_limit], cwd=ROOT)
        runs[str(w)] = {"wall_seconds": m.seconds, "peak_rss": m.peak_rss, **m.result}
        files[w] = contents(out)
        index_bytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        shutil.rmtree(out, ignore_errors=True)
    result = {"posts": n_posts, "shards": SHARDS, "posts_bytes": posts.stat().st_size, "index_bytes": index_bytes,
              "runs": runs, "identical": files[0] == files[WORKERS], "files": len(files[0])}
    shutil.rmtree(root, ignore_errors=True)
    return result


def markdown(r: dict[str, Any] | None) -> list[str]:
    if r is None:
        return []
    one, many = r["runs"]["0"], r["runs"][str(WORKERS)]
    rows = [["1 process", f"{one['seconds']:,.1f}", "-", f"{mib(one['peak_rss']):,.0f}", "-", "-"],
            [f"{WORKERS} Dask workers", f"{many['seconds']:,.1f}", f"{one['seconds'] / many['seconds']:.2f}×",
             f"{mib(many['peak_rss']):,.0f}", f"{mib(max(many['worker_peak_rss'])):,.0f}",
             f"{'yes' if r['identical'] else '**no**'} ({r['files']} files)"]]
    return [
        (f"**A build on Dask** (`benchmarks/dask_build.py`): the same {r['posts']:,} synthetic posts as JSONL "
         f"({mib(r['posts_bytes']):,.0f} MiB, read in {UNIT_MIB} MiB parts, one task each) built into a "
         f"{r['shards']}-shard index ({mib(r['index_bytes']):,.0f} MiB) in one process and on a LocalCluster of "
         f"{WORKERS} worker processes (one thread each; the cluster's start is not timed). *Same files*: every file of "
         "the index, manifests included (but the time each was made), is the one-process build's."),
        "",
        table(["build", "s", "speed-up", "peak RSS MiB (client)", "peak RSS MiB (largest worker)", "same files as 1 process"], rows),
        "",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--posts", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=0, help="Dask workers; 0: one process")
    ap.add_argument("--memory-limit", default="1GiB")
    args = ap.parse_args()
    print(json.dumps(_child(args.posts, args.out, args.workers, args.memory_limit)))


if __name__ == "__main__":
    main()
