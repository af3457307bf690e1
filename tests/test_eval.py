"""``provenance eval`` and :func:`provenance.evaluate`: a scan scored against labelled pairs, on 150 real
MSRP sentence pairs (fixtures/pairs/, made by fixtures/make_pairs.py): the numbers are counted again here
from matches.parquet and the pairs file, row by row; bad pairs files are one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest

import provenance
from provenance.errors import InputError, ParameterError
from provenance.params import IndexParams, ScanParams

from conftest import FIX, run_cli_here

PAIRS = FIX / "pairs"


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The MSRP 'a' sentences indexed (with sketches), the 'b' sentences scanned in both modes."""
    d = tmp_path_factory.mktemp("eval")
    index = provenance.build_index([PAIRS / "msrp_a.txt"], d / "idx", fmt="lines", params=IndexParams(jaccard=True))
    out = {}
    for mode, params in (("containment", ScanParams()), ("jaccard", ScanParams(mode="jaccard", min_jaccard=0.1))):
        provenance.scan(index, [PAIRS / "msrp_b.txt"], d / mode, fmt="lines", params=params)
        out[mode] = d / mode
    return out


def labels() -> dict[tuple[str, str], bool]:
    with open(PAIRS / "msrp_pairs.tsv", encoding="utf-8", newline="") as f:
        return {(r["post_id"], r["doc_id"]): r["label"] == "1" for r in csv.DictReader(f, delimiter="\t")}


def counted_again(out: Path, score: str, rows: str, threshold: float | None) -> tuple[int, int, int, int]:
    """(predicted, tp, fp, unlabelled) from the match rows, one by one."""
    best: dict[tuple[str, str], float | None] = {}
    for r in pl.read_parquet(out / "matches.parquet").iter_rows(named=True):
        if rows != "all" and r["generic"] != (rows == "generic"):
            continue
        pair, value = (r["post_id"], r["doc_id"]), r[score]
        if pair not in best or (value is not None and (best[pair] is None or value > best[pair])):
            best[pair] = value
    truth = labels()
    hit = [p for p, v in best.items() if threshold is None or (v is not None and v >= threshold)]
    return (len(hit), sum(truth.get(p) is True for p in hit), sum(truth.get(p) is False for p in hit),
            sum(p not in truth for p in hit))


@pytest.mark.parametrize("mode,score", [("containment", "containment"), ("jaccard", "jaccard"),
                                        ("containment", "evidence_bits")])
def test_eval_counts_every_threshold_as_the_match_rows_say(scans: dict[str, Path], mode: str, score: str) -> None:
    result = provenance.evaluate(scans[mode], PAIRS / "msrp_pairs.tsv", score=score)
    truth = labels()
    positives = sum(truth.values())
    assert (result.pairs, result.positives, result.negatives) == (len(truth), positives, len(truth) - positives)
    assert result.notes == []
    assert result.table.filter(pl.col("rows") == "counted")["threshold"].null_count() == 1  # the 'any' row
    for r in result.table.iter_rows(named=True):
        predicted, tp, fp, unlabelled = counted_again(scans[mode], score, r["rows"], r["threshold"])
        assert (r["predicted"], r["tp"], r["fp"], r["fn"], r["unlabelled"]) == (predicted, tp, fp, positives - tp,
                                                                                 unlabelled), r
        if tp + fp:
            assert r["precision"] == pytest.approx(tp / (tp + fp))
        assert r["recall"] == pytest.approx(tp / positives)
    any_counted = result.table.filter((pl.col("rows") == "counted") & pl.col("threshold").is_null()).row(0, named=True)
    assert any_counted["tp"] > 0  # the paraphrases that are near copies are found
    best = result.best()
    assert best is not None and best["f1"] == result.table.filter(pl.col("rows") == "counted")["f1"].max()


def test_eval_given_thresholds_and_ids_that_never_meet(scans: dict[str, Path], tmp_path: Path) -> None:
    result = provenance.evaluate(scans["jaccard"] / "matches.parquet", PAIRS / "msrp_pairs.tsv", score="jaccard",
                                 thresholds=[0.9, 0.3])
    assert result.table.filter(pl.col("rows") == "all")["threshold"].to_list() == [None, 0.3, 0.9]
    other = tmp_path / "pairs.jsonl"  # ids the scan never gave (paths as typed): said in a note
    other.write_text("".join(json.dumps({"p": f"/data/msrp_a.txt:{i}", "d": f"/data/msrp_b.txt:{i}", "y": True}) + "\n"
                             for i in range(1, 4)), encoding="utf-8")
    result = provenance.evaluate(scans["jaccard"], other, score="jaccard", post_field="p", doc_field="d", label_field="y")
    assert result.positives == 3 and result.table["tp"].max() == 0
    assert any("post ids" in n and "/data/msrp_a.txt:1" in n for n in result.notes)
    assert any("no match row has a coverage value" in n
               for n in provenance.evaluate(scans["jaccard"], PAIRS / "msrp_pairs.tsv", score="coverage").notes)


@pytest.mark.parametrize("content,expected", [
    ("post_id,doc_id,label\na,b,1\nc,d,maybe\n", "pairs.csv:2: label 'maybe' is not 1/0"),
    ("post_id,doc_id,label\na,b,1\na,b,0\n", "pairs.csv:1: the pair ('a', 'b') is labelled both ways"),
    ("post,doc_id,label\na,b,1\n", "pairs.csv: no column 'post_id'"),
    ("post_id,doc_id,label\n,b,1\n", "pairs.csv:1: no post id or document id"),
])
def test_a_bad_pairs_file_is_one_line_naming_it(scans: dict[str, Path], tmp_path: Path, content: str,
                                               expected: str) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as err:
        provenance.evaluate(scans["containment"], pairs)
    assert str(err.value).startswith(f"{tmp_path}/{expected}") and "\n" not in str(err.value)


def test_eval_command(scans: dict[str, Path], tmp_path: Path) -> None:
    proc = run_cli_here("eval", scans["jaccard"], PAIRS / "msrp_pairs.tsv", "--score", "jaccard", "--thresholds", "0.3,0.5",
                   "-o", tmp_path / "table.csv")
    assert proc.returncode == 0, proc.stderr
    api = provenance.evaluate(scans["jaccard"], PAIRS / "msrp_pairs.tsv", score="jaccard", thresholds=[0.3, 0.5])
    written = pl.read_csv(tmp_path / "table.csv")
    assert written.select("rows", "predicted", "tp", "fp", "fn").rows() == api.table.select(
        "rows", "predicted", "tp", "fp", "fn").rows()
    assert "best F1 of the rows that count" in proc.stdout and "150 labelled pairs" in proc.stdout
    proc = run_cli_here("eval", scans["jaccard"], PAIRS / "msrp_pairs.tsv", "--score", "bogus")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --score 'bogus'")
    with pytest.raises(ParameterError):
        provenance.evaluate(scans["jaccard"], PAIRS / "msrp_pairs.tsv", score="doc_id")


SHARED = next((p for p in (Path(__file__).resolve().parents[1].parent / "shared" / "data", Path("/work/shared/data"))
               if (p / "msrp_paraphrase").is_dir()), None)


@pytest.mark.skipif(SHARED is None, reason="shared data folder not present")
def test_the_pairs_fixture_is_what_make_pairs_writes(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_pairs", FIX / "make_pairs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(SHARED, tmp_path)
    for name in ("msrp_a.txt", "msrp_b.txt", "msrp_pairs.tsv"):
        assert (tmp_path / name).read_bytes() == (PAIRS / name).read_bytes(), name
