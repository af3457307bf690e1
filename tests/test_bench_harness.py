"""The benchmark harness end to end: ``python -m benchmarks.run --quick`` on the bundled fixtures
produces every section and table, and its figures agree with the fixture's truth file and with each
other."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from conftest import REPO, TRUTH_CSV
from benchmarks.run import HEADLINE_END, HEADLINE_START, SECTIONS

pytestmark = pytest.mark.bench  # the whole quick benchmark run: `pytest -m bench` (.ci/run), not plain `pytest`


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--work", str(work)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (work / "RESULTS.md").read_text(encoding="utf-8"), json.loads((work / "results.json").read_text()), work


def test_every_section_and_the_headline_are_written(quick_run) -> None:
    text, data, _ = quick_run
    assert set(data) == {*SECTIONS, "_origin"}
    assert set(data["_origin"]) == set(SECTIONS)
    for title in ("## Headline", "## Accuracy on planted real text", "## Speed against datasketch"):
        assert title in text
    headline = text[text.index(HEADLINE_START) : text.index(HEADLINE_END)]
    for measure in ("recall, light edits", "pair precision", "scan speed / naive", "scan speed / floor",
                    "index build + scan / naive", "scan speed, 2 workers / 1", "scan peak RSS, 4× corpus / 1×",
                    "outputs byte-identical, prefilter on / off"):
        assert measure in headline
    # what was measured, not the internal targets of the sections nor their planning notes
    assert " missed " not in headline and "| met |" not in headline and "issue" not in headline
    assert "| provenance |" in text and "| datasketch |" in text and "| floor |" in text


def test_accuracy_figures_agree_with_the_truth_file(quick_run) -> None:
    _, data, _ = quick_run
    truth = pl.read_csv(TRUTH_CSV, schema_overrides={"post_id": pl.String, "doc_id": pl.String})
    acc = data["accuracy"]
    overall = acc["groups"]["all"]
    assert overall["planted"] == truth.height
    counts = truth.group_by("edit").len()
    assert {e: v["planted"] for e, v in acc["by_edit"].items()} == dict(counts.iter_rows())
    assert sum(v["found"] for v in acc["by_edit"].values()) == overall["found"]
    assert acc["groups"]["light"]["planted"] + acc["groups"]["heavy"]["planted"] == truth.height
    assert overall["recall"] == pytest.approx(overall["found"] / overall["planted"])
    assert acc["precision"]["true_pairs"] + acc["precision"]["false_pairs"] == acc["precision"]["reported_pairs"]


def test_speed_figures_are_consistent(quick_run) -> None:
    _, data, _ = quick_run
    sp = data["speed"]
    rows = {r["method"]: r for r in sp["rows"]}
    assert {"provenance", "naive", "datasketch", "floor"} <= set(rows)
    for r in rows.values():
        assert r["scan_s"] > 0 and r["build_s"] > 0 and r["peak_rss"] > 0
        assert r["mb_s"] == pytest.approx(r["corpus_bytes"] / 1e6 / r["scan_s"])
        assert r["planted"] == pl.read_csv(TRUTH_CSV).height
    # provenance finds in the speed corpus (the planted fixture) what the accuracy section found there
    overall = data["accuracy"]["groups"]["all"]
    assert rows["provenance"]["planted_found"] == overall["found"]
    ratio = {r[0]: r[1] for r in sp["ratios"]}
    assert ratio["naive"] == pytest.approx(rows["provenance"]["mb_s"] / rows["naive"]["mb_s"])
    # recall and precision beside speed; whole-process times include the timed work
    for m in ("provenance", "naive", "datasketch"):
        r = rows[m]
        assert r["recall"] == pytest.approx(r["true"] / r["planted"])
        assert r["precision"] == pytest.approx(r["true"] / r["reported"]) and r["reported"] == r["pairs"]
        assert r["process_s"] > r["build_s"] + r["scan_s"]
    assert rows["floor"]["tokens"] > 0 and rows["floor"]["shingles"] > 0
    # two workers give the same bytes as one, in every round
    assert all(s["workers"] for s in sp["same_bytes"])
    assert sp["memory"]["x4"]["docs"] == 4 * sp["memory"]["x1"]["docs"]


def test_keep_reruns_one_section_and_keeps_the_others(quick_run, tmp_path) -> None:
    text, data, work = quick_run
    out = tmp_path / "RESULTS.md"
    out.write_text(text, encoding="utf-8")
    (tmp_path / "results.json").write_text(json.dumps(data), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--work", str(work), "--only",
                           "calibration", "--keep", "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    new, new_data = out.read_text(encoding="utf-8"), json.loads((tmp_path / "results.json").read_text())
    assert set(new_data) == set(data)
    for name in ("accuracy", "archive", "speed", "scale"):
        assert new_data[name] == data[name]
        assert new_data["_origin"][name] == data["_origin"][name]
    assert new_data["_origin"]["calibration"] != data["_origin"]["calibration"]
    assert new.count("*Kept from an earlier run, not rerun:") == len(SECTIONS) - 1
    assert "It ran Calibration on labeled pairs" in new
    # the kept sections' text is carried over unchanged, and the headline still has every section's rows
    speed_text = text[text.index("## Speed against"):text.index("## Synthetic scale")].split("\n", 2)[2].strip()
    assert speed_text in new
    assert new[new.index(HEADLINE_START):new.index(HEADLINE_END)] == text[text.index(HEADLINE_START):text.index(HEADLINE_END)]
