"""Tests for provenance.match.verify (best region, containment, prefix measures, exact Jaccard) and
provenance.match.tally.covered_chars, against brute-force references."""

from __future__ import annotations

import csv
import inspect
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.match.tally import covered_chars
from provenance.text.normalize import TOKEN_RE, normalize
from provenance.text.shingles import TokenHasher, batch_shingles
from provenance.match.verify import best_region, exact_jaccard, verify_pair as _verify_pair

FIX = Path(__file__).resolve().parents[1] / "fixtures"
N = 3
SLACK = 0.25
PROP = settings(max_examples=300, deadline=None, database=None)


def toks(text: str) -> list[str]:
    return TOKEN_RE.findall(normalize(text))


def shingles(tokens: list[str]) -> np.ndarray:
    return batch_shingles([" ".join(tokens)], N, TokenHasher(0), normalized=True).of(0)


def verify_pair(doc: np.ndarray, post: np.ndarray, *, ngram: int, slack: float):
    """``verify_pair`` on a document's and a post's shingle arrays, whichever of its two call forms
    (whole document array, or the positions/values of the document shingles found in the post) the
    module currently has."""
    params = list(inspect.signature(_verify_pair).parameters)
    if params[0] == "positions":
        post_set = set(post.tolist())
        positions = [k for k, h in enumerate(doc.tolist()) if h in post_set]
        values = [int(doc[k]) for k in positions]
        return _verify_pair(positions, values, post.tolist(), ngram, slack)
    return _verify_pair(doc, post, ngram=ngram, slack=slack)


def allowed_width(post_len: int, slack: float = SLACK) -> int:
    """The region width from the docstring: the post's length plus the slack (at least 3)."""
    return post_len - 1 + max(3, int(np.ceil(slack * post_len)))


def brute_matched(doc: np.ndarray, post: np.ndarray, width: int) -> int:
    """Most distinct post shingles inside any window of ``width + 1`` document positions."""
    post_set = set(post.tolist())
    d = doc.tolist()
    best = 0
    for s in range(max(1, len(d))):
        best = max(best, len(set(d[s : s + width + 1]) & post_set))
    return best


@pytest.fixture(scope="module")
def posts() -> list[list[str]]:
    """Real tweets (normalized tokens) with 12+ tokens and no repeated shingle."""
    with open(FIX / "posts" / "airline_tweets.csv", encoding="utf-8", newline="") as f:
        out = []
        for r in csv.DictReader(f):
            tk = toks(r["text"])
            grams = [tuple(tk[i : i + N]) for i in range(len(tk) - N + 1)]
            if len(tk) >= 12 and len(set(grams)) == len(grams):
                out.append(tk)
    return out[:120]


def random_doc(rnd: random.Random, n: int) -> list[str]:
    # Words that never occur in a tweet's normalized tokens (digits and letters mixed).
    return [f"q{rnd.randrange(5000)}z" for _ in range(n)]


# ------------------------------------------------------------------------------------- best_region


def brute_best_region(positions: list[int], values: list[int], width: int) -> tuple[int, int, int]:
    """Most distinct values in a window; ties go to the earliest window end, then the earliest start."""
    best = (0, 0, -1)
    for j in range(len(values)):
        for i in range(j + 1):
            if positions[j] - positions[i] <= width:
                d = len(set(values[i : j + 1]))
                if d > best[0]:
                    best = (d, i, j)
    return best


@PROP
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 5)), max_size=40),
    st.integers(0, 15),
)
def test_best_region_matches_brute_force(steps: list[tuple[int, int]], width: int) -> None:
    positions, p = [], 0
    for gap, _ in steps:
        p += gap  # non-decreasing positions (gap 0 = repeated position)
        positions.append(p)
    values = [v for _, v in steps]
    assert best_region(positions, values, width) == brute_best_region(positions, values, width)


def test_best_region_empty_and_examples() -> None:
    assert best_region([], [], 5) == (0, 0, -1)
    # Two clusters: the later one has more distinct values.
    assert best_region([0, 1, 100, 101, 102], [1, 2, 3, 4, 5], 10) == (3, 2, 4)
    # A tie: the earliest window wins.
    assert best_region([0, 1, 100, 101], [1, 2, 3, 4], 10) == (2, 0, 1)
    # Repeated values do not count twice.
    assert best_region([0, 1, 2, 3], [7, 7, 7, 8], 3) == (2, 0, 3)


# ---------------------------------------------------------------------------------------- verify_pair


def test_verbatim_post_in_long_document(posts: list[list[str]]) -> None:
    rnd = random.Random(11)
    for post in posts[:60]:
        at = rnd.randrange(0, 3000)
        doc = random_doc(rnd, at) + post + random_doc(rnd, rnd.randrange(0, 3000))
        ps, ds = shingles(post), shingles(doc)
        region = verify_pair(ds, ps, ngram=N, slack=SLACK)
        assert region is not None
        assert region.containment == 1.0
        assert region.matched == region.distinct == len(ps)
        # exactly the post's shingles, in document shingle positions
        assert (region.first, region.last) == (at, at + len(ps) - 1)
        assert region.span_tokens(N) == len(post)
        assert region.covered == len(post)
        assert region.post_first == 0
        assert region.prefix_distinct == len(ps) and region.prefix_containment == 1.0


def test_no_shared_shingle_gives_none(posts: list[list[str]]) -> None:
    rnd = random.Random(3)
    assert verify_pair(shingles(random_doc(rnd, 500)), shingles(posts[0]), ngram=N, slack=SLACK) is None
    assert verify_pair(np.zeros(0, np.uint64), shingles(posts[0]), ngram=N, slack=SLACK) is None


@pytest.mark.parametrize("k", [1, 2, 3])
def test_substituted_words_containment_equals_brute_force(posts: list[list[str]], k: int) -> None:
    rnd = random.Random(100 + k)
    for post in posts:
        copy = list(post)
        subs = rnd.sample(range(1, len(post) - 1), k)
        for i in subs:
            copy[i] = f"sub{i}x"
        doc = random_doc(rnd, rnd.randrange(0, 400)) + copy + random_doc(rnd, rnd.randrange(0, 400))
        ps, ds = shingles(post), shingles(doc)
        region = verify_pair(ds, ps, ngram=N, slack=SLACK)
        assert region is not None
        expected = brute_matched(ds, ps, allowed_width(len(ps)))
        assert region.matched == expected
        assert region.containment == expected / len(set(ps.tolist()))
        # Each substituted word kills the (up to) N shingles that contain it, and only those.
        killed = {g for i in subs for g in range(i - N + 1, i + 1) if 0 <= g < len(ps)}
        assert region.matched == len(ps) - len(killed)
        # Covered tokens: only the substituted words are missing (they are inner, non-adjacent or not).
        hit = [i for i, h in enumerate(ps.tolist()) if h in set(ds.tolist())]
        assert region.covered == len({i + d for i in hit for d in range(N)})


def test_two_halves_far_apart_do_not_add_up(posts: list[list[str]]) -> None:
    rnd = random.Random(7)
    for post in posts[:60]:
        half = len(post) // 2
        a, b = post[:half], post[half:]
        ps = shingles(post)
        width = allowed_width(len(ps))
        far = random_doc(rnd, 200) + a + random_doc(rnd, width + 5) + b + random_doc(rnd, 200)
        ds = shingles(far)
        region = verify_pair(ds, ps, ngram=N, slack=SLACK)
        assert region is not None
        best_half = max(len(shingles(a)), len(shingles(b)))
        assert region.matched == best_half == brute_matched(ds, ps, width)
        assert region.containment < 0.75
        assert region.last - region.first <= width
        # The same halves close together (one word between) do add up.
        near = random_doc(rnd, 200) + a + ["gapq1z"] + b + random_doc(rnd, 200)
        region = verify_pair(shingles(near), ps, ngram=N, slack=SLACK)
        assert region is not None and region.matched == len(ps) - (N - 1)


def test_prefix_of_truncated_copy(posts: list[list[str]]) -> None:
    rnd = random.Random(9)
    checked = 0
    for post_tokens in posts[:80]:
        post_text = " ".join(post_tokens)
        cut = int(len(post_text) * rnd.uniform(0.45, 0.8))
        copy = post_text[:cut] + "…"
        m = len(toks(copy))  # the cut word is dropped by normalization
        if m < N + 2:
            continue
        doc_text = " ".join(random_doc(rnd, 300)) + ". " + copy + " " + " ".join(random_doc(rnd, 300))
        ps, ds = shingles(post_tokens), shingles(toks(doc_text))
        region = verify_pair(ds, ps, ngram=N, slack=SLACK)
        assert region is not None
        assert region.matched == m - N + 1
        assert region.prefix_distinct == m - N + 1  # the post's first m tokens hold m - N + 1 shingles
        assert region.prefix_tokens == m
        assert region.prefix_containment == 1.0
        assert region.containment == (m - N + 1) / len(ps) < 1.0
        assert region.post_first == 0
        checked += 1
    assert checked >= 60


def test_prefix_of_truncated_copy_when_the_post_repeats_a_phrase() -> None:
    # The post ends with the phrase it starts with; the copy is cut after its 6th word.
    post = toks("please help me we have been stuck at the gate please help me")
    copy = toks("please help me we have been st…")
    assert copy == post[:6]
    rnd = random.Random(1)
    doc = random_doc(rnd, 50) + copy + random_doc(rnd, 50)
    ps = shingles(post)
    region = verify_pair(shingles(doc), ps, ngram=N, slack=SLACK)
    assert region is not None and region.matched == 4
    # The copy shows the post's first 6 tokens, i.e. its first 4 shingles, all found.
    assert region.prefix_tokens == 6
    assert region.prefix_distinct == 4
    assert region.prefix_containment == 1.0
    # The repeated "please help me" at the end is covered too, but not inside the prefix.
    assert region.covered == 9
    assert region.prefix_covered == 6


@PROP
@given(
    st.lists(st.integers(0, 12), min_size=0, max_size=80),
    st.lists(st.integers(0, 12), min_size=1, max_size=20),
    st.sampled_from([0.0, 0.25, 1.0]),
)
def test_verify_pair_matches_brute_force_on_random_arrays(doc: list[int], post: list[int], slack: float) -> None:
    ds, ps = np.array(doc, dtype=np.uint64), np.array(post, dtype=np.uint64)
    region = verify_pair(ds, ps, ngram=N, slack=slack)
    width = allowed_width(len(ps), slack)
    expected = brute_matched(ds, ps, width)
    if expected == 0:
        assert region is None
        return
    assert region is not None
    assert region.matched == expected
    assert region.distinct == len(set(post))
    assert 0 <= region.first <= region.last < len(doc) and region.last - region.first <= width
    window = set(doc[region.first : region.last + 1]) & set(post)
    assert len(window) == expected
    assert doc[region.first] in window and doc[region.last] in window
    assert 0 <= region.post_first < len(post) and post[region.post_first] in window
    assert region.covered == len({i + d for i, v in enumerate(post) if v in window for d in range(N)})


# -------------------------------------------------------------------------------------- exact_jaccard


@PROP
@given(st.lists(st.integers(0, 30)), st.lists(st.integers(0, 30)), st.integers(0, 2**64 - 64))
def test_exact_jaccard_equals_python_sets(a: list[int], b: list[int], base: int) -> None:
    sa, sb = {base + x for x in a}, {base + x for x in b}
    expected = len(sa & sb) / len(sa | sb) if sa | sb else 1.0
    got = exact_jaccard(np.array([base + x for x in a], dtype=np.uint64), np.array([base + x for x in b], dtype=np.uint64))
    assert got == expected


def test_exact_jaccard_examples() -> None:
    e = np.zeros(0, np.uint64)
    assert exact_jaccard(e, e) == 1.0
    assert exact_jaccard(e, np.array([1], np.uint64)) == 0.0
    assert exact_jaccard(np.array([1, 1, 2], np.uint64), np.array([2, 3], np.uint64)) == pytest.approx(1 / 3)


# ------------------------------------------------------------------------------------ covered_chars


@PROP
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 60)), max_size=30))
def test_covered_chars_equals_brute_force_union(spans: list[tuple[int, int]]) -> None:
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    ends = np.array([s + n for s, n in spans], dtype=np.int64)
    covered = np.zeros(400, dtype=bool)
    for s, e in zip(starts, ends):
        covered[s:e] = True
    assert covered_chars(starts, ends) == int(covered.sum())


def test_covered_chars_examples() -> None:
    a = lambda *x: np.array(x, dtype=np.int64)  # noqa: E731
    assert covered_chars(a(), a()) == 0
    assert covered_chars(a(0, 5), a(10, 8)) == 10  # nested
    assert covered_chars(a(0, 10), a(10, 20)) == 20  # touching
    assert covered_chars(a(20, 0), a(30, 5)) == 15  # unsorted
    assert covered_chars(a(3, 3), a(3, 3)) == 0  # empty spans


def test_judge_prefix_needs_a_long_enough_compact_prefix() -> None:
    """A cut-off copy is judged on the post's prefix only when that prefix has min_span_tokens tokens
    and the document region is about as compact as the prefix (the planted-benchmark false pairs)."""
    from provenance.params import ScanParams
    from provenance.match.verify import Region, judge

    p = ScanParams()  # min_span_tokens 6, slack 0.25
    post_tokens = 20  # 18 shingles; only the prefix is found
    # prefix of 8 tokens (6 shingles) found as 6 consecutive document shingles: accepted
    ok = Region(first=100, last=105, matched=6, distinct=18, covered=8, post_first=0, prefix_distinct=6,
                prefix_tokens=8, prefix_covered=8)
    verdict = judge(ok, post_tokens, N, p)
    assert verdict is not None and verdict.method == "containment_prefix" and verdict.containment == 1.0
    # the same prefix spread over a region twice as wide: rejected
    wide = Region(100, 113, 6, 18, 8, 0, 6, 8, 8)
    assert wide.span_tokens(N) >= p.min_span_tokens and judge(wide, post_tokens, N, p) is None
    # a 4-token prefix (2 shingles) in a region of 8 tokens: too short a prefix, rejected
    short = Region(100, 105, 2, 18, 4, 0, 2, 4, 4)
    assert short.span_tokens(N) >= p.min_span_tokens and judge(short, post_tokens, N, p) is None


# ------------------------------------------------------------------- many pairs at once (numpy path)


def _many(cases: list[tuple[list[int], list[int]]], slack: float):
    """verify_many over ``(doc, post)`` cases that share at least one value, and the one-by-one regions."""
    from provenance.match.verify import verify_many

    hit_pos, hit_val, post_val, hit_off, post_off, distinct, refs = [], [], [], [0], [0], [], []
    for doc, post in cases:
        positions = [k for k, h in enumerate(doc) if h in set(post)]
        hit_pos += positions
        hit_val += [doc[k] for k in positions]
        post_val += post
        hit_off.append(len(hit_pos))
        post_off.append(len(post_val))
        distinct.append(len(set(post)))
        refs.append(_verify_pair(positions, [doc[k] for k in positions], post, N, slack))
    got = verify_many(np.array(hit_off), np.array(hit_pos, dtype=np.int64), np.array(hit_val, dtype=np.uint64),
                      np.array(post_off), np.array(post_val, dtype=np.uint64), np.array(distinct), N, slack)
    return got, refs


@PROP
@given(
    st.lists(st.tuples(st.lists(st.integers(0, 15), min_size=1, max_size=60),
                       st.lists(st.integers(0, 15), min_size=1, max_size=20)), min_size=1, max_size=8),
    st.sampled_from([0.0, 0.25, 1.0]),
)
def test_verify_many_equals_verify_pair(cases: list[tuple[list[int], list[int]]], slack: float) -> None:
    cases = [(d, p) for d, p in cases if set(d) & set(p)]
    if not cases:
        return
    got, refs = _many(cases, slack)
    assert [got.region(i) for i in range(len(cases))] == refs


def test_verify_many_makes_no_call_per_pair() -> None:
    rng = random.Random(5)
    cases = []
    for _ in range(200):
        post = rng.sample(range(1000), rng.randint(3, 30))
        doc = rng.sample(range(1000, 3000), 50)
        at = rng.randint(0, 50)
        doc[at:at] = [v for v in post if rng.random() < 0.8] or post[:1]
        if rng.random() < 0.3:  # a post value repeated in the document near the copy
            doc.insert(min(at + 3, len(doc)), post[0])
        cases.append((doc, post))
    from provenance.match import verify as verify_module

    calls = []
    original = verify_module.verify_pair
    verify_module.verify_pair = lambda *a: calls.append(a) or original(*a)
    try:
        got, refs = _many(cases, SLACK)
    finally:
        verify_module.verify_pair = original
    assert not calls
    assert [got.region(i) for i in range(len(cases))] == refs


@PROP
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 12), st.integers(1, 30), st.integers(0, 30),
                          st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(1, 40)),
                min_size=1, max_size=30))
def test_judge_many_equals_judge(rows) -> None:
    from provenance.params import ScanParams
    from provenance.match.verify import METHOD_CONTAINMENT, METHOD_NONE, Region, Regions, judge, judge_many

    regions = []
    for first, extent, distinct, matched, covered, post_first, prefix_distinct, post_tokens in rows:
        prefix_tokens = N + min(post_first + prefix_distinct, 40)
        regions.append((Region(first, first + extent, min(matched, distinct), distinct, covered, post_first,
                               prefix_distinct, prefix_tokens, min(covered, prefix_tokens)), post_tokens))
    arrays = Regions(*(np.array([getattr(r, f) for r, _ in regions], dtype=np.int64) for f in Region.__dataclass_fields__))
    for params in (ScanParams(), ScanParams(min_containment=0.3, min_coverage=0.5, min_span_tokens=4)):
        v = judge_many(arrays, np.array([t for _, t in regions]), N, params)
        for i, (region, tokens) in enumerate(regions):
            ref = judge(region, tokens, N, params)
            if ref is None:
                assert v.method[i] == METHOD_NONE
            else:
                assert v.method[i] == (METHOD_CONTAINMENT if ref.method == "containment" else 2)
                assert (v.containment[i], v.coverage[i], v.distinct[i]) == (ref.containment, ref.coverage, ref.distinct)
