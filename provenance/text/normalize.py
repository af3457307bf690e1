"""Text normalization, identical for posts and documents.

A post and its copy inside a training corpus rarely agree byte for byte: the copy may be lower-cased,
carry ``RT @user:``, lose its t.co link, have ``&amp;`` where the post had ``&``, curly quotes, emoji,
line breaks or a trailing "…". Normalization removes exactly those differences, and nothing a word
carries, so that equal words give equal tokens.

Steps, applied in this order to any text:

1. Every character is *folded* on its own: compatibility decomposition (the "K" of NFKC: full-width
   letters, ligatures, "…" → "..."), combining marks (diacritics, variation selectors) dropped, case
   folded. Letters and decimal digits of any script stay; ASCII stays as is apart from case; format
   characters (soft hyphen, zero-width space) vanish; every other character — emoji, symbols,
   non-ASCII punctuation — becomes a space. Folding one character at a time (instead of whole-string
   NFKC) makes composed and decomposed accents agree and lets every normalized character point back
   to the original character it came from.

2. *HTML entities* (``&amp;``, ``&#39;``, ``&#x1F600;``, ``&eacute;`` …) are replaced by their
   character, folded, and so are the entities that decoded characters make, until none is left that
   decodes: ``&amp;lt;`` → ``<``, ``&amp;#64;`` → ``@``, ``&am&#112;;`` → ``&``. This is one pass from
   left to right: an entity is decoded when its ``;`` is reached, and its folded characters are read
   as if they had been in the text (linear time, however deep the nesting). It ends: each decoding
   removes an ``&``, or keeps their number and shortens the text — what an entity decodes to folds
   to no ``&``, to ``&`` alone, or to ``&`` and the rest of its name (``&ampx;`` → ``&x;``: HTML's
   legacy entities need no ``;``); the tests check this for every code point and named entity.
   Decoding before step 3 lets the span rules see what the entities stand for (``abc&hellip;`` is a
   cut word, ``&#64;bob`` a mention).

3. *Spans* found by one regular expression over the decoded text are replaced by a space:

   ============  ===========================================
   kind          pattern (informally)
   ============  ===========================================
   url           ``http(s)://…``, ``www.…``, ``t.co/…``,
                 ``pic.twitter.com/…``
   retweet       ``RT @user:`` (any case)
   mention       ``@user`` not preceded by a word character
   truncated     a word directly followed by ``…`` or ``...``
                 (the word may be cut: "gre…" is dropped)
   ============  ===========================================

   A span may also start right after a character of a script written without spaces (``日本@bob``,
   ``見てねhttps://…``), as it would after a space, and a mention's or cut word's word is of a
   script written with spaces: ``@taro_1さん`` drops ``@taro_1``, ``楽しかった...`` only ``...``.

   Mentions glued together (``@bob@alice``, ``RT @a@b:``) are one span: were they not, removing
   ``@bob`` would leave ``@alice`` a mention for a second pass. With this, a second pass finds
   nothing to replace, and ``normalize`` is idempotent: ``normalize(normalize(x)) == normalize(x)``.

4. *Scripts written without spaces* (Han, Hiragana, Katakana, Bopomofo, Thai, Lao, Myanmar, Khmer)
   have no word boundaries to find: their runs are cut into overlapping character bigrams, as
   Lucene's CJKBigramFilter does (``東京に行った`` → ``東京 京に に行 行っ った``; a run of one
   character stays a token of its own; a run is kept apart from a neighbouring word of another
   script: ``第3回`` → ``第 3 回``). See :mod:`provenance.text.nospace`.

5. Tokens are maximal runs of word characters (``\\w+``). After steps 1, 2 and 4 (a decoded entity is
   folded too) the text holds only ASCII, letters and decimal digits, on which Python's ``re`` and
   polars' Rust regex agree about ``\\w``, so the vectorized tokenizer and the offset-keeping one
   give the same tokens.

Hashtags keep their word (``#blessed`` → ``blessed``); whitespace and newlines only separate tokens.
Lone surrogates (possible in a Python ``str``, e.g. from ``errors="surrogateescape"``) fold to a space
like any other non-word character, so normalized text is always valid UTF-8.

The same with a map back to the original text: :mod:`provenance.text.offsets` (offsets are 0-based
character indices into the original ``str``, end-exclusive).
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from .nospace import NOSPACE_CLASS, is_nospace, split_nospace

__all__ = ["NORMALIZATION", "ENTITY_PATTERN", "SPANS_RUST", "TOKEN_RE", "FOLD_TABLE", "normalize", "normalize_folded",
           "normalize_batch", "fold_char", "fold_text", "decode_entities_mapped", "has_spans",
           "span_matches"]

NORMALIZATION = "provenance-normalize/3"
"""Names what :func:`normalize` produces, recorded in the index manifest (``normalization``): a new
name whenever some text normalizes differently, since an index built under another one would miss
posts without any error. /2: entities decoded to a fixed point before the span rules, glued mentions
one span (indexes from before have no name recorded). /3: scripts written without spaces as character
bigrams (step 4), spans may start right after them."""

TOKEN_RE = re.compile(r"\w+")

# Step 2, on folded text (lower case: ``&Eacute;`` is looked up as ``&eacute;``).
ENTITY_PATTERN = r"&(?:#[0-9]{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});"
"""What step 2 takes for an entity (the same for Python's and Rust's regex engines)."""
_ENTITY = re.compile(ENTITY_PATTERN)

_NS = NOSPACE_CLASS
_W = rf"[^\W{_NS}]"  # a word character of a script written with spaces
_NB = rf"(?<!{_W})"  # not after one: a span may start right after a character of _NS

# Step 3, on folded text without entities: it sees lower case ASCII, "..." for "…", and no marks.
_SPANS = re.compile(
    # The lookahead lets the regex engine skip most positions before trying the alternatives.
    r"(?=[hwtpr@])(?:"
    rf"(?P<url>{_NB}(?:https?://|www\.|t\.co/|pic\.twitter\.com/)\S*)"
    rf"|(?P<retweet>{_NB}rt\s*@{_W}+(?:@{_W}+)*:?)"
    rf"|(?P<mention>{_NB}@{_W}+(?:@{_W}+)*))"
    rf"|(?P<truncated>{_NB}{_W}+\.\.\.|\.\.\.)"
)
# Cheap substring tests that decide whether the span regex can match at all.
_SPAN_TRIGGERS = ("http", "www.", "t.co/", "pic.twitter", "@", "...")

SPANS_RUST = (r"(?:\bhttps?://|\bwww\.|\bt\.co/|\bpic\.twitter\.com/)\S*|\brt\s*@\w+(?:@\w+)*:?"
              r"|\B@\w+(?:@\w+)*|\b\w+\.\.\.|\.\.\.")
r"""``_SPANS`` for Rust's regex engine (polars' ``str.replace_all``), which has neither lookahead nor
lookbehind; on folded text without entities, without the bytes 0x1c-0x1f and without characters of
:data:`provenance.text.nospace.NOSPACE_RANGES` it matches exactly where ``_SPANS`` does. There ``_W`` is ``\w`` and ``_NB``
is ``(?<!\w)``, which before a word character is ``\b``. The lookahead only skipped positions where
no alternative can start. The mention's ``(?<!\w)@`` is ``\B@``: ``@`` is no word character, so no boundary before it means no word
character before it. Both engines choose the leftmost match and, there, the first alternative that
matches, with greedy repetition. ``\w`` and ``\b`` agree on folded text (ASCII, letters, decimal
digits); ``\s`` agrees but for 0x1c-0x1f, which Python counts as space and Rust does not.
Tested against ``_SPANS`` in tests/test_vectorized.py."""

_KEEP_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
_DROP_CATEGORIES = frozenset({"Mn", "Mc", "Me", "Cf"})


def fold_char(ch: str) -> str:
    """Fold one character: compatibility-decompose, drop marks, case-fold, blank non-word characters.

    Returns a string of ASCII characters, letters and decimal digits, or spaces; possibly empty.
    """
    if ch.isascii():
        return ch.lower()
    out = []
    for c in unicodedata.normalize("NFKD", ch):
        category = unicodedata.category(c)
        if category in _DROP_CATEGORIES:
            continue
        for f in c.casefold():
            if f.isascii() or unicodedata.category(f) in _KEEP_CATEGORIES:
                out.append(f)
            elif unicodedata.category(f) not in _DROP_CATEGORIES:
                out.append(" ")
    return "".join(out)


class _FoldTable(dict):
    """``str.translate`` table that folds every character; filled lazily, one entry per distinct character."""

    def __missing__(self, code: int) -> str:
        folded = fold_char(chr(code))
        self[code] = folded
        return folded


FOLD_TABLE = _FoldTable()


_NON_ASCII_RUN = re.compile("([^\x00-\x7f]+)")


def fold_text(text: str) -> str:
    """Fold every character of ``text``: ASCII runs by ``str.lower``, the rest through the table."""
    if text.isascii():
        return text.lower()
    parts = _NON_ASCII_RUN.split(text)  # ASCII, non-ASCII, ASCII, ...
    parts[0::2] = [p.lower() for p in parts[0::2]]
    parts[1::2] = [p.translate(FOLD_TABLE) for p in parts[1::2]]
    return "".join(parts)


def has_spans(text: str) -> bool:
    return any(t in text for t in _SPAN_TRIGGERS)


def _decoded(match: re.Match[str]) -> str:
    """An entity's character(s), folded (the entity itself when it names nothing)."""
    return fold_text(html.unescape(match.group()))


def _decodes(match: re.Match[str]) -> bool:
    return _decoded(match) != match.group()


_ENTITY_MAX = 34  # characters of the longest entity _ENTITY matches ("&" + 32 + ";")
_ENTITY_BODY = frozenset("#0123456789abcdefghijklmnopqrstuvwxyz")


def _decode_nested(text: str, starts: Sequence[int] | None = None,
                   ends: Sequence[int] | None = None) -> tuple[str, list[int], list[int]]:
    """Step 2 in one pass, in time linear in the text: characters are appended one by one, and when
    a ``;`` (from the text or from a decoded entity) ends an entity that decodes, the entity is taken
    off again and what it decodes to is appended in its place, character by character. The result
    holds no entity that decodes: one could only end at a ``;``, and each ``;`` was checked when
    appended, with nothing before it changing afterwards.

    With ``starts``/``ends`` (each character's original span), also returns the spans of the result's
    characters: a decoded entity's characters all come from the whole entity.
    """
    out: list[str] = []
    out_s: list[int] = []
    out_e: list[int] = []
    todo: list[tuple[str, int, int]] = []  # decoded characters still to append, the next one last
    i, n = 0, len(text)
    while todo or i < n:
        if todo:
            c, s, e = todo.pop()
        else:
            c = text[i]
            s, e = (starts[i], ends[i]) if starts is not None and ends is not None else (i, i + 1)
            i += 1
        out.append(c)
        out_s.append(s)
        out_e.append(e)
        if c != ";":
            continue
        k = len(out) - 2
        while k >= 0 and k > len(out) - _ENTITY_MAX - 1 and out[k] in _ENTITY_BODY:
            k -= 1
        if k < 0 or out[k] != "&":
            continue
        m = _ENTITY.fullmatch("".join(out[k:]))
        if m is None or not _decodes(m):
            continue
        s0, e0 = out_s[k], out_e[-1]
        del out[k:], out_s[k:], out_e[k:]
        todo.extend((d, s0, e0) for d in reversed(_decoded(m)))
    return "".join(out), out_s, out_e


def _decode_entities(text: str) -> str:
    """Step 2: decode entities, also those that decoded characters make, until none is left that decodes.

    Equal to :func:`_decode_nested`, which is slower: one regex pass decodes the text's own entities,
    and when its result holds no entity that decodes, it is also what the character by character pass
    gives (that pass decodes each of the text's entities at its ``;``, and anything more would be an
    entity in this result)."""
    once = _ENTITY.sub(_decoded, text)
    if "&" in once and any(map(_decodes, _ENTITY.finditer(once))):
        return _decode_nested(text)[0]
    return once


def decode_entities_mapped(text: str, starts: NDArray[np.int64],
                            ends: NDArray[np.int64]) -> tuple[str, NDArray[np.int64], NDArray[np.int64]]:
    """:func:`_decode_entities`, carrying each character's original span: a decoded entity's
    characters all come from the whole entity."""
    pieces: list[str] = []
    new_starts: list[NDArray[np.int64]] = []
    new_ends: list[NDArray[np.int64]] = []
    pos = 0
    for m in _ENTITY.finditer(text):
        replacement = _decoded(m)
        if replacement == m.group():
            continue
        pieces += (text[pos : m.start()], replacement)
        new_starts += (starts[pos : m.start()], np.full(len(replacement), starts[m.start()], dtype=np.int64))
        new_ends += (ends[pos : m.start()], np.full(len(replacement), ends[m.end() - 1], dtype=np.int64))
        pos = m.end()
    if not pieces:
        return text, starts, ends
    pieces.append(text[pos:])
    once = "".join(pieces)
    if "&" in once and any(map(_decodes, _ENTITY.finditer(once))):
        out, out_s, out_e = _decode_nested(text, starts.tolist(), ends.tolist())
        return out, np.array(out_s, dtype=np.int64), np.array(out_e, dtype=np.int64)
    new_starts.append(starts[pos:])
    new_ends.append(ends[pos:])
    return once, np.concatenate(new_starts), np.concatenate(new_ends)


_URL_LITERALS = ("http", "www.", "t.co/", "pic.twitter.com/")


def _occurrences(text: str, literal: str) -> Iterator[int]:
    i = text.find(literal)
    while i >= 0:
        yield i
        i = text.find(literal, i + 1)


def _span_starts(text: str) -> list[int]:
    """Every position where a ``_SPANS`` match can start, in increasing order (a superset).

    Each alternative of ``_SPANS`` begins at a literal found with ``str.find`` — a URL prefix, ``@``,
    ``...`` — or a known distance before one: ``rt`` and whitespace before ``@``, the word (of a
    script written with spaces) before ``...``.
    """
    starts: set[int] = set()
    for literal in _URL_LITERALS:
        starts.update(_occurrences(text, literal))
    for i in _occurrences(text, "@"):
        starts.add(i)
        j = i
        while j > 0 and text[j - 1].isspace():
            j -= 1
        if j >= 2 and text[j - 2 : j] == "rt":
            starts.add(j - 2)
    for i in _occurrences(text, "..."):
        starts.add(i)
        j = i
        while j > 0 and (text[j - 1].isalnum() or text[j - 1] == "_") and not is_nospace(text[j - 1]):
            j -= 1
        starts.add(j)
    return sorted(starts)


def span_matches(folded: str) -> Iterator[re.Match[str]]:
    """The matches of ``_SPANS.finditer(folded)``, found by trying the regex only where one can start.

    Scanning tries every position left to right and keeps the first that matches; trying only the
    possible starts, in order, finds the same matches (``match`` at a position sees the characters
    before it, so ``\\b`` and the lookbehind behave as in a scan). Documents are long and spans rare:
    this skips the regex engine's walk over every word.
    """
    end = 0
    for start in _span_starts(folded):
        if start < end:
            continue
        m = _SPANS.match(folded, start)
        if m is not None:
            yield m
            end = m.end()


def _replace_spans(folded: str) -> str:
    pieces: list[str] = []
    pos = 0
    for m in span_matches(folded):
        pieces += (folded[pos : m.start()], " ")
        pos = m.end()
    if not pieces:
        return folded
    pieces.append(folded[pos:])
    return "".join(pieces)


def normalize(text: str) -> str:
    """Return the normalized text; its tokens are ``TOKEN_RE.findall`` of it."""
    return split_nospace(normalize_folded(fold_text(text)))


def normalize_folded(text: str) -> str:
    """Steps 2 and 3 on text that step 1 folded already:
    ``normalize(t) == split_nospace(normalize_folded(fold_text(t)))``.
    Text without ``&`` and without a span literal comes back unchanged."""
    if "&" in text:
        text = _decode_entities(text)
    if has_spans(text):
        text = _replace_spans(text)
    return text


# Joins a batch: no span can reach across it (URLs stop at the space, ``rt\\s*@`` at the NUL) and
# folding keeps it, so the batch normalizes as one string and splits back into its texts.
_BATCH_SEP = " \x00 "


_JOIN_BELOW = 1000
"""Texts shorter than this (characters) are normalized joined together; longer ones one by one, which
skips the span pass for the many long texts that have no span at all."""


def normalize_batch(texts: Sequence[str]) -> list[str]:
    """``[normalize(t) for t in texts]`` with fewer Python calls: short texts are normalized as one string."""
    out = [""] * len(texts)
    short = []
    for i, t in enumerate(texts):
        if len(t) < _JOIN_BELOW and "\x00" not in t:
            short.append(i)
        else:
            out[i] = normalize(t)
    if short:
        parts = normalize(_BATCH_SEP.join(texts[i] for i in short)).split(_BATCH_SEP)
        if len(parts) != len(short):  # cannot happen (see _BATCH_SEP); never return misaligned texts
            raise AssertionError("normalize_batch: batch separator not preserved")
        for i, part in zip(short, parts):
            out[i] = part
    return out
