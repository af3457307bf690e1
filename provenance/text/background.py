"""Evidence strength: how unlikely a matched span is to occur by chance in ordinary text.

A match between a post and a document is worth something only when the words they share are
specific. "thoughts and prayers go out to" occurs in a great many texts that never saw the post; "I
am German when we win but I am an immigrant when we lose" does not. The figure that tells them apart
is the span's *information content* under a background model of ordinary English: ``bits =
-log2 P(w_1 ... w_k)``, where ``P`` is the probability that a word trigram model of a large general
corpus writes exactly these ``k`` words at a given place. A span of ``b`` bits is expected by chance
about once in ``2^b`` words of such text: 40 bits is once in about 10^12 words.

The model (:class:`Background`) interpolates word unigram, bigram and trigram relative frequencies
(Jelinek-Mercer smoothing, fixed weights :data:`LAMBDAS`; an unseen word gets the probability of a
word seen half a time). Tokens are the scan's own (:mod:`provenance.text.normalize`), hashed with
``xxh3_64(token, seed=0)`` whatever the index's seed or key, so one model serves every index; n-grams
are stored as 32-bit fingerprints (sorted ``uint32``) with their counts rounded to 1/8 of a power of two
(``uint8``), and only n-grams seen ``min_count`` times or more: a phrase seen once in the background
corpus is no evidence that it is ordinary. Two different n-grams share a fingerprint with probability
about ``entries / 2^32`` (under 0.1 %); such a clash can only make a span look more ordinary.

The bundled model (``provenance/data/background``) was built from the English Wikipedia sample of
``../shared/data`` (CC BY-SA 3.0, "Wikipedia contributors"; the model holds counts of hashed n-grams,
no text): ``python -m provenance.text.background build OUT FILES...`` rebuilds it, or builds one from
any other corpus (``provenance scan --background DIR`` uses it).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["Background", "LAMBDAS", "BACKGROUND_FORMAT", "build_background", "chance", "default_background",
           "in_plain_words", "load_background", "span_bits"]

BACKGROUND_FORMAT = "provenance-background"
BACKGROUND_VERSION = 1
LAMBDAS = (0.1, 0.3, 0.6)
"""Weights of the unigram, bigram and trigram estimates (renormalized over the orders whose context
was seen)."""
_ORDERS = (1, 2, 3)
_UNSEEN = 0.5  # an unseen word counts as seen this many times
_Q = 8  # counts are stored as round(_Q * log2(count))
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "background"


def plain_hasher():
    """The token hasher of the background model (keep one per scanner: its vocabulary cache makes
    later calls cheaper)."""
    from .shingles import TokenHasher

    return TokenHasher(seed=0)


def _gram_keys(token_hashes: NDArray[np.uint64], n: int) -> NDArray[np.uint32]:
    """32-bit fingerprints of every run of ``n`` token hashes (``len - n + 1`` of them)."""
    from .hashing import combine

    return (combine(token_hashes, n) >> np.uint64(32)).astype(np.uint32)


@dataclass(frozen=True)
class Background:
    """A background n-gram model: per order, sorted fingerprints and quantized counts."""

    keys: tuple[NDArray[np.uint32], ...]
    counts: tuple[NDArray[np.uint8], ...]
    tokens: int  # words in the background corpus
    vocabulary: int  # distinct words stored
    manifest: dict

    @property
    def identity(self) -> dict:
        """What a scan's summary pins of the model: its source, size and the sha256 of its manifest
        (which holds every file's sha256)."""
        return {"source": self.manifest.get("source", ""), "tokens": self.tokens,
                "manifest_sha256": self.manifest.get("_sha256", "")}

    # -- lookups

    def count(self, order: int, keys: NDArray[np.uint32]) -> NDArray[np.float64]:
        """Approximate counts of the n-grams with these fingerprints (0 when not stored)."""
        table, q = self.keys[order - 1], self.counts[order - 1]
        if not len(table):
            return np.zeros(len(keys))
        at = np.minimum(np.searchsorted(table, keys), len(table) - 1)
        found = table[at] == keys
        return np.where(found, np.exp2(q[at] / _Q), 0.0)

    def bits(self, token_hashes: NDArray[np.uint64], offsets: NDArray[np.int64]) -> NDArray[np.float64]:
        """``-log2 P`` of each span: span ``i`` is ``token_hashes[offsets[i]:offsets[i+1]]``."""
        t = len(token_hashes)
        k = len(offsets) - 1
        if t == 0:
            return np.zeros(k)
        pos = np.arange(t) - np.repeat(offsets[:-1], np.diff(offsets))  # position within its span
        c1 = self.count(1, _gram_keys(token_hashes, 1))
        p1 = (c1 + _UNSEEN) / (self.tokens + _UNSEEN * (self.vocabulary + 1))
        num, den = LAMBDAS[0] * p1, np.full(t, LAMBDAS[0])
        prev_count = c1  # count of the context that ends at each token
        for order in (2, 3):
            grams = np.zeros(t)
            ctx = np.zeros(t)
            if t >= order:
                grams[order - 1 :] = self.count(order, _gram_keys(token_hashes, order))
                ctx[order - 1 :] = prev_count[order - 2 : t - 1]  # the context ends at the token before
            ok = (pos >= order - 1) & (ctx > 0)
            lam = LAMBDAS[order - 1]
            num = num + np.where(ok, lam * np.minimum(grams / np.where(ok, ctx, 1.0), 1.0), 0.0)
            den = den + np.where(ok, lam, 0.0)
            prev_count = grams
        per_token = -np.log2(num / den)
        return np.bincount(np.repeat(np.arange(k), np.diff(offsets)), weights=per_token, minlength=k)

    def bits_of_runs(self, token_hashes: NDArray[np.uint64], starts: NDArray[np.int64],
                     lengths: NDArray[np.int64]) -> NDArray[np.float64]:
        """:meth:`bits` of the runs ``token_hashes[starts[i]:starts[i] + lengths[i]]`` (hashed as the
        model hashes tokens: :func:`plain_hasher`)."""
        from ..arrays import expand_ranges

        return self.bits(token_hashes[expand_ranges(starts, lengths)], np.r_[0, np.cumsum(lengths)])


def in_plain_words(bits: float, tokens: int | None = None) -> str:
    """``bits`` as a sentence a reader can weigh: "a 14-word span that ordinary English text would
    write by chance about once in 10^42 words"."""
    what = f"a {tokens}-word span" if tokens else "a span"
    return f"{what} that ordinary English text would write by chance about once in {_words(bits)}"


def chance(bits: float) -> str:
    """``bits`` as a short odds string: "1 in 10^42 words"."""
    return f"1 in {_words(bits)}"


def _words(bits: float) -> str:
    """``2 ** bits`` words, as a count below 1,000 and a power of ten above."""
    power = bits * 0.30102999566398120  # log10(2)
    return f"{2 ** bits:,.0f} words" if power < 3 else f"10^{power:.0f} words"


def span_bits(background: Background, spans: Sequence[str], hasher=None) -> NDArray[np.float64]:
    """Bits of each text (normalized and tokenized as the scan does); ``hasher``: from
    :func:`plain_hasher`, reused across calls."""
    from .shingles import batch_shingles

    sb = batch_shingles(list(spans), 1, hasher or plain_hasher())
    return background.bits(sb.token_hashes, sb.token_offsets)


# ---------------------------------------------------------------------------------- build and load


def build_background(texts: Iterable[Sequence[str]], out: str | Path, *, min_count: int = 3,
                     source: str = "") -> dict:
    """Count the word 1-, 2- and 3-grams of ``texts`` (batches of strings) and write the model into
    ``out`` (``unigrams.npy`` … with ``*_counts.npy`` and ``manifest.json``); returns the manifest."""
    from .shingles import batch_shingles

    hasher = plain_hasher()
    parts: dict[int, list[NDArray[np.uint32]]] = {n: [] for n in _ORDERS}
    tokens = 0
    for batch in texts:
        sb = batch_shingles(list(batch), 1, hasher)
        h, off = sb.token_hashes, sb.token_offsets
        tokens += len(h)
        pos = np.arange(len(h)) - np.repeat(off[:-1], np.diff(off))
        for n in _ORDERS:
            if len(h) >= n:
                g = _gram_keys(h, n)
                parts[n].append(g[pos[n - 1 :] >= n - 1])  # no n-gram across two texts
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = {1: "unigrams", 2: "bigrams", 3: "trigrams"}
    entries = {}
    vocabulary = 0
    for n in _ORDERS:
        allg = np.concatenate(parts[n]) if parts[n] else np.zeros(0, dtype=np.uint32)
        allg.sort()
        heads = np.flatnonzero(np.r_[True, allg[1:] != allg[:-1]]) if len(allg) else np.zeros(0, dtype=np.int64)
        counts = np.diff(np.r_[heads, len(allg)])
        keep = counts >= min_count
        keys, counts = allg[heads[keep]], counts[keep]
        q = np.minimum(np.round(_Q * np.log2(counts)), 255).astype(np.uint8)
        np.save(out / f"{names[n]}.npy", keys, allow_pickle=False)
        np.save(out / f"{names[n]}_counts.npy", q, allow_pickle=False)
        entries[names[n]] = int(len(keys))
        if n == 1:
            vocabulary = int(len(keys))
    files = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(out.glob("*.npy"))}
    manifest = {"format": BACKGROUND_FORMAT, "format_version": BACKGROUND_VERSION, "tokens": tokens,
                "vocabulary": vocabulary, "min_count": min_count, "entries": entries, "lambdas": list(LAMBDAS),
                "token_hash": "xxh3_64(token, seed=0) of provenance.normalize tokens",
                "fingerprint": "high 32 bits of the rotl29 fold + fmix64 of the n-gram's token hashes",
                "counts": f"round({_Q} * log2(count)), uint8", "source": source, "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def load_background(path: str | Path) -> Background:
    """Open a model written by :func:`build_background`; a clear error if it is not one."""
    from ..errors import InputError

    path = Path(path)
    try:
        raw = (path / "manifest.json").read_bytes()
        manifest = json.loads(raw)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a background model ({e})") from None
    if manifest.get("format") != BACKGROUND_FORMAT or manifest.get("format_version") != BACKGROUND_VERSION:
        raise InputError(f"{path}: background model format {manifest.get('format')!r} version "
                         f"{manifest.get('format_version')!r}, this provenance reads version {BACKGROUND_VERSION}")
    names = ("unigrams", "bigrams", "trigrams")
    try:
        for name, digest in manifest.get("files", {}).items():
            if hashlib.sha256((path / name).read_bytes()).hexdigest() != digest:
                raise InputError(f"{path / name}: checksum differs from the background model's manifest")
        keys = tuple(np.load(path / f"{n}.npy", allow_pickle=False) for n in names)
        counts = tuple(np.load(path / f"{n}_counts.npy", allow_pickle=False) for n in names)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable background model file ({e})") from None
    manifest["_sha256"] = hashlib.sha256(raw).hexdigest()
    return Background(keys, counts, int(manifest["tokens"]), int(manifest["vocabulary"]), manifest)


@lru_cache(maxsize=1)
def default_background() -> Background:
    """The model bundled with the package."""
    return load_background(DEFAULT_DIR)


def _wikipedia_texts(files: Sequence[str], batch: int = 2048) -> Iterable[list[str]]:
    import gzip
    import re

    doc = re.compile(r'<doc id="\d+" url="[^"]*" title="[^"]*">\n(.*?)</doc>', re.S)
    texts: list[str] = []
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for m in doc.finditer(fh.read()):
                texts.append(m.group(1))
                if len(texts) >= batch:
                    yield texts
                    texts = []
    if texts:
        yield texts


def main(argv: Sequence[str]) -> int:
    """``python -m provenance.text.background build OUT WIKIEXTRACTOR_FILES...``"""
    if len(argv) < 3 or argv[0] != "build":
        print(main.__doc__, file=sys.stderr)
        return 2
    files = sorted(argv[2:])
    m = build_background(_wikipedia_texts(files), argv[1],
                         source=f"{len(files)} WikiExtractor files: {Path(files[0]).parent.name}/"
                                f"{Path(files[0]).name} .. {Path(files[-1]).name}")
    print(json.dumps({k: m[k] for k in ("tokens", "vocabulary", "entries")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
