"""Measure which word n-gram size to use, on the shared labeled data and the planted fixture.

    python benchmarks/choose_ngram.py [--data ../shared/data] [--out benchmarks/NGRAM.md]

For n = 1..5 it reports:
* planted fixture (fixtures/planted): recall of planted (post, document) pairs and false pairs, at the
  default scan thresholds (containment 0.5, span >= 6 tokens);
* Clough & Stevenson short-answer reuse: containment of each answer's shingles in its Wikipedia
  source, and the AUC separating copied answers (cut, light) from independent ones (non);
* Twitter URL paraphrase pairs (train split): AUC of the exact shingle-set Jaccard separating
  paraphrase pairs (label 1) from non-paraphrases (label 0);
* natural matches: all 155k TweetEval tweets indexed, all 39k Wikinews pages scanned (42 MB): how many
  posts are reported. Wikinews quotes almost none of these tweets, so nearly every one is a stock
  phrase or place name that fills a short tweet: a false-alarm count on real text.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from provenance import api
from provenance.demo import check_against_truth
from provenance.params import IndexParams, ScanParams
from provenance.text.shingles import TokenHasher, batch_shingles

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (``python benchmarks/choose_ngram.py``): its folder is on the path
    sys.path.insert(0, str(ROOT))

from benchmarks.data import (CLOUGH, DEFAULT_DATA, TWITTER, load_clough, load_twitter_url, tweeteval_files,  # noqa: E402
                             wikinews_files)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    scores = np.concatenate([pos, neg])
    # 1-based ranks, averaged over ties.
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def shingle_sets(texts: list[str], n: int) -> list[set[int]]:
    sb = batch_shingles(texts, n, TokenHasher(0))
    return [set(sb.of(i).tolist()) for i in range(len(texts))]


def clough(data: Path, n: int) -> tuple[dict[str, float], float]:
    pairs = load_clough(data / CLOUGH)  # each answer (left) with the source text of its task (right)
    answers, sources = shingle_sets(pairs.left, n), shingle_sets(pairs.right, n)
    cont = np.array([len(a & s) / len(a) if a else 0.0 for a, s in zip(answers, sources)])
    cats = np.array(pairs.classes)
    means = {c: float(cont[cats == c].mean()) for c in ("cut", "light", "heavy", "non")}
    return means, auc(cont[np.isin(cats, ["cut", "light"])], cont[cats == "non"])


def twitter_pairs(data: Path, n: int) -> float:
    pairs = load_twitter_url(data / TWITTER)
    labels = np.array([pairs.positive[c] for c in pairs.classes])
    sa, sb = shingle_sets(pairs.left, n), shingle_sets(pairs.right, n)
    jac = np.array([len(x & y) / len(x | y) if (x | y) else 0.0 for x, y in zip(sa, sb)])
    return auc(jac[labels], jac[~labels])


def planted(n: int, tmp: Path) -> tuple[float, int, float]:
    fixtures = ROOT / "fixtures"
    params = IndexParams(ngram=n, short_tokens=max(6, n))
    index = api.build_index([fixtures / "posts" / "airline_tweets.csv"], tmp / f"idx{n}", id_field="tweet_id",
                            params=params, force=True)
    t0 = time.perf_counter()
    result = api.scan(index, [fixtures / "planted" / "corpus.jsonl.gz"], params=ScanParams())
    seconds = time.perf_counter() - t0
    check = check_against_truth(result.matches, fixtures)
    return check.recall, check.false_matches, seconds


def natural(data: Path, n: int, tmp: Path) -> tuple[int, float]:
    tweets = tweeteval_files(data)
    index = api.build_index(tweets, tmp / f"tweeteval{n}", fmt="lines", params=IndexParams(ngram=n, short_tokens=max(6, n)),
                            force=True)
    t0 = time.perf_counter()
    result = api.scan(index, wikinews_files(data), fmt="jsonl")
    return result.summary["posts_matched"], time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "NGRAM.md")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(1, 6):
            recall, false_pairs, seconds = planted(n, Path(tmp))
            means, clough_auc = clough(args.data, n)
            tw_auc = twitter_pairs(args.data, n)
            nat, nat_s = natural(args.data, n, Path(tmp)) if 2 <= n <= 4 else (None, None)
            rows.append((n, recall, false_pairs, seconds, means, clough_auc, tw_auc, nat, nat_s))
            print(rows[-1], flush=True)
    out = ["# Choosing n (word n-gram size)", "", "Generated by `python benchmarks/choose_ngram.py`.", "",
           "| n | planted recall | false pairs | scan s | Clough containment cut / light / heavy / non | Clough AUC (cut+light vs non) | Twitter paraphrase AUC (Jaccard) | TweetEval posts reported in Wikinews | that scan, s |",
           "|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for n, recall, fp, secs, m, ca, ta, nat, nat_s in rows:
        nat_cols = f"{nat} | {nat_s:.1f}" if nat is not None else "- | -"
        out.append(f"| {n} | {recall:.3f} | {fp} | {secs:.2f} | {m['cut']:.2f} / {m['light']:.2f} / {m['heavy']:.2f} / {m['non']:.2f} "
                   f"| {ca:.3f} | {ta:.3f} | {nat_cols} |")
    args.out.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
