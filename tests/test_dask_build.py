"""Index builds on Dask distributed (``index build --scheduler``): the same files as a build in one
process, whatever the parts and shards; the same errors and skips; a worker lost mid-build loses nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import POSTS_CSV, run_cli
from provenance import api
from provenance.errors import InputError, ParameterError
from provenance.io import expand_inputs, split_units
from provenance.params import IndexParams

distributed = pytest.importorskip("distributed")

UNIT = 40_000  # bytes: each input file below is read in several parts


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture(scope="module")
def posts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The fixture posts as two JSONL files, a meta field in the first only (and their dates in both)."""
    d = tmp_path_factory.mktemp("dask-build-posts")
    table = pl.read_csv(POSTS_CSV, infer_schema=False).rename({"tweet_id": "id"})
    files = [d / "a.jsonl", d / "b.jsonl"]
    table[:1300].select("id", "text", "name", "tweet_created").write_ndjson(files[0])
    table[1300:].select("id", "text", "tweet_created").write_ndjson(files[1])
    return files


def _contents(index_dir: Path) -> dict[str, Any]:
    """Every file of an index: its sha256, or for a manifest its content without what differs from
    build to build (the time it was made, and the checksums of manifests, which include that time; the
    routes' manifest has no time, and its checksum stays)."""
    out: dict[str, Any] = {}
    for f in sorted(p for p in index_dir.rglob("*") if p.is_file()):
        name = str(f.relative_to(index_dir))
        if f.name == "manifest.json":
            m = json.loads(f.read_text())
            m.pop("created", None), m.pop("self_sha256")
            for entry in m.get("shards", []):
                entry.pop("manifest_sha256")
            out[name] = m
        else:
            out[name] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _both(tmp_path: Path, client, posts, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    one = api.build_index(posts, tmp_path / "one", **kwargs)
    many = api.build_index(posts, tmp_path / "many", scheduler=client, unit_size=UNIT, **kwargs)
    assert many.n_posts == one.n_posts
    return _contents(tmp_path / "one"), _contents(tmp_path / "many")


def test_the_posts_are_read_in_several_parts(posts) -> None:
    assert len(split_units(expand_inputs(posts), UNIT, "id")) >= 6


@pytest.mark.parametrize("options", [
    {"shards": 3, "meta_fields": ["name"]},
    {"shards": 2, "params": IndexParams(max_key_posts=2, jaccard=True)},  # frequent shingles, posts with only those
    {"shards": 4, "key": b"a secret key of 24 bytes", "params": IndexParams(max_key_posts=3)},
    {"shards": 2, "keep_text": True, "meta_fields": ["name"]},
    {"shards": 3, "date_field": "tweet_created", "params": IndexParams(min_post_bits=50)},  # dates, no keys for more
], ids=["meta", "frequent-jaccard", "keyed", "keep-text", "dates-unattributable"])
def test_the_same_files_as_a_build_in_one_process(client, posts, tmp_path: Path, options: dict[str, Any]) -> None:
    one, many = _both(tmp_path, client, posts, **options)
    assert len(one) > 20 * options["shards"]
    assert one == many
    if options.get("params", IndexParams()).max_key_posts < IndexParams().max_key_posts:
        counts = one["manifest.json"]["counts"]
        assert counts["frequent_shingles"] > 100 and counts["posts_with_only_frequent_shingles"] > 0
    if "date_field" in options:
        counts = one["manifest.json"]["counts"]
        assert counts["dated_posts"] == 3000 and counts["unattributable_posts"] > 20 and counts["quoted_posts"] > 10


def test_a_scan_of_the_dask_built_index_finds_the_planted_posts(client, tmp_path: Path) -> None:
    from conftest import PLANTED

    index = api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id", scheduler=client, shards=2)
    one = api.scan(api.build_index([POSTS_CSV], tmp_path / "one", id_field="tweet_id"), [PLANTED])
    many = api.scan(index, [PLANTED])
    assert one.matches.height > 250 and one.matches.equals(many.matches)


def test_duplicate_ids_stop_the_build_naming_both_places(client, posts, tmp_path: Path) -> None:
    dup = tmp_path / "dup.jsonl"
    pl.read_ndjson(posts[1])[5:8].write_ndjson(dup)
    errors = []
    for scheduler in (None, client):
        with pytest.raises(InputError) as e:
            api.build_index([*posts, dup], tmp_path / "idx", scheduler=scheduler, unit_size=UNIT, shards=2)
        errors.append(str(e.value))
    assert errors[0] == errors[1] and errors[0].startswith(f"{dup}:1: duplicate post id")
    assert not list(tmp_path.glob(".*"))  # no temporary directory left behind


def test_skipped_duplicates_and_bad_records_as_in_one_process(client, posts, tmp_path: Path) -> None:
    dup = tmp_path / "dup.jsonl"
    dup.write_text(pl.read_ndjson(posts[0])[10:14].write_ndjson() + "{broken\n" + pl.read_ndjson(posts[1])[0:2].write_ndjson())
    one, many = _both(tmp_path, client, [*posts, dup], shards=3, on_error="skip")
    assert one == many
    skipped = one["manifest.json"]["skipped"]
    assert skipped["by_kind"] == {"broken_json": 1, "duplicate_id": 6}, skipped


def test_a_file_without_the_id_field_is_skipped_once_though_read_in_parts(client, posts, tmp_path: Path) -> None:
    with_ids = tmp_path / "with.jsonl"
    pl.read_ndjson(posts[0]).rename({"id": "pid"}).write_ndjson(with_ids)
    one, many = _both(tmp_path, client, [with_ids, posts[1]], shards=2, on_error="skip", id_field="pid")
    assert len(split_units(expand_inputs([posts[1]]), UNIT, "pid")) > 2
    assert one == many and one["manifest.json"]["skipped"]["by_kind"] == {"wrong_schema": 1}


def test_a_bad_record_is_the_usual_one_line_error(client, posts, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x1", "text": "a post"}\n{"id": "x2", "text": \n')
    with pytest.raises(InputError, match=rf"^{bad}:2: broken JSON"):
        api.build_index([*posts, bad], tmp_path / "idx", scheduler=client, unit_size=UNIT, shards=2)
    assert not (tmp_path / "idx").exists() and not list(tmp_path.glob(".*"))


def test_what_a_dask_build_refuses(client, posts, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="--shards must be between 2"):
        api.build_index(posts, tmp_path / "idx", scheduler=client, shards=1)
    api.build_index(posts, tmp_path / "idx")
    with pytest.raises(ParameterError, match="--append with --scheduler"):
        api.build_index(posts, tmp_path / "idx", scheduler=client, append=True)


def test_the_shards_default_to_one_a_worker(client, posts, tmp_path: Path) -> None:
    index = api.build_index(posts, tmp_path / "idx", scheduler=client)
    assert len(index.shards) == 2


def test_real_worker_processes_one_killed_mid_build(posts, tmp_path: Path) -> None:
    """Real ``dask worker`` processes; one is killed (SIGKILL) when the first part is read. Dask runs
    its tasks again on the other, and the index is the one a build in one process writes."""
    from test_distributed import two_workers_one_killed

    api.build_index(posts, tmp_path / "one", shards=2)
    with two_workers_one_killed(tmp_path / "logs") as (client, kill_one, done, victim):
        api.build_index(posts, tmp_path / "many", scheduler=client, unit_size=UNIT // 4, shards=2, on_progress=kill_one)
        assert victim.wait(timeout=20) != 0  # killed
    assert len(done) > 10  # the kill came with most parts still to read
    assert _contents(tmp_path / "one") == _contents(tmp_path / "many")


def test_the_cli_builds_on_a_scheduler(cluster, posts, tmp_path: Path) -> None:
    r = run_cli("index", "build", *posts, "-o", tmp_path / "idx", "--scheduler", cluster.scheduler_address,
                "--shards", "3", "--meta-field", "name", "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    manifest = json.loads(r.stdout)
    assert len(manifest["shards"]) == 3 and manifest["meta_fields"] == ["name"]
    assert manifest["counts"]["posts"] == 3000
