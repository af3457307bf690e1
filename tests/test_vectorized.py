"""The vectorized text stage (provenance.text.vectorized) against the reference normalizer.

The scan's fast path is only allowed to be faster: for every text, the tokens, token hashes, shingles
and line starts must be those of the per-document reference (``normalize`` + ``TOKEN_RE``), so that
no match the reference finds can be lost. Checked on every code point, on real text, and with
hypothesis on texts built from every normalization case (entities, nested entities, diacritics,
compatibility forms, URLs, mentions, RT prefixes, emoji, "…", Hangul, line breaks), in batches whose
texts meet at their edges; then through whole scans, whose outputs must be byte-identical.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import xxhash
from hypothesis import example, given
from hypothesis import strategies as st

from provenance.io.records import replace_surrogates
from provenance.text.normalize import TOKEN_RE, fold_text, normalize
from provenance.text.shingles import TokenHasher, batch_shingles
from provenance.text.vectorized import fold, normalize_buffer, to_buffer, tokenize
from tests.conftest import PLANTED, POSTS_CSV
from tests.test_properties import _SPECIAL, _SYNTAX, _WORDS, fragment, props, texts


def reference_tokens(text: str) -> list[str]:
    return TOKEN_RE.findall(normalize(text))


def fast_tokens(batch: list[str]) -> list[list[str]]:
    toks = tokenize(normalize_buffer(batch))
    words = toks.words()
    return [words[a:b] for a, b in zip(toks.text_offsets[:-1].tolist(), toks.text_offsets[1:].tolist())]


def assert_same_shingles(batch: list[str], n: int = 3, lines: bool = True, seed: int = 0) -> None:
    fast = batch_shingles(batch, n, TokenHasher(seed), lines=lines)
    ref = batch_shingles(batch, n, TokenHasher(seed), lines=lines, vectorized=False)
    for name in ("hashes", "offsets", "n_tokens", "token_hashes", "line_starts"):
        a, b = getattr(fast, name), getattr(ref, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.dtype == b.dtype and np.array_equal(a, b), name


# ------------------------------------------------------------------------------------------ fold


def test_fold_of_every_code_point_is_the_reference_fold() -> None:
    """Every code point but the surrogates (no UTF-8 holds them), as one text and as many short
    ones: shrinking (é), growing (Hangul syllables, ﷺ) and vanishing (marks, soft hyphen) foldings
    all meet ASCII and each other."""
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    folded = fold(to_buffer([everything]))
    assert folded.text(0) == fold_text(everything)
    pieces = [everything[i : i + 97] + "AbC" for i in range(0, len(everything), 97)]
    folded = fold(to_buffer(pieces))
    assert [folded.text(j) for j in range(len(pieces))] == [fold_text(p) for p in pieces]


@props(300)
@given(st.lists(st.text(st.characters(codec="utf-8"), max_size=40), max_size=8))
@example(["가각", "", "ﷺ", "é" * 3, "ABC"])
@example(["", "", "가"])
def test_fold_of_any_batch(batch: list[str]) -> None:
    folded = fold(to_buffer(batch))
    assert len(folded.offsets) == len(batch) + 1
    assert [folded.text(j) for j in range(len(batch))] == [fold_text(t) for t in batch]
    assert not folded.data[folded.size :].any()  # the padding stays zero


# ---------------------------------------------------------------------------------------- tokens


batches = st.lists(texts, min_size=1, max_size=6)
# Texts of one word each, so that texts meet word to word at every edge of the batch.
glued = st.lists(st.sampled_from(_WORDS + _SPECIAL + _SYNTAX), min_size=1, max_size=12)


@props(600)
@given(batches)
@example(["abc", "def"])
@example(["abc\n", "\ndef", ""])
@example(["&amp;lt;", "@bob@alice hi", "gre… x", "RT @a: b", "http://t.co/x y"])
@example(["\ud800abc", "x"])  # a lone surrogate: the batch takes the reference path
@example(["가나다 라", "ﬁne café", "cafe\u0301 ok"])
@example(["東京に行った", "日", "ab日本語c", "日本", "語x", "0&#4096;", "見てねhttps://t.co/x ok", "@taro日本 楽しかった…"])
def test_tokens_are_the_reference_tokens(batch: list[str]) -> None:
    assert fast_tokens(batch) == [reference_tokens(t) for t in batch]


@props(400)
@given(batches, st.sampled_from([1, 2, 3, 5]), st.booleans())
@example(["a b c\nd e f", "g h\n\ni j k"], 3, True)
@example(["", "x y z", ""], 2, True)
def test_shingles_and_line_starts_are_the_reference_ones(batch: list[str], n: int, lines: bool) -> None:
    assert_same_shingles(batch, n, lines)


@props(200)
@given(glued)
def test_texts_meeting_word_to_word_stay_apart(batch: list[str]) -> None:
    assert fast_tokens(batch) == [reference_tokens(t) for t in batch]
    assert_same_shingles(batch, 2)


def test_real_posts_and_documents_give_the_reference_shingles() -> None:
    """3,000 real tweets and the 500 planted real documents (Wikinews, Wikipedia)."""
    import polars as pl

    posts = pl.read_csv(POSTS_CSV)["text"].to_list()
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        docs = [json.loads(line)["text"] for line in f]
    for batch in (posts[:1500], posts[1500:], docs[:250], docs[250:]):
        assert_same_shingles(batch)
        assert_same_shingles(batch, lines=False)


def test_texts_that_need_the_reference_are_finished_by_it() -> None:
    """Entities, spans and cut words change tokens: the buffer path must give what normalize gives."""
    batch = ["Fish &amp; chips", "RT @united: late again", "see https://t.co/abc now", "so gre… more",
             "plain words only", "&#64;bob hi", "www.example.com here", "a...b", "pic.twitter.com/xyz ok"]
    out = normalize_buffer(batch)
    assert [out.text(j) for j in range(len(batch))] == [normalize(t) for t in batch]


@props(500)
@given(st.lists(texts, min_size=1, max_size=5))
@example(["x...@bob", "rt @a@b: c", "@a.b@c", "www.x http://y.z/a\x1c b", "a@b", "é@b", "t.co/x...y"])
def test_rust_span_pattern_matches_where_the_python_one_does(batch: list[str]) -> None:
    """SPANS_RUST (polars) against _SPANS (re), on the folded texts it is used for: no entity, none
    of the bytes 0x1c-0x1f, no character of a script written without spaces."""
    import polars as pl

    from provenance.text.normalize import SPANS_RUST, _replace_spans
    from provenance.text.nospace import is_nospace

    folded = [f for f in (fold_text(replace_surrogates(t)) for t in batch)
              if "&" not in f and not any("\x1c" <= c <= "\x1f" or is_nospace(c) for c in f)]
    got = pl.Series(folded, dtype=pl.String).str.replace_all(SPANS_RUST, " ").to_list()
    assert got == [_replace_spans(f) for f in folded]


# ----------------------------------------------------------------------------------------- hashes


@props(300)
@given(st.lists(st.text(st.characters(codec="utf-8", categories=["L", "Nd"]), min_size=1, max_size=90), max_size=40),
       st.integers(0, 2**32 - 1))
@example(["a" * 8, "a" * 9, "a" * 64, "a" * 65, "a" * 200, "a"], 0)
def test_token_hashes_are_xxh3_of_the_token_bytes(words: list[str], seed: int) -> None:
    """Tokens of every length: packed (<= 8 bytes), folded words (9-64), xxhash keys (longer)."""
    buf = to_buffer(words)
    got = TokenHasher(seed).hash_tokens(buf.data, buf.offsets[:-1], buf.offsets[1:])
    assert got.tolist() == [xxhash.xxh3_64_intdigest(w.encode("utf-8"), seed) for w in words]


# ---------------------------------------------------------------------------------- whole scans


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_outputs_are_byte_identical_without_the_prefilter(api_index, tmp_path, workers: int) -> None:
    """The planted fixture corpus scanned both ways: the same matches.parquet and summary.json bytes."""
    from provenance import api

    index, _ = api_index
    a = api.scan(index, [PLANTED], tmp_path / "fast", workers=workers)
    b = api.scan(index, [PLANTED], tmp_path / "reference", prefilter=False, workers=workers)
    assert a.matches.height > 100  # the planted posts are there to be found
    for name in ("matches.parquet", "summary.json"):
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name


def test_index_built_from_the_fast_path_is_the_reference_index(tmp_path, monkeypatch) -> None:
    """An index is built through batch_shingles too: its files do not depend on the text path."""
    from provenance import api
    from provenance.text import shingles as shingle
    from provenance.index import prepare as index_module

    fast = api.build_index([POSTS_CSV], tmp_path / "fast", id_field="tweet_id")
    original = shingle.batch_shingles
    monkeypatch.setattr(index_module, "batch_shingles", lambda *a, **k: original(*a, **{**k, "vectorized": False}))
    ref = api.build_index([POSTS_CSV], tmp_path / "reference", id_field="tweet_id")
    assert fast.manifest["files"] == ref.manifest["files"]
