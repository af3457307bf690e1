"""Keyed indexes (``index build --key-file KEY``): the same matches as without a key, hashes that
depend on the key, one-line errors for a missing, wrong, unwanted, short or absent key, MinHash still
bit-equal to datasketch, the key in no file, no post text in any index file, and what someone holding
the index without the key can do: a dictionary of the real post texts hashed without the key finds
nothing, and the stored hashes show no word structure (both checked against an unkeyed index as the
control)."""

from __future__ import annotations

import csv
import json
import os
import pickle
from pathlib import Path

import datasketch
import numpy as np
import polars as pl
import pytest

from conftest import PLANTED, POSTS_CSV, BuiltIndex, run_cli, run_cli_here
from provenance import api
from provenance.demo import check_against_truth, fixtures_dir
from provenance.errors import SecretKeyError
from provenance.keys import Key, fingerprint, shingle_subkey, token_subkey
from provenance.text.normalize import TOKEN_RE, normalize
from provenance.params import IndexParams, ScanParams
from provenance.text.shingles import TokenHasher, batch_shingles
from provenance.text.hashing import sequence_keys, shingle_hash, siphash24, siphash24_bytes, text_key
from provenance.index.sketch import band_keys, minhash

MASK32 = (1 << 32) - 1
NO_INDEX = lambda summary: {k: v for k, v in summary.items() if k != "index"}  # noqa: E731


def toks(text: str) -> list[str]:
    return TOKEN_RE.findall(normalize(text))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    paths = {"key": d / "KEY", "other": d / "OTHER", "short": d / "SHORT"}
    paths["key"].write_bytes(os.urandom(32))
    paths["other"].write_bytes(os.urandom(32))
    paths["short"].write_bytes(os.urandom(15))
    return paths


@pytest.fixture(scope="module")
def key(keys: dict[str, Path]) -> bytes:
    return keys["key"].read_bytes()


@pytest.fixture(scope="module")
def tweets() -> list[str]:
    with open(POSTS_CSV, encoding="utf-8", newline="") as f:
        return [r["text"] for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def keyed_index(keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> BuiltIndex:
    """The fixture posts indexed by the CLI with --key-file, as ``cli_index`` is without a key."""
    out = tmp_path_factory.mktemp("keyed-index") / "IDX"
    proc = run_cli("index", "build", POSTS_CSV, "-o", out, "--id-field", "tweet_id", "--meta-field", "name",
                   "--meta-field", "tweet_created", "--key-file", keys["key"], "-q", cwd=out.parent)
    assert proc.returncode == 0, proc.stderr
    return BuiltIndex(out, proc)


@pytest.fixture(scope="module")
def plain_index(cli_index: BuiltIndex) -> BuiltIndex:
    assert cli_index.proc is not None and cli_index.proc.returncode == 0, cli_index.proc.stderr
    return cli_index


@pytest.fixture(scope="module")
def keyed_scan(keyed_index: BuiltIndex, keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("keyed-scan") / "OUT"
    proc = run_cli("scan", keyed_index.path, PLANTED, "-o", out, "--key-file", keys["key"], "-q")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def plain_scan(plain_index: BuiltIndex) -> api.ScanResult:
    return api.scan(plain_index.path, [PLANTED])


# ------------------------------------------------------------------------------------------ same results


def test_keyed_scan_finds_what_an_unkeyed_scan_finds(keyed_scan: Path, plain_scan: api.ScanResult) -> None:
    keyed = pl.read_parquet(keyed_scan / "matches.parquet")
    assert keyed.height > 250
    pairs = lambda m: set(m.select("doc_id", "post_id").iter_rows())  # noqa: E731
    assert pairs(keyed) == pairs(plain_scan.matches)
    assert keyed.equals(plain_scan.matches)  # offsets, containment, coverage, method: all the same
    summary = json.loads((keyed_scan / "summary.json").read_text())
    assert NO_INDEX(summary) == NO_INDEX(plain_scan.summary)
    check = check_against_truth(keyed, fixtures_dir())
    assert check.recall >= 0.95 and check.false_matches == 0  # (calibrated E-values: a few weak short copies not counted)


def test_keyed_hashes_differ_from_unkeyed_and_between_keys(keyed_index: BuiltIndex, plain_index: BuiltIndex,
                                                          key: bytes, keys: dict[str, Path]) -> None:
    other = keys["other"].read_bytes()
    words = ["delayed", "flight", "again"]
    plain, keyed, keyed2 = shingle_hash(words), shingle_hash(words, key=key), shingle_hash(words, key=other)
    assert len({plain, keyed, keyed2}) == 3
    assert shingle_hash(words, 7, key=key) == keyed  # under a key, the seed only seeds MinHash
    assert text_key(words, key=key) not in (text_key(words), text_key(words, key=other))
    a, b = (_all_shingles(ix.path) for ix in (keyed_index, plain_index))
    assert len(a) == len(b) > 40_000  # same shingles, by position ...
    assert len(np.intersect1d(a, b)) == 0  # ... under other hashes
    # and their equality pattern is the same: equal shingles hash equal in both
    assert len(np.unique(a)) == len(np.unique(b))


def test_keyed_batch_equals_the_keyed_reference(tweets: list[str], key: bytes) -> None:
    texts = tweets[:80] + ["", "one two", "a b c d e", "Straße café 東京 ok"]
    hasher = TokenHasher(0, key=key)
    sb = batch_shingles(texts, 3, hasher)
    for j, t in enumerate(texts):
        tk = toks(t)
        assert sb.of(j).tolist() == [shingle_hash(tk[i : i + 3], key=key) for i in range(len(tk) - 2)]
    keyed_lengths = sb.n_tokens[sb.n_tokens > 0]
    exact = sequence_keys(sb.token_hashes, sb.token_offsets[:-1][sb.n_tokens > 0], keyed_lengths, hasher.finish)
    assert exact.tolist() == [text_key(toks(t), key=key) for t in texts if toks(t)]


def test_siphash_is_the_reference_algorithm() -> None:
    # The test vector of the SipHash paper (Aumasson and Bernstein 2012, appendix A).
    assert siphash24_bytes(bytes(range(16)), bytes(range(15))) == 0xA129CA6149BE45E5
    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**64 - 1, 40_000, dtype=np.uint64, endpoint=True)  # > one chunk
    k = rng.bytes(16)
    assert siphash24(values, k).tolist() == [siphash24_bytes(k, int(v).to_bytes(8, "little")) for v in values]


@pytest.mark.parametrize("num_perm,seed", [(128, 0), (64, 42)])
def test_keyed_minhash_equals_datasketch(tweets: list[str], key: bytes, num_perm: int, seed: int) -> None:
    texts = tweets[:60] + ["", "two words"]
    sb = batch_shingles(texts, 3, TokenHasher(seed, key=key))

    def hashfunc(s: bytes | str) -> int:
        s = s.decode("utf-8") if isinstance(s, bytes) else s
        return shingle_hash(s.split(" "), seed, key=key) & MASK32

    expected = []
    for t in texts:
        tk = toks(t)
        m = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme="affine32", hashfunc=hashfunc)
        m.update_batch([" ".join(tk[i : i + 3]) for i in range(len(tk) - 2)])
        expected.append(m.hashvalues)
    assert np.array_equal(minhash(sb.hashes, sb.offsets, num_perm, seed), np.stack(expected, axis=1))


def test_keyed_index_signatures_equal_datasketch(key: bytes, tweets: list[str], tmp_path: Path) -> None:
    ix = api.build_index([POSTS_CSV], tmp_path / "idx", id_field="tweet_id", params=IndexParams(jaccard=True), key=key)
    p = ix.params

    def hashfunc(s: bytes) -> int:
        return shingle_hash(s.decode("utf-8").split(" "), p.seed, key=key) & MASK32

    shingled = np.flatnonzero(ix.post_kind == 0)[:40]
    for i in shingled.tolist():
        tk = toks(tweets[i])
        m = datasketch.MinHash(num_perm=p.num_perm, seed=p.seed, scheme="affine32", hashfunc=hashfunc)
        m.update_batch([" ".join(tk[k : k + p.ngram]).encode("utf-8") for k in range(len(tk) - p.ngram + 1)])
        assert np.array_equal(ix.signatures[i], m.hashvalues), i


# ------------------------------------------------------------------------------------------ workers


def test_keyed_workers_get_the_key(keyed_index: BuiltIndex, key: bytes) -> None:
    params = ScanParams(batch_size=64)  # several batches in flight at once
    one = api.scan(keyed_index.path, [PLANTED], params=params, key=key)
    two = api.scan(keyed_index.path, [PLANTED], params=params, key=key, workers=2)
    assert one.matches.height > 250
    assert two.matches.equals(one.matches)
    assert two.summary == one.summary


def test_keyed_dask_workers_get_the_key(keyed_index: BuiltIndex, key: bytes, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    params = ScanParams(batch_size=100)
    local = api.scan(keyed_index.path, [PLANTED], params=params, key=key)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        remote = api.scan(keyed_index.path, [PLANTED], params=params, key=key, scheduler=cluster.scheduler_address)
    assert remote.matches.height > 250 and remote.matches.equals(local.matches)


def test_keyed_append_hashes_with_the_key(keys: dict[str, Path], key: bytes, tmp_path: Path,
                                          keyed_index: BuiltIndex) -> None:
    df = pl.read_csv(POSTS_CSV, infer_schema=False)
    a, b = tmp_path / "A.csv", tmp_path / "B.csv"
    df[:1700].write_csv(a)
    df[1700:].write_csv(b)
    idx = tmp_path / "idx"
    api.build_index([a], idx, id_field="tweet_id", key=key)
    with pytest.raises(SecretKeyError, match="built with a key"):
        api.build_index([b], idx, id_field="tweet_id", append=True)
    with pytest.raises(SecretKeyError, match="not the key"):
        api.build_index([b], idx, id_field="tweet_id", append=True, key=keys["other"].read_bytes())
    appended = api.build_index([b], idx, id_field="tweet_id", append=True, key=Key.from_file(keys["key"]))
    assert appended.fingerprint == fingerprint(key)
    api.compact_index(idx, key=key)  # (an append is a segment; compacting merges it)
    for name in ("key_hi", "key_lo", "key_counts", "shingle_ids", "short_keys", "token_codes"):
        assert np.array_equal(np.load(idx / f"{name}.npy"), np.load(keyed_index.path / f"{name}.npy")), name


def test_python_api_key_checks(keyed_index: BuiltIndex, plain_index: BuiltIndex, key: bytes,
                               keys: dict[str, Path], tweets: list[str]) -> None:
    locked = api.open_index(keyed_index.path)  # opens: manifest, posts table
    assert locked.fingerprint == fingerprint(key) and locked.n_posts == 3000
    with pytest.raises(SecretKeyError, match="pass it with --key-file"):
        api.scan_texts(locked, tweets[:3])
    with pytest.raises(SecretKeyError, match="not the key"):
        api.open_index(keyed_index.path, key=keys["other"].read_bytes())
    with pytest.raises(SecretKeyError, match="built without a key"):
        api.open_index(plain_index.path, key=key)
    with pytest.raises(SecretKeyError, match="at least 16 bytes"):
        api.scan_texts(keyed_index.path, tweets[:3], key=key[:15])
    found = api.scan_texts(locked, tweets[100:103], key=key).matches
    assert set(found["doc_id"]) == {"1", "2", "3"}
    k = Key.from_file(keys["key"])
    assert key.hex() not in repr(k) and repr(key) not in repr(k)
    assert pickle.loads(pickle.dumps(k)) == k


# ------------------------------------------------------------------------------------------ CLI errors


@pytest.fixture(scope="module")
def cli_errors(keyed_index: BuiltIndex, plain_index: BuiltIndex, keyed_scan: Path, keys: dict[str, Path],
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    out = tmp_path_factory.mktemp("errors")
    missing = out / "NO-SUCH-KEY"
    scan = ("scan", PLANTED, "-o", out / "o", "-q")
    runs = {
        "no key": (run_cli_here(scan[0], keyed_index.path, *scan[1:]), keyed_index.path),
        "wrong key": (run_cli_here(scan[0], keyed_index.path, *scan[1:], "--key-file", keys["other"]), keys["other"]),
        "key for unkeyed": (run_cli_here(scan[0], plain_index.path, *scan[1:], "--key-file", keys["key"]), keys["key"]),
        "short key": (run_cli_here(scan[0], keyed_index.path, *scan[1:], "--key-file", keys["short"]), keys["short"]),
        "missing key file": (run_cli_here(scan[0], keyed_index.path, *scan[1:], "--key-file", missing), missing),
        "build short key": (run_cli_here("index", "build", POSTS_CSV, "-o", out / "i", "--key-file", keys["short"], "-q"),
                            keys["short"]),
        "append wrong key": (run_cli_here("index", "build", POSTS_CSV, "-o", keyed_index.path, "--append", "-q",
                                     "--key-file", keys["other"]), keys["other"]),
        "verify no key": (run_cli_here("verify", keyed_scan), keyed_index.path.resolve()),  # (as the evidence has it)
        "verify wrong key": (run_cli_here("verify", keyed_scan, "--key-file", keys["other"]), keys["other"]),
    }
    return runs


@pytest.mark.parametrize("case", ["no key", "wrong key", "key for unkeyed", "short key", "missing key file",
                                  "build short key", "append wrong key", "verify no key", "verify wrong key"])
def test_key_errors_are_one_line_exit_2(case: str, cli_errors: dict[str, tuple], keys: dict[str, Path],
                                        key: bytes) -> None:
    proc, named = cli_errors[case]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith(f"error: {named}:"), line
    assert "Traceback" not in proc.stderr
    fp, other_fp = fingerprint(key), fingerprint(keys["other"].read_bytes())
    if case in ("no key", "verify no key"):
        assert "built with a key" in line and fp[:8] in line and "--key-file" in line
    elif "wrong key" in case:
        assert "not the key" in line and fp[:8] in line and other_fp[:8] in line
    elif case == "key for unkeyed":
        assert "built without a key" in line
    elif "short key" in case:
        assert line == f"error: {named}: a key must be at least 16 bytes; make one with: head -c 32 /dev/urandom > {named}"
    else:
        assert "no such key file" in line
    assert fp not in line and key.hex() not in line  # abridged fingerprints only; never the key


def test_key_errors_leave_nothing_behind(cli_errors: dict[str, tuple], keyed_index: BuiltIndex,
                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    proc, _ = cli_errors["no key"]
    out = Path(proc.args[proc.args.index("-o") + 1])
    assert not out.exists()
    assert not (out.parent / "i").exists()  # the build with a short key created no index
    assert api.open_index(keyed_index.path).n_posts == 3000  # the failed append left the index as it was


def test_verify_with_the_key(keyed_scan: Path, keys: dict[str, Path]) -> None:
    proc = run_cli("verify", keyed_scan, "--key-file", keys["key"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("verified: ")
    # the scan of a keyed index is sealed with its key (an HMAC only the key holder can make)
    assert "(seal: keyed)" in proc.stdout
    seal = json.loads((keyed_scan / "evidence.json").read_text())["keyed_seal"]
    assert seal["key_fingerprint"] == fingerprint(keys["key"].read_bytes())


def test_info_and_report_need_no_key(keyed_index: BuiltIndex, keyed_scan: Path, key: bytes) -> None:
    proc = run_cli("index", "info", keyed_index.path, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["key"]["fingerprint"] == fingerprint(key)
    assert "blake2b" in info["hash"] and "siphash" in info["hash"]
    report = run_cli("report", keyed_scan)  # reads the posts table and the scan outputs, hashes nothing
    assert report.returncode == 0, report.stderr
    assert "posts" in report.stdout


# ------------------------------------------------------------------------------------------ what is on disk


def _files(*dirs: Path) -> list[Path]:
    files = [f for d in dirs for f in sorted(d.rglob("*")) if f.is_file()]
    assert files
    return files


def test_the_key_is_in_no_file(keyed_index: BuiltIndex, keyed_scan: Path, key: bytes) -> None:
    secrets = [key, token_subkey(key), shingle_subkey(key)]
    needles = set(secrets) | {s.hex().encode() for s in secrets} | {s.hex().upper().encode() for s in secrets}
    for f in _files(keyed_index.path, keyed_scan):
        data = f.read_bytes()
        for needle in needles:
            assert needle not in data, (f, needle[:4])
    evidence = json.loads((keyed_scan / "evidence.json").read_text())
    assert evidence["index"]["manifest"]["key"]["fingerprint"] == fingerprint(key)


def test_no_post_text_in_any_index_file(keyed_index: BuiltIndex, plain_index: BuiltIndex, tweets: list[str]) -> None:
    distinctive = sorted(tweets, key=len)[-5:] + [t for t in tweets if len(t) > 60][:5]
    needles = [t.encode("utf-8") for t in distinctive] + [t[10:40].encode("utf-8") for t in distinctive]
    for index in (keyed_index, plain_index):
        for f in _files(index.path):
            data = f.read_bytes()
            for needle in needles:
                assert needle not in data, (f, needle)
        posts = pl.read_parquet(index.path / "posts.parquet")  # (compressed on disk: read it too)
        assert set(posts.columns) == {"post_id", "source", "row", "kind", "n_tokens", "exact_key", "head_key", "meta_name",
                                      "meta_tweet_created"}
        values = set()
        for col in posts.columns:
            if posts[col].dtype == pl.String:
                values.update(posts[col].drop_nulls().to_list())
        assert not any(t in values for t in tweets)
        assert not any(t[10:40] in v for t in distinctive for v in values)


# ------------------------------------------------------------------------------------------ dictionary attack


def _all_shingles(index_dir: Path) -> np.ndarray:
    """Every post's shingle hashes, in order (rebuilt from the stored postings; no key needed)."""
    ix = api.open_index(index_dir)
    return ix.shingle_hashes(np.arange(ix.n_posts))


def _stored(index_dir: Path) -> dict[str, np.ndarray]:
    ix = api.open_index(index_dir)
    return {
        "shingles": np.unique(np.asarray(ix.shingles)),
        "keys": np.unique(np.asarray(ix.keys)),
        "frequent": np.unique(np.asarray(ix.frequent)),
        "frequent_hashes": np.unique(np.asarray(ix.frequent_hashes)),
        "short_keys": np.unique(np.asarray(ix.short_keys)),
        "exact_key": np.unique(ix.posts["exact_key"].to_numpy()[ix.post_kind == 1]),  # (0 for the other posts)
        "lsh_keys": np.unique(np.asarray(ix.lsh_keys)),
        "signatures": np.asarray(ix.signatures),
    }


def _count_in(table: np.ndarray, needles: np.ndarray) -> int:
    """How many of ``needles`` are in the sorted ``table``."""
    if not len(table) or not len(needles):
        return 0
    pos = np.minimum(np.searchsorted(table, needles), len(table) - 1)
    return int((table[pos] == needles).sum())


def _dictionary_hits(indexes: list[dict[str, np.ndarray]], texts: list[str], seeds: range) -> list[dict[str, int]]:
    """Hash the candidate texts as someone without the key would (with every seed of ``seeds``), and
    count, for each index, the hashes found in its stored arrays."""
    hits = [dict.fromkeys(stored, 0) for stored in indexes]
    sig_rows = [{r.tobytes() for r in stored["signatures"]} for stored in indexes]
    normalized = [normalize(t) for t in texts]
    for seed in seeds:
        sb = batch_shingles(normalized, 3, TokenHasher(seed), normalized=True)
        has = sb.n_tokens > 0
        exact = sequence_keys(sb.token_hashes, sb.token_offsets[:-1][has], sb.n_tokens[has])
        sig = bands = None
        if seed < 10:  # MinHash and LSH bands of every text with shingles (the costlier part: ten seeds)
            shingled = np.flatnonzero(np.diff(sb.offsets) > 0)
            sig = minhash(sb.hashes, sb.offsets, 128, seed)[:, shingled]
            bands = band_keys(sig, 25, 5)
        for stored, found, rows in zip(indexes, hits, sig_rows):
            for name in ("shingles", "keys", "frequent", "frequent_hashes"):
                found[name] += _count_in(stored[name], sb.hashes)
            for name in ("short_keys", "exact_key"):
                found[name] += _count_in(stored[name], exact)
            if sig is not None:
                found["signatures"] += sum(sig[:, j].tobytes() in rows for j in range(sig.shape[1]))
                found["lsh_keys"] += sum(_count_in(stored["lsh_keys"], k) for k in bands)
    return hits


def test_a_dictionary_of_the_real_posts_finds_nothing_without_the_key(key: bytes, tweets: list[str],
                                                                       tmp_path: Path) -> None:
    # max_key_posts=3: frequent shingles too (the fixture posts have none at the default 50).
    params = IndexParams(max_key_posts=3, jaccard=True)
    keyed_dir, plain_dir = tmp_path / "keyed", tmp_path / "plain"
    api.build_index([POSTS_CSV], keyed_dir, id_field="tweet_id", params=params, key=key)
    api.build_index([POSTS_CSV], plain_dir, id_field="tweet_id", params=params)
    keyed_stored, plain_stored = _stored(keyed_dir), _stored(plain_dir)
    assert all(len(a) for a in keyed_stored.values())
    keyed, plain = _dictionary_hits([keyed_stored, plain_stored], tweets, range(100))
    assert keyed == dict.fromkeys(keyed, 0), keyed
    # The control: the same dictionary finds the posts when they were indexed without a key.
    for name, n in plain.items():
        assert n >= 0.9 * len(plain_stored[name]) > 0, (name, plain)
    assert plain["shingles"] >= 40_000 and plain["exact_key"] >= 30 and plain["signatures"] >= 2_700


def _xor_quadruples(index_dir: Path, top: int = 2000) -> int:
    """Pairs of pairs of the index's ``top`` most common shingles with equal XOR after undoing the public
    fmix64, the rotation and the multiply of the last fold step: four shingles "a b c", "a b d", "e f c",
    "e f d" give such pairs whatever the token hashes, unless the finish is keyed."""
    sh = _all_shingles(index_dir)
    u, c = np.unique(sh, return_counts=True)
    h = u[np.argsort(-c, kind="stable")[:top]].copy()
    inv = lambda m: np.uint64(pow(m, -1, 1 << 64))  # noqa: E731
    with np.errstate(over="ignore"):
        for m in (0xC4CEB9FE1A85EC53, 0xFF51AFD7ED558CCD, None):  # fmix64 backwards
            h ^= h >> np.uint64(33)
            if m is not None:
                h *= inv(m)
        h = (h >> np.uint64(29)) | (h << np.uint64(35))
        v = h * inv(0xC2B2AE3D27D4EB4F)
    i, j = np.triu_indices(len(v), 1)
    d = np.sort(v[i] ^ v[j])
    return int((d[1:] == d[:-1]).sum())


def test_stored_hashes_show_no_word_structure_without_the_key(keyed_index: BuiltIndex, plain_index: BuiltIndex) -> None:
    assert _xor_quadruples(plain_index.path) >= 500  # the control: the public finish shows shared words
    assert _xor_quadruples(keyed_index.path) == 0
