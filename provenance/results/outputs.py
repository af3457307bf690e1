"""Scan outputs: the columns of ``matches.parquet`` (types and meaning), ``matches.parquet`` and
``summary.json`` written atomically, and the split of the matches that count from the generic ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from ..durable import atomic_write, remove_stale, write_json
from ..errors import ParameterError, ProvenanceError

__all__ = ["MATCH_SCHEMA", "ROW_SCHEMA", "MATCH_COLUMNS_DOC", "MATCH_ROW_GROUP", "RESULT_NAMES", "SORT_KEYS",
           "refuse_earlier_results", "write_outputs", "split_generic"]

RESULT_NAMES = ("matches.parquet", "summary.json", "evidence.json", "run.json", "units")
"""What a scan writes into its output directory; any of them there means results a new scan would replace."""


ROW_SCHEMA: dict[str, pl.DataType] = {
    "doc_id": pl.String,
    "doc_date": pl.Date,
    "post_id": pl.String,
    "source": pl.String,
    "row": pl.Int64,
    "containment": pl.Float64,
    "coverage": pl.Float64,
    "jaccard": pl.Float64,
    "doc_start": pl.Int64,
    "doc_end": pl.Int64,
    "doc_text": pl.String,
    "context_before": pl.String,
    "context_after": pl.String,
    "doc_meta": pl.String,
    "doc_chars": pl.Int64,
    "method": pl.String,
    "placement": pl.String,
    "span_tokens": pl.Int64,
    "matched_shingles": pl.Int64,
    "post_shingles": pl.Int64,
    "evidence_bits": pl.Float64,
    "shared_posts": pl.Int64,
    "span_texts": pl.Int64,
    "generic": pl.Boolean,
}
"""The columns of a match row as the scan of one batch makes it (what checkpoints keep)."""

MATCH_SCHEMA: dict[str, pl.DataType] = {
    **ROW_SCHEMA,
    "post_date": pl.Date,
    "post_quoted": pl.Boolean,
    "post_quote_only": pl.Boolean,
    "evalue": pl.Float64,
    "span_docs": pl.Int64,
    "why_not": pl.String,
}
"""The columns of ``matches.parquet``: a row as scanned, the post's facts from the index, then judged over the whole scan
(:mod:`provenance.results.significance`)."""


SORT_KEYS = ["source", "row", "doc_start", "post_id"]
"""The order of the rows of ``matches.parquet``."""

MATCH_ROW_GROUP = 65536
"""Rows per row group of ``matches.parquet``, fixed (polars' own choice depends on the whole table,
which a scan does not hold): a file written from one frame and one streamed from the scan's groups
of rows (:mod:`provenance.results.judged`) are the same bytes."""


MATCH_COLUMNS_DOC = {
    "doc_id": "document id (id field, or FILE:ROW)",
    "doc_date": "the document's date (scan --doc-date-field, else --corpus-date; empty when unknown)",
    "post_id": "post id from the index",
    "source": "input file the document came from",
    "row": "1-based record number of the document in that file",
    "containment": "verified share of the post's distinct shingles found in the matched region (0-1)",
    "coverage": "share of the post's tokens covered by the matched shingles (of its prefix for containment_prefix; "
                "for aligned: matched in order by the token alignment; for partial: the share of the post the run is; "
                "empty for --mode jaccard)",
    "jaccard": "exact Jaccard similarity of post and record (--mode jaccard and exact_short on records only)",
    "doc_start": "0-based character offset where the matched span starts in the original document text",
    "doc_end": "end-exclusive character offset of the matched span",
    "doc_text": "the matched span of the document (its first 4,000 characters if longer)",
    "context_before": "up to 200 characters of the document before the span (empty for weak and shared matches)",
    "context_after": "up to 200 characters of the document after the span (empty for weak and shared matches)",
    "doc_meta": "the document's --doc-meta-field values (a title, a URL) as a JSON object; empty without them",
    "doc_chars": "characters of the whole document",
    "method": "containment | containment_prefix (copy cut off with …) | aligned (an edited copy: tokens in order, "
              "few words changed) | partial (a verbatim run of at least half the post) | exact_short | jaccard",
    "placement": "unit: the span starts the document, a line, a sentence or a quotation (as a copied post stands); "
                 "inline: it starts in the middle of a sentence",
    "span_tokens": "tokens covered by the matched span",
    "matched_shingles": "distinct post shingles found in the span",
    "post_shingles": "distinct shingles of the post (of its matched prefix for containment_prefix)",
    "evidence_bits": "information content of the matched span under a background model of ordinary English: "
                     "such text would write it by chance about once in 2^bits words",
    "shared_posts": "indexed posts that hold the rarest of the post's shingles found in the span (exact_short: "
                    "of the span's shingles, or posts with the same normalized text if more); a shingle of more than max_key_posts posts counts as "
                    "max_key_posts + 1; empty for spans of 10 tokens or more (never generic for being shared)",
    "generic": "true when the match does not count (why_not says why): listed, but left out of every count and share",
    "evalue": "expected number of matches at least this strong that chance alone would give in this scan: posts "
              "searched x words scanned x 2^-evidence_bits; a match counts only at or under --max-evalue",
    "span_docs": "documents of this scan in which the post was found; more than --max-span-docs: common text",
    "span_texts": "different indexed post texts that hold the whole span, every shingle of it (a retweet's copies are "
                  "one text; max_key_posts + 1 when every shingle is frequent); more than --max-span-texts: common "
                  "text of the platform (a name, a title, a quotation several posts use); empty for exact_short and for "
                  "weak and shared matches",
    "why_not": "empty when the match counts; else newer (the post is of a later day than the document: it copied "
               "the text), quoted (the post quotes someone: common origin), weak (under --min-evidence-bits), shared "
               "(a short span more than --max-shared-posts posts hold), chance (E-value over --max-evalue), inline (a "
               "span starting mid-sentence, short of --inline-bits more) or common (more than --max-span-docs documents, or more than --max-span-texts post texts at one place)",
    "post_date": "the post's date (index build --date-field; empty when unknown)",
    "post_quoted": "the post quotes someone (mostly inside double quotation marks, a retweet, or an attributed "
                   "quotation): its words are a common origin's, not the post's own",
    "post_quote_only": "the post is a quotation and nothing more (its words inside quotation marks, or with only its "
                       "author's name besides): found whole, its words are still its origin's",
}


def refuse_earlier_results(out_dir: str | Path) -> None:
    """Stop before a scan replaces the results of an earlier one in ``out_dir`` (results a user may
    hand on deserve the care an index gets): the caller passes ``resume`` or ``force`` to go on."""
    out = Path(out_dir)
    found = [name for name in RESULT_NAMES if (out / name).exists()] if out.is_dir() else []
    if found:
        raise ParameterError(f"{out}: holds the results of an earlier scan ({', '.join(found)}); use --resume to "
                             "continue that scan, --force to replace its results, or another -o")


def write_outputs(out_dir: str | Path, matches: pl.DataFrame | pl.LazyFrame | None, summary: dict[str, Any] | None,
                  run: dict[str, Any] | None = None) -> Path:
    """Write ``matches.parquet``, ``summary.json`` and (given) ``run.json`` into ``out_dir`` (created if
    needed). The first two depend only on the inputs and parameters (byte for byte); what changes
    from run to run (times, units reused) is in ``run.json``. ``matches``: a frame, or a lazy frame
    streamed into the file a row group at a time (the same bytes); None (or ``summary`` None): that
    file is left as it is."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProvenanceError(f"{out}: cannot create output directory ({e.strerror})") from None
    if not out.is_dir():
        raise ProvenanceError(f"{out}: not a directory")
    remove_stale(out)  # what a killed scan left
    if isinstance(matches, pl.LazyFrame):
        lazy = matches
        atomic_write(out / "matches.parquet",
                     lambda p: lazy.sink_parquet(p, statistics=True, row_group_size=MATCH_ROW_GROUP))
    elif matches is not None:
        frame = matches
        atomic_write(out / "matches.parquet",
                     lambda p: frame.write_parquet(p, statistics=True, row_group_size=MATCH_ROW_GROUP))
    if summary is not None:
        write_json(out / "summary.json", summary)
    if run is not None:
        write_json(out / "run.json", run)
    return out


def split_generic(matches: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The matches that count and the generic ones (all count in results older than the ``generic``
    column)."""
    if "generic" not in matches.columns:
        return matches, matches.head(0)
    return matches.filter(~pl.col("generic")), matches.filter(pl.col("generic"))
