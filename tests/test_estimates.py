"""Sampling estimates (``scan --sample``): the 95 % intervals cover the full-scan value at least 93 %
of the time over many seeds; a full scan's estimates are exact; the sample does not depend on batches
or workers; a sampled scan's matches are the full scan's matches in the sampled documents."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from provenance import api
import numpy as np

from provenance.match.tally import Tally
from provenance.results.estimate import posts_present, ratio, wilson
from provenance.params import ScanParams

from conftest import PLANTED, run_cli_here



@pytest.fixture(scope="module")
def texts() -> list[str]:
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


@pytest.fixture(scope="module")
def full(api_index, texts):
    index, _ = api_index
    return api.scan_texts(index, texts)


def test_a_full_scan_is_exact(full) -> None:
    s = full.summary
    est = s["estimates"]
    for share in ("share_docs_matched", "share_chars_matched", "share_posts_matched"):
        assert est[share]["value"] == est[share]["ci_low"] == est[share]["ci_high"] == s[share]
        assert est[share]["method"] == "all documents scanned"
    assert est["docs_matched"]["value"] == s["docs_matched"] and est["matched_chars"]["value"] == s["matched_chars"]
    assert s["docs_total"] == s["docs_scanned"] == 500 and s["chars_total"] == s["corpus_chars"]


@pytest.mark.parametrize("fraction", [0.2, 0.3])
def test_intervals_cover_the_full_scan_value(api_index, texts, full, fraction: float) -> None:
    index, _ = api_index
    truth = full.summary
    seeds = range(150)
    covered = {"share_docs_matched": 0, "share_chars_matched": 0, "share_posts_matched": 0, "docs_matched": 0,
               "matched_chars": 0}
    for seed in seeds:
        s = api.scan_texts(index, texts, params=ScanParams(sample=fraction, sample_seed=seed)).summary
        assert s["docs_total"] == 500 and 0 < s["docs_scanned"] < 500
        est = s["estimates"]
        for key in covered:
            covered[key] += est[key]["ci_low"] <= truth[key] <= est[key]["ci_high"]
        posts = est["share_posts_matched"]  # the posts found are a certain lower bound
        assert posts["ci_low"] == s["share_posts_matched"] <= truth["share_posts_matched"]
        assert posts["ci_low"] <= posts["value"] <= posts["ci_high"]
    rates = {k: v / len(seeds) for k, v in covered.items()}
    assert min(rates.values()) >= 0.93, rates


def test_the_sample_does_not_depend_on_batches_or_workers(api_index, tmp_path: Path, full) -> None:
    index, _ = api_index
    a = api.scan(index, [PLANTED], params=ScanParams(sample=0.3, sample_seed=11, batch_size=37))
    b = api.scan(index, [PLANTED], params=ScanParams(sample=0.3, sample_seed=11, batch_size=1024), workers=2)
    assert a.matches.equals(b.matches)
    strip = lambda s: {k: v for k, v in s.items() if k != "params"}  # noqa: E731
    assert strip(a.summary) == strip(b.summary)
    other = api.scan(index, [PLANTED], params=ScanParams(sample=0.3, sample_seed=12))
    assert not other.matches.equals(a.matches)
    # the sampled scan's matches are the full scan's matches in the sampled documents (as found: whether each
    # counts is judged against the size of each scan, so E-values differ)
    from provenance.results.significance import JUDGED

    every = api.scan(index, [PLANTED])
    sampled_rows = set(a.matches["row"].to_list())
    assert a.matches.height > 50
    assert a.matches.drop("source", *JUDGED).equals(
        every.matches.filter(every.matches["row"].is_in(sampled_rows)).drop("source", *JUDGED))


def test_interval_formulas_on_known_cases() -> None:
    assert wilson(0, 0, 10, 0.95) == (0.0, 0.0, 1.0)
    assert wilson(5, 10, 10, 0.95) == (0.5, 0.5, 0.5)  # the whole population
    p, lo, hi = wilson(5, 10, 10**9, 0.95)  # Wilson's textbook case: 0.237 .. 0.763
    assert p == 0.5 and lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    narrow = wilson(50, 100, 200, 0.95)
    wide = wilson(50, 100, 10**9, 0.95)
    assert narrow[2] - narrow[1] < wide[2] - wide[1]  # sampling half the population says more
    t = Tally(docs_scanned=4, docs_total=8, corpus_chars=40, matched_chars=10, chars_sq=400, matched_sq=25 * 4,
              cross=10 * 5 * 4 // 4 * 4)
    r, lo, hi = ratio(t, 0.95)
    assert r == 0.25 and lo <= r <= hi


def test_each_input_file_gets_its_own_estimates(api_index, tmp_path: Path) -> None:
    index, _ = api_index
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    files = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    files[0].write_text("".join(lines[:250]), encoding="utf-8")
    files[1].write_text("".join(lines[250:]), encoding="utf-8")
    full = api.scan(index, files).summary["inputs"]
    sampled = api.scan(index, files, params=ScanParams(sample=0.4, sample_seed=5)).summary["inputs"]
    for whole, part in zip(full, sampled):
        for share in ("share_docs_matched", "share_chars_matched"):
            exact, est = whole["estimates"][share], part["estimates"][share]
            assert exact["value"] == exact["ci_low"] == exact["ci_high"] == whole[share]
            assert est["value"] == part[share] and est["ci_low"] < est["value"] < est["ci_high"]
            assert est["method"] != "all documents scanned"


def test_posts_present_on_known_cases() -> None:
    # every post found once in a 10 % sample: Chao-Lin gives found / 0.1, the pair bound is at least that
    one = np.ones(30, dtype=np.int64)
    value, low, high = posts_present(one, one, 100, 1000, 3000, 0.95)
    assert low == 30 and value == pytest.approx(300) and high >= 300
    # posts seen in two documents each leave few unseen: the estimate stays near the posts found
    two = np.full(30, 2, dtype=np.int64)
    value, low, high = posts_present(np.full(60, 1, dtype=np.int64), two, 100, 1000, 3000, 0.95)
    assert low == 30 and value == 30 and high >= 600  # 60 pairs / 0.1: a loose but valid bound
    assert posts_present(one, one, 1000, 1000, 3000, 0.95) == (30, 30, 30)


def test_sampling_through_the_cli(cli_index, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli_here("scan", cli_index.path, PLANTED, "-o", out, "--sample", "0.25", "--seed", "3", "-q")
    assert proc.returncode == 0, proc.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["params"]["scan"]["sample"] == 0.25 and s["docs_total"] == 500 and s["docs_scanned"] < 200
    est = s["estimates"]["share_docs_matched"]
    assert est["ci_low"] < est["value"] < est["ci_high"] and "Wilson" in est["method"]
    for bad in (["--sample", "0"], ["--sample", "1.5"], ["--confidence", "1"]):
        proc = run_cli_here("scan", cli_index.path, PLANTED, "-o", tmp_path / "x", *bad, "-q")
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_until_ci_doubles_the_sample_until_the_intervals_are_narrow(cli_index, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli_here("scan", cli_index.path, PLANTED, "-o", out, "--sample", "0.05", "--seed", "4", "--until-ci", "0.12",
                   "-q")
    assert proc.returncode == 0, proc.stderr
    s = json.loads((out / "summary.json").read_text())
    rounds = s["sample_rounds"]
    assert [r["sample"] for r in rounds] == [0.05 * 2**i for i in range(len(rounds))] and len(rounds) >= 2
    assert all(max(r["ci_widths"].values()) > 0.12 for r in rounds[:-1])
    assert max(rounds[-1]["ci_widths"].values()) <= 0.12 or rounds[-1]["sample"] == 1.0
    assert [r["docs_scanned"] for r in rounds] == sorted(r["docs_scanned"] for r in rounds)  # nested samples
    assert s["params"]["scan"]["sample"] == rounds[-1]["sample"]
    # the same as one scan at the last fraction, and the evidence still verifies
    direct = run_cli_here("scan", cli_index.path, PLANTED, "-o", tmp_path / "direct", "--sample", str(rounds[-1]["sample"]),
                     "--seed", "4", "-q")
    assert direct.returncode == 0
    d = json.loads((tmp_path / "direct" / "summary.json").read_text())
    assert d["estimates"] == s["estimates"] and d["docs_scanned"] == s["docs_scanned"]
    assert run_cli_here("verify", out, "--inputs", PLANTED.parent).returncode == 0
