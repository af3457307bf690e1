"""The archive-cost harness (benchmarks/archive_cost.py) on the fixtures: one row per index size, the
figures it reads from each scan's summary, and the posts a probe finds within the seed bound."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl

from benchmarks import archive_cost
from conftest import PLANTED, POSTS_CSV


def test_archive_cost_rows(tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    pl.read_csv(POSTS_CSV).select(pl.col("tweet_id").cast(pl.String).alias("id"), "text").write_ndjson(posts)
    corpus = tmp_path / "corpus.jsonl"
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f, open(corpus, "w", encoding="utf-8") as g:
        for i, line in zip(range(200), f):
            g.write(json.dumps({"id": f"d{i}", "text": json.loads(line)["text"]}) + "\n")
    rows = archive_cost.measure(posts, corpus, tmp_path / "work", [500], None, 1)
    assert [r["code"] for r in rows] == ["new", "new"] and rows[0]["posts"] == 500 < rows[1]["posts"]
    for r in rows:
        summary = json.loads((tmp_path / "work" / f"scan-new-{'500' if r['posts'] == 500 else 'all'}" / "summary.json").read_text())
        assert r["candidates_per_doc"] == summary["candidates"] / summary["docs_scanned"] > 0
        assert 1 <= r["postings_per_probe"] <= r["most_postings"] <= 50
    assert rows[1]["candidates_per_doc"] > rows[0]["candidates_per_doc"]
    assert "| new | 500 |" in archive_cost.render(rows)


def test_random_sample_draws_from_the_whole_file_the_same_lines_every_run(tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps({"id": str(i), "text": f"post {i}"}) + "\n" for i in range(1000)))
    a, b, head = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "head.jsonl"
    archive_cost._posts_of(posts, 100, "random", a)
    archive_cost._posts_of(posts, 100, "random", b)
    archive_cost._posts_of(posts, 100, "head", head)
    ids = [int(json.loads(line)["id"]) for line in a.read_text().splitlines()]
    assert a.read_bytes() == b.read_bytes() and len(ids) == len(set(ids)) == 100
    assert ids == sorted(ids) and max(ids) > 500  # in file order, from all of it
    assert [int(json.loads(line)["id"]) for line in head.read_text().splitlines()] == list(range(100))
