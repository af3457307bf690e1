"""Token alignment (provenance.match.align): the vectorized banded LCS against a plain DP."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from provenance.match.align import BUCKETS, align_many, allowed_edits, min_shingle_hits
from provenance.text.hashing import token_codes


def band_of(m: int, min_aligned: float) -> int:
    g = np.searchsorted(np.asarray(BUCKETS[1:]), m, side="right")
    longest = BUCKETS[g + 1] - 1 if m < BUCKETS[-1] else m
    return int(allowed_edits(np.array([longest]), min_aligned)[0]) + 2


def banded_lcs(post: list[int], doc: list[int], diagonal: int, b: int) -> int:
    """The longest common subsequence of post and doc that matches post[0] and post[-1], over the
    cells (i, j) with |j - diagonal - i| <= b only (0 when there is none): each matched cell's best
    chain, by brute force over the earlier matched cells."""
    cells = [(i, j) for i in range(len(post)) for j in range(max(0, diagonal + i - b), min(len(doc), diagonal + i + b + 1))
             if post[i] == doc[j]]
    chain: dict[tuple[int, int], int] = {}
    for i, j in cells:  # in row order: every earlier cell of a chain comes first
        before = [chain[c] for c in chain if c[0] < i and c[1] < j]
        if i == 0:
            chain[(i, j)] = 1
        elif before:
            chain[(i, j)] = 1 + max(before)
    return max((v for (i, _), v in chain.items() if i == len(post) - 1), default=0)


def as_arrays(cases):
    """(post, doc, diagonal) cases as align_many's arrays: posts and documents laid end to end."""
    post_codes = np.concatenate([np.asarray(p, dtype=np.uint32) for p, _, _ in cases])
    post_offsets = np.r_[0, np.cumsum([len(p) for p, _, _ in cases])].astype(np.int64)
    docs = [np.asarray(d, dtype=np.uint64) for _, d, _ in cases]
    doc_hashes = np.concatenate(docs) if sum(map(len, docs)) else np.zeros(0, dtype=np.uint64)
    lo = np.r_[0, np.cumsum([len(d) for d in docs])][:-1].astype(np.int64)
    hi = lo + np.array([len(d) for d in docs], dtype=np.int64)
    return post_codes, post_offsets, doc_hashes, lo, hi, np.array([c for _, _, c in cases], dtype=np.int64)


pairs = st.lists(st.tuples(st.lists(st.integers(1, 6), min_size=1, max_size=30),
                           st.lists(st.integers(1, 6), min_size=0, max_size=60),
                           st.integers(-8, 40)), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(pairs, st.sampled_from([0.5, 0.8, 0.9]))
def test_banded_lcs_matches_plain_dp(cases, min_aligned):
    post_codes, post_offsets, doc_hashes, lo, hi, diagonal = as_arrays(cases)
    got = align_many(post_codes, post_offsets, doc_hashes, lo, hi, diagonal, np.zeros(len(cases), dtype=np.int64),
                     None, min_aligned)
    for k, (post, doc, diag) in enumerate(cases):
        b = band_of(len(post), min_aligned)
        ell = banded_lcs(post, doc, diag, b)
        assert got.matched[k] == ell
        if ell:
            first, last = int(got.first[k]), int(got.last[k])
            assert 0 <= first <= last < len(doc)
            assert doc[first] == post[0] and doc[last] == post[-1]
            # the whole alignment lies in first..last
            assert banded_lcs(post, doc[first : last + 1], diag - first, b) == ell
        else:
            assert got.first[k] == -1 and got.last[k] == -1


@settings(max_examples=100, deadline=None)
@given(pairs, st.integers(0, 8))
def test_pairs_that_cannot_reach_the_needed_tokens_are_skipped(cases, need):
    """With ``needed``, a pair keeps its plain-DP alignment whenever that reaches ``needed`` tokens."""
    post_codes, post_offsets, doc_hashes, lo, hi, diagonal = as_arrays(cases)
    args = (post_codes, post_offsets, doc_hashes, lo, hi, diagonal, np.zeros(len(cases), dtype=np.int64), None, 0.8)
    full = align_many(*args)
    pruned = align_many(*args, needed=np.full(len(cases), need, dtype=np.int64))
    reach = full.matched >= need
    for name in ("matched", "first", "last"):
        assert np.array_equal(getattr(pruned, name)[reach], getattr(full, name)[reach])
    assert np.all(pruned.matched[~reach] < need)


def test_one_substituted_word_of_seven_is_six_in_order():
    post = np.array([11, 12, 13, 14, 15, 16, 17], dtype=np.uint32)
    doc = np.array([1, 2, 3, 11, 12, 13, 99, 15, 16, 17, 4, 5], dtype=np.uint64)
    got = align_many(post, np.array([0, 7]), doc, np.array([0]), np.array([len(doc)]), np.array([3]),
                     np.array([0]), None, 0.8)
    assert (got.matched[0], got.first[0], got.last[0]) == (6, 3, 9)


def test_a_copy_must_span_the_whole_post():
    post = np.array([11, 12, 13, 14, 15, 16], dtype=np.uint32)
    doc = np.array([1, 12, 13, 14, 15, 16, 2], dtype=np.uint64)  # the first word missing
    got = align_many(post, np.array([0, 6]), doc, np.array([0]), np.array([len(doc)]), np.array([0]),
                     np.array([0]), None, 0.8)
    assert got.matched[0] == 0 and got.first[0] == -1


def test_allowed_edits_and_shingle_bound():
    m = np.array([6, 7, 9, 10, 20])
    assert allowed_edits(m, 0.8).tolist() == [1, 1, 1, 2, 4]
    # 7 tokens, one substitution in the middle: 2 of the 5 word 3-grams survive
    assert min_shingle_hits(np.array([7]), 3, 0.8)[0] == 2
    assert min_shingle_hits(np.array([6]), 3, 0.8)[0] == 1
    assert min_shingle_hits(m, 3, 1.0).tolist() == (m - 2).tolist()


def test_keyed_codes_depend_on_the_post():
    h = np.array([123456789, 123456789], dtype=np.uint64)
    plain = token_codes(h, np.array([0, 1]), None)
    assert plain[0] == plain[1] == 123456789
    keyed = token_codes(h, np.array([0, 1]), b"k" * 16)
    assert keyed[0] != keyed[1]
    assert token_codes(h[:1], np.array([1]), b"k" * 16)[0] == keyed[1]


def brute_runs(post: list[int], doc: list[int], diagonal: int, band: int) -> int:
    best = 0
    for d in range(-band, band + 1):
        run = 0
        for i, t in enumerate(post):
            j = diagonal + d + i
            run = run + 1 if 0 <= j < len(doc) and doc[j] == t else 0
            best = max(best, run)
    return best


@settings(max_examples=150, deadline=None)
@given(pairs)
def test_longest_runs_match_brute_force(cases):
    from provenance.match.align import longest_runs

    post_codes, post_offsets, doc_hashes, lo, hi, diagonal = as_arrays(cases)
    got = longest_runs(post_codes, post_offsets, doc_hashes, lo, hi, diagonal, np.zeros(len(cases), dtype=np.int64), None)
    for k, (post, doc, diag) in enumerate(cases):
        n = brute_runs(post, doc, diag, 3)
        assert got.length[k] == n
        if n:
            a, f = int(got.post_first[k]), int(got.first[k])
            assert doc[f : f + n] == post[a : a + n]
