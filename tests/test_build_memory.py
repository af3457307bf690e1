"""The bounded-memory index build: external sort by hash range, append-only .npy writers, and the
guarantee that the index does not depend on the memory limit."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from provenance import api
from provenance.errors import InputError, ParameterError
from provenance.index import KeyFilter, find_in, open_index
from provenance.index.format import UNATTRIBUTABLE
from provenance.params import IndexParams
from provenance.arrays import stable_argsort
from provenance.index.spill import HashSpill, NpyWriter, parse_size

from conftest import POSTS_CSV, run_cli_here

TINY = 16 << 10  # 16 KiB: the fixture's ~50k postings spill, and range files are split again


def npy_files(d: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(d.glob("*.npy"))}


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("tiny") / "idx"
    return api.build_index([POSTS_CSV], out, id_field="tweet_id", meta_fields=["name"], memory_limit=TINY)


# ------------------------------------------------------------------------------- the whole build


def test_index_does_not_depend_on_memory_limit(tiny_index, api_index) -> None:
    roomy, roomy_dir = api_index
    files = npy_files(tiny_index.path)
    assert files.keys() == npy_files(roomy_dir).keys()
    differing = [name for name, data in npy_files(roomy_dir).items() if files[name] != data]
    assert differing == []
    assert tiny_index.posts.equals(roomy.posts)
    assert tiny_index.manifest["counts"] == roomy.manifest["counts"]
    assert not (tiny_index.path / ".work").exists()  # the spill directory is gone


def test_tiny_limit_really_spills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The equality above is only worth something if the small limit took the external path."""
    splits: list[str] = []
    original = HashSpill._range_file

    def spy(self, stem, shift, limit):
        splits.append(stem)
        return original(self, stem, shift, limit)

    monkeypatch.setattr(HashSpill, "_range_file", spy)
    api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id", memory_limit=TINY)
    assert any(s.startswith("postings-") for s in splits)
    assert any(s.count("-") >= 2 for s in splits)  # some range was split on the next bits


def text_shingles(index) -> np.ndarray:
    """The shingle hashes of the index's posts (the fixture CSV, in order) hashed again from their
    texts, laid out as the index lays them out (shingled posts only)."""
    from provenance.text.shingles import batch_shingles

    posts = pl.read_csv(POSTS_CSV, infer_schema=False)
    assert posts["tweet_id"].to_list() == index.posts["post_id"].to_list()
    sb = batch_shingles(posts["text"].to_list(), index.params.ngram, index.token_hasher())
    shingled = np.asarray(index.post_kind) == 0
    lengths = np.where(shingled, np.diff(sb.offsets), 0)
    assert np.array_equal(lengths, np.diff(index.shingle_offsets))
    return sb.hashes[np.repeat(shingled, np.diff(sb.offsets))]


def reference_postings(index, max_key_posts: int, ngram: int):
    """Keys straight from the definition, over all postings at once (the build's external sort
    must give exactly this)."""
    sh, off = text_shingles(index), np.asarray(index.shingle_offsets)
    n = index.n_posts
    post = np.repeat(np.arange(n), np.diff(off))
    pos = np.arange(len(sh)) - np.repeat(off[:-1], np.diff(off))
    df = pl.DataFrame({"h": sh, "p": post, "pos": pos}).group_by("h", "p").agg(pl.col("pos").min())
    df = df.with_columns(df=pl.len().over("h")).with_columns(freq=pl.col("df") > max_key_posts)
    per_post = df.group_by("p").agg(distinct=pl.len(), frequent=pl.col("freq").sum())
    all_freq = set(per_post.filter((pl.col("distinct") == pl.col("frequent")))["p"].to_list())
    rescued = (df.filter(pl.col("p").is_in(list(all_freq))).sort("p", "df", "h").group_by("p", maintain_order=True)
               .first().select("h", "p"))
    keys = pl.concat([df.filter(~pl.col("freq")).select("h", "p"), rescued]).join(df, on=["h", "p"])
    keys = keys.sort("h", "p")
    head = df.filter(pl.col("freq") & (pl.col("pos") < ngram))["p"].unique().to_list()
    return keys, per_post, np.unique(df.filter(pl.col("freq"))["h"].to_numpy()), set(head), len(all_freq)


@pytest.mark.parametrize("max_key_posts,memory_limit", [(1, TINY), (3, None)])
def test_keys_equal_their_definition(tmp_path: Path, max_key_posts: int, memory_limit: int | None) -> None:
    """With few posts per key, many shingles are frequent and many posts need a rescued key."""
    index = api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id", memory_limit=memory_limit,
                            params=IndexParams(max_key_posts=max_key_posts, min_post_bits=0))  # (every post keyed)
    keys, per_post, frequent, head, n_all = reference_postings(index, max_key_posts, index.params.ngram)
    assert n_all > 0 and index.manifest["counts"]["posts_with_only_frequent_shingles"] == n_all
    assert np.array_equal(index.keys, np.unique(keys["h"].to_numpy()))
    assert np.array_equal(index.key_posts, keys["p"].to_numpy().astype(np.uint32))
    assert np.array_equal(index.key_pos, keys["pos"].to_numpy().astype(np.uint32))
    starts = np.searchsorted(keys["h"].to_numpy(), index.keys)
    assert np.array_equal(index.key_offsets, np.r_[starts, keys.height])
    assert np.array_equal(index.frequent, frequent)
    distinct = np.zeros(index.n_posts, np.int64)
    n_freq = np.zeros(index.n_posts, np.int64)
    distinct[per_post["p"].to_numpy()] = per_post["distinct"].to_numpy()
    n_freq[per_post["p"].to_numpy()] = per_post["frequent"].to_numpy()
    assert np.array_equal(index.post_distinct, distinct)
    assert np.array_equal(index.post_frequent, n_freq)
    assert set(np.flatnonzero(index.post_head_frequent).tolist()) == head
    # Each shingle stored as the position where the post first has it; the hashes rebuilt from the
    # postings and frequent occurrences are the posts' own, streamed in bounded memory too.
    sh, off = text_shingles(index), np.asarray(index.shingle_offsets)
    post = np.repeat(np.arange(index.n_posts), np.diff(off))
    pos = np.arange(len(sh)) - off[post]
    first = pl.DataFrame({"h": sh, "p": post, "pos": pos}).with_columns(first=pl.col("pos").min().over("h", "p"))
    assert np.array_equal(index.shingle_ids, first["first"].to_numpy())
    assert np.array_equal(index.shingle_hashes(np.arange(index.n_posts)), sh)
    streamed = list(index.shingle_sequences(tmp_path, memory_limit or 1 << 30))
    assert [a for a, _, _ in streamed] == [0] + [b for _, b, _ in streamed[:-1]] and streamed[-1][1] == index.n_posts
    assert np.array_equal(np.concatenate([h for _, _, h in streamed]), sh)
    # Every occurrence of a frequent shingle, per post, in order.
    fset = set(frequent.tolist())
    for i in range(0, index.n_posts, 97):
        occ = [(j, h) for j, h in enumerate(sh[off[i] : off[i + 1]].tolist()) if h in fset]
        lo, hi = index.frequent_offsets[i], index.frequent_offsets[i + 1]
        assert list(zip(index.frequent_pos[lo:hi].tolist(), index.frequent_hashes[lo:hi].tolist())) == occ


def test_tables_sorted_as_documented(tmp_path: Path) -> None:
    ix = api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id", memory_limit=TINY,
                         params=IndexParams(jaccard=True))
    bands, _ = ix.bands
    assert ix.lsh_keys.shape == ix.lsh_posts.shape == (bands, ix.n_posts)
    for b in range(bands):
        assert np.all(ix.lsh_keys[b][1:] >= ix.lsh_keys[b][:-1])
        assert sorted(ix.lsh_posts[b].tolist()) == list(range(ix.n_posts))
    short = np.flatnonzero((ix.post_kind == 1) & ((ix.post_flags & UNATTRIBUTABLE) == 0))  # (too common: no key)
    assert len(ix.short_keys) == len(short) > 0
    assert np.all(ix.short_keys[1:] >= ix.short_keys[:-1])
    assert set(ix.short_posts.tolist()) == set(short.tolist())
    exact = ix.posts["exact_key"].to_numpy()
    assert np.array_equal(exact[ix.short_posts], ix.short_keys)
    assert ix.signatures.shape == (ix.n_posts, ix.params.num_perm)


def test_append_with_a_small_limit_equals_one_build(tmp_path: Path, api_index) -> None:
    one, one_dir = api_index
    df = pl.read_csv(POSTS_CSV, infer_schema=False)
    a, b = tmp_path / "A.csv", tmp_path / "B.csv"
    df[:1200].write_csv(a)
    df[1200:].write_csv(b)
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id", meta_fields=["name"], memory_limit=TINY)
    api.build_index([b], idx, id_field="tweet_id", meta_fields=["name"], append=True, memory_limit=TINY)
    appended = api.compact_index(idx, memory_limit=TINY)  # (an append is a segment; compacting merges it)
    same = [n for n, data in npy_files(one_dir).items() if npy_files(idx)[n] == data]
    assert sorted(same) == sorted(npy_files(one_dir))
    assert appended.posts.drop("row", "source").equals(one.posts.drop("row", "source"))


def test_duplicate_ids_found_across_spilled_ranges(tmp_path: Path) -> None:
    df = pl.read_csv(POSTS_CSV, infer_schema=False)
    dup_id = df["tweet_id"][17]
    df = df.with_columns(pl.when(pl.int_range(pl.len()) == 2900).then(pl.lit(dup_id)).otherwise(pl.col("tweet_id"))
                         .alias("tweet_id"))
    posts = tmp_path / "posts.csv"
    df.write_csv(posts)
    with pytest.raises(InputError) as exc:
        api.build_index([posts], tmp_path / "idx", id_field="tweet_id", memory_limit=TINY)
    assert str(exc.value) == f"{posts}:2901: duplicate post id {dup_id!r} (first at {posts}:18)"
    assert not (tmp_path / "idx").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["posts.csv"]  # no temporary directory left behind


def test_memory_limit_on_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "idx"
    proc = run_cli_here("index", "build", POSTS_CSV, "-o", out, "--id-field", "tweet_id", "--memory-limit", "2MiB", "-q")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "manifest.json").read_text())["counts"]["posts"] == 3000
    for bad, said in [("lots", "not a size"), ("100KiB", "at least 1MiB")]:
        proc = run_cli_here("index", "build", POSTS_CSV, "-o", tmp_path / "x", "--memory-limit", bad, "-q")
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --memory-limit") and said in lines[0], proc.stderr


def test_zero_memory_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="must be positive"):
        api.build_index([POSTS_CSV], tmp_path / "idx", memory_limit=0)


# ------------------------------------------------------------------------------- the building blocks


def test_spill_ranges_are_sorted_stable_complete_and_bounded(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    dtype = np.dtype([("h", "<u8"), ("p", "<u4")])
    # Skewed hashes: half share one top byte (forces splits), some repeat exactly (tests stability).
    h = rng.integers(0, 2**63, 20_000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    h[::2] = (h[::2] & np.uint64((1 << 52) - 1)) | np.uint64(0x7A << 56)
    h[1::50] = h[3]
    spill = HashSpill(tmp_path, "t", dtype)
    added = []
    for start in range(0, len(h), 3000):
        recs = np.empty(len(h[start : start + 3000]), dtype)
        recs["h"], recs["p"] = h[start : start + 3000], np.arange(start, start + len(recs))
        spill.add(recs)
        added.append(recs)
        spill.flush()
    limit = 8 << 10
    ranges = list(spill.ranges(limit))
    assert all(r.nbytes <= limit for r in ranges)
    out = np.concatenate(ranges)
    everything = np.concatenate(added)
    expected = everything[np.argsort(everything["h"], kind="stable")]
    assert np.array_equal(out, expected)  # sorted by hash; equal hashes in the order added
    assert list(tmp_path.iterdir()) == []  # every range file consumed


def test_unspilled_spill_is_one_sorted_range(tmp_path: Path) -> None:
    dtype = np.dtype([("h", "<u8"), ("p", "<u4")])
    spill = HashSpill(tmp_path, "t", dtype)
    recs = np.empty(4, dtype)
    recs["h"], recs["p"] = [9, 3, 9, 1], [0, 1, 2, 3]
    spill.add(recs)
    (only,) = list(spill.ranges(1 << 20))
    assert only["h"].tolist() == [1, 3, 9, 9] and only["p"].tolist() == [3, 1, 0, 2]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dtype,row_shape", [(np.uint64, ()), (np.int32, ()), (np.uint32, (7,)), (np.bool_, ())])
def test_npy_writer_equals_np_save(tmp_path: Path, dtype, row_shape) -> None:
    rng = np.random.default_rng(1)
    pieces = [rng.integers(0, 100, (k, *row_shape)).astype(dtype) for k in (0, 5, 1, 300)]
    w = NpyWriter(tmp_path / "a.npy", dtype, row_shape)
    for piece in pieces:
        w.append(piece)
    w.close()
    buf = io.BytesIO()
    np.save(buf, np.concatenate(pieces), allow_pickle=False)
    assert (tmp_path / "a.npy").read_bytes() == buf.getvalue()


def test_npy_writer_reshapes_on_close(tmp_path: Path) -> None:
    w = NpyWriter(tmp_path / "b.npy", np.uint64)
    w.append(np.arange(6, dtype=np.uint64))
    w.close((2, 3))
    assert np.load(tmp_path / "b.npy").tolist() == [[0, 1, 2], [3, 4, 5]]


def test_key_filter_has_no_false_negatives() -> None:
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64)
    f = KeyFilter.of(keys)
    assert f.maybe(keys).all()
    assert KeyFilter.of(keys, bits=24).maybe(keys).all()  # (tested a word of 64 slots at a time)
    grown = KeyFilter.of(keys[:10], bits=16)
    assert not grown.maybe(keys).all()
    grown.add(keys)  # after a test: the next test sees the new keys
    assert grown.maybe(keys).all()
    others = rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64)
    assert f.maybe(others).mean() < 0.2  # ~8 slots per key: most absent hashes are rejected
    empty = KeyFilter.of(np.zeros(0, dtype=np.uint64))
    assert not empty.maybe(others).any()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 1000, 300_000])
def test_stable_argsort_equals_numpys(n: int) -> None:
    rng = np.random.default_rng(n)
    cases = [rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True),
             rng.integers(0, 5, n).astype(np.uint64),  # many ties
             rng.integers(0, 2**64 - 1, max(n // 10, 1), dtype=np.uint64)[rng.integers(0, max(n // 10, 1), n)]]
    low = rng.integers(0, 2**64 - 1, n, dtype=np.uint64) & ~np.uint64(0xFFFF)
    cases.append(low | rng.integers(0, 3, n).astype(np.uint64))  # values that differ only in their low bits
    cases.append(np.arange(n, dtype=np.uint64)[::-1].copy())
    for values in cases:
        assert np.array_equal(stable_argsort(values), np.argsort(values, kind="stable"))
    structured = np.zeros(n, dtype=[("h", "<u8"), ("p", "<u4")])
    structured["h"] = cases[1]
    assert np.array_equal(stable_argsort(structured["h"]), np.argsort(structured["h"], kind="stable"))


@pytest.mark.parametrize("n_keys", [1, 7, 1000, 70_000])
@pytest.mark.parametrize("clustered", [False, True])
def test_find_in_equals_a_binary_search(n_keys: int, clustered: bool) -> None:
    """find_in (filter, then a search within the bucket of top bits) finds exactly the needles that a
    plain binary search over the whole table finds, at the same positions."""
    rng = np.random.default_rng(n_keys)
    keys = rng.integers(0, 2**64 - 1, n_keys, dtype=np.uint64, endpoint=True)
    if clustered:  # most keys share their top bits: a few crowded buckets
        keys[: n_keys * 3 // 4] &= np.uint64(0xFFFFF)
    keys = np.unique(keys)
    needles = np.concatenate([rng.choice(keys, 3 * len(keys)), keys + np.uint64(1), keys - np.uint64(1),
                              rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64, endpoint=True),
                              np.array([0, 2**64 - 1], dtype=np.uint64)])
    rng.shuffle(needles)
    for table_filter in (KeyFilter.of(keys), KeyFilter.of(keys, bits=16), KeyFilter.of(keys, bits=23),
                         KeyFilter(np.full(1 << 13, 255, np.uint8))):
        at, pos = find_in(keys, table_filter, needles)
        expect = np.minimum(np.searchsorted(keys, needles), len(keys) - 1)
        present = np.flatnonzero(keys[expect] == needles)
        assert np.array_equal(at, present) and np.array_equal(pos, expect[present])
        assert at.dtype == np.int64 and pos.dtype == np.int64
    empty = find_in(np.zeros(0, np.uint64), KeyFilter.of(np.zeros(0, np.uint64)), needles)
    assert len(empty[0]) == len(empty[1]) == 0


@pytest.mark.parametrize("text,size", [("512MiB", 512 << 20), ("2G", 2 << 30), ("1.5GB", 1_500_000_000),
                                       ("1000000", 1_000_000), (" 4 gib ", 4 << 30)])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "12 parsecs", "-"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_opened_index_reads_post_ids_lazily(api_index) -> None:
    index, path = api_index
    fresh = open_index(path)
    ids = fresh.post_ids(np.array([5, 2, 5, 2999]))
    expected = pl.read_parquet(path / "posts.parquet")["post_id"]
    assert ids.to_list() == [expected[5], expected[2], expected[5], expected[2999]]
    assert "posts" not in fresh.__dict__  # the table itself was not loaded
