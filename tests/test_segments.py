"""Appends as segments (provenance/index/segments.py): an append writes new files only, the matches that
count are a rebuild's, ``index compact`` writes the files of one build over all posts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from provenance import api
from provenance.durable import sealed_json
from provenance.errors import IndexFormatError, InputError, ParameterError
from provenance.index import ShardedIndex, open_index, shards_of
from provenance.params import IndexParams

from benchmarks.append import snapshot  # (sha256, mtime and inode of every file)
from conftest import PLANTED, POSTS_CSV, run_cli_here


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("parts")
    df = pl.read_csv(POSTS_CSV, infer_schema=False)
    a, b, c = d / "A.csv", d / "B.csv", d / "C.csv"
    df[:1700].write_csv(a)
    df[1700:2500].write_csv(b)
    df[2500:].write_csv(c)
    return a, b, c


@pytest.fixture(scope="module")
def rebuilt(parts, tmp_path_factory: pytest.TempPathFactory):
    """One build over all the posts (the reference of every comparison)."""
    return api.build_index(list(parts), tmp_path_factory.mktemp("one") / "idx", id_field="tweet_id")


def counted(result: api.ScanResult) -> pl.DataFrame:
    m = result.matches.filter(~pl.col("generic"))
    return m.select("doc_id", "post_id", "doc_start", "doc_end", "method").sort(pl.all())


def data_files(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*"))
            if f.is_file() and f.name != "manifest.json" and not f.name.startswith(".provenance")}


@pytest.mark.parametrize("shards", [1, 2])
def test_an_append_writes_new_files_only(parts, tmp_path: Path, shards: int) -> None:
    a, b, c = parts
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id", shards=shards)
    first_manifest = (idx / "manifest.json").read_bytes()
    for more, segment in ((b, 1), (c, 2)):
        before = snapshot(idx)
        appended = api.build_index([more], idx, id_field="tweet_id", append=True)
        after = snapshot(idx)
        changed = [n for n in before if after.get(n) != before[n]]
        assert changed == ["manifest.json"]  # replaced by a rename: a new file (a new inode)
        assert after["manifest.json"][2] != before["manifest.json"][2]
        new = sorted(set(after) - set(before))
        assert all(n.startswith(f"segment-{segment:04d}/") for n in new if n != "segment-0000.json") and new
        assert isinstance(appended, ShardedIndex) and appended.manifest["segments"] == segment + 1
    assert open_index(idx).n_posts == 3000
    if shards == 1:  # the first segment reads its manifest's copy, byte for byte what manifest.json held
        assert (idx / "segment-0000.json").read_bytes() == first_manifest
    assert not [p for p in tmp_path.iterdir() if p.name != "idx"]  # no temporary directory left


def test_a_reader_keeps_its_snapshot(parts, tmp_path: Path) -> None:
    a, b, _ = parts
    idx = tmp_path / "idx"
    old = api.build_index([a], idx, id_field="tweet_id")
    texts = pl.read_csv(a, infer_schema=False)["text"][:300].to_list()
    expected = api.scan_texts(old, texts).matches
    assert expected.height > 200
    api.build_index([b], idx, id_field="tweet_id", append=True)
    assert api.scan_texts(old, texts).matches.equals(expected)  # the index as it was opened: its files unchanged
    with pytest.raises(IndexFormatError, match="changed after it was opened"):
        api.scan(old, [PLANTED])  # (a scan writing results names the index at its path: scan again)


def test_appended_matches_that_count_equal_a_rebuild(parts, tmp_path: Path, rebuilt) -> None:
    a, b, c = parts
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id")
    api.build_index([b], idx, id_field="tweet_id", append=True)
    appended = api.build_index([c], idx, id_field="tweet_id", append=True)
    assert appended.posts["post_id"].equals(rebuilt.posts["post_id"])
    for name in ("posts", "shingled_posts", "short_posts", "empty_posts", "shingles", "quoted_posts"):
        assert appended.manifest["counts"][name] == rebuilt.manifest["counts"][name], name
    mine, theirs = counted(api.scan(appended, [PLANTED])), counted(api.scan(rebuilt, [PLANTED]))
    assert theirs.height > 200
    assert mine.equals(theirs)


@pytest.mark.parametrize("shards", [1, 2])
def test_compact_writes_the_files_of_one_build(parts, tmp_path: Path, shards: int) -> None:
    a, b, c = parts
    idx, one = tmp_path / "idx", tmp_path / "one"
    api.build_index([a], idx, id_field="tweet_id", meta_fields=["name"], shards=shards)
    api.build_index([b], idx, id_field="tweet_id", meta_fields=["name"], append=True)
    api.build_index([c], idx, id_field="tweet_id", meta_fields=["name"], append=True)
    compacted = api.compact_index(idx)
    reference = api.build_index([a, b, c], one, id_field="tweet_id", meta_fields=["name"], shards=shards)
    assert data_files(idx) == data_files(one) and len(data_files(idx)) >= 24
    mine, theirs = compacted.manifest, reference.manifest
    for k in set(mine) | set(theirs):
        if k not in ("created", "manifest_sha256", "self_sha256", "skipped_last", "shards"):
            assert mine.get(k) == theirs.get(k), k
    assert "segments" not in mine and len(shards_of(compacted)) == shards


def test_compact_by_the_cli(parts, tmp_path: Path) -> None:
    a, b, _ = parts
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id")
    api.build_index([b], idx, id_field="tweet_id", append=True)
    info = run_cli_here("index", "info", idx)
    assert info.returncode == 0 and "segments" in info.stderr and "index compact" in info.stderr
    helped = run_cli_here("index", "compact", "--help")
    assert helped.returncode == 0 and "Merge an index's segments" in helped.stdout
    proc = run_cli_here("index", "compact", idx, "--shards", "2", "-q")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in idx.iterdir() if not p.name.startswith(".")) == ["manifest.json", "routes", "shard-0000",
                                                                                     "shard-0001"]
    assert open_index(idx).n_posts == 2500


def test_duplicate_ids_across_segments(parts, tmp_path: Path) -> None:
    a, b, _ = parts
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id")
    api.build_index([b], idx, id_field="tweet_id", append=True)
    df = pl.read_csv(b, infer_schema=False)
    again = tmp_path / "again.csv"
    pl.concat([pl.read_csv(POSTS_CSV, infer_schema=False)[2500:2510], df[7:8]]).write_csv(again)
    before = snapshot(idx)
    with pytest.raises(InputError) as exc:  # the id of a post of segment 1
        api.build_index([again], idx, id_field="tweet_id", append=True)
    assert str(exc.value) == f"{again}:11: duplicate post id {df['tweet_id'][7]!r} (first at {b}:8)"
    assert snapshot(idx) == before
    skipping = api.build_index([again], idx, id_field="tweet_id", append=True, on_error="skip")
    assert skipping.n_posts == 2510 and skipping.manifest["skipped_last"]["by_kind"] == {"duplicate_id": 1}
    with pytest.raises(InputError, match="no new posts to append"):  # every post left out
        api.build_index([again], idx, id_field="tweet_id", append=True, on_error="skip")
    assert open_index(idx).n_posts == 2510


def test_shards_with_append_is_refused(parts, tmp_path: Path) -> None:
    a, b, _ = parts
    api.build_index([a], tmp_path / "idx", id_field="tweet_id")
    with pytest.raises(ParameterError, match="index compact"):
        api.build_index([b], tmp_path / "idx", id_field="tweet_id", append=True, shards=2)


def test_keyed_segments_hash_as_a_rebuild(parts, tmp_path: Path) -> None:
    a, b, c = parts
    key = b"k" * 32
    idx, one = tmp_path / "idx", tmp_path / "one"
    api.build_index([a], idx, id_field="tweet_id", key=key)
    api.build_index([b], idx, id_field="tweet_id", append=True, key=key)
    appended = api.build_index([c], idx, id_field="tweet_id", append=True, key=key)
    reference = api.build_index([a, b, c], one, id_field="tweet_id", key=key)
    assert appended.fingerprint == reference.fingerprint
    # keyed token codes depend on each post's number over all posts: a segment's are the rebuild's
    codes = np.concatenate([np.asarray(s.token_codes) for s, _ in shards_of(appended)])
    assert np.array_equal(codes, np.asarray(reference.token_codes))
    assert counted(api.scan(appended, [PLANTED], key=key)).equals(counted(api.scan(reference, [PLANTED], key=key)))
    api.compact_index(idx, key=key)
    assert data_files(idx) == data_files(one)


def test_verify_and_resume_across_an_append(parts, tmp_path: Path) -> None:
    a, b, _ = parts
    idx, out = tmp_path / "idx", tmp_path / "out"
    api.build_index([a], idx, id_field="tweet_id")
    api.scan(idx, [PLANTED], out)
    api.build_index([b], idx, id_field="tweet_id", append=True)
    resumed = api.scan(idx, [PLANTED], out, resume=True)  # another index: every unit scanned again
    fresh = api.scan(idx, [PLANTED], tmp_path / "fresh")
    assert resumed.matches.equals(fresh.matches) and resumed.summary["posts_indexed"] == 2500
    proc = run_cli_here("verify", out, "--index", idx, "--inputs", PLANTED)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _rewrite(path: Path, change) -> None:
    m = json.loads(path.read_text())
    change(m)
    path.write_bytes(sealed_json({k: v for k, v in m.items() if k != "seal"}))


@pytest.mark.parametrize("change, message", [
    (lambda m: m["shards"][1].update(dir="segment-0002"), "damaged shard list (entry 1)"),
    (lambda m: m["shards"][1].update(segment=2), "damaged shard list (entry 1)"),
    (lambda m: m["shards"][0].update(manifest="../elsewhere.json"), "damaged shard list (entry 0)"),
    (lambda m: m.update(segments=3), "segments is 3"),
    (lambda m: m.update(segments=True), "segments is True"),
    (lambda m: m["shards"].pop(), "damaged shard list"),
])
def test_an_altered_segment_list_is_refused(parts, tmp_path: Path, change, message: str) -> None:
    a, b, _ = parts
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id")
    api.build_index([b], idx, id_field="tweet_id", append=True)
    _rewrite(idx / "manifest.json", change)
    with pytest.raises(IndexFormatError, match=message.replace("(", r"\(").replace(")", r"\)")) as exc:
        open_index(idx)
    assert "\n" not in str(exc.value)


def test_a_segment_opened_alone_is_refused(parts, tmp_path: Path) -> None:
    a, b, _ = parts
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id")
    api.build_index([b], idx, id_field="tweet_id", append=True)
    with pytest.raises(IndexFormatError, match="is segment 1 of the index"):
        open_index(idx / "segment-0001")


FILLER = "The council met on Tuesday to discuss the budget for the coming year in some detail. "


def _whole_and_appended(tmp_path: Path, posts: list[str]) -> tuple:
    """One index over ``posts`` (ids p0, p1, ...), and one of the first three with the others appended
    (max_key_posts 4: a phrase in five posts is frequent over all of them, in neither segment)."""
    rows = [json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(posts)]
    (tmp_path / "a.jsonl").write_text("".join(rows[:3]), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("".join(rows[3:]), encoding="utf-8")
    params = IndexParams(min_post_bits=0, max_key_posts=4)
    whole = api.build_index([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], tmp_path / "whole", id_field="id", params=params)
    api.build_index([tmp_path / "a.jsonl"], tmp_path / "idx", id_field="id", params=params)
    return whole, api.build_index([tmp_path / "b.jsonl"], tmp_path / "idx", id_field="id", append=True)


def test_a_phrase_shared_across_segments_counts_as_in_a_rebuild(tmp_path: Path) -> None:
    """Six check-ins share a phrase, three a segment: no segment holds it in more than max_key_posts (4)
    posts, the whole index does. The rebuild has no key for it and finds none of them; the segments do,
    and their matches are generic: the phrase's shared-post count is the rebuild's for a frequent
    shingle (max_key_posts + 1), not the 6 summed over the segments. The matches that count are the same."""
    museum = "The Museum of Fine Arts, Houston"
    posts = [f"{w} @ {museum}" for w in ("Sunday", "Art day", "Date night", "With mom", "Field trip", "Finally")]
    posts += ["Dinner at the Harbor Lights Bistro in Galveston"]
    whole, appended = _whole_and_appended(tmp_path, posts)
    docs = [FILLER + f"The exhibition opens at {museum} next week. " + FILLER,
            FILLER + "We had dinner at the Harbor Lights Bistro in Galveston. " + FILLER]
    expected, got = api.scan_texts(whole, docs).matches, api.scan_texts(appended, docs).matches
    phrase = got.filter(pl.col("post_id") != "p6")
    assert phrase.height == 6 and phrase["generic"].all() and phrase["shared_posts"].to_list() == [5] * 6
    assert expected["post_id"].to_list() == ["p6"]
    columns = ["doc_id", "post_id", "doc_start", "doc_end", "shared_posts"]
    assert got.filter(~pl.col("generic")).select(columns).equals(expected.filter(~pl.col("generic")).select(columns))


def test_an_appended_index_on_dask_gives_the_local_results(parts, tmp_path: Path) -> None:
    """Each part, the first segment read through its manifest's copy included, is opened by its Dask owner."""
    distributed = pytest.importorskip("distributed")
    a, b, _ = parts
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id")
    appended = api.build_index([b], idx, id_field="tweet_id", append=True)
    local = api.scan(appended, [PLANTED])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            remote = api.scan(idx, [PLANTED], scheduler=client)
    assert local.matches.height > 200 and remote.matches.equals(local.matches)


def test_what_a_killed_append_left_is_cleared_by_the_next(parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An append killed after moving its segment in, before the new manifest: the index is the old one,
    and the next append replaces the segment no manifest lists."""
    from provenance.index import segments

    a, b, _ = parts
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id")
    before = (idx / "manifest.json").read_bytes()
    real = segments._write_new

    def killed(target: Path, raw: bytes) -> None:
        if target.name == "manifest.json":
            raise KeyboardInterrupt
        real(target, raw)

    monkeypatch.setattr(segments, "_write_new", killed)
    with pytest.raises(KeyboardInterrupt):
        api.build_index([b], idx, id_field="tweet_id", append=True)
    monkeypatch.undo()
    assert (idx / "segment-0001").is_dir() and (idx / "manifest.json").read_bytes() == before
    assert open_index(idx).n_posts == 1700
    appended = api.build_index([b], idx, id_field="tweet_id", append=True)
    assert appended.n_posts == 2500 and open_index(idx).n_posts == 2500


def test_the_texts_holding_a_span_across_segments_count_as_in_a_rebuild(tmp_path: Path) -> None:
    """A long phrase in seven posts, three in the first segment and four in the second (max_key_posts 4):
    frequent over all posts, in neither segment. The match of the post that is only the phrase is common
    in both indexes, its span held by max_key_posts + 1 texts (every shingle frequent over all posts), not
    by the 7 the segments list."""
    phrase = "The Museum of Fine Arts in Houston opens a new wing for modern sculpture this spring"
    posts = [f"{w} @ {phrase}" for w in ("Sunday", "Art day", "Date night", "With mom", "Field trip", "Finally")]
    whole, appended = _whole_and_appended(tmp_path, [*posts, phrase])
    docs = [FILLER + f"News: {phrase}. " + FILLER]
    columns = ["doc_id", "post_id", "doc_start", "doc_end", "span_texts", "generic"]
    expected = api.scan_texts(whole, docs).matches.select(columns)
    got = api.scan_texts(appended, docs).matches.select(columns)
    assert expected["post_id"].to_list() == ["p6"] and expected["span_texts"].to_list() == [5]
    assert got.filter(pl.col("post_id") == "p6").equals(expected)
    assert got["generic"].all() and got["span_texts"].to_list() == [5] * 7
