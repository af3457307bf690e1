"""Tests of the calibration section (benchmarks/calibrate.py): metrics against hand-computed and brute-force
values, pair scores against Python sets of the project's shingles, and one quick run on the shared data."""

from __future__ import annotations

import json
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from benchmarks import calibrate as cal
from benchmarks.common import Context
from provenance.text.normalize import TOKEN_RE, normalize
from provenance.params import IndexParams
from provenance.text.hashing import shingle_hash

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# ----------------------------------------------------------------------------------------- brute-force references


def brute_auc(scores: list[float], labels: list[bool]) -> float:
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in product(pos, neg))
    return wins / (len(pos) * len(neg))


def brute_point(scores: list[float], labels: list[bool], t: float) -> tuple[int, int, int, int]:
    tp = sum(1 for s, y in zip(scores, labels) if s >= t and y)
    fp = sum(1 for s, y in zip(scores, labels) if s >= t and not y)
    fn = sum(1 for s, y in zip(scores, labels) if s < t and y)
    tn = sum(1 for s, y in zip(scores, labels) if s < t and not y)
    return tp, fp, fn, tn


def shingle_set(text: str, n: int = 3, seed: int = 0) -> set[int]:
    tokens = TOKEN_RE.findall(normalize(text))
    return {shingle_hash(tokens[i : i + n], seed) for i in range(len(tokens) - n + 1)}


def brute_covered(left: str, right: str, n: int = 3) -> int:
    tokens = TOKEN_RE.findall(normalize(left))
    other = shingle_set(right, n)
    covered: set[int] = set()
    for i in range(len(tokens) - n + 1):
        if shingle_hash(tokens[i : i + n]) in other:
            covered.update(range(i, i + n))
    return len(covered)


# ----------------------------------------------------------------------------------------- AUC


def test_auc_perfect_reversed_and_ties() -> None:
    assert cal.roc_auc([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]) == 1.0
    assert cal.roc_auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert cal.roc_auc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == 0.5
    # one positive tied with one of two negatives, above the other: (0.5 + 1) / 2
    assert cal.roc_auc([0.4, 0.4, 0.1], [1, 0, 0]) == pytest.approx(0.75)


def test_auc_undefined_without_both_classes() -> None:
    assert cal.roc_auc([0.1, 0.2], [1, 1]) is None
    assert cal.roc_auc([0.1, 0.2], [0, 0]) is None


def test_auc_matches_brute_force_with_many_ties() -> None:
    rng = np.random.default_rng(7)
    for _ in range(30):
        k = int(rng.integers(2, 40))
        scores = (rng.integers(0, 6, size=k) / 5).tolist()  # few distinct values: many ties
        labels = rng.random(k) < 0.4
        labels[0], labels[1] = True, False
        assert cal.roc_auc(scores, labels) == pytest.approx(brute_auc(scores, labels.tolist()))


# ----------------------------------------------------------------------------------------- PR curve, best F1


def test_pr_curve_hand_example() -> None:
    scores = [0.9, 0.8, 0.6, 0.4, 0.2]
    labels = [1, 0, 1, 1, 0]
    p4, p5, p7, p95 = cal.pr_curve(scores, labels, [0.4, 0.5, 0.7, 0.95])
    # t = 0.4 is inclusive: 0.9, 0.8, 0.6, 0.4 called positive -> tp 3, fp 1
    assert (p4.tp, p4.fp, p4.fn, p4.tn) == (3, 1, 0, 1)
    assert p4.precision == pytest.approx(0.75) and p4.recall == 1.0 and p4.f1 == pytest.approx(6 / 7)
    assert (p5.tp, p5.fp, p5.fn, p5.tn) == (2, 1, 1, 1)
    assert p5.precision == pytest.approx(2 / 3) and p5.recall == pytest.approx(2 / 3) and p5.f1 == pytest.approx(2 / 3)
    assert (p7.tp, p7.fp) == (1, 1)
    assert p7.precision == pytest.approx(0.5) and p7.recall == pytest.approx(1 / 3) and p7.f1 == pytest.approx(0.4)
    assert (p95.tp, p95.fp) == (0, 0) and p95.precision is None and p95.recall == 0.0 and p95.f1 == 0.0


def test_pr_curve_exact_decimal_thresholds_are_inclusive() -> None:
    # 3/10 and 6/20 are the same double as the threshold 0.3 (k/10): both count as >= 0.3
    points = cal.pr_curve([3 / 10, 6 / 20, 0.29], [1, 1, 1], cal.THRESHOLDS)
    assert points[2].threshold == 0.3 and points[2].tp == 2
    assert cal.histogram([3 / 10, 6 / 20, 0.29]) == [0, 0, 1, 2, 0, 0, 0, 0, 0, 0]


def test_pr_curve_and_best_f1_match_brute_force() -> None:
    rng = np.random.default_rng(11)
    for _ in range(30):
        k = int(rng.integers(3, 30))
        scores = (rng.integers(0, 11, size=k) / 10).tolist()
        labels = (rng.random(k) < 0.5).tolist()
        labels[0] = True
        for p in cal.pr_curve(scores, labels, cal.THRESHOLDS):
            assert (p.tp, p.fp, p.fn, p.tn) == brute_point(scores, labels, p.threshold)
        best = cal.best_f1(scores, labels)
        assert best is not None
        f1s = {}
        for t in set(scores):
            tp, fp, fn, _ = brute_point(scores, labels, t)
            f1s[t] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        top = max(f1s.values())
        assert best.f1 == pytest.approx(top)
        assert best.threshold == max(t for t, f in f1s.items() if f == pytest.approx(top))


def test_best_f1_and_precision_threshold_on_hand_example() -> None:
    scores = [0.9, 0.8, 0.6, 0.4, 0.2]
    labels = [1, 0, 1, 1, 0]
    best = cal.best_f1(scores, labels)
    assert best is not None and best.threshold == 0.4 and best.f1 == pytest.approx(6 / 7)
    high = cal.lowest_threshold_for_precision(scores, labels, 0.95)
    assert high is not None and high.threshold == 0.9 and high.recall == pytest.approx(1 / 3)
    assert cal.lowest_threshold_for_precision([0.9, 0.1], [0, 1], 0.95) is None  # precision 0, then 0.5
    assert cal.best_f1([0.3, 0.2], [0, 0]) is None


def test_recall_never_increases_with_threshold() -> None:
    rng = np.random.default_rng(3)
    scores, labels = rng.random(200), rng.random(200) < 0.3
    recalls = [p.recall for p in cal.pr_curve(scores, labels, np.linspace(0, 1, 21))]
    assert all(a >= b for a, b in zip(recalls, recalls[1:]))


# ----------------------------------------------------------------------------------------- distributions


def test_quantiles_and_histogram() -> None:
    q = cal.quantiles([0.0, 0.25, 0.5, 0.75, 1.0])
    assert q["n"] == 5 and q["mean"] == pytest.approx(0.5)
    assert q["p25"] == pytest.approx(0.25) and q["p50"] == pytest.approx(0.5) and q["p90"] == pytest.approx(0.9)
    assert q["zero"] == pytest.approx(0.2) and q["one"] == pytest.approx(0.2)
    assert cal.quantiles([])["mean"] is None
    assert cal.histogram([0.0, 0.05, 0.1, 0.95, 1.0]) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]


# ----------------------------------------------------------------------------------------- pair scores


def test_pair_scores_known_sets() -> None:
    # "a b c d" -> {abc, bcd}; "b c d e" -> {bcd, cde}: |A∩B| 1, C 1/2, J 1/3; tokens b c d covered: 3 of 4
    s = cal.pair_scores(["A b, c d!"], ["b c d e"])
    assert s.left_shingles.tolist() == [2] and s.right_shingles.tolist() == [2] and s.intersection.tolist() == [1]
    assert s.containment[0] == pytest.approx(0.5) and s.jaccard[0] == pytest.approx(1 / 3)
    assert s.covered_tokens.tolist() == [3] and s.coverage[0] == pytest.approx(0.75)
    # repeated shingles count once: A = {x y z, y z x, z x y}, all in B
    s = cal.pair_scores(["x y z x y z"], ["z x y z x y z w"])
    assert s.left_shingles[0] == 3 and s.intersection[0] == 3 and s.containment[0] == 1.0
    assert s.jaccard[0] == pytest.approx(3 / 4) and s.covered_tokens[0] == 6


def test_pair_scores_short_texts_are_invalid() -> None:
    s = cal.pair_scores(["only two", "one two three", "@user http://t.co/x"], ["a b c d", "x", "a b c"])
    assert s.valid.tolist() == [False, False, False]
    assert s.containment.tolist() == [0.0, 0.0, 0.0]


def test_pair_scores_match_python_sets() -> None:
    rng = np.random.default_rng(5)
    vocab = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "Über", "café"]
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(0, 14)))) for _ in range(40)]
    left = [texts[int(i)] for i in rng.integers(0, 40, size=120)]
    right = [texts[int(i)] for i in rng.integers(0, 40, size=120)]
    s = cal.pair_scores(left, right, IndexParams().ngram, IndexParams().seed)
    for i, (a, b) in enumerate(zip(left, right)):
        sa, sb = shingle_set(a), shingle_set(b)
        assert s.valid[i] == bool(sa and sb)
        assert s.left_shingles[i] == len(sa) and s.right_shingles[i] == len(sb)
        assert s.intersection[i] == len(sa & sb)
        assert s.left_tokens[i] == len(TOKEN_RE.findall(normalize(a)))
        assert s.covered_tokens[i] == brute_covered(a, b)
        if s.valid[i]:
            assert s.containment[i] == pytest.approx(len(sa & sb) / len(sa))
            assert s.jaccard[i] == pytest.approx(len(sa & sb) / len(sa | sb))
            assert s.jaccard[i] <= s.containment[i]


# ----------------------------------------------------------------------------------------- the section


def test_run_without_data_is_skipped(tmp_path: Path) -> None:
    section = cal.run(Context(data=tmp_path / "missing", quick=True, work=tmp_path, log=lambda _: None))
    assert section.data["skipped"] is True and "Skipped" in section.markdown


@pytest.mark.skipif(not DATA.is_dir(), reason="shared data folder not present")
def test_run_quick_on_shared_data(tmp_path: Path) -> None:
    section = cal.run(Context(data=DATA, quick=True, work=tmp_path, log=lambda _: None))
    json.dumps(section.data, allow_nan=False)  # JSON-serialisable, no NaN
    md = section.markdown
    assert section.title == cal.TITLE and not section.data["skipped"]
    assert "### Summary" in md and "### Why the defaults" in md and "| t | C precision |" in md
    assert md.count("\n| --- |") >= 1 + 3 * 3 + 1  # summary, 3 tables per dataset, clough's category table
    for name, fig in section.data["datasets"].items():
        assert f"### {name}" in md
        assert fig["pairs_loaded"] <= cal.QUICK_MAX_PAIRS
        excluded = sum(fig["excluded_fewer_than_n_tokens"].values())
        assert fig["pairs_used"] + excluded == fig["pairs_loaded"]
        assert sum(fig["classes"].values()) == fig["pairs_used"]
        n_pos = sum(k for c, k in fig["classes"].items() if fig["positive_rule"][c] is True)
        n_neg = sum(k for c, k in fig["classes"].items() if fig["positive_rule"][c] is False)
        for score in cal.SCORES:
            sf = fig["scores"][score]
            assert 0.0 <= sf["auc"] <= 1.0
            for c, counts in sf["histogram"].items():
                assert sum(counts) == fig["classes"][c] == sf["distribution"][c]["n"]
            recalls = [p["recall"] for p in sf["pr"]]
            assert all(a >= b for a, b in zip(recalls, recalls[1:]))
            for p in sf["pr"] + [sf["at_default"], sf["best_f1"]]:
                assert p["tp"] + p["fn"] == n_pos and p["fp"] + p["tn"] == n_neg
                for key in ("precision", "recall", "f1"):
                    assert p[key] is None or 0.0 <= p[key] <= 1.0
            assert sf["best_f1"]["f1"] >= max(p["f1"] for p in sf["pr"]) - 1e-12
        assert f"{fig['scores']['containment']['at_default']['recall']:.3f}" in md
    twitter = section.data["datasets"].get(cal.TWITTER)
    if twitter:
        assert twitter["pairs_loaded"] == cal.QUICK_MAX_PAIRS
