"""A scan's matches go to disk as they are found (each unit's rows a batch at a time into its
checkpoint file) and are judged and written into matches.parquet a group of documents at a time
(provenance.results.judged): memory does not grow with the matches, and the outputs are those of
judging every row at once."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import polars as pl
import pytest

from conftest import POSTS_CSV
from provenance import api
from provenance.params import ScanParams
from provenance.results import judged, outputs
from provenance.results.outputs import MATCH_SCHEMA, SORT_KEYS
from provenance.results.significance import judge, with_post_facts


def _lines_corpus(path: Path, copies: int, posts: int | None = None) -> Path:
    """A lines file of the fixture posts' texts (the first ``posts``), ``copies`` times over: about one match a line."""
    texts = [t.replace("\n", " ") for t in pl.read_csv(POSTS_CSV)["text"].to_list() if t][:posts]
    path.write_text("\n".join(texts * copies) + "\n", encoding="utf-8")
    return path


def test_rows_go_to_disk_while_the_unit_is_scanned(api_index, tmp_path: Path) -> None:
    """Before the scan of a unit ends, its rows are already in its file (not held until the end)."""
    index, _ = api_index
    corpus = _lines_corpus(tmp_path / "c.txt", 2)
    out = tmp_path / "out"
    sizes: list[int] = []

    def progress(nbytes: int, records: int) -> None:
        sizes.append(sum(p.stat().st_size for p in (out / "units").glob("*.rows.tmp")) if (out / "units").is_dir() else 0)

    result = api.scan(index, [corpus], out, params=ScanParams(batch_size=500), on_progress=progress, fmt="lines")
    assert result.summary["matches"] > 2000
    assert len(sizes) > 4  # one call a batch, all of one unit
    assert sizes[-2] > sizes[1] > 0  # the unit's file grows batch after batch while it is scanned


def _traced_peak(index, corpus: Path, out: Path) -> tuple[int, int]:
    """Python's peak allocations during a scan of ``corpus`` into ``out``, and its matches."""
    tracemalloc.start()
    try:
        result = api.scan(index, [corpus], out, fmt="lines")
        return tracemalloc.get_traced_memory()[1], result.summary["matches"]
    finally:
        tracemalloc.stop()


def test_scan_memory_does_not_grow_with_the_matches(api_index, tmp_path: Path, monkeypatch) -> None:
    """Six times the matches take hardly more of Python's memory at the peak of a scan with an output
    directory (rows held until the end take about 1.3 KB a match: some 19 MB more here, where 5.9 MB
    is allowed). The input is read in 64 KB chunks rather than 1 MB ones, so that the read buffer is
    already full in the small scan (with 1 MB chunks it grows until the input is over 1 MB, some four
    copies of the posts, and both scans had to be larger)."""
    from provenance.io import streams

    monkeypatch.setattr(streams, "CHUNK_BYTES", 64 << 10)
    monkeypatch.setattr(streams, "LINE_BUFFER", 64 << 10)
    index, _ = api_index
    small, large = _lines_corpus(tmp_path / "s.txt", 1), _lines_corpus(tmp_path / "l.txt", 6)
    api.scan(index, [small], tmp_path / "warm", fmt="lines")  # (imports and caches, outside the count)
    peak_small, n_small = _traced_peak(index, small, tmp_path / "s")
    peak_large, n_large = _traced_peak(index, large, tmp_path / "l")
    assert n_large - n_small > 14_000
    grown = peak_large - peak_small
    assert grown < (n_large - n_small) * 400, f"{grown:,} bytes more at the peak for {n_large - n_small:,} more matches"


def _judged_at_once(index, out: Path, params: ScanParams, words: int) -> pl.DataFrame:
    """Every row of the units' files judged in one frame, as a scan judged them before it streamed."""
    frame = pl.concat([pl.read_parquet(p) for p in sorted((out / "units").glob("*.parquet"))])
    frame = with_post_facts(frame, index.post_flags, index.post_date, params.corpus_date)
    frame = judge(frame, params, index.n_posts, words)
    frame = frame.with_columns(post_id=index.post_ids(frame["_post"].to_numpy())).drop("_post")
    return frame.sort(SORT_KEYS).select(list(MATCH_SCHEMA))


@pytest.mark.parametrize("unit_size", [api.UNIT_SIZE, 40_000])
def test_streamed_outputs_are_those_of_one_frame(api_index, tmp_path: Path, monkeypatch, unit_size: int) -> None:
    """Judged in small groups over several units and written in several row groups, matches.parquet
    holds the rows judging them all at once gives, and the same bytes as writing them from one frame;
    summary.json is that of the scan without an output directory (which holds the rows)."""
    monkeypatch.setattr(judged, "GROUP_ROWS", 700)
    monkeypatch.setattr(outputs, "MATCH_ROW_GROUP", 1000)
    index, _ = api_index
    corpora = [_lines_corpus(tmp_path / "b.txt", 2), _lines_corpus(tmp_path / "a.txt", 1, 500)]
    params = ScanParams(max_span_docs=2)  # (span_docs over the whole scan decides some rows)
    out = tmp_path / "out"
    streamed = api.scan(index, corpora, out, params=params, unit_size=unit_size, fmt="lines")
    held = api.scan(index, corpora, params=params, unit_size=unit_size, fmt="lines")
    on_disk = pl.read_parquet(out / "matches.parquet")
    assert on_disk.height > 3 * 700 and len(list((out / "units").glob("*.parquet"))) >= 2
    assert "common" in on_disk["why_not"].to_list()
    assert on_disk.equals(_judged_at_once(index, out, params, streamed.summary["words_scanned"]))
    assert held.matches.equals(on_disk)
    held.matches.write_parquet(tmp_path / "one.parquet", statistics=True, row_group_size=1000)
    assert (tmp_path / "one.parquet").read_bytes() == (out / "matches.parquet").read_bytes()
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(held.summary))
