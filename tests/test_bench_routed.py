"""benchmarks/routed_probes.py: its table says per shard count the workers' CPU a GB each way, and flags
scans whose results differ."""

from __future__ import annotations

from benchmarks import routed_probes


def _row(shards: int, same: bool) -> dict:
    run = {"wall_seconds": 2.0, "worker_cpu_seconds": 3.0, "candidates": 1234, "cpu_s_per_gb": 75.0}
    return {"shards": shards, "build_seconds": 1.0, "same_results": same, "routed": dict(run),
            "broadcast": {**run, "cpu_s_per_gb": 300.0}}


def test_the_table_shows_both_ways_and_flags_different_results() -> None:
    text = routed_probes.markdown({"corpus_bytes": 1 << 30, "workers": 2, "rows": [_row(2, True), _row(32, False)]})
    lines = text.splitlines()
    assert lines[0].startswith("| shards | routed: worker CPU s/GB | every shard probed")
    assert lines[2].split("|")[1:4] == [" 2 ", " 75 ", " 300 "] and lines[2].rstrip().endswith("yes |")
    assert lines[3].rstrip().endswith("**no** |") and "1,234" in lines[3]
