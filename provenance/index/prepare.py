"""The text stage of an index build: a batch of posts made into rows, kinds, keys and hashes
(:class:`PreparedPosts`), before the posts get numbers. The one-process build feeds them to its
:class:`~.build.Builder` at once; a build on Dask (:mod:`.distributed`) stores them per input part."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from ..io.dates import NO_DATE, parse_days
from ..params import IndexParams
from ..text.hashing import sequence_keys
from ..text.shingles import TokenHasher, batch_shingles
from ..errors import InputError
from .format import EMPTY, KINDS, NO_POST_DATE, QUOTE_ONLY, QUOTED, SHINGLED, SHORT, UNATTRIBUTABLE

__all__ = ["PreparedPosts", "prepare_posts", "quotation_flags", "quoted_posts", "QUOTED_SHARE", "QUOTE_ONLY_SHARE"]

QUOTED_SHARE = 0.5
"""A post with at least this share of its words inside double quotation marks quotes someone."""
QUOTE_ONLY_SHARE = 0.9
"""... and with at least this share of them (links and @mentions left out), it is the quotation and
nothing more: no words of its own."""
ATTRIBUTION_WORDS = 4
"""An attributed quotation with no more words than this outside it (the name) is a quotation and nothing more."""
_NOT_WORDS = r"https?://\S+|www\.\S+|@\w+"  # (links and mentions: no words of the post's own)
_WORD = r"[\p{L}\p{N}][\p{L}\p{N}'’]*"
_QUOTATION = r'"[^"]*"|“[^”]*”|„[^“”]*[“”]|«[^»]*»'  # a quotation mark, the words, its closing mark
_MAYBE_QUOTED = r'["“„«]|RT'  # what every quotation (an opening mark) and every retweet holds
_RETWEET = r"(?:^|[^\w@])RT\s*[\"“]?@\w+"
_ATTRIBUTED = (r'(?:["”»]\s*[-–—―~]+\s*@?\p{Lu})'  # "..." - Name, "..."—Name
               r'|(?:(?:^|[\s(])@?\p{Lu}[\w.\'’-]*(?:\s+\p{Lu}[\w.\'’-]*){0,3}\s*:\s*["“„«])')  # Name: "...


def quoted_posts(texts: Any) -> NDArray[np.bool_]:
    """Which posts quote someone, so that their words are a common origin's rather than their own:
    at least :data:`QUOTED_SHARE` of the post's words inside double quotation marks (" ", “ ”, „ “,
    « »), or a retweet (``RT @user``), or an attributed quotation (``Name: "`` before it, or ``" - Name``
    after it) that holds at least a quarter of the words. ``texts``: the raw texts (a list or a
    polars Series)."""
    return (quotation_flags(texts) & QUOTED) != 0


def quotation_flags(texts: Any) -> NDArray[np.uint8]:
    """:data:`~.format.QUOTED` for the posts :func:`quoted_posts` names, with :data:`~.format.QUOTE_ONLY`
    for those that are a quotation and nothing more: :data:`QUOTE_ONLY_SHARE` of their words inside the
    quotation marks (links and @mentions left out), or an attributed quotation with no more than
    :data:`ATTRIBUTION_WORDS` words besides (``"…" - John F. Kennedy``, ``Obama: "…" #politics``). A
    retweet is a platform post's text: found whole, it counts."""
    t = texts if isinstance(texts, pl.Series) else pl.Series("t", list(texts), dtype=pl.String)
    # Only a text with an opening quotation mark or an "RT" can quote someone: the others skip the regexes.
    maybe = t.str.contains(_MAYBE_QUOTED).fill_null(False)
    out = np.zeros(len(t), dtype=np.uint8)
    if maybe.any():
        out[maybe.arg_true().to_numpy()] = _quoted(t.filter(maybe))
    return out


def _quoted(t: pl.Series) -> NDArray[np.uint8]:
    """:func:`quotation_flags` of the texts ``t`` (a polars Series), every test applied."""
    f = pl.DataFrame({"t": t}).select(
        words=pl.col("t").str.replace_all(_NOT_WORDS, " ").str.count_matches(_WORD),
        inside=pl.col("t").str.extract_all(_QUOTATION).list.join(" ").str.replace_all(_NOT_WORDS, " ")
        .str.count_matches(_WORD),
        retweet=pl.col("t").str.contains(_RETWEET),
        attributed=pl.col("t").str.contains(_ATTRIBUTED),
    ).select(share=pl.col("inside") / pl.max_horizontal(pl.col("words"), 1), own=pl.col("words") - pl.col("inside"),
             retweet="retweet", attributed="attributed")
    quoted = ((f["share"] >= QUOTED_SHARE) | f["retweet"] | (f["attributed"] & (f["share"] >= QUOTED_SHARE / 2))).fill_null(False)
    only = quoted & ((f["share"] >= QUOTE_ONLY_SHARE) | (f["attributed"] & (f["own"] <= ATTRIBUTION_WORDS))).fill_null(False)
    return (np.where(quoted.to_numpy(), QUOTED, 0) | np.where(only.to_numpy(), QUOTE_ONLY, 0)).astype(np.uint8)


@dataclass
class PreparedPosts:
    """What the text stage makes of a batch of posts, before they get post numbers: their posts-table
    rows, kinds, token counts, whole-text keys (short posts), first-shingle keys (short posts matched
    inside a sentence), and for the shingled posts their shingle hashes (``lengths`` a post, 0 for
    the others) and token hashes (``n_tokens`` a shingled post), concatenated in post order."""

    frame: pl.DataFrame
    kind: NDArray[np.uint8]
    n_tokens: NDArray[np.int64]
    exact: NDArray[np.uint64]
    heads: NDArray[np.uint64]
    shingles: NDArray[np.uint64]
    lengths: NDArray[np.int64]
    token_hashes: NDArray[np.uint64]
    flags: NDArray[np.uint8]
    """:data:`~.format.QUOTED` (the post quotes someone, :func:`quoted_posts`), :data:`~.format.QUOTE_ONLY`
    (and is that quotation and nothing more, :func:`quotation_flags`) and :data:`~.format.UNATTRIBUTABLE`
    (its whole text carries fewer than ``min_post_bits`` bits)."""
    days: NDArray[np.uint16]
    """The post's date, days since 1970 (:data:`~.format.NO_POST_DATE`: none)."""

    def __len__(self) -> int:
        return len(self.kind)


def _short_bits(batch: Any, sb: Any, hasher: TokenHasher, short: NDArray[np.int64]) -> NDArray[np.float64]:
    """The evidence bits of the whole texts of the posts ``short`` (positions in the batch): the only
    posts whose bits decide anything (a span's bits depend on its own words alone)."""
    from ..text.background import default_background, span_bits

    if not len(short):
        return np.zeros(0)
    if not hasher.keyed and hasher.seed == 0:  # the background model hashes tokens as this index does
        return default_background().bits_of_runs(sb.token_hashes, sb.token_offsets[short], sb.n_tokens[short], sb.nospace)
    texts = batch.text_column() if hasattr(batch, "text_column") else pl.Series("t", list(batch.texts), dtype=pl.String)
    return span_bits(default_background(), texts.gather(short).to_list())


def _post_days(batch: Any, date_field: str) -> NDArray[np.uint16]:
    """The posts' dates as ``post_date.npy`` keeps them: days since 1970, which a uint16 holds until 2149."""
    days = parse_days(batch.meta[date_field], batch.source, batch.rows)
    bad = (days != NO_DATE) & ((days < 0) | (days >= NO_POST_DATE))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{batch.source}:{batch.rows[i]}: the post's date {batch.meta[date_field][i]!r} is before "
                         "1970 or after 2149 (a post's date must lie between)")
    return np.where(days == NO_DATE, NO_POST_DATE, days).astype(np.uint16)


def prepare_posts(batch: Any, params: IndexParams, hasher: TokenHasher, date_field: str | None = None) -> PreparedPosts:
    """The text stage of an index build for one batch of posts (:class:`PreparedPosts`); ``date_field``:
    the meta field of the batch holding the posts' dates (:func:`provenance.io.dates.parse_days`)."""
    p = params
    sb = batch_shingles(batch.texts, p.ngram, hasher)
    n_tokens = sb.n_tokens
    kind = np.where(n_tokens == 0, EMPTY, np.where(n_tokens < p.short_tokens, SHORT, SHINGLED)).astype(np.uint8)
    exact = np.where(n_tokens > 0, sequence_keys(sb.token_hashes, sb.token_offsets[:-1], n_tokens, hasher.finish), np.uint64(0))
    short = np.flatnonzero(kind == SHORT)
    whole_bits = np.zeros(len(kind))
    whole_bits[short] = _short_bits(batch, sb, hasher, short)
    # Short posts too common to be evidence of anything hold no keys (no exact key, no head). (A shingled
    # post keeps its postings: the index rebuilds its shingles from them, for appends and checks.)
    unattributable = (kind == SHORT) & (whole_bits < p.min_post_bits)
    quoted = quotation_flags(batch.text_column() if hasattr(batch, "text_column") else batch.texts)
    flags = (quoted | np.where(unattributable, UNATTRIBUTABLE, 0)).astype(np.uint8)
    days = _post_days(batch, date_field) if date_field is not None else np.full(len(kind), NO_POST_DATE, np.uint16)
    # Short posts specific enough to be matched inside a sentence keep their first shingle.
    inline = kind == SHORT
    inline[short] = whole_bits[short] >= p.inline_short_bits
    inline &= (n_tokens >= p.ngram) & ~unattributable  # (a post with a shingle: its first is where a scan looks)
    heads = np.zeros(len(kind), dtype=np.uint64)
    heads[inline] = sb.hashes[sb.offsets[:-1][inline]]
    # Short posts keep no shingles: they match only as whole records or lines.
    counts = np.diff(sb.offsets)
    lengths = np.where(kind == SHINGLED, counts, 0)
    cols: dict[str, Any] = {
        "post_id": batch.ids,
        "source": [batch.source] * len(batch.ids),
        "row": batch.rows,
        "kind": np.array(KINDS)[kind].tolist(),
        "n_tokens": n_tokens,
        "exact_key": np.where(kind == SHORT, exact, np.uint64(0)),  # (only short posts are matched whole)
        "head_key": heads,
    }
    for name, values in batch.meta.items():
        cols[f"meta_{name}"] = values
    frame = pl.DataFrame(cols, schema_overrides={"row": pl.Int64, "n_tokens": pl.Int64, "exact_key": pl.UInt64,
                                                   "head_key": pl.UInt64})
    return PreparedPosts(frame, kind, np.asarray(n_tokens, dtype=np.int64), exact, heads,
                         sb.hashes[np.repeat(kind == SHINGLED, counts)], lengths.astype(np.int64),
                         sb.token_hashes[np.repeat(kind == SHINGLED, n_tokens)],
                         flags, days)
