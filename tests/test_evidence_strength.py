"""Edited copies found by the token alignment, and evidence strength: generic matches are listed but
not counted (provenance.match.align, provenance.text.background, the scan)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from provenance import api
from provenance.errors import InputError
from provenance.text.background import DEFAULT_DIR, build_background, chance, default_background, in_plain_words, load_background, span_bits
from provenance.params import IndexParams, ScanParams

QUOTE = "I am German when we win but I am an immigrant when we lose"
STOCK = "at the end of the tunnel"
POSTS = [
    {"id": "quote", "text": QUOTE},
    {"id": "stock", "text": STOCK},
    {"id": "edited", "text": "the ferry captain refused to leave tonight"},
    {"id": "ten", "text": "the old harbour ferry captain refused to leave port tonight"},
    {"id": "six", "text": "Grandma baked Lithuanian honey cake tonight"},
    {"id": "six-common", "text": "In the middle of a night"},
]
FILLER = ("The council met on Tuesday to discuss the budget for the coming year, and several members asked "
          "for more time to read the proposals before a vote. ")


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("strength")
    posts = folder / "posts.jsonl"
    posts.write_text("".join(json.dumps(p) + "\n" for p in POSTS), encoding="utf-8")
    # every post kept (min_post_bits=0): these tests weigh matches at scan time, the stock phrases too
    api.build_index([posts], folder / "idx", id_field="id", params=IndexParams(min_post_bits=0))
    return folder / "idx"


def test_a_quote_carries_more_bits_than_a_stock_phrase():
    bits = span_bits(default_background(), [QUOTE, STOCK, "thoughts and prayers go out to"])
    assert bits[0] > 100 > 40 > bits[1]
    assert bits[1] < ScanParams().min_evidence_bits < bits[0]
    # the quote's own figure moves with the background model (117 bits with Wikipedia and Reddit text, 140
    # with Wikipedia alone: "when we", "but I am" are conversation); the wording is checked on fixed figures
    assert "10^42 words" in in_plain_words(140.0, 14) and in_plain_words(bits[0], 14).startswith("a 14-word span")
    assert f"10^{bits[0] * np.log10(2):.0f} words" in in_plain_words(bits[0], 14)
    assert chance(9.0) == "1 in 512 words" and chance(40.0) == "1 in 10^12 words"


def test_longer_spans_carry_more_bits_than_their_parts():
    a, b = span_bits(default_background(), ["the ferry captain refused", "the ferry captain refused to leave tonight"])
    assert b > a > 0


def test_generic_matches_are_listed_but_not_counted(index: Path):
    docs = [FILLER + "There is light at the end of the tunnel, he said. " + FILLER,
            FILLER + "“" + QUOTE + ",” he wrote. " + FILLER,
            FILLER * 2]
    res = api.scan_texts(index, docs, ids=["d-stock", "d-quote", "d-none"])
    m = res.matches
    by_post = {r["post_id"]: r for r in m.iter_rows(named=True)}
    assert by_post["stock"]["generic"] and not by_post["quote"]["generic"]
    assert by_post["stock"]["evidence_bits"] < 35 < by_post["quote"]["evidence_bits"]
    s = res.summary
    assert s["matches"] == 2 and s["posts_matched"] == 1 and s["docs_matched"] == 1
    assert s["generic"] == {"matches": 1, "posts": 1, "docs": 1}
    quote = by_post["quote"]
    assert s["matched_chars"] == quote["doc_end"] - quote["doc_start"]
    # Counting every match again is a few parameters away (evidence bits, the E-value bar, placement).
    everything = api.scan_texts(index, docs, ids=["d-stock", "d-quote", "d-none"],
                                params=ScanParams(min_evidence_bits=0, max_evalue=1e6, inline_bits=0)).summary
    assert everything["posts_matched"] == 2 and everything["docs_matched"] == 2 and everything["generic"]["matches"] == 0


def test_a_copy_with_one_word_changed_is_aligned(index: Path):
    # 7 words, the middle one changed: 2 of the 5 word 3-grams are left, too few for the shingle tests
    edited = "the ferry captain declined to leave tonight"
    res = api.scan_texts(index, [FILLER + edited + ". " + FILLER])
    rows = res.matches.filter(res.matches["post_id"] == "edited")
    assert rows.height == 1
    r = rows.row(0, named=True)
    assert r["method"] == "aligned" and r["doc_text"] == edited
    assert r["coverage"] == pytest.approx(6 / 7) and r["containment"] == pytest.approx(2 / 5)
    # Off: only copies with every word in order are aligned.
    strict = api.scan_texts(index, [FILLER + edited + ". " + FILLER], params=ScanParams(min_aligned=1.0))
    assert "edited" not in strict.matches["post_id"].to_list()


def test_an_edited_copy_below_the_shingle_shares_still_reaches_the_alignment(index: Path):
    # 10 words, the 3rd and 7th changed: 2 of the 8 word 3-grams are left and neither is the post's
    # first, which the shingle tests' candidate bar (half the shingles, or a first one) would drop.
    edited = "the old river ferry captain refused and leave port tonight"
    res = api.scan_texts(index, [FILLER + edited + ". " + FILLER])
    rows = res.matches.filter(res.matches["post_id"] == "ten")
    assert rows["method"].to_list() == ["aligned"]
    assert rows["doc_text"].to_list() == [edited] and rows["containment"].to_list() == [pytest.approx(2 / 8)]
    assert res.summary["candidates_aligned"] >= 1


def test_an_edited_copy_that_reads_as_cut_off_is_aligned(index: Path):
    # Two words of ten left out near the end: the first six words read as a cut-off copy (a prefix),
    # which the document does not confirm; the alignment finds the whole post, 8 of 10 words in order.
    edited = "the old harbour ferry captain refused leave tonight"
    res = api.scan_texts(index, [FILLER + edited + ". " + FILLER])
    rows = res.matches.filter(res.matches["post_id"] == "ten")
    assert rows["method"].to_list() == ["aligned"] and rows["doc_text"].to_list() == [edited]
    assert rows["coverage"].to_list() == [pytest.approx(8 / 10)]


def test_a_six_word_post_with_one_word_changed_counts_when_specific(index: Path):
    docs = [FILLER + "Grandma baked Lithuanian walnut cake tonight. " + FILLER,
            FILLER + "She woke up in the middle of the night. " + FILLER]
    m = api.scan_texts(index, docs, ids=["d-six", "d-common"]).matches
    six = m.filter(m["post_id"] == "six")
    assert six["method"].to_list() == ["aligned"] and not six["generic"].any()
    assert six["coverage"].to_list() == [pytest.approx(5 / 6)]
    # five common words in order: found, but generic (a stock phrase is as likely)
    common = m.filter(m["post_id"] == "six-common")
    assert common.height == 1 and common["generic"].all()
    assert common["evidence_bits"][0] < ScanParams().min_evidence_bits


def test_two_words_changed_in_seven_is_no_copy(index: Path):
    edited = "the ferry captain declined to stay tonight"
    res = api.scan_texts(index, [FILLER + edited + ". " + FILLER])
    assert "edited" not in res.matches["post_id"].to_list()


def test_background_build_is_deterministic_and_checked(tmp_path: Path):
    texts = [["one two three four five. one two three four six.", "one two three again and again"]] * 3
    a = build_background(texts, tmp_path / "a", min_count=2)
    build_background(texts, tmp_path / "b", min_count=2)
    for f in sorted((tmp_path / "a").glob("*.npy")):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes()
    model = load_background(tmp_path / "a")
    assert model.tokens == a["tokens"] == 3 * 16
    seen, unseen = span_bits(model, ["one two three", "seven eight nine"])
    assert seen < unseen
    with open(tmp_path / "a" / "trigrams.npy", "r+b") as fh:
        fh.seek(-1, 2)
        fh.write(b"\x01")
    with pytest.raises(InputError, match="checksum"):
        load_background(tmp_path / "a")
    with pytest.raises(InputError, match="not a background model"):
        load_background(tmp_path / "missing")


def test_the_bundled_model_is_pinned():
    manifest = json.loads((DEFAULT_DIR / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["files"]) == {p.name for p in DEFAULT_DIR.glob("*.npy")}
    assert default_background().identity["manifest_sha256"]
    assert sum(p.stat().st_size for p in DEFAULT_DIR.iterdir()) < 15 * 2**20
    # built from held-out halves of two kinds of text (the benchmarks scan the other halves)
    sources = {s["name"]: s for s in manifest["sources"]}
    assert set(sources) == {"wikipedia_en_sample", "reddit_selftext"}
    assert all(s["half"].startswith("even") and s["license"] for s in sources.values())
    assert sorted(sources["wikipedia_en_sample"]["files"]) == [f"wiki_{i:02d}.gz" for i in range(0, 64, 2)]


def test_keyed_index_aligns_with_per_post_codes(tmp_path: Path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps(p) + "\n" for p in POSTS), encoding="utf-8")
    key = b"k" * 32
    keyed = api.build_index([posts], tmp_path / "keyed", id_field="id", key=key)
    plain = api.build_index([posts], tmp_path / "plain", id_field="id")
    assert not np.array_equal(np.asarray(keyed.token_codes), np.asarray(plain.token_codes))
    doc = FILLER + "the ferry captain declined to leave tonight. " + FILLER
    got = api.scan_texts(keyed, [doc], key=key).matches
    assert got.filter(got["post_id"] == "edited")["method"].to_list() == ["aligned"]


def test_half_a_post_quoted_verbatim_is_a_partial_copy(tmp_path: Path):
    long_post = ("To all of you marching today in the cold rain for our schools you have my full support and my "
                 "thanks from all of us here")
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"id": "long", "text": long_post}) + "\n", encoding="utf-8")
    idx = api.build_index([posts], tmp_path / "idx", id_field="id")
    half = "for our schools you have my full support and my thanks from all of us here"  # 16 of 26 words
    doc = FILLER + "She wrote: “" + half + ".” " + FILLER
    got = api.scan_texts(idx, [doc]).matches
    assert got["method"].to_list() == ["partial"]
    r = got.row(0, named=True)
    assert r["doc_text"] == half and r["coverage"] == pytest.approx(16 / 26)
    assert not r["generic"]
    assert api.scan_texts(idx, [doc], params=ScanParams(min_partial_tokens=0)).matches.height == 0
    # the post's first half, not cut off with "…": no truncated copy, but a partial one
    head = "To all of you marching today in the cold rain for our schools you have my full support"
    got = api.scan_texts(idx, [FILLER + "She wrote: “" + head + ".” " + FILLER]).matches
    assert got["method"].to_list() == ["partial"] and got["doc_text"].to_list() == [head]
    cut = api.scan_texts(idx, [FILLER + "She wrote: “" + head + "…” " + FILLER]).matches
    assert cut["method"].to_list() == ["containment_prefix"]
    # a run shorter than half the post is no copy
    third = "you have my full support and my thanks from"
    assert api.scan_texts(idx, [FILLER + third + ". " + FILLER]).matches.height == 0


# -------------------------------------------------------------- phrases the indexed posts share

MUSEUM = "The Museum of Fine Arts, Houston"
CHECK_INS = [f"{w} @ {MUSEUM}" for w in ("Sunday", "Art day", "Date night", "With mom", "Field trip", "Finally")]
RETWEET = "Breaking: the river bridge on Route 9 is closed until Friday after the storm damage"


@pytest.fixture(scope="module")
def shared_index(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shared")
    posts = [{"id": f"checkin-{i}", "text": t} for i, t in enumerate(CHECK_INS)]
    posts += [{"id": f"rt-{i}", "text": RETWEET} for i in range(6)]
    posts += [{"id": "lone", "text": "Dinner at the Harbor Lights Bistro in Galveston"}]
    (folder / "posts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in posts), encoding="utf-8")
    api.build_index([folder / "posts.jsonl"], folder / "idx", id_field="id")
    return folder / "idx"


def test_a_short_phrase_many_posts_share_is_generic(shared_index: Path):
    doc = FILLER + f"The exhibition opens at {MUSEUM} next week. " + FILLER
    m = api.scan_texts(shared_index, [doc]).matches
    checkins = m.filter(m["post_id"].str.starts_with("checkin"))
    assert checkins.height == 6  # each post's museum part is found ...
    assert checkins["shared_posts"].to_list() == [6] * 6  # ... and six posts hold it:
    assert checkins["generic"].all() and (checkins["evidence_bits"] > ScanParams().min_evidence_bits).all()
    assert checkins["span_texts"].null_count() == 6  # (not measured for a match that cannot count)
    # (the phrase stands mid-sentence here: --inline-bits 0 leaves the shared-phrase rule alone to decide)
    off = api.scan_texts(shared_index, [doc], params=ScanParams(max_shared_posts=0, max_span_texts=0, inline_bits=0))
    assert off.summary["posts_matched"] == 6 and not off.matches["generic"].any()
    assert off.matches["span_texts"].to_list() == [6] * 6  # (six texts hold it: common, where that rule is on)
    # the same phrase with one post holding it counts
    lone = api.scan_texts(shared_index, [FILLER + "We had dinner at the Harbor Lights Bistro in Galveston. " + FILLER],
                          params=ScanParams(inline_bits=0))
    assert lone.matches["post_id"].to_list() == ["lone"] and lone.matches["shared_posts"].to_list() == [1]
    assert lone.summary["posts_matched"] == 1


def test_a_long_post_many_accounts_posted_is_a_copy_of_each(shared_index: Path):
    res = api.scan_texts(shared_index, [FILLER + RETWEET + ". " + FILLER])
    rt = res.matches.filter(res.matches["post_id"].str.starts_with("rt-"))
    assert rt.height == 6 and not rt["generic"].any()
    assert rt["shared_posts"].null_count() == 6  # spans of 10+ tokens: not measured
    assert res.summary["posts_matched"] == 6


def test_shared_posts_equal_their_definition(shared_index: Path):
    from provenance.index import open_index
    from provenance.match.shared import _posts_per_shingle, shared_posts
    from provenance.text.shingles import batch_shingles

    ix = open_index(shared_index)
    spans = [MUSEUM, "Art day @ The Museum", RETWEET, "the storm damage", "nothing here at all", "", "Harbor Lights Bistro"]
    posts = [0, 1, 6, 7, 12, 3, 12]
    got = shared_posts(ix, spans, posts, ix.token_hasher())
    sb = batch_shingles(spans, 3, ix.token_hasher(), lines=False)
    counts = _posts_per_shingle(ix, sb.hashes)
    for i, post in enumerate(posts):
        lo, hi = sb.offsets[i], sb.offsets[i + 1]
        mine = np.isin(sb.hashes[lo:hi], ix.post_shingles(post))
        assert got[i] == (counts[lo:hi][mine].min() if mine.any() else 0), spans[i]
    assert got.tolist()[:3] == [6, 1, 6] and got[5] == 0
