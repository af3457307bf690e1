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
    assert r["by_length"]["6-9"] == {"planted": 1, "found": 1}


def test_the_section_is_skipped_in_quick_runs(tmp_path) -> None:
    section = archive.run(Context(work=tmp_path, quick=True))
    assert "skipped" in section.markdown
