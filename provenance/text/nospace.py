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

The buffer version (:func:`split_runs`) inserts bytes only, with one ``np.insert`` for the whole
buffer: after each character inside a run a space and a copy of it (``ABC`` → ``AB BC``), and a
space before or after a run where a word byte of the same text touches it. Equality with
:func:`split_nospace` is tested with hypothesis (tests/test_vectorized.py, tests/test_nospace.py).
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

from ..arrays import expand_ranges

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
    return split_nospace_mapped(text)[0]


def split_nospace_mapped(text: str) -> tuple[str, list[int] | None]:
    """:func:`split_nospace`, and for each character of the result the index of the character of
    ``text`` it comes from (``None`` when the text is unchanged): a bigram's characters their own, a
    space between two bigrams the character they share, a space before a run its first character,
    one after a run its last."""
    pieces: list[str] = []
    source: list[int] = []
    pos = 0
    for m in _RUN.finditer(text):
        s, e = m.span()
        pieces.append(text[pos:s])
        source.extend(range(pos, s))
        if s > 0 and _is_word(text[s - 1]):
            pieces.append(" ")
            source.append(s)
        if e - s == 1:
            pieces.append(text[s])
            source.append(s)
        else:
            pieces.append(" ".join(text[k : k + 2] for k in range(s, e - 1)))
            source += [s, s + 1]
            for k in range(s + 1, e - 1):
                source += [k, k, k + 1]
        if e < len(text) and _is_word(text[e]):
            pieces.append(" ")
            source.append(e - 1)
        pos = e
    if not source:
        return text, None
    pieces.append(text[pos:])
    source.extend(range(pos, len(text)))
    return "".join(pieces), source


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
    inner = np.flatnonzero(~first & ~last)
    # Insertions: (position in the old buffer, byte); each kind at positions of its own, in order.
    at_inner = np.repeat(end[inner], width[inner] + 1)
    inner_bytes = np.full(len(at_inner), 0x20, dtype=np.uint8)
    if len(inner):
        copy = np.ones(len(at_inner), dtype=bool)
        copy[np.r_[0, np.cumsum(width[inner] + 1)[:-1]]] = False  # the space before each copy
        inner_bytes[copy] = data[expand_ranges(lead[inner], width[inner])]
    positions = np.concatenate([lead[before], end[after], at_inner])
    values = np.concatenate([np.full(int(before.sum()) + int(after.sum()), 0x20, dtype=np.uint8), inner_bytes])
    order = np.argsort(positions, kind="stable")
    positions, values = positions[order], values[order]
    # Every insertion lies strictly inside its text: it shifts the texts after it.
    return np.insert(data[:size], positions, values), offsets + np.searchsorted(positions, offsets, side="left")
