"""Probe work of a distributed scan as the number of shards grows: routed probes against a probe of every
shard, on the same posts and corpus, in one run.

The posts are indexed with ``--shards S`` for each ``S`` asked; the corpus is scanned on a LocalCluster
of worker processes (one thread each, work stealing off) twice an index: with the routes (each document
shingle probed in the one part that can hold it; the default) and with ``PROVENANCE_PROBES=broadcast``
(every shard probes every shingle, as before index format 18). Figures: the CPU seconds the workers
spent (their ``getrusage``, before and after the scan), per GB of corpus, and the wall seconds; and
whether the two scans wrote the same ``matches.parquet`` and ``summary.json``.

Run: ``python -m benchmarks.routed_probes --posts POSTS.jsonl --corpus CORPUS.jsonl --work DIR
[--shards 2,8,32] [--workers 2]`` (the archive benchmark's ``posts.jsonl`` and ``wikinews.jsonl``: see
benchmarks/ARCHIVE_COST.md)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

from benchmarks.common import posts_corpus_parser, table

GB = 1 << 30
MODES = ("routed", "broadcast")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def scan_once(index: Path, corpus: Path, out: Path, workers: int, mode: str) -> dict[str, Any]:
    """One scan of ``corpus`` on a new LocalCluster of ``workers`` processes, probes ``mode``."""
    import dask
    import distributed

    from provenance import api

    shutil.rmtree(out, ignore_errors=True)
    before = os.environ.get("PROVENANCE_PROBES")
    os.environ["PROVENANCE_PROBES"] = mode  # (the worker processes inherit it)
    try:
        with dask.config.set({"distributed.scheduler.work-stealing": False}), \
                distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                         memory_limit=0) as cluster, distributed.Client(cluster) as client:
            cpu0 = sum(client.run(_cpu).values())
            t0 = time.perf_counter()
            api.scan(index, [corpus], out, fmt="jsonl", id_field="id", scheduler=client)
            wall = time.perf_counter() - t0
            cpu = sum(client.run(_cpu).values()) - cpu0
    finally:
        if before is None:
            os.environ.pop("PROVENANCE_PROBES", None)
        else:
            os.environ["PROVENANCE_PROBES"] = before
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {"wall_seconds": wall, "worker_cpu_seconds": cpu, "candidates": summary["candidates"],
            "bytes": {name: (out / name).read_bytes() for name in ("matches.parquet", "summary.json")}}


def measure(posts: Path, corpus: Path, work: Path, shards: Sequence[int], workers: int) -> dict[str, Any]:
    from provenance import api

    gb = corpus.stat().st_size / GB
    rows = []
    for s in shards:
        index = work / f"idx-{s}"
        t0 = time.perf_counter()
        if not (index / "manifest.json").is_file():
            api.build_index([posts], index, fmt="jsonl", id_field="id", shards=s, force=True)
        build = time.perf_counter() - t0
        runs = {m: scan_once(index, corpus, work / f"scan-{s}-{m}", workers, m) for m in MODES}
        same = runs["routed"].pop("bytes") == runs["broadcast"].pop("bytes")
        rows.append({"shards": s, "build_seconds": build, "same_results": same,
                     **{m: {**r, "cpu_s_per_gb": r["worker_cpu_seconds"] / gb} for m, r in runs.items()}})
    return {"corpus_bytes": corpus.stat().st_size, "workers": workers, "rows": rows}


def markdown(r: dict[str, Any]) -> str:
    rows = [[x["shards"], f"{x['routed']['cpu_s_per_gb']:,.0f}", f"{x['broadcast']['cpu_s_per_gb']:,.0f}",
             f"{x['routed']['wall_seconds']:.1f}", f"{x['broadcast']['wall_seconds']:.1f}",
             f"{x['routed']['candidates']:,}", "yes" if x["same_results"] else "**no**"] for x in r["rows"]]
    return table(["shards", "routed: worker CPU s/GB", "every shard probed: worker CPU s/GB", "routed: wall s",
                  "every shard: wall s", "candidate pairs", "same results"], rows)


def main(argv: Sequence[str] | None = None) -> None:
    ap = posts_corpus_parser(__doc__)
    ap.add_argument("--shards", default="2,8,32")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    r = measure(args.posts, args.corpus, args.work, [int(s) for s in args.shards.split(",")], args.workers)
    (args.work / "result.json").write_text(json.dumps(r, indent=1), encoding="utf-8")
    print(markdown(r))


if __name__ == "__main__":
    main()
