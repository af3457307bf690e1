"""Tests of the planted-accuracy section: the planting library (benchmarks/plant.py) and the scoring and the
quick run of benchmarks/accuracy.py. Everything here uses the repository's fixtures, never the shared data."""

from __future__ import annotations

import gzip
import html
import json
import random
import re
from pathlib import Path

import polars as pl
import pytest

from benchmarks import accuracy as acc
from benchmarks import plant
from benchmarks.common import Context
from provenance.demo import check_against_truth

FIX = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def fixture_set() -> plant.PlantedSet:
    return plant.load_fixture_set(FIX)


@pytest.fixture(scope="module")
def source_docs() -> list[plant.Doc]:
    """The unplanted fixture documents (fixtures/corpus)."""
    docs = []
    for name, prefix in (("wikinews", "wn-"), ("wikipedia", "wp-")):
        with gzip.open(FIX / "corpus" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                docs.append(plant.Doc(prefix + rec["id"], name, rec["title"], rec["text"]))
    return docs


@pytest.fixture(scope="module")
def sample_posts(fixture_set: plant.PlantedSet) -> list[plant.Post]:
    """A fixed sample of real posts (every 25th fixture post) plus a few hand-made ones."""
    extra = [plant.Post("x1", 'She said "no way" & I\'m done, it\'s over <3', "test"),
             plant.Post("x2", "@user @other Reply with mentions and words in the middle of it", "test"),
             plant.Post("x3", "Sentence one is here. Sentence two follows it closely now.", "test")]
    return fixture_set.posts[::25] + extra


@pytest.fixture(scope="module")
def small_config() -> plant.PlantConfig:
    return plant.PlantConfig(seed=7, per_edit=4, n_entity=3, n_stock=3)


@pytest.fixture(scope="module")
def planted(fixture_set: plant.PlantedSet, source_docs: list[plant.Doc],
            small_config: plant.PlantConfig) -> plant.PlantedSet:
    return plant.build_planted_set(fixture_set.posts, source_docs, small_config)


# ----------------------------------------------------------------------------------------- edits


def test_light_edits_keep_every_token(sample_posts: list[plant.Post]) -> None:
    rng = random.Random(1)
    for edit in plant.LIGHT_EDITS:
        if edit == "timeline":
            continue
        for p in sample_posts:
            if not plant.eligible(edit, p.text):
                continue
            out = plant.apply_edit(edit, p, rng)
            if edit != "verbatim":
                assert out != p.text, (edit, p.text)
            want = plant.tokens(p.text)
            got = plant.tokens(out)
            if edit == "embed":
                got = got[: len(want)]
            assert got == want, (edit, p.text, out)


def test_heavy_edits_change_words(sample_posts: list[plant.Post]) -> None:
    rng = random.Random(2)
    for p in sample_posts:
        words = p.text.split()
        if plant.eligible("substitute", p.text):
            out = plant.edit_substitute(p.text, rng)
            new = out.split()
            assert len(new) == len(words) and new[0] == words[0] and new[-1] == words[-1]
            assert 1 <= sum(a != b for a, b in zip(words, new)) <= 3
        if plant.eligible("delete", p.text):
            out = plant.edit_delete(p.text, rng)
            assert 1 <= len(words) - len(out.split()) <= 3
            assert out.split()[0] == words[0] and out.split()[-1] == words[-1]
            assert len(plant.tokens(out)) < len(plant.tokens(p.text))
        if plant.eligible("truncate", p.text):
            out = plant.edit_truncate(p.text, rng)
            assert out.endswith("…") and p.text.startswith(out[:-1])
            assert 0.5 <= (len(out) - 1) / len(p.text) <= 0.9


def test_specific_edits_do_what_they_say() -> None:
    rng = random.Random(3)
    text = 'We "love" this & that, don\'t we? More words here to split apart later on.'
    assert plant.edit_rt_prefix(text, rng).startswith("RT @") and plant.edit_rt_prefix(text, rng).endswith(text)
    assert plant.edit_case(text, rng) in (text.lower(), text.upper(), text.title())
    for _ in range(6):
        out = plant.edit_html_entities(text, rng)
        assert any(m in out for m in ("&quot;", "&#39;", "“", "’", "&#8220;", "&#8217;")) and "&amp;" in out
        assert "&amp;" not in plant.edit_html_entities("a &amp; b 'c'", rng).replace("&amp;", "", 1)
    url = plant.edit_url_noise(text, rng)
    assert url.startswith(text) and re.search(r" https://t\.co/\w{10}$", url)
    emo = plant.edit_emoji(text, rng)
    assert any(e in emo for e in plant.EMOJI) and not any(e in text for e in plant.EMOJI)
    lb = plant.edit_linebreaks(text, rng)
    assert 1 <= lb.count("\n") <= 2 and lb.replace("\n", " ") == text
    sp = plant.edit_split(text, rng)
    assert sp.count("\n\n") == 1 and "\n\n" not in text
    two = "First sentence here. Second one there."
    assert plant.edit_split(two, rng) == "First sentence here.\n\nSecond one there."
    emb = plant.edit_embed(text, rng, author="someone", created="2015-02-24 11:35:52 -0800")
    assert emb.startswith(text) and re.search(r"\n— [A-Z]\w+ [A-Z]\w+ \(@someone\) February 24, 2015$", emb)
    assert re.search(r"\n— .+ \(@\w+\) [A-Z][a-z]+ \d{1,2}, \d{4}$", plant.edit_embed(text, rng))
    men = plant.edit_mentions(text, rng)
    assert men.count("@") > text.count("@")
    outs = {plant.edit_mentions("@a @b hello there my friend", random.Random(i)) for i in range(20)}
    assert "hello there my friend" in outs  # the post's own mentions removed (one of the variants)
    assert html.unescape(plant.edit_html_entities("it's \"x\"", random.Random(4))).count("&") == 0


def test_timeline_block_spans() -> None:
    texts = ["first post here", "second one", "third and last"]
    block, spans = plant.timeline_block(texts, random.Random(0))
    assert [block[s:e] for s, e in spans] == texts
    assert block.replace("\n\n", "\n").split("\n") == texts


# ----------------------------------------------------------------------------------------- planting


def test_insert_all_and_remove() -> None:
    text = "Para one. Next sentence.\nPara two is here. Another One.\nEnd."
    b = plant.boundaries(text)
    assert (text.index("Para two"), "para") in b and (text.index("Next"), "sent") in b
    ins = [plant.Insert(text.index("Para two"), "para", "POST A", [(0, 6, {"id": "a"})]),
           plant.Insert(text.index("Next"), "sent", "X\nY", [(0, 1, {"id": "x"}), (2, 3, {"id": "y"})])]
    new, spans, extents = plant.insert_all(text, ins)
    assert [new[s["start"]:s["end"]] for s in spans] == ["X", "Y", "POST A"]
    assert plant.remove_extents(new, extents) == text
    assert "sentence.\nPara" not in new and "POST A\nPara two" in new and "X\nY Next" in new


def test_planted_set_offsets_counts_and_restore(planted: plant.PlantedSet, source_docs: list[plant.Doc],
                                                small_config: plant.PlantConfig) -> None:
    docs = {d.id: d.text for d in planted.docs}
    for r in planted.truth.iter_rows(named=True):
        assert docs[r["doc_id"]][r["start"]:r["end"]] == r["planted"]
    for r in planted.hard.iter_rows(named=True):
        assert docs[r["doc_id"]][r["start"]:r["end"]] == r["phrase"]
    counts = dict(planted.truth.group_by("edit").len().iter_rows())
    assert counts == {e: small_config.per_edit for e in plant.EDITS}
    assert planted.truth["post_id"].n_unique() == planted.truth.height
    timeline_blocks = planted.truth.filter(pl.col("edit") == "timeline")["block"].unique()
    assert len(timeline_blocks) == 1  # 4 posts: one block
    # removing every inserted block gives the source documents back
    extents: dict[str, list[tuple[int, int]]] = {}
    for r in planted.inserts.iter_rows(named=True):
        extents.setdefault(r["doc_id"], []).append((r["start"], r["end"]))
    for d in source_docs:
        assert plant.remove_extents(docs[d.id], extents.get(d.id, [])) == d.text
    # hard-negative phrases come from posts that were not planted and are in no planted post
    planted_ids = set(planted.truth["post_id"].to_list())
    assert planted.hard.height >= 1 and not set(planted.hard["post_id"].to_list()) & planted_ids
    texts = {p.id: " " + " ".join(plant.tokens(p.text)) + " " for p in planted.posts}
    for phrase in planted.hard["phrase"].to_list():
        key = " " + " ".join(plant.tokens(phrase)) + " "
        assert not any(key in texts[i] for i in planted_ids)


def test_split_is_one_span_across_a_paragraph_break(planted: plant.PlantedSet) -> None:
    rows = planted.truth.filter(pl.col("edit") == "split")
    assert rows.height and all("\n\n" in t for t in rows["planted"].to_list())


def test_planting_is_deterministic(planted: plant.PlantedSet, fixture_set: plant.PlantedSet,
                                   source_docs: list[plant.Doc], small_config: plant.PlantConfig,
                                   tmp_path: Path) -> None:
    again = plant.build_planted_set(fixture_set.posts, source_docs, small_config)
    a = plant.write_planted_set(planted, tmp_path / "a")
    b = plant.write_planted_set(again, tmp_path / "b")
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    other = plant.build_planted_set(fixture_set.posts, source_docs,
                                    plant.PlantConfig(seed=8, per_edit=4, n_entity=3, n_stock=3))
    assert other.truth["post_id"].to_list() != planted.truth["post_id"].to_list()


def test_near_duplicates_and_natural_filters() -> None:
    texts = ["alpha beta gamma delta epsilon zeta eta theta",    # 0: holds most of post 1
             "alpha beta gamma delta epsilon zeta",              # 1
             "one two three four five six seven eight nine",    # 2: unrelated
             "kappa lambda mu nu xi omicron pi rho sigma"]      # 3: occurs in the document
    vocab = plant.Vocab()
    codes = [sorted(set(plant.Vocab.grams(vocab.encode(t.split())))) for t in texts]
    n_tok = [len(t.split()) for t in texts]
    assert plant.near_duplicates(codes, n_tok, [0, 2, 3]) == [0]
    doc = "some text kappa lambda mu nu xi omicron and more".split()
    doc_codes = [sorted(set(plant.Vocab.grams(vocab.encode(doc))))]
    assert plant.natural_in_docs(codes, n_tok, [0, 2, 3], doc_codes) == [3]


def test_cut_copy_clash() -> None:
    texts = ["RT if you have ever been let down by a friend you know it", "a completely different post here ok",
             "we all know that if you have ever been let down by a plan"]
    toks = [plant.tokens(t) for t in texts]
    starts = plant.cut_copy_index(toks)
    # the text before "…" copies the start of post 0 (from its second token): post 0 is shown, cut off
    assert plant.cut_copy_clash("we all know that if you have ever been let down by a…", 2, toks, starts)
    assert not plant.cut_copy_clash("we all know that if you have ever been let down by a plan", 2, toks, starts)
    assert not plant.cut_copy_clash("RT if you have ever been let down…", 0, toks, starts)  # its own start
    assert not plant.cut_copy_clash("so if you have ever…", 2, toks, starts)  # fewer than 6 tokens


def test_short_generic_posts() -> None:
    posts = [plant.Post("a", "thank you so much", "t"), plant.Post("b", "never in this corpus at all", "t"),
             plant.Post("c", "Thank you so much!", "t"), plant.Post("d", "hi", "t")]
    docs = [plant.Doc("d1", "x", "", "He said: thank you so much for coming.")]
    assert plant.short_generic_posts(posts, docs) == ["a", "c"]
    assert plant.short_generic_posts(posts, docs, exclude=["a"]) == ["c"]


# ----------------------------------------------------------------------------------------- scoring


def test_heavy_target_scope() -> None:
    post = "one two three four five six seven eight nine ten"
    row = lambda edit, planted: {"group": "heavy", "edit": edit, "planted": planted, "tokens": 10}  # noqa: E731
    assert acc._in_heavy_target(row("substitute", "one two cat four five six dog eight nine ten"), post)
    assert not acc._in_heavy_target(row("substitute", "one cat dog four five six owl eight nine ten"), post)  # 3
    assert acc._in_heavy_target(row("delete", "one two four five six seven eight ten"), post)
    # the word before "…" may be cut: normalization drops it, so it is not kept
    assert acc._in_heavy_target(row("truncate", "one two three four five six seven…"), post)  # 6 of 10 kept
    assert not acc._in_heavy_target(row("truncate", "one two three four five six…"), post)
    assert not acc._in_heavy_target({**row("delete", "one three four five"), "tokens": 5}, "one two three four five")
    assert acc._lcs("a b c d".split(), "a x c d".split()) == 3 and acc._lcs([], ["a"]) == 0


def test_union_length() -> None:
    assert acc.union_length([]) == 0
    assert acc.union_length([(0, 10), (5, 15), (20, 25), (21, 22), (30, 30)]) == 20


def test_score_on_hand_made_tables() -> None:
    docs = {"d1": "x" * 100, "d2": "y" * 100}
    posts = {"p1": "one two three four five six seven", "p2": "a b c", "p3": "w " * 12, "n1": "neg", "n2": "neg2"}
    truth = pl.DataFrame({"post_id": ["p1", "p2", "p3"], "doc_id": ["d1", "d1", "d2"],
                          "edit": ["verbatim", "truncate", "timeline"], "start": [0, 5, 50], "end": [10, 15, 60],
                          "planted": ["x" * 10, "x" * 10, "y" * 10]})
    matches = pl.DataFrame({"doc_id": ["d1", "d2", "d1", "d2"], "post_id": ["p1", "n1", "n2", "p3"],
                            "doc_start": [0, 0, 8, 52], "doc_end": [10, 5, 12, 60],
                            "method": ["containment"] * 4, "containment": [1.0] * 4, "coverage": [1.0] * 4})
    hard = pl.DataFrame({"post_id": ["h"], "doc_id": ["d2"], "phrase": ["yyyyy"], "start": [0], "end": [5],
                         "kind": ["stock"]})
    summary = {"share_chars_matched": 0.12, "matched_chars": 24, "corpus_chars": 200}
    f = acc.score(truth, matches, posts, docs, summary, hard, short_negatives=["n1"])
    assert f["groups"]["all"] == {"planted": 3, "found": 2, "recall": 2 / 3}
    assert f["groups"]["light"]["recall"] == 1.0 and f["groups"]["heavy"]["recall"] == 0.0
    assert f["by_edit"]["truncate"]["found"] == 0
    assert f["by_bucket"]["6-10"]["planted"] == 1 and f["by_bucket"]["<6"]["found"] == 0
    p = f["precision"]
    assert (p["reported_pairs"], p["true_pairs"], p["false_pairs"]) == (4, 2, 2)
    assert p["precision"] == 0.5
    assert p["false_by_kind"] == {"planted_text": 1, "hard_phrase": 1, "original_text": 0}
    assert p["hard_phrases_hit"] == 1 and p["short_generic_reported"] == 1 and p["negative_posts"] == 2
    s = f["share"]
    assert s["true_chars"] == 25 and s["corpus_chars"] == 200  # d1: [0,10) and [5,15) overlap -> 15
    assert s["true_share"] == 0.125 and s["difference_points"] == pytest.approx(-0.5)
    by = {t["target"]: t for t in f["targets"]}
    assert [by[t]["met"] for t in ("recall, light edits", "pair precision")] == [True, False]
    assert by["share of corpus characters, |estimated - true| (points)"]["met"]
    assert f["groups"]["heavy_target"]["planted"] == 0  # p2 is under 6 tokens: out of the heavy target's scope
    assert f["offsets"]["timeline"]["found"] == 1 and f["offsets"]["timeline"]["mean_abs_start"] == 2.0
    assert [m["post_id"] for m in f["misses"]] == ["p2"]


def test_quick_run_agrees_with_the_fixture_truth(tmp_path: Path) -> None:
    section = acc.run(Context(quick=True, work=tmp_path, log=lambda _m: None))
    assert section.title == acc.TITLE
    for heading in ("Targets", "Recall by edit type", "Recall by post length", "Precision",
                    "Share of corpus characters", "Span offsets"):
        assert heading in section.markdown
    data = section.data
    truth = pl.read_csv(FIX / "planted" / "truth.csv", schema_overrides={"post_id": pl.String, "doc_id": pl.String})
    assert data["setup"]["planted_posts"] == truth.height == data["groups"]["all"]["planted"]
    assert sum(v["planted"] for v in data["by_edit"].values()) == truth.height
    assert sum(v["planted"] for v in data["by_bucket"].values()) == truth.height
    matches = pl.read_parquet(tmp_path / "accuracy" / "scan" / "matches.parquet")
    check = check_against_truth(matches, FIX)
    assert data["groups"]["all"]["found"] == check.found
    assert data["precision"]["false_pairs"] == check.false_matches
    by_edit = {e: (planted, found) for e, planted, found, _r in check.by_edit.iter_rows()}
    assert {e: (v["planted"], v["found"]) for e, v in data["by_edit"].items()} == by_edit
    assert data["share"]["corpus_chars"] == data["share"]["summary_corpus_chars"]
    light, heavy, partial, offsets, precision, share = data["targets"]
    assert light["met"] == (light["value"] >= 0.995) and light["value"] == data["groups"]["light"]["recall"]
    assert heavy["value"] == data["groups"]["heavy_target"]["recall"] and heavy["met"] == (heavy["value"] >= 0.95)
    assert partial["value"] == data["partial"]["recall"] and offsets["met"] == (offsets["value"] >= 0.99)
    assert precision["met"] == (precision["value"] >= 0.998) and share["met"] == (share["value"] <= 1.0)
    assert data["natural"] is None
    json.dumps(data)  # JSON-able
