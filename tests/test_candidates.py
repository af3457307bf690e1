"""Tests for provenance.match.candidates: the scan's shortcut (key occurrences + frequent shingles only)
finds exactly the hits of the direct all-shingles join, and candidate filtering drops no pair that
verification would accept."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from conftest import PLANTED, POSTS_CSV
from provenance import api
from provenance.match import matcher as matcher_module
from provenance.match.matcher import PostMatcher
from provenance.match.candidates import containment_candidates, pair_hits, pair_hits_from_keys
from provenance.params import IndexParams, ScanParams
from provenance.text.shingles import batch_shingles
from provenance.match.verify import CANDIDATE_SHARE


@pytest.fixture(scope="module")
def planted_texts() -> list[str]:
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


@pytest.mark.parametrize("max_key_posts", [2, 50])  # 2: hundreds of frequent shingles
def test_hits_from_keys_equal_the_direct_join(tmp_path, planted_texts: list[str], max_key_posts: int) -> None:
    index = api.build_index([POSTS_CSV], tmp_path / "ix", id_field="tweet_id",
                            params=IndexParams(max_key_posts=max_key_posts))
    scanner = PostMatcher(index, params=ScanParams())
    assert (len(scanner.frequent.values) > 100) == (max_key_posts == 2)
    share = CANDIDATE_SHARE * 0.5
    compared = 0
    for start in range(0, len(planted_texts), 128):
        sb = batch_shingles(planted_texts[start : start + 128], 3, scanner.hasher, lines=True)
        cands = containment_candidates(index, scanner.key_filter, sb, scanner.n_distinct, scanner.n_frequent,
                                       scanner.head_frequent, 0.5, share, 3)
        fast = pair_hits_from_keys(index, scanner.frequent, sb, cands, 0.25)
        direct = pair_hits(index, sb, cands.doc, cands.post, 0.25)
        for name in ("bound", "first_post_pos", "offsets", "pos", "hashes"):
            assert np.array_equal(getattr(fast, name), getattr(direct, name)), name
        compared += len(cands.doc)
    assert compared > 500


def test_candidate_filter_keeps_every_pair_verification_accepts(tmp_path, planted_texts: list[str], monkeypatch) -> None:
    """Scanning with the filter reports exactly what a scan that verifies every sharing pair reports."""
    index = api.build_index([POSTS_CSV], tmp_path / "ix", id_field="tweet_id", params=IndexParams(max_key_posts=3))
    filtered = api.scan_texts(index, planted_texts)
    sizes: list[int] = []

    def unfiltered(index, key_filter, sb, n_distinct, n_frequent, head_frequent, min_share, min_prefix_share, ngram,
                   probe=None, min_hits=None):
        cands = containment_candidates(index, key_filter, sb, n_distinct, n_frequent, head_frequent, 0.0, 0.0, ngram,
                                       probe)
        sizes.append(len(cands.doc))
        return cands

    monkeypatch.setattr(matcher_module, "containment_candidates", unfiltered)
    everything = api.scan_texts(index, planted_texts)
    assert sum(sizes) > 3 * filtered.summary["candidates"]  # the filter does drop most pairs
    assert filtered.matches.height > 250
    assert filtered.matches.equals(everything.matches)


def test_batches_with_a_large_fan_out_are_halved_with_the_same_results(api_index, monkeypatch) -> None:
    """A batch whose key hits expand to too many rows is scanned in halves: same matches and counts."""
    index, _ = api_index
    params = ScanParams(batch_size=256)
    whole = api.scan(index, [PLANTED], params=params)
    sizes: list[int] = []
    original = PostMatcher._matched

    def spy(self, sb, probe):
        sizes.append(len(sb.n_tokens))
        return original(self, sb, probe)

    monkeypatch.setattr(PostMatcher, "_matched", spy)
    monkeypatch.setattr(matcher_module, "FAN_OUT_ROWS", 2_000)
    halved = api.scan(index, [PLANTED], params=params)
    assert min(sizes) < 256 // 4  # batches were halved more than once
    assert whole.matches.height > 250
    assert halved.matches.equals(whole.matches)
    assert halved.summary == whole.summary


@pytest.mark.parametrize("value_bits", [3, 40, 64])  # 64: no room for row numbers, the stable argsort
def test_sort_with_order_is_a_stable_sort(value_bits: int) -> None:
    from provenance.match.candidates import _sort_with_order

    rng = np.random.default_rng(value_bits)
    for n in (0, 1, 5, 10_000):
        values = rng.integers(0, 2**value_bits - 1, n, dtype=np.uint64, endpoint=True)
        ordered, order = _sort_with_order(values, value_bits)
        expect = np.argsort(values, kind="stable")
        assert np.array_equal(order, expect) and np.array_equal(ordered, values[expect])


def _reference_candidates(index, sb, n_distinct, n_frequent, head_frequent, min_share, min_prefix_share, ngram,
                          min_hits=None):
    """The candidates by their definition, one stable argsort over every (document, post, occurrence) row."""
    from provenance.match.candidates import expand_ranges, find_in

    where, key = find_in(index.keys, index.keys_filter, sb.hashes)
    doc = np.searchsorted(sb.offsets, where, side="right") - 1
    _, first = np.unique((doc.astype(np.uint64) << np.uint64(40)) | key.astype(np.uint64), return_index=True)
    first_seen = np.zeros(len(key), dtype=bool)
    first_seen[first] = True
    start, counts = index.key_rows(key)
    rows = expand_ranges(start, counts)
    pair = (np.repeat(doc, counts).astype(np.uint64) << np.uint64(32)) | index.key_posts[rows].astype(np.uint64)
    order = np.argsort(pair, kind="stable")
    pair = pair[order]
    row_pos = np.repeat(where - sb.offsets[doc], counts)[order]
    row_ppos = index.key_pos[rows][order].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    row_pair = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(pair)]))
    hits = np.bincount(row_pair[np.repeat(first_seen, counts)[order]], minlength=len(starts))
    first_pos = np.minimum.reduceat(row_ppos, starts)
    pair = pair[starts]
    post = (pair & np.uint64(0xFFFFFFFF)).astype(np.int64)
    share = np.where((first_pos < ngram) | head_frequent[post], min_prefix_share, min_share)
    reachable = hits + n_frequent[post] >= np.ceil(share * n_distinct[post] - 1e-9)
    if min_hits is not None:
        reachable |= hits + n_frequent[post] >= min_hits(post)
    keep = reachable[row_pair]
    renumber = np.cumsum(reachable) - 1
    return ((pair[reachable] >> np.uint64(32)).astype(np.int64), post[reachable],
            sorted(zip(renumber[row_pair[keep]].tolist(), row_pos[keep].tolist(), row_ppos[keep].tolist())))


@pytest.mark.parametrize("max_key_posts", [2, 50])
def test_candidates_equal_their_definition(tmp_path, planted_texts: list[str], max_key_posts: int) -> None:
    index = api.build_index([POSTS_CSV], tmp_path / "ix", id_field="tweet_id", params=IndexParams(max_key_posts=max_key_posts))
    scanner = PostMatcher(index, params=ScanParams())
    args = (scanner.n_distinct, scanner.n_frequent, scanner.head_frequent)
    compared = 0
    for start in range(0, len(planted_texts), 100):
        sb = batch_shingles(planted_texts[start : start + 100], 3, scanner.hasher, lines=True)
        for shares, min_hits in (((0.5, CANDIDATE_SHARE * 0.5), None), ((0.0, 0.0), None), ((0.9, 0.3), None),
                                 ((0.9, 0.3), scanner._align_hits)):
            cands = containment_candidates(index, scanner.key_filter, sb, *args, *shares, 3, min_hits=min_hits)
            doc, post, rows = _reference_candidates(index, sb, *args, *shares, 3, min_hits)
            assert np.array_equal(cands.doc, doc) and np.array_equal(cands.post, post)
            assert sorted(zip(cands.row_pair.tolist(), cands.row_pos.tolist(), cands.row_ppos.tolist())) == rows
            assert np.array_equal(cands.row_hash, sb.hashes[sb.offsets[cands.doc[cands.row_pair]] + cands.row_pos])
            compared += len(doc)
    assert compared > 1000
