"""A sharded index scanned on a Dask LocalCluster: what each worker holds, and the speed-up.

One index of synthetic posts is built with ``--shards 4`` (``benchmarks/synth.py``, as the rest of
the scale section) and one corpus is scanned against it: once in one process (the reference), then
on LocalClusters of 1, 2 and 4 worker processes (one thread each). For each cluster: the wall time
of the scan (the cluster already started), each worker's resident bytes of index files (from its
``/proc/self/smaps``) and peak RSS, and whether ``matches.parquet`` and ``summary.json`` are the
reference's bytes. Each run is a child process of its own (``--child``)."""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Context, mib, run_measured, table

SHARDS = 4
WORKERS = (1, 2, 4)
UNIT_MIB = 4  # the corpus is cut into parts of this size: one unit task each


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(index: Path, corpus: Path, out: Path, workers: int) -> dict[str, Any]:
    from provenance import api
    from provenance.scanner.dask_shards import made_index_bytes, opened_shards, resident_index_bytes

    shutil.rmtree(out, ignore_errors=True)
    if workers == 0:  # the reference: one process
        t0 = time.perf_counter()
        result = api.scan(index, [corpus], out, fmt="jsonl")
        return {"seconds": time.perf_counter() - t0, "stages": result.run["seconds"], "peak_rss": _peak_rss()}
    import dask
    import distributed

    root = str(index.resolve())
    # (work stealing off, as docs/SCALE.md says to run a scheduler for a sharded index: otherwise an idle
    # worker takes shard tasks from a busy owner and maps that shard too)
    with dask.config.set({"distributed.scheduler.work-stealing": False}), distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit=0) as cluster, distributed.Client(cluster) as client:
        t0 = time.perf_counter()
        api.scan(index, [corpus], out, fmt="jsonl", scheduler=client, unit_size=UNIT_MIB << 20)
        seconds = time.perf_counter() - t0
        resident = {w: sum(files.values()) for w, files in client.run(resident_index_bytes, root).items()}
        made = client.run(made_index_bytes)  # (key filters, search buckets, offsets: made on opening)
        resident = {w: b + made.get(w, 0) for w, b in resident.items()}
        opened = client.run(opened_shards)
        peaks = client.run(_peak_rss)
    return {"seconds": seconds, "resident": sorted(resident.values()), "made": sum(made.values()), "opened": sorted(len(v) for v in opened.values()),
            "worker_peak_rss": sorted(peaks.values()), "peak_rss": _peak_rss()}


def measure(ctx: Context, posts_file: Path, n_posts: int, corpus: Path, memory_limit: str) -> dict[str, Any]:
    """Build the sharded index of ``posts_file`` and run every configuration (with ``ctx.quick``: 2
    workers only); the figures."""
    from provenance import api
    from provenance.index.spill import parse_size

    root = ctx.work / "scale" / f"sharded-n{n_posts}"
    index = root / "index"
    ctx.log(f"scale: building a {SHARDS}-shard index of {n_posts:,} posts")
    t0 = time.perf_counter()
    api.build_index([posts_file], index, fmt="csv", force=True, memory_limit=parse_size(memory_limit), shards=SHARDS)
    build_s = time.perf_counter() - t0
    index_bytes = sum(f.stat().st_size for f in index.rglob("*") if f.is_file())
    runs: dict[int, dict[str, Any]] = {}
    outputs: dict[int, dict[str, bytes]] = {}
    workers = (2,) if ctx.quick else WORKERS
    for w in (0, *workers):
        out = root / f"scan-w{w}"
        ctx.log(f"scale: scanning {mib(corpus.stat().st_size):,.0f} MiB against the sharded index, "
                + (f"{w} Dask worker(s)" if w else "one process"))
        m = run_measured(["-m", "benchmarks.dask_shards", "--index", str(index), "--corpus", str(corpus), "--out", str(out),
                          "--workers", str(w)], cwd=ROOT)
        runs[w] = {"wall_seconds": m.seconds, **m.result}
        outputs[w] = {name: (out / name).read_bytes() for name in ("matches.parquet", "summary.json")}
        shutil.rmtree(out, ignore_errors=True)
    identical = {w: all(outputs[w][k] == outputs[0][k] for k in outputs[0]) for w in workers}
    shutil.rmtree(root, ignore_errors=True)
    return {"posts": n_posts, "shards": SHARDS, "build_seconds": build_s, "index_bytes": index_bytes,
            "corpus_bytes": corpus.stat().st_size, "runs": {str(w): r for w, r in runs.items()},
            "identical": {str(w): v for w, v in identical.items()}}


def markdown(r: dict[str, Any] | None) -> list[str]:
    if r is None:
        return []
    workers = [int(w) for w in r["runs"] if w != "0"]
    base = r["runs"][str(workers[0])]["seconds"]
    total = r["index_bytes"]
    rows = [["1 process (reference)", _s(r["runs"]["0"]["seconds"]), "-", "-", "-", "-", "-"]]
    for w in workers:
        x = r["runs"][str(w)]
        share = max(x["resident"]) / (total + x.get("made", 0))
        rows.append([f"{w} Dask worker{'s' if w > 1 else ''}", _s(x["seconds"]), f"{base / x['seconds']:.2f}×",
                     " / ".join(str(n) for n in x["opened"]),
                     f"{mib(max(x['resident'])):,.0f} MiB ({100 * share:.0f} % of the index)",
                     f"{mib(max(x['worker_peak_rss'])):,.0f}", "yes" if r["identical"][str(w)] else "**no**"])
    return [
        (f"**A sharded index on Dask** (`benchmarks/dask_shards.py`): {r['posts']:,} synthetic posts built with "
         f"`--shards {r['shards']}` in {r['build_seconds']:.1f} s ({mib(total):,.0f} MiB), a "
         f"{mib(r['corpus_bytes']):,.0f} MiB corpus cut into {UNIT_MIB} MiB units, scanned on a LocalCluster of worker "
         "processes (one thread each; the cluster's start is not timed; work stealing off). Each worker opens only the "
         "shards it owns (shard s to worker s mod W); *resident* is the most any worker held of the index in memory after the scan: the "
         "pages of index files in its `/proc/self/smaps` plus what its shards made on opening (key filters, search "
         "buckets, offsets); the share is of the index files plus what all shards made. This machine has 2 cores: 4 workers share them."),
        "",
        table(["run", "scan s", f"speed-up vs {workers[0]} worker{'s' if workers[0] > 1 else ''}", "shards opened per worker", "index resident (largest worker)",
               "worker peak RSS MiB", "same bytes as 1 process"], rows),
        "",
    ]


def _s(x: float) -> str:
    return f"{x:,.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=0, help="Dask workers; 0: one process")
    args = ap.parse_args()
    print(json.dumps(_child(args.index, args.corpus, args.out, args.workers)))


if __name__ == "__main__":
    main()
