"""The speed benchmark's own pieces: the naive contestant's plain normalization, the floor's tokens and
3-grams, recall and precision, the ratios within rounds, the repeated corpus and the targets table."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from benchmarks import speed


# -- the plain normalization ---------------------------------------------------------------------


def test_plain_tokens_remove_urls_mentions_and_retweet_prefix() -> None:
    text = "RT @some_user: Flight 12 delayed AGAIN https://t.co/AbC123 thanks @united www.example.com/x ok"
    assert speed.plain_tokens(text) == ["flight", "12", "delayed", "again", "thanks", "ok"]


def test_plain_tokens_fold_compatibility_forms_and_case() -> None:
    # NFKC: fullwidth letters and the "ﬁ" ligature; casefold: ß -> ss; \w+ keeps accented letters
    assert speed.plain_tokens("ＷＯＲＬＤ ﬁne Straße Café's") == ["world", "fine", "strasse", "café", "s"]


def test_plain_normalization_is_not_provenance_s() -> None:
    # provenance drops diacritics and unescapes entities; the ten-minute version does neither
    from benchmarks.plant import tokens as provenance_tokens

    assert speed.plain_tokens("café &amp; bar") == ["café", "amp", "bar"]
    assert provenance_tokens("café &amp; bar") == ["cafe", "bar"]


def test_naive_datasketch_rensa_and_the_floor_run_without_provenance(tmp_path: Path) -> None:
    """With ``provenance`` made unimportable, the plain contestants and the floor still run."""
    import subprocess

    posts = _jsonl(tmp_path / "posts.jsonl", [("p1", "the plane was late again today"), ("p2", "x")])
    corpus = _jsonl(tmp_path / "corpus.jsonl", [("d1", "Sadly the plane was late again today.")])
    code = f"""
import sys
from pathlib import Path
sys.modules["provenance"] = None  # any import of provenance now fails
from benchmarks import speed
p, c, w = Path({str(posts)!r}), Path({str(corpus)!r}), Path({str(tmp_path)!r})
assert speed.run_naive(p, c, w)["pairs"] == {{("p1", "d1")}}
assert ("p1", "d1") in speed.run_datasketch(p, c, w)["pairs"]
assert speed.run_floor(p, c, w)["tokens"] == 7
try:
    import rensa
except ImportError:
    pass
else:
    assert ("p1", "d1") in speed.run_rensa(p, c, w)["pairs"]
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(speed.__file__).parents[1], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


def test_plain_shingles_are_word_trigrams() -> None:
    assert speed.plain_shingles("@a One two THREE four") == ["one two three", "two three four"]
    assert speed.plain_shingles("two words") == []


def _jsonl(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in records), encoding="utf-8")
    return path


def test_naive_reports_a_pair_at_half_the_post_s_distinct_trigrams(tmp_path: Path) -> None:
    posts = _jsonl(tmp_path / "posts.jsonl", [
        ("p1", "@united the plane was late again today"),  # 5 distinct 3-grams after the mention goes
        ("p2", "completely different words here now"),
    ])
    corpus = _jsonl(tmp_path / "corpus.jsonl", [
        ("d1", "Yesterday the plane was late again, said nobody."),  # 3 of p1's 5: the plane was/plane was late/was late again
        ("d2", "the plane was on time"),  # 1 of 5
        ("d3", "see https://t.co/x completely different words here now"),
    ])
    res = speed.run_naive(posts, corpus, tmp_path)
    assert res["pairs"] == {("p1", "d1"), ("p2", "d3")}
    assert res["posts"] == 2 and res["docs"] == 3


# -- the floor -----------------------------------------------------------------------------------


def _reference_counts(records: list[tuple[str, str]]) -> dict[str, int]:
    toks = [re.findall(r"\w+", t.lower()) for _, t in records]
    return {"records": len(records), "tokens": sum(map(len, toks)), "shingles": sum(max(0, len(t) - 2) for t in toks)}


RECORDS = [
    ("a", "Hello, World! The quick brown fox — jumps over 2 lazy dogs."),
    ("b", ""),
    ("c", "one two"),
    ("d", "Ünïcödé wörds: naïve café, résumé; über-cool snake_case x1 y2\nnext line here"),
    ("e", "\"quoted\" text with \\ backslash and tab\tend"),
]


def test_the_floor_finds_as_many_tokens_and_trigrams_as_a_reference(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "c.jsonl", RECORDS)
    assert speed.floor_lazy(path) == _reference_counts(RECORDS)
    assert speed.floor_eager(path) == _reference_counts(RECORDS)


def test_the_floor_s_fastest_variant_is_the_contestant() -> None:
    assert speed.FLOOR in speed.FLOOR_VARIANTS
    assert set(speed.NEEDS_PYARROW) <= set(speed.FLOOR_VARIANTS)


def test_the_pyarrow_floor_variants_agree_on_ascii(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    ascii_records = [(i, t) for i, t in RECORDS if t.isascii()]
    path = _jsonl(tmp_path / "c.jsonl", ascii_records)
    assert speed.floor_bytes(path) == _reference_counts(ascii_records)
    assert speed.floor_pyarrow(path) == _reference_counts(ascii_records)


def test_fold_shingles_never_crosses_records() -> None:
    import numpy as np

    h = np.arange(1, 8, dtype=np.uint64)  # records of 3, 1, 3 tokens
    grams = speed.fold_shingles(h, [3, 1, 3])
    assert len(grams) == 2
    whole = speed.fold_shingles(h, [7])
    assert len(whole) == 5 and grams[0] == whole[0] and grams[1] == whole[4]
    # the same three token hashes give the same 3-gram hash, order matters
    assert speed.fold_shingles(np.array([5, 6, 7], np.uint64), [3])[0] == whole[4]
    assert speed.fold_shingles(np.array([7, 6, 5], np.uint64), [3])[0] != whole[4]


def test_floor_bytes_hash_is_equal_for_equal_tokens(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    # "abc abc abc abc" has two 3-grams, equal: the polynomial hash does not depend on the token's position
    import numpy as np

    path = _jsonl(tmp_path / "c.jsonl", [("a", "abc abc abc abc"), ("b", "x abc abc abc")])
    assert speed.floor_bytes(path) == {"records": 2, "tokens": 8, "shingles": 4}


# -- recall, precision, natural occurrences --------------------------------------------------------


def test_score_pairs_on_a_hand_made_case() -> None:
    truth = {("p1", "d1"), ("p2", "d1"), ("p3", "d2"), ("p4", "d3")}
    natural = {("p9", "d5"), ("p8", "d1")}
    found = {("p1", "d1"), ("p3", "d2"),  # 2 of 4 planted
             ("p9", "d5"),  # a natural occurrence: counts against precision, set aside in the other figure
             ("p7", "d2")}  # neither planted nor natural
    s = speed.score_pairs(found, truth, natural)
    assert s["recall"] == pytest.approx(0.5)
    assert s["precision"] == pytest.approx(2 / 4)
    assert s["precision_natural_aside"] == pytest.approx(2 / 3)
    assert (s["reported"], s["true"], s["false"], s["false_natural"]) == (4, 2, 2, 1)


def test_score_pairs_without_pairs() -> None:
    s = speed.score_pairs(set(), {("p", "d")}, set())
    assert s["recall"] == 0.0 and s["precision"] is None and s["precision_natural_aside"] is None


def test_containment_pairs_is_the_naive_rule() -> None:
    posts = [("p1", "a b c d e".split()), ("p2", "x y".split()), ("p3", "a b c".split())]
    docs = [("d1", "z a b c d q".split()), ("d2", "c d e".split())]
    # p1 has 3 distinct 3-grams (abc bcd cde): d1 holds 2 (>= 1.5), d2 holds 1; p2 has none; p3 is in d1
    assert speed.containment_pairs(posts, docs) == {("p1", "d1"), ("p3", "d1")}


def test_natural_pairs_are_found_in_the_documents_before_planting() -> None:
    posts = [("p1", "Thank you so much for your help"), ("p2", "a sentence that is nowhere")]
    docs = [("d1", "He said: thank you so much for your patience."), ("d2", "Nothing here.")]
    assert speed.natural_pairs(posts, docs) == {("p1", "d1")}


def test_cut_spans_restores_the_text_around_planted_strings() -> None:
    text = "Before. PLANTED one. After. HARD. End."
    spans = [(8, 20), (28, 33)]
    assert speed._cut_spans(text, spans) == "Before. \n After. \n End."


def test_repeated_corpus_makes_ids_distinct(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    speed._write_jsonl(corpus, [("d1", "text one"), ("d2", "text \"two\"")])
    out = speed.repeated_corpus(corpus, 3)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["r0-d1", "r0-d2", "r1-d1", "r1-d2", "r2-d1", "r2-d2"]
    assert [r["text"] for r in records] == ["text one", "text \"two\""] * 3


# -- ratios within rounds and the targets ---------------------------------------------------------


def _row(method: str, rnd: int, scan_s: float, build_s: float = 1.0, process_s: float = 2.0, rss: int = 100,
         recall: float = 0.9) -> dict:
    return {"method": method, "round": rnd, "scan_s": scan_s, "build_s": build_s, "process_s": process_s,
            "peak_rss": rss, "mb_s": 10 / scan_s, "docs_s": 100 / scan_s, "posts_s": 50 / build_s, "pairs": 3,
            "recall": recall, "precision": 1.0, "precision_natural_aside": 1.0}


def test_ratios_are_computed_within_each_round() -> None:
    # round 0 is slow for everyone, round 1 fast: per-round ratios are 4 and 2; pooled medians would mislead
    rows = [_row("provenance", 0, 2.0, process_s=4), _row("naive", 0, 8.0, process_s=40),
            _row("provenance", 1, 1.0, process_s=2), _row("naive", 1, 2.0, process_s=8),
            _row("provenance", 2, 1.0, process_s=3), _row("naive", 2, 3.0, process_s=9)]
    assert speed.per_round(rows, "provenance", "naive", speed._speed) == [4.0, 2.0, 3.0]
    assert speed.per_round(rows, "provenance", "naive", speed._per_process) == [10.0, 4.0, 3.0]
    speed_rows, ratios = speed.summarize(rows, ["provenance", "naive"])
    assert ratios == [["naive", 3.0, 2.0, 4.0, 1.0, pytest.approx(2.0), 4.0, 1.0]]
    checks = {c[0]: c for c in speed.checks_rows(rows, ["provenance", "naive"], None, [], "absent")}
    whole = checks["index build + scan / naive (whole processes; goal 8×)"]
    assert whole[2] == "4.00× (3.00–10.00)" and whole[3] == "missed"
    assert checks["outputs byte-identical, prefilter on / off"][3] == "skipped"


def test_targets_met_and_missed() -> None:
    rows = [_row("provenance", 0, 1.0, process_s=1), _row("naive", 0, 6.0, process_s=6, recall=0.95),
            _row("floor", 0, 0.9), _row("provenance-w2", 0, 0.5), _row("datasketch", 0, 50.0, rss=200)]
    memory = {"times": 4, "ratio": 1.4}
    same = [{"round": 0, "prefilter": True}]
    checks = {c[0]: c for c in speed.checks_rows(rows, [r["method"] for r in rows], memory, same, None)}
    assert checks["index build + scan / naive (whole processes; goal 8×)"][3] == "met"
    assert checks["recall of planted pairs, provenance vs naive"][3] == "missed"  # 0.9 < 0.95
    assert checks["scan speed / floor"][2] == "0.90× (0.90–0.90)" and checks["scan speed / floor"][3] == "met"
    assert checks["scan speed, 2 workers / 1"][2].startswith("2.00×") and checks["scan speed, 2 workers / 1"][3] == "met"
    assert checks["scan speed / datasketch"][3] == "missed"
    assert checks["peak RSS / datasketch"][3] == "met"
    assert checks["scan peak RSS, 4× corpus / 1×"][3] == "missed"
    assert checks["outputs byte-identical, prefilter on / off"][2:] == ["1 of 1 rounds", "met"]


def test_the_exact_contestant_follows_the_prefilter_keyword(monkeypatch: pytest.MonkeyPatch) -> None:
    from provenance import api

    def with_keyword(index, corpus, out_dir=None, *, prefilter: bool = True):  # noqa: ANN001
        raise AssertionError

    def without(index, corpus, out_dir=None):  # noqa: ANN001
        raise AssertionError

    monkeypatch.setattr(api, "scan", with_keyword)
    assert speed.available("provenance-exact")
    monkeypatch.setattr(api, "scan", without)
    assert not speed.available("provenance-exact")


def test_same_bytes_compares_both_outputs(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "matches.parquet").write_bytes(b"PAR1")
        (d / "summary.json").write_text("{}")
    assert speed._same_bytes(a, b)
    (b / "summary.json").write_text("{ }")
    assert not speed._same_bytes(a, b)
