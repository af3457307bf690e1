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

from conftest import PLANTED, POSTS_CSV, run_cli_here

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


def _resealed(idx: Path, edit) -> None:
    """Edit the manifest of ``idx`` and seal it again (its own checksum then agrees: what a careless
    tool, or someone who edits by hand and knows the seal, leaves)."""
    import json

    from provenance.durable import sealed_json

    manifest = json.loads((idx / "manifest.json").read_text())
    edit(manifest)
    (idx / "manifest.json").write_bytes(sealed_json(manifest))


@pytest.mark.parametrize("edit, said", [
    (lambda m: m["params"].update(ngram=3.5), "ngram must be an integer, got 3.5"),
    (lambda m: m["params"].update(jaccard="yes"), "jaccard must be true or false"),
    (lambda m: m["params"].update(seed=7), "seed 7"),
    (lambda m: m["params"].update(max_key_posts=49), "max_key_posts 49"),
    (lambda m: m["counts"].update(posts=-5), "counts.posts must be a whole number"),
    (lambda m: m["counts"].update(short_posts=10**30), "counts.short_posts must be a whole number"),
    (lambda m: m["counts"].update(keys="12"), "counts.keys must be a whole number"),
    (lambda m: m["counts"].update(short_posts=m["counts"]["short_posts"] + 1), "counts.short_posts is"),
    (lambda m: m["counts"].update(frequent_shingles=10**12), "counts.frequent_shingles is"),
    (lambda m: m["counts"].pop("empty_posts"), "counts.empty_posts missing"),
    (lambda m: m["files"]["posts.parquet"].update(bytes=-1), "files.posts.parquet.bytes must be"),
    (lambda m: m.update(counts=[1, 2]), "counts must be an object"),
])
def test_a_resealed_manifest_with_wrong_values_is_refused(built: tuple[Path, Path], tmp_path: Path, edit, said: str) -> None:
    """Every value of a manifest is checked by type, range and against the data files when the index is
    opened: a one-line IndexFormatError naming the file and the field, never a traceback or a scan that
    silently finds nothing (a changed seed hashes documents otherwise than the posts were hashed)."""

    idx = tmp_path / "idx"
    shutil.copytree(built[0], idx)
    _resealed(idx, edit)
    with pytest.raises(IndexFormatError) as e:
        api.open_index(idx)
    assert said in str(e.value) and str(idx) in str(e.value) and "\n" not in str(e.value)
    proc = run_cli_here("scan", idx, PLANTED, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and said in proc.stderr


def test_a_sharded_index_with_resealed_top_counts_is_refused(tmp_path: Path) -> None:
    pl.read_csv(POSTS_CSV).head(300).write_csv(tmp_path / "posts.csv")
    idx = tmp_path / "idx"
    api.build_index([tmp_path / "posts.csv"], idx, id_field="tweet_id", shards=3)
    api.open_index(idx)
    _resealed(idx, lambda m: m["counts"].update(short_posts=m["counts"]["short_posts"] + 2))
    with pytest.raises(IndexFormatError, match=r"manifest.json: counts.short_posts is \d+, its shards hold"):
        api.open_index(idx)
    _resealed(idx, lambda m: m["counts"].update(short_posts=m["counts"]["short_posts"] - 2, keys=10**9))
    with pytest.raises(IndexFormatError, match="counts.keys is 1000000000, its shards hold"):
        api.open_index(idx)
    _resealed(idx, lambda m: m["params"].update(seed=7))  # (the shards' manifests say 0)
    with pytest.raises(IndexFormatError):
        api.open_index(idx)
