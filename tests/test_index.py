"""The index and the scan through the Python API: round trip, append, damage detection, short posts,
frequent shingles, jaccard mode, batch-size independence."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance import api
from provenance.durable import sealed_json
from provenance.errors import IndexFormatError, InputError, ParameterError, ProvenanceError
from provenance.index import FORMAT_VERSION, Index, open_index
from provenance.text.normalize import NORMALIZATION, normalize
from provenance.params import IndexParams, ScanParams
from provenance.text.shingles import TokenHasher, batch_shingles

from conftest import FIX, PLANTED, POSTS_CSV, run_cli_here

ARRAYS = ("shingles", "shingle_offsets", "key_counts", "key_hi", "key_lo", "key_offsets", "key_posts", "signatures", "lsh_keys", "lsh_posts")
FILLER = ("The city council approved a new budget for road repairs on Monday evening. "
          "Residents raised concerns about parking near the central library. ")


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def sorted_matches(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(["source", "row", "doc_start", "post_id", "method"])


@pytest.fixture(scope="module")
def planted_scan(api_index) -> api.ScanResult:
    """The planted corpus scanned with the in-memory index returned by build_index."""
    index, _ = api_index
    return api.scan(index, [PLANTED])


@pytest.fixture(scope="module")
def post_texts() -> dict[str, str]:
    with open(POSTS_CSV, encoding="utf-8", newline="") as f:
        return {r["tweet_id"]: r["text"] for r in csv.DictReader(f)}


# ------------------------------------------------------------------------------------------ round trip


def test_round_trip(jaccard_index) -> None:
    built, path = jaccard_index
    opened = open_index(path)
    assert opened.path == path
    assert opened.params == built.params == IndexParams(jaccard=True)
    assert opened.posts.equals(built.posts)
    assert opened.n_posts == 3000
    assert opened.posts["post_id"].n_unique() == 3000
    assert "meta_name" in opened.posts.columns
    for name in ARRAYS:
        a, b = getattr(built, name), getattr(opened, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b), name
    again = open_index(path)
    sha = hashlib.sha256((path / "manifest.json").read_bytes()).hexdigest()
    assert opened.checksum == again.checksum == built.checksum == sha
    assert opened.manifest["counts"] == built.manifest["counts"]


def test_opened_index_scans_like_the_built_one(api_index, planted_scan: api.ScanResult) -> None:
    _, path = api_index
    from_disk = api.scan(open_index(path), [PLANTED])
    assert planted_scan.matches.height > 250
    assert from_disk.matches.equals(planted_scan.matches)
    assert from_disk.summary == planted_scan.summary
    by_path = api.scan(path, [PLANTED])  # an index given by its directory is opened the same way
    assert by_path.matches.equals(planted_scan.matches)


# ------------------------------------------------------------------------------------------ append


@pytest.fixture(scope="module")
def split_posts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pl.DataFrame]:
    d = tmp_path_factory.mktemp("split")
    df = pl.read_csv(POSTS_CSV, infer_schema=False)
    assert df.height == 3000
    a, b = d / "A.csv", d / "B.csv"
    df[:1700].write_csv(a)
    df[1700:].write_csv(b)
    return a, b, df


def test_append_equals_one_build(split_posts, tmp_path: Path, planted_scan: api.ScanResult) -> None:
    a, b, _ = split_posts
    appended_dir = tmp_path / "appended"
    first = api.build_index([a], appended_dir, id_field="tweet_id")
    assert first.n_posts == 1700
    appended = api.build_index([b], appended_dir, id_field="tweet_id", append=True)
    assert appended.n_posts == 3000
    one = api.build_index([a, b], tmp_path / "one", id_field="tweet_id")
    counts = dict(appended.manifest["counts"])  # (keys, seeds and frequent shingles are decided per segment)
    per_segment = ("keys", "seeds", "frequent_shingles", "posts_with_only_frequent_shingles")
    assert {k: v for k, v in counts.items() if k not in per_segment} \
        == {k: v for k, v in one.manifest["counts"].items() if k not in per_segment}
    reopened = open_index(appended_dir)
    assert reopened.posts.drop("row").equals(one.posts.drop("row"))
    m_appended = sorted_matches(api.scan(reopened, [PLANTED]).matches)
    m_one = sorted_matches(api.scan(one, [PLANTED]).matches)
    assert m_appended.height > 250
    assert m_appended.equals(m_one)
    # ... and the same as the index of the original, unsplit CSV file.
    assert m_appended.equals(sorted_matches(planted_scan.matches))
    assert api.compact_index(appended_dir).manifest["counts"] == one.manifest["counts"]


def test_append_to_a_jaccard_index_keeps_its_sketches(split_posts, tmp_path: Path, jaccard_index) -> None:
    """Appending keeps the index's parameters, --jaccard included: the signatures and bands of the
    union are those of one build over all the posts."""
    a, b, _ = split_posts
    api.build_index([a], tmp_path / "idx", id_field="tweet_id", params=IndexParams(jaccard=True))
    appended = api.build_index([b], tmp_path / "idx", id_field="tweet_id", append=True)
    assert appended.params.jaccard
    one, _ = jaccard_index
    signatures = np.concatenate([np.asarray(s.signatures) for s in appended.shards])  # (a segment has its own)
    assert np.array_equal(signatures, one.signatures)
    compacted = api.compact_index(tmp_path / "idx")
    for name in ("signatures", "lsh_keys", "lsh_posts"):
        assert np.array_equal(getattr(compacted, name), getattr(one, name)), name


def test_append_duplicate_id_names_both_places(split_posts, tmp_path: Path) -> None:
    a, b, df = split_posts
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id")
    manifest_before = (idx / "manifest.json").read_bytes()
    b_dup = tmp_path / "B_dup.csv"
    pl.concat([df[1700:], df[4:5]]).write_csv(b_dup)  # row 1301 of B_dup repeats row 5 of A
    dup_id = df["tweet_id"][4]
    with pytest.raises(InputError) as exc:
        api.build_index([b_dup], idx, id_field="tweet_id", append=True)
    message = str(exc.value)
    assert "\n" not in message
    assert f"{b_dup}:1301" in message and f"{a}:5" in message and dup_id in message
    assert (idx / "manifest.json").read_bytes() == manifest_before  # the index on disk is unchanged
    assert open_index(idx).n_posts == 1700


# ------------------------------------------------------------------------------------------ damage


def _delete(d: Path) -> str:
    (d / "shingle_ids.npy").unlink()
    return "shingle_ids.npy"


def _truncate(d: Path) -> str:
    f = d / "token_codes.npy"
    f.write_bytes(f.read_bytes()[:-100])
    return "token_codes.npy"


def _flip_posts_byte(d: Path) -> str:
    f = d / "posts.parquet"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    return "posts.parquet"


def _manifest_not_json(d: Path) -> str:
    (d / "manifest.json").write_text('{"format": "provenance-index", "format_version": 1,', encoding="utf-8")
    return "manifest.json"


def _unknown_parameter(d: Path) -> str:
    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    m["params"]["window"] = 7
    (d / "manifest.json").write_text(json.dumps(m, indent=2), encoding="utf-8")
    return "manifest.json"


@pytest.mark.parametrize("damage", [_delete, _truncate, _flip_posts_byte, _manifest_not_json, _unknown_parameter],
                         ids=["deleted-file", "truncated-file", "posts-byte-changed", "manifest-not-json",
                              "unknown-parameter"])
def test_damage_is_detected(damage, api_index, tmp_path: Path) -> None:
    _, path = api_index
    d = tmp_path / "damaged"
    shutil.copytree(path, d)
    open_index(d)  # the copy itself is fine
    name = damage(d)
    with pytest.raises(IndexFormatError) as exc:
        open_index(d)
    message = str(exc.value)
    assert "\n" not in message
    assert str(d / name) in message
    with pytest.raises(IndexFormatError):
        api.scan(d, [PLANTED])


@pytest.mark.parametrize("recorded", [None, "provenance-normalize/1"], ids=["none-recorded", "other-name"])
def test_index_of_another_normalization_is_refused(recorded, api_index, tmp_path: Path) -> None:
    """Posts normalized otherwise than documents would be missed without an error: an index built
    before the normalization changed (no name recorded) or under another name does not open."""
    _, path = api_index
    d = tmp_path / "older"
    shutil.copytree(path, d)
    m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    assert m["normalization"] == NORMALIZATION
    if recorded is None:
        del m["normalization"]
    else:
        m["normalization"] = recorded
    (d / "manifest.json").write_bytes(sealed_json(m))  # a consistent manifest of an older build
    with pytest.raises(IndexFormatError, match=f"{re.escape(str(d))}: index built with .*normalization.*rebuild the index"):
        open_index(d)


# ------------------------------------------------------------------------------------------ short posts


SHORT = "Flight delayed again!"
SPECIFIC = "Zootopia marathon with Grandma Lupita"  # short, but far from a stock phrase (90 bits)
LONG = "The pilot told us the storm over Denver would keep every plane on the ground for hours tonight"


@pytest.fixture(scope="module")
def short_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    d = tmp_path_factory.mktemp("short")
    posts = write_jsonl(d / "posts.jsonl", [{"id": "s1", "text": SHORT}, {"id": "l1", "text": LONG},
                                            {"id": "s2", "text": SPECIFIC}])
    index = api.build_index([posts], d / "idx")
    kinds = dict(index.posts.select("post_id", "kind").iter_rows())
    assert kinds == {"s1": "short", "l1": "shingled", "s2": "short"}
    return index


def test_short_post_as_whole_record(short_index: Index) -> None:
    texts = ["flight, DELAYED again?!", "Flight delayed again and again", SHORT]
    m = api.scan_texts(short_index, texts).matches
    assert m.select("doc_id", "post_id", "method").rows() == [("1", "s1", "exact_short"), ("3", "s1", "exact_short")]
    first = m.row(0, named=True)
    assert texts[0][first["doc_start"]:first["doc_end"]] == "flight, DELAYED again"
    assert first["jaccard"] == 1.0


def test_short_post_on_its_own_line(short_index: Index) -> None:
    text = FILLER * 3 + "\nFlight delayed AGAIN\n" + FILLER * 2
    m = api.scan_texts(short_index, [text]).matches
    assert m.select("post_id", "method").rows() == [("s1", "exact_short")]
    r = m.row(0, named=True)
    assert text[r["doc_start"]:r["doc_end"]] == "Flight delayed AGAIN"


def test_short_post_over_consecutive_whole_lines(short_index: Index) -> None:
    """A short post with a line break matches the run of whole lines holding it; not when another line
    comes between its parts, nor when a part shares its line with other text."""
    texts = [FILLER + "\nFlight\n\nDelayed again\n" + FILLER,
             FILLER + "\nFlight\nNothing to see here\nDelayed again\n" + FILLER,
             FILLER + " Flight\nDelayed again\n" + FILLER]
    m = api.scan_texts(short_index, texts).matches
    assert m.select("doc_id", "post_id", "method").rows() == [("1", "s1", "exact_short")]
    r = m.row(0, named=True)
    assert texts[0][r["doc_start"]:r["doc_end"]] == "Flight\n\nDelayed again"


def test_a_common_short_post_inside_a_sentence_does_not_match(short_index: Index) -> None:
    from provenance.text.background import default_background, span_bits

    assert span_bits(default_background(), [SHORT])[0] < short_index.params.inline_short_bits
    texts = [FILLER + "Passengers said the flight delayed again was the third this week. " + FILLER,
             FILLER * 2 + "\nWe heard the flight delayed again, sadly\n" + FILLER]
    m = api.scan_texts(short_index, texts).matches
    assert m.height == 0, m


def test_a_specific_short_post_inside_a_sentence_matches(short_index: Index) -> None:
    text = FILLER + "She wrote that a zootopia marathon with grandma Lupita was the plan. " + FILLER
    m = api.scan_texts(short_index, [text], params=ScanParams(calibrated=False)).matches  # (raw bits: calibrated, so short a span is too weak in so small a search)
    assert m.select("post_id", "method").rows() == [("s2", "exact_short")]
    r = m.row(0, named=True)
    assert text[r["doc_start"]:r["doc_end"]] == "zootopia marathon with grandma Lupita"
    assert r["jaccard"] is None and not r["generic"] and r["shared_posts"] == 1  # itself
    # only the eligible short post has an end key; with the bar at 0 both have one
    assert len(short_index.short_heads) == 1
    ends = dict(short_index.posts.select("post_id", "head_key").iter_rows())
    assert ends["s2"] != 0 and ends["s1"] == 0 == ends["l1"]


def test_short_posts_inside_sentences_at_any_strength(tmp_path: Path) -> None:
    posts = write_jsonl(tmp_path / "posts.jsonl", [{"id": "s1", "text": SHORT}, {"id": "s2", "text": SPECIFIC}])
    index = api.build_index([posts], tmp_path / "idx", params=IndexParams(inline_short_bits=0))
    assert len(index.short_heads) == 2
    text = FILLER + "Passengers said the flight delayed again was the third this week. " + FILLER
    m = api.scan_texts(index, [text]).matches  # found (37 bits: over the default 35) ...
    assert m.select("post_id", "method").rows() == [("s1", "exact_short")]
    # ... but not counted: mid-sentence, and short of the E-value bar plus --inline-bits
    assert m.select("placement", "why_not").rows() == [("inline", "inline")]


def test_a_short_post_inside_another_posts_copy_is_not_reported(tmp_path: Path) -> None:
    longer = "Our weekend plan: a zootopia marathon with grandma Lupita and pizza for everyone tonight"
    posts = write_jsonl(tmp_path / "posts.jsonl", [{"id": "s2", "text": SPECIFIC}, {"id": "long", "text": longer}])
    index = api.build_index([posts], tmp_path / "idx")
    m = api.scan_texts(index, [FILLER + longer + ". " + FILLER]).matches
    assert m["post_id"].to_list() == ["long"]  # the short post's words are the long post's copy
    alone = api.scan_texts(index, [FILLER + "A zootopia marathon with grandma Lupita, again. " + FILLER]).matches
    assert alone["post_id"].to_list() == ["s2"]


def test_long_post_still_matches_in_the_short_index(short_index: Index) -> None:
    # Guards the tests above: the small index does find its long post inside a document.
    m = api.scan_texts(short_index, [FILLER + LONG + " " + FILLER]).matches
    assert m.select("post_id", "method").rows() == [("l1", "containment")]


# ------------------------------------------------------------------------------------------ frequent shingles


COMMON = "thank you so much for getting me home safely tonight"  # 10 words, 8 shingles
TAILS = {
    "p1": "captain reyes landed smoothly despite heavy crosswinds over denver airport",
    "p2": "our bags arrived first and the gate agent upgraded my mother",
    "p3": "even though boston was snowed in your team rebooked everyone quickly",
    "p4": "special shoutout to maria at the chicago counter for her patience",
}


@pytest.fixture(scope="module")
def frequent_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    d = tmp_path_factory.mktemp("frequent")
    posts = write_jsonl(d / "posts.jsonl", [{"id": k, "text": f"{COMMON} {v}"} for k, v in TAILS.items()])
    return api.build_index([posts], d / "idx", params=IndexParams(max_key_posts=2))


def test_frequent_shingles_counted(frequent_index: Index) -> None:
    counts = json.loads((frequent_index.path / "manifest.json").read_text())["counts"]
    assert counts["frequent_shingles"] == len(COMMON.split()) - 2 > 0
    assert frequent_index.post_frequent.tolist() == [8, 8, 8, 8]


def test_frequent_shingles_still_verified(frequent_index: Index) -> None:
    p1 = f"{COMMON} {TAILS['p1']}"
    tail = TAILS["p1"].split()
    partial = f"{COMMON} {' '.join(tail[:8])}"  # 18 of 20 tokens: 16 of 18 shingles, 8 of them frequent
    texts = [FILLER + p1.capitalize() + ". " + FILLER, FILLER + partial.capitalize() + ". " + FILLER]
    m = api.scan_texts(frequent_index, texts).matches
    assert m.select("doc_id", "post_id", "method").rows() == [("1", "p1", "containment"), ("2", "p1", "containment")]
    whole, part = m.row(0, named=True), m.row(1, named=True)
    assert whole["containment"] == 1.0 and whole["matched_shingles"] == whole["post_shingles"] == 18
    # Without the 8 frequent shingles only 8 of 18 would be found (< 0.5): they count in verification.
    assert part["matched_shingles"] == 16 and part["containment"] == pytest.approx(16 / 18)
    assert texts[0][whole["doc_start"]:whole["doc_end"]].lower() == p1


def test_common_phrase_alone_matches_nothing(frequent_index: Index) -> None:
    texts = [FILLER + COMMON.capitalize() + ". " + FILLER, COMMON, FILLER + COMMON + " and goodbye. " + FILLER]
    m = api.scan_texts(frequent_index, texts).matches
    assert m.height == 0, m


# ------------------------------------------------------------------------------------------ jaccard mode


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", normalize(text))


def _exact_jaccard(a: str, b: str, seed: int = 0) -> float:
    sb = batch_shingles([a, b], 3, TokenHasher(seed))
    x, y = set(sb.of(0).tolist()), set(sb.of(1).tolist())
    return len(x & y) / len(x | y)


def test_sketches_only_when_asked(api_index, jaccard_index) -> None:
    """MinHash signatures and LSH bands are stored only with jaccard=True; everything else is the same
    bytes, and a jaccard scan of an index without them is a one-line error naming the option."""
    plain, plain_dir = api_index
    _, jac_dir = jaccard_index
    sketch_files = {f"{n}.npy" for n in ("signatures", "lsh_keys", "lsh_posts")}  # (shingles.npy: in both, format 16)
    plain_files = {f.name for f in plain_dir.iterdir()}
    jac_files = {f.name for f in jac_dir.iterdir()}
    assert not plain_files & sketch_files and jac_files - plain_files == sketch_files
    assert plain.signatures is None and plain.lsh_keys is None and "lsh" not in plain.manifest
    for name in plain_files - {"manifest.json", "hashing.json"}:  # (both record the parameters, jaccard among them)
        assert (plain_dir / name).read_bytes() == (jac_dir / name).read_bytes(), name
    with pytest.raises(ParameterError, match="index build --jaccard"):
        api.scan_texts(plain, ["some text to scan here"], params=ScanParams(mode="jaccard"))
    ok = api.scan_texts(plain, ["some text to scan here"])  # containment needs none of them
    assert ok.matches.height == 0


def test_jaccard_mode(jaccard_index, post_texts: dict[str, str]) -> None:
    index, _ = jaccard_index
    chosen = []
    for pid, text in post_texts.items():
        toks = _tokens(text)
        if len(toks) == 20 and len(set(toks)) == 20 and all(t.isalpha() for t in toks):
            chosen.append((pid, toks))
        if len(chosen) == 8:
            break
    assert len(chosen) == 8
    near = [" ".join(t[:10] + ["zebra"] + t[11:]) for _, t in chosen]  # one word changed
    with gzip.open(FIX / "corpus" / "wikinews.jsonl.gz", "rt", encoding="utf-8") as f:
        unrelated = [json.loads(line)["text"][:400] for _, line in zip(range(20), f)]
    ids = [f"near{i}" for i in range(len(near))] + [f"other{i}" for i in range(len(unrelated))]
    result = api.scan_texts(index, near + unrelated, ids=ids, params=ScanParams(mode="jaccard"))
    m = result.matches
    texts = dict(zip(ids, near + unrelated))
    assert m.filter(pl.col("doc_id").str.starts_with("other")).height == 0
    pairs = set(m.select("doc_id", "post_id").iter_rows())
    for i, (pid, _) in enumerate(chosen):
        assert (f"near{i}", pid) in pairs, pid
    for r in m.iter_rows(named=True):
        assert r["method"] == "jaccard", r
        assert r["coverage"] is None, r  # token coverage is a containment measure
        expected = _exact_jaccard(post_texts[r["post_id"]], texts[r["doc_id"]])
        assert r["jaccard"] == pytest.approx(expected, abs=1e-12), r
        assert r["jaccard"] >= 0.5
    for i, (pid, _) in enumerate(chosen):
        j = m.filter((pl.col("doc_id") == f"near{i}") & (pl.col("post_id") == pid))["jaccard"][0]
        assert 0.6 < j < 1.0  # 15 shared of 21 distinct shingles for one changed inner word


# ------------------------------------------------------------------------------------------ batch size


def test_results_do_not_depend_on_batch_size(api_index, planted_scan: api.ScanResult) -> None:
    index, _ = api_index
    reference = planted_scan.matches
    assert reference.height > 250
    ignore = ("params",)
    for size in (1, 7):
        r = api.scan(index, [PLANTED], params=ScanParams(batch_size=size))
        assert r.matches.equals(reference), size
        assert {k: v for k, v in r.summary.items() if k not in ignore} == \
               {k: v for k, v in planted_scan.summary.items() if k not in ignore}


def test_an_id_field_named_explicitly_must_exist(tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"tweet_id": "1", "text": "one two three four five six seven"}\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        api.build_index([posts], tmp_path / "idx", id_field="id_str")
    assert str(err.value) == f"{posts}: no 'id_str' field for the record ids"
    # Without --id-field, a file without an 'id' field falls back to FILE:ROW ids (FILE: the file's name).
    index = api.build_index([posts], tmp_path / "idx2")
    assert index.posts["post_id"].to_list() == ["posts.jsonl:1"]
    assert index.manifest["id_fallback_files"] == [str(posts)]


def test_background_verification_stops_a_scan_of_a_damaged_index(api_index, tmp_path: Path) -> None:
    """The CLI and api.scan open the index with verify="background": a byte changed in a large
    array is found while the scan runs, and no result is written."""
    _, path = api_index
    d = tmp_path / "damaged"
    shutil.copytree(path, d)
    f = d / "key_posts.npy"
    data = bytearray(f.read_bytes())
    data[-3] ^= 0x01  # same size: only the checksum can tell
    f.write_bytes(bytes(data))
    index = open_index(d, verify="background")  # opens: sizes are right
    with pytest.raises(IndexFormatError, match="key_posts.npy: checksum differs"):
        index.wait_verified()
    out = tmp_path / "out"
    with pytest.raises(IndexFormatError, match="key_posts.npy: checksum differs"):
        api.scan(d, [PLANTED], out)
    assert not (out / "matches.parquet").exists() and not (out / "summary.json").exists()
    proc = run_cli_here("scan", d, PLANTED, "-o", tmp_path / "cli-out", "-q")
    assert proc.returncode == 2 and "key_posts.npy: checksum differs" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@given(st.lists(st.integers(1, 6), max_size=60), st.lists(st.integers(0, 60), max_size=6), st.data())
@settings(max_examples=200, deadline=None)
def test_key_rows_agree_with_dense_offsets(counts: list[int], cuts: list[int], data) -> None:
    """KeyRows (only the keys of several posts stored, written run by run) gives every key's first row
    and posting count, every row's key and any range of dense offsets, as plain offsets do."""
    from provenance.index.lookup import KeyRows

    c = np.array(counts, dtype=np.int64)
    off = np.r_[0, np.cumsum(c)].astype(np.int64)
    bounds = sorted({0, len(c), *(min(x, len(c)) for x in cuts)})
    multi, ends = [], []
    for a, b in zip(bounds, bounds[1:]):  # the build and the shard split write one run of keys at a time
        m, e = KeyRows.of_run(off[a:b] - off[a], int(off[b] - off[a]), a, int(off[a]))
        multi.append(m)
        ends.append(e)
    rows = KeyRows(np.concatenate([np.zeros(0, np.int64), *multi]).astype(np.uint32),
                   np.concatenate([np.zeros(0, np.int64), *ends]).astype(np.uint32), len(c))
    assert len(rows.multi) == int((c > 1).sum())
    assert np.array_equal(rows.offsets(0, len(c)), off)
    if len(c):
        keys = np.array(data.draw(st.lists(st.integers(0, len(c) - 1), min_size=1, max_size=20)))
        start, count = rows.rows(keys)
        assert np.array_equal(start, off[keys]) and np.array_equal(count, c[keys])
        assert np.array_equal(rows.key_of(np.arange(off[-1])), np.repeat(np.arange(len(c)), c))
        j0 = data.draw(st.integers(0, len(c)))
        assert np.array_equal(rows.offsets(j0, len(c)), off[j0:])


# ------------------------------------------------------------------ posts read as the user meant (issue 26)


def _tweets(n: int, start: int = 0) -> str:
    return "".join(f"tweet number {i} says something about the weather in town today\n" for i in range(start, start + n))


def test_a_txt_file_of_one_post_a_line_is_refused_without_format_lines(tmp_path: Path) -> None:
    posts = tmp_path / "train_text.txt.gz"
    posts.write_bytes(gzip.compress(_tweets(30).encode()))
    for on_error in ("stop", "skip"):  # (not a bad record to skip: the build would be wrong)
        with pytest.raises(ParameterError) as err:
            api.build_index([posts], tmp_path / "idx", on_error=on_error)
        message = str(err.value)
        assert "\n" not in message and message.startswith(f"{posts}: 30 lines") and "--format lines" in message
    assert api.build_index([posts], tmp_path / "lines", fmt="lines").n_posts == 30
    assert api.build_index([posts], tmp_path / "text", fmt="text").n_posts == 1  # asked for: one post
    essay = tmp_path / "essay.txt"  # a post of paragraphs: blank lines between them
    essay.write_text("\n\n".join(_tweets(30).splitlines()), encoding="utf-8")
    assert api.build_index([essay], tmp_path / "essay").n_posts == 1


def test_file_row_post_ids_stay_when_the_data_moves(tmp_path: Path) -> None:
    first = tmp_path / "a" / "tweets"
    first.mkdir(parents=True)
    (first / "train_text.txt").write_text(_tweets(5), encoding="utf-8")
    index = api.build_index([first], tmp_path / "idx1", fmt="lines")
    ids = index.posts["post_id"].to_list()
    assert ids == [f"train_text.txt:{i}" for i in range(1, 6)]
    moved = tmp_path / "b" / "c" / "tweets"
    shutil.copytree(first, moved)
    assert api.build_index([moved], tmp_path / "idx2", fmt="lines").posts["post_id"].to_list() == ids
    assert api.build_index([moved / "train_text.txt"], tmp_path / "idx3", fmt="lines").posts["post_id"].to_list() == ids
    assert index.manifest["format_version"] == FORMAT_VERSION >= 13 and index.manifest["fields"]["id_prefix"] == ""
    # an append of another file of the same name: its ids would be the same, so it is told apart with --id-prefix
    other = tmp_path / "other" / "train_text.txt"
    other.parent.mkdir()
    other.write_text(_tweets(3, start=100), encoding="utf-8")
    with pytest.raises(ProvenanceError, match="train_text.txt:1"):
        api.build_index([other], tmp_path / "idx1", fmt="lines", append=True)
    appended = api.build_index([other], tmp_path / "idx1", fmt="lines", append=True, id_prefix="other/")
    assert appended.posts["post_id"].to_list() == ids + [f"other/train_text.txt:{i}" for i in range(1, 4)]
    # a scan names the documents so too, and its evidence checks out
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "docs.txt").write_text("intro line\n" + _tweets(1, start=2), encoding="utf-8")
    result = api.scan(appended, [corpus], tmp_path / "out", fmt="lines")
    whole = result.matches.filter(pl.col("containment") == 1.0)
    assert whole.select("doc_id", "post_id").rows() == [("docs.txt:2", "train_text.txt:3")]
    assert set(result.matches["doc_id"]) == {"docs.txt:2"}
    from provenance.results.evidence import verify

    assert verify(tmp_path / "out", inputs=[corpus]).ok
