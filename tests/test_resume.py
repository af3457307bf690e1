"""Checkpoints: ``scan --resume`` after a ``kill -9`` gives the outputs of an uninterrupted scan, and a
re-scan reads only the files that changed (provenance.results.checkpoint)."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import PLANTED, BuiltIndex, cli_command, run_cli, run_cli_here

def _planted_lines() -> list[str]:
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        return f.readlines()


def _corpus(d: Path, n_files: int, copies: int = 1) -> Path:
    """The planted corpus spread over ``n_files`` JSONL files (``copies`` times, with fresh ids)."""
    d.mkdir(parents=True, exist_ok=True)
    lines = _planted_lines()
    for k in range(n_files):
        with (d / f"part-{k:03d}.jsonl").open("w", encoding="utf-8") as f:
            for c in range(copies):
                for line in lines[k::n_files]:
                    rec = json.loads(line)
                    rec["id"] = f"{rec['id']}~{c}"
                    f.write(json.dumps(rec) + "\n")
    return d


def _outputs(out: Path) -> tuple[pl.DataFrame, dict]:
    return pl.read_parquet(out / "matches.parquet"), json.loads((out / "summary.json").read_text())


def _same_bytes(a: Path, b: Path) -> bool:
    """matches.parquet and summary.json are byte-identical in the two output directories."""
    return all((a / n).read_bytes() == (b / n).read_bytes() for n in ("matches.parquet", "summary.json"))


def _reused(out: Path) -> int:
    return json.loads((out / "run.json").read_text())["inputs_reused"]


def test_resume_after_kill_9_equals_an_uninterrupted_scan(cli_index: BuiltIndex, tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus", 24, copies=6)
    full = run_cli("scan", cli_index.path, corpus, "-o", tmp_path / "full", "-q", timeout=300)
    assert full.returncode == 0, full.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen([*cli_command(), "scan", str(cli_index.path), str(corpus), "-o", str(out), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "units").glob("*.json"))) < 4:  # scan.json + 3 files
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "summary.json").exists(), "the scan finished before it could be killed"
    done = len(list((out / "units").glob("*.json"))) - 1
    assert 3 <= done < 24
    resumed = run_cli("scan", cli_index.path, corpus, "-o", out, "-q", "--resume", timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    (m1, _), (m2, _) = _outputs(tmp_path / "full"), _outputs(out)
    assert m1.height > 1000 and m2.equals(m1)
    assert _same_bytes(tmp_path / "full", out)
    assert _reused(out) >= done and _reused(tmp_path / "full") == 0
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_rescan_reads_only_changed_files(cli_index: BuiltIndex, tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus", 4)
    out = tmp_path / "out"
    assert run_cli_here("scan", cli_index.path, corpus, "-o", out, "-q").returncode == 0
    # change one file: drop its last document
    changed = corpus / "part-002.jsonl"
    changed.write_text("".join(changed.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]), encoding="utf-8")
    again = run_cli_here("scan", cli_index.path, corpus, "-o", out, "-q", "--resume")
    assert again.returncode == 0, again.stderr
    fresh = run_cli_here("scan", cli_index.path, corpus, "-o", tmp_path / "fresh", "-q")
    assert fresh.returncode == 0
    (m1, _), (m2, s2) = _outputs(tmp_path / "fresh"), _outputs(out)
    assert _reused(out) == 3 and m2.equals(m1) and _same_bytes(tmp_path / "fresh", out)
    assert s2["docs_scanned"] == 499


@pytest.mark.parametrize("change", [["--min-coverage", "0.6"], ["--text-field", "title"]])
def test_resume_with_other_parameters_starts_over(cli_index: BuiltIndex, tmp_path: Path, change: list[str]) -> None:
    corpus = _corpus(tmp_path / "corpus", 3)
    out = tmp_path / "out"
    assert run_cli_here("scan", cli_index.path, corpus, "-o", out, "-q").returncode == 0
    again = run_cli_here("scan", cli_index.path, corpus, "-o", out, "-q", "--resume", *change)
    assert again.returncode == 0, again.stderr
    fresh = run_cli_here("scan", cli_index.path, corpus, "-o", tmp_path / "fresh", "-q", *change)
    assert fresh.returncode == 0, fresh.stderr
    (m1, _), (m2, _) = _outputs(tmp_path / "fresh"), _outputs(out)
    assert _reused(out) == 0 and m2.equals(m1) and _same_bytes(tmp_path / "fresh", out)


def test_resume_needs_an_output_directory(api_index) -> None:
    from provenance import api
    from provenance.errors import ParameterError

    index, _ = api_index
    with pytest.raises(ParameterError, match="--resume"):
        api.scan(index, [PLANTED], resume=True)


def test_resume_keeps_each_name_of_a_symlinked_file(cli_index: BuiltIndex, tmp_path: Path) -> None:
    """A folder with a.jsonl and b.jsonl -> a.jsonl: two inputs, each with its own rows; a resumed scan
    relabels neither (its units are keyed by the path as given) and writes the fresh scan's bytes."""
    corpus = _corpus(tmp_path / "corpus", 1)
    (corpus / "part-000.jsonl").rename(corpus / "a.jsonl")
    (corpus / "b.jsonl").symlink_to("a.jsonl")
    fresh = run_cli_here("scan", cli_index.path, corpus, "-o", tmp_path / "fresh", "-q")
    assert fresh.returncode == 0, fresh.stderr
    out = tmp_path / "out"
    assert run_cli_here("scan", cli_index.path, corpus, "-o", out, "-q").returncode == 0
    resumed = run_cli_here("scan", cli_index.path, corpus, "-o", out, "-q", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    (m1, _), (m2, _) = _outputs(tmp_path / "fresh"), _outputs(out)
    sources = m2.group_by("source").len().sort("source")
    assert sources["source"].to_list() == [str(corpus / "a.jsonl"), str(corpus / "b.jsonl")]
    assert sources["len"][0] == sources["len"][1] > 100
    assert _reused(out) == 2 and m2.equals(m1) and _same_bytes(tmp_path / "fresh", out)
