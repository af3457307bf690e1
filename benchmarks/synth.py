"""A seeded synthetic workload for the scale benchmark: Zipf-distributed posts and corpus documents.

Vocabulary: ``VOCAB_SIZE`` pseudo-words built from syllables, each unique; frequent words are short
(the syllable count grows with the logarithm of the rank, as in natural language). Word ``r`` (rank 1
is the most frequent) is drawn with probability proportional to ``1 / r**s`` (``s = ZIPF_S``).

Posts: 5–45 words (a right-skewed, tweet-like length: log-normal with median 14, truncated), written
as CSV ``id,text`` (``p0000000,Word word word``); the text holds only ASCII letters and spaces, so it
needs no quoting.

Corpus: JSONL ``{"id": "d00000000", "text": "..."}``; each document has 200–5,000 words (log-normal,
median 700) in sentences (``.``) and paragraphs (``\\n\\n``). A known share of documents (``plant_rate``)
contains 1–3 *planted* posts, copied verbatim as a paragraph of their own (``Post text.`` followed by a
blank line), chosen uniformly among the first ``pool`` posts. The planted (document, post) pairs are
written to ``<corpus>.truth.csv`` (``doc_id,post_id``).

Everything is generated in chunks (``POST_CHUNK`` posts, ``DOC_CHUNK`` documents) whose random stream
depends only on ``(seed, chunk number)``: the first ``n`` posts are the same whatever the total, and a
smaller corpus is a prefix of a larger one with the same seed and pool. Text is assembled with numpy
(sampled word numbers → byte pieces → one gather), and streamed to disk a chunk at a time, so memory
stays bounded (about 100 MB) whatever the size written.

    python -m benchmarks.synth posts -n 100000 -o posts.csv [--seed 1]
    python -m benchmarks.synth corpus --mib 64 --pool 10000 -o corpus.jsonl [--seed 1] [--plant-rate 0.02]
"""

from __future__ import annotations

import argparse
import csv
import functools
import itertools
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DOC_CHUNK", "POST_CHUNK", "VOCAB_SIZE", "ZIPF_S", "CorpusInfo", "PostsInfo", "Vocabulary", "main", "post_id",
    "post_texts", "read_truth", "vocabulary", "write_corpus", "write_posts",
]

VOCAB_SIZE = 200_000
ZIPF_S = 1.1
POST_CHUNK = 10_000
DOC_CHUNK = 500
POST_WORDS = (5, 45, 14.0, 0.55)  # min, max, median, sigma of log
DOC_WORDS = (200, 5000, 700.0, 0.9)
SENTENCE_END = 1 / 15  # share of words that end a sentence ...
PARAGRAPH_END = 1 / 90  # ... and a paragraph

# Random streams: (seed, stream, chunk) seeds one numpy Generator.
_VOCAB, _POSTS, _DOCS = 0, 1, 2

_ONSETS = ("", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "y", "z",
           "bl", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "pl", "pr", "qu", "sc", "sh", "sk", "sl",
           "sm", "sn", "sp", "st", "str", "sw", "th", "tr", "wh")
_ONSET_W = np.array([6.0] + [3.0] * 19 + [1.0] * 26)
_VOWELS = ("a", "e", "i", "o", "u", "ea", "ee", "ai", "ou", "oo", "ie", "y")
_VOWEL_W = np.array([5.0, 6.0, 4.0, 4.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.7, 0.7, 0.6])
_CODAS = ("", "n", "r", "s", "t", "l", "m", "d", "nd", "st", "ng", "ck", "rt", "nt", "x", "sh", "th", "ll")
_CODA_W = np.array([20.0, 3.0, 3.0, 3.0, 2.5, 2.0, 1.5, 1.5, 1.0, 1.0, 1.0, 0.6, 0.5, 0.8, 0.3, 0.5, 0.5, 0.5])

# Byte forms of every word: piece number = form * VOCAB_SIZE + rank index (0-based).
PLAIN, SENTENCE, PARAGRAPH, BARE = 0, 1, 2, 3  # "w ", "w. ", "w.\n\n" (JSON-escaped), "w"
CAPITAL = 4  # added to a form: the capitalized word
N_FORMS = 8
_SUFFIXES = (b" ", b". ", b".\\n\\n", b"")


def _rng(seed: int, stream: int, chunk: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, chunk])


@dataclass(frozen=True)
class Vocabulary:
    """The words (rank order), their Zipf CDF, and a byte pool holding every word in every form.

    ``pool[starts[k] : starts[k] + lengths[k]]`` is piece ``k``: a word in one of ``N_FORMS`` forms
    (``k = form * size + rank index``), then the extra pieces ``FOOTER`` (end of a JSONL record) and
    ``NEWLINE``.
    """

    words: tuple[str, ...]
    cdf: NDArray[np.float64]
    pool: NDArray[np.uint8]
    starts: NDArray[np.int64]
    lengths: NDArray[np.int64]

    @property
    def size(self) -> int:
        return len(self.words)

    @property
    def footer(self) -> int:
        return N_FORMS * self.size

    @property
    def newline(self) -> int:
        return N_FORMS * self.size + 1

    def sample(self, rng: np.random.Generator, n: int) -> NDArray[np.int64]:
        """``n`` rank indices (0 = most frequent) drawn from the Zipf distribution."""
        idx = np.searchsorted(self.cdf, rng.random(n), side="right")
        return np.minimum(idx, self.size - 1)


@functools.lru_cache(maxsize=4)
def vocabulary(seed: int, size: int = VOCAB_SIZE, s: float = ZIPF_S) -> Vocabulary:
    """The vocabulary of ``size`` distinct pseudo-words for ``seed``, rank-frequency ∝ ``1 / rank**s``."""
    rng = _rng(seed, _VOCAB, 0)
    ranks = np.arange(1, size + 1)
    words: list[str | None] = [None] * size
    seen: set[str] = set()
    todo = np.arange(size)
    onset_p, vowel_p, coda_p = (w / w.sum() for w in (_ONSET_W, _VOWEL_W, _CODA_W))
    while len(todo):
        # Syllables: 1 + Poisson, with a mean growing with log10(rank): rank 1-10 ≈ 1, rank 200k ≈ 2.5.
        n_syl = np.minimum(1 + rng.poisson(np.maximum(0.3 * np.log10(ranks[todo]) - 0.1, 0.0)), 6)
        total = int(n_syl.sum())
        on = rng.choice(len(_ONSETS), total, p=onset_p)
        vo = rng.choice(len(_VOWELS), total, p=vowel_p)
        co = rng.choice(len(_CODAS), total, p=coda_p)
        syl = [_ONSETS[a] + _VOWELS[b] + _CODAS[c] for a, b, c in zip(on.tolist(), vo.tolist(), co.tolist())]
        ends = np.cumsum(n_syl).tolist()
        retry = []
        start = 0
        for i, end in zip(todo.tolist(), ends):
            word = "".join(syl[start:end])
            start = end
            if word in seen:
                retry.append(i)
            else:
                seen.add(word)
                words[i] = word
        todo = np.asarray(retry, dtype=np.int64)
    weights = ranks.astype(np.float64) ** -s
    cdf = np.cumsum(weights) / weights.sum()
    # Frequent words are short: order by length plus noise (a running word has 4.4 letters on average).
    lengths = np.fromiter((len(w or "") for w in words), dtype=np.float64, count=size)
    order = np.argsort(lengths + rng.normal(0.0, 2.0, size), kind="stable")
    final = tuple(words[i] or "" for i in order.tolist())
    lower = [w.encode() for w in final]
    upper = [w.capitalize().encode() for w in final]
    word_len = np.fromiter(map(len, lower), dtype=np.int64, count=size)
    blocks: list[bytes] = []
    block_len: list[NDArray[np.int64]] = []
    for form in range(N_FORMS):
        suffix = _SUFFIXES[form % CAPITAL]
        blocks.append(suffix.join(upper if form >= CAPITAL else lower) + suffix)
        block_len.append(word_len + len(suffix))
    extra = [b'."}\n', b"\n"]  # FOOTER, NEWLINE
    lengths = np.concatenate([*block_len, [len(e) for e in extra]])
    starts = np.cumsum(lengths) - lengths
    pool = np.frombuffer(b"".join(blocks + extra), dtype=np.uint8)
    return Vocabulary(final, cdf, pool, starts, lengths)


def _lengths(rng: np.random.Generator, n: int, spec: tuple[int, int, float, float]) -> NDArray[np.int64]:
    """``n`` integer lengths from a log-normal (median, sigma), truncated to [lo, hi] by rejection."""
    lo, hi, median, sigma = spec
    out: list[NDArray[np.int64]] = []
    have = 0
    while have < n:
        x = np.rint(rng.lognormal(np.log(median), sigma, 2 * (n - have) + 16)).astype(np.int64)
        x = x[(x >= lo) & (x <= hi)]
        out.append(x)
        have += len(x)
    return np.concatenate(out)[:n]


def _assemble(vocab: Vocabulary, ids: NDArray[np.int64],
              extra: list[bytes]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Concatenate pieces ``ids`` (vocabulary pieces, then ``extra[k]`` as piece ``vocab.newline + 1 + k``).

    Returns the bytes and the end offset of every piece in them.
    """
    extra_len = np.fromiter(map(len, extra), dtype=np.int64, count=len(extra))
    base = len(vocab.pool)
    pool = np.concatenate([vocab.pool, np.frombuffer(b"".join(extra), dtype=np.uint8)])
    starts = np.concatenate([vocab.starts, base + np.cumsum(extra_len) - extra_len])
    lengths = np.concatenate([vocab.lengths, extra_len])
    piece_len = lengths[ids]
    ends = np.cumsum(piece_len)
    total = int(ends[-1]) if len(ends) else 0
    # Byte j of the output is pool[start of its piece + (j - output start of its piece)].
    shift = np.repeat(starts[ids] - (ends - piece_len), piece_len)
    shift += np.arange(total, dtype=np.int64)
    return pool[shift], ends


# ------------------------------------------------------------------------------------------------ posts


@dataclass(frozen=True)
class _PostChunk:
    data: NDArray[np.uint8]  # CSV lines "p0000000,Text\n"
    text_start: NDArray[np.int64]
    text_end: NDArray[np.int64]
    words: NDArray[np.int64]

    def text(self, i: int) -> bytes:
        return self.data[self.text_start[i] : self.text_end[i]].tobytes()


@functools.lru_cache(maxsize=16)
def _post_chunk(seed: int, j: int) -> _PostChunk:
    vocab = vocabulary(seed)
    rng = _rng(seed, _POSTS, j)
    n_words = _lengths(rng, POST_CHUNK, POST_WORDS)
    ranks = vocab.sample(rng, int(n_words.sum()))
    first = np.cumsum(n_words) - n_words
    forms = np.full(len(ranks), PLAIN, dtype=np.int64)
    forms[first] = PLAIN + CAPITAL
    forms[first + n_words - 1] = BARE
    words = forms * vocab.size + ranks
    headers = [f"p{j * POST_CHUNK + i:07d},".encode() for i in range(POST_CHUNK)]
    header_ids = vocab.newline + 1 + np.arange(POST_CHUNK)
    # Pieces: header, words, newline; inserted before each post's first word / after its last.
    at = np.concatenate([first, first + n_words])
    val = np.concatenate([header_ids, np.full(POST_CHUNK, vocab.newline)])
    order = np.lexsort((np.r_[np.ones(POST_CHUNK), np.zeros(POST_CHUNK)], at))
    ids = np.insert(words, at[order], val[order])
    data, ends = _assemble(vocab, ids, headers)
    # Piece positions in ids: post i's header is at first[i] + 2 i, its last word at first[i] + n_words[i] + 2 i.
    k = np.arange(POST_CHUNK)
    text_start = ends[first + 2 * k]
    text_end = ends[first + n_words + 2 * k]
    return _PostChunk(data, text_start, text_end, n_words)


def _chunks_for(n: int, size: int) -> range:
    return range((n + size - 1) // size)


def post_texts(seed: int, n: int) -> list[bytes]:
    """The texts of posts ``0 .. n-1`` (as written by :func:`write_posts`)."""
    out: list[bytes] = []
    for j in _chunks_for(n, POST_CHUNK):
        chunk = _post_chunk(seed, j)
        out += [chunk.text(i) for i in range(min(POST_CHUNK, n - j * POST_CHUNK))]
    return out


def post_id(i: int) -> str:
    return f"p{i:07d}"


@dataclass(frozen=True)
class PostsInfo:
    """What :func:`write_posts` wrote."""

    path: str
    seed: int
    posts: int
    bytes: int
    words: int
    seconds: float


def write_posts(path: str | Path, n: int, seed: int) -> PostsInfo:
    """Write posts ``0 .. n-1`` as CSV ``id,text`` to ``path`` (atomically: a temporary name, then rename)."""
    path = Path(path)
    t0 = time.perf_counter()
    tmp = path.with_name(f".{path.name}.tmp")
    words = 0
    with open(tmp, "wb") as f:
        f.write(b"id,text\n")
        for j in _chunks_for(n, POST_CHUNK):
            chunk = _post_chunk(seed, j)
            m = min(POST_CHUNK, n - j * POST_CHUNK)
            end = int(chunk.text_end[m - 1]) + 1
            f.write(memoryview(chunk.data[:end]))
            words += int(chunk.words[:m].sum())
    os.replace(tmp, path)
    return PostsInfo(str(path), seed, n, path.stat().st_size, words, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------ corpus


@dataclass(frozen=True)
class _DocChunk:
    data: NDArray[np.uint8]
    doc_end: NDArray[np.int64]  # end offset of every document's line in data
    words: NDArray[np.int64]  # words per document
    planted_doc: NDArray[np.int64]  # chunk-local document of each planted post
    planted_post: NDArray[np.int64]


def _doc_chunk(seed: int, j: int, pool: int, plant_rate: float, planted_texts: list[bytes]) -> _DocChunk:
    vocab = vocabulary(seed)
    rng = _rng(seed, _DOCS, j)
    k = DOC_CHUNK
    n_words = _lengths(rng, k, DOC_WORDS)
    total = int(n_words.sum())
    ranks = vocab.sample(rng, total)
    first = np.cumsum(n_words) - n_words
    u = rng.random(total)
    forms = np.where(u < PARAGRAPH_END, PARAGRAPH, np.where(u < SENTENCE_END, SENTENCE, PLAIN))
    # Planted posts: which documents, how many (1-3), which posts, before which word of the document.
    planted = np.flatnonzero(rng.random(k) < plant_rate)
    count = rng.integers(1, 4, len(planted))
    p_doc = np.repeat(planted, count)
    p_post = rng.integers(0, pool, len(p_doc))
    p_at = first[p_doc] + np.floor(rng.random(len(p_doc)) * n_words[p_doc]).astype(np.int64)
    inner = p_at[p_at > first[p_doc]]
    forms[inner - 1] = PARAGRAPH  # the planted paragraph starts on a line of its own
    forms[first + n_words - 1] = BARE
    capital = np.zeros(total, dtype=bool)
    capital[1:] = (forms[:-1] == SENTENCE) | (forms[:-1] == PARAGRAPH)
    capital[first] = True
    capital[p_at] = True
    words = (forms + CAPITAL * capital) * vocab.size + ranks
    base = vocab.newline + 1
    extra = [f'{{"id": "d{j * k + d:08d}", "text": "'.encode() for d in range(k)]
    extra += [planted_texts[p] + b".\\n\\n" for p in p_post.tolist()]
    # Inserted pieces, in order at equal positions: footer of the previous document, header, planted posts.
    at = np.concatenate([first + n_words, first, p_at])
    val = np.concatenate([np.full(k, vocab.footer), base + np.arange(k), base + k + np.arange(len(p_doc))])
    rank = np.concatenate([np.zeros(k), np.ones(k), np.full(len(p_doc), 2)])
    order = np.lexsort((rank, at))
    ids = np.insert(words, at[order], val[order])
    data, ends = _assemble(vocab, ids, extra)
    doc_end = ends[ids == vocab.footer]
    return _DocChunk(data, doc_end, n_words, p_doc, p_post)


@dataclass(frozen=True)
class CorpusInfo:
    """What :func:`write_corpus` wrote; ``truth`` is the CSV of planted ``doc_id,post_id`` pairs."""

    path: str
    truth: str
    seed: int
    target_bytes: int
    bytes: int
    docs: int
    words: int
    planted_docs: int
    planted_pairs: int
    pool: int
    plant_rate: float
    seconds: float


def write_corpus(path: str | Path, target_bytes: int, seed: int, pool: int, plant_rate: float = 0.02) -> CorpusInfo:
    """Write documents until the file holds at least ``target_bytes`` (the last one completes it).

    Planted posts are drawn from posts ``0 .. pool-1`` of the same seed. The truth goes to
    ``<path>.truth.csv``; both files are written under temporary names and renamed when complete.
    """
    path = Path(path)
    truth = path.with_name(path.name + ".truth.csv")
    t0 = time.perf_counter()
    planted_texts = post_texts(seed, pool)
    tmp, tmp_truth = path.with_name(f".{path.name}.tmp"), truth.with_name(f".{truth.name}.tmp")
    written = docs = words = pairs = 0
    planted_docs: set[str] = set()
    with open(tmp, "wb") as f, open(tmp_truth, "w", newline="") as t:
        w = csv.writer(t, lineterminator="\n")
        w.writerow(["doc_id", "post_id"])
        for j in itertools.count():
            chunk = _doc_chunk(seed, j, pool, plant_rate, planted_texts)
            # Keep documents up to the first one that reaches the target.
            keep = min(int(np.searchsorted(chunk.doc_end, target_bytes - written, side="left")) + 1, DOC_CHUNK)
            end = int(chunk.doc_end[keep - 1])
            f.write(memoryview(chunk.data[:end]))
            sel = chunk.planted_doc < keep
            # A post planted twice in one document is one pair.
            for d, p in sorted(set(zip(chunk.planted_doc[sel].tolist(), chunk.planted_post[sel].tolist()))):
                doc = f"d{j * DOC_CHUNK + d:08d}"
                w.writerow([doc, post_id(p)])
                planted_docs.add(doc)
                pairs += 1
            written += end
            docs += keep
            words += int(chunk.words[:keep].sum())
            if written >= target_bytes:
                break
    os.replace(tmp_truth, truth)
    os.replace(tmp, path)
    return CorpusInfo(str(path), str(truth), seed, target_bytes, written, docs, words, len(planted_docs), pairs, pool,
                      plant_rate, time.perf_counter() - t0)


def read_truth(path: str | Path) -> list[tuple[str, str]]:
    """The planted ``(doc_id, post_id)`` pairs of a corpus (from its ``.truth.csv``)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return [(a, b) for a, b in rows[1:]]


# ------------------------------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("posts", help="write posts as CSV id,text")
    p.add_argument("-n", type=int, required=True, help="number of posts")
    c = sub.add_parser("corpus", help="write a JSONL corpus with planted posts (and <out>.truth.csv)")
    c.add_argument("--mib", type=float, required=True, help="size to reach, MiB")
    c.add_argument("--pool", type=int, default=10_000, help="planted posts are drawn from posts 0..pool-1")
    c.add_argument("--plant-rate", type=float, default=0.02, help="share of documents with planted posts")
    for q in (p, c):
        q.add_argument("-o", "--out", type=Path, required=True)
        q.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.what == "posts":
        info: PostsInfo | CorpusInfo = write_posts(args.out, args.n, args.seed)
    else:
        info = write_corpus(args.out, int(args.mib * (1 << 20)), args.seed, args.pool, args.plant_rate)
    print(json.dumps(asdict(info)))


if __name__ == "__main__":
    main()
