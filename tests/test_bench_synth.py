"""The synthetic scale workload (benchmarks/synth.py) and a tiny run of the scale section (benchmarks/scale.py)."""

from __future__ import annotations

import csv
import json
import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from benchmarks import scale, synth
from benchmarks.common import Context

SEED = 7


def _fresh() -> None:
    """Drop the in-process caches so that a second generation really recomputes everything."""
    synth.vocabulary.cache_clear()
    synth._post_chunk.cache_clear()


def _posts(path: Path) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row["id"]: row["text"] for row in csv.DictReader(f)}


def _docs(path: Path) -> dict[str, str]:
    with open(path) as f:
        return {d["id"]: d["text"] for d in map(json.loads, f)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> synth.CorpusInfo:
    path = tmp_path_factory.mktemp("synth") / "corpus.jsonl"
    return synth.write_corpus(path, 300_000, SEED, pool=400, plant_rate=0.2)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, corpus: synth.CorpusInfo) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    synth.write_posts(a, 2_500, SEED)
    _fresh()
    synth.write_posts(b, 2_500, SEED)
    synth.write_posts(c, 2_500, SEED + 1)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    _fresh()
    again = synth.write_corpus(tmp_path / "corpus.jsonl", 300_000, SEED, pool=400, plant_rate=0.2)
    assert Path(again.path).read_bytes() == Path(corpus.path).read_bytes()
    assert Path(again.truth).read_bytes() == Path(corpus.truth).read_bytes()
    other = synth.write_corpus(tmp_path / "other.jsonl", 300_000, SEED + 1, pool=400, plant_rate=0.2)
    assert Path(other.path).read_bytes() != Path(corpus.path).read_bytes()


def test_smaller_sizes_are_prefixes(tmp_path: Path, corpus: synth.CorpusInfo) -> None:
    small, large = tmp_path / "s.csv", tmp_path / "l.csv"
    synth.write_posts(small, 1_234, SEED)
    synth.write_posts(large, synth.POST_CHUNK + 10, SEED)  # crosses a chunk boundary
    assert large.read_bytes().startswith(small.read_bytes())
    assert len(_posts(large)) == synth.POST_CHUNK + 10
    part = synth.write_corpus(tmp_path / "part.jsonl", 100_000, SEED, pool=400, plant_rate=0.2)
    assert part.bytes >= 100_000 and part.docs < corpus.docs
    assert Path(corpus.path).read_bytes().startswith(Path(part.path).read_bytes())


def test_zipf_shape_of_the_generated_text(corpus: synth.CorpusInfo) -> None:
    words = re.findall(r"[a-z]+", Path(corpus.path).read_text().lower())
    counts = Counter(w for w in words if w not in ("id", "text"))
    freq = np.array(sorted(counts.values(), reverse=True), dtype=np.float64)
    assert freq[0] > 50 * np.median(freq)
    ranks = np.arange(1, 201)
    slope = np.polyfit(np.log(ranks), np.log(freq[:200]), 1)[0]
    assert slope == pytest.approx(-synth.ZIPF_S, abs=0.15)
    # the sampler itself, on many draws: the top ranks follow 1 / rank^s
    vocab = synth.vocabulary(SEED)
    draws = np.bincount(vocab.sample(np.random.default_rng(0), 2_000_000), minlength=vocab.size)
    slope = np.polyfit(np.log(np.arange(1, 1001)), np.log(draws[:1000]), 1)[0]
    assert slope == pytest.approx(-synth.ZIPF_S, abs=0.05)
    lengths = np.array([len(w) for w in vocab.words])
    assert len(set(vocab.words)) == vocab.size == synth.VOCAB_SIZE
    assert lengths[:100].mean() < lengths[10_000:].mean()  # frequent words are short


def test_post_and_document_lengths(tmp_path: Path, corpus: synth.CorpusInfo) -> None:
    path = tmp_path / "posts.csv"
    info = synth.write_posts(path, 3_000, SEED)
    posts = _posts(path)
    n_words = np.array([len(t.split(" ")) for t in posts.values()])
    assert len(posts) == 3_000 and info.words == n_words.sum()
    assert n_words.min() >= 5 and n_words.max() <= 45
    assert 10 <= np.median(n_words) <= 18
    assert all(re.fullmatch(r"[A-Z][a-z]*( [a-z]+)*", t) for t in posts.values())
    docs = _docs(Path(corpus.path))
    assert len(docs) == corpus.docs
    doc_words = np.array([len(t.split()) for t in docs.values()])
    assert doc_words.min() >= 200 and doc_words.max() <= 5_000 + 3 * 45
    assert sum(map(len, (Path(corpus.path).read_bytes(),))) == corpus.bytes


def test_planted_posts_occur_verbatim_as_paragraphs(tmp_path: Path, corpus: synth.CorpusInfo) -> None:
    path = tmp_path / "posts.csv"
    synth.write_posts(path, corpus.pool, SEED)
    posts = _posts(path)
    docs = _docs(Path(corpus.path))
    truth = synth.read_truth(corpus.truth)
    assert len(truth) == corpus.planted_pairs > 10
    assert len({d for d, _ in truth}) == corpus.planted_docs
    for doc, post in truth:
        assert posts[post] + "." in docs[doc].split("\n")
    # the planting pool is the first posts, as post_texts returns them
    assert synth.post_texts(SEED, 5) == [posts[synth.post_id(i)].encode() for i in range(5)]


def test_growth_and_exponent_helpers() -> None:
    assert scale._growth(None, 2.0, None, 10) == "-"
    assert scale._growth(1.0, 10.0, 10, 100) == "×10.00 (k 1.00)"
    assert scale._exponent([1, 10, 100], [3, 30, 300]) == pytest.approx(1.0)
    assert scale._exponent([1], [1]) is None
    assert math.isclose(scale._exponent([1e4, 1e6], [1.0, 10.0]) or 0, 0.5)


@pytest.mark.bench  # the scale section end to end, Dask clusters included: `pytest -m bench` (.ci/run)
def test_tiny_scale_run_finds_every_planted_post(tmp_path: Path) -> None:
    sizes = scale.Sizes(build_posts=(300, 600), scan_posts=300, corpus_mib=(0.1, 0.2), fixed_mib=0.1,
                        index_posts=(300, 600), pool=300, plant_rate=0.25)
    section = scale.measure(Context(quick=True, work=tmp_path, seed=SEED, log=lambda _: None), sizes)
    assert section.title == scale.TITLE
    for heading in ("Index build vs index size", "Scan vs corpus size", "Scan vs index size", "Data generation"):
        assert heading in section.markdown
    data = section.data
    assert [b["posts"] for b in data["builds"]] == [300, 600]
    assert all(b["peak_rss"] > 0 and b["index_bytes"] > 0 for b in data["builds"])
    scans = data["scans_by_corpus"] + data["scans_by_index"]
    assert len(scans) == 4
    for s in scans:
        assert s["planted_pairs"] > 0
        assert s["recall"] == 1.0, s  # verbatim planted posts are all found
        assert s["wall_seconds"] > 0 and s["peak_rss"] > 0
    sharded = data["dask_shards"]  # a 4-shard index on a cluster of 2 workers: 2 shards each, same bytes
    assert sharded["identical"] == {"2": True} and sharded["runs"]["2"]["opened"] == [2, 2]
    assert "A sharded index on Dask" in section.markdown
    built = data["dask_build"]  # the same posts built on 2 Dask workers: every file the one-process build's
    assert built["identical"] is True and built["files"] > 4 * 20 and len(built["runs"]["2"]["worker_peak_rss"]) == 2
    assert "A build on Dask" in section.markdown
    json.dumps(data)  # JSON-able for results.json
    svg = Path(data["svg"])
    assert ET.parse(svg).getroot().tag.endswith("svg")
