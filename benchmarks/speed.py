"""Speed, same run: provenance against datasketch, rensa, a naive Python scan and the hardware floor.

    python -m benchmarks.speed [--quick] [--rounds 3] [--corpus-mb 16] [--out FILE.md]

Every method indexes the same posts and scans the same corpus, under the same set definition:
``provenance.normalize.normalize`` then word 3-grams. Each (method, round) runs in a fresh child
process (so peak RSS is the method's own); the methods' order rotates from round to round, and the
ratios are computed within each round, then their median is reported.

Methods:

* ``provenance`` — ``provenance.api`` build + scan, default containment mode (verified, with offsets);
* ``provenance-jaccard`` — the same with ``--mode jaccard`` (MinHash LSH over whole documents);
* ``naive`` — plain Python: a dict from shingle to posts, each document's shingle set counted against
  it, a pair reported at containment ≥ 0.5 (no verification, no offsets);
* ``datasketch`` — ``MinHash.update_batch`` + ``MinHashLSH`` (128 permutations, threshold 0.5) over
  windows of 32 shingles, stride 16: the usual do-it-yourself approach to finding short texts in
  long ones;
* ``rensa`` — the same with ``RMinHash.from_token_sets`` + ``RMinHashLSH`` (32 bands × 4 rows; rensa
  needs bands to divide the permutations);
* ``floor`` — provenance's own reader, normalizer, tokenizer and shingle hashing over every post and
  document once, and nothing else: no scan can be faster with this text pipeline.

Besides speed, each method reports the (post, document) pairs it found, scored against the planted
fixture's truth.csv (the fixture's planted corpus is part of every corpus here).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

from .common import Context, Section, emit, median, mib, run_measured, table, vm_hwm

TITLE = "Speed against datasketch, rensa, a naive scan and the floor"

METHODS = ["provenance", "provenance-keyed", "provenance-jaccard", "naive", "datasketch", "rensa", "floor"]
NGRAM = 3
NUM_PERM = 128
THRESHOLD = 0.5
WINDOW, STRIDE = 32, 16
RENSA_BANDS = 32
WIKI_DOC_RE = re.compile(r'<doc id="(\d+)"[^>]*title="([^"]*)">\n(.*?)\n</doc>', re.S)


# -- inputs --------------------------------------------------------------------------------------


def prepare(ctx: Context, corpus_mb: float) -> tuple[Path, Path, Path]:
    """Write ``posts.jsonl``, ``corpus.jsonl`` and ``truth.csv`` into ``ctx.work/speed``; return their paths.

    Posts: the fixture's 3,000 airline tweets, plus (full run) all TweetEval tweets. Corpus: the
    fixture's planted corpus (500 documents), plus (full run) Wikipedia documents up to ``corpus_mb``.
    """
    out = ctx.work / "speed"
    out.mkdir(parents=True, exist_ok=True)
    posts_path, corpus_path, truth_path = out / "posts.jsonl", out / "corpus.jsonl", out / "truth.csv"
    tag = f"quick={ctx.quick} mb={corpus_mb} data={ctx.has_data}"
    stamp = out / "inputs.txt"
    if stamp.exists() and stamp.read_text() == tag:
        return posts_path, corpus_path, truth_path
    import polars as pl

    airline = pl.read_csv(ctx.fixtures / "posts" / "airline_tweets.csv", schema_overrides={"tweet_id": pl.String})
    posts = [{"id": i, "text": t} for i, t in zip(airline["tweet_id"], airline["text"])]
    with gzip.open(ctx.fixtures / "planted" / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        docs = [{"id": d["id"], "text": d["text"]} for d in map(json.loads, f)]
    if not ctx.quick and ctx.has_data:
        for path in sorted((ctx.data / "tweeteval").glob("*/*_text.txt.gz")):
            task = f"{path.parent.name}-{path.name.removesuffix('_text.txt.gz')}"
            with gzip.open(path, "rt", encoding="utf-8") as f:
                posts += [{"id": f"te-{task}-{n}", "text": line.rstrip("\n")} for n, line in enumerate(f, 1)]
        budget = corpus_mb * 1e6
        for path in sorted((ctx.data / "wikipedia_en_sample").glob("wiki_*.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for m in WIKI_DOC_RE.finditer(f.read()):
                    if budget <= 0:
                        break
                    docs.append({"id": f"wp-{m.group(1)}", "text": m.group(3)})
                    budget -= len(m.group(3).encode("utf-8"))
    for path, records in ((posts_path, posts), (corpus_path, docs)):
        with path.open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    truth_path.write_bytes((ctx.fixtures / "planted" / "truth.csv").read_bytes())
    stamp.write_text(tag)
    return posts_path, corpus_path, truth_path


def _records(path: Path) -> Iterator[tuple[str, str]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            yield str(record["id"]), record["text"]


def _shingles(text: str) -> list[str]:
    """The shared set definition, in plain Python: normalized word 3-grams as strings, in order."""
    from provenance.normalize import TOKEN_RE, normalize

    tokens = TOKEN_RE.findall(normalize(text))
    return [" ".join(tokens[i : i + NGRAM]) for i in range(len(tokens) - NGRAM + 1)]


def _windows(shingles: list[str]) -> Iterator[list[str]]:
    if len(shingles) <= WINDOW:
        yield shingles
        return
    for start in range(0, len(shingles) - WINDOW + STRIDE, STRIDE):
        yield shingles[start : start + WINDOW]


# -- methods (run in the child process) ---------------------------------------------------------
# Each returns (build seconds, scan seconds, posts indexed, documents scanned, pairs found).

Pairs = set[tuple[str, str]]


BENCH_KEY = hashlib.sha256(b"provenance benchmark key").digest()
"""The secret of the keyed run (a fixed one: the benchmark measures cost, not secrecy)."""


def run_provenance(posts: Path, corpus: Path, work: Path, mode: str = "containment", keyed: bool = False):
    from provenance import api
    from provenance.params import ScanParams

    key = BENCH_KEY if keyed else None
    t0 = time.perf_counter()
    index = api.build_index([posts], work / f"index-{mode}{'-keyed' * keyed}", force=True, key=key)
    t1 = time.perf_counter()
    result = api.scan(index, [corpus], params=ScanParams(mode=mode), key=key)
    t2 = time.perf_counter()
    pairs = set(zip(result.matches["post_id"].to_list(), result.matches["doc_id"].to_list()))
    _STAGES.update(result.run["seconds"])
    if mode == "containment" and not keyed:
        _PROFILE[:] = _profile(lambda: api.scan(index, [corpus], params=ScanParams(mode=mode)))
    return t1 - t0, t2 - t1, index.n_posts, result.summary["docs_scanned"], pairs


_PROFILE: list[list[Any]] = []  # top functions of one more (untimed) scan under cProfile


def _profile(call: Callable[[], Any], top: int = 10) -> list[list[Any]]:
    """``[function, own seconds, share]`` of the ``top`` functions by own time while ``call`` runs."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(call)
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (calls, ncalls, own, cumulative, callers)}
    total = sum(v[2] for v in stats.values())
    rows = sorted(((f"{Path(f).name}:{line}({name})" if line else name, v[2]) for (f, line, name), v in stats.items()),
                  key=lambda r: -r[1])
    return [[name, round(own, 3), f"{100 * own / total:.0f} %"] for name, own in rows[:top]]


_STAGES: dict[str, float] = {}  # the provenance scan's own split of its time (run.json "seconds")


def run_naive(posts: Path, corpus: Path, work: Path):
    t0 = time.perf_counter()
    postings: dict[str, list[int]] = {}
    ids, sizes = [], []
    for post_id, text in _records(posts):
        grams = set(_shingles(text))
        for g in grams:
            postings.setdefault(g, []).append(len(ids))
        ids.append(post_id)
        sizes.append(len(grams))
    t1 = time.perf_counter()
    pairs: Pairs = set()
    docs = 0
    for doc_id, text in _records(corpus):
        docs += 1
        hits: Counter[int] = Counter()
        for g in set(_shingles(text)):
            for p in postings.get(g, ()):
                hits[p] += 1
        pairs.update((ids[p], doc_id) for p, h in hits.items() if h >= THRESHOLD * sizes[p])
    return t1 - t0, time.perf_counter() - t1, len(ids), docs, pairs


def run_datasketch(posts: Path, corpus: Path, work: Path):
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    n = 0
    for post_id, text in _records(posts):
        grams = _shingles(text)
        if grams:
            m = MinHash(num_perm=NUM_PERM)
            m.update_batch([g.encode("utf-8") for g in grams])
            lsh.insert(post_id, m, check_duplication=False)
            n += 1
    t1 = time.perf_counter()
    pairs: Pairs = set()
    docs = 0
    for doc_id, text in _records(corpus):
        docs += 1
        for window in _windows(_shingles(text)):
            if window:
                m = MinHash(num_perm=NUM_PERM)
                m.update_batch([g.encode("utf-8") for g in window])
                pairs.update((p, doc_id) for p in lsh.query(m))
    return t1 - t0, time.perf_counter() - t1, n, docs, pairs


def run_rensa(posts: Path, corpus: Path, work: Path):
    from rensa import RMinHash, RMinHashLSH

    t0 = time.perf_counter()
    ids, sets = [], []
    for post_id, text in _records(posts):
        grams = _shingles(text)
        if grams:
            ids.append(post_id)
            sets.append(grams)
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=RENSA_BANDS)
    lsh.insert_many(RMinHash.from_token_sets(sets, num_perm=NUM_PERM, seed=0), 0)
    t1 = time.perf_counter()
    pairs: Pairs = set()
    docs = 0
    for doc_id, text in _records(corpus):
        docs += 1
        windows = [w for w in _windows(_shingles(text)) if w]
        if windows:
            for found in lsh.query_all(RMinHash.from_token_sets(windows, num_perm=NUM_PERM, seed=0)):
                pairs.update((ids[p], doc_id) for p in found)
    return t1 - t0, time.perf_counter() - t1, len(ids), docs, pairs


def run_floor(posts: Path, corpus: Path, work: Path):
    from provenance.params import ScanParams
    from provenance.read import expand_inputs, iter_batches
    from provenance.shingle import TokenHasher, batch_shingles

    def pass_over(path: Path) -> tuple[int, int]:
        hasher, records, shingles = TokenHasher(0), 0, 0
        batches = iter_batches(expand_inputs([path]), text_field="text", id_field="id",
                               batch_size=ScanParams().batch_size)
        for batch in batches:
            records += len(batch.texts)
            shingles += len(batch_shingles(batch.texts, NGRAM, hasher).hashes)
        return records, shingles

    t0 = time.perf_counter()
    n_posts, _ = pass_over(posts)
    t1 = time.perf_counter()
    n_docs, _ = pass_over(corpus)
    return t1 - t0, time.perf_counter() - t1, n_posts, n_docs, set()


RUNNERS: dict[str, Callable[..., Any]] = {
    "provenance": run_provenance,
    "provenance-keyed": lambda p, c, w: run_provenance(p, c, w, keyed=True),
    "provenance-jaccard": lambda p, c, w: run_provenance(p, c, w, mode="jaccard"),
    "naive": run_naive,
    "datasketch": run_datasketch,
    "rensa": run_rensa,
    "floor": run_floor,
}


def child(method: str, posts: Path, corpus: Path, truth: Path, work: Path) -> dict[str, Any]:
    build_s, scan_s, n_posts, n_docs, pairs = RUNNERS[method](posts, corpus, work)
    planted = _truth_pairs(truth)
    return {"method": method, "build_s": build_s, "scan_s": scan_s, "posts": n_posts, "docs": n_docs,
            "pairs": len(pairs), "planted_found": len(planted & pairs), "planted": len(planted), "stages": dict(_STAGES),
            "profile": list(_PROFILE), "vm_hwm": vm_hwm()}


def _truth_pairs(truth: Path) -> Pairs:
    import csv

    with truth.open(encoding="utf-8", newline="") as f:
        return {(r["post_id"], r["doc_id"]) for r in csv.DictReader(f)}


# -- parent: rounds, ratios, the section ----------------------------------------------------------


def available(method: str) -> bool:
    if method == "rensa":
        try:
            import rensa  # noqa: F401
        except ImportError:
            return False
    return True


def measure(ctx: Context, methods: list[str], posts: Path, corpus: Path, truth: Path) -> list[dict[str, Any]]:
    """Run every method once per round in its own child; rotate the order each round."""
    corpus_bytes = corpus.stat().st_size
    rows = []
    for r in range(ctx.rounds):
        order = methods[r % len(methods):] + methods[: r % len(methods)]
        for method in order:
            m = run_measured(["-m", "benchmarks.speed", "--child", method, "--posts", str(posts), "--corpus",
                              str(corpus), "--truth", str(truth), "--work", str(ctx.work / "speed")])
            res = m.result
            res.update(round=r, wall_s=m.seconds, peak_rss=m.peak_rss, corpus_bytes=corpus_bytes,
                       mb_s=corpus_bytes / 1e6 / res["scan_s"], docs_s=res["docs"] / res["scan_s"],
                       posts_s=res["posts"] / res["build_s"])
            ctx.log(f"  round {r + 1} {method:<19} build {res['build_s']:7.2f} s  scan {res['scan_s']:7.2f} s "
                    f"({res['mb_s']:6.2f} MB/s)  peak {mib(m.peak_rss):6.0f} MiB  pairs {res['pairs']}")
            rows.append(res)
    return rows


def summarize(rows: list[dict[str, Any]], methods: list[str]) -> tuple[list[list[Any]], list[list[Any]]]:
    """Per-method medians, and per-round ratios of provenance against each method (median over rounds)."""
    by = {m: [r for r in rows if r["method"] == m] for m in methods}
    speed = []
    for m in methods:
        rs = by[m]
        first = rs[0]
        recall = first["planted_found"] / first["planted"] if first["planted"] else 0.0
        speed.append([m, median([r["mb_s"] for r in rs]), median([r["docs_s"] for r in rs]),
                      median([r["posts_s"] for r in rs]), median([r["scan_s"] for r in rs]),
                      median([r["build_s"] for r in rs]), mib(median([r["peak_rss"] for r in rs])),
                      first["pairs"], recall])
    rounds = sorted({r["round"] for r in rows})
    ratios = []
    base = {(r["method"], r["round"]): r for r in rows}
    for m in methods:
        if m == "provenance":
            continue
        scan = [base["provenance", k]["mb_s"] / base[m, k]["mb_s"] for k in rounds]
        build = [base["provenance", k]["posts_s"] / base[m, k]["posts_s"] for k in rounds]
        rss = [base["provenance", k]["peak_rss"] / base[m, k]["peak_rss"] for k in rounds]
        ratios.append([m, median(scan), min(scan), max(scan), median(build), median(rss)])
    return speed, ratios


def stage_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    runs = [r for r in rows if r["method"] == "provenance" and r.get("stages")]
    if not runs:
        return []
    total = median([r["stages"]["total"] for r in runs])
    out = []
    for stage, label in (("read", "read and parse JSONL"), ("shingle", "normalize, tokenize, hash shingles"),
                         ("match", "candidates, verification, short posts"), ("locate", "character offsets")):
        sec = median([r["stages"][stage] for r in runs])
        out.append([label, sec, f"{100 * sec / total:.0f} %"])
    floor = [r["scan_s"] for r in rows if r["method"] == "floor"]
    if floor:
        out.append(["floor: read + normalize + tokenize + hash, nothing else", median(floor), ""])
    return out


def ceiling_text(rows: list[dict[str, Any]], methods: list[str]) -> list[str]:
    """Why a speed target can be out of reach: the floor's own ratios to each method bound provenance's."""
    base = {(r["method"], r["round"]): r for r in rows}
    rounds = sorted({r["round"] for r in rows})
    if "floor" not in methods:
        return []

    def ratio(m: str, field: str) -> float:
        return median([base["floor", k][field] / base[m, k][field] for k in rounds])

    peers = [m for m in ("naive", "datasketch", "rensa") if m in methods]
    parts = [f"{ratio(m, 'mb_s'):.1f}× {m}" for m in peers]
    scan = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    out = [f"**The floor bounds every ratio.** Per-round medians: the floor alone scans at {scan}; "
           "provenance does the floor's work (read, normalize, tokenize, hash every shingle) and then finds and "
           "verifies candidates, so its ratio to a method can only be lower than the floor's. Where the floor's "
           "own ratio is below a target, that target needs a faster text pipeline, not a faster matcher."]
    if "datasketch" in methods:
        out[-1] += (f" Building the index, the floor (read, normalize and hash the posts) is {ratio('datasketch', 'posts_s'):.1f}× "
                    "datasketch's build.")
    prof = next((r["profile"] for r in rows if r["method"] == "provenance" and r.get("profile")), None)
    if prof:
        out += ["", "Profile of one provenance scan (cProfile, functions by own time; the first round's):", "",
                table(["function", "own s", "share"], prof, "lrr")]
    return out


TARGETS = {"naive": ("scan", 5.0), "datasketch": ("scan", 100.0), "rensa": ("scan", 5.0), "floor": ("scan", 0.5)}


def run(ctx: Context, corpus_mb: float = 16.0) -> Section:
    methods = [m for m in METHODS if available(m)]
    posts, corpus, truth = prepare(ctx, 0.5 if ctx.quick else corpus_mb)
    n_posts = sum(1 for _ in posts.open(encoding="utf-8"))
    n_docs = sum(1 for _ in corpus.open(encoding="utf-8"))
    ctx.log(f"speed: {n_posts:,} posts, {n_docs:,} documents, {mib(corpus.stat().st_size):.1f} MiB corpus, "
            f"{ctx.rounds} rounds of {', '.join(methods)}")
    rows = measure(ctx, methods, posts, corpus, truth)
    speed, ratios = summarize(rows, methods)
    checks = []
    for m, scan_ratio, *_ in ratios:
        if m in TARGETS:
            target = TARGETS[m][1]
            checks.append([f"scan speed / {m}", f"≥ {target:g}×", f"{scan_ratio:.2f}×",
                           "met" if scan_ratio >= target else "missed"])
    by_method = {r[0]: r for r in ratios}
    if "datasketch" in by_method:
        build, rss = by_method["datasketch"][4], by_method["datasketch"][5]
        checks.append(["index build speed / datasketch", "≥ 20×", f"{build:.1f}×", "met" if build >= 20 else "missed"])
        checks.append(["peak RSS / datasketch", "< 1×", f"{rss:.2f}×", "met" if rss < 1 else "missed"])
    md = [
        f"Posts: {n_posts:,}; corpus: {n_docs:,} documents, {corpus.stat().st_size / 1e6:.1f} MB of JSONL "
        f"(the planted fixture{'' if ctx.quick else ' + a Wikipedia slice'}). {ctx.rounds} rounds, methods "
        "rotated each round, each run in its own process. Medians over rounds. *Recall* is the share of the "
        "planted fixture's truth pairs a method reports (provenance verifies; naive, datasketch and rensa "
        "report unverified candidates, so their *pairs* include false ones).",
        "",
        table(["method", "scan MB/s", "docs/s", "index posts/s", "scan s", "build s", "peak RSS MiB", "pairs",
               "recall (planted)"], speed),
        "",
        "Ratios of provenance (default containment mode) to each method, computed within each round "
        "(median, min, max over rounds); RSS ratio below 1 means provenance used less memory.",
        "",
        table(["against", "scan speed ×", "min", "max", "index build ×", "peak RSS ×"], ratios),
        "",
        table(["measure", "target", "measured", ""], checks, "llrl"),
        "",
        "`provenance-keyed` is the same scan against a keyed index (`--key-file`: keyed BLAKE2b word hashes "
        "and a SipHash-2-4 finish of every shingle hash); its row in the ratios table is the cost of the key.",
        "",
        "Where provenance's scan time goes (its own `run.json` `seconds`, median over rounds), next to "
        "the floor's whole scan:",
        "",
        table(["stage", "seconds", "share of scan"], stage_rows(rows), "lrr"),
        "",
        *ceiling_text(rows, methods),
    ]
    return Section(TITLE, "\n".join(md),
                   {"rows": rows, "speed": speed, "ratios": ratios, "checks": checks})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--posts", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--truth", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, default=Path("bench-work"))
    ap.add_argument("--data", type=Path, default=Context.data)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--corpus-mb", type=float, default=16.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.child:
        args.work.mkdir(parents=True, exist_ok=True)
        print(json.dumps(child(args.child, args.posts, args.corpus, args.truth, args.work)))
        return 0
    t0 = time.perf_counter()
    section = run(Context(data=args.data, work=args.work, quick=args.quick, rounds=args.rounds), args.corpus_mb)
    emit(section, args.out, t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
