"""A lever measured, not built: one-seed candidates asked to carry background bits (issue 28).

Most candidate pairs at archive scale are one seed of a post met by chance. A seed is a rare phrase
*among the posts*; it may still be ordinary English ("the end of the", "a lot more"), and as the archive
grows, more such phrases are some post's seed. This harness asks, for every seed hit of a scan, how many
bits of ordinary English the document's words there carry (:mod:`provenance.text.background`, the
3-gram from the hit), and counts the candidate pairs each rule would keep:

* ``R0``: the scan's rule (``two_seeds_from``): two different seeds of a post of that many seeds or more,
  one seed otherwise;
* ``R1 +m``: two different seeds always do; one seed only for a post of fewer than ``two_seeds_from``
  seeds, and only when its 3-gram carries at least ``log2(seed rows of the index) + m`` bits. Expected
  chance one-seed candidates per document word are then at most ``2^-m``, whatever the archive's size
  (each seed row is met by chance at a place with probability about ``2^-bits``).

For each rule: candidate pairs per document, the planted copies (``truth.csv``) still a candidate, and
the pairs that the scan counted (``scan-<corpus>/matches.parquet``, ``generic`` false) that the rule
would lose. The scan's own rule reproduces its ``candidates`` count (tested). Run on the archive
benchmark's folder (``python -m benchmarks.archive``; an index of the plain hash, no key)::

    python -m benchmarks.seed_bits --archive WORK [--index IDX] [--margins 0,2,4,6]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import polars as pl

from provenance.arrays import expand_ranges
from provenance.index import open_index
from provenance.params import ScanParams
from provenance.text.background import default_background, plain_hasher
from provenance.text.shingles import batch_shingles

CORPORA = ("wikinews", "wikipedia", "selftext")


def pair_hits_bits(index, texts: list[str], batch: int = 2000) -> pl.DataFrame:
    """Every (document, post) pair a seed hit makes: its distinct seeds hit, the most bits of a hit, and
    the post's number of seeds."""
    if index.key is not None or index.params.seed != plain_hasher().seed:
        raise SystemExit("seed_bits: the index hashes tokens with a key or another seed; the background model "
                         "weighs plain tokens only")
    bg, hasher, n = default_background(), index.token_hasher(), index.params.ngram
    parts = []
    for a in range(0, len(texts), batch):
        sb = batch_shingles(texts[a : a + batch], n, hasher, lines=True)
        where, key = index.seeds.find(sb.hashes)
        doc = np.searchsorted(sb.offsets, where, side="right") - 1
        tok = sb.token_offsets[doc] + (where - sb.offsets[doc])  # (shingle i of a text starts at its token i)
        bits = bg.bits_of_runs(sb.token_hashes, tok, np.full(len(tok), n), sb.nospace)
        start, count = index.seeds.rows(key)
        posts = np.asarray(index.seed_posts)[expand_ranges(start, count)].astype(np.int64)
        parts.append(pl.DataFrame({"doc": np.repeat(doc + a, count), "post": posts, "bits": np.repeat(bits, count),
                                   "seed": np.repeat(key, count)}))
    hits = pl.concat(parts) if parts else pl.DataFrame(schema={"doc": pl.Int64, "post": pl.Int64, "bits": pl.Float64,
                                                               "seed": pl.Int64})
    pairs = hits.group_by("doc", "post").agg(seeds=pl.col("seed").n_unique(), most_bits=pl.col("bits").max())
    return pairs.with_columns(post_seeds=pl.Series(np.asarray(index.post_seeds)[pairs["post"].to_numpy()].astype(np.int64)))


def rules(seed_rows: int, two_seeds_from: int, margins: list[float]) -> dict[str, pl.Expr]:
    twice = pl.col("seeds") >= 2
    lone = (pl.col("post_seeds") < two_seeds_from) if two_seeds_from > 0 else pl.lit(True)
    out = {"R0": twice | lone}
    for m in margins:
        out[f"R1 +{m:g}"] = twice | (lone & (pl.col("most_bits") >= math.log2(max(seed_rows, 1)) + m))
    return out


def measure(archive: Path, index_dir: Path, margins: list[float], corpora=CORPORA) -> list[dict]:
    index = open_index(index_dir)
    seed_rows = int(index.manifest["counts"]["seeds"])
    ids = pl.read_parquet(index_dir / "posts.parquet", columns=["post_id"]).with_row_index("post").with_columns(
        pl.col("post").cast(pl.Int64))
    truth = pl.read_csv(archive / "truth.csv", schema_overrides={"post_id": pl.String, "doc_id": pl.String})
    out = []
    for name in corpora:
        docs = pl.read_ndjson(archive / f"{name}.jsonl").select(pl.col("id").cast(pl.String), "text")
        pairs = pair_hits_bits(index, docs["text"].to_list())
        pairs = pairs.with_columns(doc_id=docs["id"].gather(pairs["doc"])).join(ids, on="post", how="left")
        planted = pairs.join(truth.select("doc_id", "post_id"), on=["doc_id", "post_id"], how="semi")
        scan = archive / f"scan-{name}" / "matches.parquet"
        counted = (pl.read_parquet(scan).filter(~pl.col("generic")).select("doc_id", "post_id").unique()
                   if scan.is_file() else None)
        seeded = pairs.join(counted, on=["doc_id", "post_id"], how="semi") if counted is not None else None
        for rule, keep in rules(seed_rows, ScanParams().two_seeds_from, margins).items():
            out.append({"corpus": name, "rule": rule, "docs": docs.height,
                        "candidates": pairs.filter(keep).height,
                        "candidates_per_doc": pairs.filter(keep).height / max(docs.height, 1),
                        "planted_candidates": planted.filter(keep).height, "planted_seeded": planted.height,
                        "counted": None if counted is None else counted.height,
                        "counted_lost": None if seeded is None else seeded.filter(~keep).height})
    return out


def render(rows: list[dict]) -> str:
    lines = ["| corpus | rule | candidate pairs / doc | planted copies still candidates | counted pairs lost |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        lost = "-" if r["counted_lost"] is None else f"{r['counted_lost']} of {r['counted']}"
        lines.append(f"| {r['corpus']} | {r['rule']} | {r['candidates_per_doc']:.2f} | "
                     f"{r['planted_candidates']} of {r['planted_seeded']} | {lost} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archive", type=Path, required=True, help="the archive benchmark's work folder")
    ap.add_argument("--index", type=Path, help="default: ARCHIVE/idx")
    ap.add_argument("--margins", default="0,2,4,6")
    ap.add_argument("--corpora", default=",".join(CORPORA))
    args = ap.parse_args(argv)
    rows = measure(args.archive, args.index or args.archive / "idx", [float(m) for m in args.margins.split(",") if m],
                   [c for c in args.corpora.split(",") if c])
    (args.archive / "seed_bits.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(render(rows))


if __name__ == "__main__":
    main()
