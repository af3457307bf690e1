"""Tests for provenance.index.seeds: which shingles are seeds (their definition, from the stored
shingles), the bound on a probe's posts, and the guarantee that an edited copy keeps an intact seed."""

from __future__ import annotations

import gzip
import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from conftest import PLANTED, POSTS_CSV
from provenance import api
from provenance.index.format import SHINGLED
from provenance.index.seeds import disjoint_seeds
from provenance.match import matcher as matcher_module
from provenance.match.candidates import seed_candidates
from provenance.params import IndexParams, ScanParams
from provenance.text.normalize import TOKEN_RE, normalize
from provenance.text.shingles import batch_shingles

SEED_POSTS, MAX_KEY_POSTS = 2, 6  # (small: many shingles are no seed, and some posts fall back)


def _greedy(eligible: list[bool], ngram: int) -> list[bool]:
    chosen, last = [False] * len(eligible), -ngram
    for j, ok in enumerate(eligible):
        if ok and j - last >= ngram:
            chosen[j], last = True, j
    return chosen


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.booleans(), max_size=30), max_size=12), st.integers(1, 5))
def test_disjoint_seeds_are_the_greedy_leftmost_disjoint_windows(posts: list[list[bool]], ngram: int) -> None:
    flat = np.array([b for p in posts for b in p], dtype=bool)
    got = disjoint_seeds(flat, np.array([len(p) for p in posts], dtype=np.int64), ngram)
    assert got.tolist() == [b for p in posts for b in _greedy(p, ngram)]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return api.build_index([POSTS_CSV], tmp_path_factory.mktemp("seeds") / "ix", id_field="tweet_id",
                           params=IndexParams(seed_posts=SEED_POSTS, max_key_posts=MAX_KEY_POSTS))


def _seeds_by_post(index) -> dict[int, set[int]]:
    """Each post's seed hashes, from the seed files."""
    ends = np.asarray(index.seed_ends).astype(np.int64)
    posts = np.asarray(index.seed_posts)
    out: dict[int, set[int]] = {}
    for j, h in enumerate(np.asarray(index.seed_keys).tolist()):
        for p in posts[(ends[j - 1] if j else 0) : ends[j]].tolist():
            out.setdefault(p, set()).add(h)
    return out


def test_seeds_are_their_definition_and_a_probe_finds_few_posts(index) -> None:
    """Recomputed from every post's stored shingles: a seed's posts are at most seed_posts (or
    max_key_posts for posts with no rarer shingle; a post whose every shingle is frequent keeps its
    rarest), and each post's seeds are the greedy disjoint windows of its eligible shingles."""
    n = index.params.ngram
    off = index.shingle_offsets
    keyed = [p for p in range(index.n_posts) if index.post_kind[p] == SHINGLED and not index.post_flags[p] & 2]
    seqs = {p: index.shingles[off[p] : off[p + 1]].tolist() for p in keyed}
    df: dict[int, int] = {}
    for seq in seqs.values():
        for h in set(seq):
            df[h] = df.get(h, 0) + 1
    want: dict[int, set[int]] = {}
    fallbacks, rarest = 0, set()
    for p, seq in seqs.items():
        first = {}
        for j, h in enumerate(seq):
            first.setdefault(h, j)
        bar = SEED_POSTS if any(df[h] <= SEED_POSTS for h in seq) else MAX_KEY_POSTS
        fallbacks += bar == MAX_KEY_POSTS
        elig = [df[h] <= bar and first[h] == j for j, h in enumerate(seq)]
        chosen = {seq[j] for j, c in enumerate(_greedy(elig, n)) if c}
        if all(df[h] > MAX_KEY_POSTS for h in seq):  # every shingle frequent: the rarest one
            chosen = {min(seq, key=lambda h: (df[h], h))}
            rarest.add(next(iter(chosen)))
        if chosen:
            want[p] = chosen
        if all(df[h] <= SEED_POSTS for h in seq) and len(set(seq)) == len(seq):  # every window eligible
            assert len(chosen) == (len(seq) + n - 1) // n  # floor(tokens / ngram) seeds
    assert _seeds_by_post(index) == want
    assert fallbacks >= 5 and len(want) > 1000  # (no post here has only frequent shingles: test_segments has one)
    rows = np.diff(np.r_[0, np.asarray(index.seed_ends).astype(np.int64)])
    others = ~np.isin(np.asarray(index.seed_keys), np.array(sorted(rarest), dtype=np.uint64))
    assert rows[others].max() <= MAX_KEY_POSTS and np.mean(rows <= SEED_POSTS) > 0.95
    assert index.manifest["counts"]["seeds"] == len(index.seed_posts)


_WORDS = st.integers(0, 10**6).map(lambda i: f"qzx{i}")


def _seed_positions(index, post: int, seeds: set[int]) -> list[int]:
    """Where the post's seeds first sit in its shingle sequence."""
    seq = index.shingles[index.shingle_offsets[post] : index.shingle_offsets[post + 1]].tolist()
    return sorted({seq.index(h) for h in seeds})


def _edited_copy(index, post: int, seeds: set[int], edited: int, data) -> str:
    """A document holding the post with ``edited`` of its seeds broken, one edited word each (substituted,
    inserted or deleted inside the seed's words, where an edit does the most harm)."""
    tokens = TOKEN_RE.findall(normalize(_post_texts(index)[post]))
    assert len(tokens) == index.post_tokens[post]
    starts = _seed_positions(index, post, seeds)
    n = index.params.ngram
    hit = data.draw(st.lists(st.sampled_from(starts), min_size=edited, max_size=edited, unique=True))
    copy = list(tokens)
    for start in sorted(hit, reverse=True):  # (right to left: earlier positions stay put)
        kind = data.draw(st.sampled_from(["substitute", "insert", "delete"]))
        at = start + data.draw(st.integers(1 if kind == "insert" else 0, n - 1))
        if kind == "substitute":
            copy[at] = data.draw(_WORDS)
        elif kind == "insert":
            copy.insert(at, data.draw(_WORDS))
        else:
            del copy[at]
    return "Wir lesen hier etwas anderes davor. " + " ".join(copy) + " Und danach noch mehr Worte."


def _candidates(index, doc: str, two_seeds_from: int) -> list[int]:
    sb = batch_shingles([doc], index.params.ngram, index.token_hasher(), lines=True)
    return seed_candidates(index, sb, two_seeds_from=two_seeds_from)[1].tolist()


def _once_each(index, post: int) -> bool:
    """The post's shingles are all different (an edited seed cannot survive at another place)."""
    seq = index.shingles[index.shingle_offsets[post] : index.shingle_offsets[post + 1]]
    return len(np.unique(seq)) == len(seq)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_copy_with_fewer_edits_than_seeds_is_always_a_candidate(index, data) -> None:
    """A post of 6+ words with 2+ seeds copied with one edited word, or of 9+ words with 3+ seeds
    with two, keeps an intact seed: the pair is a candidate (an edit breaks at most one seed). A post
    of 4+ seeds needs two intact ones (``two_seeds_from``, 4): its copies with up to seeds - 2 edited
    words (2 or more) are candidates. The edits fall inside the seeds' words, one seed each."""
    seeds, two_or_more, _ = _copy_choices(index)
    post = data.draw(st.sampled_from(two_or_more))
    s = len(seeds[post])
    need = 2 if s >= 4 else 1
    assert index.post_seeds[post] == s
    doc = _edited_copy(index, post, seeds[post], s - need, data)
    assert post in _candidates(index, doc, two_seeds_from=4)
    assert post in _candidates(index, doc, two_seeds_from=0)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_long_post_with_one_intact_seed_needs_two_seeds_from_off(index, data) -> None:
    """A copy of a post of 4+ seeds that keeps only one of them (seeds - 1 edited words) is no candidate
    at the default ``two_seeds_from`` (one rare phrase of a long post is what chance gives), and is one
    with 0 or with a bar above the post's seeds."""
    seeds, _, four_or_more_once_each = _copy_choices(index)
    post = data.draw(st.sampled_from(four_or_more_once_each))
    s = len(seeds[post])
    doc = _edited_copy(index, post, seeds[post], s - 1, data)
    assert post not in _candidates(index, doc, two_seeds_from=4)
    assert post in _candidates(index, doc, two_seeds_from=0)
    assert post in _candidates(index, doc, two_seeds_from=s + 1)


class _Seeded:
    """An index's one column that :func:`_held_twice` reads: each post's seed count (post % 7)."""

    class _Counts:
        def __getitem__(self, posts: np.ndarray) -> np.ndarray:
            return np.asarray(posts, dtype=np.int64) % 7

    post_seeds = _Counts()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 40), st.integers(0, 6)), max_size=60),
       st.sampled_from([(1, 1, 1), (1 << 20, 1 << 26, 1 << 20)]), st.integers(0, 8))
def test_held_twice_is_its_definition(hits, scale, two_seeds_from) -> None:
    """Both ways of sorting the hits (one packed word when document, post and seed fit in 64 bits; a
    lexsort when they do not: the second scale) keep exactly the pairs with two distinct seeds in the
    document, or whose post has fewer seeds than asked."""
    from provenance.match.candidates import _held_twice

    ds, ps, ks = scale
    doc = np.array([h[0] * ds for h in hits], dtype=np.uint64)
    post = np.array([h[1] * ps + h[1] for h in hits], dtype=np.uint64)
    key = np.array([h[2] * ks for h in hits], dtype=np.int64)
    got = _held_twice(_Seeded(), (doc << np.uint64(32)) | post, key, two_seeds_from)
    seeds_of: dict[tuple[int, int], set[int]] = {}
    for d, q, k in zip(doc.tolist(), post.tolist(), key.tolist()):
        seeds_of.setdefault((d, q), set()).add(k)
    want = sorted((d << 32) | q for (d, q), ks_ in seeds_of.items() if len(ks_) >= 2 or q % 7 < two_seeds_from)
    assert got.tolist() == want
    # the same with each hit's post's seed count given beside it (routed probes: the parts return it)
    from provenance.match.candidates import held_twice

    counts = (post % np.uint64(7)).astype(np.uint8)
    assert held_twice((doc << np.uint64(32)) | post, key, two_seeds_from, counts=counts).tolist() == want


def test_post_seeds_counts_each_posts_seeds(index) -> None:
    counts = np.zeros(index.n_posts, dtype=np.int64)
    for p, s in _seeds_by_post(index).items():
        counts[p] = len(s)
    assert np.asarray(index.post_seeds).tolist() == np.minimum(counts, 255).tolist()
    assert (counts >= 4).sum() > 100  # (the rule has posts to act on)


_TEXTS: dict[int, list[str]] = {}
_CHOICES: dict[int, tuple[dict[int, set[int]], list[int], list[int]]] = {}


def _copy_choices(index) -> tuple[dict[int, set[int]], list[int], list[int]]:
    """``_seeds_by_post(index)``, its posts with 2+ seeds, and its posts with 4+ seeds whose shingles are
    all different, computed once per index (not once per hypothesis example: the same values)."""
    if id(index) not in _CHOICES:
        seeds = _seeds_by_post(index)
        _CHOICES[id(index)] = (seeds, sorted(p for p, s in seeds.items() if len(s) >= 2),
                               sorted(p for p, s in seeds.items() if len(s) >= 4 and _once_each(index, p)))
    return _CHOICES[id(index)]


def _post_texts(index) -> list[str]:
    """The posts' texts, in post order (the fixture's rows, each a post)."""
    if id(index) not in _TEXTS:
        texts = pl.read_csv(POSTS_CSV)["text"].to_list()
        assert len(texts) == index.n_posts
        _TEXTS[id(index)] = texts
    return _TEXTS[id(index)]


def _sharing_pairs(index, sb, two_seeds_from=0):
    """Every (document, post) sharing a shingle: the candidates if every shingle of every post were a seed."""
    off = index.shingle_offsets
    shingled = np.flatnonzero((np.asarray(index.post_kind) == SHINGLED) & (np.asarray(index.post_flags) & 2 == 0))
    lengths = (off[shingled + 1] - off[shingled]).astype(np.int64)
    post_of = np.repeat(shingled, lengths)
    hashes = np.asarray(index.shingles)[np.concatenate([np.arange(off[p], off[p + 1]) for p in shingled])]
    by_hash: dict[int, set[int]] = {}
    for h, p in zip(hashes.tolist(), post_of.tolist()):
        by_hash.setdefault(h, set()).add(p)
    pairs = sorted({(d, p) for d in range(len(sb.offsets) - 1) for h in sb.of(d).tolist() for p in by_hash.get(h, ())})
    return (np.array([d for d, _ in pairs], dtype=np.int64), np.array([p for _, p in pairs], dtype=np.int64))


def test_matches_are_those_of_every_sharing_pair_where_a_seed_is_intact(index, monkeypatch) -> None:
    """Scanning the planted corpus with every pair that shares a shingle as a candidate (what the keys
    of format 14 allowed, before their count filter) gives, for the pairs holding a seed, exactly the
    seeded scan's rows: seeds change which pairs are looked at, never how one is judged."""
    with gzip.open(PLANTED, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    params = ScanParams(batch_size=len(texts))  # one batch: documents numbered as the texts
    seeded = api.scan_texts(index, texts, params=params).matches
    sb = batch_shingles(texts, index.params.ngram, index.token_hasher(), lines=True)
    d, p = seed_candidates(index, sb, two_seeds_from=params.two_seeds_from)
    seeded_pairs = {(str(a + 1), b) for a, b in zip(d.tolist(), p.tolist())}
    monkeypatch.setattr(matcher_module, "seed_candidates", _sharing_pairs)
    everything = api.scan_texts(index, texts, params=params).matches
    number = {pid: i for i, pid in enumerate(index.posts["post_id"].to_list())}
    cross = ["span_docs", "span_texts", "why_not", "generic", "evalue"]  # (depend on the other matches)
    a, b = (m.drop(cross).sort("doc_id", "post_id", "method") for m in (seeded, everything))
    held = [(doc, number[pid]) in seeded_pairs for doc, pid in zip(b["doc_id"], b["post_id"])]
    covered = b.filter(pl.Series(held) | (b["method"] == "exact_short"))  # (short posts: matched by their text)
    assert a.height > 250 and a.equals(covered)
    assert b.height >= a.height  # (more: copies whose shared words hold no seed of their post; none in this corpus)


@pytest.mark.parametrize("value", [-1, 256, "4", 4.0, True])
def test_two_seeds_from_is_checked(value) -> None:
    from provenance.errors import ParameterError

    with pytest.raises(ParameterError, match="two_seeds_from"):
        ScanParams.from_dict({**ScanParams().to_dict(), "two_seeds_from": value})


@pytest.mark.parametrize("value", [0, -1, 2**32, "8", 8.0, True])
def test_seed_posts_is_checked(value) -> None:
    from provenance.errors import ParameterError

    with pytest.raises(ParameterError, match="seed_posts"):
        IndexParams.from_dict({**IndexParams().to_dict(), "seed_posts": value})
