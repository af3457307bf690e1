"""``provenance scan``: :func:`provenance.api.scan` of corpora against an index, its summary as a table or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..params import ScanParams
from .common import AsJson, Exclude, Format, IdField, Include, KeyFile, MaxRecord, OnError, Quiet, ReadTimeout, \
    SealKeyFile, TextField, load_key, progress, set_read_timeout, show_scan, size_option

DEFAULT = ScanParams()


def scan(
    index_dir: Path = typer.Argument(..., metavar="INDEX_DIR", help="Index directory (from 'provenance index build')."),
    corpus: List[str] = typer.Argument(..., metavar="CORPUS", help="Corpus files or folders, local or fsspec URLs "
                                                                 "(s3://, https://, file://, ...)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output directory for matches.parquet and summary.json."),
    text_field: str = TextField,
    id_field: Optional[str] = IdField,
    fmt: Optional[str] = Format,
    include: Optional[List[str]] = Include,
    exclude: Optional[List[str]] = Exclude,
    mode: str = typer.Option(DEFAULT.mode, help="containment (posts inside long documents) or jaccard (records that are short texts; "
                                                "needs an index built with --jaccard)."),
    min_containment: float = typer.Option(DEFAULT.min_containment, help="Share of a post's shingles a document region must contain."),
    min_coverage: float = typer.Option(DEFAULT.min_coverage, help="Share of a post's tokens the found shingles must cover."),
    min_span_tokens: int = typer.Option(DEFAULT.min_span_tokens, help="Shortest matched span, in tokens."),
    min_aligned: float = typer.Option(DEFAULT.min_aligned, help="Share of a post's tokens a token alignment "
                                                                "must find in order (edited copies)."),
    two_seeds_from: int = typer.Option(DEFAULT.two_seeds_from, help="A post with at least this many seeds is a candidate "
                                                                   "only where a document holds two of them (0: one "
                                                                   "always); copies with up to 2 edited words stay candidates."),
    min_jaccard: float = typer.Option(DEFAULT.min_jaccard, help="--mode jaccard: exact Jaccard a record must reach."),
    min_partial_tokens: int = typer.Option(DEFAULT.min_partial_tokens,
                                           help="Shortest verbatim run of a post, and at least half of it, reported "
                                                "as a partial copy (0: off)."),
    min_evidence_bits: float = typer.Option(DEFAULT.min_evidence_bits,
                                            help="Matches whose span ordinary text would write by chance more often "
                                                 "than once in 2^BITS words are 'generic': listed, not counted."),
    max_shared_posts: int = typer.Option(DEFAULT.max_shared_posts,
                                         help="Matches under 10 tokens whose rarest part more than this many indexed "
                                              "posts hold are 'generic' too (a phrase the posts share; 0: off)."),
    max_evalue: float = typer.Option(DEFAULT.max_evalue, help="A match counts only when chance alone would give fewer "
                                                              "matches this strong in this scan (its E-value)."),
    inline_bits: float = typer.Option(DEFAULT.inline_bits, help="Evidence bits more that a match needs when its span "
                                                               "starts in the middle of a sentence."),
    max_span_docs: int = typer.Option(DEFAULT.max_span_docs, help="A post found in more documents than this is common "
                                                                 "text of the corpus, not counted (0: off)."),
    max_span_texts: int = typer.Option(DEFAULT.max_span_texts, help="More different indexed post texts than this "
                                                                   "holding the matched span: common text (a name, a title, "
                                                                   "a quoted line), not counted (0: off)."),
    calibrated: bool = typer.Option(DEFAULT.calibrated, "--calibrated/--uncalibrated",
                                    help="Set the E-value on calibrated evidence bits (the background model's measured "
                                         "overstatement taken off; the default). --uncalibrated counts more short and "
                                         "edited copies and more coincidences."),
    count_quoted: bool = typer.Option(False, "--count-quoted", help="Count the matches of posts that quote someone "
                                                                   "too (off: their words are a common origin's)."),
    doc_meta_field: Optional[List[str]] = typer.Option(None, "--doc-meta-field", metavar="FIELD",
                                                     help="Document field (a title, a URL) kept with each match "
                                                          "(doc_meta) and shown in the report; repeatable."),
    doc_date_field: Optional[str] = typer.Option(None, "--doc-date-field", metavar="FIELD",
                                                 help="Document field holding its date: a match of a post of a later "
                                                      "day (index build --date-field) is not counted ('newer')."),
    corpus_date: Optional[str] = typer.Option(None, "--corpus-date", metavar="YYYY-MM-DD",
                                              help="The date of every document without one (a crawl's snapshot date)."),
    batch_size: int = typer.Option(DEFAULT.batch_size, help="Documents per batch."),
    sample: float = typer.Option(DEFAULT.sample, help="Scan this random share of the documents (every file at "
                                                      "that rate); summary.json 'estimates' give intervals."),
    seed: int = typer.Option(DEFAULT.sample_seed, help="Seed of --sample (the same seed picks the same documents)."),
    confidence: float = typer.Option(DEFAULT.confidence, help="Confidence level of the estimates' intervals."),
    until_ci: Optional[float] = typer.Option(None, "--until-ci", metavar="WIDTH",
                                             help="Double the sample (from --sample, or 0.05) until the document and "
                                                  "character shares' intervals are at most WIDTH wide."),
    workers: int = typer.Option(1, help="Local processes matching batches in parallel (same results as 1)."),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address (tcp://HOST:PORT): one task per unit (file "
                                                     "or part of one) on that cluster; index and corpus must be readable "
                                                     "by every worker. With a sharded index (index build --shards), each "
                                                     "worker opens only the shards it owns (start the scheduler with "
                                                     "work stealing off: docs/SCALE.md)."),
    resume: bool = typer.Option(False, help="Reuse the units already scanned into OUT (unchanged files, same index "
                                            "and parameters): continue an interrupted scan, or re-scan only changed files."),
    force: bool = typer.Option(False, "--force", help="Replace the results of an earlier scan in OUT (without it, "
                                                      "and without --resume, such an OUT is refused)."),
    unit_size: str = typer.Option("256MiB", "--unit-size", metavar="SIZE",
                                  help="Local JSONL, lines and parquet files larger than this are scanned in parts "
                                       "(Dask tasks and checkpoint units of their own); same results."),
    key_file: Optional[Path] = KeyFile,
    seal_key_file: Optional[Path] = SealKeyFile,
    on_error: str = OnError,
    max_record: str = MaxRecord,
    read_timeout: Optional[float] = ReadTimeout,
    prefilter: bool = typer.Option(True, help="Normalize and tokenize whole batches with numpy, sending only "
                                              "documents with entities, mentions, URLs or '...' through the "
                                              "per-document normalizer; --no-prefilter sends every document "
                                              "(same results, slower)."),
    quiet: bool = Quiet,
    as_json: bool = AsJson,
) -> None:
    """Scan corpora for indexed posts; write verified matches and a summary.

    Example: provenance scan idx corpus/ -o out --min-containment 0.5   (a keyed index: add --key-file KEY)
    """
    from .. import api

    params = ScanParams(mode=mode, min_containment=min_containment, min_coverage=min_coverage, min_span_tokens=min_span_tokens,
                        min_aligned=min_aligned, min_jaccard=min_jaccard, min_evidence_bits=min_evidence_bits,
                        max_shared_posts=max_shared_posts, max_evalue=max_evalue, inline_bits=inline_bits,
                        max_span_docs=max_span_docs, max_span_texts=max_span_texts, min_partial_tokens=min_partial_tokens, two_seeds_from=two_seeds_from,
                        batch_size=batch_size, sample=sample, sample_seed=seed,
                        confidence=confidence, on_error=on_error,
                        max_record_bytes=size_option(max_record, "--max-record-bytes"),
                        doc_date_field=doc_date_field, corpus_date=corpus_date, count_quoted=count_quoted, calibrated=calibrated,
                        doc_meta_fields=",".join(f for v in doc_meta_field or [] for f in v.split(",")) or None)
    unit_bytes = size_option(unit_size, "--unit-size")
    set_read_timeout(read_timeout)
    key = load_key(key_file)
    index = api.open_index(index_dir, verify="background", key=key)  # checksums checked while the scan runs
    index.require_key()
    with progress(quiet, "scanning", corpus, fmt) as bar:
        result = api.scan(index, corpus, out, params=params, text_field=text_field, id_field=id_field,
                          fmt=fmt, on_progress=bar, workers=workers, scheduler=scheduler,
                          resume=resume, unit_size=unit_bytes, until_ci=until_ci, prefilter=prefilter,
                          force=force, seal_key=load_key(seal_key_file), include=include or (), exclude=exclude or ())
    show_scan(result, quiet, as_json)
