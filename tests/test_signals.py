"""Stopping: SIGTERM or SIGINT to a scan with worker processes stops all of them, says in one line what
was kept and how to continue, and exits 143 or 130; FIFOs, sockets and devices are never read (a
FIFO would hang the scan), refused or, with --on-error skip, counted."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PLANTED, POSTS_CSV, BuiltIndex, cli_command, run_cli
from test_resume import _corpus


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``, and theirs."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for child, parent in parents.items():
            if parent == p and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_every_worker_and_says_what_was_kept(cli_index: BuiltIndex, tmp_path: Path, signum: int,
                                                             status: int) -> None:
    corpus = _corpus(tmp_path / "corpus", 24, copies=6)
    out = tmp_path / "out"
    args = ["scan", str(cli_index.path), str(corpus), "-o", str(out), "-q", "--workers", "2"]
    proc = subprocess.Popen([*cli_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children: set[int] = set()
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        children |= _children(proc.pid)
        if len(children) >= 2 and len(list((out / "units").glob("*.json"))) >= 2:  # a worker, the tracker; a unit
            break
        time.sleep(0.01)
    children |= _children(proc.pid)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert not (out / "summary.json").exists(), "the scan finished before the signal"
    assert proc.returncode == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    m = re.fullmatch(r"interrupted: (\d+) of 24 units kept in (.+); run the same command with --resume to continue",
                     lines[0])
    assert m and Path(m[2]) == out / "units", lines[0]
    kept = len(list((out / "units").glob("*.json"))) - 1  # (scan.json)
    assert int(m[1]) == kept >= 1
    assert len(children) >= 2  # the pool's worker and the resource tracker at least
    deadline = time.time() + 60
    while time.time() < deadline and any(_running(p) for p in children):
        time.sleep(0.05)
    assert [p for p in children if _running(p)] == []
    if signum == signal.SIGTERM:
        resumed = run_cli(*args, "--resume", timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads((out / "run.json").read_text())["inputs_reused"] == kept


def test_a_unit_stored_just_before_the_signal_is_counted_as_kept(api_index, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The signal lands right after a unit's sealed metadata is written (the race CI once hit): the line
    still counts that unit, as --resume will reuse it."""
    from provenance import api
    from provenance.results import checkpoint

    real, calls = checkpoint.write_sealed, []

    def then_interrupt(path: Path, data: dict) -> None:
        real(path, data)
        calls.append(path.name)
        if len(calls) == 3:  # scan.json, one unit, then a second unit
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "write_sealed", then_interrupt)
    index, _ = api_index
    corpus = _corpus(tmp_path / "corpus", 4)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt) as e:
        api.scan(index, [corpus], out, workers=1)
    kept = len(list((out / "units").glob("*.json"))) - 1
    assert kept == 2
    assert str(e.value).startswith(f"{kept} of 4 units kept in ")
    monkeypatch.setattr(checkpoint, "write_sealed", real)
    api.scan(index, [corpus], out, workers=1, resume=True)
    assert json.loads((out / "run.json").read_text())["inputs_reused"] == kept


def _special(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "corpus" / f"{kind}.jsonl"
    path.parent.mkdir(exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()
    return path


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_a_special_file_in_a_folder_is_refused_or_skipped_never_read(cli_index: BuiltIndex, tmp_path: Path,
                                                                      kind: str) -> None:
    special = _special(tmp_path, kind)
    (tmp_path / "corpus" / "a.jsonl.gz").write_bytes(PLANTED.read_bytes())
    refused = run_cli("scan", cli_index.path, tmp_path / "corpus", "-o", tmp_path / "out", "-q", timeout=120)
    assert refused.returncode == 2
    what = "a FIFO (named pipe)" if kind == "fifo" else "a socket"
    assert refused.stderr == f"error: {special}: {what}, not a regular file; give regular files (copy the stream into one)\n"
    skipped = run_cli("scan", cli_index.path, tmp_path / "corpus", "-o", tmp_path / "out2", "-q", "--on-error", "skip",
                      timeout=120)
    assert skipped.returncode == 0, skipped.stderr
    summary = json.loads((tmp_path / "out2" / "summary.json").read_text())
    assert summary["skipped"]["by_kind"] == {"special_file": 1} and summary["docs_scanned"] == 500
    assert "skipped 1 file (special_file 1)" in skipped.stderr


def test_a_fifo_given_as_input_is_refused(cli_index: BuiltIndex, tmp_path: Path) -> None:
    fifo = _special(tmp_path, "fifo")
    scan = run_cli("scan", cli_index.path, fifo, "-o", tmp_path / "out", "-q", timeout=120)
    assert scan.returncode == 2 and scan.stderr.startswith(f"error: {fifo}: a FIFO") and scan.stderr.count("\n") == 1
    build = run_cli("index", "build", POSTS_CSV, fifo, "--format", "csv", "-o", tmp_path / "idx", "-q", timeout=120)
    assert build.returncode == 2 and build.stderr.startswith(f"error: {fifo}: a FIFO"), build.stderr
    assert not (tmp_path / "idx").exists()


def test_a_fifo_as_a_file_url_is_refused(cli_index: BuiltIndex, tmp_path: Path) -> None:
    fifo = _special(tmp_path, "fifo")
    scan = run_cli("scan", cli_index.path, fifo.as_uri(), "-o", tmp_path / "out", "-q", timeout=120)
    assert scan.returncode == 2 and "a FIFO (named pipe), not a regular file" in scan.stderr, scan.stderr


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_sigterm_stops_workers_that_scan_the_batches_of_one_file(cli_index: BuiltIndex, tmp_path: Path) -> None:
    """One unit (a gzip file is not cut) and two workers: the workers scan its batches; SIGTERM stops them too."""
    import gzip

    corpus = _corpus(tmp_path / "corpus", 1, copies=40)
    with gzip.open(tmp_path / "one.jsonl.gz", "wb", compresslevel=1) as f:
        f.write((corpus / "part-000.jsonl").read_bytes())
    out = tmp_path / "out"
    proc = subprocess.Popen([*cli_command(), "scan", str(cli_index.path), str(tmp_path / "one.jsonl.gz"), "-o", str(out),
                             "-q", "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children: set[int] = set()
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and len(children) < 3:  # two workers and the tracker
        children |= _children(proc.pid)
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert not (out / "summary.json").exists(), "the scan finished before the signal"
    assert proc.returncode == 143, err
    assert err == (f"interrupted: 0 of 1 units kept in {out / 'units'}; run the same command with --resume to "
                   "continue\n")
    deadline = time.time() + 60
    while time.time() < deadline and any(_running(p) for p in children):
        time.sleep(0.05)
    assert len(children) >= 3 and [p for p in children if _running(p)] == []
