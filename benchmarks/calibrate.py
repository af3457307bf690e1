"""Calibration on labeled pairs: how well the containment and Jaccard scores separate copies from non-copies.

    python -m benchmarks.calibrate [--data ../shared/data] [--quick] [--out calibrate.md]

Three labeled pair sets from the shared data folder (read by :mod:`benchmarks.data`):

* ``twitter_url_paraphrase_train`` — 42,200 tweet pairs sharing a news URL, paraphrase or not;
* ``msrp_paraphrase`` — 5,801 news sentence pairs (train and test pooled), paraphrase or not;
* ``clough_stevenson_short_answer_reuse`` — 95 student answers graded cut / light / heavy / non against
  the Wikipedia source text of their task.

Every text becomes the project's shingle set: ``provenance.text.normalize.normalize``, tokens ``TOKEN_RE``, word
n-grams with n = ``IndexParams().ngram`` hashed by ``provenance.text.shingles.batch_shingles``, deduplicated. For
each pair the module computes containment ``|A∩B|/|A|`` (the left text inside the right one), Jaccard
``|A∩B|/|A∪B|`` and the share of the left text's tokens covered by its shingles found in the right text,
then per dataset and score: distributions per class, a precision/recall table, ROC AUC and the best-F1
threshold. A "Why the defaults" paragraph is written from the measured numbers.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from provenance.params import IndexParams, ScanParams
from provenance.text.shingles import TokenHasher, batch_shingles

from .common import DEFAULT_DATA, Context, Section, emit, table
from .data import CLOUGH, LOADERS, MSRP, TWITTER, LabeledPairs, load_clough, load_msrp, load_twitter_url

__all__ = [
    "LabeledPairs",
    "PairScores",
    "PRPoint",
    "pair_scores",
    "confusion_at",
    "pr_curve",
    "roc_auc",
    "best_f1",
    "lowest_threshold_for_precision",
    "quantiles",
    "histogram",
    "load_twitter_url",
    "load_msrp",
    "load_clough",
    "analyse",
    "why_defaults",
    "run",
    "main",
]

Scores = Sequence[float] | NDArray[Any]
Labels = Sequence[bool] | Sequence[int] | NDArray[Any]

TITLE = "Calibration on labeled pairs"
QUICK_MAX_PAIRS = 600
THRESHOLDS: tuple[float, ...] = tuple(k / 10 for k in range(1, 11))  # k/10 is the double nearest to the decimal
QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
PRECISION_TARGET = 0.95
PRECISION_KEY = f"lowest_threshold_precision_{round(PRECISION_TARGET * 100)}"
SCORES = ("containment", "jaccard")


# --------------------------------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class PairScores:
    """Set scores of pairs (all arrays of shape ``(pairs,)``).

    ``left_tokens``/``right_tokens``: tokens after normalization; ``left_shingles``/``right_shingles``:
    distinct n-gram hashes; ``intersection``: shared distinct hashes; ``covered_tokens``: tokens of the left
    text inside at least one of its n-grams found in the right text. ``valid``: both texts have at least n
    tokens (at least one shingle). The ratios are 0 where ``valid`` is false.
    """

    left_tokens: NDArray[np.int64]
    right_tokens: NDArray[np.int64]
    left_shingles: NDArray[np.int64]
    right_shingles: NDArray[np.int64]
    intersection: NDArray[np.int64]
    covered_tokens: NDArray[np.int64]
    valid: NDArray[np.bool_]

    @property
    def containment(self) -> NDArray[np.float64]:
        """``|A∩B| / |A|``: the share of the left text's distinct shingles found in the right text."""
        return _ratio(self.intersection, self.left_shingles)

    @property
    def jaccard(self) -> NDArray[np.float64]:
        """``|A∩B| / |A∪B|``."""
        return _ratio(self.intersection, self.left_shingles + self.right_shingles - self.intersection)

    @property
    def coverage(self) -> NDArray[np.float64]:
        """Share of the left text's tokens covered by its shingles found in the right text."""
        return _ratio(self.covered_tokens, self.left_tokens)


def _ratio(num: NDArray[np.int64], den: NDArray[np.int64]) -> NDArray[np.float64]:
    out = np.zeros(len(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _gather(values: NDArray[Any], offsets: NDArray[np.int64],
            rows: NDArray[np.int64]) -> tuple[NDArray[Any], NDArray[np.int64]]:
    """Concatenate the CSR rows ``rows`` of ``values``; also return, per element, its position in ``rows``."""
    sizes = offsets[rows + 1] - offsets[rows]
    total = int(sizes.sum())
    owner = np.repeat(np.arange(len(rows), dtype=np.int64), sizes)
    starts = np.zeros(len(rows), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    positions = np.repeat(offsets[rows] - starts, sizes) + np.arange(total, dtype=np.int64)
    return values[positions], owner


def _dedupe_rows(values: NDArray[np.uint64],
                 offsets: NDArray[np.int64]) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """Per CSR row, its distinct values (sorted); returns the new ``(values, offsets)``."""
    k = len(offsets) - 1
    owner = np.repeat(np.arange(k, dtype=np.int64), np.diff(offsets))
    order = np.lexsort((values, owner))
    v, o = values[order], owner[order]
    keep = np.ones(len(v), dtype=bool)
    keep[1:] = (v[1:] != v[:-1]) | (o[1:] != o[:-1])
    sizes = np.bincount(o[keep], minlength=k)
    new_offsets = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(sizes, out=new_offsets[1:])
    return v[keep], new_offsets


def _members(query: NDArray[np.uint64], query_pair: NDArray[np.int64],
             sets: NDArray[np.uint64], set_pair: NDArray[np.int64]) -> NDArray[np.bool_]:
    """For each ``(query_pair[i], query[i])``: is ``query[i]`` among the set elements of the same pair?

    One sort of both arrays by (pair, value, set-before-query); a query is a member when the nearest set
    element before it has the same pair and value. ``sets`` must hold distinct values per pair.
    """
    if len(query) == 0:
        return np.zeros(0, dtype=bool)
    values = np.concatenate([sets, query])
    pairs = np.concatenate([set_pair, query_pair])
    is_query = np.concatenate([np.zeros(len(sets), dtype=np.int8), np.ones(len(query), dtype=np.int8)])
    order = np.lexsort((is_query, values, pairs))
    v, p, q = values[order], pairs[order], is_query[order]
    idx = np.arange(len(order))
    last_set = np.maximum.accumulate(np.where(q == 0, idx, -1))
    prev = np.maximum(last_set, 0)
    hit = (last_set >= 0) & (v[prev] == v) & (p[prev] == p)
    found = np.zeros(len(query), dtype=bool)
    query_rank = order[q == 1] - len(sets)  # sorted position -> original query index
    found[query_rank] = hit[q == 1]
    return found


def _covered(found: NDArray[np.bool_], position: NDArray[np.int64], owner: NDArray[np.int64],
             n_pairs: int, n: int) -> NDArray[np.int64]:
    """Tokens per pair covered by the found n-grams (n-gram ``i`` covers tokens ``i .. i+n-1``).

    ``position``: index of each n-gram inside its text, ``owner``: its pair; both in text order per pair.
    A found n-gram covers ``min(n, distance to the next found n-gram of the same pair)`` new tokens.
    """
    pos, own = position[found], owner[found]
    gain = np.full(len(pos), n, dtype=np.int64)
    if len(pos) > 1:
        same = own[1:] == own[:-1]
        gain[:-1] = np.where(same, np.minimum(pos[1:] - pos[:-1], n), n)
    return np.bincount(own, weights=gain, minlength=n_pairs).astype(np.int64)


def pair_scores(left: Sequence[str], right: Sequence[str], n: int | None = None, seed: int | None = None) -> PairScores:
    """Containment, Jaccard and coverage of every ``(left[i], right[i])`` with the project's shingle sets.

    ``n`` and ``seed`` default to ``IndexParams()``. Each distinct text is shingled once (one
    ``batch_shingles`` pass); intersections come from one sort-merge over all pairs.
    """
    defaults = IndexParams()
    n = defaults.ngram if n is None else n
    seed = defaults.seed if seed is None else seed
    if len(left) != len(right):
        raise ValueError(f"left and right differ in length ({len(left)} != {len(right)})")
    texts: dict[str, int] = {}
    left_id = np.fromiter((texts.setdefault(t, len(texts)) for t in left), dtype=np.int64, count=len(left))
    right_id = np.fromiter((texts.setdefault(t, len(texts)) for t in right), dtype=np.int64, count=len(right))
    batch = batch_shingles(list(texts), n, TokenHasher(seed))
    set_values, set_offsets = _dedupe_rows(batch.hashes, batch.offsets)
    set_sizes = np.diff(set_offsets)
    n_pairs = len(left)

    # |A ∩ B|: the left set's elements that are members of the right set of the same pair.
    a_values, a_owner = _gather(set_values, set_offsets, left_id)
    b_values, b_owner = _gather(set_values, set_offsets, right_id)
    in_b = _members(a_values, a_owner, b_values, b_owner)
    intersection = np.bincount(a_owner[in_b], minlength=n_pairs).astype(np.int64)

    # Coverage: the left text's n-grams in order; tokens under a found one.
    seq_values, seq_owner = _gather(batch.hashes, batch.offsets, left_id)
    seq_start = np.zeros(n_pairs, dtype=np.int64)
    seq_sizes = batch.offsets[left_id + 1] - batch.offsets[left_id]
    np.cumsum(seq_sizes[:-1], out=seq_start[1:])
    seq_position = np.arange(len(seq_values), dtype=np.int64) - np.repeat(seq_start, seq_sizes)
    found = _members(seq_values, seq_owner, b_values, b_owner)
    covered = _covered(found, seq_position, seq_owner, n_pairs, n)

    left_shingles = set_sizes[left_id].astype(np.int64)
    right_shingles = set_sizes[right_id].astype(np.int64)
    return PairScores(batch.n_tokens[left_id].astype(np.int64), batch.n_tokens[right_id].astype(np.int64),
                      left_shingles, right_shingles, intersection, covered, (left_shingles > 0) & (right_shingles > 0))


# --------------------------------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class PRPoint:
    """Confusion counts and rates when pairs with ``score >= threshold`` are called positive.

    ``precision`` is ``None`` when nothing is called positive; ``f1`` is then 0.
    """

    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float
    f1: float

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}


def _as_arrays(scores: Scores, labels: Labels) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-d and equally long, got {s.shape} and {y.shape}")
    return s, y


def confusion_at(scores: Scores, labels: Labels, thresholds: Scores) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """True and false positives at each threshold (``score >= t`` is called positive)."""
    s, y = _as_arrays(scores, labels)
    t = np.asarray(thresholds, dtype=np.float64)
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    tp = len(pos) - np.searchsorted(pos, t, side="left")
    fp = len(neg) - np.searchsorted(neg, t, side="left")
    return tp.astype(np.int64), fp.astype(np.int64)


def _point(threshold: float, tp: int, fp: int, n_pos: int, n_neg: int) -> PRPoint:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / n_pos if n_pos else 0.0
    f1 = 2 * tp / (2 * tp + fp + (n_pos - tp)) if tp else 0.0
    return PRPoint(float(threshold), int(tp), int(fp), int(n_pos - tp), int(n_neg - fp), precision, recall, f1)


def pr_curve(scores: Scores, labels: Labels, thresholds: Scores = THRESHOLDS) -> list[PRPoint]:
    """Precision, recall and F1 at each threshold (``score >= t`` is called positive)."""
    s, y = _as_arrays(scores, labels)
    tp, fp = confusion_at(s, y, thresholds)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return [_point(t, a, b, n_pos, n_neg) for t, a, b in zip(thresholds, tp.tolist(), fp.tolist())]


def roc_auc(scores: Scores, labels: Labels) -> float | None:
    """Area under the ROC curve from ranks: P(score of a positive > score of a negative), ties counted half.

    ``None`` when either class is empty.
    """
    s, y = _as_arrays(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)  # 1-based rank of the last member of each tie group
    mid_rank = upper - (counts - 1) / 2.0  # average 1-based rank of each tie group
    rank_sum = float(mid_rank[inverse][y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _all_points(s: NDArray[np.float64], y: NDArray[np.bool_]) -> list[PRPoint]:
    """Points at every distinct score, highest threshold first."""
    thresholds = np.unique(s)[::-1]
    return pr_curve(s, y, thresholds)


def best_f1(scores: Scores, labels: Labels) -> PRPoint | None:
    """The threshold among the distinct scores with the highest F1; on a tie, the highest such threshold.

    ``None`` when there are no positives.
    """
    s, y = _as_arrays(scores, labels)
    if not y.any():
        return None
    points = _all_points(s, y)
    best = max(range(len(points)), key=lambda i: (points[i].f1, points[i].threshold))
    return points[best]


def lowest_threshold_for_precision(scores: Scores, labels: Labels,
                                   target: float = PRECISION_TARGET) -> PRPoint | None:
    """The lowest distinct-score threshold whose precision is at least ``target`` (``None`` if none is)."""
    s, y = _as_arrays(scores, labels)
    ok = [p for p in _all_points(s, y) if p.precision is not None and p.precision >= target]
    return min(ok, key=lambda p: p.threshold) if ok else None


def quantiles(values: Scores, qs: Sequence[float] = QUANTILES) -> dict[str, float | None]:
    """``n``, ``mean``, the quantiles ``p10`` … (linear interpolation) and the shares equal to 0 and to 1.

    Values are ``None`` (``n`` 0) for an empty input.
    """
    v = np.asarray(values, dtype=np.float64)
    out: dict[str, float | None] = {"n": len(v)}
    empty = len(v) == 0
    out["mean"] = None if empty else float(v.mean())
    for q in qs:
        out[f"p{round(q * 100)}"] = None if empty else float(np.quantile(v, q))
    out["zero"] = None if empty else float(np.mean(v == 0.0))
    out["one"] = None if empty else float(np.mean(v == 1.0))
    return out


def histogram(values: Scores, bins: int = 10) -> list[int]:
    """Counts in ``[k/bins, (k+1)/bins)`` for ``k = 0 … bins-1``; the last bin also holds 1.0.

    The bin of a value ``v`` is the largest ``k`` with ``v >= k/bins``, the same ``>=`` rule as the thresholds.
    """
    v = np.asarray(values, dtype=np.float64)
    edges = np.arange(bins + 1) / bins
    which = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, bins - 1)
    return np.bincount(which, minlength=bins).tolist()


# --------------------------------------------------------------------------------------------------- analysis


def _subsample(pairs: LabeledPairs, quick: bool, seed: int) -> LabeledPairs:
    """All pairs, or in quick mode at most ``QUICK_MAX_PAIRS`` chosen at random with ``seed`` (kept in order)."""
    if not quick or len(pairs) <= QUICK_MAX_PAIRS:
        return pairs
    rng = np.random.default_rng(seed)
    return pairs.subset(np.sort(rng.choice(len(pairs), QUICK_MAX_PAIRS, replace=False)))


def _rule_mask(scores: PairScores, params: ScanParams) -> NDArray[np.bool_]:
    """The scanner's containment rule applied to whole texts (the right text is the region)."""
    return ((scores.containment >= params.min_containment) & (scores.coverage >= params.min_coverage)
            & (scores.covered_tokens >= params.min_span_tokens))


def _score_figures(values: NDArray[np.float64], classes: NDArray[Any], positive: dict[str, bool | None],
                   default: float) -> dict[str, Any]:
    """Distribution per class, PR table, AUC, best F1 and the default's point for one score."""
    class_names = list(positive)
    pos_mask = np.isin(classes, [c for c, v in positive.items() if v is True])
    neg_mask = np.isin(classes, [c for c, v in positive.items() if v is False])
    used = pos_mask | neg_mask
    s, y = values[used], pos_mask[used]
    best = best_f1(s, y)
    high_precision = lowest_threshold_for_precision(s, y)
    figures: dict[str, Any] = {
        "distribution": {c: quantiles(values[classes == c]) for c in class_names},
        "histogram": {c: histogram(values[classes == c]) for c in class_names},
        "share_at_or_above": {c: [float(np.mean(values[classes == c] >= t)) if np.any(classes == c) else None
                                  for t in THRESHOLDS] for c in class_names},
        "share_at_default": {c: float(np.mean(values[classes == c] >= default)) if np.any(classes == c) else None
                             for c in class_names},
        "auc": roc_auc(s, y),
        "pr": [p.to_dict() for p in pr_curve(s, y, THRESHOLDS)],
        "at_default": pr_curve(s, y, [default])[0].to_dict(),
        "best_f1": best.to_dict() if best else None,
        PRECISION_KEY: high_precision.to_dict() if high_precision else None,
    }
    held_out = [c for c, v in positive.items() if v is None]
    if held_out:  # AUC with the held-out classes counted as positives too
        wide = pos_mask | np.isin(classes, held_out)
        either = wide | neg_mask
        figures["auc_with_" + "_".join(held_out) + "_positive"] = roc_auc(values[either], wide[either])
    return figures


def analyse(pairs: LabeledPairs, params: ScanParams, index_params: IndexParams) -> dict[str, Any]:
    """All figures for one dataset (JSON-serialisable)."""
    scores = pair_scores(pairs.left, pairs.right, index_params.ngram, index_params.seed)
    classes_all = np.asarray(pairs.classes, dtype=object)
    valid = scores.valid
    classes = classes_all[valid]
    excluded = {c: int(np.sum(~valid & (classes_all == c))) for c in pairs.positive}
    short_left = int(np.sum(valid & (scores.left_tokens < index_params.short_tokens)))
    figures: dict[str, Any] = {
        "pairs_loaded": len(pairs),
        "pairs_used": int(valid.sum()),
        "excluded_fewer_than_n_tokens": excluded,
        "left_short_posts": short_left,
        "classes": {c: int(np.sum(classes == c)) for c in pairs.positive},
        "positive_rule": {c: v for c, v in pairs.positive.items()},
        "mean_tokens": {"left": float(scores.left_tokens[valid].mean()) if valid.any() else None,
                        "right": float(scores.right_tokens[valid].mean()) if valid.any() else None},
        **pairs.extra,
    }
    defaults = {"containment": params.min_containment, "jaccard": params.min_jaccard}
    arrays = {"containment": scores.containment[valid], "jaccard": scores.jaccard[valid]}
    figures["scores"] = {name: _score_figures(arrays[name], classes, pairs.positive, defaults[name]) for name in SCORES}
    rule = _rule_mask(scores, params)[valid]
    pos_mask = np.isin(classes, [c for c, v in pairs.positive.items() if v is True])
    neg_mask = np.isin(classes, [c for c, v in pairs.positive.items() if v is False])
    used = pos_mask | neg_mask
    containment = scores.containment[valid]
    figures["negatives_containment_ge_0_9"] = int(np.sum(neg_mask & (containment >= 0.9)))
    figures["positives_below_0_1"] = int(np.sum(pos_mask & (containment < 0.1)))
    figures["scanner_rule"] = pr_curve(rule[used].astype(np.float64), pos_mask[used], [1.0])[0].to_dict()
    figures["scanner_rule"]["share_per_class"] = {
        c: float(np.mean(rule[classes == c])) if np.any(classes == c) else None for c in pairs.positive}
    return figures


# --------------------------------------------------------------------------------------------------- markdown


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def _bin_label(k: int, bins: int = 10) -> str:
    lo, hi = k / bins, (k + 1) / bins
    return f"[{lo:.1f}, {hi:.1f}]" if k == bins - 1 else f"[{lo:.1f}, {hi:.1f})"


def _dataset_markdown(name: str, note: str, fig: dict[str, Any]) -> str:
    """The subsection of one dataset: counts, distributions, histogram, PR table."""
    classes = list(fig["classes"])
    excluded = sum(fig["excluded_fewer_than_n_tokens"].values())
    lines = [f"### {name}", "", note, "",
             f"Pairs: {fig['pairs_loaded']:,} loaded, {fig['pairs_used']:,} used; {excluded:,} left out because one "
             f"side has fewer than n tokens (no shingle: containment undefined) — per class "
             + ", ".join(f"{c} {k:,}" for c, k in fig["excluded_fewer_than_n_tokens"].items())
             + ". Classes used: " + ", ".join(f"{c} {k:,}" for c, k in fig["classes"].items())
             + f". Mean tokens left/right {_f(fig['mean_tokens']['left'], 1)}/{_f(fig['mean_tokens']['right'], 1)}; "
             f"{fig['left_short_posts']:,} used pairs have a left text shorter than `short_tokens` (the scanner "
             "would match those by exact text only). "
             f"Negatives with containment ≥ 0.9: {fig['negatives_containment_ge_0_9']:,}; positives below 0.1: "
             f"{fig['positives_below_0_1']:,}.", ""]
    rows = []
    for score in SCORES:
        for c in classes:
            d = fig["scores"][score]["distribution"][c]
            rows.append([score, c, d["n"], _f(d["mean"]), _f(d["p10"]), _f(d["p25"]), _f(d["p50"]), _f(d["p75"]),
                         _f(d["p90"]), _pct(d["zero"]), _pct(d["one"])])
    lines += ["Score distribution per class:", "",
              table(["score", "class", "pairs", "mean", "p10", "p25", "p50", "p75", "p90", "= 0", "= 1"], rows,
                    "llrrrrrrrrr"), ""]
    header = ["bin"] + [f"{'C' if s == 'containment' else 'J'} {c}" for s in SCORES for c in classes]
    hist_rows = []
    for k in range(10):
        row: list[Any] = [_bin_label(k)]
        for score in SCORES:
            for c in classes:
                counts = fig["scores"][score]["histogram"][c]
                total = sum(counts)
                row.append(_pct(counts[k] / total) if total else "–")
        hist_rows.append(row)
    lines += ["Histogram (share of each class per bin; C = containment, J = Jaccard):", "",
              table(header, hist_rows), ""]
    pr_rows = []
    for i, t in enumerate(THRESHOLDS):
        row = [f"{t:.1f}"]
        for score in SCORES:
            p = fig["scores"][score]["pr"][i]
            row += [_f(p["precision"]), _f(p["recall"]), _f(p["f1"])]
        pr_rows.append(row)
    lines += ["Precision / recall when `score >= t` is called a copy:", "",
              table(["t", "C precision", "C recall", "C F1", "J precision", "J recall", "J F1"], pr_rows), ""]
    held_out = [c for c, v in fig["positive_rule"].items() if v is None]
    if held_out:
        key = "auc_with_" + "_".join(held_out) + "_positive"
        lines += [f"AUC with {' + '.join(held_out)} counted as positive too: containment "
                  f"{_f(fig['scores']['containment'][key])}, Jaccard {_f(fig['scores']['jaccard'][key])}.", ""]
        rate_rows = []
        for i, t in enumerate(THRESHOLDS):
            row = [f"{t:.1f}"]
            for score in SCORES:
                row += [_pct(fig["scores"][score]["share_at_or_above"][c][i]) for c in classes]
            rate_rows.append(row)
        lines += ["Share of each category with `score >= t`:", "",
                  table(["t"] + [f"{'C' if s == 'containment' else 'J'} {c}" for s in SCORES for c in classes],
                        rate_rows), ""]
    return "\n".join(lines)


def _summary_rows(results: dict[str, dict[str, Any]]) -> list[list[Any]]:
    rows = []
    key = PRECISION_KEY
    for name, fig in results.items():
        n_pos = sum(k for c, k in fig["classes"].items() if fig["positive_rule"][c] is True)
        n_neg = sum(k for c, k in fig["classes"].items() if fig["positive_rule"][c] is False)
        for score in SCORES:
            sf = fig["scores"][score]
            d, b, hp = sf["at_default"], sf["best_f1"], sf[key]
            rows.append([name, score, n_pos, n_neg, _f(sf["auc"]), _f(d["threshold"], 2), _f(d["precision"]),
                         _f(d["recall"]), _f(d["f1"]), _f(b["threshold"] if b else None),
                         _f(b["precision"] if b else None), _f(b["recall"] if b else None), _f(b["f1"] if b else None),
                         _f(hp["threshold"] if hp else None), _f(hp["recall"] if hp else None)])
        r = fig["scanner_rule"]
        rows.append([name, "scanner rule*", n_pos, n_neg, "–", "–", _f(r["precision"]), _f(r["recall"]), _f(r["f1"]),
                     "–", "–", "–", "–", "–", "–"])
    return rows


def _compare(best: float, default: float) -> str:
    if abs(best - default) < 1e-9:
        return "equal to"
    return "below" if best < default else "above"


def _point_text(p: dict[str, Any] | None) -> str:
    if p is None:
        return "undefined"
    return f"t = {_f(p['threshold'])} (precision {_f(p['precision'])}, recall {_f(p['recall'])})"


def why_defaults(results: dict[str, dict[str, Any]], params: ScanParams) -> str:
    """The "Why the defaults" paragraph, written from the measured figures (no number is typed in by hand)."""
    c_default, j_default = params.min_containment, params.min_jaccard
    n = IndexParams().ngram
    parts: list[str] = [
        f"The scanner calls a pair a match at containment ≥ {c_default:g} (with coverage ≥ {params.min_coverage:g} "
        f"and at least {params.min_span_tokens} tokens) and, in `--mode jaccard`, at Jaccard ≥ {j_default:g}."]
    clough = results.get(CLOUGH)
    if clough:
        c = clough["scores"]["containment"]
        d, b = c["at_default"], c["best_f1"]
        share, dist = c["share_at_default"], c["distribution"]
        rule = clough["scanner_rule"]
        text = (f"Only the Clough & Stevenson answers are labelled for copying. There containment ≥ {c_default:g} has "
                f"precision {_f(d['precision'])} and recall {_f(d['recall'])} for cut + light answers (AUC "
                f"{_f(c['auc'])}); it finds {_pct(share['cut'])} of cut, {_pct(share['light'])} of light, "
                f"{_pct(share['heavy'])} of heavy and {_pct(share['non'])} of independent answers. ")
        if b is not None:
            text += f"The best-F1 threshold is {_point_text(b)}, {_compare(b['threshold'], c_default)} the default"
            if b["precision"] is not None and d["precision"] is not None and b["precision"] >= d["precision"]:
                text += (f": on these {d['tp'] + d['fp'] + d['fn'] + d['tn']} pairs a lower threshold costs no "
                         f"precision, because the negatives are written independently (90 % of them below "
                         f"{_f(dist['non']['p90'], 2)}) — they are not near misses")
            text += ". "
        lost = clough["positives_below_0_1"]
        if lost:
            text += (f"{lost} cut/light answers score below 0.1; on inspection such answers copy Wikipedia text that "
                     "is not in the stored source excerpt, a limit of the data rather than of the score. ")
        text += (f"The whole-text version of the full rule (coverage and span too) has precision "
                 f"{_f(rule['precision'])} at recall {_f(rule['recall'])}.")
        parts.append(text)
    paraphrase = [(name, results[name]) for name in (TWITTER, MSRP) if name in results]
    if paraphrase:
        desc, trivial, copies = [], [], []
        for name, fig in paraphrase:
            c = fig["scores"]["containment"]
            d, b = c["at_default"], c["best_f1"]
            desc.append(f"{name} precision {_f(d['precision'])}, recall {_f(d['recall'])} at {c_default:g}, best F1 at "
                        + _point_text(b))
            if b is not None and b["fn"] == 0 and b["tn"] == 0:
                n_pos = b["tp"] + b["fn"]
                trivial.append(f"{name} ({_pct(n_pos / (n_pos + b['fp'] + b['tn']))} of its pairs are positive)")
            copies.append(f"{fig['negatives_containment_ge_0_9']:,} in {name}")
        parts.append(
            f"The paraphrase corpora measure paraphrase, not copying — a paraphrase may share few word {n}-grams with "
            "its partner — so low recall at the default is expected there: " + "; ".join(desc) + ".")
        if trivial:
            parts.append("F1 peaks by calling every pair positive on " + ", ".join(trivial)
                         + ", so that best-F1 point says nothing about a threshold.")
        parts.append("Their negatives also hold real copies — pairs with containment ≥ 0.9 judged not equivalent, "
                     "typically the left text quoted inside a longer right text (" + ", ".join(copies)
                     + ") — so their precision understates the precision of copy detection.")
    jac = []
    for name, fig in results.items():
        j = fig["scores"]["jaccard"]
        jac.append(f"{name} precision {_f(j['at_default']['precision'])}, recall {_f(j['at_default']['recall'])} "
                   f"(best F1 at {_f(j['best_f1']['threshold'] if j['best_f1'] else None)})")
    parts.append(f"Jaccard never exceeds containment (|A∪B| ≥ |A|), so Jaccard ≥ {j_default:g} is the stricter cut: "
                 + "; ".join(jac) + ".")
    at_default = [(name, fig["scores"]["containment"]["at_default"]["precision"]) for name, fig in results.items()]
    at_best = [(name, (fig["scores"]["containment"]["best_f1"] or {}).get("precision"))
               for name, fig in results.items()]
    known_default = [v for _, v in at_default if v is not None]
    known_best = [v for _, v in at_best if v is not None]
    closing = ("The defaults favour precision over F1 on purpose: a reported match claims that a licensed post is "
               "in someone's training data, possibly as evidence in a licensing dispute, and a false claim costs more "
               "than a missed copy.")
    if known_default and known_best:
        closing += (f" At containment {c_default:g} precision is at least {_f(min(known_default))} on every set here; "
                    f"at the best-F1 thresholds it falls to as low as {_f(min(known_best))}.")
    if clough:
        share = clough["scores"]["containment"]["share_at_default"]
        below = {k: None if share.get(k) is None else 1 - share[k] for k in ("cut", "light")}
        closing += (f" The price is recall on revised text: on Clough & Stevenson {_pct(below['light'])} of light "
                    f"revisions and {_pct(below['cut'])} of cut answers stay below {c_default:g}.")
    parts.append(closing)
    return " ".join(parts)


def _render(results: dict[str, dict[str, Any]], notes: dict[str, str], params: ScanParams, quick: bool,
            missing: list[str]) -> str:
    n = IndexParams().ngram
    intro = [
        f"Each text becomes its set of distinct word {n}-gram hashes exactly as the scanner builds it "
        "(`normalize`, `TOKEN_RE`, `batch_shingles` with the default seed). Containment C = |A∩B| / |A| is the "
        "left text inside the right one; Jaccard J = |A∩B| / |A∪B|. Pairs where either text has fewer than "
        f"{n} tokens have no shingle and are left out (counted per dataset). Thresholds are inclusive "
        "(`score >= t`); AUC is rank-based with ties counted half; the best-F1 threshold is searched over all "
        "distinct scores (highest on a tie); precision is \"–\" when nothing is called positive. "
        f"`t@P≥{PRECISION_TARGET:g}` is the lowest threshold whose precision reaches {PRECISION_TARGET:g}."]
    if quick:
        intro.append(f"**Quick mode:** at most {QUICK_MAX_PAIRS} pairs per dataset, drawn at random with the "
                     "context's seed — figures are noisy.")
    if missing:
        intro.append("Not found (skipped): " + ", ".join(f"`{m}`" for m in missing) + ".")
    summary = table(["dataset", "score", "pos", "neg", "AUC", "default", "P", "R", "F1", "best-F1 t", "P", "R", "F1",
                     f"t@P≥{PRECISION_TARGET:g}", "R"], _summary_rows(results))
    rule_note = (f"\\* scanner rule: C ≥ {params.min_containment:g}, coverage ≥ {params.min_coverage:g} and at least "
                 f"{params.min_span_tokens} covered tokens, with the whole right text as the region (the scanner "
                 "looks for the best region no longer than the post, so this is an approximation).")
    body = [" ".join(intro), "", "### Summary", "", summary, "", rule_note, "", "### Why the defaults", "",
            why_defaults(results, params), ""]
    for name, fig in results.items():
        body += [_dataset_markdown(name, notes[name], fig), ""]
    return "\n".join(body).rstrip() + "\n"


def run(ctx: Context) -> Section:
    """Load the labeled pair sets, score them, and return the calibration section."""
    t0 = time.perf_counter()
    if not ctx.has_data:
        return Section(TITLE, f"Skipped: the shared data folder `{ctx.data}` was not found.\n",
                       {"skipped": True, "reason": f"no data folder {ctx.data}"})
    params, index_params = ScanParams(), IndexParams()
    results: dict[str, dict[str, Any]] = {}
    notes: dict[str, str] = {}
    missing: list[str] = []
    for i, (name, loader) in enumerate(LOADERS):
        folder = ctx.data / name
        if not folder.is_dir():
            missing.append(name)
            ctx.log(f"calibrate: {folder} not found, skipped")
            continue
        pairs = _subsample(loader(folder), ctx.quick, ctx.seed + i)
        t1 = time.perf_counter()
        results[name] = analyse(pairs, params, index_params)
        notes[name] = pairs.note
        ctx.log(f"calibrate: {name}: {len(pairs):,} pairs in {time.perf_counter() - t1:.2f} s")
    if not results:
        return Section(TITLE, "Skipped: none of " + ", ".join(f"`{n}`" for n, _ in LOADERS)
                       + f" was found under `{ctx.data}`.\n", {"skipped": True, "missing": missing})
    markdown = _render(results, notes, params, ctx.quick, missing)
    data = {"skipped": False, "quick": ctx.quick, "seed": ctx.seed, "ngram": index_params.ngram,
            "defaults": {"min_containment": params.min_containment, "min_coverage": params.min_coverage,
                         "min_span_tokens": params.min_span_tokens, "min_jaccard": params.min_jaccard},
            "thresholds": list(THRESHOLDS), "missing": missing, "datasets": results,
            "seconds": time.perf_counter() - t0}
    return Section(TITLE, markdown, data)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: print the section's Markdown, or write it to ``--out``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help=f"at most {QUICK_MAX_PAIRS} pairs per dataset")
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown here instead of printing it")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    section = run(Context(data=args.data, quick=args.quick))
    emit(section, args.out, t0)


if __name__ == "__main__":
    main()
