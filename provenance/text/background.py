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

*Scripts written without spaces.* Their text is tokenized as overlapping character bigrams
(:mod:`provenance.text.normalize`, step 4): each token of a run adds one character to the span. A
model of English knows none of them (each would count as an unseen word, about 24 bits, four or five
times what a character of Japanese or Chinese carries), and its word n-gram contexts say nothing
about them. So a token of such a script counts :data:`NOSPACE_CHAR_BITS` bits whatever the model, and
the English tokens after it lose their bigram and trigram context like after any unknown word. At 4
bits a character, a span of 10 characters (9 bigram tokens, 36 bits) is just above the default
``--min-evidence-bits`` of 35: a Japanese or Chinese post of a dozen characters or more, found
verbatim, counts; the short phrases that many posts share are caught by ``--max-shared-posts``, as
in English.

The bundled model (``provenance/data/background``) is built from two kinds of text of the shared data
(``../shared/data``), only their *even* halves: the even-numbered files of the English Wikipedia sample
(``wiki_00``, ``wiki_02`` … : encyclopedic; CC BY-SA 3.0, "Wikipedia contributors") and the even records
(0-based line number) of ``reddit_selftext`` (forum self-posts: conversational; ODC PDDL 1.0 compilation,
text by Reddit users). The odd halves are held out: the benchmarks that scan those corpora or measure the
model's calibration read only the odd files and records (:data:`MODEL_HALF`). The model holds counts of
hashed n-grams, no text. ``python -m provenance.text.background build OUT --data DIR`` rebuilds it byte for
byte; ``build OUT FILES...`` builds one from any WikiExtractor or JSONL files (:func:`load_background` opens
it; the scan uses the bundled one).
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

__all__ = ["Background", "LAMBDAS", "NOSPACE_CHAR_BITS", "BACKGROUND_FORMAT", "HELD_OUT_HALF", "MODEL_HALF", "build_background", "chance",
           "default_background", "gram_hashes", "in_half", "in_plain_words", "load_background", "selftext_records",
           "span_bits", "wikipedia_files", "wikipedia_texts", "within_texts"]

BACKGROUND_FORMAT = "provenance-background"
BACKGROUND_VERSION = 1
LAMBDAS = (0.1, 0.3, 0.6)
"""Weights of the unigram, bigram and trigram estimates (renormalized over the orders whose context
was seen)."""
_ORDERS = (1, 2, 3)
NOSPACE_CHAR_BITS = 4.0
"""Bits of one token of a script written without spaces (one new character of the span). Character
language models put Japanese at about 4-5 bits a character and Chinese at 5-7 (Chinese characters
carry more, Japanese kana less); the low end keeps the estimate conservative."""
_UNSEEN = 0.5  # an unseen word counts as seen this many times
_Q = 8  # counts are stored as round(_Q * log2(count))
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data" / "background"


def plain_hasher():
    """The token hasher of the background model (keep one per scanner: its vocabulary cache makes
    later calls cheaper)."""
    from .shingles import TokenHasher

    return TokenHasher(seed=0)


def gram_hashes(token_hashes: NDArray[np.uint64], n: int) -> NDArray[np.uint64]:
    """64-bit hashes of every run of ``n`` token hashes (``len - n + 1`` of them; runs that cross a text
    boundary included: :func:`within_texts` says which do not). The model stores the high 32 bits."""
    from .hashing import combine

    return combine(token_hashes, n)


def within_texts(token_offsets: NDArray[np.int64], n: int) -> NDArray[np.bool_]:
    """For every run of ``n`` tokens (``t - n + 1`` of them, ``t = token_offsets[-1]``): whether it lies
    within one text (texts are ``token_offsets[j]:token_offsets[j+1]``)."""
    off = np.asarray(token_offsets, dtype=np.int64)
    t = int(off[-1]) if len(off) else 0
    if t < n:
        return np.zeros(0, dtype=bool)
    pos = np.arange(t) - np.repeat(off[:-1], np.diff(off))  # position within its text
    return pos[n - 1 :] >= n - 1


def _gram_keys(token_hashes: NDArray[np.uint64], n: int) -> NDArray[np.uint32]:
    """32-bit fingerprints of every run of ``n`` token hashes (``len - n + 1`` of them)."""
    return (gram_hashes(token_hashes, n) >> np.uint64(32)).astype(np.uint32)


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

    def bits(self, token_hashes: NDArray[np.uint64], offsets: NDArray[np.int64],
             nospace: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
        """``-log2 P`` of each span: span ``i`` is ``token_hashes[offsets[i]:offsets[i+1]]``.
        ``nospace`` (bool, one per token): the token is of a script written without spaces and counts
        :data:`NOSPACE_CHAR_BITS` (:attr:`provenance.text.shingles.ShingleBatch.nospace`)."""
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
        if nospace is not None:
            per_token = np.where(nospace, NOSPACE_CHAR_BITS, per_token)
        return np.bincount(np.repeat(np.arange(k), np.diff(offsets)), weights=per_token, minlength=k)

    def bits_of_runs(self, token_hashes: NDArray[np.uint64], starts: NDArray[np.int64],
                     lengths: NDArray[np.int64], nospace: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
        """:meth:`bits` of the runs ``token_hashes[starts[i]:starts[i] + lengths[i]]`` (hashed as the
        model hashes tokens: :func:`plain_hasher`); ``nospace`` is indexed as ``token_hashes``."""
        from ..arrays import expand_ranges

        at = expand_ranges(starts, lengths)
        return self.bits(token_hashes[at], np.r_[0, np.cumsum(lengths)], None if nospace is None else nospace[at])


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
    return background.bits(sb.token_hashes, sb.token_offsets, sb.nospace)


# ---------------------------------------------------------------------------------- build and load


def build_background(texts: Iterable[Sequence[str]], out: str | Path, *, min_count: int = 3,
                     source: str = "", sources: list[dict] | None = None) -> dict:
    """Count the word 1-, 2- and 3-grams of ``texts`` (batches of strings) and write the model into
    ``out`` (``unigrams.npy`` … with ``*_counts.npy`` and ``manifest.json``); returns the manifest.
    ``sources``: what the texts are (files, halves, licenses), written into the manifest as they are
    once ``texts`` is read to its end."""
    from .shingles import batch_shingles

    hasher = plain_hasher()
    parts: dict[int, list[NDArray[np.uint32]]] = {n: [] for n in _ORDERS}
    tokens = 0
    for batch in texts:
        sb = batch_shingles(list(batch), 1, hasher)
        h, off = sb.token_hashes, sb.token_offsets
        tokens += len(h)
        for n in _ORDERS:
            if len(h) >= n:
                parts[n].append(_gram_keys(h, n)[within_texts(off, n)])  # no n-gram across two texts
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
    if sources is not None:
        manifest["sources"] = sources
        manifest["text_stored"] = "none: counts of hashed n-grams only"
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


MODEL_HALF = "even"
"""The half of the shared Wikipedia files (by file number: ``wiki_00``, ``wiki_02`` …) and of the
``reddit_selftext`` records (by 0-based line number) the bundled model is built from; the other half
(:data:`HELD_OUT_HALF`) is held out: benchmarks scan and measure only that one."""
HELD_OUT_HALF = "odd"
WIKIPEDIA, SELFTEXT = "wikipedia_en_sample", "reddit_selftext"
LICENSES = {WIKIPEDIA: "CC BY-SA 3.0; text by Wikipedia contributors",
            SELFTEXT: "ODC PDDL 1.0 (the compilation); text by Reddit users"}


def in_half(number: int, half: str) -> bool:
    """Whether file or record ``number`` belongs to ``half``: "even", "odd" or "all"."""
    return half == "all" or number % 2 == (half == "odd")


def wikipedia_files(data: str | Path, half: str = "all") -> list[Path]:
    """The shared Wikipedia sample's files ``wiki_NN.gz`` of ``half`` (by their number NN), sorted."""
    files = sorted((Path(data) / WIKIPEDIA).glob("wiki_*.gz"))
    return [f for f in files if in_half(int(f.name.split("_")[1].split(".")[0]), half)]


def selftext_records(path: str | Path, half: str = "all") -> Iterable[tuple[int, dict]]:
    """``(line number, record)`` of the JSONL(.gz) file ``path`` whose 0-based line number is in ``half``."""
    import gzip

    import orjson

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        for i, line in enumerate(fh):
            if in_half(i, half) and line.strip():
                yield i, orjson.loads(line)


def _batched(texts: Iterable[str], batch: int = 2048) -> Iterable[list[str]]:
    out: list[str] = []
    for t in texts:
        out.append(t)
        if len(out) >= batch:
            yield out
            out = []
    if out:
        yield out


def wikipedia_texts(files: Sequence[str | Path]) -> Iterable[str]:
    """The bodies of the ``<doc>`` entries of WikiExtractor files (gzip), file after file."""
    import gzip
    import re

    doc = re.compile(r'<doc id="\d+" url="[^"]*" title="[^"]*">\n(.*?)</doc>', re.S)
    for f in files:
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            for m in doc.finditer(fh.read()):
                yield m.group(1)


def _file_texts(files: Sequence[str]) -> Iterable[str]:
    """WikiExtractor files, and JSONL(.gz) files (their records' ``text``), every record."""
    for f in files:
        if Path(f).name.endswith((".jsonl", ".jsonl.gz")):
            yield from (r.get("text") or "" for _, r in selftext_records(f))
        else:
            yield from wikipedia_texts([f])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _shared_texts(data: Path, half: str, sources: list[dict]) -> Iterable[str]:
    """The texts of the bundled recipe (``half`` of the Wikipedia files, then of the selftext records);
    appends what was read to ``sources`` (for the manifest) once a corpus is done."""
    wiki = wikipedia_files(data, half)
    n = 0
    for t in wikipedia_texts(wiki):
        n += 1
        yield t
    sources.append({"name": WIKIPEDIA, "kind": "encyclopedic", "half": f"{half}-numbered files",
                    "files": {f.name: _sha256(f) for f in wiki}, "texts": n, "license": LICENSES[WIKIPEDIA]})
    path = Path(data) / SELFTEXT / "selftext.jsonl.gz"
    n = 0
    for _, r in selftext_records(path, half):
        n += 1
        yield r["text"]
    sources.append({"name": SELFTEXT, "kind": "conversational", "half": f"{half} records (0-based line number)",
                    "files": {path.name: _sha256(path)}, "texts": n, "license": LICENSES[SELFTEXT]})


def main(argv: Sequence[str]) -> int:
    """Build a background model.

    python -m provenance.text.background build OUT --data DIR [--half even]   # the bundled model's recipe
    python -m provenance.text.background build OUT FILES...                   # WikiExtractor / JSONL files

    The bundled model is ``build provenance/data/background --data ../shared/data``: the even halves of
    wikipedia_en_sample and reddit_selftext (the odd halves are held out for the benchmarks).
    """
    import argparse

    ap = argparse.ArgumentParser(prog="python -m provenance.text.background", description=main.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["build"])
    ap.add_argument("out", type=Path)
    ap.add_argument("files", nargs="*", help="WikiExtractor files (gzip) or JSONL(.gz) files with a 'text' field")
    ap.add_argument("--data", type=Path, help=f"the shared data folder: {WIKIPEDIA} and {SELFTEXT}, --half of each")
    ap.add_argument("--half", choices=["even", "odd", "all"], default=MODEL_HALF, help="with --data (default: even)")
    ap.add_argument("--min-count", type=int, default=3)
    args = ap.parse_args(list(argv))
    if bool(args.files) == bool(args.data):
        ap.error("give FILES or --data DIR, not both")
    if args.data:
        missing = [p for p in (args.data / WIKIPEDIA, args.data / SELFTEXT / "selftext.jsonl.gz") if not p.exists()]
        if missing:
            ap.error(f"{missing[0]}: not found")
        sources: list[dict] = []
        wiki = wikipedia_files(args.data, args.half)
        m = build_background(_batched(_shared_texts(args.data, args.half, sources)), args.out,
                             min_count=args.min_count, sources=sources,
                             source=f"{args.half} halves of {WIKIPEDIA} ({len(wiki)} files) and {SELFTEXT} "
                                    f"(records by line number)")
    else:
        files = sorted(args.files)
        m = build_background(_batched(_file_texts(files)), args.out, min_count=args.min_count,
                             source=f"{len(files)} WikiExtractor files: {Path(files[0]).parent.name}/"
                                    f"{Path(files[0]).name} .. {Path(files[-1]).name}")
    print(json.dumps({k: m[k] for k in ("tokens", "vocabulary", "entries")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
