"""``--workers``: matching batches in several local processes gives the same results as one."""

from __future__ import annotations

import json

import polars as pl
import pytest

from conftest import PLANTED, BuiltIndex, run_cli
from provenance import api
from provenance.errors import ParameterError
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
