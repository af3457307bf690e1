"""Normalize and tokenize a whole batch of texts at once, as one UTF-8 buffer, with numpy.

What it computes is defined by the reference normalizer (:mod:`provenance.text.normalize`): the tokens of
every text are exactly ``TOKEN_RE.findall(normalize(text))``, in order. Only the way differs: the
reference makes several Python calls per text; here a batch of a thousand texts takes a fixed number
of numpy passes over its bytes, and Python calls only for what is rare:

1. **Buffer.** The texts become one UTF-8 buffer and offsets (pyarrow, one C loop over the list).
2. **Fold** (the reference's step 1). ASCII letters are lower-cased by arithmetic over the whole
   buffer. Each non-ASCII character (found by its UTF-8 lead byte: about 0.2 % of the bytes of
   English Wikipedia) is replaced by :func:`provenance.text.normalize.fold_char` of it, looked up in a
   table filled once per distinct code point for the life of the process. A folding no longer than
   the character is written in place and its spare bytes removed in one compaction; a longer one
   (Hangul syllables decompose into three jamo) is inserted with ``np.insert``.
3. **Entities and spans** (steps 2 and 3). Both can only change a text that holds ``&`` (every
   entity starts with it) or one of the literals each span pattern needs (``@`` for mentions and
   retweets; ``...`` for cut words; ``://``, ``www.``, ``t.co/`` or ``pic.twitter.com/`` for URLs).
   Texts holding one of these are found with numpy and finished by the reference's own
   :func:`provenance.text.normalize.normalize_folded`, one Python call each; every other text is already
   normalized after step 2. On English Wikipedia about 5 % of the texts take that call.
4. **Bigrams** (step 4). Texts holding a character of a script written without spaces (found by the
   lead bytes of 3- and 4-byte characters and a table of code points) were finished by the
   reference's steps 2 and 3 if they held a span literal at all (the Rust pattern does not know the
   rule for spans next to those scripts); then :func:`split_nospace` cuts their runs into bigrams
   with one ``np.insert`` for the whole buffer (:mod:`provenance.text.nospace`). Text without such characters costs one comparison
   per byte.
5. **Tokens** (step 5) are the maximal runs of word bytes: ASCII letters, digits and ``_``, and every
   byte of a non-ASCII character, since after folding every non-ASCII character is a letter or a
   decimal digit (:func:`~provenance.text.normalize.fold_char` keeps nothing else). Line breaks are
   recorded for the short-post line match.

Equality with the reference is tested on real text and, with hypothesis, on texts built from every
normalization case (``tests/test_vectorized.py``); ``batch_shingles(..., vectorized=False)`` runs the
reference instead, and a scan gives byte-identical outputs either way.

Offsets here are byte offsets into the batch buffer, 0-based, end-exclusive; the character offsets of
a match in its original text come from :mod:`provenance.text.offsets`, for the few texts that hold
a match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import polars as pl
import pyarrow as pa
from numpy.typing import NDArray

from ..arrays import expand_ranges, sorted_unique
from .normalize import SPANS_RUST, fold_char, normalize, normalize_folded
from .nospace import nospace_chars, split_runs

__all__ = ["TextBuffer", "Tokens", "to_buffer", "fold", "folded_chars", "needs_reference", "texts_with",
           "with_control_bytes", "with_nospace", "replace_spans", "split_nospace", "normalize_buffer", "tokenize"]

PAD = 8
"""Zero bytes after every buffer's data, so that 8-byte words can be read at any token start."""


@dataclass(frozen=True)
class TextBuffer:
    """A batch of texts as one UTF-8 buffer.

    ``data``: uint8 ``(b + PAD,)``, the texts' bytes one after the other, then ``PAD`` zero bytes;
    ``offsets``: int64 ``(k + 1,)``, text ``j`` is ``data[offsets[j]:offsets[j + 1]]``.
    """

    data: NDArray[np.uint8]
    offsets: NDArray[np.int64]

    @property
    def size(self) -> int:
        """Bytes of text (without the padding)."""
        return int(self.offsets[-1])

    def text(self, j: int) -> str:
        return self.data[self.offsets[j] : self.offsets[j + 1]].tobytes().decode("utf-8")

    @classmethod
    def of(cls, data: NDArray[np.uint8], offsets: NDArray[np.int64]) -> "TextBuffer":
        """A buffer of ``data`` (unpadded, exactly ``offsets[-1]`` bytes), padded."""
        padded = np.zeros(len(data) + PAD, dtype=np.uint8)
        padded[: len(data)] = data
        return cls(padded, offsets)


def to_buffer(texts: Sequence[str]) -> TextBuffer:
    """The UTF-8 buffer of ``texts`` (a pyarrow array is built in one C loop). A text that is no valid
    UTF-8 (a lone surrogate) raises ``UnicodeEncodeError``."""
    arr = pa.array(texts, type=pa.large_string())
    n = len(texts)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=n + 1)
    base = int(offsets[0])
    raw = arr.buffers()[2]
    data = np.frombuffer(raw, dtype=np.uint8) if raw is not None else np.zeros(0, dtype=np.uint8)
    return TextBuffer.of(data[base : int(offsets[-1])], offsets - base)


# --------------------------------------------------------------------------------------------- fold


class _FoldTable:
    """``fold_char`` of every code point seen so far, as UTF-8 bytes in one pool: code point ``c``
    folds to ``pool[start[id[c]]:start[id[c] + 1]]``. Filled lazily; shared by the whole process."""

    def __init__(self) -> None:
        self.id = np.full(0x110000, -1, dtype=np.int32)
        self._pool = bytearray()
        self._starts = [0]
        self.pool = np.zeros(0, dtype=np.uint8)
        self.start = np.zeros(1, dtype=np.int64)

    def ids(self, codes: NDArray[np.int32]) -> NDArray[np.int32]:
        ids = self.id[codes]
        missing = sorted_unique(codes[ids < 0])
        if len(missing):
            for c in missing.tolist():  # once per distinct code point, ever
                self.id[c] = len(self._starts) - 1
                self._pool += fold_char(chr(c)).encode("utf-8")
                self._starts.append(len(self._pool))
            self.pool = np.frombuffer(bytes(self._pool), dtype=np.uint8)
            self.start = np.array(self._starts, dtype=np.int64)
            ids = self.id[codes]
        return ids


_TABLE = _FoldTable()


def _non_ascii(buf: TextBuffer) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]:
    """Where every non-ASCII character of a buffer starts (its UTF-8 lead byte), its width in bytes
    and its code point."""
    data = buf.data[: buf.size]
    lead = np.flatnonzero(data >= 0xC0)
    b0 = data[lead].astype(np.int32)
    nxt = [buf.data[lead + k].astype(np.int32) & 0x3F for k in (1, 2, 3)]  # (the padding makes +3 safe)
    width = np.where(b0 < 0xE0, 2, np.where(b0 < 0xF0, 3, 4)).astype(np.int64)
    codes = np.where(width == 2, ((b0 & 0x1F) << 6) | nxt[0],
                     np.where(width == 3, ((b0 & 0x0F) << 12) | (nxt[0] << 6) | nxt[1],
                              ((b0 & 0x07) << 18) | (nxt[0] << 12) | (nxt[1] << 6) | nxt[2]))
    return lead, width, codes


def _fold_lengths(codes: NDArray[np.int32]) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
    """The fold table's ids of ``codes`` and the length in bytes of each one's folding."""
    ids = _TABLE.ids(codes)
    return ids, _TABLE.start[ids + 1] - _TABLE.start[ids]


def fold(buf: TextBuffer) -> TextBuffer:
    """Step 1 of the reference normalizer on every text: ``_fold`` (see the module docstring)."""
    size = buf.size
    data = buf.data[:size]
    upper = (data - np.uint8(65)) < np.uint8(26)  # A-Z (uint8 arithmetic wraps below 'A')
    low = data + (upper.view(np.uint8) << np.uint8(5))
    lead, width, codes = _non_ascii(buf)  # (the first byte of every non-ASCII character)
    if not len(lead):
        return TextBuffer.of(low, buf.offsets)
    ids, flen = _fold_lengths(codes)
    pool, start = _TABLE.pool, _TABLE.start
    inplace = np.minimum(flen, width)
    low[expand_ranges(lead, inplace)] = pool[expand_ranges(start[ids], inplace)]
    offsets = buf.offsets
    removed = np.zeros(0, dtype=np.int64)
    shrink = flen < width
    if shrink.any():
        removed = expand_ranges(lead[shrink] + flen[shrink], (width - flen)[shrink])
        keep = np.ones(size, dtype=bool)
        keep[removed] = False
        low = low[keep]
        offsets = offsets - np.searchsorted(removed, offsets)
    grow = np.flatnonzero(flen > width)
    if len(grow):
        extra = flen[grow] - width[grow]
        after = lead[grow] + width[grow]  # where the extra bytes go, in the original buffer
        values = pool[expand_ranges(start[ids[grow]] + width[grow], extra)]
        low = np.insert(low, np.repeat(after - np.searchsorted(removed, after), extra), values)
        # a character's extra bytes belong to its own text: they shift every later text's start
        shift = np.r_[0, np.cumsum(extra)]
        offsets = offsets + shift[np.searchsorted(after, buf.offsets, side="right")]
    return TextBuffer.of(low, offsets)


def folded_chars(buf: TextBuffer) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For :func:`fold` of ``buf``: which original character every folded byte comes from, as a
    code point index counted over the whole buffer, and ``char_offsets`` (int64 ``(k + 1,)``): text
    ``j``'s characters are those from ``char_offsets[j]``. (Each character folds on its own, into
    its own bytes, in order: the bytes of character ``c`` are as many as its folding is long.)"""
    data = buf.data[: buf.size]
    is_char = (data & np.uint8(0xC0)) != np.uint8(0x80)  # every byte but UTF-8 continuation bytes
    before = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(is_char, out=before[1:])
    lengths = np.ones(int(before[-1]), dtype=np.int64)
    lead, _, codes = _non_ascii(buf)
    if len(lead):
        lengths[before[lead]] = _fold_lengths(codes)[1]
    return np.repeat(np.arange(len(lengths), dtype=np.int64), lengths), before[buf.offsets]


# ------------------------------------------------------------------------------- entities and spans


_LITERALS = (b"&", b"@", b"...", b"://", b"www.", b"t.co/", b"pic.twitter.com/")
"""What steps 2 and 3 of the reference need to find in a text before they can change it: ``&`` for
entities, ``@`` for mentions and retweets, ``...`` for cut words, the rest for URLs."""


def texts_with(offsets: NDArray[np.int64], positions: NDArray[np.int64]) -> NDArray[np.int64]:
    """The texts (indices, increasing, distinct) holding the byte positions ``positions``."""
    return sorted_unique(np.searchsorted(offsets, positions, side="right") - 1)


def with_control_bytes(buf: TextBuffer) -> NDArray[np.int64]:
    """The texts (indices, increasing) holding one of the bytes 0x1c-0x1f, which Python's regex
    engine counts as space and Rust's (polars) does not: the reference finishes them."""
    body = buf.data[: buf.size]
    return texts_with(buf.offsets, np.flatnonzero((body - np.uint8(0x1C)) < np.uint8(4)))


def needs_reference(buf: TextBuffer) -> NDArray[np.int64]:
    """The texts (indices, increasing) of a folded buffer that hold one of :data:`_LITERALS`: the only
    ones that steps 2 and 3 of the reference can change. Three passes find the bytes ``&`` / ``@``,
    ``.`` and ``/``; the literals are checked around those (``...``, ``www.`` end in ``.``, the URL
    literals in ``/``)."""
    data, size = buf.data, buf.size
    body = data[:size]
    hits = [np.flatnonzero((body == 0x26) | (body == 0x40))]
    dots = np.flatnonzero(body == 0x2E)
    slashes = np.flatnonzero(body == 0x2F)
    for literal in _LITERALS[2:]:
        last = dots if literal.endswith(b".") else slashes
        pos = last - (len(literal) - 1)
        pos = pos[pos >= 0]
        for k in range(len(literal) - 1):
            pos = pos[data[pos + k] == literal[k]]
        hits.append(pos)
    return texts_with(buf.offsets, np.concatenate(hits))


def normalize_buffer(texts: Sequence[str]) -> TextBuffer:
    """Every text of ``texts`` normalized (``normalize(text)`` for each), as one buffer."""
    try:
        folded = fold(to_buffer(texts))
    except UnicodeEncodeError:  # a lone surrogate: the reference folds it to a space
        return to_buffer([normalize(t) for t in texts])
    special = needs_reference(folded)
    if len(special):
        # A span next to a character of a script written without spaces is the reference's to find
        # (SPANS_RUST holds for the other texts only): those texts go to the reference's steps 2 and 3.
        folded = _finish(folded, special, with_nospace(folded))
    return split_nospace(folded)  # (an entity may have decoded to such a character)


def with_nospace(buf: TextBuffer) -> NDArray[np.int64]:
    """The texts (indices, increasing) of a folded buffer holding a character of a script written
    without spaces."""
    return texts_with(buf.offsets, nospace_chars(buf.data, buf.size)[0])


def split_nospace(buf: TextBuffer) -> TextBuffer:
    """Step 4 (:func:`provenance.text.nospace.split_runs`) on every text of a buffer that steps 1-3
    normalized."""
    split = split_runs(buf.data, buf.size, buf.offsets)
    return buf if split is None else TextBuffer.of(*split)


_SEP = b" \x00 "
"""Joins short texts for one call of the reference: no entity, span or cut word reaches across it
(entities hold no space, URLs and cut words stop at the space, ``rt\\s*@`` at the NUL; what
follows it sees a space, as the start of a text does), as in :func:`provenance.text.normalize.normalize_batch`."""

_JOIN_BELOW = 1000
"""Texts shorter than this (bytes) are finished by the reference joined together; longer ones one
by one."""


def replace_spans(buf: TextBuffer, texts: NDArray[np.int64], replacement: str = " ") -> TextBuffer:
    """Step 3 of the reference (:data:`provenance.text.normalize.SPANS_RUST`, each span a space) on the
    texts ``texts`` of a folded buffer without entities; returns a buffer of those texts only.
    ``replacement`` may name the span as ``${0}`` (Rust's regex syntax)."""
    starts, lengths = buf.offsets[texts], np.diff(buf.offsets)[texts]
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = buf.data[expand_ranges(starts, lengths)]
    arr = pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(offsets), pa.py_buffer(data))
    out = pl.from_arrow(arr).str.replace_all(SPANS_RUST, replacement).to_arrow().cast(pa.large_string())
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    new_offsets = np.frombuffer(out.buffers()[1], dtype=np.int64, count=len(texts) + 1)
    raw = out.buffers()[2]
    new_data = np.frombuffer(raw, dtype=np.uint8) if raw is not None else np.zeros(0, dtype=np.uint8)
    return TextBuffer.of(new_data[new_offsets[0] : new_offsets[-1]], new_offsets - new_offsets[0])


def _finish(folded: TextBuffer, special: NDArray[np.int64], reference: NDArray[np.int64] | None = None) -> TextBuffer:
    """``folded`` with the texts ``special`` finished as :func:`provenance.text.normalize.normalize_folded`
    does: those without entities (nor in ``reference``) by polars (:func:`replace_spans`); the others
    by the reference, the short ones in one call on the texts joined by :data:`_SEP`, the long ones
    one call each."""
    offsets, size = folded.offsets, folded.size
    body = folded.data[:size]
    src_start, src_len = offsets[:-1].copy(), np.diff(offsets)
    sources = [body, np.frombuffer(_SEP, dtype=np.uint8)]
    base = size + len(_SEP)
    # Without entities (and the four control bytes Rust's regex does not count as space), step 3
    # alone is left, and polars runs it (Rust's regex engine, on both cores).
    entity = np.union1d(texts_with(offsets, np.flatnonzero(body == 0x26)), with_control_bytes(folded))
    if reference is not None:
        entity = np.union1d(entity, reference)
    spans = np.setdiff1d(special, entity, assume_unique=True)
    if len(spans):
        done = replace_spans(folded, spans)
        src_start[spans] = base + done.offsets[:-1]
        src_len[spans] = np.diff(done.offsets)
        sources.append(done.data[: done.size])
        base += done.size
    special = np.intersect1d(special, entity, assume_unique=True)
    with_nul = texts_with(offsets, np.flatnonzero(body == 0))
    joined = special[(src_len[special] < _JOIN_BELOW) & ~np.isin(special, with_nul)]
    if len(joined):
        # Gather the texts with a separator after each but the last (the separator sits at `size`).
        starts = np.empty(2 * len(joined) - 1, dtype=np.int64)
        lengths = np.empty(2 * len(joined) - 1, dtype=np.int64)
        starts[0::2], lengths[0::2] = offsets[joined], src_len[joined]
        starts[1::2], lengths[1::2] = size, len(_SEP)
        text = np.concatenate(sources)[expand_ranges(starts, lengths)].tobytes().decode("utf-8")
        done = np.frombuffer(normalize_folded(text).encode("utf-8"), dtype=np.uint8)
        nul = np.flatnonzero(done == 0)  # one per separator, which is still " \0 "
        if len(nul) != len(joined) - 1:  # cannot happen (see _SEP); never return misaligned texts
            raise AssertionError("normalize_buffer: text separator not preserved")
        piece_start, piece_end = np.r_[0, nul + 2], np.r_[nul - 1, len(done)]
        src_start[joined], src_len[joined] = base + piece_start, piece_end - piece_start
        sources.append(done)
        base += len(done)
    for j in np.setdiff1d(special, joined).tolist():
        done = np.frombuffer(normalize_folded(folded.text(j)).encode("utf-8"), dtype=np.uint8)
        src_start[j], src_len[j] = base, len(done)
        sources.append(done)
        base += len(done)
    new_offsets = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(src_len, out=new_offsets[1:])
    return TextBuffer.of(np.concatenate(sources)[expand_ranges(src_start, src_len)], new_offsets)


# ------------------------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Tokens:
    """The tokens of a normalized buffer: token ``i`` is ``data[starts[i]:ends[i]]`` (int64 byte
    offsets), tokens of text ``j`` from ``text_offsets[j]`` (int64 ``(k + 1,)``); ``line_starts``
    (when asked for): bool, the token is its text's first or follows a line break."""

    buffer: TextBuffer
    starts: NDArray[np.int64]
    ends: NDArray[np.int64]
    text_offsets: NDArray[np.int64]
    line_starts: NDArray[np.bool_] | None = None

    @property
    def counts(self) -> NDArray[np.int64]:
        return np.diff(self.text_offsets)

    def words(self) -> list[str]:
        data = self.buffer.data
        return [data[s:e].tobytes().decode("utf-8") for s, e in zip(self.starts.tolist(), self.ends.tolist())]


def _word_bytes(x: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Which bytes are word bytes: ASCII letters, digits, ``_``, and every byte >= 0x80."""
    t = np.subtract(x, np.uint8(97))
    word = t < np.uint8(26)  # a-z
    np.subtract(x, np.uint8(65), out=t)
    word |= t < np.uint8(26)  # A-Z (none after folding; texts given as already normalized may have them)
    np.subtract(x, np.uint8(48), out=t)
    word |= t < np.uint8(10)
    word |= x >= np.uint8(128)
    word |= x == np.uint8(95)
    return word


def tokenize(buf: TextBuffer, lines: bool = False) -> Tokens:
    """Tokens (maximal runs of word bytes) of every text of a normalized buffer; with ``lines``,
    also where lines start."""
    size, offsets = buf.size, buf.offsets
    word = _word_bytes(buf.data[:size])
    edge = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edge == 1)
    ends = np.flatnonzero(edge == -1)
    # A run of word bytes across the end of one text and the start of the next is two tokens.
    inner = offsets[1:-1]
    inner = inner[(inner > 0) & (inner < size)]
    glued = inner[word[inner - 1] & word[inner]]
    if len(glued):
        glued = sorted_unique(glued)
        starts = np.sort(np.concatenate([starts, glued]))
        ends = np.sort(np.concatenate([ends, glued]))
    text_offsets = np.searchsorted(starts, offsets, side="left").astype(np.int64)
    line_starts = None
    if lines:
        # The first token after a line break starts a line, and so does every text's first token.
        after_break = np.searchsorted(starts, np.flatnonzero(buf.data[:size] == 0x0A))
        line_starts = np.zeros(len(starts) + 1, dtype=bool)
        line_starts[after_break] = True
        line_starts[text_offsets[:-1]] = True
        line_starts = line_starts[:-1]
    return Tokens(buf, starts.astype(np.int64), ends.astype(np.int64), text_offsets, line_starts)
