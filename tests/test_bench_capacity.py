"""benchmarks/capacity.py: the capacity model from one scale run's figures, with the match term fitted on
real posts as well as on synthetic ones."""

from __future__ import annotations

import math

from benchmarks import capacity

GB = 1 << 30


def _scan(posts: int, match: float, locate: float = 1.0, read: float = 1.0, shingle: float = 2.0) -> dict:
    return {"posts": posts, "corpus_bytes": GB,
            "seconds": {"read": read, "shingle": shingle, "match": match, "locate": locate}}


def _data(real: dict | None) -> dict:
    return {
        "builds": [{"posts": 10_000_000, "wall_seconds": 150.0}],
        "scans_by_index": [_scan(1_000_000, 50.0), _scan(10_000_000, 250.0)],
        "scans_by_corpus": [_scan(100_000, 20.0)],
        "real_tweets": {"posts": 1000, "containment": {"bytes": 344_000}},
        "dask_shards": {"posts": 1_000_000, "shards": 4, "corpus_bytes": GB,
                        "runs": {"0": {"seconds": 70.0, "stages": {"match": 62.0}}, "1": {"seconds": 100.0},
                                 "2": {"seconds": 80.0}}},
        "real_archive": real,
    }


def test_the_real_post_model_fits_match_and_locate_and_keeps_the_text_stage_and_probes() -> None:
    real = {"corpus": "wikinews.jsonl", "corpus_bytes": GB // 2,
            "scans": [{"posts": 2_430_157, "seconds": {"match": 2.0, "locate": 1.0}},
                      {"posts": 100_000, "seconds": {"match": 1.0, "locate": 0.5}}]}
    m = capacity.model(_data(real))
    r = m["real_posts"]
    # 3 s/GB at 100 k posts, 6 s/GB at 2.43 M (the half-GB corpus): doubled over a factor 24.3
    assert math.isclose(r["match_locate_s_per_gb"][100_000], 3.0) and math.isclose(r["match_locate_s_per_gb"][2_430_157], 6.0)
    assert math.isclose(r["k"], math.log(2) / math.log(24.30157))
    assert math.isclose(r["pairs"], 6.0 * (26e9 / 2_430_157) ** r["k"])
    probes = (62.0 - 50.0) / 3 * 260  # (what the 3 extra shards added, for 260 shards)
    assert math.isclose(m["scan_core_s_per_gb"]["probes"], probes)
    text_without_locate = 1.0 + 2.0
    assert math.isclose(r["total"], text_without_locate + probes + r["pairs"])
    assert math.isclose(r["core_hours"], r["total"] * (10e12 / GB) / 3600)
    text = "\n".join(capacity.markdown(m))
    assert "real posts: match + locate s/GB of Wikinews vs 100,000 / 2,430,157 posts" in text
    assert f"**{r['core_hours']:,.0f} core-hours**" in text


def test_without_the_archive_inputs_the_model_is_the_synthetic_one_alone() -> None:
    m = capacity.model(_data(None))
    assert m["real_posts"] is None and m["scan_core_hours"] > 0
    assert "real posts" not in "\n".join(capacity.markdown(m))
