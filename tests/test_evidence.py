"""The evidence bundle and ``provenance verify``: an untouched scan verifies; an altered corpus file,
matches file, summary or index is found and named."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from provenance import api
from provenance.errors import IndexFormatError, ProvenanceError
from provenance.results.evidence import verify
from provenance.params import IndexParams

from conftest import PLANTED, POSTS_CSV, run_cli


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_corpus(d: Path) -> Path:
    """The planted corpus as three local JSONL files."""
    corpus = d / "corpus"
    corpus.mkdir()
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    for k in range(3):
        (corpus / f"part-{k}.jsonl").write_text("".join(lines[k::3]), encoding="utf-8")
    return corpus


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, cli_index):
    """The planted corpus scanned through the CLI."""
    d = tmp_path_factory.mktemp("evidence")
    corpus = make_corpus(d)
    out = d / "out"
    proc = run_cli("scan", cli_index.path, corpus, "-o", out, "-q")
    assert proc.returncode == 0, proc.stderr
    return corpus, out, cli_index.path


@pytest.fixture()
def fresh(tmp_path: Path, api_index):
    """A scan of a corpus of its own, to alter."""
    index, index_dir = api_index
    corpus = make_corpus(tmp_path)
    out = tmp_path / "out"
    api.scan(index, [corpus], out)
    assert verify(out).ok
    return corpus, out, index_dir


def test_evidence_pins_inputs_index_and_results(scanned) -> None:
    corpus, out, index_dir = scanned
    ev = json.loads((out / "evidence.json").read_text())
    assert {Path(u["path"]).name: u["sha256"] for u in ev["inputs"]} == {
        p.name: sha256(p) for p in sorted(corpus.glob("*.jsonl"))}
    assert ev["index"]["manifest_sha256"] == sha256(index_dir / "manifest.json")
    assert ev["index"]["manifest"]["counts"]["posts"] == 3000
    assert ev["results"] == {n: sha256(out / n) for n in ("matches.parquet", "summary.json", "run.json")}
    summary = json.loads((out / "summary.json").read_text())
    assert ev["params"] == summary["params"]["scan"] and ev["tool_version"] == summary["tool_version"]


def test_doc_text_is_the_matched_span(scanned) -> None:
    corpus, out, _ = scanned
    matches = pl.read_parquet(out / "matches.parquet")
    docs = {}
    for p in corpus.glob("*.jsonl"):
        for line in p.read_bytes().split(b"\n"):
            if line.strip():
                r = json.loads(line)
                docs[r["id"]] = r["text"]
    assert matches.height > 250
    for r in matches.iter_rows(named=True):
        assert r["doc_text"] == docs[r["doc_id"]][r["doc_start"] : r["doc_end"]]


def test_an_untouched_scan_verifies(scanned) -> None:
    _, out, _ = scanned
    result = verify(out)
    assert result.ok, result.problems
    assert result.matches > 250 and result.inputs == 3 and result.documents > 200
    proc = run_cli("verify", out)
    assert proc.returncode == 0, proc.stderr
    assert "verified" in proc.stdout and f"{result.matches:,} matches" in proc.stdout


def test_an_altered_corpus_file_is_named(fresh) -> None:
    corpus, out, _ = fresh
    f = corpus / "part-1.jsonl"
    f.write_bytes(f.read_bytes().replace(b"the ", b"thE ", 1))
    result = verify(out)
    assert [p.what for p in result.problems] == ["input"]
    assert f"{f}: content differs from the scan" in result.problems[0].message
    proc = run_cli("verify", out)
    assert proc.returncode == 1 and str(f) in proc.stdout


def test_an_altered_match_is_named(fresh) -> None:
    _, out, _ = fresh
    m = pl.read_parquet(out / "matches.parquet")
    changed = m.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(pl.col("containment") - 0.125)
                             .otherwise(pl.col("containment")).alias("containment"))
    assert not changed.equals(m)
    changed.write_parquet(out / "matches.parquet")
    result = verify(out)
    whats = [p.what for p in result.problems]
    assert whats[0] == "results" and "matches.parquet: changed since the scan" in result.problems[0].message
    row = m.row(7, named=True)
    assert f"{row['source']}:{row['row']}: the match of post {row['post_id']!r}" in "\n".join(
        p.message for p in result.problems)


def test_a_removed_match_is_named(fresh) -> None:
    _, out, _ = fresh
    m = pl.read_parquet(out / "matches.parquet")
    m.filter(pl.int_range(pl.len()) != 3).write_parquet(out / "matches.parquet")
    messages = "\n".join(p.message for p in verify(out).problems)
    row = m.row(3, named=True)
    if m.filter((pl.col("source") == row["source"]) & (pl.col("row") == row["row"])).height > 1:
        assert f"a new scan matches post {row['post_id']!r}" in messages
    assert "matches.parquet: changed since the scan" in messages


def test_another_or_damaged_index_is_named(fresh, tmp_path: Path) -> None:
    _, out, index_dir = fresh
    other = api.build_index([POSTS_CSV], tmp_path / "other", id_field="tweet_id",
                            params=IndexParams(max_key_posts=49))
    result = verify(out, other.path)
    assert [p.what for p in result.problems] == ["index"] and "not the index of the scan" in result.problems[0].message
    damaged = tmp_path / "damaged"
    shutil.copytree(index_dir, damaged)
    f = damaged / "key_lo.npy"
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="key_lo.npy: checksum differs"):
        verify(out, damaged)
    proc = run_cli("verify", out, "--index", damaged)
    assert proc.returncode == 2 and "key_lo.npy: checksum differs" in proc.stderr


def test_no_evidence_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ProvenanceError, match="no evidence.json"):
        verify(tmp_path)
    proc = run_cli("verify", tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
