"""Which verified matches count (provenance/results/significance.py): E-values against the size of the
search, placement in the document, commonness in the corpus; the counts recomputed from the counted rows;
verify judging the rows again."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance import api
from provenance.match.tally import Tally, covered_chars
from provenance.params import ScanParams
from provenance.results.evidence import repin_results, verify
from provenance.results.significance import evalue_bar_bits, judge, recount
from provenance.text.offsets import starts_unit

from conftest import PLANTED, POSTS_CSV


def _rows(**cols) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"source": ["f"] * n, "row": list(range(1, n + 1)), "_post": list(range(n)), "evidence_bits": [100.0] * n,
            "span_tokens": [12] * n, "shared_posts": [None] * n, "placement": ["unit"] * n,
            "doc_start": [0] * n, "doc_end": [10] * n, "doc_chars": [100] * n, "post_shingles": [8] * n}
    base.update(cols)
    return pl.DataFrame(base, schema_overrides={"shared_posts": pl.Int64})


def test_evalue_is_posts_times_words_times_chance_and_sets_the_bar() -> None:
    posts, words = 2_430_000, 6_000_000
    bar = evalue_bar_bits(posts, words, 0.01)
    assert bar == pytest.approx(math.log2(posts) + math.log2(words) + math.log2(100))
    m = judge(_rows(evidence_bits=[bar - 0.5, bar + 0.5, 30.0]), ScanParams(calibrated=False), posts, words)
    assert m["evalue"].to_list() == pytest.approx([posts * words * 2 ** -(bar - 0.5), posts * words * 2 ** -(bar + 0.5),
                                                   posts * words * 2.0 ** -30])
    assert m["why_not"].to_list() == ["chance", None, "weak"]
    assert m["generic"].to_list() == [True, False, True]
    # the same match against a larger search is not significant any more
    bigger = judge(_rows(evidence_bits=[bar + 0.5]), ScanParams(calibrated=False), posts * 4, words)
    assert bigger["why_not"].to_list() == ["chance"]


def test_inline_spans_need_more_bits_and_common_posts_do_not_count() -> None:
    posts, words = 1000, 100_000
    bar = evalue_bar_bits(posts, words, 0.01)
    m = judge(_rows(evidence_bits=[bar + 10, bar + 10, bar + 50], placement=["unit", "inline", "inline"]),
              ScanParams(calibrated=False, inline_bits=40), posts, words)
    assert m["why_not"].to_list() == [None, "inline", None]
    assert judge(_rows(evidence_bits=[bar + 10], placement=["inline"]), ScanParams(calibrated=False, inline_bits=0), posts,
                 words)["why_not"].to_list() == [None]
    # post 0 in 4 documents, post 1 in 1: more than max_span_docs (3) documents is common text
    m = judge(_rows(_post=[0, 0, 0, 0, 1], evidence_bits=[200.0] * 5), ScanParams(calibrated=False), posts, words)
    assert m["span_docs"].to_list() == [4, 4, 4, 4, 1]
    assert m["why_not"].to_list() == ["common"] * 4 + [None]
    assert judge(_rows(_post=[0, 0, 0, 0], evidence_bits=[200.0] * 4), ScanParams(calibrated=False, max_span_docs=0), posts,
                 words)["why_not"].null_count() == 4


def test_reasons_come_in_order_weak_shared_chance_inline_common() -> None:
    m = judge(_rows(evidence_bits=[20.0, 60.0], span_tokens=[5, 5], shared_posts=[9, 9], placement=["inline", "inline"],
                    _post=[0, 0]), ScanParams(max_span_docs=1), 10**6, 10**6)
    assert m["why_not"].to_list() == ["weak", "shared"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 50), st.integers(1, 30), st.booleans()), min_size=1,
                max_size=25))
def test_recount_covers_the_union_of_the_counted_spans_of_each_document(spans) -> None:
    rows = _rows(row=[d for d, _, _, _ in spans], doc_start=[s for _, s, _, _ in spans],
                 doc_end=[s + n for _, s, n, _ in spans], doc_chars=[1000] * len(spans), _post=list(range(len(spans))))
    rows = rows.with_columns(pl.Series("generic", [g for *_, g in spans]))
    t = recount(Tally(docs_scanned=10, corpus_chars=10_000), rows)
    expect = {}
    for d, s, n, g in spans:
        if not g:
            expect.setdefault(d, []).append((s, s + n))
    covered = [covered_chars(np.array([a for a, _ in v]), np.array([b for _, b in v])) for v in expect.values()]
    assert t.docs_matched == len(expect)
    assert t.matched_chars == sum(covered)
    assert t.matched_sq == sum(c * c for c in covered)
    assert t.cross == sum(c * 1000 for c in covered)
    assert t.posts_matched == {i for i, (_, _, _, g) in enumerate(spans) if not g}
    assert t.docs_scanned == 10 and t.corpus_chars == 10_000


def test_starts_unit() -> None:
    text = 'In the film Harry Potter. Harry Potter is\n@bob @al I love it. He said: "quote" RT @x: here'
    assert starts_unit(text, 0)
    assert not starts_unit(text, text.index("Harry"))  # after "film "
    assert starts_unit(text, text.index("Harry", 20))  # after ". "
    assert starts_unit(text, text.index("I love"))  # after a line break and @handles
    assert starts_unit(text, text.index("quote"))  # a quotation
    assert starts_unit(text, text.index("here"))  # RT @x:
    assert not starts_unit(text, text.index("is"))


def test_a_post_inside_a_sentence_counts_only_when_overwhelming(api_index) -> None:
    index, _ = api_index
    post = pl.read_csv(POSTS_CSV, schema_overrides={"tweet_id": pl.String}).filter(
        pl.col("text").str.count_matches(" ") >= 14).row(0, named=True)
    words = " ".join(f"w{i}" for i in range(40))
    texts = [f"{words}. {post['text']}\n{words}", f"{words} and then {post['text']} {words}"]
    result = api.scan_texts(index, texts)
    rows = result.matches.filter(pl.col("post_id") == post["tweet_id"]).sort("doc_id")
    assert rows["placement"].to_list() == ["unit", "inline"]
    bits = rows["evidence_bits"].to_list()
    bar = result.summary["significance"]["bits_needed"]
    assert bits[1] > bar  # strong enough at a unit's start ...
    expect_inline = None if bits[1] >= bar + 40 else "inline"
    assert rows["why_not"].to_list() == [None, expect_inline]
    loose = api.scan_texts(index, texts, params=ScanParams(inline_bits=0))
    assert loose.matches.filter(pl.col("post_id") == post["tweet_id"])["why_not"].null_count() == 2


def test_counts_come_from_the_counted_rows_and_verify_rejudges(api_index, tmp_path) -> None:
    index, _ = api_index
    out = tmp_path / "out"
    result = api.scan(index, [PLANTED], out)
    m, s = result.matches, result.summary
    counted = m.filter(~pl.col("generic"))
    assert s["docs_matched"] == counted.select("source", "row").n_unique()
    assert s["posts_matched"] == counted["post_id"].n_unique()
    assert s["words_scanned"] > 0 and s["significance"]["posts_searched"] == index.n_posts
    assert sum(s["significance"]["not_counted"].values()) == m.height - counted.height
    assert s["inputs"][0]["docs_matched"] == s["docs_matched"]
    assert verify(out).problems == []
    # a verdict edited (and the results re-pinned, as a forger would) is found by judging the rows again
    edited = m.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(~pl.col("generic")).otherwise(pl.col("generic"))
                            .alias("generic"))
    edited.write_parquet(out / "matches.parquet")
    repin_results(out)
    problems = [p.message for p in verify(out).problems]
    assert any("judged" in p for p in problems), problems


def test_fixture_scan_keeps_its_planted_recall(api_index) -> None:
    """The new rules leave the small planted benchmark's copies counted (they are whole units)."""
    index, _ = api_index
    truth = pl.read_csv(PLANTED.parent / "truth.csv", schema_overrides={"post_id": pl.String})
    counted = api.scan(index, [PLANTED]).matches.filter(~pl.col("generic")).select("post_id", "doc_id").unique()
    found = truth.select("post_id", "doc_id").unique().join(counted, on=["post_id", "doc_id"], how="semi")
    assert found.height >= 0.95 * truth.select("post_id", "doc_id").n_unique()


def test_a_span_several_post_texts_hold_is_common() -> None:
    posts, words = 1000, 100_000
    m = judge(_rows(span_texts=[3, 2, 1, 0, None], evidence_bits=[200.0] * 5), ScanParams(), posts, words)
    assert m["why_not"].to_list() == ["common", "common", None, None, None]
    assert judge(_rows(span_texts=[3, 2], evidence_bits=[200.0] * 2), ScanParams(max_span_texts=2), posts,
                 words)["why_not"].to_list() == ["common", None]
    assert judge(_rows(span_texts=[9], evidence_bits=[200.0]), ScanParams(max_span_texts=0), posts,
                 words)["why_not"].to_list() == [None]


TITLE = "The Moon Is a Harsh Mistress by Robert A Heinlein"
SPAN_POSTS = [
    ("moon", "The moon is a harsh mistress by Robert A. Heinlein"),
    # (two longer posts hold the title too, but too little of them is in the document to be found there)
    ("moon2", "Just reread The Moon Is a Harsh Mistress by Robert A Heinlein and it is still the best of all "
              "the novels he wrote in the sixties, the revolution on the moon holds up"),
    ("moon3", "My father gave me The Moon Is a Harsh Mistress by Robert A Heinlein when I turned twelve and "
              "I have read it every summer since then on the porch of our cabin by the lake"),
    ("ferry", "The ferry to the island was cancelled again because the captain forgot his lucky orange hat"),
    ("ferry-rt", "RT @someone: The ferry to the island was cancelled again because the captain forgot his lucky orange hat"),
    ("ferry-rt2", "RT @other: The ferry to the island was cancelled again because the captain forgot his lucky orange hat"),
    ("other", "My grandmother's parrot learned to whistle the whole theme song of a cooking show from 1987"),
]


@pytest.mark.parametrize("shards", [1, 3])
def test_span_texts_counts_the_post_texts_holding_the_span_and_a_retweet_once(tmp_path, shards: int) -> None:
    """A title that three different posts hold is common text of the platform; a post retweeted word for
    word is one text, its copy counts; a sharded index counts the same."""
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(f'{{"id": "{i}", "text": "{t}"}}\n' for i, t in SPAN_POSTS), encoding="utf-8")
    index = api.build_index([posts], tmp_path / "idx", shards=shards)
    doc = "\n".join(["Books I read this year:", TITLE, "and on the way home:", SPAN_POSTS[3][1], "That was all."])
    m = api.scan_texts(index, [doc]).matches
    title = m.filter(pl.col("doc_text").str.starts_with("The Moon"))
    assert title["post_id"].to_list() == ["moon"]
    assert title["span_texts"].to_list() == [3] and title["why_not"].to_list() == ["common"]
    ferry = m.filter(pl.col("post_id").str.starts_with("ferry"))
    assert sorted(ferry["post_id"].to_list()) == ["ferry", "ferry-rt", "ferry-rt2"]
    assert ferry["span_texts"].to_list() == [1, 1, 1] and ferry["why_not"].null_count() == 3


def test_quoted_posts_do_not_count_unless_asked_or_found_whole() -> None:
    m = _rows(evidence_bits=[200.0] * 3).with_columns(pl.Series("post_quoted", [True, False, True]),
                                                       pl.Series("coverage", [0.9, 0.9, 1.0]))
    assert judge(m, ScanParams(), 1000, 100_000)["why_not"].to_list() == ["quoted", None, None]
    assert judge(m, ScanParams(count_quoted=True), 1000, 100_000)["why_not"].null_count() == 3


def test_calibrated_evalues_take_off_what_the_model_overstates() -> None:
    from provenance.results.significance import calibrated_bits

    raw = np.array([10.0, 26.0, 56.0, 100.0])
    cal = calibrated_bits(raw)
    assert cal == pytest.approx([9.7, 23.5, 35.7, 100 - 20.3 - 0.61 * 44])
    assert (np.diff(calibrated_bits(np.linspace(0, 400, 801))) >= 0).all()  # stronger stays stronger
    posts, words = 2_430_000, 6_000_000
    bar = evalue_bar_bits(posts, words, 0.01)
    m = _rows(evidence_bits=[bar + 5, 150.0])
    assert judge(m, ScanParams(calibrated=False), posts, words)["why_not"].to_list() == [None, None]
    strict = judge(m, ScanParams(calibrated=True), posts, words)
    assert strict["why_not"].to_list() == ["chance", None]
    assert strict["evalue"][1] > judge(m, ScanParams(calibrated=False), posts, words)["evalue"][1]
