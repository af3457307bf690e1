"""Crash safety: ``kill -9`` an index build or a scan at random points (several seeds).

An index directory is then either a whole index, identical to one built without interruption, or
absent and reported incomplete (never half an index); the next build cleans up after the killed
one. A killed scan resumed with ``--resume`` writes matches.parquet and summary.json byte-identical
to an uninterrupted scan's, and its evidence checks out.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import pytest

from conftest import POSTS_CSV, BuiltIndex, cli_command, run_cli
from provenance.errors import IndexFormatError
from provenance.index import MANIFEST, open_index
from provenance.locks import is_lock_file

SEEDS = range(6)
BUILD = ["index", "build", str(POSTS_CSV), "--id-field", "tweet_id", "--memory-limit", "1MiB", "-q"]


def _files(d: Path) -> dict[str, bytes]:
    """An index's files, the manifest without its creation time and own checksum (not the lock files a
    killed build leaves: provenance.locks)."""
    out = {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.name != MANIFEST and not is_lock_file(p.name)}
    manifest = json.loads((d / MANIFEST).read_text())
    for key in ("created", "self_sha256"):
        manifest.pop(key)
    out[MANIFEST] = json.dumps(manifest, sort_keys=True).encode()
    return out


def _timed(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = run_cli(*args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return time.perf_counter() - t0


def _kill_after(args: list[str], cwd: Path, seconds: float) -> None:
    proc = subprocess.Popen([*cli_command(), *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    proc.kill()
    proc.wait()


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*") if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Uninterrupted builds (ngram 3 and 4) and how long one takes."""
    d = tmp_path_factory.mktemp("reference")
    seconds = min(_timed([*BUILD, "-o", "idx3", "--force"], d) for _ in range(2))
    _timed([*BUILD, "-o", "idx4", "--ngram", "4"], d)
    return {"seconds": seconds, "idx3": _files(d / "idx3"), "idx4": _files(d / "idx4")}


def test_build_killed_at_random_points(reference: dict, tmp_path: Path) -> None:
    outcomes = []
    for seed in SEEDS:
        d = tmp_path / f"seed{seed}"
        d.mkdir()
        _kill_after([*BUILD, "-o", "idx"], d, random.Random(seed).uniform(0.1, 1.1) * reference["seconds"])
        try:
            open_index(d / "idx")  # verify=True: every file against the manifest
        except IndexFormatError as e:
            assert not (d / "idx" / MANIFEST).exists()  # (idx/ may be there: the killed build's lock made it)
            assert "incomplete" in str(e) or "no such index directory" in str(e) or "no index (an empty" in str(e), e
            outcomes.append("incomplete")
        else:
            assert _files(d / "idx") == reference["idx3"]
            outcomes.append("whole")
        # The next build succeeds and leaves no temporary directory (the killed build's is removed).
        again = run_cli(*BUILD, "-o", "idx", "--force", cwd=d)
        assert again.returncode == 0, again.stderr
        assert _files(d / "idx") == reference["idx3"] and _leftovers(d) == []
    print("outcomes:", outcomes)


def test_build_killed_while_writing_is_reported_incomplete(tmp_path: Path) -> None:
    """Killed once its temporary directory exists: the index is reported incomplete, in one line."""
    proc = subprocess.Popen([*cli_command(), *BUILD, "-o", "idx"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob(".idx.*.tmp")):
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert list(tmp_path.glob(".idx.*.tmp")) and not (tmp_path / "idx" / MANIFEST).exists()
    scan = run_cli("scan", "idx", POSTS_CSV, "-o", "out", cwd=tmp_path)
    assert scan.returncode == 2
    assert scan.stderr.strip().startswith("error: idx: no index: a build that was stopped left ")
    assert "incomplete; build the index again" in scan.stderr and len(scan.stderr.strip().splitlines()) == 1


def test_forced_rebuild_killed_keeps_a_whole_index(reference: dict, tmp_path: Path) -> None:
    """Replacing an index (--force) and killed at any point: the old index or the new one, whole."""
    seen = set()
    for seed in SEEDS[:4]:
        d = tmp_path / f"seed{seed}"
        d.mkdir()
        assert run_cli(*BUILD, "-o", "idx", cwd=d).returncode == 0
        delay = random.Random(100 + seed).uniform(0.1, 1.1) * reference["seconds"]
        _kill_after([*BUILD, "-o", "idx", "--force", "--ngram", "4"], d, delay)
        open_index(d / "idx")
        files = _files(d / "idx")
        assert files in (reference["idx3"], reference["idx4"])
        seen.add(3 if files == reference["idx3"] else 4)
    print("ngram of the index after the kill:", sorted(seen))


# ---------------------------------------------------------------------------------------------- scans


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted corpus spread over 16 JSONL files, twice (fresh ids), for many checkpoint units."""
    from test_resume import _corpus

    return _corpus(tmp_path_factory.mktemp("crash-corpus") / "corpus", 16, copies=2)


def test_scan_killed_at_random_points_resumes_to_the_same_bytes(cli_index: BuiltIndex, corpus: Path,
                                                                tmp_path: Path) -> None:
    full = tmp_path / "full"
    args = ["scan", str(cli_index.path), str(corpus), "-q"]
    seconds = _timed([*args, "-o", str(full)], tmp_path)
    reused = []
    for seed in range(3):
        out = tmp_path / f"killed{seed}"
        _kill_after([*args, "-o", str(out)], tmp_path, random.Random(seed).uniform(0.2, 1.0) * seconds)
        resumed = run_cli(*args, "-o", out, "--resume", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        for name in ("matches.parquet", "summary.json"):
            assert (out / name).read_bytes() == (full / name).read_bytes(), (seed, name)
        assert _leftovers(out) == []
        reused.append(json.loads((out / "run.json").read_text())["inputs_reused"])
    print("units reused after the kill:", reused)
    check = run_cli("verify", tmp_path / "killed0", corpus, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_replace_stopped_between_two_renames_points_to_the_previous_index(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Where directories cannot be swapped in one step, the old index is renamed away first; a crash
    right then leaves no index, and opening it names where the previous one is."""
    import provenance.index.write as index_mod
    from provenance import api

    api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id")
    monkeypatch.setattr(index_mod, "exchange", lambda a, b: False)
    real_rename, calls = index_mod.os.rename, []

    def crash_on_second(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process stops between the two renames
        real_rename(src, dst)

    monkeypatch.setattr(index_mod.os, "rename", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id", force=True)
    monkeypatch.setattr(index_mod.os, "rename", real_rename)
    with pytest.raises(IndexFormatError, match=r"idx: no index: a build that was replacing it stopped; the previous "
                                              r"index is .*\.idx\..*\.old\.tmp \(rename it to idx, or build again\)"):
        open_index(tmp_path / "idx")
    previous = Path(calls[0][1])
    real_rename(previous, tmp_path / "idx")
    open_index(tmp_path / "idx")  # renamed back: the previous index, whole
