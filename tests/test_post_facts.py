"""Facts of each post decided when it is indexed (post_flags.npy, post_date.npy) and used when a scan
judges its matches: a post that quotes someone is a common origin's words (why_not quoted); a post of a
later day than its document copied the text (why_not newer, from index build --date-field and scan
--doc-date-field / --corpus-date); a post too common to attribute holds no keys and is never matched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import POSTS_CSV, run_cli_here
from provenance import api
from provenance.errors import InputError, ParameterError
from provenance.index.format import NO_POST_DATE, QUOTE_ONLY, QUOTED, UNATTRIBUTABLE
from provenance.index.prepare import quotation_flags, quoted_posts
from provenance.io.dates import NO_DATE, parse_days
from provenance.params import IndexParams, ScanParams
from provenance.text.background import default_background, span_bits

OWN = "My grandmother's parrot learned to whistle the whole theme song of a cooking show from 1987"
QUOTE = '"Ask not what your country can do for you, ask what you can do for your country" - John F. Kennedy'
QUOTED_WORDS = "ask not what your country can do for you, ask what you can do for your country"  # (the origin's words)
LATE = "The ferry to the island was cancelled again because the captain forgot his lucky orange hat"
COMMON = "thank you so much"
POSTS = [("own", OWN, "2015-02-20 09:00:00 -0800"), ("quote", QUOTE, "1424419200"), ("late", LATE, "2015-03-10"),
         ("common", COMMON, "")]
FILLER = "The city council approved a new budget for road repairs on Monday evening."


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("post-facts")
    posts = _jsonl(d / "posts.jsonl", [{"id": i, "text": t, "created": c} for i, t, c in POSTS])
    return api.build_index([posts], d / "idx", date_field="created"), d


def _doc(*lines: str) -> str:
    return "\n".join([FILLER, *lines, FILLER])


def test_dates_in_the_common_forms() -> None:
    days = parse_days(["1345107919.0", "2015-02-24 11:35:52 -0800", "2015-02-24T23:30:00-02:00", "2015-02-24",
                       "Wed Feb 25 14:22:50 +0000 2015", "1345107919000", "", None])
    epoch = lambda s: (np.datetime64(s) - np.datetime64("1970-01-01")).astype(int)  # noqa: E731
    assert days.tolist() == [epoch("2012-08-16"), epoch("2015-02-24"), epoch("2015-02-25"), epoch("2015-02-24"),
                             epoch("2015-02-25"), epoch("2012-08-16"), NO_DATE, NO_DATE]
    with pytest.raises(InputError, match=r"^posts.csv:7: not a date: '2015-02-30'"):
        parse_days(["2015-02-01", "2015-02-30"], "posts.csv", [6, 7])


def test_quoted_posts() -> None:
    texts = [QUOTE, OWN, 'Obama: "If you\'ve got a business, you didn\'t build that" #politics',
             "RT @nasa: one small step for a man", '“@united: We are sorry for the delay” thanks for nothing',
             'I said "no" and then went home to cook dinner for the whole family', "«Liberté, égalité» — Devise"]
    assert quoted_posts(texts).tolist() == [True, False, True, True, True, False, True]


def test_the_index_keeps_each_posts_date_and_flags(dated) -> None:
    index, _ = dated
    days = parse_days(["2015-02-20", "2015-02-20", "2015-03-10"])
    assert index.post_date.dtype == np.uint16
    assert index.post_date.tolist() == [*days.tolist(), NO_POST_DATE]  # (the airline form in UTC, epoch seconds)
    assert ((index.post_flags & QUOTED) != 0).tolist() == [False, True, False, False]
    assert index.manifest["counts"]["dated_posts"] == 3 and index.manifest["counts"]["quoted_posts"] == 1
    assert "meta_created" in index.posts.columns


def test_a_post_that_quotes_someone_does_not_count(dated) -> None:
    index, _ = dated
    m = api.scan_texts(index, [_doc(QUOTED_WORDS, OWN)]).matches.sort("post_id")
    assert m["post_id"].to_list() == ["own", "quote"]
    assert m["post_quoted"].to_list() == [False, True]
    assert m["coverage"][1] < 1.0
    assert m["why_not"].to_list() == [None, "quoted"]
    assert m["generic"].to_list() == [False, True]


def test_a_quoting_post_found_whole_counts_when_it_has_words_of_its_own(tmp_path) -> None:
    """A document that holds the whole post (its own words with the quotation) holds the post, not only the
    words of its origin; a post that is the quotation and nothing more (or with only its author's name)
    is its origin's words even found whole."""
    own = ('My grandmother always said "ask not what your country can do for you, ask what you can do for your '
           'country" whenever we asked for cake')
    posts = _jsonl(tmp_path / "posts.jsonl", [{"id": "own", "text": own}, {"id": "bare", "text": QUOTE}])
    index = api.build_index([posts], tmp_path / "idx")
    assert ((index.post_flags & QUOTED) != 0).tolist() == [True, True]
    assert ((index.post_flags & QUOTE_ONLY) != 0).tolist() == [False, True]
    m = api.scan_texts(index, [_doc(own), _doc(QUOTE)]).matches.filter(pl.col("coverage") == 1.0).sort("post_id")
    assert m["post_id"].to_list() == ["bare", "own"]
    assert m["post_quote_only"].to_list() == [True, False]
    assert m["why_not"].to_list() == ["quoted", None]


def test_quotation_flags() -> None:
    texts = ["“I am German when we win but I am an immigrant when we lose”https://t.co/WPLZ3lTRGz", QUOTE,
             'Obama: "If you\'ve got a business, you didn\'t build that" #politics', "RT @x: hello there my friend",
             'My take: "we will win" says the coach, and I think he is right about the whole thing', "plain text"]
    flags = quotation_flags(texts)
    assert ((flags & QUOTED) != 0).tolist() == [True, True, True, True, False, False]
    assert ((flags & QUOTE_ONLY) != 0).tolist() == [True, True, True, False, False, False]


def test_a_post_newer_than_its_document_does_not_count(dated) -> None:
    index, d = dated
    texts = [_doc(OWN, LATE)]
    plain = api.scan_texts(index, texts).matches.sort("post_id")
    assert plain["why_not"].null_count() == 2 and plain["doc_date"].null_count() == 2  # no document date: both count
    crawl = api.scan_texts(index, texts, params=ScanParams(corpus_date="2015-03-01")).matches.sort("post_id")
    assert crawl["post_id"].to_list() == ["late", "own"]
    assert crawl["why_not"].to_list() == ["newer", None]
    assert [str(x) for x in crawl["post_date"].to_list()] == ["2015-03-10", "2015-02-20"]
    assert [str(x) for x in crawl["doc_date"].to_list()] == ["2015-03-01"] * 2
    # each document's own date (a field read like the id), the corpus date for those without one
    corpus = _jsonl(d / "corpus.jsonl", [{"id": "old", "text": _doc(OWN, LATE), "published": "2015-02-01T10:00:00Z"},
                                         {"id": "new", "text": _doc(OWN, LATE), "published": 1427000000},
                                         {"id": "undated", "text": _doc(OWN, LATE)}])
    result = api.scan(index, [corpus], params=ScanParams(doc_date_field="published", corpus_date="2015-03-01"))
    verdicts = {(r["doc_id"], r["post_id"]): r["why_not"] for r in result.matches.iter_rows(named=True)}
    assert verdicts == {("old", "own"): "newer", ("old", "late"): "newer", ("new", "own"): None,
                        ("new", "late"): None, ("undated", "own"): None, ("undated", "late"): "newer"}
    assert result.summary["significance"]["not_counted"] == {"newer": 3}
    assert result.summary["posts_dated"] == 3


def test_bad_dates_are_one_line_errors(tmp_path: Path, dated) -> None:
    index, _ = dated
    posts = _jsonl(tmp_path / "posts.jsonl", [{"id": "a", "text": OWN, "when": "2015-02-01"},
                                              {"id": "b", "text": LATE, "when": "last tuesday"}])
    proc = run_cli_here("index", "build", posts, "-o", tmp_path / "idx", "--date-field", "when", "-q")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: {posts}:2: not a date: 'last tuesday' (use seconds since 1970, YYYY-MM-DD with an optional time "
        "and zone, or Twitter's 'Wed Feb 25 14:22:50 +0000 2015')"]
    old = _jsonl(tmp_path / "old.jsonl", [{"id": "a", "text": OWN, "when": "1969-07-20"}])
    with pytest.raises(InputError, match=r"old.jsonl:1: the post's date '1969-07-20' is before 1970 or after 2149"):
        api.build_index([old], tmp_path / "old", date_field="when")
    with pytest.raises(InputError, match=r"corpus.jsonl:2: not a date"):
        api.scan(index, [_jsonl(tmp_path / "corpus.jsonl", [{"text": FILLER, "d": "2015"}, {"text": FILLER, "d": "x"}])],
                 params=ScanParams(doc_date_field="d"))
    with pytest.raises(ParameterError, match="--corpus-date"):
        ScanParams(corpus_date="2015-02-30")
    proc = run_cli_here("scan", index.path, posts, "-o", tmp_path / "out", "--corpus-date", "March", "-q")
    assert proc.returncode == 2 and proc.stderr.startswith("error: corpus_date (--corpus-date) must be a date")


def test_posts_too_common_to_attribute_hold_no_keys(tmp_path: Path) -> None:
    texts = pl.read_csv(POSTS_CSV, infer_schema=False)["text"].to_list()
    bits = span_bits(default_background(), texts)
    tokens = np.array([len(t) for t in texts])  # (an empty post is empty, not unattributable)
    index = api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id")
    flagged = (index.post_flags & UNATTRIBUTABLE) != 0
    expected = (bits < IndexParams().min_post_bits) & (index.post_kind == 1) & (tokens > 0)  # (short posts only)
    assert flagged.sum() > 20 and np.array_equal(flagged, expected)
    posts = np.flatnonzero(flagged)
    assert not np.isin(index.key_posts, posts).any()  # no shingle key, exact key or head leads to them
    assert not np.isin(index.short_posts, posts).any()
    assert index.posts["head_key"].to_numpy()[posts].max() == 0
    assert index.manifest["counts"]["unattributable_posts"] == flagged.sum()
    kept = api.build_index([POSTS_CSV], tmp_path / "kept", id_field="tweet_id", params=IndexParams(min_post_bits=0))
    assert kept.manifest["counts"]["unattributable_posts"] == 0
    assert len(kept.short_keys) + len(kept.short_heads) + kept.manifest["counts"]["keys"] >= \
        len(index.short_keys) + len(index.short_heads) + index.manifest["counts"]["keys"] + flagged.sum() // 2
    # a document holding them whole: found with every post kept (and judged weak), never found otherwise
    common = [texts[i] for i in posts if len(texts[i].split()) >= 2][:20]
    doc = _doc(*common)
    found = api.scan_texts(kept, [doc]).matches
    assert found.height >= 3 and set(found["why_not"].to_list()) <= {"weak", "shared", "chance", "inline"}
    ids = index.posts["post_id"].to_numpy()
    assert set(found["post_id"].to_list()) <= set(ids[posts].tolist())
    result = api.scan_texts(index, [doc])
    assert result.matches.height == 0
    assert result.summary["posts_unattributable"] == flagged.sum()


def test_sharded_index_keeps_the_facts_and_judges_alike(tmp_path: Path) -> None:
    one = api.build_index([POSTS_CSV], tmp_path / "one", id_field="tweet_id", date_field="tweet_created")
    sharded = api.build_index([POSTS_CSV], tmp_path / "sharded", id_field="tweet_id", date_field="tweet_created",
                              shards=3)
    assert np.array_equal(sharded.post_flags, one.post_flags) and np.array_equal(sharded.post_date, one.post_date)
    assert sharded.manifest["counts"] == one.manifest["counts"]
    texts = pl.read_csv(POSTS_CSV, infer_schema=False)["text"].to_list()
    docs = [_doc(*texts[i : i + 40]) for i in range(0, 3000, 40)]
    params = ScanParams(corpus_date="2015-02-20", max_span_docs=0)
    a, b = api.scan_texts(one, docs, params=params), api.scan_texts(sharded, docs, params=params)
    assert a.matches.equals(b.matches)
    reasons = a.summary["significance"]["not_counted"]
    assert reasons["newer"] > 100, reasons
    # (every post is in the documents whole: the ones that quote someone count too)
    assert a.matches.filter(pl.col("post_quoted") & pl.col("why_not").is_null()).height > 5


def test_verify_checks_the_dates_and_quotation_flags(dated, tmp_path: Path) -> None:
    from provenance.results.evidence import repin_results, verify
    from provenance.results.significance import JUDGED, judge

    index, _ = dated
    corpus = _jsonl(tmp_path / "corpus.jsonl", [{"id": "a", "text": _doc(QUOTED_WORDS, OWN, LATE), "published": "2015-03-01"},
                                                {"id": "b", "text": _doc(LATE)}])
    params = ScanParams(doc_date_field="published", corpus_date="2015-04-01")
    out = tmp_path / "out"
    result = api.scan(index, [corpus], out, params=params)
    assert sorted(result.matches["why_not"].fill_null("").to_list()) == ["", "", "newer", "quoted"]
    assert verify(out, inputs=[tmp_path]).problems == []
    words = result.summary["words_scanned"]
    for column, value in (("post_quoted", False), ("doc_date", None), ("post_date", None)):
        forged = result.matches.with_columns(pl.lit(value, result.matches.schema[column]).alias(column))
        forged = judge(forged.drop(JUDGED), params, index.n_posts, words)  # (judged again, as a forger would)
        forged.write_parquet(out / "matches.parquet")
        repin_results(out)
        problems = [p.message for p in verify(out, inputs=[tmp_path]).problems]
        assert any("is not what a new scan finds" in p for p in problems), (column, problems)


@pytest.mark.parametrize("keyed", [False, True])
def test_the_build_weighs_the_short_posts_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keyed: bool) -> None:
    # Only a short post's bits decide anything (unattributable, matched inside a sentence): the build
    # weighs their words, not every post's, and the flags and head keys are those of every post weighed.
    from provenance.text.background import Background

    weighed: list[int] = []
    bits = Background.bits
    monkeypatch.setattr(Background, "bits", lambda self, h, *a, **k: weighed.append(len(h)) or bits(self, h, *a, **k))
    key = bytes(range(32)) if keyed else None
    index = api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id", key=key)
    monkeypatch.setattr(Background, "bits", bits)
    short = index.post_kind == 1
    assert short.sum() > 100 and sum(weighed) == int(index.post_tokens[short].sum())
    texts = pl.read_csv(POSTS_CSV, infer_schema=False)["text"].to_list()
    whole = span_bits(default_background(), texts)
    p = IndexParams()
    assert np.array_equal((index.post_flags & UNATTRIBUTABLE) != 0, short & (whole < p.min_post_bits))
    inline = short & (whole >= p.inline_short_bits) & (index.post_tokens >= p.ngram)
    assert inline.sum() > 5 and np.array_equal(index.posts["head_key"].to_numpy() != 0, inline)
