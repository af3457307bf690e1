"""Corruption: flipping any byte of any index or output file is detected and reported in one line.

Index files are pinned by the manifest's sha256 list, and the manifest by its own checksum
(``self_sha256``, over its canonical JSON). Output files are pinned by evidence.json, which carries its
own checksum too; checkpoint units pin their rows. Every file is damaged at its first, middle and
last byte and at random positions (seeded), with a random non-zero XOR mask.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import polars as pl
import pytest

from conftest import PLANTED, POSTS_CSV

from provenance import api
from provenance.errors import IndexFormatError, ProvenanceError
from provenance.results.evidence import check_results

POSITIONS_PER_FILE = 6


def positions(size: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return sorted({0, size // 2, size - 1, *(rng.randrange(size) for _ in range(POSITIONS_PER_FILE - 3))})


def flipped(path: Path, pos: int, seed: int) -> bytes:
    """Flip the byte at ``pos`` of ``path`` (returns the original bytes, to put back)."""
    data = path.read_bytes()
    mask = random.Random(seed * 7919 + pos).randrange(1, 256)
    path.write_bytes(data[:pos] + bytes([data[pos] ^ mask]) + data[pos + 1 :])
    return data


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small index (300 fixture posts) and a scan of the planted corpus against it."""
    d = tmp_path_factory.mktemp("corruption")
    pl.read_csv(POSTS_CSV).head(300).write_csv(d / "posts.csv")
    api.build_index([d / "posts.csv"], d / "idx", id_field="tweet_id", meta_fields=["name"])
    result = api.scan(d / "idx", [PLANTED], d / "out")
    assert result.matches.height > 10
    return d / "idx", d / "out"


def test_every_byte_of_every_index_file(built: tuple[Path, Path], tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    shutil.copytree(built[0], idx)
    api.open_index(idx)  # intact: opens
    checked = 0
    for seed, f in enumerate(sorted(idx.iterdir())):
        for pos in positions(f.stat().st_size, seed):
            original = flipped(f, pos, seed)
            with pytest.raises(IndexFormatError) as e:
                api.open_index(idx)
            message = str(e.value)
            assert "\n" not in message and str(idx) in message, (f.name, pos, message)
            if f.name != "manifest.json":  # the damaged file is named
                assert f.name in message, (f.name, pos, message)
            f.write_bytes(original)
            checked += 1
    api.open_index(idx)  # all put back: opens again
    assert checked >= 6 * 20


def test_every_byte_of_every_output_file(built: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(built[1], out)
    assert check_results(out) == []
    results = [out / n for n in ("matches.parquet", "summary.json", "run.json")]
    for seed, f in enumerate(results):
        for pos in positions(f.stat().st_size, seed):
            original = flipped(f, pos, seed)
            problems = check_results(out)
            assert [p.message for p in problems] == [f"{f}: changed since the scan (sha256 differs from evidence.json)"]
            f.write_bytes(original)
    evidence = out / "evidence.json"
    for pos in positions(evidence.stat().st_size, 99):
        original = flipped(evidence, pos, 99)
        with pytest.raises(ProvenanceError, match=r"evidence\.json: (damaged|not a provenance|evidence format)"):
            check_results(out)
        evidence.write_bytes(original)
    assert check_results(out) == []


@pytest.mark.parametrize("name", ["summary.json", "matches.parquet", "evidence.json"])
def test_verify_and_report_refuse_a_damaged_output(name: str, built: tuple[Path, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from test_bad_input import one_error_line, run, run_full

    out = tmp_path / "out"
    shutil.copytree(built[1], out)
    f = out / name
    flipped(f, f.stat().st_size // 3, 5)
    code, err = run(["report", out, "--index", built[0]], capsys, monkeypatch)
    assert code == 2 and name in one_error_line(err)
    code, stdout, err = run_full(["verify", out, "--index", built[0]], capsys, monkeypatch)
    if name == "evidence.json":
        assert code == 2 and one_error_line(err).startswith(f"{f}: damaged")
    else:
        assert code == 1 and "Traceback" not in err
        assert f"differs: {f}: changed since the scan (sha256 differs from evidence.json)" in stdout.splitlines()


def test_damaged_checkpoints_are_scanned_again(built: tuple[Path, Path], tmp_path: Path) -> None:
    """A resume that meets a damaged unit (its rows, its record, or scan.json) says so and scans it
    again: the outputs are the same bytes as an undamaged scan's."""
    index, clean = built
    units = sorted((clean / "units").iterdir())
    assert {p.suffix for p in units} == {".json", ".parquet"}
    for seed, unit in enumerate(units):
        out = tmp_path / f"out{seed}"
        shutil.copytree(clean, out)
        f = out / "units" / unit.name
        flipped(f, positions(f.stat().st_size, seed)[seed % POSITIONS_PER_FILE % 3], seed)
        result = api.scan(index, [PLANTED], out, resume=True)
        assert result.run["inputs_reused"] == 0
        assert len(result.run["notes"]) == 1 and unit.name in result.run["notes"][0]
        assert "damaged" in result.run["notes"][0] and "scanned again" in result.run["notes"][0]
        for name in ("matches.parquet", "summary.json"):
            assert (out / name).read_bytes() == (clean / name).read_bytes()
    again = api.scan(index, [PLANTED], tmp_path / "out0", resume=True)  # (now whole again)
    assert again.run["inputs_reused"] == 1 and again.run["notes"] == []


def test_no_pickle_in_outputs(built: tuple[Path, Path]) -> None:
    """Every file of the index and the outputs is npy (no object arrays), parquet or JSON."""
    import json

    import numpy as np

    for f in [*built[0].iterdir(), *built[1].rglob("*")]:
        if f.is_dir():
            continue
        if f.suffix == ".npy":
            assert np.load(f, allow_pickle=False).dtype != object
        elif f.suffix == ".parquet":
            pl.read_parquet_schema(f)
        else:
            assert f.suffix == ".json", f
            json.loads(f.read_text())
