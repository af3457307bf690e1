"""Parameters that change results: validated once, saved in every index manifest and scan summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from .errors import ON_ERROR, ParameterError

__all__ = ["IndexParams", "ScanParams", "doc_fields", "doc_meta_names", "MODES"]

MODES = ("containment", "jaccard")


MAX_RECORD_BYTES = 16 << 20
"""Default longest record (a line of JSONL, lines or CSV, a ``text`` file), in bytes after
decompression: a longer one is refused with a one-line error (counted as ``record_too_long`` with
``--on-error skip``) before it is held in memory. A scan takes about 130 bytes of memory per byte of
its longest record (a 15 MiB JSONL record: 2.0 GB peak RSS; benchmarks/MEMORY.md), so about 2 GB at
this limit; a decompression bomb stops at it."""


def check_max_record_bytes(value: int) -> None:
    _check(type(value) is int and 1 <= value <= 1 << 40,
           f"max_record_bytes (--max-record-bytes) must be 1..2^40, got {value!r}")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ParameterError(message)


def _is_day(value: str) -> bool:
    from datetime import date

    try:
        return len(value) == 10 and bool(date.fromisoformat(value))
    except (TypeError, ValueError):
        return False


class _Params:
    """``to_dict`` / ``from_dict`` for the parameter dataclasses (manifest, summary and evidence)."""

    _KIND = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """The parameters in ``data`` (a manifest's, a summary's or an evidence file's), each of the type
        of its default (an integer for an integer, a number for a float, true/false for a flag, a string
        for a choice) before its range is checked: a ParameterError naming the field otherwise."""
        _check(isinstance(data, dict), f"{cls._KIND} parameters must be a JSON object, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - set(known)
        _check(not unknown, f"unknown {cls._KIND} parameters: {', '.join(sorted(unknown))}")
        for name, value in data.items():
            kind = type(known[name].default)  # (a default of None: an optional string, such as a field name)
            ok = (value is None or isinstance(value, str)) if known[name].default is None else _of_type(value, kind)
            _check(ok, f"{cls._KIND} parameter {name} must be {_TYPE_WORDS.get(kind, 'a string or null')}, got {value!r}")
        return cls(**data)


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _of_type(value: Any, kind: type) -> bool:
    """``value`` is of ``kind`` as JSON gives it (an integer is a float too; true is not an integer)."""
    if isinstance(value, bool) or kind is bool:
        return isinstance(value, bool) and kind is bool
    if kind is float:
        return isinstance(value, (int, float)) and value == value  # (not NaN)
    return isinstance(value, kind)


@dataclass(frozen=True)
class IndexParams(_Params):
    """How posts are turned into shingles and keys. Fixed for the life of an index.

    Attributes:
        ngram: words per shingle (n of the word n-grams).
        seed: seed of the token hash (xxh3_64) and of the MinHash permutations; in a keyed index the
            token hash comes from the key and the seed only seeds the MinHash permutations.
        jaccard: also store MinHash signatures and LSH bands (``signatures.npy``, ``lsh_*.npy``),
            which ``scan --mode jaccard`` needs and a containment scan never reads; off by default
            (they are most of an index's bytes: 128 permutations are 512 bytes a post).
        num_perm: MinHash permutations (signature length), with ``jaccard``.
        lsh_threshold: Jaccard threshold the LSH bands are tuned for, with ``jaccard``.
        short_tokens: posts with fewer tokens than this are *short*: matched only as a whole
            record or a whole line (exact normalized text), never as a phrase inside a document.
        max_key_posts: a shingle found in more posts than this is *frequent*: never a seed, counted as
            ``max_key_posts + 1`` posts by the shared-phrase rule (:mod:`provenance.match.shared`).
        seed_posts: a shingle held by at most this many posts (and not frequent) may be one of a post's *seeds*, the keys
            a scan probes: each post keeps, left to right, every such shingle that does not overlap
            the one kept before it (disjoint word windows), so one probe finds at most
            ``seed_posts`` posts whatever the index's size, and an edited word breaks at most one
            seed of a post (:mod:`provenance.index.seeds`); a post without such a shingle takes its
            disjoint shingles of at most ``max_key_posts`` posts, and a post of frequent shingles only its rarest.
        inline_short_bits: a short post whose text carries at least this many bits under the
            bundled background model (:mod:`provenance.text.background`) is also matched inside a
            sentence; the others only as a whole record or line (most short posts are phrases).
        min_post_bits: a short post whose whole text carries fewer bits than this under the background
            model is *unattributable*: so common that no match of it could count, it holds no keys
            and is never matched (0 keeps every post). 35 is the scan's default ``min_evidence_bits``,
            and the E-value bar (``max_evalue`` 0.01) of a search as small as 10,000 posts against
            34,000 words: in any search worth running, such a post could not be significant.
    """

    _KIND = "index"
    ngram: int = 3
    seed: int = 0
    jaccard: bool = False
    num_perm: int = 128
    lsh_threshold: float = 0.5
    short_tokens: int = 6
    max_key_posts: int = 50
    seed_posts: int = 8
    inline_short_bits: float = 60.0
    min_post_bits: float = 35.0

    def __post_init__(self) -> None:
        _check(1 <= self.ngram <= 16, f"ngram (--ngram) must be 1..16, got {self.ngram}")
        _check(0 <= self.seed < 2**32, f"seed (--seed) must be 0..2^32-1, got {self.seed}")
        _check(1 <= self.num_perm <= 1024, f"num_perm (--num-perm) must be 1..1024, got {self.num_perm}")
        _check(0.0 < self.lsh_threshold < 1.0, f"lsh_threshold (--lsh-threshold) must be in (0, 1), got {self.lsh_threshold}")
        _check(self.short_tokens >= self.ngram, f"short_tokens (--short-tokens, {self.short_tokens}) must be >= ngram (--ngram, {self.ngram})")
        _check(0.0 <= self.inline_short_bits <= 1000.0, f"inline_short_bits (--inline-short-bits) must be in [0, 1000], got {self.inline_short_bits}")
        _check(1 <= self.max_key_posts < 2**32, f"max_key_posts (--max-key-posts) must be 1..2^32-1, got {self.max_key_posts}")
        _check(1 <= self.seed_posts < 2**32, f"seed_posts (--seed-posts) must be 1..2^32-1, got {self.seed_posts}")
        _check(self.short_tokens <= 10_000, f"short_tokens (--short-tokens) must be at most 10000, got {self.short_tokens}")
        _check(0.0 <= self.min_post_bits <= 1000.0, f"min_post_bits (--min-post-bits) must be in [0, 1000], got {self.min_post_bits}")


@dataclass(frozen=True)
class ScanParams(_Params):
    """How a corpus is matched against an index.

    Attributes:
        mode: ``containment`` (posts inside long documents) or ``jaccard`` (records that are
            themselves short texts, compared whole with MinHash/LSH).
        min_containment: a (document, post) pair matches when at least this share of the post's
            distinct shingles occurs inside one region of the document no longer than the post
            (plus ``window_slack``).
        min_coverage: ... and those shingles must cover at least this share of the post's tokens
            (an edited word costs one token of coverage; a generic phrase filling half a post fails).
        min_span_tokens: the matched region must cover at least this many tokens.
        min_aligned: a pair that fails the shingle tests still matches (``method = aligned``) when a
            token alignment finds at least this share of the post's tokens in order in one region,
            with no more extra words in it than the post's missing ones allowed
            (:mod:`provenance.match.align`); posts of ``min_span_tokens`` tokens or more.
        min_partial_tokens: a pair that fails every other test still matches (``method = partial``)
            when the document holds a verbatim run of this many of the post's consecutive tokens that
            is also at least half the post (a quote of the part that matters); 0 turns it off.
        window_slack: extra region length allowed, as a share of the post's shingle count (min. 3).
        two_seeds_from: a post with at least this many seeds (:mod:`provenance.index.seeds`) is a candidate
            only in a document that holds two different ones of them (0: one seed always makes a
            candidate). A copy with ``e`` edited words keeps ``seeds - e`` seeds intact, so every copy
            with at most 2 edited words of a post with 3 or more seeds is still a candidate at the
            default 4; what it drops is a long post's one rare phrase met by chance, most of the
            candidates an archive of millions of posts makes.
        min_jaccard: ``--mode jaccard``: exact Jaccard similarity a candidate must reach.
        min_evidence_bits: a match whose span carries fewer bits than this under the background
            model of ordinary English (:mod:`provenance.text.background`) is *generic*: listed, but
            left out of the counts and shares (a stock phrase is as likely as a copy).
        max_shared_posts: a match whose span is under 10 tokens and whose rarest shingle more than this
            many indexed posts hold is *generic* too: a phrase the posts share
            (:mod:`provenance.match.shared`); 0 turns it off.
        max_evalue: a match counts only when chance alone would produce fewer than this many matches
            at least as strong in a scan of this size (its E-value: posts searched x words scanned x
            2^-evidence_bits; :mod:`provenance.results.significance`).
        inline_bits: a match whose span starts in the middle of a sentence of the document (not at the
            start of a line, sentence or quotation) needs this many more evidence bits to count.
        max_span_texts: more than this many different indexed post texts holding the whole matched span
            make it common text of the platform (a name, a title, a line several posts quote), not
            counted (0 turns it off). 1: the post's own text alone may hold it (a retweet's copies are
            one text).
        max_span_docs: a post found in more than this many documents of the scan is common text of the
            corpus, not counted (0 turns it off).
        doc_date_field: the field of the documents holding their dates (read as the index reads post
            dates, :mod:`provenance.io.dates`): a match of a post of a later day than its document is
            not counted (the post copied the text, ``newer``).
        corpus_date: ``YYYY-MM-DD``, the date of every document without one of its own (a crawl's
            snapshot date), for the same rule.
        count_quoted: count the matches of posts that quote someone (``post_quoted``) too; off, they are
            ``quoted`` unless the document holds the whole post (``coverage`` 1, the post's own words with
            the quotation): their words are a common origin's (measured: at archive scale the rule gives
            news-like corpora 3-8 points of precision for 5 points of recall on posts of 10+ words).
        calibrated: set the E-value on the evidence bits less what the bundled background model is
            measured to overstate (:func:`provenance.results.significance.calibrated_bits`). On by
            default: at archive scale the uncalibrated bits count titles, names and stock phrases of
            conversation as copies (TweetEval and Reddit titles against Wikinews: 27 posts counted, none
            a copy; calibrated: 1, a quotation both hold). Off counts far more short and edited copies
            and far more coincidences (``docs/BENCHMARKS.md``).
        doc_meta_fields: comma-separated fields of the documents (a title, a URL) kept with each match
            (``doc_meta``, a JSON object) for a reader; they change no match.
        batch_size: documents per batch (memory and progress granularity; results do not depend on it).
        sample: share of the documents scanned (a seeded hash of file and row picks them).
        sample_seed: the seed of that hash.
        confidence: level of the estimates' intervals.
        on_error: ``stop`` at the first bad record or file (one line naming file and row), or
            ``skip`` it and count it by kind in ``summary.json`` ``skipped``.
        max_record_bytes: longest record read, in bytes after decompression (:data:`MAX_RECORD_BYTES`);
            a longer one is a bad record (``record_too_long``), refused before it is held in memory.
    """

    _KIND = "scan"
    mode: Literal["containment", "jaccard"] = "containment"
    min_containment: float = 0.5
    min_coverage: float = 0.7
    min_span_tokens: int = 6
    min_aligned: float = 0.8
    min_partial_tokens: int = 10
    window_slack: float = 0.25
    two_seeds_from: int = 4
    min_jaccard: float = 0.5
    min_evidence_bits: float = 35.0
    max_shared_posts: int = 4
    max_evalue: float = 0.01
    inline_bits: float = 40.0
    max_span_docs: int = 3
    max_span_texts: int = 1
    doc_date_field: str | None = None
    doc_meta_fields: str | None = None
    count_quoted: bool = False
    calibrated: bool = True
    corpus_date: str | None = None
    batch_size: int = 1024
    sample: float = 1.0
    sample_seed: int = 0
    confidence: float = 0.95
    on_error: Literal["stop", "skip"] = "stop"
    max_record_bytes: int = MAX_RECORD_BYTES

    def __post_init__(self) -> None:
        _check(self.mode in MODES, f"mode (--mode) must be one of {', '.join(MODES)}, got {self.mode!r}")
        _check(0.0 < self.min_containment <= 1.0, f"min_containment (--min-containment) must be in (0, 1], got {self.min_containment}")
        _check(0.0 < self.min_coverage <= 1.0, f"min_coverage (--min-coverage) must be in (0, 1], got {self.min_coverage}")
        _check(0.5 <= self.min_aligned <= 1.0, f"min_aligned (--min-aligned) must be in [0.5, 1], got {self.min_aligned}")
        _check(self.min_partial_tokens >= 0, f"min_partial_tokens (--min-partial-tokens) must be >= 0, got {self.min_partial_tokens}")
        _check(self.min_span_tokens >= 1, f"min_span_tokens (--min-span-tokens) must be >= 1, got {self.min_span_tokens}")
        _check(0 <= self.two_seeds_from <= 255, f"two_seeds_from (--two-seeds-from) must be 0..255, got {self.two_seeds_from}")
        _check(0.0 <= self.window_slack <= 4.0, f"window_slack (--window-slack) must be in [0, 4], got {self.window_slack}")
        _check(0.0 <= self.min_evidence_bits <= 1000.0, f"min_evidence_bits (--min-evidence-bits) must be in [0, 1000], got {self.min_evidence_bits}")
        _check(self.max_shared_posts >= 0, f"max_shared_posts (--max-shared-posts) must be >= 0, got {self.max_shared_posts}")
        _check(0.0 < self.max_evalue <= 1e6, f"max_evalue (--max-evalue) must be in (0, 1e6], got {self.max_evalue}")
        _check(0.0 <= self.inline_bits <= 1000.0, f"inline_bits (--inline-bits) must be in [0, 1000], got {self.inline_bits}")
        _check(self.max_span_texts >= 0, f"max_span_texts (--max-span-texts) must be >= 0, got {self.max_span_texts}")
        _check(self.corpus_date is None or _is_day(self.corpus_date),
               f"corpus_date (--corpus-date) must be a date such as 2024-05-01, got {self.corpus_date!r}")
        _check(self.doc_meta_fields is None or all(f.strip() for f in self.doc_meta_fields.split(",")),
               f"doc_meta_fields (--doc-meta-field) must name fields, got {self.doc_meta_fields!r}")
        _check(self.doc_date_field is None or bool(self.doc_date_field),
               "doc_date_field (--doc-date-field) must name a field")
        _check(self.max_span_docs >= 0, f"max_span_docs (--max-span-docs) must be >= 0, got {self.max_span_docs}")
        _check(0.0 < self.min_jaccard <= 1.0, f"min_jaccard (--min-jaccard) must be in (0, 1], got {self.min_jaccard}")
        _check(0.0 < self.sample <= 1.0, f"sample (--sample) must be in (0, 1], got {self.sample}")
        _check(0 <= self.sample_seed < 2**63, f"sample_seed (--seed) must be 0..2^63-1, got {self.sample_seed}")
        _check(0.5 <= self.confidence < 1.0, f"confidence (--confidence) must be in [0.5, 1), got {self.confidence}")
        _check(self.on_error in ON_ERROR, f"on_error (--on-error) must be one of {', '.join(ON_ERROR)}, got {self.on_error!r}")
        _check(1 <= self.batch_size <= 1_000_000, f"batch_size (--batch-size) must be 1..1000000, got {self.batch_size}")
        check_max_record_bytes(self.max_record_bytes)


def doc_meta_names(params: ScanParams) -> list[str]:
    """The ``--doc-meta-field`` names of a scan, in order."""
    return [f.strip() for f in params.doc_meta_fields.split(",")] if params.doc_meta_fields else []


def doc_fields(params: ScanParams) -> list[str]:
    """The document fields a scan reads besides the text and the id: the date field, then the meta fields."""
    return list(dict.fromkeys([*([params.doc_date_field] if params.doc_date_field else []), *doc_meta_names(params)]))

