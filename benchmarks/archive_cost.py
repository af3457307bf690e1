"""Candidate work per document against archive size: one corpus scanned against indexes of the first
10 k, 100 k, ... posts of one posts file, and against the whole file, with this code and, optionally, an
older checkout in the same run (whole processes, alternating, several rounds; median wall seconds).

    python -m benchmarks.archive_cost --posts POSTS.jsonl --corpus wikinews.jsonl --work /tmp/cost \\
        [--sizes 10000,100000] [--sample head|random] [--all-index IDX] [--old-code OLD_CHECKOUT --old-all-index OLD_IDX]
        [--rounds 3]

Per scan: wall seconds, candidate pairs and verified pairs per document (``summary.json``
``candidates`` and ``candidates_verified``), and the posts one probe finds: the index rows a document
shingle that hits expands to (seeds since format 16, keys before), mean and largest over the first
2,000 documents. Indexes of N posts (the first N, or with ``--sample random`` N drawn at random: the
archive benchmark's first posts are tweets, the rest mostly Reddit titles) are built once per code into ``--work``; ``--all-index``
(and ``--old-all-index``) name indexes of the whole posts file already built (else it is built too).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import posts_corpus_parser

_PROBE = r"""
import json, sys, numpy as np, orjson
from provenance.index import open_index
from provenance.text.shingles import batch_shingles
ix = open_index(sys.argv[1])
texts = []
with open(sys.argv[2], "rb") as f:
    for line, _ in zip(f, range(int(sys.argv[3]))):
        texts.append(orjson.loads(line)["text"])
sb = batch_shingles(texts, ix.params.ngram, ix.token_hasher(), lines=True)
if hasattr(ix, "seeds"):
    where, key = ix.seeds.find(sb.hashes)
    rows = ix.seeds.rows(key)[1]
else:
    where, key = ix.keys.find(sb.hashes)
    rows = ix.key_rows(key)[1]
print(json.dumps({"shingles": int(len(sb.hashes)), "hits": int(len(where)), "postings": int(rows.sum()),
                  "max": int(rows.max(initial=0))}))
"""


def _env(code: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return env


def _run(args: list[str], code: Path | None) -> float:
    t0 = time.perf_counter()
    # (run from inside the checkout: python -m and -c put the working directory first on the path)
    subprocess.run([sys.executable, *args], env=_env(code), cwd=code, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _build(posts: Path, out: Path, code: Path | None) -> float:
    """Seconds to build an index of ``posts`` into ``out`` with the code at ``code`` (None: this one)."""
    return _run(["-m", "provenance.cli", "index", "build", str(posts), "--format", "jsonl", "--id-field", "id",
                 "-o", str(out), "--force", "-q"], code)


def _scan(idx: Path, corpus: Path, out: Path, code: Path | None) -> float:
    return _run(["-m", "provenance.cli", "scan", str(idx), str(corpus), "--format", "jsonl", "--id-field", "id",
                 "-o", str(out), "--force", "-q"], code)


def _probe(idx: Path, corpus: Path, code: Path | None, docs: int = 2000) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(idx), str(corpus), str(docs)], env=_env(code), cwd=code, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


SAMPLE_SEED = 20261207


def _posts_of(posts: Path, n: int, sample: str, out: Path) -> None:
    """Write ``n`` posts of ``posts`` to ``out``: the first ``n`` (``sample`` "head"), or ``n`` lines drawn
    at random ("random", seeded: the same lines every run), in file order."""
    with open(posts, "rb") as f:
        if sample == "head":
            lines = [line for line, _ in zip(f, range(n))]
        else:
            import numpy as np

            every = f.readlines()
            pick = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(every), min(n, len(every)), replace=False))
            lines = [every[i] for i in pick.tolist()]
    with open(out, "wb") as g:
        g.writelines(lines)


def measure(posts: Path, corpus: Path, work: Path, sizes: list[int], all_index: Path | None, rounds: int,
            old_code: Path | None = None, old_all_index: Path | None = None, sample: str = "head") -> list[dict]:
    """``sample``: the smaller indexes hold the first posts of the file ("head"), or posts drawn from
    all of it at random ("random": the same mix of sources as the whole, so that only the size differs)."""
    work.mkdir(parents=True, exist_ok=True)
    codes = {"new": None} | ({"old": old_code} if old_code is not None else {})
    indexes: dict[tuple[str, str], Path] = {}
    built: dict[tuple[str, str], float] = {}
    tag = "" if sample == "head" else f"-{sample}"
    for n in sizes:
        head = work / f"posts{tag}-{n}.jsonl"
        if not head.is_file():
            _posts_of(posts, n, sample, head)
        for name, code in codes.items():
            indexes[(name, f"{n:,}")] = work / f"idx-{name}{tag}-{n}"
            if not (work / f"idx-{name}{tag}-{n}" / "manifest.json").is_file():
                built[(name, f"{n:,}")] = _build(head, work / f"idx-{name}{tag}-{n}", code)
    for name, code in codes.items():
        given = all_index if name == "new" else old_all_index
        if given is None:
            given = work / f"idx-{name}-all"
            if not (given / "manifest.json").is_file():
                built[(name, "all")] = _build(posts, given, code)
        indexes[(name, "all")] = given
    times: dict[tuple[str, str], list[float]] = {k: [] for k in indexes}
    for _ in range(rounds):  # alternating: old and new of one size one after the other
        for key, idx in indexes.items():
            times[key].append(_scan(idx, corpus, work / f"scan-{key[0]}{tag}-{key[1]}", codes[key[0]]))
    rows = []
    for (name, size), idx in indexes.items():
        summary = json.loads((work / f"scan-{name}{tag}-{size}" / "summary.json").read_text(encoding="utf-8"))
        manifest = json.loads((idx / "manifest.json").read_text(encoding="utf-8"))
        docs = max(summary["docs_scanned"], 1)
        probe = _probe(idx, corpus, codes[name])
        index_bytes = sum(f.stat().st_size for f in idx.iterdir() if f.is_file())
        rows.append({"code": name, "posts": manifest["counts"]["posts"], "build_seconds": built.get((name, size)),
                     "index_mib": index_bytes / 2**20, "seconds": statistics.median(times[(name, size)]),
                     "all_seconds": times[(name, size)], "candidates_per_doc": summary["candidates"] / docs,
                     "verified_per_doc": summary["candidates_verified"] / docs, "posts_matched": summary["posts_matched"],
                     "postings_per_probe": probe["postings"] / max(probe["hits"], 1), "most_postings": probe["max"]})
    return rows


def render(rows: list[dict]) -> str:
    lines = ["| code | posts indexed | build s | index MiB | scan s (median) | candidate pairs / doc | verified pairs / doc | "
             "posts a probe finds: mean | largest | posts counted |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["code"], r["posts"])):
        build = f"{r['build_seconds']:.1f}" if r.get("build_seconds") else "-"
        lines.append(f"| {r['code']} | {r['posts']:,} | {build} | {r['index_mib']:.0f} | {r['seconds']:.1f} | {r['candidates_per_doc']:.1f} | "
                     f"{r['verified_per_doc']:.2f} | {r['postings_per_probe']:.2f} | {r['most_postings']} | {r['posts_matched']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = posts_corpus_parser(__doc__)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--all-index", type=Path)
    ap.add_argument("--old-code", type=Path, help="an older checkout, scanned with PYTHONPATH pointing to it")
    ap.add_argument("--old-all-index", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sample", choices=("head", "random"), default="head",
                    help="the smaller indexes: the first posts of the file, or posts drawn at random from all of it")
    args = ap.parse_args(argv)
    paths = [p.resolve() if p is not None else None for p in (args.posts, args.corpus, args.work, args.all_index,
                                                             args.old_code, args.old_all_index)]
    posts, corpus, work, all_index, old_code, old_all_index = paths
    rows = measure(posts, corpus, work, [int(s) for s in args.sizes.split(",") if s], all_index, args.rounds, old_code,
                   old_all_index, args.sample)
    (work / "archive_cost.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(render(rows))


if __name__ == "__main__":
    main()
