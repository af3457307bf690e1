"""The seed-bits harness (benchmarks/seed_bits.py) on the planted fixtures: the scan's own rule gives the
scan's candidate count, a bar on one-seed hits keeps fewer pairs the higher it is, and the planted copies
and counted pairs it reports are those of the scan."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl

from benchmarks import seed_bits
from conftest import PLANTED, POSTS_CSV, TRUTH_CSV
from provenance import api


def test_seed_bits_rows(tmp_path: Path) -> None:
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f, open(tmp_path / "wikinews.jsonl", "w", encoding="utf-8") as g:
        for line in f:
            doc = json.loads(line)
            g.write(json.dumps({"id": doc["id"], "text": doc["text"]}) + "\n")
    pl.read_csv(TRUTH_CSV, schema_overrides={"post_id": pl.String}).write_csv(tmp_path / "truth.csv")
    index = api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id")
    scan = api.scan(index, [tmp_path / "wikinews.jsonl"], out_dir=tmp_path / "scan-wikinews", id_field="id")
    rows = seed_bits.measure(tmp_path, tmp_path / "idx", [0.0, 4.0, 8.0], corpora=["wikinews"])
    by = {r["rule"]: r for r in rows}
    assert by["R0"]["candidates"] == scan.summary["candidates"] > 0
    assert by["R0"]["candidates"] >= by["R1 +0"]["candidates"] >= by["R1 +4"]["candidates"] >= by["R1 +8"]["candidates"]
    assert by["R1 +0"]["candidates"] > by["R1 +8"]["candidates"]
    counted = scan.matches.filter(~pl.col("generic")).select("doc_id", "post_id").unique().height
    assert by["R0"]["counted"] == counted and by["R0"]["counted_lost"] == 0
    assert 0 < by["R0"]["planted_candidates"] == by["R0"]["planted_seeded"] <= pl.read_csv(TRUTH_CSV).height
    assert by["R1 +8"]["planted_candidates"] <= by["R0"]["planted_candidates"]
    assert "| wikinews | R1 +4 |" in seed_bits.render(rows)
