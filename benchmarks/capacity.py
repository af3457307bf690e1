"""The capacity model of docs/SCALE.md, computed from the figures one run of the scale section measured.

Inputs (all from the same run, this machine): bytes a post of the real-tweet index; build seconds a
post (the largest synthetic build, one process); per GB of JSONL corpus, the seconds of the text stage
(read, normalize, hash, offsets: once per document whatever the index) and of the match stage against
unsharded indexes of growing size (fitted as ``a * posts^k`` through the two largest); and what each
extra shard of a sharded index adds to a scan in one process (its probes routed by key, as on Dask:
what is left is a verification call a shard a batch, and the shard's own lookups of commonness). The model then says, for a platform's archive and a corpus, how large the index
is, how long a one-process build takes, and how many core-hours and hours on W Dask workers a scan
takes. It is an extrapolation far past what was measured (from 10 M synthetic posts to billions): the
figures it gives are orders of magnitude to plan with, not promises.

Real posts (:func:`real_archive_scans`): synthetic Zipf posts share far more phrases with synthetic
documents than real posts share with real text, so the match term is also fitted on real posts: all of
Wikinews scanned (whole ``provenance scan`` processes) against the first 100,000 and all 2.43 M real
posts of the archive section (its ``posts.jsonl``, ``wikinews.jsonl`` and index, in ``ctx.work/archive``:
run that section first). Its match and locate stages (``run.json`` ``seconds``) grow with the archive;
the text stage and the probes are the synthetic run's."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.common import Context, table

GB = 1 << 30

TARGET_POSTS = 26_000_000_000
TARGET_CORPUS_BYTES = 10 * 10**12
SHARD_POSTS = 100_000_000
WORKERS = (100, 1000)
REAL_SMALL = 100_000
"""The smaller archive of the real-post fit: the first this many posts of the archive section's."""


def _per_gb(scan: dict[str, Any], stages: tuple[str, ...]) -> float:
    return sum(scan["seconds"].get(s, 0.0) for s in stages) / (scan["corpus_bytes"] / GB)


def real_archive_scans(ctx: Context, rounds: int = 2) -> dict[str, Any] | None:
    """All of Wikinews scanned against the first :data:`REAL_SMALL` and all real posts of the archive section
    (its inputs and index in ``ctx.work/archive``; None where they are missing): each scan's stage seconds
    (the fastest of ``rounds`` whole processes)."""
    from benchmarks.archive_cost import _build, _scan
    from provenance.errors import ProvenanceError
    from provenance.index import open_index

    src = ctx.work / "archive"
    posts, corpus = src / "posts.jsonl", src / "wikinews.jsonl"
    if not (posts.is_file() and corpus.is_file()):
        ctx.log("scale: no archive inputs in the work folder (run the archive section first): no real-post model")
        return None
    root = ctx.work / "scale" / "real-archive"
    root.mkdir(parents=True, exist_ok=True)
    with posts.open("rb") as f:
        n_all = sum(1 for _ in f)
    small = root / f"posts-{REAL_SMALL}.jsonl"
    with posts.open("rb") as f, small.open("wb") as out:
        for line, _ in zip(f, range(REAL_SMALL)):
            out.write(line)
    indexes = {REAL_SMALL: root / f"idx-{REAL_SMALL}", n_all: src / "idx"}
    _build(small, indexes[REAL_SMALL], None)
    try:
        open_index(indexes[n_all], verify=False)
    except (ProvenanceError, OSError):  # (an index of older code, or none: built here)
        indexes[n_all] = root / "idx-all"
        _build(posts, indexes[n_all], None)
    scans = []
    for n, idx in indexes.items():
        best: dict[str, Any] | None = None
        for _ in range(rounds):
            out = root / f"scan-{n}"
            wall = _scan(idx, corpus, out, None)
            seconds = json.loads((out / "run.json").read_text(encoding="utf-8"))["seconds"]
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
            if best is None or wall < best["wall_seconds"]:
                best = {"posts": n, "wall_seconds": wall, "seconds": seconds, "candidates": summary["candidates"],
                        "verified": summary["candidates_verified"]}
        scans.append(best)
    return {"corpus": corpus.name, "corpus_bytes": corpus.stat().st_size, "scans": scans}


def _real(real: dict[str, Any] | None, text_gb: float, probes_gb: float, n: int, corpus_gb: float) -> dict[str, Any] | None:
    """The model with the match term fitted on real posts (match and locate s/GB against two archive sizes)."""
    if real is None or len(real["scans"]) < 2:
        return None
    a, b = sorted(real["scans"], key=lambda s: s["posts"])[-2:]
    gb = real["corpus_bytes"] / GB
    ma, mb = ((s["seconds"]["match"] + s["seconds"]["locate"]) / gb for s in (a, b))
    k = math.log(mb / ma) / math.log(b["posts"] / a["posts"])
    pairs = mb * (n / b["posts"]) ** k
    total = text_gb + probes_gb + pairs
    return {"match_locate_s_per_gb": {a["posts"]: ma, b["posts"]: mb}, "k": k, "pairs": pairs, "total": total,
            "core_hours": total * corpus_gb / 3600}


def model(data: dict[str, Any]) -> dict[str, Any] | None:
    """The model's inputs and outputs from a scale section's ``data`` (None when an input is missing)."""
    builds, by_index, by_corpus = data.get("builds") or [], data.get("scans_by_index") or [], data.get("scans_by_corpus") or []
    real, sharded = data.get("real_tweets"), data.get("dask_shards")
    if len(by_index) < 2 or not builds or not by_corpus or real is None or sharded is None:
        return None
    bytes_per_post = real["containment"]["bytes"] / real["posts"]
    build = builds[-1]
    build_s_post = build["wall_seconds"] / build["posts"]
    text_gb = _per_gb(by_corpus[-1], ("read", "shingle", "locate"))
    a, b = by_index[-2], by_index[-1]
    ma, mb = _per_gb(a, ("match",)), _per_gb(b, ("match",))
    k = math.log(mb / ma) / math.log(b["posts"] / a["posts"])
    # What the shards add: the sharded index scanned in one process against the unsharded one of the
    # same posts, both on the same corpus.
    same = next((s for s in by_index if s["posts"] == sharded["posts"]), None)
    ref = sharded["runs"]["0"]
    if same is None or "stages" not in ref:
        return None
    extra = max(0.0, (ref["stages"]["match"] - same["seconds"]["match"]) / (sharded["corpus_bytes"] / GB))
    probe_gb_shard = extra / (sharded["shards"] - 1)
    runs = {int(w): r for w, r in sharded["runs"].items() if w != "0"}
    two = runs.get(2)
    one = runs.get(1)
    efficiency = (one["seconds"] / two["seconds"]) / 2 if one and two else 1.0
    built = data.get("dask_build")  # the same posts built in one process and on 2 Dask workers
    build_efficiency = (built["runs"]["0"]["seconds"] / built["runs"]["2"]["seconds"]) / 2 if built else None
    n, corpus_gb = TARGET_POSTS, TARGET_CORPUS_BYTES / GB
    shards = math.ceil(n / SHARD_POSTS)
    match_pairs = mb * (n / b["posts"]) ** k
    scan_core_s_gb = text_gb + shards * probe_gb_shard + match_pairs
    # on real posts: the text stage without locate (it grows with the real matches: in the fitted term)
    text_only = _per_gb(by_corpus[-1], ("read", "shingle"))
    real = _real(data.get("real_archive"), text_only, shards * probe_gb_shard, n, corpus_gb)
    return {
        "inputs": {"bytes_per_post": bytes_per_post, "build_s_per_post": build_s_post, "build_posts": build["posts"],
                   "text_s_per_gb": text_gb, "match_s_per_gb": {a["posts"]: ma, b["posts"]: mb}, "match_k": k,
                   "probe_s_per_gb_per_shard": probe_gb_shard, "dask_efficiency_2_workers": efficiency,
                   "dask_build_efficiency_2_workers": build_efficiency},
        "target": {"posts": n, "corpus_bytes": TARGET_CORPUS_BYTES, "shard_posts": SHARD_POSTS, "shards": shards},
        "index_bytes": n * bytes_per_post,
        "shard_bytes": SHARD_POSTS * bytes_per_post,
        "build_hours_one_process": n * build_s_post / 3600,
        "shard_build_hours": SHARD_POSTS * build_s_post / 3600,
        "build_hours": ({w: n * build_s_post / 3600 / (w * build_efficiency) for w in WORKERS}
                        if build_efficiency else None),
        "scan_core_s_per_gb": {"text": text_gb, "probes": shards * probe_gb_shard, "pairs": match_pairs,
                               "total": scan_core_s_gb},
        "scan_core_hours": scan_core_s_gb * corpus_gb / 3600,
        "scan_hours": {w: scan_core_s_gb * corpus_gb / 3600 / (w * efficiency) for w in WORKERS},
        "real_posts": real,
    }


def markdown(m: dict[str, Any] | None) -> list[str]:
    if m is None:
        return []
    i, t = m["inputs"], m["target"]
    (na, ma), (nb, mb) = sorted(i["match_s_per_gb"].items())
    rows = [
        ["index bytes a post (real tweets)", f"{i['bytes_per_post']:,.0f}", f"index of {t['posts'] / 1e9:,.0f} B posts",
         f"{m['index_bytes'] / 1e12:,.1f} TB in {t['shards']:,} shards of {t['shard_posts'] / 1e6:,.0f} M posts "
         f"({m['shard_bytes'] / 1e9:,.1f} GB each)"],
        ["build seconds a post (one process, largest build)", f"{i['build_s_per_post'] * 1e6:,.1f} µs",
         "build, one process", f"{m['build_hours_one_process']:,.0f} h ({m['shard_build_hours']:,.1f} h a shard's posts)"],
        *([["Dask build efficiency, 2 workers (against one process)", f"{i['dask_build_efficiency_2_workers']:.2f}",
             "build on Dask", ", ".join(f"{h:,.1f} h on {w:,} workers" for w, h in m["build_hours"].items())]]
          if m.get("build_hours") else []),
        ["text stage s/GB (read, normalize, hash, offsets)", f"{i['text_s_per_gb']:,.1f}", "scan: text stage",
         f"{m['scan_core_s_per_gb']['text']:,.0f} core-s/GB"],
        ["probe s/GB a shard adds", f"{i['probe_s_per_gb_per_shard']:,.1f}", f"scan: probes of {t['shards']:,} shards",
         f"{m['scan_core_s_per_gb']['probes']:,.0f} core-s/GB"],
        [f"match s/GB vs {na:,} / {nb:,} posts (∝ posts^{i['match_k']:.2f})", f"{ma:,.0f} / {mb:,.0f}",
         "scan: candidate pairs", f"{m['scan_core_s_per_gb']['pairs']:,.0f} core-s/GB (extrapolated)"],
        ["Dask efficiency, 2 workers", f"{i['dask_efficiency_2_workers']:.2f}",
         f"scan of {t['corpus_bytes'] / 1e12:,.0f} TB", f"{m['scan_core_hours']:,.0f} core-hours; "
         + ", ".join(f"{h:,.0f} h on {w:,} workers" for w, h in m["scan_hours"].items())],
    ]
    real = m.get("real_posts")
    if real:
        (ra, rma), (rb, rmb) = sorted(real["match_locate_s_per_gb"].items())
        rows += [
            [f"real posts: match + locate s/GB of Wikinews vs {ra:,} / {rb:,} posts (∝ posts^{real['k']:.2f})",
             f"{rma:,.0f} / {rmb:,.0f}", "scan: candidate pairs, real posts", f"{real['pairs']:,.0f} core-s/GB (extrapolated)"],
            ["real posts: text stage without locate, probes as above", "",
             f"scan of {t['corpus_bytes'] / 1e12:,.0f} TB, real posts", f"**{real['core_hours']:,.0f} core-hours**"],
        ]
    return [
        ("**Capacity model** (`benchmarks/capacity.py`; docs/SCALE.md explains it): the left columns are this run's "
         "measurements, the right what they give for a platform's archive and a corpus of several TB. Every figure "
         "on the right is an extrapolation from at most 10 M synthetic posts and 1 GiB of corpus"
         + (f" (the real-post rows: {max(real['match_locate_s_per_gb']):,} real posts and all of Wikinews)" if real else "")
         + "; take it as an order of magnitude."),
        "",
        table(["measured", "value", "model", "gives"], rows),
        "",
    ]
