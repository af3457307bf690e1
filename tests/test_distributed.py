"""Scans on Dask distributed: a LocalCluster, and real ``dask scheduler`` / ``dask worker`` processes
on 127.0.0.1, give the same matches and summary as a scan in one process."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import polars as pl
import pytest

from conftest import PLANTED, run_cli
from provenance import api
from provenance.errors import InputError, ParameterError
from provenance.params import ScanParams

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402  (with distributed)



@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted corpus cut into four JSONL files (one Dask task each)."""
    d = tmp_path_factory.mktemp("corpus")
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    for k in range(4):
        (d / f"part-{k}.jsonl").write_text("".join(lines[k::4]), encoding="utf-8")
    return d


def test_local_cluster_gives_the_same_results(api_index, corpus_dir: Path) -> None:
    index, _ = api_index
    params = ScanParams(batch_size=50)
    local = api.scan(index, [corpus_dir], params=params)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        remote = api.scan(index, [corpus_dir], params=params, scheduler=cluster.scheduler_address)
        with distributed.Client(cluster) as client:  # an existing client works too
            again = api.scan(index, [corpus_dir], params=params, scheduler=client)
            # parts of files are tasks of their own (here each file in ~5 parts, 20 tasks)
            parts = api.scan(index, [corpus_dir], params=params, scheduler=client, unit_size=50_000)
    assert local.matches.height > 250
    for other in (remote, again, parts):
        assert other.matches.equals(local.matches)
        assert other.summary == local.summary


def test_bad_input_on_a_worker_is_the_usual_one_line_error(api_index, tmp_path: Path) -> None:
    index, _ = api_index
    (tmp_path / "bad.jsonl").write_text('{"id": "1", "text": "fine"}\n{"id": 2, "text": \n', encoding="utf-8")
    (tmp_path / "more.jsonl").write_text('{"id": "3", "text": "also fine"}\n[4]\n', encoding="utf-8")
    skip = ScanParams(on_error="skip")
    local = api.scan(index, [tmp_path], params=skip)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with pytest.raises(InputError, match=r"bad.jsonl:2: broken JSON"):
            api.scan(index, [tmp_path], scheduler=cluster.scheduler_address)
        # --on-error skip: the workers skip and count, as a scan in one process does
        remote = api.scan(index, [tmp_path], params=skip, scheduler=cluster.scheduler_address)
    assert remote.summary == local.summary
    assert remote.summary["skipped"]["by_kind"] == {"broken_json": 1, "not_an_object": 1}
    assert remote.summary["docs_scanned"] == 2
    with pytest.raises(ParameterError, match="not both"):
        api.scan(index, [tmp_path], scheduler="tcp://127.0.0.1:1", workers=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dask_processes(logs: Path, *workers: list[str]) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A real ``dask scheduler`` on 127.0.0.1 and one ``dask worker`` process per argument list (each
    given the scheduler's address first); yields the address and the processes (scheduler first), and
    stops them all at the end. Skips when the dask command is missing."""
    dask = shutil.which("dask", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if dask is None:
        pytest.skip("the dask command is not installed")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs.mkdir(exist_ok=True)
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=(logs / "scheduler.log").open("w"), stderr=subprocess.STDOUT)]
    try:
        for i, args in enumerate(workers):
            procs.append(subprocess.Popen([dask, "worker", address, *args, "--no-dashboard"],
                                          stdout=(logs / f"worker-{i}.log").open("w"), stderr=subprocess.STDOUT))
        yield address, procs
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        time.sleep(0.1)


@contextmanager
def two_workers_one_killed(logs: Path) -> Iterator[tuple[Any, Callable[[int, int], None], list[int], subprocess.Popen]]:
    """Two real ``dask worker`` processes (one thread each, no nanny) and a client of their cluster.
    Yields the client, a progress callback that kills the second worker (SIGKILL) once the first unit
    is done, the record counts the callback saw, and that worker's process."""
    one = ["--nthreads", "1", "--no-nanny"]
    with dask_processes(logs, one, one) as (address, procs):
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            done: list[int] = []

            def kill_one(nbytes: int, records: int) -> None:
                done.append(records)
                if len(done) == 1:
                    procs[2].kill()

            yield client, kill_one, done, procs[2]


def test_real_scheduler_and_worker_processes_through_the_cli(cli_index, corpus_dir: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    with dask_processes(logs, ["--nworkers", "2", "--nthreads", "1"]) as (address, _):
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        outs = []
        for extra in ([], ["--scheduler", address]):
            out = tmp_path / ("cluster" if extra else "local")
            r = run_cli("scan", cli_index.path, corpus_dir, "-o", out, "--quiet", *extra, timeout=300)
            assert r.returncode == 0, r.stderr + (logs / "worker-0.log").read_text()[-2000:]
            outs.append(out)
        a, b = (pl.read_parquet(o / "matches.parquet") for o in outs)
        assert a.height > 250 and a.equals(b)
        sa, sb = (json.loads((o / "summary.json").read_text()) for o in outs)
        assert sa == sb


def test_unreachable_scheduler_is_a_one_line_error(cli_index, corpus_dir: Path, tmp_path: Path) -> None:
    r = run_cli("scan", cli_index.path, corpus_dir, "-o", tmp_path / "o", "--scheduler", f"tcp://127.0.0.1:{_free_port()}",
                env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error:") and "scheduler" in lines[0], r.stderr


# ------------------------------------------------------------------ a sharded index on the cluster

@pytest.fixture(scope="module")
def four_shards(tmp_path_factory: pytest.TempPathFactory):
    from conftest import POSTS_CSV

    out = tmp_path_factory.mktemp("four-shards") / "idx"
    return api.build_index([POSTS_CSV], out, id_field="tweet_id", meta_fields=["name"], shards=4)


def _paged(path: Path) -> int:
    """Bytes of the .npy files under ``path``, each rounded up to whole pages (what a map can hold)."""
    page = os.sysconf("SC_PAGE_SIZE")
    return sum(-(-f.stat().st_size // page) * page for f in path.rglob("*.npy"))


def _same_results(a: api.ScanResult, b: api.ScanResult) -> None:
    assert a.matches.height > 250 and a.matches.equals(b.matches)
    assert {k: v for k, v in a.summary.items() if k != "index"} == {k: v for k, v in b.summary.items() if k != "index"}


def test_sharded_index_on_a_local_cluster_no_worker_opens_it_whole(api_index, four_shards, corpus_dir: Path) -> None:
    from provenance.scanner.dask_shards import made_index_bytes, opened_routes, opened_shards, resident_index_bytes

    index, _ = api_index
    params = ScanParams(batch_size=50)
    local = api.scan(index, [corpus_dir], params=params)
    root = str(four_shards.path.resolve())
    with dask.config.set({"distributed.scheduler.work-stealing": False}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            remote = api.scan(four_shards.path, [corpus_dir], params=params, scheduler=client, unit_size=50_000)
            opened = client.run(opened_shards)
            parts = client.run(opened_routes)
            resident = client.run(resident_index_bytes, root)
            made = client.run(made_index_bytes)
    _same_results(local, remote)
    # what the shards made on opening (key filters, offsets) is held by their owners alone, half each
    assert all(0 < m <= 0.6 * sum(made.values()) for m in made.values()), made
    # each worker opened the two shards it owns and their two route parts (routed probes: each document
    # shingle went to one part), holds only their pages, and so about half of the index
    assert sorted(len(v) for v in opened.values()) == [2, 2]
    assert sorted(p for v in opened.values() for p in v) == [str(r.path) for r in four_shards.refs]
    routes = four_shards.routes
    for worker, shards in opened.items():
        own_parts = [f"{routes.path}/part-{int(Path(s).name.split('-')[1]):04d}" for s in shards]
        assert parts[worker] == own_parts
        mine = shards + own_parts
        files = resident[worker]
        assert files and all(any(f.startswith(d + "/") for d in mine) for f in files), (mine, files)
        own = sum(_paged(Path(d)) for d in mine)
        assert sum(files.values()) <= own <= 0.55 * _paged(four_shards.path)
        # the shards' own seeds are no longer read: probes went to the parts
        assert not any(files.get(f"{s}/seed_keys.npy", 0) for s in shards), files


def test_a_worker_killed_mid_scan_loses_and_duplicates_nothing(api_index, four_shards, corpus_dir: Path,
                                                             tmp_path: Path) -> None:
    """Real ``dask worker`` processes; one is killed (SIGKILL) when the first unit is done. Dask runs
    its tasks again on the other, which then opens the dead worker's shards too."""
    from provenance.scanner.dask_shards import opened_shards

    index, _ = api_index
    params = ScanParams(batch_size=20)
    local = api.scan(index, [corpus_dir], params=params, unit_size=20_000)
    with two_workers_one_killed(tmp_path / "logs") as (client, kill_one, done, victim):
        remote = api.scan(four_shards.path, [corpus_dir], params=params, scheduler=client, unit_size=20_000,
                          on_progress=kill_one)
        survivors = client.run(opened_shards)
        assert victim.wait(timeout=20) != 0  # killed
    assert len(done) > 8  # the kill came with most units still to do
    _same_results(local, remote)
    [(_, survivor)] = survivors.items()
    assert survivor == [str(r.path) for r in four_shards.refs]  # it took over the dead worker's shards


class _CancellingClient:
    """A stand-in for a worker's client whose first ``cancel`` gathers fail as when a worker died with a
    scattered batch; it runs the submitted functions itself."""

    def __init__(self, cancel: int) -> None:
        self.cancel, self.scattered, self.submitted = cancel, 0, []

    def scatter(self, values, workers, hash):
        self.scattered += 1
        return list(values)

    def submit(self, fn, *args, workers, allow_other_workers, pure):
        self.submitted.append(workers)
        return fn, args

    def gather(self, futures):
        from distributed.client import FutureCancelledError

        if self.cancel:
            self.cancel -= 1
            raise FutureCancelledError("find", "lost")
        return [fn(*args) for fn, args in futures]


def test_a_cancelled_shard_task_is_submitted_again_and_counted_once(four_shards) -> None:
    from provenance.match.tally import Tally
    from provenance.scanner.dask_shards import ATTEMPTS, RemoteShards
    from provenance.text.shingles import batch_shingles

    texts = [json.loads(line)["text"] for line in gzip.open(PLANTED, "rt", encoding="utf-8")][:60]
    sb = batch_shingles(texts, 3, four_shards.token_hasher(), lines=True)
    owners = [f"w{s % 2}" for s in range(4)]

    def find(client):
        tally = Tally()
        found = RemoteShards(client, four_shards.refs, owners, None, "w0", 50).find(sb, ScanParams(), tally)
        return found, (tally.candidates, tally.verified, tally.aligned)

    expected = find(_CancellingClient(0))
    assert sum(map(len, expected[0])) > 0 and expected[1][0] > 0
    twice = _CancellingClient(2)
    assert find(twice) == expected  # the same finds, candidates counted once
    assert twice.scattered == 3 and twice.submitted == [[o] for o in owners] * 3
    with pytest.raises(distributed.client.FutureCancelledError):
        find(_CancellingClient(ATTEMPTS))
