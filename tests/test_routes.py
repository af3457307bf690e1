"""Routes (index format 18): a sharded index's probe tables cut by key hash. Each document shingle is
probed in one part whatever the number of shards, and the finds are exactly those of a probe of every
shard (containment, edited and partial copies, short posts whole and inside sentences, the posts that
share a text, the candidate counts); damaged routes are refused with one line."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import PLANTED, POSTS_CSV, run_cli_here
from provenance import api
from provenance.durable import sealed_json
from provenance.errors import IndexFormatError
from provenance.index import ShardedIndex, open_index
from provenance.index.routes import ROUTE_ARRAYS, RoutePart, route_of
from provenance.match.tally import Tally
from provenance.params import ScanParams
from provenance.scanner.dask_shards import RemoteShards, _probe_task
from provenance.scanner.pipeline import LocalShards
from provenance.text.shingles import batch_shingles


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> ShardedIndex:
    out = tmp_path_factory.mktemp("routed") / "idx"
    index = api.build_index([POSTS_CSV], out, id_field="tweet_id", meta_fields=["name"], shards=4)
    assert isinstance(index, ShardedIndex) and index.routes is not None and index.routed_shards == 4
    return index


class _HereClient:
    """A stand-in for a worker's client that runs what it is given here, and keeps what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, tuple]] = []

    def scatter(self, values, workers, hash):
        return list(values)

    def submit(self, fn, *args, workers, allow_other_workers, pure):
        self.calls.append((fn, args))
        return fn, args

    def gather(self, futures):
        return [fn(*args) for fn, args in futures]


class _CountingParts(LocalShards):
    """Routed probes in this process, keeping the hashes each part was asked."""

    def __init__(self, index: ShardedIndex) -> None:
        super().__init__(index, routed=True)
        assert self.shape is not None
        self.probed: list[np.ndarray] = []

    def probe(self, asked):
        for r, hashes in asked:
            assert (route_of(hashes, self.routes.parts) == r).all()
            self.probed.append(hashes)
        return super().probe(asked)


def _texts() -> list[str]:
    import polars as pl

    texts = [json.loads(line)["text"] for line in gzip.open(PLANTED, "rt", encoding="utf-8")]
    posts = pl.read_csv(POSTS_CSV)["text"].to_list()
    long = [t for t in posts if len(t.split()) >= 22][:80]
    # short posts on lines of their own, partial quotes of long posts inside a sentence
    return texts + ["\n".join(posts[i:i + 5]) for i in range(0, 200, 5)] + [
        f"As one passenger put it, {' '.join(t.split()[:12])} and the airline did not answer." for t in long]


@pytest.mark.parametrize("params", [ScanParams(), ScanParams(two_seeds_from=0), ScanParams(min_containment=0.7)],
                         ids=["default", "one-seed", "strict"])
def test_routed_finds_are_those_of_every_shard(routed: ShardedIndex, params: ScanParams) -> None:
    texts = _texts()
    local = LocalShards(routed, routed=False)
    here = _CountingParts(routed)
    client = _HereClient()
    owners = [f"w{s % 2}" for s in range(len(routed.refs))]
    remote = RemoteShards(client, routed.refs, owners, None, "w0", routed.params.max_key_posts, routed.routes,
                          routed.routed_shards, routed.token_hasher(), routed.params.short_tokens)
    methods: set[str] = set()
    for a in range(0, len(texts), 211):
        sb = batch_shingles(texts[a:a + 211], routed.params.ngram, routed.token_hasher(), lines=True)
        t1, t2 = Tally(), Tally()
        expected = local.find(sb, params, t1)
        client.calls.clear()
        got = remote.find(sb, params, t2)
        assert got == expected
        assert (t2.candidates, t2.verified, t2.aligned) == (t1.candidates, t1.verified, t1.aligned)
        # the same routed in this process (one-process scans of a sharded index), each shingle probed once
        t3 = Tally()
        here.probed.clear()
        assert here.find(sb, params, t3) == expected
        assert (t3.candidates, t3.verified, t3.aligned) == (t1.candidates, t1.verified, t1.aligned)
        assert sorted(np.concatenate(here.probed).tolist()) == sorted(sb.hashes.tolist())
        # every shingle of the batch was probed once, in its own part
        probes = [args for fn, args in client.calls if fn is _probe_task]
        assert sum(len(args[2]) for args in probes) == len(sb.hashes)
        assert all((route_of(args[2], routed.routes.parts) == args[1]).all() for args in probes)
        methods |= {g.method for shard in expected for f in shard for g in (f, f.fallback) if g is not None}
    assert {"containment", "aligned", "partial", "exact_short"} <= methods
    # what the parts made on opening (their filters and search buckets) counts in what a worker holds
    from provenance.scanner.dask_shards import _OPEN_ROUTES, _OPEN_SHARDS, made_index_bytes

    parts = [p for (path, _, _), p in _OPEN_ROUTES.items() if path == routed.routes.path]
    assert len(parts) == routed.routes.parts and all(p.made_bytes() > 0 for p in parts)
    shards = sum(m.index.made_bytes() for m in _OPEN_SHARDS.values())
    assert made_index_bytes() == shards + sum(p.made_bytes() for p in _OPEN_ROUTES.values())


def test_a_part_holds_the_seeds_of_its_key_range_for_all_posts(routed: ShardedIndex) -> None:
    """Part by part, the routes hold every shard's seeds (posts renumbered over the whole index) and
    nothing else; the Dask build writes the same bytes (tests/test_dask_build.py)."""
    from provenance.index import shards_of

    want = sorted((int(h), int(p) + first) for shard, first in shards_of(routed)
                  for h, p in zip(np.repeat(np.asarray(shard.seed_keys), np.diff(np.r_[0, np.asarray(shard.seed_ends)])),
                                  np.asarray(shard.seed_posts)))
    got = []
    for r in range(routed.routes.parts):
        part = RoutePart(routed.routes, r)
        keys = np.asarray(part.a["seed_keys"])
        assert (route_of(keys, routed.routes.parts) == r).all() and (np.diff(keys.astype(np.float64)) >= 0).all()
        counts = np.diff(np.r_[0, part.a["seed_ends"]])
        got += list(zip(np.repeat(keys, counts).tolist(), np.asarray(part.a["seed_posts"]).tolist()))
    assert sorted(got) == want


@pytest.mark.parametrize("damage, message", [
    ("file", "size differs from the routes"),
    ("manifest", "checksum differs from the index's manifest"),
    ("entry", "damaged routes entry"),
])
def test_damaged_routes_are_refused(routed: ShardedIndex, tmp_path: Path, damage: str, message: str) -> None:
    idx = tmp_path / "idx"
    shutil.copytree(routed.path, idx)
    if damage == "file":
        f = idx / "routes" / "part-0002" / "seed_posts.npy"
        f.write_bytes(f.read_bytes()[:-4])
    elif damage == "manifest":
        m = json.loads((idx / "routes" / "manifest.json").read_text())
        m["parts"] = 5
        (idx / "routes" / "manifest.json").write_bytes(sealed_json({k: v for k, v in m.items() if k != "seal"}))
    else:
        m = json.loads((idx / "manifest.json").read_text())
        m["routes"]["parts"] = "4"
        (idx / "manifest.json").write_bytes(sealed_json({k: v for k, v in m.items() if k != "seal"}))
    with pytest.raises(IndexFormatError, match=message):
        open_index(idx)
    proc = run_cli_here("scan", idx, PLANTED, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_an_altered_route_file_of_the_same_size_is_found_by_its_checksum(routed: ShardedIndex, tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    shutil.copytree(routed.path, idx)
    f = idx / "routes" / "part-0001" / "short_keys.npy"
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 1
    f.write_bytes(bytes(raw))
    with pytest.raises(IndexFormatError, match="checksum differs from the routes"):
        open_index(idx)
    # a scan opens its index with the checksums checked in a thread: found before any result is written
    opened = open_index(idx, verify="background")
    with pytest.raises(IndexFormatError, match="checksum differs from the routes"):
        opened.wait_verified()
    proc = run_cli_here("scan", idx, PLANTED, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 2 and "checksum differs from the routes" in proc.stderr, proc.stderr
    assert not (tmp_path / "out" / "matches.parquet").exists()


def test_every_part_file_is_listed(routed: ShardedIndex) -> None:
    m = json.loads((routed.path / "routes" / "manifest.json").read_text())
    assert sorted(m["files"]) == sorted(f"part-{r:04d}/{n}.npy" for r in range(4) for n in ROUTE_ARRAYS)
    assert m["posts"] == routed.n_posts and m["parts"] == 4


def test_an_append_keeps_the_routes_of_the_first_segment_and_probes_its_own_whole(tmp_path: Path) -> None:
    """The routes cover the shards as built; an appended segment is one directory, probed as before
    (still one probe a shingle a segment); the finds stay those of every part; compact writes new routes."""
    import polars as pl

    table = pl.read_csv(POSTS_CSV, infer_schema=False)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    table[:2000].write_csv(a)
    table[2000:].write_csv(b)
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id", shards=3)
    api.build_index([b], idx, id_field="tweet_id", append=True)
    index = open_index(idx)
    assert isinstance(index, ShardedIndex) and index.routed_shards == 3 and len(index.refs) == 4
    client = _HereClient()
    remote = RemoteShards(client, index.refs, ["w0"] * 4, None, "w0", index.params.max_key_posts, index.routes,
                          index.routed_shards, index.token_hasher(), index.params.short_tokens)
    texts = _texts()
    sb = batch_shingles(texts, index.params.ngram, index.token_hasher(), lines=True)
    t1, t2 = Tally(), Tally()
    expected = LocalShards(index, routed=False).find(sb, ScanParams(), t1)
    assert remote.find(sb, ScanParams(), t2) == expected and len(expected[3]) > 0  # (the appended posts found too)
    assert (t2.candidates, t2.verified) == (t1.candidates, t1.verified)
    t3 = Tally()
    assert LocalShards(index).find(sb, ScanParams(), t3) == expected
    assert (t3.candidates, t3.verified) == (t1.candidates, t1.verified)
    api.compact_index(idx, shards=2)
    compacted = open_index(idx)
    assert compacted.routed_shards == 2 and compacted.routes.parts == 2 and len(compacted.refs) == 2


def test_index_info_counts_the_routes(routed: ShardedIndex) -> None:
    from provenance.api import index_size

    size = index_size(routed)
    on_disk = sum(f.stat().st_size for f in routed.path.rglob("*") if f.is_file() and f.name != "manifest.json")
    assert size.disk_bytes == on_disk and size.route_parts == 4
    info = run_cli_here("index", "info", routed.path)
    assert info.returncode == 0 and "4 parts by key hash" in info.stderr
