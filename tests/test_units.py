"""Large files scanned in parts (``scan --unit-size``): a part of a line file is a byte range that
starts on a line, a part of a parquet file a row range; reading the parts one after another gives the
records, row numbers and ids of the whole file, and a scan gives the same results whatever the unit
size, with each part a checkpoint unit of its own."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from provenance import api
from provenance.errors import InputError
from provenance.params import ScanParams
from provenance.io import expand_inputs, iter_batches, split_units

from conftest import PLANTED



def records(files, **kw) -> list[tuple]:
    return [(b.source, row, rid, text) for b in iter_batches(files, batch_size=64, **kw)
            for row, rid, text in zip(b.rows, b.ids, b.texts)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("units")
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    jsonl = d / "corpus.jsonl"
    # blank lines and a CRLF line in the middle: row numbers must still be the file's line numbers
    jsonl.write_text("".join(lines[:200]) + "\n\n" + lines[200].rstrip("\n") + "\r\n" + "".join(lines[201:]),
                     encoding="utf-8")
    no_ids = d / "no_ids.jsonl"  # the first record has no id: the whole file uses FILE:ROW ids
    recs = [json.loads(x) for x in lines]
    recs[0].pop("id")
    no_ids.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    text_lines = d / "docs.txt"
    text_lines.write_text("".join(r["text"].replace("\n", " ") + "\n" for r in recs), encoding="utf-8")
    parquet = d / "corpus.parquet"
    pl.DataFrame(recs[1:]).write_parquet(parquet, row_group_size=64)
    return {"jsonl": jsonl, "no_ids": no_ids, "lines": text_lines, "parquet": parquet}


@pytest.mark.parametrize("name,fmt", [("jsonl", None), ("no_ids", None), ("lines", "lines"), ("parquet", None)])
def test_parts_read_like_the_whole_file(corpus, name: str, fmt: str | None) -> None:
    files = expand_inputs([corpus[name]], fmt)
    parts = split_units(files, 40_000)
    assert len(parts) >= 10 and all(p.part is not None for p in parts)
    assert records(parts) == records(files)
    assert sum(p.part.nbytes for p in parts) == pytest.approx(corpus[name].stat().st_size, abs=len(parts))
    if name != "parquet":
        data = corpus[name].read_bytes()
        spans = [(p.part.start, p.part.stop) for p in parts]
        assert spans[0][0] == 0 and spans[-1][1] == len(data)
        assert all(b == c for (_, b), (c, _) in zip(spans, spans[1:]))
        assert all(data[a - 1 : a] == b"\n" for a, _ in spans[1:])  # every part starts on a line
        assert [p.part.lines for p in parts] == [data[:a].count(b"\n") for a, _ in spans]


def test_small_files_compressed_files_and_csv_stay_whole(corpus, tmp_path: Path) -> None:
    gz = tmp_path / "c.jsonl.gz"
    gz.write_bytes(gzip.compress(corpus["jsonl"].read_bytes()))
    csv = tmp_path / "c.csv"
    pl.read_parquet(corpus["parquet"]).select("id", "text").write_csv(csv)
    files = expand_inputs([gz, csv, corpus["jsonl"]])
    units = split_units(files, 10_000_000)
    assert units == files
    units = split_units(files, 40_000)
    assert units[:2] == files[:2] and len(units) > 3


def test_an_error_in_a_later_part_names_the_files_line(corpus, tmp_path: Path) -> None:
    lines = corpus["jsonl"].read_bytes().split(b"\n")  # (not splitlines: texts hold U+2028 and friends)
    lines[400] = b'{"id": "x", "text": 5}'
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join(lines))
    files = expand_inputs([bad])
    with pytest.raises(InputError) as whole:
        records(files)
    with pytest.raises(InputError) as parts:
        records(split_units(files, 40_000))
    assert str(parts.value) == str(whole.value) == f"{bad}:401: 'text' is a number, not a string"


def test_scan_results_do_not_depend_on_the_unit_size(api_index, corpus, tmp_path: Path) -> None:
    index, _ = api_index
    inputs = [corpus["jsonl"], corpus["parquet"]]
    whole = api.scan(index, inputs, tmp_path / "whole")
    parts = api.scan(index, inputs, tmp_path / "parts", unit_size=40_000)
    assert whole.matches.height > 250
    assert parts.matches.equals(whole.matches)
    assert parts.summary == whole.summary
    assert len(list((tmp_path / "parts" / "units").glob("*.json"))) > 20 + 1  # one unit per part (+ scan.json)
    two = api.scan(index, inputs, params=ScanParams(batch_size=100), workers=2, unit_size=40_000)
    assert two.matches.equals(whole.matches)


def test_resume_rescans_only_the_missing_parts(api_index, corpus, tmp_path: Path, monkeypatch) -> None:
    index, _ = api_index
    out = tmp_path / "out"
    first = api.scan(index, [corpus["jsonl"]], out, unit_size=40_000)
    units = sorted((out / "units").glob("*.json"))
    units = [u for u in units if u.name != "scan.json"]
    for u in units[3:6]:  # as if the scan had been killed before these parts were done
        u.unlink()
    read: list[str] = []
    from provenance.scanner import units as units_module
    original = units_module.read_batches

    def counting(files, *a, **k):
        read.extend(f.unit for f in files)
        return original(files, *a, **k)

    monkeypatch.setattr(units_module, "read_batches", counting)
    again = api.scan(index, [corpus["jsonl"]], out, resume=True, unit_size=40_000)
    assert len(read) == 3 and all("bytes" in r for r in read)
    assert again.run["inputs_reused"] == len(units) - 3
    assert again.matches.equals(first.matches)
    assert again.summary == first.summary


def test_a_parquet_files_parts_hash_it_once(api_index, corpus, tmp_path: Path, monkeypatch) -> None:
    """A parquet part's checksum is the whole file's: checkpointing (and verifying) its parts reads
    the file for it once, not once per part."""
    from provenance.io import tap
    from provenance.results.evidence import verify

    index, _ = api_index
    hashed: list[str] = []
    original = tap._read_sha256

    def counting(file):
        hashed.append(str(file.path))
        return original(file)

    monkeypatch.setattr(tap, "_read_sha256", counting)
    out = tmp_path / "out"
    api.scan(index, [corpus["parquet"]], out, unit_size=40_000)
    parts = json.loads((out / "evidence.json").read_text())["inputs"]
    assert len(parts) >= 10 and len({p["sha256"] for p in parts}) == 1
    assert hashed == [str(corpus["parquet"])]
    hashed.clear()
    assert verify(out, inputs=[corpus["parquet"]]).ok
    assert hashed == [str(corpus["parquet"])]
