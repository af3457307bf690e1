"""Tests for provenance.match.candidates: the candidates are the (document, post) pairs where the
document holds one of the post's seeds, and the sorted join finds exactly the hits of the direct
all-shingles join."""

from __future__ import annotations

import gzip
import json

import numpy as np
import polars as pl
import pytest

from conftest import PLANTED, POSTS_CSV
from provenance import api
from provenance.match import matcher as matcher_module
from provenance.match.matcher import PostMatcher
from provenance.match.candidates import pair_hits, seed_candidates
from provenance.params import IndexParams, ScanParams
from provenance.text.shingles import batch_shingles


@pytest.fixture(scope="module")
def planted_texts() -> list[str]:
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def _direct_hits(index, sb, docs, posts):
    """(pair, document shingle position, post position) of every equal shingle: one polars join."""
    offs = index.shingle_offsets
    lengths = (offs[posts + 1] - offs[posts]).astype(np.int64)
    pair_of = np.repeat(np.arange(len(docs)), lengths)
    post_pos = np.arange(len(pair_of)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    doc_len = np.diff(sb.offsets)
    left = pl.DataFrame({"pair": pair_of, "d": docs[pair_of], "h": index.shingle_hashes(posts), "ppos": post_pos})
    right = pl.DataFrame({"d": np.repeat(np.arange(len(doc_len)), doc_len), "h": sb.hashes,
                          "pos": np.arange(len(sb.hashes)) - np.repeat(sb.offsets[:-1], doc_len)})
    return left.join(right, on=["d", "h"], how="inner")


@pytest.mark.parametrize("seed_posts", [1, 8])
def test_pair_hits_equal_the_direct_join(tmp_path, planted_texts: list[str], seed_posts: int) -> None:
    index = api.build_index([POSTS_CSV], tmp_path / "ix", id_field="tweet_id",
                            params=IndexParams(max_key_posts=2, seed_posts=seed_posts))
    scanner = PostMatcher(index, params=ScanParams())
    compared = 0
    for start in range(0, len(planted_texts), 128):
        sb = batch_shingles(planted_texts[start : start + 128], 3, scanner.hasher, lines=True)
        docs, posts = seed_candidates(index, sb)
        hits = pair_hits(index, sb, docs, posts, 0.25)
        j = _direct_hits(index, sb, docs, posts)
        got = set(zip(np.repeat(np.arange(len(docs)), np.diff(hits.offsets)).tolist(), hits.pos.tolist()))
        assert got == set(zip(j["pair"].to_list(), j["pos"].to_list()))
        first = j.group_by("pair").agg(pl.col("ppos").min())
        expect = (index.shingle_offsets[posts + 1] - index.shingle_offsets[posts]).astype(np.int64)
        expect[first["pair"].to_numpy()] = first["ppos"].to_numpy()
        assert np.array_equal(hits.first_post_pos, expect)
        rows = np.repeat(np.arange(len(docs)), np.diff(hits.offsets))
        assert np.array_equal(hits.hashes, sb.hashes[sb.offsets[docs[rows]] + hits.pos])
        ppos = dict(zip(zip(j["pair"].to_list(), j["pos"].to_list()), j["ppos"].to_list()))
        at = np.array([ppos[(r, q)] for r, q in zip(rows.tolist(), hits.pos.tolist())], dtype=np.int64)
        assert np.array_equal(hits.ids, index.shingle_ids[index.shingle_offsets[posts[rows]] + at])
        compared += len(docs)
    assert compared > 500


def test_candidates_are_the_pairs_holding_a_seed(tmp_path, planted_texts: list[str]) -> None:
    """Every (document, post) whose document holds one of the post's seeds, and only those."""
    index = api.build_index([POSTS_CSV], tmp_path / "ix", id_field="tweet_id", params=IndexParams(seed_posts=2))
    seeds = {}
    ends = np.asarray(index.seed_ends).astype(np.int64)
    for j, h in enumerate(np.asarray(index.seed_keys).tolist()):
        seeds[h] = set(np.asarray(index.seed_posts[(ends[j - 1] if j else 0) : ends[j]]).tolist())
    assert max(len(v) for v in seeds.values()) <= index.params.max_key_posts and len(seeds) > 1000
    hasher = index.token_hasher()
    compared = 0
    for start in range(0, len(planted_texts), 100):
        sb = batch_shingles(planted_texts[start : start + 100], 3, hasher, lines=True)
        docs, posts = seed_candidates(index, sb)
        expect = set()
        for d in range(len(sb.offsets) - 1):
            for h in sb.of(d).tolist():
                expect |= {(d, q) for q in seeds.get(h, ())}
        assert list(zip(docs.tolist(), posts.tolist())) == sorted(expect)
        compared += len(expect)
    assert compared > 500


def test_candidates_with_a_large_fan_out_are_verified_in_runs_of_documents_with_the_same_results(api_index, monkeypatch) -> None:
    """A batch whose candidate posts' shingles join to too many rows is verified a run of documents at a
    time, each document's pairs in one run: same matches and counts."""
    index, _ = api_index
    params = ScanParams(batch_size=256)
    whole = api.scan(index, [PLANTED], params=params)
    runs: list[np.ndarray] = []
    original = PostMatcher._containment

    def spy(self, sb, docs, posts):
        runs.append(np.unique(docs))
        return original(self, sb, docs, posts)

    monkeypatch.setattr(PostMatcher, "_containment", spy)
    monkeypatch.setattr(matcher_module, "FAN_OUT_ROWS", 300)
    cut = api.scan(index, [PLANTED], params=params)
    assert len(runs) > 16  # each batch of 256 documents was cut into several runs
    assert max(len(r) for r in runs) < 256 // 4
    assert whole.matches.height > 250
    assert cut.matches.equals(whole.matches)
    assert cut.summary == whole.summary


def test_one_batch_joined_against_several_indexes_gives_each_its_own_hits(tmp_path, planted_texts: list[str]) -> None:
    """The batch's join table is made once and kept with the batch (a scan matches one batch against every
    shard): hits against a second index equal those of a fresh batch, and the table is not pickled with the
    batch (a Dask transfer sends the batch only)."""
    import pickle

    a = api.build_index([POSTS_CSV], tmp_path / "a", id_field="tweet_id", params=IndexParams(max_key_posts=2))
    b = api.build_index([POSTS_CSV], tmp_path / "b", id_field="tweet_id", params=IndexParams(max_key_posts=50, seed_posts=1))
    hasher = PostMatcher(a, params=ScanParams()).hasher
    texts = planted_texts[:200]
    shared = batch_shingles(texts, 3, hasher, lines=True)
    for index in (a, b):
        docs, posts = seed_candidates(index, shared)
        kept = pair_hits(index, shared, docs, posts, 0.25)
        fresh = pair_hits(index, batch_shingles(texts, 3, hasher, lines=True), docs, posts, 0.25)
        assert len(docs) > 50
        for field in ("bound", "offsets", "pos", "hashes", "first_post_pos"):
            assert np.array_equal(getattr(kept, field), getattr(fresh, field)), field
    assert "_join" in shared.__dict__
    copy = pickle.loads(pickle.dumps(shared))
    assert "_join" not in copy.__dict__ and np.array_equal(copy.hashes, shared.hashes)
