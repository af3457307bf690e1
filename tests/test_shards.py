"""Sharded indexes (``index build --shards N``): a one-shard cut is the index byte for byte; every
scan of a sharded index (containment, Jaccard, keyed, several workers, verify) gives the same
matches and summary as the unsharded index; an append keeps the shard count; a damaged, altered or
misplaced shard is refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import PLANTED, POSTS_CSV, run_cli_here
from provenance import api
from provenance.durable import sealed_json
from provenance.errors import IndexFormatError, ParameterError
from provenance.index import ShardedIndex, arrays_of, open_index, shards_of
from provenance.index.shards import shard_bounds, write_shards
from provenance.match.shared import shared_posts_of
from provenance.params import IndexParams, ScanParams

WITHOUT_INDEX = lambda summary: {k: v for k, v in summary.items() if k != "index"}  # noqa: E731


def _same_scan(a: api.ScanResult, b: api.ScanResult) -> None:
    assert a.matches.height > 0
    assert a.matches.equals(b.matches)
    assert WITHOUT_INDEX(a.summary) == WITHOUT_INDEX(b.summary)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory, api_index) -> ShardedIndex:
    out = tmp_path_factory.mktemp("sharded") / "idx"
    index = api.build_index([POSTS_CSV], out, id_field="tweet_id", meta_fields=["name"], shards=3)
    assert isinstance(index, ShardedIndex)
    return index


@pytest.fixture(scope="module")
def planted_scan(api_index) -> api.ScanResult:
    return api.scan(api_index[0], [PLANTED])


def test_one_shard_is_the_index_byte_for_byte(api_index, tmp_path: Path):
    index, _ = api_index
    out = tmp_path / "cut"
    out.mkdir()
    write_shards(index, out, 1, lambda d, entry: "", 1 << 26)
    for name in arrays_of(index.params):
        assert (out / "shard-0000" / f"{name}.npy").read_bytes() == (index.path / f"{name}.npy").read_bytes(), name
    assert pl.read_parquet(out / "shard-0000" / "posts.parquet").equals(index.posts)


def test_shards_cut_the_posts_in_order(sharded: ShardedIndex, api_index):
    index, _ = api_index
    assert len(sharded.shards) == 3
    assert sharded.n_posts == index.n_posts
    assert np.array_equal(sharded.first, shard_bounds(index.n_posts, 3))
    assert sharded.posts["post_id"].equals(index.posts["post_id"])
    assert np.array_equal(sharded.post_kind, index.post_kind)
    posts = np.array([0, index.n_posts - 1, int(sharded.first[1]), int(sharded.first[2]) - 1, 5])
    assert sharded.post_ids(posts).to_list() == index.post_ids(posts).to_list()
    # every posting of the whole index is in exactly one shard, renumbered
    total = sum(len(s.key_posts) for s in sharded.shards)
    assert total == len(index.key_posts)
    for shard, first in shards_of(sharded):
        assert shard.key_posts.max() < shard.n_posts
        some = np.arange(0, shard.n_posts, 97)
        assert np.array_equal(shard.shingle_hashes(some), index.shingle_hashes(some + first))
        assert set(np.asarray(shard.frequent).tolist()) <= set(np.asarray(index.frequent).tolist())
    m = json.loads((sharded.path / "manifest.json").read_text())
    assert [e["posts"] for e in m["shards"]] == np.diff(sharded.first).tolist()
    assert m["counts"] == index.manifest["counts"]


def test_sharded_scan_equals_unsharded(sharded: ShardedIndex, planted_scan: api.ScanResult, api_index):
    methods = set(planted_scan.matches["method"].to_list())
    assert {"containment", "aligned", "exact_short"} <= methods  # the cases where shards could differ
    _same_scan(planted_scan, api.scan(sharded, [PLANTED]))
    texts = _partial_copies()
    other = api.scan_texts(api_index[0], texts)
    assert (other.matches["method"] == "partial").sum() >= 20
    _same_scan(other, api.scan_texts(sharded, texts))


def _partial_copies() -> list[str]:
    """The first 12 words of long fixture posts quoted inside a sentence."""
    posts = pl.read_csv(POSTS_CSV)["text"].to_list()
    return [f"As one passenger put it, {' '.join(t.split()[:12])} and the airline did not answer."
            for t in posts if len(t.split()) >= 22][:80]


def test_phrases_shared_across_shards_stay_generic(tmp_path: Path):
    # six check-ins share "@ The Museum of Fine Arts, Houston", two to a shard; six accounts posted one
    # text (a short one, matched whole: "shared" counts them over the shards)
    museum = "The Museum of Fine Arts, Houston"
    posts = [f"{w} @ {museum}" for w in ("Sunday", "Art day", "Date night", "With mom", "Field trip", "Finally")]
    posts += ["Thank you so much!"] * 6 + ["Dinner at the Harbor Lights Bistro in Galveston"]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(posts)),
                                      encoding="utf-8")
    keep = IndexParams(min_post_bits=0)  # ("Thank you so much!" is too common to attribute by default: kept here)
    whole = api.build_index([tmp_path / "p.jsonl"], tmp_path / "whole", id_field="id", params=keep)
    sharded = api.build_index([tmp_path / "p.jsonl"], tmp_path / "sharded", id_field="id", shards=3, params=keep)
    filler = "The council met on Tuesday to discuss the budget for the coming year in some detail. "
    docs = [filler + f"The exhibition opens at {museum} next week. " + filler, "Thank you so much!",
            filler + "We had dinner at the Harbor Lights Bistro in Galveston. " + filler]
    raw = ScanParams(calibrated=False)  # (raw bits: calibrated, the lone bistro post is too weak in so small a search)
    expected = api.scan_texts(whole, docs, params=raw)
    m = expected.matches
    assert m.filter(pl.col("post_id").is_in([f"p{i}" for i in range(6)]))["generic"].all()
    assert m.filter(pl.col("method") == "exact_short")["shared_posts"].to_list() == [6] * 6
    assert not m.filter(pl.col("post_id") == "p12")["generic"].any()
    _same_scan(expected, api.scan_texts(sharded, docs, params=raw))


def test_weak_short_posts_match_inline_in_no_shard(tmp_path: Path):
    # Two real TweetEval tweets (emoji/train_text.txt.gz:17114 and emoji/test_text.txt.gz:37304) that
    # start with the same shingle: the second carries enough bits to be matched inside a sentence, the
    # first does not (it matches whole lines only). Cut into two shards, each in a shard of its own.
    posts = ["I love you", "Delayed again at the gate, third time this month",
             "Gate agent was great about the rebooking today", "I love you, Baltimore ️ @ Ottobar"]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(posts)),
                                      encoding="utf-8")
    keep = IndexParams(min_post_bits=0)  # ("I love you" is too common to attribute by default: kept here)
    whole = api.build_index([tmp_path / "p.jsonl"], tmp_path / "whole", id_field="id", params=keep)
    sharded = api.build_index([tmp_path / "p.jsonl"], tmp_path / "sharded", id_field="id", shards=2, params=keep)
    assert whole.posts["head_key"].to_list()[0] == 0 and whole.posts["head_key"].to_list()[3] != 0
    docs = ["The singer told the crowd I love you before she left the stage on Saturday night.",
            "I love you",
            "A fan shouted I love you, Baltimore @ Ottobar as the band came back for an encore."]
    expected = api.scan_texts(whole, docs)
    m = expected.matches.sort("doc_id", "post_id")
    # the weak post only as a whole record; the strong one inside the sentence too
    assert list(zip(m["post_id"], m["placement"])) == [("p0", "unit"), ("p3", "inline")]
    _same_scan(expected, api.scan_texts(sharded, docs))


def test_shared_posts_are_summed_over_shards(sharded: ShardedIndex, api_index):
    index, _ = api_index
    rng = np.random.default_rng(7)
    posts = rng.integers(-1, index.n_posts, 200)
    hashes = index.shingle_hashes(np.maximum(posts, 0))
    lengths = np.diff(index.shingle_offsets.astype(np.int64))[np.maximum(posts, 0)]  # (stored as narrow as they fit)
    offsets = np.r_[0, np.cumsum(lengths)]
    whole = shared_posts_of(index, hashes, offsets, posts)
    assert whole.max() > 1
    assert np.array_equal(shared_posts_of(shards_of(sharded), hashes, offsets, posts), whole)


def test_sharded_jaccard_scan_equals_unsharded(jaccard_index, tmp_path: Path):
    index, _ = jaccard_index
    sharded = api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id", meta_fields=["name"],
                              params=IndexParams(jaccard=True), shards=2)
    posts = pl.read_csv(POSTS_CSV)["text"].to_list()[:300]
    params = ScanParams(mode="jaccard")
    a = api.scan_texts(index, posts, params=params)
    assert a.matches.height >= 250
    _same_scan(a, api.scan_texts(sharded, posts, params=params))


def test_keyed_sharded_scan_equals_keyed_unsharded(tmp_path: Path):
    key = b"k" * 32
    whole = api.build_index([POSTS_CSV], tmp_path / "whole", id_field="tweet_id", key=key)
    sharded = api.build_index([POSTS_CSV], tmp_path / "sharded", id_field="tweet_id", key=key, shards=4)
    reopened = open_index(tmp_path / "sharded", key=key)
    # the alignment's token codes depend on the key and on the post's number in the whole index
    expected = api.scan(whole, [PLANTED])
    assert "aligned" in expected.matches["method"].to_list()
    _same_scan(expected, api.scan(reopened, [PLANTED]))
    expected = api.scan_texts(whole, _partial_copies())
    assert "partial" in expected.matches["method"].to_list()
    _same_scan(expected, api.scan_texts(sharded, _partial_copies()))


def test_sharded_scan_with_workers_and_verify(sharded: ShardedIndex, planted_scan: api.ScanResult, tmp_path: Path):
    result = api.scan(sharded.path, [PLANTED], tmp_path / "out", workers=2, unit_size=1 << 16)
    _same_scan(planted_scan, result)
    proc = run_cli_here("verify", tmp_path / "out", "--index", sharded.path, "--inputs", PLANTED)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_append_keeps_the_shards(tmp_path: Path, api_index):
    index, _ = api_index
    rows = pl.read_csv(POSTS_CSV)
    rows.head(2000).write_csv(tmp_path / "a.csv")
    rows.slice(2000).write_csv(tmp_path / "b.csv")
    api.build_index([tmp_path / "a.csv"], tmp_path / "idx", id_field="tweet_id", meta_fields=["name"], shards=2)
    appended = api.build_index([tmp_path / "b.csv"], tmp_path / "idx", id_field="tweet_id", meta_fields=["name"], append=True)
    # the two shards as they were, and the appended posts as a segment of their own (index/segments.py)
    assert isinstance(appended, ShardedIndex) and [s.n_posts for s in appended.shards] == [1000, 1000, 1000]
    assert [e["dir"] for e in appended.manifest["shards"]] == ["shard-0000", "shard-0001", "segment-0001"]
    assert appended.posts["post_id"].equals(index.posts["post_id"])
    compacted = api.compact_index(tmp_path / "idx")  # the shards of the first segment again
    assert isinstance(compacted, ShardedIndex) and [s.n_posts for s in compacted.shards] == [1500, 1500]
    _same_scan(api.scan(index, [PLANTED]), api.scan(compacted, [PLANTED]))


def test_cli_builds_and_describes_a_sharded_index(tmp_path: Path):
    proc = run_cli_here("index", "build", POSTS_CSV, "-o", tmp_path / "idx", "--id-field", "tweet_id", "--shards", "3", "-q")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["manifest.json", "routes", "shard-0000", "shard-0001",
                                                                     "shard-0002"]
    info = run_cli_here("index", "info", tmp_path / "idx")
    assert info.returncode == 0, info.stderr
    assert "3 shards of 1,000-1,000 posts" in info.stderr
    bad = run_cli_here("index", "build", POSTS_CSV, "-o", tmp_path / "bad", "--id-field", "tweet_id", "--shards", "0", "-q")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--shards" in bad.stderr


def _rewrite(path: Path, change) -> None:
    m = json.loads(path.read_text())
    change(m)
    m.pop("sha256", None)
    path.write_bytes(sealed_json({k: v for k, v in m.items() if k != "seal"}))


@pytest.mark.parametrize("damage, message", [
    ("shard_file", "checksum differs"),
    ("shard_manifest", "checksum differs from the manifest"),
    ("shard_list", "damaged shard list"),
    ("shard_alone", "is shard 1 of the sharded index"),
])
def test_damaged_shards_are_refused(sharded: ShardedIndex, tmp_path: Path, damage: str, message: str):
    import shutil

    idx = tmp_path / "idx"
    shutil.copytree(sharded.path, idx)
    target = idx
    if damage == "shard_file":
        f = idx / "shard-0001" / "key_posts.npy"
        raw = bytearray(f.read_bytes())
        raw[-1] ^= 1
        f.write_bytes(bytes(raw))
    elif damage == "shard_manifest":
        _rewrite(idx / "shard-0002" / "manifest.json", lambda m: m.update(tool_version="0"))
    elif damage == "shard_list":
        _rewrite(idx / "manifest.json", lambda m: m["shards"][1].update(first_post=3))
    else:
        target = idx / "shard-0001"
    with pytest.raises(IndexFormatError, match=message):
        open_index(target)
    proc = run_cli_here("scan", target, PLANTED, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_more_shards_than_posts_is_a_parameter_error(tmp_path: Path):
    (tmp_path / "p.csv").write_text("id,text\n1,one post here to index\n2,and another one to index\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="3 shards for 2 posts"):
        api.build_index([tmp_path / "p.csv"], tmp_path / "idx", shards=3)
    assert not (tmp_path / "idx").exists() and [p.name for p in tmp_path.iterdir()] == ["p.csv"]
