"""One writer at a time (provenance.locks): two appends onto one index, a build while a scan reads the
index, two scans into one output directory; a lock of a killed process is taken over; and a scan
works on the index it opened, whatever happens at its path meanwhile."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import PLANTED, POSTS_CSV, cli_command, run_cli

from provenance import api

LOCK_NAME = ".provenance.lock"


def _posts(path: Path, copies: int, tag: str) -> Path:
    """The fixture posts ``copies`` times, with ids of their own (``TAG-COPY-ID``)."""
    with POSTS_CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["tweet_id", "text"])
        w.writeheader()
        for c in range(copies):
            for r in rows:
                w.writerow({"tweet_id": f"{tag}-{c}-{r['tweet_id']}", "text": f"{r['text']} {tag}{c}"})
    return path


def _holder_process(directory: Path, shared: bool = False) -> subprocess.Popen:
    """Another process holding a lock on ``directory`` until its stdin closes (it prints 'locked')."""
    code = ("import sys; from provenance.locks import lock_directory; "
            f"lock = lock_directory({str(directory)!r}, 'a test holding it', shared={shared}); "
            "print('locked', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_two_appends_at_once_lose_no_post(tmp_path: Path) -> None:
    base = run_cli("index", "build", POSTS_CSV, "-o", tmp_path / "idx", "--id-field", "tweet_id", "-q")
    assert base.returncode == 0, base.stderr
    a, b = _posts(tmp_path / "a.csv", 60, "A"), _posts(tmp_path / "b.csv", 1, "B")
    first = subprocess.Popen([*cli_command(), "index", "build", str(a), "-o", str(tmp_path / "idx"), "--append",
                              "--id-field", "tweet_id", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120  # until the first append works on its new index (beside the old one)
    while time.time() < deadline and not list(tmp_path.glob(".idx.*.tmp")) and first.poll() is None:
        time.sleep(0.005)
    second = run_cli("index", "build", b, "-o", tmp_path / "idx", "--append", "--id-field", "tweet_id", "-q")
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err
    n = api.open_index(tmp_path / "idx").n_posts
    if second.returncode == 0:  # (the first had finished before the second started: both appended)
        assert n == 3000 * 62
        pytest.skip("the first append ended before the second began; nothing to refuse")
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use by an index append (pid" in lines[0] and f"pid {first.pid} on" in lines[0]
    assert "since " in lines[0] and "index build" in lines[0] and "--append" in lines[0]
    assert n == 3000 * 61  # the first append whole; the second changed nothing
    assert not (tmp_path / "idx" / LOCK_NAME).exists() and not list((tmp_path / "idx").glob(".provenance-holder.*"))


def test_a_build_is_refused_while_a_scan_reads_the_index_and_the_scan_is_right(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    api.build_index([POSTS_CSV], idx, id_field="tweet_id")
    other = _posts(tmp_path / "other.csv", 1, "X")
    seen: list[subprocess.CompletedProcess] = []

    def during_scan(nbytes: int, records: int) -> None:
        if not seen:
            seen.append(run_cli("index", "build", other, "-o", idx, "--force", "--id-field", "tweet_id", "-q"))

    result = api.scan(idx, [PLANTED], tmp_path / "out", on_progress=during_scan)
    [build] = seen
    assert build.returncode == 2 and "in use by a scan reading it (pid" in build.stderr, build.stderr
    fresh = api.scan(idx, [PLANTED], tmp_path / "fresh")
    assert result.matches.height > 100 and result.matches.equals(fresh.matches)
    assert not result.matches["post_id"].str.starts_with("X-").any()


def test_a_scan_is_refused_while_a_build_writes_the_index(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    api.build_index([POSTS_CSV], idx, id_field="tweet_id")
    holder = _holder_process(idx)
    try:
        proc = run_cli("scan", idx, PLANTED, "-o", tmp_path / "out", "-q")
    finally:
        holder.stdin.close()
        holder.wait()
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and f"in use by a test holding it (pid {holder.pid} on" in proc.stderr
    assert run_cli("scan", idx, PLANTED, "-o", tmp_path / "out", "-q").returncode == 0  # its lock went with it


def test_two_scans_into_one_output_directory(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    api.build_index([POSTS_CSV], idx, id_field="tweet_id")
    seen: list[subprocess.CompletedProcess] = []

    def during_scan(nbytes: int, records: int) -> None:
        if not seen:  # a second scan, other parameters, same -o (--force: it would replace the results)
            seen.append(run_cli("scan", idx, PLANTED, "-o", tmp_path / "out", "--force", "--min-containment", "0.9",
                                "--min-coverage", "0.9", "-q"))

    first = api.scan(idx, [PLANTED], tmp_path / "out", on_progress=during_scan)
    [second] = seen
    assert second.returncode == 2 and "in use by a scan writing its results (pid" in second.stderr, second.stderr
    assert not list((tmp_path / "out").glob(".provenance*")) and not list(idx.glob(".provenance*"))  # (released)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["params"]["scan"]["min_containment"] == 0.5 == first.summary["params"]["scan"]["min_containment"]
    units = json.loads((tmp_path / "out" / "units" / "scan.json").read_text())
    assert units["params"]["min_containment"] == 0.5


def test_a_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    from provenance.locks import DirectoryInUse, lock_directory

    d = tmp_path / "d"
    holder = _holder_process(d)
    with pytest.raises(DirectoryInUse, match=f"pid {holder.pid} on .*since .*: python"):
        lock_directory(d, "a second writer")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert list(d.glob(".provenance-holder.*"))  # what the killed process left
    with lock_directory(d, "the next writer"):
        names = sorted(p.name for p in d.iterdir())
        assert len(names) == 2 and LOCK_NAME in names  # the killed process's holder file is gone, ours is there
        assert [n for n in names if n != LOCK_NAME][0].endswith(f"-{os.getpid()}")
    assert list(d.iterdir()) == []  # the last holder leaves nothing behind


def test_readers_share_and_a_writer_waits_for_none(tmp_path: Path) -> None:
    from provenance.locks import DirectoryInUse, lock_directory

    d = tmp_path / "d"
    d.mkdir()
    reader = _holder_process(d, shared=True)
    try:
        with lock_directory(d, "another reader", shared=True):
            with pytest.raises(DirectoryInUse, match="in use by (a test holding it|another reader) .* and 1 more;"):
                lock_directory(d, "a writer")
    finally:
        reader.stdin.close()
        reader.wait()
    with lock_directory(d, "a writer"):
        pass
    assert list(d.iterdir()) == []
    with lock_directory(tmp_path / "new" / "dir", "a writer"):
        assert (tmp_path / "new" / "dir" / LOCK_NAME).exists()
    assert not (tmp_path / "new" / "dir").exists()  # (made for the lock and still empty: removed again)


def test_post_ids_come_from_the_index_that_was_opened(tmp_path: Path) -> None:
    from provenance.index import build_index as build_without_lock
    from provenance.io import expand_inputs, read_batches

    idx = tmp_path / "idx"
    index = api.build_index([POSTS_CSV], idx, id_field="tweet_id")
    before = index.post_ids([0, 5, 2999]).to_list()
    other = _posts(tmp_path / "other.csv", 1, "X")
    batches = read_batches(expand_inputs([other]), "text", "tweet_id")
    build_without_lock(batches, idx, overwrite=True)  # replaced under the opened index (no lock taken)
    assert api.open_index(idx).post_ids([0]).to_list() == ["X-0-" + before[0]]
    assert index.post_ids([0, 5, 2999]).to_list() == before


def test_a_scan_refuses_to_finish_on_an_index_replaced_meanwhile(tmp_path: Path) -> None:
    from provenance.errors import IndexFormatError
    from provenance.index import build_index as build_without_lock
    from provenance.io import expand_inputs, read_batches

    idx = tmp_path / "idx"
    index = api.build_index([POSTS_CSV], idx, id_field="tweet_id")
    other = _posts(tmp_path / "other.csv", 1, "X")

    def replace_index(nbytes: int, records: int) -> None:  # as a process that ignores the lock would
        if not (tmp_path / "replaced").exists():
            (tmp_path / "replaced").touch()
            build_without_lock(read_batches(expand_inputs([other]), "text", "tweet_id"), idx, overwrite=True)

    with pytest.raises(IndexFormatError, match="the index changed after it was opened"):
        api.scan(index, [PLANTED], tmp_path / "out", on_progress=replace_index)
    assert not (tmp_path / "out" / "matches.parquet").exists()
    with pytest.raises(IndexFormatError, match="the index changed after it was opened"):
        api.scan(index, [PLANTED], tmp_path / "out2")  # (opened before the rebuild)
    assert pl.read_parquet(api.scan(idx, [PLANTED], tmp_path / "out3").out_dir / "matches.parquet")["post_id"] \
        .str.starts_with("X-").all()


def test_an_index_being_built_is_named_as_such_not_as_a_stopped_build(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    holder = _holder_process(idx)  # as a build of a new index holds it (the directory holds only its lock)
    try:
        proc = run_cli("scan", idx, PLANTED, "-o", tmp_path / "out", "-q")
    finally:
        holder.stdin.close()
        holder.wait()
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"error: {idx}: in use by a test holding it (pid {holder.pid} on "), proc.stderr
    again = run_cli("scan", idx, PLANTED, "-o", tmp_path / "out", "-q")
    assert again.returncode == 2 and "no index (an empty directory)" in again.stderr, again.stderr
