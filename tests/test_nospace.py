"""Text in scripts written without spaces (Japanese, Chinese, Thai ...) is tokenized as overlapping
character bigrams (provenance.text.nospace), so that a post is found inside a page of such text,
with exact character offsets, in the reference normalizer and in the vectorized batch path alike.

Real text: fixtures/cjk (Botchan and 狂人日记, public domain; see fixtures/README.md). Before
bigrams, a Japanese or Chinese post between two punctuation marks was one token: never found inside
a longer run of a page, and a whole-record match counted 24 bits, below --min-evidence-bits.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from provenance import api
from provenance.params import IndexParams, ScanParams

from provenance.text.background import NOSPACE_CHAR_BITS, default_background, span_bits
from provenance.text.normalize import TOKEN_RE, normalize
from provenance.text.nospace import split_nospace
from provenance.text.offsets import token_spans, token_spans_many, tokenize_with_offsets
from provenance.text.shingles import TokenHasher, batch_shingles
from provenance.text.vectorized import normalize_buffer, tokenize
from tests.conftest import FIX, POSTS_CSV
from tests.test_properties import props

CJK = FIX / "cjk"
JA_PAGE = (CJK / "ja_botchan.txt").read_text(encoding="utf-8")
ZH_PAGE = (CJK / "zh_kuangren.txt").read_text(encoding="utf-8")
with open(CJK / "posts.csv", encoding="utf-8", newline="") as _f:
    POSTS = {r["post_id"]: r["text"] for r in csv.DictReader(_f)}


def toks(text: str) -> list[str]:
    return TOKEN_RE.findall(normalize(text))


# ------------------------------------------------------------------------------------------ tokens


@pytest.mark.parametrize("text, tokens", [
    ("東京に行った", ["東京", "京に", "に行", "行っ", "った"]),
    ("日", ["日"]),  # a run of one character is a token of its own
    ("東京、大阪", ["東京", "大阪"]),  # punctuation ends a run: no bigram across it
    ("第3回", ["第", "3", "回"]),  # digits and other scripts end a run too
    ("iPhoneを買った", ["iphone", "を買", "買っ", "った"]),
    ("コーヒー", ["コー", "ーヒ", "ヒー"]),  # the prolonged sound mark is part of the word
    ("ｺｰﾋｰ", ["コー", "ーヒ", "ヒー"]),  # half-width kana fold to full-width
    ("令和は㋿", ["令和", "和は", "は令", "令和"]),  # a square era name folds to its two ideographs
    ("今天晚上，很好的月光。", ["今天", "天晚", "晚上", "很好", "好的", "的月", "月光"]),
    ("ภาษาไทย", ["ภา", "าษ", "ษา", "าไ", "ไท", "ทย"]),
    ("한국어 텍스트", [normalize("한국어"), normalize("텍스트")]),  # Hangul keeps its words
    ("plain English, as before", ["plain", "english", "as", "before"]),
])
def test_runs_become_overlapping_bigrams(text: str, tokens: list[str]) -> None:
    assert toks(text) == tokens
    assert [w for ws in _fast_tokens([text]) for w in ws] == tokens


@pytest.mark.parametrize("text, tokens", [
    ("見てねhttps://t.co/abc", ["見て", "てね"]),  # a URL right after Japanese is a URL
    ("こんにちは@taro_1さん", ["こん", "んに", "にち", "ちは", "さん"]),  # a mention's name ends at the kana
    ("今日は楽しかった…", ["今日", "日は", "は楽", "楽し", "しか", "かっ", "った"]),  # "…" cuts no Japanese word
    ("日本abc...", ["日本"]),  # but a Latin word before it still is a cut word
    ("RT @user: 日本語", ["日本", "本語"]),
])
def test_spans_next_to_scripts_without_spaces(text: str, tokens: list[str]) -> None:
    assert toks(text) == tokens
    assert [w for ws in _fast_tokens([text]) for w in ws] == tokens


def _fast_tokens(batch: list[str]) -> list[list[str]]:
    t = tokenize(normalize_buffer(batch))
    words = t.words()
    return [words[a:b] for a, b in zip(t.text_offsets[:-1].tolist(), t.text_offsets[1:].tolist())]


_NOSPACE_TEXT = st.lists(st.sampled_from(
    ["日", "本", "語", "の", "コー", "ヒー", "ไทย", "々", "㍻", "ｶﾞ", "𠀋", "a", "B9", "_", "é", "가", " ", "\n", "。", "、",
     "…", "...", "@x", "http://t.co/a", "&amp;", "&#26085;", "\u3000", "\ud800"]), max_size=25).map("".join)


@props(400)
@given(st.lists(_NOSPACE_TEXT, min_size=1, max_size=6))
@example(["日本", "語", ""])  # texts meeting run to run at the edges of the batch
@example(["a日", "本b", "日本語"])
def test_the_vectorized_path_gives_the_reference_tokens_and_offsets(batch: list[str]) -> None:
    assert _fast_tokens(batch) == [toks(t) for t in batch]
    fast = batch_shingles(batch, 3, TokenHasher(0), lines=True)
    ref = batch_shingles(batch, 3, TokenHasher(0), lines=True, vectorized=False)
    for name in ("hashes", "offsets", "n_tokens", "token_hashes", "line_starts", "nospace"):
        assert np.array_equal(getattr(fast, name), getattr(ref, name)), name
    for t, (starts, ends) in zip(batch, token_spans_many(batch)):
        ref_starts, ref_ends = token_spans(t)
        assert starts.tolist() == ref_starts.tolist() and ends.tolist() == ref_ends.tolist()
    for t in batch:
        once = normalize(t)
        assert normalize(once) == once and split_nospace(once) == once


def test_real_pages_give_the_reference_tokens_and_exact_offsets() -> None:
    for page in (JA_PAGE, ZH_PAGE):
        tk = tokenize_with_offsets(page)
        assert _fast_tokens([page, "x"])[0] == tk.words == toks(page)
        assert len(tk.words) > 300
        for word, s, e in zip(tk.words, tk.starts.tolist(), tk.ends.tolist()):
            # Each token comes from as many characters as it has (folding only drops voicing marks:
            # "で" is "て" + U+3099, on both sides of a comparison alike), which normalize to it alone.
            assert e - s == len(word) and toks(page[s:e]) == [word]
        starts, ends = token_spans_many([page])[0]
        assert starts.tolist() == tk.starts.tolist() and ends.tolist() == tk.ends.tolist()


# ------------------------------------------------------------------------------- whole scans


def _plant(page: str, post: str, after: str) -> tuple[str, int]:
    """``page`` with ``post`` inserted right after the sentence that ends with ``after``."""
    at = page.index(after) + len(after)
    return page[:at] + post + page[at:], at


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("nospace")
    posts = tmp / "posts.csv"
    with open(POSTS_CSV, encoding="utf-8", newline="") as f:
        latin = [(r["tweet_id"], r["text"]) for r, _ in zip(csv.DictReader(f), range(300))]
    with open(posts, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["post_id", "text"])
        w.writerows(list(POSTS.items()) + latin)
    ja, ja_at = _plant(JA_PAGE, POSTS["ja-letter"], "別段深い理由でもない。")
    zh, zh_at = _plant(ZH_PAGE, POSTS["zh-suspicion"], "我怕得有理。")
    corpus = tmp / "corpus.jsonl"
    docs = [{"id": "ja-page", "text": ja}, {"id": "zh-page", "text": zh},
            {"id": "latin", "text": "A page in English. " + latin[0][1] + " The end."}]
    corpus.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    index = api.build_index([posts], tmp / "index", id_field="post_id")
    res = api.scan(index, [corpus], tmp / "out", id_field="id")
    return res, {"ja-page": ja, "zh-page": zh}, {"ja-letter": ("ja-page", ja_at), "zh-suspicion": ("zh-page", zh_at)}


def test_a_japanese_and_a_chinese_post_are_found_inside_a_page_with_exact_offsets(scanned) -> None:
    res, pages, planted = scanned
    rows = {(r["post_id"], r["doc_id"]): r for r in res.matches.iter_rows(named=True)}
    for post_id, (doc_id, at) in planted.items():
        r = rows[(post_id, doc_id)]
        post = POSTS[post_id]
        # The span runs from the post's first character to its last word character (the final
        # "。" is no token): exactly the planted text, less its closing punctuation.
        assert (r["doc_start"], r["doc_end"]) == (at, at + len(post) - 1), post_id
        assert pages[doc_id][r["doc_start"] : r["doc_end"]] == post[:-1] == r["doc_text"]
        assert r["containment"] == 1.0 and r["coverage"] == 1.0
        assert r["placement"] == "unit"  # right after a "。": a sentence of its own
        assert not r["generic"] and r["evidence_bits"] >= 35
    # Sentences of the pages themselves, indexed as posts, are found where they are.
    for post_id, doc_id in (("ja-chestnut", "ja-page"), ("zh-sleepless", "zh-page")):
        r = rows[(post_id, doc_id)]
        post = POSTS[post_id]
        assert pages[doc_id][r["doc_start"] : r["doc_end"]] == post[:-1]
        assert r["doc_start"] == pages[doc_id].index(post)
        assert r["placement"] == "unit" and not r["generic"]
    # Phrases quoted from inside a sentence (one token each, before bigrams: never found). Found; they
    # start in the middle of a sentence, which the significance test weighs (placement "inline").
    for post_id, doc_id in (("ja-phrase", "ja-page"), ("zh-phrase", "zh-page")):
        r = rows[(post_id, doc_id)]
        post = POSTS[post_id]
        assert (r["doc_start"], r["doc_end"]) == (pages[doc_id].index(post), pages[doc_id].index(post) + len(post))
        assert r["containment"] == 1.0 and r["placement"] == "inline"
    # Sentences of the same books that are in neither page, and the pages' shared bigrams, match nothing.
    found = {p for p, _ in rows}
    assert not found & {"ja-absent", "zh-absent", "zh-threshold"}
    assert {d for p, d in rows if p in POSTS} <= {"ja-page", "zh-page"}


def test_a_short_japanese_post_matched_whole_counts(scanned, tmp_path: Path) -> None:
    """A record that is exactly a one-sentence post: one token and 24 bits (generic) before bigrams;
    now 10 bigram tokens, 40 bits."""
    res, _, _ = scanned
    index = Path(res.summary["index"]["path"])
    post = POSTS["ja-chestnut"]
    m = api.scan_texts(index, [post, "　" + post + "\n"]).matches
    assert m["post_id"].to_list() == ["ja-chestnut", "ja-chestnut"]
    assert m["evidence_bits"].to_list() == [10 * NOSPACE_CHAR_BITS] * 2 and not m["generic"].any()


def test_a_keyed_index_weighs_bigrams_alike(scanned, tmp_path: Path) -> None:
    """Under a key the scan weighs spans from their text (span_bits): the same bits as unkeyed."""
    res, pages, _ = scanned
    posts = tmp_path / "posts.csv"
    with open(posts, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["post_id", "text"], *POSTS.items()])
    keyed = api.build_index([posts], tmp_path / "idx", id_field="post_id", key=bytes(range(32)))
    got = api.scan_texts(keyed, [pages["ja-page"], pages["zh-page"]], ids=["ja-page", "zh-page"],
                         key=bytes(range(32))).matches
    plain = res.matches.filter(res.matches["doc_id"] != "latin")
    pairs = lambda m: sorted(zip(m["post_id"], m["doc_start"], m["doc_end"], m["evidence_bits"]))  # noqa: E731
    assert pairs(got) == pairs(plain) and len(pairs(got)) == 6


def test_latin_text_is_found_as_before(scanned) -> None:
    res, _, _ = scanned
    latin = [r for r in res.matches.iter_rows(named=True) if r["doc_id"] == "latin"]
    assert len(latin) == 1 and latin[0]["containment"] == 1.0


def test_japanese_and_chinese_sentences_start_units() -> None:
    """A span right after "。", "！", "？" (or an opening "「" after one) starts a sentence (placement
    "unit"), as after ". "; after "、" or "，" it is inside one."""
    from provenance.text.offsets import starts_unit

    for page in (JA_PAGE, ZH_PAGE):
        assert starts_unit(page, 0) and starts_unit(page, 1)  # the text, after its ideographic space
    assert starts_unit(JA_PAGE, JA_PAGE.index("小学校に居る時分"))  # after "。"
    assert not starts_unit(JA_PAGE, JA_PAGE.index("同級生の一人が"))  # after "、"
    assert not starts_unit(JA_PAGE, JA_PAGE.index("二階から首を"))  # mid-sentence
    assert starts_unit(ZH_PAGE, ZH_PAGE.index("那时候"))  # after "？"
    assert not starts_unit(ZH_PAGE, ZH_PAGE.index("全是发昏"))  # after "，"
    assert starts_unit("彼は言った。「今日は晴れ」", 7)  # a quotation after a sentence


# ------------------------------------------------------------------------------- evidence bits


def test_bigram_tokens_count_their_characters_not_an_unseen_word_each() -> None:
    """The bundled model knows English: each bigram token counts NOSPACE_CHAR_BITS, so a span's
    bits grow with its characters, and a real post of a few dozen characters is not generic."""
    bg = default_background()
    post = POSTS["ja-letter"]
    bits = span_bits(bg, [post, "日本", "東京に行った", "the flight was delayed"])
    n = len(toks(post))
    assert bits[0] == pytest.approx(n * NOSPACE_CHAR_BITS)
    assert bits[1] == pytest.approx(NOSPACE_CHAR_BITS) and bits[2] == pytest.approx(5 * NOSPACE_CHAR_BITS)
    assert bits[3] == pytest.approx(float(bg.bits(*_plain("the flight was delayed"))[0]))  # English as before
    assert bits[0] > 35


def _plain(text: str):
    sb = batch_shingles([text], 1, TokenHasher(0))
    return sb.token_hashes, sb.token_offsets


def test_index_format_and_normalization_name_changed() -> None:
    """Indexes built before hold other tokens for such text: they are refused, not silently wrong."""
    from provenance.index.format import FORMAT_VERSION
    from provenance.text.normalize import NORMALIZATION

    assert FORMAT_VERSION >= 12 and NORMALIZATION == "provenance-normalize/3"
    assert IndexParams().short_tokens == 6 and ScanParams().min_evidence_bits == 35.0
