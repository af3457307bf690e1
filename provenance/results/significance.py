"""Which verified matches count: significance against the size of the search, and commonness.

A verified match is a true statement about text ("the document holds these words of the post"), but
not yet evidence that the document copied the post. With millions of posts indexed and millions of
words scanned, some post's words turn up somewhere by chance, and some posts are themselves common
text (titles, stock phrases, famous quotations). The scan decides, once every document is scanned
(the figures below need the whole scan), which matches count; the others stay in ``matches.parquet``
with the reason in ``why_not`` and are left out of every count and share.

**E-value** (BLAST's measure of a hit against a large database). A span of ``b`` evidence bits
(:mod:`provenance.text.background`) is written by chance at a given place of ordinary text with
probability about ``2^-b``. A scan tries every indexed post at every word of the corpus, so the
expected number of chance matches at least that strong is at most::

    E = posts_searched x words_scanned x 2^-b

A match counts only when ``E <= max_evalue`` (default 0.01: one chance match in a hundred such
scans). The bar rises by itself with the archive and the corpus: 2.4 M posts against 6 M words of
news need about 51 bits; 26 B posts against 10 T words need about 84.

With ``calibrated``, the E-value is set on :func:`calibrated_bits`: the bits less what the bundled
model is measured to overstate (about 2 bits at 26 predicted bits, 13 at 44, 20 at 56, more beyond).
Measured at archive scale, this gives news and encyclopedia corpora a counted precision of 0.98 (78
pairs of 80 known copies; 0.74 with raw bits) for a much lower recall (docs/BENCHMARKS.md); on by
default (``--uncalibrated`` sets the E-value on the raw bits).

**Placement** (``placement``). A copied post stands in a document as a unit: it starts the text, a
line, a sentence or a quotation (:func:`provenance.text.offsets.starts_unit`). A span that starts in the
middle of a sentence is far more often the document's own words (a title, a name, an idiom a post
happens to consist of): such a match needs ``inline_bits`` more bits (``E <= max_evalue x 2^-inline_bits``).

**Commonness in the corpus** (``span_docs``): the documents of this scan in which the post was found.
A post found in more than ``max_span_docs`` documents is common text of the corpus (a title, a slogan,
a quotation many pages repeat), not one post's content.

**Commonness in the archive** (``span_texts``, measured as each batch is scanned: :mod:`provenance.match.shared`):
the different indexed post texts that hold the whole matched span. Several posts that each consist of,
or quote, one name, title or famous line hold it with texts of their own: more than ``max_span_texts``
of them make the span common text of the platform, not any one post's; so do more than that many different
posts found at the very same place of a document (edited variants of one phrase, which no post holds as the
document writes it). A retweet's copies repeat one
text, so a post that many accounts posted word for word is still a copy of each of them.

**Facts of the post, decided when it was indexed** (:mod:`provenance.index.format`). A post that quotes
someone (``post_quoted``: mostly inside double quotation marks, a retweet, an attributed quotation) holds
a common origin's words, not its own: a document that holds them may have them from that origin. A post
of a later day than the document (``post_date`` > ``doc_date``: ``index build --date-field``, ``scan
--doc-date-field`` or ``--corpus-date``) cannot have been copied into it: the post copied the text.
Neither counts, whatever its strength, except a quoting post found whole (``coverage`` 1: the document
holds the post's own words with the quotation, a copy of the post, not of its origin) that has words of
its own (``post_quote_only`` false: not a bare quotation, nor one with only its author's name). (Posts too common to be evidence, *unattributable*, hold no keys
and are never matched at all.)

Reasons, in the order they are given (``why_not``; empty when the match counts): ``newer`` (the post is
of a later day than its document), ``quoted`` (the post quotes someone), ``weak`` (under
``min_evidence_bits``), ``shared`` (a short span that more than ``max_shared_posts`` indexed posts hold),
``chance`` (``E > max_evalue``), ``inline`` (a span that starts in the middle of a sentence needs
``inline_bits`` more bits), ``common`` (more than ``max_span_docs`` documents, or more than
``max_span_texts`` post texts hold the span).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from ..index.format import NO_POST_DATE, QUOTE_ONLY, QUOTED
from ..match.shared import is_shared_phrase
from ..match.tally import Tally
from ..params import ScanParams

__all__ = ["CALIBRATION", "JUDGED", "REASONS", "Counted", "calibrated_bits", "covered_per_doc", "evalue_bar_bits", "judge",
           "recount", "why_not_counts", "with_post_facts"]

WHOLE_POST = 1.0 - 1e-9
"""``coverage`` of a match that holds every token of its post."""

JUDGED = ("evalue", "span_docs", "why_not", "generic")
"""The columns :func:`judge` sets."""

REASONS = {
    "newer": "the post is of a later day than the document: the post copied the text, not the other way round",
    "quoted": "the post quotes someone: its words are a common origin's, which the document may hold from that origin",
    "weak": "ordinary text would write the span by chance too often (under the evidence bits asked for)",
    "shared": "a short span that several indexed posts hold: a phrase the posts share",
    "chance": "not significant for the size of this search (E-value above the bar)",
    "inline": "the span starts in the middle of a sentence, and is not strong enough for that (--inline-bits more)",
    "common": "the post was found in too many documents of the corpus: common text, not one post's copy",
}
"""Why a verified match does not count (``why_not``), in plain words."""


CALIBRATION = ((10.0, 0.3), (14.0, 0.4), (18.0, 0.4), (22.0, 0.7), (26.0, 2.5), (30.0, 4.7), (34.0, 7.1),
               (38.0, 9.8), (44.0, 13.0), (56.0, 20.3))
"""How many bits the bundled background model overstates a span of held-out text, by predicted bits
(the middle of each bucket): the mean gap log2(observed / predicted) measured by the "Background model
calibration" section of benchmarks/RESULTS.md (280,000 spans of held-out Wikipedia and forum text)."""
CALIBRATION_SLOPE = 0.61
"""Past the last bucket the gap grows by this much a bit (the slope between the last two buckets)."""


def calibrated_bits(bits: np.ndarray) -> np.ndarray:
    """``bits`` less the bundled model's measured overstatement (:data:`CALIBRATION`): how rare such
    spans are in held-out text, not how rare the model believes them."""
    at, gap = np.array([m for m, _ in CALIBRATION]), np.array([g for _, g in CALIBRATION])
    over = np.interp(bits, at, gap)
    over = np.where(bits > at[-1], gap[-1] + CALIBRATION_SLOPE * (bits - at[-1]), over)
    return np.maximum(np.asarray(bits, dtype=np.float64) - over, 0.0)


def evalue_bar_bits(posts_searched: int, words_scanned: int, max_evalue: float) -> float:
    """The evidence bits a match needs to reach ``E <= max_evalue`` in a search of this size."""
    return math.log2(max(posts_searched, 1)) + math.log2(max(words_scanned, 1)) - math.log2(max_evalue)


def judge(matches: pl.DataFrame, params: ScanParams, posts_searched: int, words_scanned: int,
          span_docs: np.ndarray | None = None) -> pl.DataFrame:
    """``matches`` with ``evalue``, ``span_docs`` and ``why_not`` filled and ``generic`` set to "does not
    count" (see the module docstring). ``matches`` holds every verified match of the scan, or (given
    ``span_docs``: each row's post's documents in the whole scan) every match of the documents it holds."""
    if not matches.height:
        return matches.with_columns(pl.lit(None, pl.Float64).alias("evalue"), pl.lit(None, pl.Int64).alias("span_docs"),
                                    pl.lit(None, pl.String).alias("why_not"))
    log_space = evalue_bar_bits(posts_searched, words_scanned, 1.0)  # log2(posts x words)
    bits = matches["evidence_bits"].to_numpy()
    chance_bits = calibrated_bits(bits) if params.calibrated else bits
    evalue = np.exp2(np.minimum(log_space - chance_bits, 1000.0))
    post = "_post" if "_post" in matches.columns else "post_id"  # (post numbers while the scan runs)
    docs = (matches.select(pl.struct("source", "row").n_unique().over(post)).to_series().to_numpy()
            if span_docs is None else np.asarray(span_docs))
    texts = (matches["span_texts"].fill_null(0) if "span_texts" in matches.columns
             else pl.Series([0] * matches.height, dtype=pl.Int64)).to_numpy()
    # ... and the different posts found at that very place (edited variants of one phrase, which no post
    # holds as the document writes it: "What accomplishment are you most proud of" for three posts; a
    # retweet's copies have one text, the same shingles)
    here = matches.select(pl.col("post_shingles").fill_null(-1).n_unique().over("source", "row", "doc_start")
                          ).to_series().to_numpy()
    texts = np.maximum(texts, here)
    shared = is_shared_phrase(matches["shared_posts"].fill_null(0).to_numpy(), matches["span_tokens"].to_numpy(),
                              params.max_shared_posts)
    why = np.full(matches.height, "", dtype=object)
    inline = (matches["placement"] == "inline").fill_null(False).to_numpy()
    checks = [
        ("common", ((params.max_span_docs > 0) & (docs > params.max_span_docs))
                   | ((params.max_span_texts > 0) & (texts > params.max_span_texts))),
        ("inline", inline & (chance_bits < evalue_bar_bits(posts_searched, words_scanned, params.max_evalue)
                             + params.inline_bits)),
        ("chance", evalue > params.max_evalue),
        ("shared", shared),
        ("weak", bits < params.min_evidence_bits),
    ]
    if "post_quoted" in matches.columns and not params.count_quoted:
        # (a document that holds the whole post, its own words with the quotation, holds the post; a post
        # that is the quotation and nothing more is its origin's words even found whole)
        whole = (matches["coverage"] >= WHOLE_POST).fill_null(False).to_numpy() if "coverage" in matches.columns else False
        if "post_quote_only" in matches.columns:
            whole = whole & ~matches["post_quote_only"].fill_null(False).to_numpy()
        checks.append(("quoted", matches["post_quoted"].fill_null(False).to_numpy() & ~whole))
    if "post_date" in matches.columns and "doc_date" in matches.columns:
        checks.append(("newer", (matches["post_date"] > matches["doc_date"]).fill_null(False).to_numpy()))
    for reason, hit in checks:  # the last one set is the first reason of the list
        why[hit] = reason
    return matches.with_columns(
        pl.Series("evalue", evalue, dtype=pl.Float64),
        pl.Series("span_docs", docs, dtype=pl.Int64),
        pl.Series("why_not", why.tolist(), dtype=pl.String).replace("", None),
        pl.Series("generic", why != "", dtype=pl.Boolean),
    )


def with_post_facts(matches: pl.DataFrame, flags: np.ndarray, dates: np.ndarray, corpus_date: str | None) -> pl.DataFrame:
    """``matches`` (with post numbers, ``_post``) with each post's ``post_date`` and ``post_quoted`` from
    the index's ``post_flags`` and ``post_date``, and ``corpus_date`` as the ``doc_date`` of every
    document without one."""
    post = matches["_post"].to_numpy().astype(np.int64)
    days = np.asarray(dates)[post].astype(np.int32)
    none = days == NO_POST_DATE
    doc_date = pl.col("doc_date")
    if corpus_date is not None:
        doc_date = doc_date.fill_null(pl.lit(corpus_date).str.to_date("%Y-%m-%d"))
    return matches.with_columns(
        doc_date,
        pl.Series("post_date", np.where(none, 0, days), dtype=pl.Int32).cast(pl.Date).set(pl.Series(none), None),
        pl.Series("post_quoted", (np.asarray(flags)[post] & QUOTED) != 0, dtype=pl.Boolean),
        pl.Series("post_quote_only", (np.asarray(flags)[post] & QUOTE_ONLY) != 0, dtype=pl.Boolean),
    )


def covered_per_doc(counted: pl.DataFrame) -> pl.DataFrame:
    """Per matched document (source, row): characters its rows' spans cover (overlaps once, as
    :func:`provenance.match.tally.covered_chars` gives for one document) and its length, in one pass."""
    runs = (counted.select("source", "row", "doc_start", "doc_end", "doc_chars")
            .sort("source", "row", "doc_start")
            .with_columns(reach=pl.col("doc_end").cum_max().shift(1).over("source", "row"))
            .with_columns(new=pl.col("reach").is_null() | (pl.col("doc_start") >= pl.col("reach")))
            .with_columns(run=pl.col("new").cum_sum()))
    per_run = runs.group_by("source", "row", "run").agg(pl.col("doc_start").min(), pl.col("doc_end").max(),
                                                         pl.col("doc_chars").first())
    return per_run.group_by("source", "row").agg(covered=(pl.col("doc_end") - pl.col("doc_start")).sum(),
                                                 chars=pl.col("doc_chars").first())


class Counted:
    """What the counted rows of a scan matched (documents, characters, their sums for the estimates,
    posts), added up a group of whole documents at a time (:meth:`add`: every row of a document at once)."""

    def __init__(self) -> None:
        self.docs = self.chars = self.sq = self.cross = 0
        self.posts: set[int] = set()

    def add(self, counted: pl.DataFrame) -> None:
        if not counted.height:
            return
        per_doc = covered_per_doc(counted)
        covered = per_doc["covered"].to_numpy().astype(object)  # Python ints: the sums of squares may pass 2^63
        chars = per_doc["chars"].to_numpy().astype(object)
        self.docs += per_doc.height
        self.chars += int(sum(covered))
        self.sq += int(sum(c * c for c in covered))
        self.cross += int(sum(c * n for c, n in zip(covered, chars)))
        if "_post" in counted.columns:
            self.posts.update(counted["_post"].unique().to_list())

    def tally(self, tally: Tally) -> Tally:
        """``tally`` with what matched counted again from these rows."""
        out = Tally(**{k: getattr(tally, k) for k in Tally.COUNTS}, skipped=tally.skipped)
        out.docs_matched, out.matched_chars, out.matched_sq, out.cross = self.docs, self.chars, self.sq, self.cross
        out.posts_matched = set(self.posts)
        return out


def recount(tally: Tally, matches: pl.DataFrame) -> Tally:
    """``tally`` with what matched (documents, characters, their sums for the estimates, posts) counted
    again from the counted rows of ``matches``."""
    counted = Counted()
    counted.add(matches.filter(~pl.col("generic")) if matches.height else matches)
    return counted.tally(tally)


def why_not_counts(matches: pl.DataFrame) -> dict[str, Any]:
    """How many verified matches each reason left out (``summary.json`` ``not_counted``)."""
    if not matches.height or "why_not" not in matches.columns:
        return {}
    rows = (matches.filter(pl.col("why_not").is_not_null()).group_by("why_not").len()
            .with_columns(pl.col("why_not").cast(pl.String)).sort("why_not"))
    return dict(rows.iter_rows())
