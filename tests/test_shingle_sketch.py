"""Tests for provenance.text.hashing, provenance.text.shingles and provenance.index.sketch: the n-gram hash against its documented
definition, the vectorized batch against the one-shingle reference, MinHash signatures and LSH
parameters/candidates against datasketch as the oracle."""

from __future__ import annotations

import csv
import gzip
import json
import random
from pathlib import Path

import datasketch
import numpy as np
import polars as pl
import pytest
import xxhash

from provenance import api
from provenance.match.candidates import jaccard_candidates
from provenance.text.normalize import TOKEN_RE, normalize
from provenance.params import IndexParams
from provenance.text.shingles import ShingleBatch, TokenHasher, batch_shingles
from provenance.text.hashing import combine, fold_rows, sequence_keys, shingle_hash, text_key
from provenance.index.sketch import band_keys, lsh_params, minhash, permutations

FIX = Path(__file__).resolve().parents[1] / "fixtures"
MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1


def toks(text: str) -> list[str]:
    return TOKEN_RE.findall(normalize(text))


@pytest.fixture(scope="module")
def tweets() -> list[str]:
    with open(FIX / "posts" / "airline_tweets.csv", encoding="utf-8", newline="") as f:
        return [r["text"] for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def docs() -> list[str]:
    out: list[str] = []
    for name in ("wikinews.jsonl.gz", "wikipedia.jsonl.gz"):
        with gzip.open(FIX / "corpus" / name, "rt", encoding="utf-8") as f:
            out.extend(json.loads(line)["text"] for line in f)
    return out[::25]  # 20 documents from both sources


@pytest.fixture(scope="module")
def mixed_texts(tweets: list[str], docs: list[str]) -> list[str]:
    # Real texts plus the edge cases: empty, no tokens, 1..5 tokens, non-ASCII.
    edge = ["", "   ", "😂 https://t.co/x", "one", "one two", "a b c", "w x y z", "1 2 3 4 5", "Straße café 東京 ok"]
    return tweets[:60] + edge[:4] + docs[:6] + edge[4:] + tweets[60:80]


# ------------------------------------------------------------------------------------ hash definition


def _rotl64(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK64


def _fmix64(h: int) -> int:
    # MurmurHash3's 64-bit finalizer (constants from the public MurmurHash3 reference).
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    h ^= h >> 33
    return h


def documented_hash(tokens: list[str], seed: int) -> int:
    """The module docstring's definition, written from the text: acc = C; acc = rotl64((acc ^ h_i) * P, 29);
    fmix64(acc), with h_i = xxh3_64(token utf-8, seed). C is the 64-bit golden ratio constant and P is
    xxHash's PRIME64_2."""
    acc = 0x9E3779B97F4A7C15
    for t in tokens:
        h = xxhash.xxh3_64(t.encode("utf-8"), seed=seed).intdigest()
        acc = _rotl64(((acc ^ h) * 0xC2B2AE3D27D4EB4F) & MASK64, 29)
    return _fmix64(acc)


def test_constants_are_the_named_ones() -> None:
    # Golden ratio constant: floor(2^64 / phi); PRIME64_2 of xxHash.
    phi = (1 + 5**0.5) / 2
    assert abs(0x9E3779B97F4A7C15 - int(2**64 / phi)) < 2**12
    assert 0xC2B2AE3D27D4EB4F == 14029467366897019727


@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1])
@pytest.mark.parametrize("tokens", [["hello"], ["the", "flight", "was"], ["straße", "東京", "x2"], ["a"] * 5, [""]])
def test_shingle_hash_follows_the_documented_fold(tokens: list[str], seed: int) -> None:
    assert shingle_hash(tokens, seed) == documented_hash(tokens, seed)


def test_token_hash_is_xxh3_64_with_seed() -> None:
    words = ["flight", "delayed", "東京", "straße", "x2", "flight"]
    for seed in (0, 7):
        got = TokenHasher(seed).hash_series(pl.Series(words, dtype=pl.String))
        assert got.dtype == np.uint64
        assert got.tolist() == [xxhash.xxh3_64(w.encode("utf-8"), seed=seed).intdigest() for w in words]
    # the seed matters
    assert TokenHasher(0).hash_series(pl.Series(["x"])).tolist() != TokenHasher(1).hash_series(pl.Series(["x"])).tolist()


def test_order_and_seed_matter() -> None:
    assert shingle_hash(["a", "b"]) != shingle_hash(["b", "a"])
    assert shingle_hash(["a", "b"], 0) != shingle_hash(["a", "b"], 1)
    assert shingle_hash(["ab"]) != shingle_hash(["a", "b"])


def test_tiny_vocabulary_cache_gives_the_same_hashes(tweets: list[str]) -> None:
    texts = tweets[:50]
    ref = batch_shingles(texts, 3, TokenHasher(0))
    hasher = TokenHasher(0, max_vocab=10)  # cleared again and again
    for _ in range(2):
        got = batch_shingles(texts, 3, hasher)
        assert np.array_equal(got.hashes, ref.hashes) and np.array_equal(got.offsets, ref.offsets)


class _CollidingHasher(TokenHasher):
    """Cache keys with only 4 values: nearly every pair of words collides."""

    def _cache_keys(self, data, starts, ends):
        keys, checks = super()._cache_keys(data, starts, ends)
        return keys % np.uint64(4), checks


@pytest.mark.parametrize("hasher_type", [TokenHasher, _CollidingHasher])
def test_vocabulary_cache_gives_exact_hashes_across_batches(tweets: list[str], hasher_type) -> None:
    hasher = hasher_type(7, max_vocab=500)  # small: cleared and regrown along the way
    for start in range(0, 600, 50):
        words = [w for t in tweets[start : start + 50] for w in toks(t)]
        got = hasher.hash_series(pl.Series(words, dtype=pl.String)).tolist()
        assert got == [xxhash.xxh3_64_intdigest(w.encode("utf-8"), 7) for w in words]
    assert len(hasher._keys) >= 1 << 16 and hasher._count <= 500


# ---------------------------------------------------------------------------- batch vs reference


def _reference(texts: list[str], n: int, seed: int) -> list[list[int]]:
    out = []
    for t in texts:
        tk = toks(t)
        out.append([shingle_hash(tk[i : i + n], seed) for i in range(len(tk) - n + 1)])
    return out


def _per_text(sb: ShingleBatch) -> list[list[int]]:
    return [sb.of(j).tolist() for j in range(len(sb.n_tokens))]


@pytest.mark.parametrize("seed", [0, 1234567])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_batch_shingles_equal_reference(mixed_texts: list[str], n: int, seed: int) -> None:
    sb = batch_shingles(mixed_texts, n, TokenHasher(seed))
    assert sb.hashes.dtype == np.uint64 and sb.offsets.dtype == np.int64 and sb.n_tokens.dtype == np.int64
    assert sb.offsets.shape == (len(mixed_texts) + 1,) and sb.offsets[0] == 0
    assert sb.n_tokens.tolist() == [len(toks(t)) for t in mixed_texts]
    ref = _reference(mixed_texts, n, seed)
    assert _per_text(sb) == ref
    # texts with fewer than n tokens have no shingles
    for j, t in enumerate(mixed_texts):
        if len(toks(t)) < n:
            assert len(sb.of(j)) == 0
    assert sum(map(len, ref)) > 1000


def test_batch_shingles_prenormalized_equals_raw(mixed_texts: list[str]) -> None:
    a = batch_shingles(mixed_texts, 3, TokenHasher(0))
    b = batch_shingles([normalize(t) for t in mixed_texts], 3, TokenHasher(0), normalized=True)
    assert np.array_equal(a.hashes, b.hashes) and np.array_equal(a.offsets, b.offsets)


@pytest.mark.parametrize("texts", [[], [""], ["", "", ""], ["only", "two words"], ["😂", "", "a b"]])
def test_batch_shingles_empty_and_short(texts: list[str]) -> None:
    sb = batch_shingles(texts, 3, TokenHasher(0))
    assert len(sb.hashes) == 0
    assert sb.offsets.tolist() == [0] * (len(texts) + 1)
    assert sb.n_tokens.tolist() == [len(toks(t)) for t in texts]


@pytest.mark.parametrize("n", [1, 3, 5])
def test_batch_shingles_independent_of_batching(mixed_texts: list[str], n: int) -> None:
    whole = _per_text(batch_shingles(mixed_texts, n, TokenHasher(0)))
    for size in (1, 3, len(mixed_texts)):
        hasher = TokenHasher(0)  # one hasher across batches, as a scan uses it
        got: list[list[int]] = []
        for k in range(0, len(mixed_texts), size):
            got.extend(_per_text(batch_shingles(mixed_texts[k : k + size], n, hasher)))
        assert got == whole, size


def test_line_mode_gives_the_same_shingles_and_marks_line_starts(mixed_texts: list[str]) -> None:
    texts = mixed_texts + ["a b\n\n c d e\n", "\n", "x\ny", "", "one line only"]
    plain = batch_shingles(texts, 3, TokenHasher(0))
    lined = batch_shingles(texts, 3, TokenHasher(0), lines=True)
    assert np.array_equal(plain.hashes, lined.hashes) and np.array_equal(plain.n_tokens, lined.n_tokens)
    assert np.array_equal(plain.token_hashes, lined.token_hashes)
    expected: list[bool] = []
    for t in texts:
        for line in normalize(t).split("\n"):
            expected += [i == 0 for i in range(len(toks(line)))]
    assert lined.line_starts is not None and lined.line_starts.tolist() == expected
    assert plain.line_starts is None


@pytest.mark.parametrize("seed", [0, 99])
def test_sequence_keys_equal_the_reference_text_key(mixed_texts: list[str], seed: int) -> None:
    sb = batch_shingles(mixed_texts, 3, TokenHasher(seed))
    starts, lengths = sb.token_offsets[:-1], sb.n_tokens
    keys = sequence_keys(sb.token_hashes, starts, lengths).tolist()
    assert keys == [text_key(toks(t), seed) for t in mixed_texts]
    # sub-runs too: the key depends on exactly the run's tokens
    words = toks(" ".join(mixed_texts[:20]))
    hashes = TokenHasher(seed).hash_series(pl.Series(words, dtype=pl.String))
    starts = np.arange(0, len(words) - 5, 3, dtype=np.int64)
    lengths = (starts % 5 + 1).astype(np.int64)
    got = sequence_keys(hashes, starts, lengths).tolist()
    assert got == [text_key(words[s : s + n], seed) for s, n in zip(starts.tolist(), lengths.tolist())]
    assert text_key(["a", "b"]) != text_key(["a b"]) != text_key(["ab"]) and text_key(["a"]) != text_key(["a", "a"])


def test_combine_windows() -> None:
    h = np.array([xxhash.xxh3_64_intdigest(w.encode()) for w in "a b c d".split()], dtype=np.uint64)
    assert combine(h, 5).shape == (0,)
    assert combine(h, 4).tolist() == [shingle_hash(list("abcd"))]
    assert combine(h, 2).tolist() == [shingle_hash(["a", "b"]), shingle_hash(["b", "c"]), shingle_hash(["c", "d"])]


# --------------------------------------------------------------------------------- datasketch oracle


def _csr(sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(sets) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in sets], out=offsets[1:])
    hashes = np.concatenate(sets).astype(np.uint64) if sets else np.zeros(0, np.uint64)
    return hashes, offsets


def _low32(v: object) -> int:
    return int(v) & MASK32


@pytest.fixture(scope="module")
def random_sets() -> list[np.ndarray]:
    rng = np.random.default_rng(20240229)
    sizes = [0, 1, 2, 500, 0, 0, 1, 37, 3, 499, 128, 0, 250, 5]
    sets = [rng.integers(0, 2**64, size=s, dtype=np.uint64, endpoint=False) for s in sizes]
    # duplicates inside a set and the extreme values
    sets.append(np.array([7, 7, 7, 2**64 - 1, 0, 2**32, 2**32 - 1], dtype=np.uint64))
    return sets


@pytest.mark.parametrize("seed", [1, 42])
@pytest.mark.parametrize("num_perm", [16, 128, 256])
def test_minhash_equals_datasketch_on_random_sets(random_sets: list[np.ndarray], num_perm: int, seed: int) -> None:
    hashes, offsets = _csr(random_sets)
    expected = []
    for s in random_sets:
        m = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme="affine32", hashfunc=_low32)
        m.update_batch(s.tolist())
        expected.append(m.hashvalues)
    expected = np.stack(expected, axis=1)
    assert expected.dtype == np.uint32
    for chunk in (1, 3, 64, 600, 8192):  # 1 and 64 are smaller than some sets
        sig = minhash(hashes, offsets, num_perm, seed, chunk=chunk)
        assert sig.dtype == np.uint32 and sig.shape == (num_perm, len(random_sets))
        assert np.array_equal(sig, expected), chunk
    # empty sets get datasketch's empty signature
    assert (expected[:, 0] == MASK32).all()


def test_minhash_of_no_sets_and_only_empty_sets() -> None:
    assert minhash(np.zeros(0, np.uint64), np.zeros(1, np.int64), 16, 1).shape == (16, 0)
    sig = minhash(np.zeros(0, np.uint64), np.zeros(4, np.int64), 16, 1)
    assert sig.shape == (16, 3) and (sig == MASK32).all()


def test_permutations_equal_datasketch() -> None:
    for num_perm, seed in [(16, 1), (128, 42), (256, 0)]:
        a, b = permutations(num_perm, seed)
        m = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme="affine32")
        assert np.array_equal(a, m.permutations[0]) and np.array_equal(b, m.permutations[1])
        assert (a % 2 == 1).all()


def _shingle_strings(text: str, n: int = 3) -> list[str]:
    tk = toks(text)
    return [" ".join(tk[i : i + n]) for i in range(len(tk) - n + 1)]


@pytest.mark.parametrize("seed", [1, 42])
@pytest.mark.parametrize("num_perm", [16, 128, 256])
def test_minhash_equals_datasketch_on_real_texts(tweets: list[str], docs: list[str], num_perm: int, seed: int) -> None:
    texts = tweets[:40] + ["", "two words"] + docs[:5] + tweets[40:60]
    # The token hash seed is the MinHash seed, as in an index.
    sb = batch_shingles(texts, 3, TokenHasher(seed))

    def hashfunc(s: str) -> int:
        return shingle_hash(s.split(" "), seed) & MASK32

    expected = []
    for t in texts:
        m = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme="affine32", hashfunc=hashfunc)
        m.update_batch(_shingle_strings(t))
        expected.append(m.hashvalues)
    expected = np.stack(expected, axis=1)
    for chunk in (5, 1000, 8192):  # 5 is smaller than most texts' shingle sets
        assert np.array_equal(minhash(sb.hashes, sb.offsets, num_perm, seed, chunk=chunk), expected), chunk


# ----------------------------------------------------------------------------------------------- LSH


@pytest.mark.parametrize("num_perm", [16, 64, 128, 256])
@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.5, 0.7, 0.8])
def test_lsh_params_equal_datasketch(threshold: float, num_perm: int) -> None:
    lsh = datasketch.MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert lsh_params(threshold, num_perm) == (lsh.b, lsh.r)
    b, r = lsh_params(threshold, num_perm)
    assert b * r <= num_perm


def test_known_lsh_params_equal_datasketch() -> None:
    from datasketch.lsh import _optimal_param

    from provenance.index.sketch import KNOWN_LSH_PARAMS

    for (threshold, num_perm), br in KNOWN_LSH_PARAMS.items():
        assert tuple(int(x) for x in _optimal_param(threshold, num_perm, 0.5, 0.5)) == br


@pytest.mark.parametrize("num_perm", [16, 125, 128])
def test_band_keys_fold_each_band_with_its_salt(num_perm: int) -> None:
    rng = np.random.default_rng(num_perm)
    sig = rng.integers(0, 2**32, (num_perm, 300), dtype=np.uint32)
    for bands, rows in [(25, 5), (3, 5), (2, 8)]:
        if bands * rows > num_perm:
            continue
        keys = band_keys(sig, bands, rows)
        assert keys.shape == (bands, 300) and keys.dtype == np.uint64
        for i in range(bands):
            assert np.array_equal(keys[i], fold_rows(sig[i * rows : (i + 1) * rows].astype(np.uint64), salt=i))
    assert band_keys(sig[:, :0], 2, 5).shape == (2, 0)


def test_lsh_params_where_datasketch_refuses() -> None:
    """Finding: for a high threshold and few permutations datasketch refuses (b < 2), while
    IndexParams accepts the combination and lsh_params returns a single band."""
    with pytest.raises(ValueError):
        datasketch.MinHashLSH(threshold=0.9, num_perm=16)
    IndexParams(num_perm=16, lsh_threshold=0.9)
    b, r = lsh_params(0.9, 16)
    assert b == 1 and r <= 16


def _variants(tokens: list[str], rnd: random.Random) -> list[list[str]]:
    swapped = list(tokens)
    i = rnd.randrange(len(swapped) - 1)
    swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    deleted = list(tokens)
    del deleted[rnd.randrange(len(deleted))]
    deleted2 = list(tokens)
    for _ in range(2):
        del deleted2[rnd.randrange(len(deleted2))]
    replaced = list(tokens)
    replaced[rnd.randrange(len(replaced))] = "zebra"
    return [tokens, swapped, deleted, deleted2, replaced, tokens[: max(3, len(tokens) // 2)]]


def test_lsh_candidates_equal_datasketch(tweets: list[str], tmp_path: Path) -> None:
    params = IndexParams(num_perm=128, lsh_threshold=0.5, jaccard=True)
    toks_all = [toks(t) for t in tweets]
    chosen = [i for i, tk in enumerate(toks_all) if len(tk) >= params.short_tokens][:300]
    path = tmp_path / "posts.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in chosen:
            f.write(json.dumps({"id": f"p{i}", "text": tweets[i]}) + "\n")
    index = api.build_index([path], tmp_path / "idx", params=params)
    row_of = {pid: k for k, pid in enumerate(index.posts["post_id"].to_list())}
    assert index.bands == (25, 5)

    def hashfunc(s: str) -> int:
        return shingle_hash(s.split(" "), params.seed) & MASK32

    def mh(text: str) -> datasketch.MinHash:
        m = datasketch.MinHash(num_perm=params.num_perm, seed=params.seed, scheme="affine32", hashfunc=hashfunc)
        m.update_batch(_shingle_strings(text))
        return m

    lsh = datasketch.MinHashLSH(threshold=params.lsh_threshold, num_perm=params.num_perm)
    for i in chosen:
        lsh.insert(f"p{i}", mh(tweets[i]))

    rnd = random.Random(5)
    queries = []
    for i in chosen[::6]:
        queries.extend(" ".join(v) for v in _variants(toks_all[i], rnd))
    unrelated = [tweets[i] for i in range(len(tweets)) if i not in set(chosen) and len(toks_all[i]) >= 3][:60]
    queries.extend(unrelated)

    sb = batch_shingles(queries, params.ngram, TokenHasher(params.seed))
    doc, post = jaccard_candidates(index, sb)
    ours: list[set[int]] = [set() for _ in queries]
    for d, p in zip(doc.tolist(), post.tolist()):
        ours[d].add(p)
    n_nonempty = 0
    for q, text in enumerate(queries):
        expected = {row_of[k] for k in lsh.query(mh(text))}
        assert ours[q] == expected, (q, text)
        n_nonempty += bool(expected)
    # not vacuous: most variants find their tweet, and some queries find nothing
    assert n_nonempty >= len(queries) // 3
    assert n_nonempty < len(queries)
