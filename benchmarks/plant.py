"""Planting library for the accuracy benchmark: real posts, edited in controlled ways, put into real documents.

Inputs are the real data in ``../shared/data``, read by :mod:`benchmarks.data`: airline tweets and TweetEval
tweets are the indexed *posts*; Wikinews articles and Wikipedia pages are the *documents*. A known subset of
the posts is planted into a sample of the documents, each with one *edit type*, and every planted string is
recorded with its exact character span (``doc[start:end] == planted``, Python ``str`` indices). Everything else
is a negative:

* every indexed post that is not planted (candidates that already occur in the sampled documents, or that
  would bring another post along — 3-gram overlap >= 0.5 of that post, a line that is a whole short post,
  or 6+ tokens before an ellipsis that copy the start of another post, in the post or in its edited form —
  are never planted, so "not planted => negative" holds);
* *phrase* hard negatives: a named entity or a stock phrase (3+ words) shared by several un-planted posts is
  inserted alone into a document; reporting any post for that document there is a false pair;
* *short generic* posts (fewer than 6 tokens) whose words occur somewhere in the corpus; never planted.

Determinism: one ``random.Random(seed)``, inputs read in sorted order, no iteration over sets, gzip written
with ``mtime=0``. Same inputs and seed give byte-identical files.

Conventions:

* planted blocks go just after a ``"\\n"`` (as their own paragraph, followed by ``"\\n"``) or just after a
  sentence end ``". "`` followed by a capital letter (followed by ``" "``); the separator is in no span;
* ``rt_prefix``, ``embed`` and ``url_noise`` spans cover the whole inserted string (prefix, byline, URL);
* ``split`` is one span covering both halves and the paragraph break between them;
* ``timeline`` is one block of 5-10 posts, one per line; each post is its own truth row and span.
"""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from provenance.text.normalize import TOKEN_RE, normalize

from . import data as shared

# ------------------------------------------------------------------------------------------ constants

LIGHT_EDITS = ("verbatim", "case", "rt_prefix", "mentions", "url_noise", "html_entities", "emoji", "embed",
               "linebreaks", "timeline", "split")
"""Edits that keep every word of the post (after normalization the post's tokens are all there, in order)."""
HEAVY_EDITS = ("substitute", "delete", "truncate")
"""Edits that change or drop words."""
EDITS = LIGHT_EDITS + HEAVY_EDITS

SHORT_TOKENS = 6
"""Posts with fewer tokens are *short* (the scanner matches them only as whole lines or records)."""
MIN_PLANT_TOKENS = 3
"""Posts with fewer tokens are never planted: no method can tell them from ordinary words."""
NEAR_DUP_SHARE = 0.5
"""A candidate is not planted when it holds this share of another post's distinct word 3-grams."""
NGRAM = 3
CUT_COPY_TOKENS = 6
"""A planted string whose last tokens before an ellipsis are this many tokens of the start of another post shows
that post cut off (the scanner may rightly report it): such a plant is redrawn."""

EMOJI = ("😂", "🙏", "✈️", "😡", "👍", "🙄", "❤️", "😭", "🔥", "👏", "😊", "🤦\u200d♂️", "🎉", "💯", "🤔", "👀")
COMMON_WORDS = (
    "again", "almost", "always", "answer", "around", "begin", "better", "black", "bring", "change", "city",
    "close", "country", "during", "early", "enough", "family", "father", "field", "friend", "garden", "green",
    "group", "happy", "heart", "house", "inside", "island", "later", "letter", "light", "little", "market",
    "minute", "money", "morning", "mother", "music", "number", "often", "paper", "people", "picture", "place",
    "plant", "point", "river", "school", "second", "simple", "small", "story", "street", "summer", "table",
    "thing", "today", "together", "travel", "under", "water", "window", "winter", "world", "young",
)
HANDLE_HEADS = ("daily", "real", "its", "the", "just", "mr", "ms", "big", "little", "urban", "north", "bay")
HANDLE_TAILS = ("reader", "watcher", "fan", "news", "notes", "takes", "pics", "blog", "hq", "life", "talk", "cast")
FIRST_NAMES = ("Ana", "Ben", "Carla", "Dev", "Emma", "Femi", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena",
               "Milo", "Noor", "Oscar", "Petra", "Quinn", "Rosa", "Sami", "Tess")
LAST_NAMES = ("Adler", "Baptiste", "Castro", "Dunn", "Eriksen", "Fischer", "Gallo", "Huang", "Iqbal", "Jansen",
              "Kowalski", "Larsen", "Mendes", "Nakamura", "Osei", "Pereira", "Quist", "Reyes", "Sato", "Tran")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

LENGTH_BUCKETS = ("<6", "6-10", "11-20", "21-30", ">30")

_NOT_NAMES = frozenset(
    "a an the i you he she it we they me him us them my your his her its our their this that these those what "
    "why how when who where if so and but or not no yes just all do does did is are was were be been have has "
    "had can will would should could may might must to on of in at with for from by up down back out over "
    "about into as like than then there here more most some any every one two few much many very really also "
    "too only still even get got make made go going come coming see say said want wants know way day days "
    "year years time home work end head world life man men people thank thanks please happy good great best "
    "new love sorry".split())
"""Words that make a run of capitalized words a title-cased sentence rather than a name."""

_WS_RUN = re.compile(r"\s+")
_MENTION = re.compile(r"(?<!\w)@\w+")
_URL = re.compile(r"https?://\S+")
_ALPHA_WORD = re.compile(r"[A-Za-z]{2,}")
_PLAIN_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_TITLE_WORD = re.compile(r"[A-Z][a-z]+")
_ELLIPSIS = re.compile(r"…|\.\.\.")
_SENTENCE_END = re.compile(r"\. (?=[A-Z])")


# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Post:
    """One indexed post. ``source``: ``airline`` or ``tweeteval``; ``author``/``created`` may be empty."""

    id: str
    text: str
    source: str
    author: str = ""
    created: str = ""


@dataclass(frozen=True)
class Doc:
    """One corpus document; ``id`` is ``wn-<id>`` (Wikinews) or ``wp-<id>`` (Wikipedia)."""

    id: str
    source: str
    title: str
    text: str


@dataclass
class PlantedSet:
    """A planted evaluation set: the posts to index, the final documents and the ground truth.

    ``truth``: post_id, doc_id, edit, start, end, planted, block (planted strings sharing a block number
    were inserted together: a timeline);
    ``hard``: post_id (the post the phrase came from), doc_id, phrase, start, end, kind (entity/stock);
    ``inserts``: doc_id, start, end of every inserted string *with* its separator (removing them restores
    the source documents).
    """

    posts: list[Post]
    docs: list[Doc]
    truth: pl.DataFrame
    hard: pl.DataFrame
    inserts: pl.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


TRUTH_SCHEMA = {"post_id": pl.String, "doc_id": pl.String, "edit": pl.String, "start": pl.Int64,
                "end": pl.Int64, "planted": pl.String, "block": pl.Int64}
HARD_SCHEMA = {"post_id": pl.String, "doc_id": pl.String, "phrase": pl.String, "start": pl.Int64,
               "end": pl.Int64, "kind": pl.String}
INSERT_SCHEMA = {"doc_id": pl.String, "start": pl.Int64, "end": pl.Int64}


# ------------------------------------------------------------------------------------------ reading


def airline_post(row: dict[str, str]) -> Post:
    """A post from a row of the airline tweets (the shared data's ``Tweets.csv.gz`` or the fixture's
    ``airline_tweets.csv``): ``tweet_id``, ``text``, author ``name``, ``tweet_created``."""
    return Post(row["tweet_id"], row["text"], "airline", row["name"], row["tweet_created"])


def read_airline(data: Path) -> list[Post]:
    """The airline tweets (:func:`benchmarks.data.read_airline`: deduplicated by ``tweet_id``, sorted by
    numeric id) as posts with their author and creation time."""
    return [airline_post(r) for r in shared.read_airline(data)]


def read_tweeteval(data: Path) -> list[Post]:
    """Every TweetEval tweet (:func:`benchmarks.data.read_tweeteval`: id ``te-<task>-<split>-<line>``) as a post."""
    return [Post(post_id, text, "tweeteval") for post_id, text in shared.read_tweeteval(data)]


def read_wikinews(data: Path, min_chars: int = shared.MIN_DOC_CHARS) -> list[Doc]:
    """Wikinews pages with at least ``min_chars`` characters (:func:`benchmarks.data.read_wikinews`), id
    ``wn-<id>``, in id order."""
    return [Doc("wn-" + r["id"], "wikinews", r["title"], r["text"]) for r in shared.read_wikinews(data, min_chars)]


def read_wikipedia(data: Path, min_chars: int = shared.MIN_DOC_CHARS, files: Sequence[Path] | None = None) -> list[Doc]:
    """Wikipedia pages with at least ``min_chars`` characters (:func:`benchmarks.data.read_wikipedia`: the
    first body line, a repeat of the title, dropped; ``files``: only these), id ``wp-<id>``, title
    HTML-unescaped, in id order."""
    return [Doc("wp-" + r["id"], "wikipedia", html.unescape(r["title"]), r["text"])
            for r in shared.read_wikipedia(data, min_chars, files)]


def _doc_order(d: Doc) -> tuple[str, int]:
    prefix, _, num = d.id.partition("-")
    return prefix, int(num) if num.isdigit() else 0


def sample_docs(docs: Sequence[Doc], n: int, rng: random.Random, *, min_chars: int = 1000,
                max_chars: int = 30000, min_boundaries: int = 3) -> list[Doc]:
    """``n`` documents drawn at random among those of ``min_chars``..``max_chars`` characters with at least
    ``min_boundaries`` paragraph and as many sentence boundaries; returned in id order."""
    pool = []
    for d in docs:
        if min_chars <= len(d.text) <= max_chars:
            kinds = [k for _, k in boundaries(d.text)]
            if kinds.count("para") >= min_boundaries and kinds.count("sent") >= min_boundaries:
                pool.append(d)
    return sorted(rng.sample(pool, min(n, len(pool))), key=_doc_order)


# ------------------------------------------------------------------------------------------ tokens


def tokens(text: str) -> list[str]:
    """The scanner's tokens of ``text``: word runs of ``provenance.text.normalize.normalize(text)``."""
    return TOKEN_RE.findall(normalize(text))


def length_bucket(n_tokens: int) -> str:
    """Post length bucket: ``<6``, ``6-10``, ``11-20``, ``21-30``, ``>30`` tokens."""
    if n_tokens < 6:
        return "<6"
    if n_tokens <= 10:
        return "6-10"
    if n_tokens <= 20:
        return "11-20"
    if n_tokens <= 30:
        return "21-30"
    return ">30"


class Vocab:
    """Token -> small int, assigned in order of first appearance; word 3-grams packed into one int."""

    BITS = 21

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, toks: Sequence[str]) -> list[int]:
        ids = self.ids
        out = []
        for t in toks:
            i = ids.get(t)
            if i is None:
                i = ids[t] = len(ids)
            out.append(i)
        if len(ids) >= 1 << self.BITS:
            raise OverflowError("vocabulary too large for packed 3-grams")
        return out

    @classmethod
    def grams(cls, ids: Sequence[int]) -> list[int]:
        """Packed word 3-grams of a token id sequence, in order (with repeats)."""
        b = cls.BITS
        return [(ids[i] << (2 * b)) | (ids[i + 1] << b) | ids[i + 2] for i in range(len(ids) - NGRAM + 1)]


# ------------------------------------------------------------------------------------------ edits


def _handle(rng: random.Random) -> str:
    return rng.choice(HANDLE_HEADS) + rng.choice(HANDLE_TAILS) + str(rng.randint(1, 999))


def _gaps(text: str) -> list[re.Match[str]]:
    """Whitespace runs strictly inside the text (between two words)."""
    return [m for m in _WS_RUN.finditer(text) if m.start() > 0 and m.end() < len(text)]


def _words(text: str) -> list[str]:
    """``text`` cut into alternating pieces: word, whitespace, word, ... (whitespace kept as is)."""
    pieces = _WS_RUN.split(text.strip())
    gaps = _WS_RUN.findall(text.strip())
    out: list[str] = []
    for i, w in enumerate(pieces):
        out.append(w)
        if i < len(gaps):
            out.append(gaps[i])
    return out


def _is_word(piece: str) -> bool:
    return bool(piece) and not piece.isspace() and not piece.startswith(("@", "http")) and bool(tokens(piece))


def edit_verbatim(text: str, rng: random.Random) -> str:
    """Unchanged."""
    return text


def edit_case(text: str, rng: random.Random) -> str:
    """All lower case, all upper case or title case (one that changes the text)."""
    options = [t for t in (text.lower(), text.upper(), text.title()) if t != text]
    return rng.choice(options) if options else text


def edit_rt_prefix(text: str, rng: random.Random) -> str:
    """``RT @handle: `` + text."""
    return f"RT @{_handle(rng)}: {text}"


def edit_mentions(text: str, rng: random.Random) -> str:
    """Reply-style ``@handle`` prefix(es), an ``@handle`` inserted between words, or the post's own
    @mentions removed (when it has some)."""
    variants = ["reply", "inline"] + (["strip"] if _MENTION.search(text) and _gaps(text) else [])
    variant = rng.choice(variants)
    if variant == "strip":
        stripped = _WS_RUN.sub(" ", _MENTION.sub(" ", text)).strip()
        if tokens(stripped) == tokens(text) and stripped != text and stripped:
            return stripped
        variant = "reply"
    if variant == "inline" and _gaps(text):
        gap = rng.choice(_gaps(text))
        return f"{text[:gap.start()]} @{_handle(rng)}{text[gap.start():]}"
    return " ".join(f"@{_handle(rng)}" for _ in range(rng.randint(1, 2))) + " " + text


def _tco(rng: random.Random) -> str:
    return "https://t.co/" + "".join(rng.choice(ALNUM) for _ in range(10))


def edit_url_noise(text: str, rng: random.Random) -> str:
    """One or two ``https://t.co/…`` links appended; a link the post had is replaced by a new one."""
    out = _URL.sub(lambda _m: _tco(rng), text) if _URL.search(text) and rng.random() < 0.5 else text
    return out + "".join(" " + _tco(rng) for _ in range(rng.randint(1, 2)))


def _smart_quotes(text: str) -> str:
    out = []
    for i, c in enumerate(text):
        opening = i == 0 or text[i - 1].isspace() or text[i - 1] in "([{"
        if c == '"':
            out.append("“" if opening else "”")
        elif c == "'":
            out.append("‘" if opening else "’")
        else:
            out.append(c)
    return "".join(out)


def edit_html_entities(text: str, rng: random.Random) -> str:
    """``& < >`` escaped as entities (after undoing the post's own escaping), and quotes turned into
    ``&quot; &#39;``, into smart quotes, or into numeric smart-quote entities. Needs a quote in the post."""
    plain = html.unescape(text)
    escaped = plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    variant = rng.choice(["entities", "smart", "smart_entities"])
    if variant == "entities":
        return escaped.replace('"', "&quot;").replace("'", "&#39;")
    smart = _smart_quotes(escaped)
    if variant == "smart":
        return smart
    return smart.translate({ord("“"): "&#8220;", ord("”"): "&#8221;", ord("‘"): "&#8216;", ord("’"): "&#8217;"})


def edit_emoji(text: str, rng: random.Random) -> str:
    """1-3 emoji inserted between words or glued to the end of a word."""
    gaps = _gaps(text)
    cuts: list[tuple[int, str]] = []
    for _ in range(rng.randint(1, 3)):
        e = rng.choice(EMOJI)
        if gaps and rng.random() < 0.6:
            cuts.append((rng.choice(gaps).start(), " " + e))
        else:
            cuts.append((rng.choice(gaps).start() if gaps else len(text), e))
    for pos, s in sorted(cuts, reverse=True):
        text = text[:pos] + s + text[pos:]
    return text


def edit_embed(text: str, rng: random.Random, author: str = "", created: str = "") -> str:
    """News-embed style: the post, an optional ``pic.twitter.com`` link, then a byline
    ``— First Last (@handle) Month D, YYYY`` on its own line (the post's author and date when known)."""
    handle = author or _handle(rng)
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", created)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        y, mo, d = rng.randint(2012, 2020), rng.randint(1, 12), rng.randint(1, 28)
    pic = f" pic.twitter.com/{''.join(rng.choice(ALNUM) for _ in range(10))}" if rng.random() < 0.3 else ""
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return f"{text}{pic}\n— {name} (@{handle}) {MONTHS[mo - 1]} {d}, {y}"


def edit_linebreaks(text: str, rng: random.Random) -> str:
    """One or two of the spaces between words become line breaks."""
    gaps = [m for m in _gaps(text) if "\n" not in m.group()]
    chosen = sorted(rng.sample(gaps, min(rng.randint(1, 2), len(gaps))), key=lambda m: -m.start())
    for m in chosen:
        text = text[: m.start()] + "\n" + text[m.end():]
    return text


def edit_split(text: str, rng: random.Random) -> str:
    """The post in two paragraphs: a blank line replaces the space at a sentence end in the middle part of
    the post (25-75 % of its length) when there is one, else a space near the middle."""
    gaps = _gaps(text)
    n = len(text)
    middle = [m for m in gaps if 0.25 <= m.start() / n <= 0.75]
    sentence = [m for m in middle if text[m.start() - 1] in ".!?…"]
    if sentence:
        m = rng.choice(sentence)
    elif middle:
        m = rng.choice(middle)
    else:
        m = min(gaps, key=lambda g: abs(g.start() - n / 2))
    return text[: m.start()] + "\n\n" + text[m.end():]


def _n_changes(n_words: int, rng: random.Random) -> int:
    """1-3 changed words, at most one per six words of the post."""
    return rng.randint(1, max(1, min(3, n_words // 6)))


def edit_substitute(text: str, rng: random.Random) -> str:
    """One to three inner alphabetic words (never the first or last word) replaced by other common words;
    at most one per six words of the post."""
    pieces = _words(text)
    word_idx = [i for i, p in enumerate(pieces) if not p.isspace()]
    inner = [i for i in word_idx[1:-1] if _ALPHA_WORD.fullmatch(pieces[i])]
    for i in rng.sample(inner, min(_n_changes(len(word_idx), rng), len(inner))):
        old = pieces[i]
        new = rng.choice([w for w in COMMON_WORDS if w != old.lower()])
        pieces[i] = new.upper() if old.isupper() and len(old) > 1 else new.capitalize() if old[0].isupper() else new
    return "".join(pieces)


def edit_delete(text: str, rng: random.Random) -> str:
    """One to three inner words (never the first or last; not @mentions or links) deleted; at most one per
    six words of the post."""
    pieces = _words(text)
    word_idx = [i for i, p in enumerate(pieces) if not p.isspace()]
    inner = [i for i in word_idx[1:-1] if _is_word(pieces[i])]
    for i in sorted(rng.sample(inner, min(_n_changes(len(word_idx), rng), len(inner))), reverse=True):
        del pieces[i: i + 2]  # the word and the whitespace after it
    return "".join(pieces)


def edit_truncate(text: str, rng: random.Random) -> str:
    """The first 50-90 % of the characters (cut at a word boundary or inside a word), then ``…``."""
    n = len(text)
    lo, hi = math.ceil(0.5 * n), max(math.ceil(0.5 * n), math.floor(0.9 * n))
    ok = [c for c in range(lo, hi + 1) if not text[c - 1].isspace()]
    at_word = [c for c in ok if c < n and text[c].isspace()]
    pool = at_word if at_word and rng.random() < 0.5 else ok
    cut = rng.choice(pool) if pool else hi
    return text[:cut] + "…"


EDIT_FUNCS: dict[str, Callable[[str, random.Random], str]] = {
    "verbatim": edit_verbatim, "case": edit_case, "rt_prefix": edit_rt_prefix, "mentions": edit_mentions,
    "url_noise": edit_url_noise, "html_entities": edit_html_entities, "emoji": edit_emoji, "embed": edit_embed,
    "linebreaks": edit_linebreaks, "split": edit_split, "substitute": edit_substitute, "delete": edit_delete,
    "truncate": edit_truncate,
}
"""Single-post edits (``timeline`` is a block of posts, see :func:`timeline_block`)."""


def eligible(edit: str, text: str) -> bool:
    """Whether ``edit`` can change ``text`` in the way it says (``verbatim`` and ``timeline``: always)."""
    n_words = len(text.split())
    if edit == "case":
        return text.lower() != text or text.upper() != text
    if edit == "html_entities":
        return '"' in html.unescape(text) or "'" in html.unescape(text)
    if edit == "emoji":
        return n_words >= 2
    if edit == "linebreaks":
        return any("\n" not in m.group() for m in _gaps(text))
    if edit == "split":
        return n_words >= 4
    if edit == "substitute":
        pieces = [p for p in _words(text) if not p.isspace()]
        return any(_ALPHA_WORD.fullmatch(p) for p in pieces[1:-1])
    if edit == "delete":
        pieces = [p for p in _words(text) if not p.isspace()]
        return any(_is_word(p) for p in pieces[1:-1])
    if edit == "truncate":
        return n_words >= 3 and len(text) >= 12
    return True


def apply_edit(edit: str, post: Post, rng: random.Random) -> str:
    """The planted string for ``post`` under ``edit`` (``embed`` uses the post's author and date)."""
    if edit == "embed":
        return edit_embed(post.text, rng, author=post.author, created=post.created)
    return EDIT_FUNCS[edit](post.text, rng)


def timeline_block(texts: Sequence[str], rng: random.Random) -> tuple[str, list[tuple[int, int]]]:
    """Posts one per line (``"\\n"``, or a blank line between them); returns the block and each post's
    (start, end) inside it."""
    sep = rng.choice(["\n", "\n\n"])
    spans, pos = [], 0
    for t in texts:
        spans.append((pos, pos + len(t)))
        pos += len(t) + len(sep)
    return sep.join(texts), spans


# ------------------------------------------------------------------------------------------ planting


def boundaries(text: str) -> list[tuple[int, str]]:
    """Insertion points inside a document's non-blank content, in order: ``(pos, "para")`` just after a
    ``"\\n"`` followed by a non-space, ``(pos, "sent")`` just after ``". "`` followed by a capital letter."""
    lo, hi = len(text) - len(text.lstrip()), len(text.rstrip())
    out = [(i + 1, "para") for i in range(lo + 1, hi - 1) if text[i] == "\n" and not text[i + 1].isspace()]
    out += [(m.end(), "sent") for m in _SENTENCE_END.finditer(text) if lo < m.start() and m.end() < hi]
    return sorted(out)


@dataclass
class Insert:
    """A string to insert at ``pos`` of a document's original text; ``spans`` are (start, end, payload)
    inside ``text``."""

    pos: int
    kind: str
    text: str
    spans: list[tuple[int, int, dict[str, Any]]]

    @property
    def separator(self) -> str:
        return "\n" if self.kind == "para" else " "


def insert_all(text: str, inserts: Sequence[Insert]) -> tuple[str, list[dict[str, Any]], list[tuple[int, int]]]:
    """Insert every block into ``text`` (positions refer to the original text and must differ).

    Returns the new text, the payloads with absolute ``start``/``end``, and each insert's extent (start, end
    including its separator) in the new text.
    """
    pieces: list[str] = []
    spans: list[dict[str, Any]] = []
    extents: list[tuple[int, int]] = []
    prev = length = 0
    for ins in sorted(inserts, key=lambda x: x.pos):
        if ins.pos < prev:
            raise ValueError("two inserts at the same position")
        pieces.append(text[prev:ins.pos])
        length += ins.pos - prev
        for s, e, payload in ins.spans:
            spans.append({**payload, "start": length + s, "end": length + e})
        block = ins.text + ins.separator
        pieces.append(block)
        extents.append((length, length + len(block)))
        length += len(block)
        prev = ins.pos
    pieces.append(text[prev:])
    return "".join(pieces), spans, extents


def remove_extents(text: str, extents: Iterable[tuple[int, int]]) -> str:
    """``text`` without the given (start, end) extents: the source document of a planted one."""
    out, prev = [], 0
    for s, e in sorted(extents):
        out.append(text[prev:s])
        prev = e
    out.append(text[prev:])
    return "".join(out)


def _choose_boundary(text: str, taken: list[int], para_only: bool, rng: random.Random) -> tuple[int, str]:
    free = [b for b in boundaries(text) if b[0] not in taken]
    paras = [b for b in free if b[1] == "para"]
    sents = [b for b in free if b[1] == "sent"]
    if paras and (para_only or not sents or rng.random() < 0.6):
        return rng.choice(paras)
    if not sents or para_only:
        raise ValueError("no free boundary of that kind in the document")
    return rng.choice(sents)


# ------------------------------------------------------------------------------------------ filters


def _pairs_frame(rows: Sequence[int], codes: Sequence[Sequence[int]], name: str) -> pl.DataFrame:
    """(name, sh) rows: each listed item's distinct packed 3-grams."""
    owner = np.repeat(np.asarray(rows, dtype=np.int64), [len(codes[i]) for i in rows])
    flat = np.fromiter((c for i in rows for c in codes[i]), dtype=np.int64, count=len(owner))
    return pl.DataFrame({name: owner, "sh": flat}).unique()


def near_duplicates(codes: Sequence[Sequence[int]], n_tokens: Sequence[int], candidates: Sequence[int],
                    share: float = NEAR_DUP_SHARE) -> list[int]:
    """Candidates ``a`` (indices into ``codes``) holding at least ``share`` of the distinct 3-grams of some
    other post ``b`` that has ``SHORT_TOKENS`` or more tokens, in increasing order.

    Planting such an ``a`` would also plant most of ``b``. Exact, with prefix filtering: ``b`` is listed only
    under its rarest 3-grams, enough that any ``a`` reaching the share must share one of them.
    """
    longs = [i for i in range(len(codes)) if n_tokens[i] >= SHORT_TOKENS and codes[i]]
    every = _pairs_frame(range(len(codes)), codes, "b")
    freq = every.group_by("sh").len("f")
    longp = (_pairs_frame(longs, codes, "b")
             .with_columns(nb=pl.len().over("b"))
             .with_columns(t=(pl.col("nb") * share - 1e-9).ceil().cast(pl.Int64)))
    prefix = (longp.join(freq, on="sh").sort(["b", "f", "sh"])
              .with_columns(r=pl.int_range(pl.len()).over("b"))
              .filter(pl.col("r") < pl.col("nb") - pl.col("t") + 1))
    cand = _pairs_frame([i for i in candidates if codes[i]], codes, "a")
    pairs = (cand.join(prefix.select("b", "sh"), on="sh").filter(pl.col("a") != pl.col("b"))
             .select("a", "b").unique())
    overlap = (pairs.join(longp.select("b", "sh"), on="b").join(cand, on=["a", "sh"], how="semi")
               .group_by("a", "b").len("ov")
               .join(longp.select("b", "t").unique(), on="b")
               .filter(pl.col("ov") >= pl.col("t")))
    return sorted(set(overlap["a"].to_list()))


def natural_in_docs(post_codes: Sequence[Sequence[int]], n_tokens: Sequence[int], candidates: Sequence[int],
                    doc_codes: Sequence[Sequence[int]], share: float = NEAR_DUP_SHARE) -> list[int]:
    """Candidates that already occur in one of the documents: a long post with at least ``share`` of its
    distinct 3-grams in one document, a short post with all of them; in increasing order."""
    docs = _pairs_frame(range(len(doc_codes)), doc_codes, "d")
    rows = [i for i in candidates if post_codes[i]]
    need = pl.DataFrame({"a": np.asarray(rows, dtype=np.int64),
                         "need": [len(post_codes[i]) if n_tokens[i] < SHORT_TOKENS
                                  else math.ceil(len(post_codes[i]) * share - 1e-9) for i in rows]})
    hits = (_pairs_frame(rows, post_codes, "a").join(docs, on="sh").group_by("a", "d").len("k")
            .join(need, on="a").filter(pl.col("k") >= pl.col("need")))
    return sorted(set(hits["a"].to_list()))


def short_generic_posts(posts: Sequence[Post], docs: Sequence[Doc], exclude: Iterable[str] = ()) -> list[str]:
    """Ids of short posts (``MIN_PLANT_TOKENS`` to ``SHORT_TOKENS - 1`` tokens) outside ``exclude`` whose
    whole token sequence occurs, contiguously, somewhere in the documents: generic phrases a phrase matcher
    would report. Sorted as in ``posts``."""
    skip = set(exclude)
    by_key: dict[tuple[str, ...], list[str]] = {}
    for p in posts:
        toks = tokens(p.text)
        if MIN_PLANT_TOKENS <= len(toks) < SHORT_TOKENS and p.id not in skip:
            by_key.setdefault(tuple(toks), []).append(p.id)
    lengths = sorted({len(k) for k in by_key})
    first3 = {k[:3] for k in by_key}
    found: set[tuple[str, ...]] = set()
    for d in docs:
        toks = tokens(d.text)
        for i in range(len(toks) - 2):
            if tuple(toks[i:i + 3]) in first3:
                for n in lengths:
                    key = tuple(toks[i:i + n])
                    if len(key) == n and key in by_key:
                        found.add(key)
    hit = {pid for key in found for pid in by_key[key]}
    return [p.id for p in posts if p.id in hit]


def cut_copy_index(toks: Sequence[Sequence[str]]) -> dict[tuple[str, ...], list[int]]:
    """Posts (indices) by the ``CUT_COPY_TOKENS``-token runs that start at one of their first three tokens."""
    starts: dict[tuple[str, ...], list[int]] = {}
    for i, t in enumerate(toks):
        for s in range(min(NGRAM, len(t) - CUT_COPY_TOKENS + 1)):
            starts.setdefault(tuple(t[s:s + CUT_COPY_TOKENS]), []).append(i)
    return starts


def cut_copy_clash(planted: str, own: int, toks: Sequence[Sequence[str]],
                   starts: dict[tuple[str, ...], list[int]]) -> bool:
    """Whether the text just before an ellipsis in ``planted`` is a verbatim copy of the start of another post
    (at least ``CUT_COPY_TOKENS`` tokens from one of its first three): ``planted`` then really shows that post
    cut off, and a scanner may rightly report it. ``toks``: every post's tokens; ``starts``:
    :func:`cut_copy_index` of them; ``own``: the planted post's index."""
    for m in _ELLIPSIS.finditer(planted):
        t = tokens(planted[: m.end()])  # the word the ellipsis cuts is dropped, as the scanner does
        for n in range(CUT_COPY_TOKENS, len(t) + 1):
            run = t[len(t) - n:]
            for j in starts.get(tuple(run[:CUT_COPY_TOKENS]), ()):
                if j != own and any(list(toks[j][s:s + n]) == run for s in range(NGRAM)):
                    return True
    return False


# ------------------------------------------------------------------------------------------ hard negatives


@dataclass(frozen=True)
class Phrase:
    """A hard-negative phrase: ``text`` as written in post ``source_id``; ``n_posts`` un-planted posts contain
    its tokens; ``kind`` is ``entity`` (capitalized words) or ``stock``."""

    text: str
    key: tuple[str, ...]
    kind: str
    source_id: str
    n_posts: int


def pick_phrases(posts: Sequence[Post], toks: Sequence[Sequence[str]], planted: Sequence[int], n_entity: int,
                 n_stock: int, rng: random.Random, in_corpus: Callable[[tuple[str, ...]], bool] = lambda _k: True,
                 min_posts: int = 3, sample: int = 80000) -> list[Phrase]:
    """Named entities (3 capitalized words, none a common word, in a post that is not title-cased) and stock phrases
    (a post's first 4 words after its @mentions) taken from un-planted posts and shared with the corpus
    (``in_corpus(tokens)``). Each phrase's tokens occur in at least ``min_posts`` un-planted posts, in no
    planted post, are never a whole post, and make at most half of every post containing them; the most
    widespread ones are picked."""
    planted_set = set(planted)
    sources = [i for i in range(len(posts)) if i not in planted_set and len(toks[i]) >= 10]
    sources = sorted(rng.sample(sources, min(sample, len(sources))))
    found: dict[tuple[str, ...], tuple[str, str, str]] = {}  # key -> (text, kind, source id)
    for i in sources:
        words = _MENTION.sub(" ", posts[i].text).split()
        windows: list[tuple[list[str], str]] = []
        if len(words) >= 4 and all(_PLAIN_WORD.fullmatch(w) for w in words[:4]):
            windows.append((words[:4], "stock"))
        titled = sum(bool(_TITLE_WORD.fullmatch(w)) for w in words)
        for j in range(len(words) - 2):
            ws = words[j:j + 3]
            if (titled < 0.5 * len(words) and all(_TITLE_WORD.fullmatch(w) for w in ws)
                    and not any(w.lower() in _NOT_NAMES for w in ws)):
                windows.append((ws, "entity"))
        for ws, kind in windows:
            text = " ".join(ws)
            if "Flight" in text and ("Cancelled" in text or "Late" in text):
                continue  # the airline data's find/replace damage ("Cancelled Flightled"), not a phrase
            key = tuple(tokens(text))
            if len(key) >= 3 and key not in found and in_corpus(key):
                found[key] = (text, kind, posts[i].id)
    # one pass over every post: how many contain each key, and whether any blocks it
    count = dict.fromkeys(found, 0)
    blocked: set[tuple[str, ...]] = set()
    by_first: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for key in found:
        by_first.setdefault(key[:3], []).append(key)
    for i, tk in enumerate(toks):
        seen_here: list[tuple[str, ...]] = []
        for j in range(len(tk) - 2):
            for key in by_first.get(tuple(tk[j:j + 3]), ()):
                if tuple(tk[j:j + len(key)]) == key and key not in seen_here:
                    seen_here.append(key)
        for key in seen_here:
            if i in planted_set or len(tk) < 2 * len(key):
                blocked.add(key)
            else:
                count[key] += 1
    ranked = sorted((k for k in found if k not in blocked and count[k] >= min_posts), key=lambda k: (-count[k], k))
    out: list[Phrase] = []
    for kind, n in (("entity", n_entity), ("stock", n_stock)):
        picked = [k for k in ranked if found[k][1] == kind][:n]
        out += [Phrase(found[k][0], k, kind, found[k][2], count[k]) for k in picked]
    return out


# ------------------------------------------------------------------------------------------ building


@dataclass(frozen=True)
class PlantConfig:
    """Sizes of a planted set. ``per_edit`` posts per edit type (``timeline``: that many posts in blocks of
    5-10); ``doc_share`` of the documents receive blocks (some receive two)."""

    seed: int = 20261123
    per_edit: int = 150
    doc_share: float = 0.6
    n_entity: int = 50
    n_stock: int = 50
    candidate_factor: int = 3


# edits that few posts can take pick first, so they always find one
_PICK_ORDER = ("html_entities", "split", "substitute", "delete", "truncate", "case", "linebreaks", "emoji",
               "verbatim", "rt_prefix", "mentions", "url_noise", "embed", "timeline")
_PARA_ONLY = ("timeline", "split", "embed")


def build_planted_set(posts: Sequence[Post], docs: Sequence[Doc], config: PlantConfig = PlantConfig(),
                      log: Callable[[str], None] = lambda _m: None) -> PlantedSet:
    """Plant ``config.per_edit`` posts per edit type into ``docs`` (both in a fixed order), add phrase hard
    negatives, and return the final documents with the ground truth."""
    rng = random.Random(config.seed)
    vocab = Vocab()
    toks = [tokens(p.text) for p in posts]
    post_seq = [Vocab.grams(vocab.encode(t)) for t in toks]
    post_codes = [sorted(set(c)) for c in post_seq]
    doc_codes = [sorted(set(Vocab.grams(vocab.encode(tokens(d.text))))) for d in docs]
    n_tok = [len(t) for t in toks]

    # 1. candidates: a random sample of the plantable posts, minus duplicates, near-duplicates, natural ones
    key_count: dict[tuple[str, ...], int] = {}
    for t in toks:
        key_count[tuple(t)] = key_count.get(tuple(t), 0) + 1
    plantable = [i for i in range(len(posts)) if n_tok[i] >= MIN_PLANT_TOKENS and key_count[tuple(toks[i])] == 1]
    need = config.per_edit * len(EDITS)
    cands = rng.sample(plantable, min(len(plantable), need * config.candidate_factor))
    starts = cut_copy_index(toks)
    dup = set(near_duplicates(post_codes, n_tok, sorted(cands)))
    dup.update(i for i in cands if cut_copy_clash(posts[i].text, i, toks, starts))
    nat = set(natural_in_docs(post_codes, n_tok, sorted(cands), doc_codes))
    pool = [i for i in cands if i not in dup and i not in nat]
    log(f"plant: {len(plantable):,} plantable posts, {len(cands):,} drawn, {len(dup):,} near-duplicates of "
        f"another post, {len(nat):,} already in the documents -> {len(pool):,}")
    short_keys: dict[tuple[str, ...], list[int]] = {}
    for i, t in enumerate(toks):
        if MIN_PLANT_TOKENS <= len(t) < SHORT_TOKENS:
            short_keys.setdefault(tuple(t), []).append(i)

    def lines_clash(block: str, own: Sequence[int]) -> bool:
        """A line of the block would be a whole other short post (found by the scanner as a line)."""
        for line in block.split("\n"):
            others = [j for j in short_keys.get(tuple(tokens(line)), []) if j not in own]
            if others:
                return True
        return False

    # 2. edits
    used: set[int] = set()
    chosen: dict[str, list[tuple[int, str]]] = {e: [] for e in EDITS}
    for edit in _PICK_ORDER:
        for i in pool:
            if len(chosen[edit]) >= config.per_edit:
                break
            if i in used or not eligible(edit, posts[i].text):
                continue
            planted = posts[i].text if edit == "timeline" else apply_edit(edit, posts[i], rng)
            if ((edit not in ("verbatim", "timeline") and planted == posts[i].text) or lines_clash(planted, [i])
                    or cut_copy_clash(planted, i, toks, starts)):
                continue
            used.add(i)
            chosen[edit].append((i, planted))
        if len(chosen[edit]) < config.per_edit:
            raise ValueError(f"only {len(chosen[edit])} posts for edit {edit!r}")

    blocks: list[tuple[Insert, bool]] = []  # (insert without position, para_only)
    block_no = 0
    for edit in EDITS:
        if edit == "timeline":
            continue
        for i, planted in chosen[edit]:
            payload = {"post_id": posts[i].id, "edit": edit, "planted": planted, "block": block_no}
            blocks.append((Insert(-1, "", planted, [(0, len(planted), payload)]), edit in _PARA_ONLY))
            block_no += 1
    members = [i for i, _ in chosen["timeline"]]
    while members:
        size = rng.randint(5, 10)
        group, members = members[:size], members[size:]
        if len(members) == 1:
            group, members = group + members, []
        body, spans = timeline_block([posts[i].text for i in group], rng)
        payloads = [(s, e, {"post_id": posts[i].id, "edit": "timeline", "planted": posts[i].text, "block": block_no})
                    for i, (s, e) in zip(group, spans)]
        blocks.append((Insert(-1, "", body, payloads), True))
        block_no += 1
    rng.shuffle(blocks)

    # 3. hard-negative phrases
    planted_idx = sorted(used)
    corpus_grams = {c for codes in doc_codes for c in codes}

    def in_corpus(key: tuple[str, ...]) -> bool:
        ids = [vocab.ids.get(t, -1) for t in key]
        return min(ids) >= 0 and all(g in corpus_grams for g in Vocab.grams(ids))

    phrases = pick_phrases(posts, toks, planted_idx, config.n_entity, config.n_stock, rng, in_corpus)
    log(f"plant: {sum(len(v) for v in chosen.values()):,} posts in {len(blocks):,} blocks, "
        f"{len(phrases)} hard-negative phrases")

    # 4. where: blocks into a share of the documents (cycling, so some documents get two), phrases half into
    # documents with blocks and half into others
    usable = [i for i in range(len(docs)) if boundaries(docs[i].text)]
    order = rng.sample(usable, len(usable))
    n_target = max(1, min(len(order), round(config.doc_share * len(order))))
    targets, others = order[:n_target], order[n_target:] or order
    per_doc: dict[int, list[Insert]] = {}

    def place(ins: Insert, pool: Sequence[int], k: int, para_only: bool) -> None:
        for j in range(len(pool)):  # the k-th document of the pool, or the next one with a free boundary
            d = pool[(k + j) % len(pool)]
            try:
                ins.pos, ins.kind = _choose_boundary(docs[d].text, [x.pos for x in per_doc.get(d, [])], para_only, rng)
            except ValueError:
                continue
            per_doc.setdefault(d, []).append(ins)
            return
        raise ValueError("no document has a free boundary left")

    for k, (ins, para_only) in enumerate(blocks):
        place(ins, targets, k, para_only)
    for k, ph in enumerate(phrases):
        payload = {"hard": True, "post_id": ph.source_id, "phrase": ph.text, "kind": ph.kind}
        place(Insert(-1, "", ph.text, [(0, len(ph.text), payload)]), targets if k % 2 == 0 else others, k // 2, False)

    # 5. insert and record
    new_docs = list(docs)
    truth_rows: list[dict[str, Any]] = []
    hard_rows: list[dict[str, Any]] = []
    insert_rows: list[dict[str, Any]] = []
    for d in sorted(per_doc):
        text, spans, extents = insert_all(docs[d].text, per_doc[d])
        doc_id = docs[d].id
        new_docs[d] = Doc(doc_id, docs[d].source, docs[d].title, text)
        for s in spans:
            if s.get("hard"):
                assert text[s["start"]:s["end"]] == s["phrase"]
                hard_rows.append({"post_id": s["post_id"], "doc_id": doc_id, "phrase": s["phrase"],
                                  "start": s["start"], "end": s["end"], "kind": s["kind"]})
            else:
                assert text[s["start"]:s["end"]] == s["planted"]
                truth_rows.append({"post_id": s["post_id"], "doc_id": doc_id, "edit": s["edit"], "start": s["start"],
                                   "end": s["end"], "planted": s["planted"], "block": s["block"]})
        insert_rows += [{"doc_id": doc_id, "start": s, "end": e} for s, e in extents]
        assert remove_extents(text, extents) == docs[d].text
    truth = pl.DataFrame(truth_rows, schema=TRUTH_SCHEMA).sort("doc_id", "start")
    hard = pl.DataFrame(hard_rows, schema=HARD_SCHEMA).sort("doc_id", "start")
    inserts = pl.DataFrame(insert_rows, schema=INSERT_SCHEMA).sort("doc_id", "start")
    assert truth["post_id"].n_unique() == truth.height
    info = {"per_edit": config.per_edit, "plantable": len(plantable), "candidates_drawn": len(cands),
            "near_duplicates": len(dup),
            "natural_in_docs": len(nat), "phrases": {"entity": sum(p.kind == "entity" for p in phrases),
                                                     "stock": sum(p.kind == "stock" for p in phrases)},
            "docs_with_blocks": len({r["doc_id"] for r in truth_rows}), "blocks": len(blocks)}
    return PlantedSet(list(posts), new_docs, truth, hard, inserts, info)


# ------------------------------------------------------------------------------------------ fixtures


def load_fixture_set(fixtures: Path) -> PlantedSet:
    """The repository's bundled planted set (``fixtures/posts`` and ``fixtures/planted``) as a PlantedSet."""
    with open(fixtures / "posts" / "airline_tweets.csv", encoding="utf-8", newline="") as f:
        posts = [airline_post(r) for r in csv.DictReader(f)]
    docs = []
    with gzip.open(fixtures / "planted" / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            docs.append(Doc(rec["id"], rec["source"], rec["title"], rec["text"]))
    ids = {"post_id": pl.String, "doc_id": pl.String, "tweet_id": pl.String}
    truth = pl.read_csv(fixtures / "planted" / "truth.csv", schema_overrides=ids)
    truth = truth.with_columns(block=pl.lit(None, pl.Int64)).select(list(TRUTH_SCHEMA))
    hard = (pl.read_csv(fixtures / "planted" / "hard_negatives.csv", schema_overrides=ids)
            .rename({"tweet_id": "post_id"}).with_columns(kind=pl.lit("stock")).select(list(HARD_SCHEMA)))
    spans = pl.concat([truth.select("doc_id", "start", "end"), hard.select("doc_id", "start", "end")])
    return PlantedSet(posts, docs, truth, hard, spans.cast(INSERT_SCHEMA).sort("doc_id", "start"),
                      {"source": "fixtures"})


# ------------------------------------------------------------------------------------------ writing


def _gzip_bytes(data: bytes) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz:
        gz.write(data)
    return raw.getvalue()


def write_posts_csv(posts: Sequence[Post], path: Path) -> None:
    """Posts as CSV with columns ``id,text,author,created``."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "text", "author", "created"])
    w.writerows([p.id, p.text, p.author, p.created] for p in posts)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def write_corpus(docs: Sequence[Doc], path: Path) -> None:
    """Documents as gzip JSONL with fields ``id, source, title, text``."""
    data = "".join(json.dumps({"id": d.id, "source": d.source, "title": d.title, "text": d.text},
                              ensure_ascii=False) + "\n" for d in docs)
    path.write_bytes(_gzip_bytes(data.encode("utf-8")))


def write_planted_set(ps: PlantedSet, out: Path) -> dict[str, Path]:
    """Write ``posts.csv``, ``corpus.jsonl.gz``, ``truth.csv``, ``hard_negatives.csv`` and ``inserts.csv``
    into ``out``; returns their paths by name."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("posts.csv", "corpus.jsonl.gz", "truth.csv", "hard_negatives.csv",
                                             "inserts.csv")}
    write_posts_csv(ps.posts, paths["posts.csv"])
    write_corpus(ps.docs, paths["corpus.jsonl.gz"])
    ps.truth.write_csv(paths["truth.csv"])
    ps.hard.write_csv(paths["hard_negatives.csv"])
    ps.inserts.write_csv(paths["inserts.csv"])
    return paths
