"""The archive-scale benchmark's scoring (benchmarks/archive.py) on a hand-made case: which counted pairs
are correct (planted, the same words as a planted post, a Reddit body holding its own title, judged real),
and recall by post length."""

from __future__ import annotations

import polars as pl

from benchmarks import archive
from benchmarks.common import Context


def test_score_counts_planted_same_text_self_title_and_judged_pairs() -> None:
    posts = pl.DataFrame({"id": ["a", "b", "c", "d", "e"],
                          "text": ["one two three four five six seven", "One two three, four five six seven!",
                                   "a title here", "stock phrase of life", "short one here"]})
    truth = pl.DataFrame({"post_id": ["a", "e"], "doc_id": ["wn-1", "wn-2"], "edit": ["verbatim", "verbatim"],
                          "start": [0, 0], "end": [10, 5], "tokens": [7, 3]})
    rows = [("a", "wn-1", False), ("b", "wn-1", False), ("c", "rs-c", False), ("d", "wn-3", False),
            ("d", "wn-4", False), ("a", "wn-9", True)]
    matches = pl.DataFrame({"post_id": [r[0] for r in rows], "doc_id": [r[1] for r in rows],
                            "generic": [r[2] for r in rows], "evidence_bits": [100.0] * len(rows),
                            "method": ["containment"] * len(rows), "doc_text": ["x"] * len(rows)})
    judged = {("d", "wn-4"): (True, "a real quotation of the post")}
    r = archive.score(matches, truth, posts, judged)
    assert r["counted_pairs"] == 5  # the generic row does not count
    assert (r["planted_found"], r["same_text"], r["self_title"], r["judged_real"]) == (1, 1, 1, 1)
    assert r["correct"] == 4 and r["precision"] == 0.8
    assert [f["post_id"] + "/" + f["doc_id"] for f in r["false_pairs"]] == ["d/wn-3"]
    assert r["recall_all"] == 0.5 and r["recall_10plus"] != r["recall_10plus"]  # no planted post of 10+ tokens: nan
    assert r["by_length"]["6-9"] == {"planted": 1, "found": 1, "reachable": 0}  # (no ceiling given: none counted)


def test_the_section_is_skipped_in_quick_runs(tmp_path) -> None:
    section = archive.run(Context(work=tmp_path, quick=True))
    assert "skipped" in section.markdown


def test_planting_puts_each_post_into_a_document_no_older_than_it() -> None:
    """A copy comes after its original: with document dates known, no planted post is newer than the document
    that holds it (the scan would set such a pair apart as ``newer``), and undated documents take any post."""
    from benchmarks import plant

    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november".split()
    posts = pl.DataFrame({"id": [f"p{i}" for i in range(120)],
                          "text": [" ".join(words[(i + j) % len(words)] for j in range(6 + i % 7)) + f" w{i}"
                                   for i in range(120)],
                          "created": [f"20{10 + i % 4}-0{1 + i % 9}-1{i % 10}" for i in range(120)],
                          "source": ["reddit"] * 120})
    para = "This is a sentence of the page. Here is another one that goes on. \n\n"
    docs = {name: [plant.Doc(f"{name}-{i}", name, "t", para * 6) for i in range(300)] for name in archive.CORPORA}
    dates = {d.id: f"20{10 + i % 4}-06-15" for i, d in enumerate(docs["selftext"])}
    dates |= {d.id: "2011-01-01" for d in docs["wikinews"]}  # older than most posts
    _, truth = archive.plant_copies(posts, docs, per_edit=2, doc_share=0.2, seed=3, dates=dates)
    created = dict(zip(posts["id"], posts["created"]))
    placed = [(created[p], dates.get(d)) for p, d in zip(truth["post_id"], truth["doc_id"])]
    assert truth.height >= 20
    assert all(day is None or post <= day for post, day in placed)
    assert any(day is not None and post < day for post, day in placed)  # dated documents do get copies
    assert any(day is None for _, day in placed)  # and undated ones (wikipedia here) too


def test_a_post_reaches_the_bar_only_with_enough_evidence_bits() -> None:
    """The ceiling of recall: a long post of rare words carries the bits of a 50-bit bar, a stock phrase does
    not, and a corpus with a higher bar asks more of the same post."""
    posts = pl.DataFrame({"id": ["rare", "stock"],
                          "text": ["Zanzibar quokkas juggled fluorescent marmalade beside Kilimanjaro's xylophone museum",
                                   "thank you so much"]})
    truth = pl.DataFrame({"post_id": ["rare", "stock", "rare"], "doc_id": ["wn-1", "wn-2", "rs-3"]})
    reach = archive.reach_the_bar(truth, posts, {"wikinews": 50.0, "selftext": 5000.0})
    assert reach.to_list() == [True, False, False]
