"""Consistency checks for the real-data fixtures in fixtures/ (no dependency on
the provenance package).  Regenerate the fixtures with
``python fixtures/make_fixtures.py``."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "fixtures"
DATA = REPO.parent / "shared" / "data"
SCRIPT = FIX / "make_fixtures.py"

OUTPUT_FILES = [
    "posts/airline_tweets.csv",
    "corpus/wikinews.jsonl.gz",
    "corpus/wikipedia.jsonl.gz",
    "planted/corpus.jsonl.gz",
    "planted/truth.csv",
    "planted/negatives.csv",
    "planted/hard_negatives.csv",
]
EDITS = {
    "verbatim", "case", "rt_prefix", "url_noise", "mentions", "html_entities", "emoji",
    "linebreaks", "substitute", "delete", "truncate", "embed", "timeline",
}


def read_csv(rel: str) -> list[dict]:
    with open(FIX / rel, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def read_jsonl_gz(rel: str) -> list[dict]:
    with gzip.open(FIX / rel, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def posts() -> dict[str, dict]:
    return {r["tweet_id"]: r for r in read_csv("posts/airline_tweets.csv")}


@pytest.fixture(scope="module")
def docs() -> dict[str, dict]:
    return {d["id"]: d for d in read_jsonl_gz("planted/corpus.jsonl.gz")}


@pytest.fixture(scope="module")
def truth() -> list[dict]:
    return read_csv("planted/truth.csv")


@pytest.fixture(scope="module")
def hard() -> list[dict]:
    return read_csv("planted/hard_negatives.csv")


def test_record_counts(posts, docs, truth, hard):
    assert len(posts) == 3000
    with open(FIX / "posts/airline_tweets.csv", encoding="utf-8", newline="") as f:
        assert next(csv.reader(f)) == ["tweet_id", "name", "tweet_created", "airline", "text"]
    assert len(read_jsonl_gz("corpus/wikinews.jsonl.gz")) == 300
    assert len(read_jsonl_gz("corpus/wikipedia.jsonl.gz")) == 200
    assert len(docs) == 500
    assert len(truth) == 300
    assert len(hard) == 20
    assert len(read_csv("planted/negatives.csv")) == 200


def test_corpus_documents_long_enough():
    for d in read_jsonl_gz("corpus/wikinews.jsonl.gz"):
        assert list(d) == ["id", "url", "title", "text"] and len(d["text"]) >= 200
    for d in read_jsonl_gz("corpus/wikipedia.jsonl.gz"):
        assert list(d) == ["id", "title", "text"] and len(d["text"]) >= 200


def test_truth_spans_match_corpus_text(docs, truth):
    for r in truth:
        text = docs[r["doc_id"]]["text"]
        assert text[int(r["start"]):int(r["end"])] == r["planted"], r


def test_truth_posts_exist_and_are_planted_once(posts, truth):
    ids = [r["post_id"] for r in truth]
    assert len(set(ids)) == len(ids)
    for r in truth:
        p = posts[r["post_id"]]
        assert len(p["text"].split()) >= 8
        if r["edit"] in ("verbatim", "timeline"):
            assert r["planted"] == p["text"]
        else:
            assert r["planted"] != p["text"]


def test_all_edit_types_present(truth):
    counts: dict[str, int] = {}
    for r in truth:
        counts[r["edit"]] = counts.get(r["edit"], 0) + 1
    assert set(counts) == EDITS
    assert counts["timeline"] % 5 == 0
    assert max(counts.values()) - min(counts.values()) <= 3


def test_hard_negatives(posts, docs, truth, hard):
    planted = {r["post_id"] for r in truth}
    for r in hard:
        assert r["tweet_id"] in posts
        assert r["tweet_id"] not in planted
        text = docs[r["doc_id"]]["text"]
        assert text[int(r["start"]):int(r["end"])] == r["phrase"]
        assert r["phrase"] in posts[r["tweet_id"]]["text"]
        assert r["phrase"] != posts[r["tweet_id"]]["text"]


def test_negatives_are_not_planted(posts, truth, hard):
    planted = {r["post_id"] for r in truth} | {r["tweet_id"] for r in hard}
    for r in read_csv("planted/negatives.csv"):
        assert r["tweet_id"] not in planted
        assert posts[r["tweet_id"]]["text"] == r["text"]


def test_planted_corpus_is_source_plus_insertions(docs, truth, hard):
    """Removing the inserted blocks (and their one-char separator) gives back
    the unchanged source documents."""
    originals = {"wn-" + d["id"]: d["text"] for d in read_jsonl_gz("corpus/wikinews.jsonl.gz")}
    originals |= {"wp-" + d["id"]: d["text"] for d in read_jsonl_gz("corpus/wikipedia.jsonl.gz")}
    assert set(originals) == set(docs)
    spans: dict[str, list[tuple[int, int, str]]] = {}
    for r in truth:
        spans.setdefault(r["doc_id"], []).append((int(r["start"]), int(r["end"]), r["edit"]))
    for r in hard:
        spans.setdefault(r["doc_id"], []).append((int(r["start"]), int(r["end"]), "hard"))
    for doc_id, text in ((k, d["text"]) for k, d in docs.items()):
        blocks: list[list[int]] = []
        for s, e, edit in sorted(spans.get(doc_id, [])):
            # timeline posts of one block are joined by a single "\n"
            if blocks and edit == "timeline" and blocks[-1][2] == "timeline" and s == blocks[-1][1] + 1:
                assert text[s - 1] == "\n"
                blocks[-1][1] = e
            else:
                blocks.append([s, e, edit])
        out, prev = [], 0
        for s, e, _ in blocks:
            assert text[e] in "\n ", (doc_id, s, e)
            out.append(text[prev:s])
            prev = e + 1
        out.append(text[prev:])
        assert "".join(out) == originals[doc_id], doc_id


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data not available")
def test_regeneration_is_byte_identical(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), "--data", str(DATA), "--out", str(tmp_path), "-q"],
                   check=True)
    for rel in OUTPUT_FILES:
        new = hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest()
        old = hashlib.sha256((FIX / rel).read_bytes()).hexdigest()
        assert new == old, rel
