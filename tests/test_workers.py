"""``--workers``: matching batches in several local processes gives the same results as one."""

from __future__ import annotations

import json

import polars as pl
import pytest

from conftest import PLANTED, BuiltIndex, run_cli
from provenance import api
from provenance.errors import ParameterError
from provenance.scanner import local as local_module
from provenance.params import ScanParams



def test_two_workers_give_the_same_matches_and_summary(api_index) -> None:
    index, _ = api_index
    params = ScanParams(batch_size=64)  # several batches in flight at once
    one = api.scan(index, [PLANTED], params=params)
    two = api.scan(index, [PLANTED], params=params, workers=2)
    assert one.matches.height > 250
    assert two.matches.equals(one.matches)
    assert two.summary == one.summary
    assert set(two.run["seconds"]) == set(one.run["seconds"])


def test_same_scan_writes_byte_identical_outputs(cli_index: BuiltIndex, tmp_path) -> None:
    """Determinism: the same inputs and parameters give the same bytes of matches.parquet and
    summary.json, run after run and with 1 or 2 workers (times are in run.json)."""
    outs = []
    for name, workers in (("a", 1), ("b", 1), ("c", 2)):
        out = tmp_path / name
        r = run_cli("scan", cli_index.path, PLANTED, "-o", out, "--workers", workers, "--batch-size", 100, "--quiet")
        assert r.returncode == 0, r.stderr
        outs.append(out)
    assert pl.read_parquet(outs[0] / "matches.parquet").height > 250
    for name in ("matches.parquet", "summary.json"):
        first = (outs[0] / name).read_bytes()
        assert all((o / name).read_bytes() == first for o in outs[1:]), name
    assert "seconds" in json.loads((outs[0] / "run.json").read_text())


def test_workers_need_an_index_on_disk_and_a_positive_count(api_index) -> None:
    index, _ = api_index
    with pytest.raises(ParameterError, match="workers"):
        api.scan(index, [PLANTED], workers=0)
    unsaved = api.open_index(index.path)
    unsaved.path = None
    with pytest.raises(ParameterError, match="index saved on disk"):
        api.scan(unsaved, [PLANTED], workers=2)


def test_workers_read_parts_of_their_own_with_the_same_results(api_index, tmp_path, monkeypatch) -> None:
    """An uncompressed file is cut into parts for the workers to read themselves (WORK_UNITS_PER_WORKER
    per worker); the outputs are byte-identical to one process reading it whole."""
    import gzip

    index, _ = api_index
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(gzip.decompress(PLANTED.read_bytes()))
    monkeypatch.setattr(local_module, "MIN_WORK_UNIT", 1 << 10)
    one = api.scan(index, [corpus], tmp_path / "one")
    two = api.scan(index, [corpus], tmp_path / "two", workers=2)
    units = json.loads((tmp_path / "two" / "evidence.json").read_text())["inputs"]
    assert len(units) == local_module.WORK_UNITS_PER_WORKER * 2
    assert len(json.loads((tmp_path / "one" / "evidence.json").read_text())["inputs"]) == 1
    assert one.matches.height > 250
    for name in ("matches.parquet", "summary.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
