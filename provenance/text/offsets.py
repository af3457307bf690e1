"""Where the tokens of a text lie in its original text: the reference for one text, and the same
for a batch of texts at a time.

The reference (:func:`normalize_with_offsets`, :func:`tokenize_with_offsets`, :func:`token_spans`)
normalizes one text as :func:`provenance.text.normalize.normalize` does while keeping, for every
normalized character, the original character(s) it came from.

:func:`token_spans_many` gives for every text what the reference :func:`token_spans` gives: the character offsets (0-based, end-exclusive) of
each of its tokens in the original text. The scan asks it once per batch, for the documents that
hold a match: long pages, where one reference call per page (normalizing the whole page again,
character by character with offsets) cost more than finding the match.

It rests on one fact about the normalizer: **the tokens of a normalized text are the tokens of its
folded text (step 1), less those inside a span of step 3, byte for byte**, whenever step 2 leaves
the text as it is. A span begins at a word boundary or at a non-word character, takes its last
word whole (URLs run to the next space; mentions, retweets and cut words end with a ``\\w+``),
and the space it leaves keeps its neighbours apart. So, for the whole batch at once:

1. Fold the texts (:func:`~provenance.text.vectorized.fold`) and note which original character
   every folded byte comes from (:func:`~provenance.text.vectorized.folded_chars`).
2. Find the spans in the texts that hold a span literal, with the same polars call as the scan,
   replacing each span by itself between two markers (U+E000, U+E001: private-use characters,
   which folding turns into spaces, so no folded text holds one). The markers' places are the
   spans' places.
3. Tokenize the folded buffer and drop the tokens that begin inside a span.
4. A token starts at the character of its first byte and ends after the character of its last.

A text that step 2 may change (it holds an entity), that holds one of the bytes 0x1c-0x1f (Python
counts them as space and Rust's regex engine does not), a character of a script written without
spaces (step 4 makes its tokens) or a lone surrogate takes the reference, one call each. Equality with the reference is tested with hypothesis on texts built from every
normalization case (tests/test_offsets.py), and the scan checks every text's token count against
the count its shingles were made from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import polars as pl
from numpy.typing import NDArray

from .normalize import ENTITY_PATTERN, FOLD_TABLE, decode_entities_mapped, fold_text, has_spans, span_matches
from .nospace import split_nospace_mapped
from .vectorized import (TextBuffer, fold, folded_chars, needs_reference, replace_spans, texts_with, to_buffer, tokenize,
                         with_control_bytes, with_nospace)

__all__ = ["Tokens", "normalize_with_offsets", "tokenize_with_offsets", "token_spans", "token_spans_many", "starts_unit"]

Spans = tuple[NDArray[np.int64], NDArray[np.int64]]


@dataclass(frozen=True)
class Tokens:
    """Tokens of one text with their places in the original text.

    ``words``: the normalized tokens; ``starts``/``ends``: int64 arrays of shape ``(len(words),)``,
    0-based character offsets into the original text, end-exclusive.
    """

    words: list[str]
    starts: NDArray[np.int64]
    ends: NDArray[np.int64]


def _fold_with_offsets(text: str) -> tuple[str, NDArray[np.int64]]:
    """Folded text and, for each of its characters, the index of the original character."""
    folded = fold_text(text)
    if text.isascii():
        return folded, np.arange(len(text), dtype=np.int64)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return folded, np.repeat(np.arange(len(text), dtype=np.int64), _fold_lengths(codes))


_FOLD_LENGTH = np.full(0x110000, -1, dtype=np.int8)  # folded length per code point, -1: not yet known


def _fold_lengths(codes: NDArray[np.uint32]) -> NDArray[np.int8]:
    """Length of each code point's folding, from a lazily filled table."""
    lengths = _FOLD_LENGTH[codes]
    unknown = np.unique(codes[lengths < 0])
    if len(unknown):
        _FOLD_LENGTH[unknown] = [len(FOLD_TABLE[int(c)]) for c in unknown]
        lengths = _FOLD_LENGTH[codes]
    return lengths


def normalize_with_offsets(text: str) -> tuple[str, NDArray[np.int64], NDArray[np.int64]]:
    """Normalize ``text`` and say where each normalized character came from.

    Returns ``(norm, src_start, src_end)``: ``norm == normalize(text)``, and for every index ``i`` of
    ``norm``, ``text[src_start[i]:src_end[i]]`` is the original character(s) it was made from (an
    entity, a removed span, or one character). Both arrays are int64 of shape ``(len(norm),)``.
    """
    folded, src = _fold_with_offsets(text)
    starts, ends = src, src + 1
    if "&" in folded:
        folded, starts, ends = decode_entities_mapped(folded, starts, ends)
    if has_spans(folded):
        folded, starts, ends = _replace_spans_mapped(folded, starts, ends)
    if folded.isascii():
        return folded, starts, ends
    split, source = split_nospace_mapped(folded)  # step 4: each character from one of ``folded``
    if source is None:
        return folded, starts, ends
    return split, starts[source], ends[source]


def _replace_spans_mapped(folded: str, starts: NDArray[np.int64],
                          ends: NDArray[np.int64]) -> tuple[str, NDArray[np.int64], NDArray[np.int64]]:
    """Step 3 with the characters' original spans: each span becomes one space, from all of the
    span's characters."""
    pieces: list[str] = []
    new_starts: list[NDArray[np.int64]] = []
    new_ends: list[NDArray[np.int64]] = []
    pos = 0
    for m in span_matches(folded):
        pieces += (folded[pos : m.start()], " ")
        new_starts += (starts[pos : m.start()], starts[m.start() : m.start() + 1])
        new_ends += (ends[pos : m.start()], ends[m.end() - 1 : m.end()])
        pos = m.end()
    pieces.append(folded[pos:])
    new_starts.append(starts[pos:])
    new_ends.append(ends[pos:])
    return "".join(pieces), np.concatenate(new_starts), np.concatenate(new_ends)


def tokenize_with_offsets(text: str) -> Tokens:
    """Tokens of ``text`` with original character offsets (0-based, end-exclusive)."""
    norm, src_start, src_end = normalize_with_offsets(text)
    starts, ends = _token_bounds(norm)
    words = [norm[s:e] for s, e in zip(starts.tolist(), ends.tolist())]
    return Tokens(words, src_start[starts], src_end[ends - 1])


def token_spans(text: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Original character offsets ``(starts, ends)`` of every token of ``text``, as in
    :func:`tokenize_with_offsets` but without building the token strings."""
    norm, src_start, src_end = normalize_with_offsets(text)
    starts, ends = _token_bounds(norm)
    return src_start[starts], src_end[ends - 1]


# ASCII word characters. Normalized text holds only ASCII, letters and decimal digits, so a token
# (``\w+``) is a maximal run of characters that are non-ASCII or in this table.
_ASCII_WORD = np.array([chr(c).isalnum() or chr(c) == "_" for c in range(128)], dtype=bool)


def _token_bounds(norm: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Where each token of normalized text starts and ends (end-exclusive), with numpy."""
    codes = np.frombuffer(norm.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    word = np.ones(len(codes), dtype=bool)
    ascii_ = codes < 128
    word[ascii_] = _ASCII_WORD[codes[ascii_]]
    edges = np.diff(np.r_[False, word, False].astype(np.int8))
    return np.flatnonzero(edges == 1).astype(np.int64), np.flatnonzero(edges == -1).astype(np.int64)



_OPEN, _CLOSE = "\ue000", "\ue001"  # both UTF-8 0xEE 0x80 0x8x; no folded text holds a byte 0xEE
_MARKER_BYTES = 3


def token_spans_many(texts: Sequence[str]) -> list[Spans]:
    """``[token_spans(t) for t in texts]``, vectorized over the texts (see the module docstring)."""
    try:
        buf = to_buffer(texts)
    except UnicodeEncodeError:  # a lone surrogate somewhere: the few texts of this call one by one
        return [token_spans(t) for t in texts]
    folded = fold(buf)
    char_of, char_offsets = folded_chars(buf)
    if len(char_of) != folded.size:  # cannot happen (each character folds into its own bytes)
        raise AssertionError("token_spans_many: folded bytes do not match their characters")
    reference = _needs_reference(folded)
    span_starts, span_ends = _spans(folded, np.setdiff1d(needs_reference(folded), reference, assume_unique=True))
    toks = tokenize(folded)
    text_of = np.repeat(np.arange(len(texts), dtype=np.int64), toks.counts)
    keep = np.ones(len(toks.starts), dtype=bool)
    if len(span_starts):
        i = np.searchsorted(span_starts, toks.starts, side="right") - 1
        keep = ~((i >= 0) & (toks.starts < span_ends[np.maximum(i, 0)]))
    starts, ends, text_of = toks.starts[keep], toks.ends[keep], text_of[keep]
    base = char_offsets[text_of]
    char_starts = char_of[starts] - base
    char_ends = char_of[ends - 1] + 1 - base
    bounds = np.searchsorted(text_of, np.arange(len(texts) + 1), side="left")
    out = [(char_starts[a:b], char_ends[a:b]) for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]
    for j in reference.tolist():
        out[j] = token_spans(texts[j])
    return out


def _needs_reference(folded: TextBuffer) -> NDArray[np.int64]:
    """The texts (indices, increasing) that take the reference: those holding an entity, one of
    the bytes 0x1c-0x1f or a character of a script written without spaces (whose bigrams are no
    runs of word bytes of the folded text)."""
    amp = texts_with(folded.offsets, np.flatnonzero(folded.data[: folded.size] == 0x26))
    if len(amp):
        texts = pl.Series([folded.text(j) for j in amp.tolist()], dtype=pl.String)
        amp = amp[texts.str.contains(ENTITY_PATTERN).to_numpy()]
    return np.union1d(np.union1d(with_control_bytes(folded), with_nospace(folded)), amp).astype(np.int64)


def _spans(folded: TextBuffer, texts: NDArray[np.int64]) -> Spans:
    """Byte ranges ``(starts, ends)`` in ``folded`` (sorted, disjoint) of the step-3 spans of the
    texts ``texts`` (which step 2 leaves as they are)."""
    if not len(texts):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    marked = replace_spans(folded, texts, _OPEN + "${0}" + _CLOSE)
    pos = np.flatnonzero(marked.data[: marked.size] == 0xEE)
    if len(pos) % 2 or not (marked.data[pos[1::2] + 2] == 0x81).all():  # cannot happen (see _OPEN)
        raise AssertionError("token_spans_many: span markers out of order")
    # Without the markers before it, a marker's place is a place in the texts' own bytes.
    plain = pos - _MARKER_BYTES * np.arange(len(pos), dtype=np.int64)
    opens, closes = plain[0::2], plain[1::2]
    lengths = np.diff(folded.offsets)[texts]
    sub_offsets = np.r_[0, np.cumsum(lengths)]
    text = np.searchsorted(sub_offsets, opens, side="right") - 1
    starts = folded.offsets[texts[text]] + (opens - sub_offsets[text])
    return starts, starts + (closes - opens)


# Sentence ends and openings of Japanese and Chinese too: 。！？．｡：；｜ end, 「『（【〈《〔［｛〝 open.
_UNIT_START = re.compile(r"(?:\A|[\n.!?…:;|。！？．｡：；｜])[\s\"'“‘«(\[{*\-–—>#•「『（【〈《〔［｛〝]*"
                         r"(?:(?:RT\s+)?@\w+:?\s*)*\Z")
_LOOK_BACK = 200


def starts_unit(text: str, start: int) -> bool:
    """Whether a span starting at character ``start`` of ``text`` starts a unit of the text: the text,
    a line, a sentence (after ``.``, ``!``, ``?``, ``…``, and ``。``, ``！``, ``？`` of Japanese and
    Chinese), or what follows a colon, a quotation mark, a bracket (``「``, ``『``, ``（`` too), a
    bullet, ``@handles`` or ``RT @handle:`` at such a place. A copied post stands so; a span
    that starts in the middle of a sentence is more often the document's own words."""
    return bool(_UNIT_START.search(text, max(0, start - _LOOK_BACK), start))
