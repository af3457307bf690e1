"""Scripts written without spaces between words (Han, Hiragana, Katakana, Bopomofo, Thai, Lao,
Myanmar, Khmer): step 4 of the normalization (:mod:`provenance.text.normalize`), for one text and for
a whole UTF-8 buffer of texts.

Such text has no word boundaries to find, so it is cut into overlapping character bigrams, as
Lucene's CJKBigramFilter does: a run of such characters becomes its bigrams separated by spaces
(``東京に行った`` → ``東京 京に に行 行っ った``); a run of one character stays a token of its own;
a run ends where any other character is, and a space separates it from a word character of another
script, a digit or ``_`` right before or after it (``第3回`` → ``第 3 回``). The scripts join each
other: kanji and kana bigram across. The result holds only bigrams, single characters and what was
there before, so the step is its own fixed point.

The buffer version (:func:`split_runs`) inserts bytes only, with a few numpy passes over the whole
buffer: after each character inside a run a space and a copy of it (``ABC`` → ``AB BC``), and a space
before or after a run where a word byte of the same text touches it. Equality with
:func:`split_nospace` is tested with hypothesis (tests/test_vectorized.py, tests/test_nospace.py).
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

__all__ = ["NOSPACE_RANGES", "NOSPACE_CLASS", "is_nospace", "split_nospace", "split_nospace_mapped", "nospace_chars",
           "nospace_tokens", "split_runs"]

NOSPACE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3005, 0x3006),  # ideographic iteration and closing marks
    (0x303B, 0x303C),  # vertical ideographic iteration mark, masu mark
    (0x3040, 0x30FF),  # Hiragana, Katakana (with the prolonged sound mark)
    (0x3100, 0x312F),  # Bopomofo
    (0x31A0, 0x31BF),  # Bopomofo extended
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK unified ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs (the few that fold to themselves)
    (0xFF66, 0xFF9F),  # half-width Katakana (folding makes them full-width)
    (0x1B000, 0x1B16F),  # Kana supplement and extensions
    (0x20000, 0x3FFFF),  # CJK unified ideographs extensions B-H, compatibility supplement
)
"""The characters of scripts written without spaces, as inclusive code point ranges, on folded text
(every one is above U+0800: three or four bytes of UTF-8). Hangul is not among them: Korean puts
spaces between words, and folding decomposes its syllables into jamo."""

NOSPACE_CLASS = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in NOSPACE_RANGES)
"""The ranges as the inside of a ``re`` character class."""

_RUN = re.compile(f"[{NOSPACE_CLASS}]+")
_TABLE = np.zeros(0x110000, dtype=bool)
for _a, _b in NOSPACE_RANGES:
    _TABLE[_a : _b + 1] = True


def is_nospace(c: str) -> bool:
    """``c`` (one character) is of a script written without spaces."""
    return bool(_TABLE[ord(c)])


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def split_nospace(text: str) -> str:
    """Step 4 on one text that steps 1-3 normalized: ``"ab日本語c"`` → ``"ab 日本 本語 c"``."""
    if text.isascii():
        return text

    def bigrams(m: re.Match[str]) -> str:
        s, e = m.span()
        run = m.group()
        out = run if e - s == 1 else " ".join(run[k : k + 2] for k in range(len(run) - 1))
        if s > 0 and _is_word(text[s - 1]):
            out = " " + out
        if e < len(text) and _is_word(text[e]):
            out += " "
        return out

    return _RUN.sub(bigrams, text)


def split_nospace_mapped(text: str) -> tuple[str, NDArray[np.int64] | None]:
    """:func:`split_nospace`, and for each character of the result the index of the character of
    ``text`` it comes from (``None`` when the text is unchanged): every character inserted comes
    from the one it was inserted for (a space between two bigrams from the character they share, a
    space before or after a run from the run's first or last character). With numpy: a character's
    output is a space before it (first of a run, after a word character), itself, then a space and
    itself again (inside a run) or a space (last of a run, before a word character)."""
    if text.isascii():
        return text, None
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ns = _TABLE[codes]
    if not ns.any():
        return text, None
    prev, nxt = np.r_[False, ns[:-1]], np.r_[ns[1:], False]
    first, last, inner = ns & ~prev, ns & ~nxt, ns & prev & nxt
    before = np.zeros(len(codes), dtype=bool)
    after = np.zeros(len(codes), dtype=bool)
    for i in np.flatnonzero(first[1:]).tolist():  # once per run
        before[i + 1] = _is_word(text[i])
    for i in np.flatnonzero(last[:-1]).tolist():
        after[i] = _is_word(text[i + 1])
    count = 1 + before + 2 * inner + after
    if (count == 1).all():
        return text, None
    at = np.cumsum(count) - count + before  # where each character itself lands
    out = np.repeat(codes, count)  # (the copy inside a run is already in place, at + 2)
    out[(at - 1)[before]] = 0x20
    out[(at + 1)[inner | after]] = 0x20
    return out.astype("<u4").tobytes().decode("utf-32-le"), np.repeat(np.arange(len(codes), dtype=np.int64), count)


def _codes(data: NDArray[np.uint8], lead: NDArray[np.int64]) -> NDArray[np.int32]:
    """Code points of the 3- and 4-byte characters whose lead bytes are at ``lead`` (``data`` holds
    3 readable bytes after each)."""
    b0 = data[lead].astype(np.int32)
    b1, b2, b3 = (data[lead + k].astype(np.int32) & 0x3F for k in (1, 2, 3))
    return np.where(b0 >= 0xF0, ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3, ((b0 & 0x0F) << 12) | (b1 << 6) | b2)


def nospace_chars(data: NDArray[np.uint8], size: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Where the characters of scripts written without spaces in ``data[:size]`` (UTF-8, 3 readable
    bytes after it) start, and their widths in bytes. One pass over the bytes finds the lead bytes of
    3- and 4-byte characters (rare in Latin text)."""
    lead = np.flatnonzero(data[:size] >= 0xE0)
    if not len(lead):
        return lead, lead
    keep = _TABLE[np.minimum(_codes(data, lead), 0x10FFFF)]
    lead = lead[keep]
    return lead, np.where(data[lead] >= 0xF0, 4, 3).astype(np.int64)


def nospace_tokens(data: NDArray[np.uint8], starts: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which tokens (starting at byte ``starts`` of ``data``, 3 readable bytes after each start) are
    of a script written without spaces. After step 4 a token is made of such characters only or
    holds none of them: its first character tells."""
    three = np.flatnonzero(data[starts] >= 0xE0)
    out = np.zeros(len(starts), dtype=bool)
    if len(three):
        out[three] = _TABLE[np.minimum(_codes(data, starts[three]), 0x10FFFF)]
    return out


def _word_byte(x: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """ASCII letters, digits, ``_`` and every byte >= 0x80 (a normalized text's non-ASCII characters
    are letters and digits)."""
    lower = x | np.uint8(0x20)
    return (x >= 0x80) | ((lower >= 0x61) & (lower <= 0x7A)) | ((x >= 0x30) & (x <= 0x39)) | (x == 0x5F)


def split_runs(data: NDArray[np.uint8], size: int,
               offsets: NDArray[np.int64]) -> tuple[NDArray[np.uint8], NDArray[np.int64]] | None:
    """:func:`split_nospace` of every text of a buffer (text ``j`` is ``data[offsets[j]:offsets[j+1]]``,
    3 readable bytes after ``size``): the new bytes and offsets, or ``None`` when nothing changes."""
    lead, width = nospace_chars(data, size)
    if not len(lead):
        return None
    end = lead + width
    text = np.searchsorted(offsets, lead, side="right") - 1
    joined = np.zeros(len(lead), dtype=bool)  # the character continues the run of the one before
    joined[1:] = (end[:-1] == lead[1:]) & (text[:-1] == text[1:])
    first, last = ~joined, ~np.r_[joined[1:], False]
    before = first & (lead > offsets[text]) & _word_byte(data[np.maximum(lead - 1, 0)])
    after = last & (end < offsets[text + 1]) & _word_byte(data[end])
    inner = ~first & ~last
    # Each character's insertions, character after character: a space before it, then after it a
    # space and a copy of it (inside a run) or a space (after a run). In that order their positions
    # (in the old buffer) never decrease.
    n_after = np.where(inner, width + 1, after.astype(np.int64))
    count = before.astype(np.int64) + n_after
    at = np.flatnonzero(count)
    if not len(at):  # runs of one or two characters, on their own: nothing to insert
        return None
    lead, width, end, count = lead[at], width[at], end[at], count[at]
    first_ins = np.cumsum(count) - count  # where each character's insertions start in the list
    m = int(count.sum())
    positions = np.repeat(end, count)
    has_before = before[at]
    positions[first_ins[has_before]] = lead[has_before]
    values = np.full(m, 0x20, dtype=np.uint8)
    copies = np.flatnonzero(inner[at])
    dst, src, w = first_ins[copies] + 1, lead[copies], width[copies]  # a copy follows the space after it
    for k in range(4):  # byte k of every copied character at once (each is 3 or 4 bytes long)
        has = w > k if k == 3 else slice(None)
        values[dst[has] + k] = data[src[has] + k]
    # The insertions lie strictly inside their texts: text j's start moves by those before it.
    new_at = positions + np.arange(m, dtype=np.int64)
    out = np.empty(size + m, dtype=np.uint8)
    out[new_at] = values
    keep = np.ones(size + m, dtype=bool)
    keep[new_at] = False
    out[keep] = data[:size]
    return out, offsets + np.searchsorted(positions, offsets, side="left")
