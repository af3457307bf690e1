"""Command line: a thin typer layer over :mod:`provenance.api`. Parse, call, render; nothing more.

Results go to files (``-o``) or stdout (``--json``); progress bars, tables and errors go to stderr.
Every error a user can cause is one line, ``error: FILE[:ROW]: what``, and exit status 2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, List, Optional

import typer

from . import __version__
from .errors import ParameterError, ProvenanceError, Skipped
from .params import IndexParams, ScanParams

if TYPE_CHECKING:
    from rich.progress import Progress

    from .api import ScanResult

# The API (numpy, polars, ...) and rich are imported by the commands that use them, so that
# `provenance --help` and usage errors start fast.

app = typer.Typer(
    add_completion=False, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False,
    help="Find a platform's posts inside AI training corpora, with verified evidence.\n\n"
         "Example: provenance index build posts.csv -o idx --id-field tweet_id && "
         "provenance scan idx corpus/ -o out\n\n"
         "Keyed index: add --key-file KEY to 'index build', 'scan' and 'verify' (the index then cannot be "
         "scanned, nor a text tested against it, without the key).",
)
index_app = typer.Typer(no_args_is_help=True, help="Build and inspect post indexes.")
app.add_typer(index_app, name="index")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"provenance {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Find a platform's posts inside AI training corpora, with verified evidence."""

class _Stderr:
    """rich's Console on stderr, made on first use."""

    _console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            type(self)._console = Console(stderr=True)
        return getattr(self._console, name)


err: Any = _Stderr()


def escape(text: str) -> str:
    """rich's markup escape."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)

_DEFAULT_SCAN = ScanParams()
_DEFAULT_INDEX = IndexParams()

# Options shared by several commands: one definition each, so a flag means one thing everywhere.
TextField = typer.Option("text", "--text-field", help="Field/column holding the text.")
IdField = typer.Option(None, "--id-field", help="Field/column holding the record ids; must exist when given. "
                       "Default: the 'id' field where a file has one, FILE:ROW elsewhere.")
Format = typer.Option(None, "--format", help="Force the input format: jsonl, csv, tsv, parquet, text, lines (default: from the extension).")
Quiet = typer.Option(False, "--quiet", "-q", help="No progress bars or tables (bars are shown only on a terminal).")
AsJson = typer.Option(False, "--json", help="Print the result as JSON on stdout.")
OnError = typer.Option("stop", "--on-error", metavar="stop|skip",
                       help="stop: the first bad record or file ends the run with one line naming file and row. "
                            "skip: leave it out, count it by kind (in 'skipped') and print the count at the end.")
KeyFile = typer.Option(None, "--key-file", metavar="KEY",
                       help="Secret key of a keyed index: a file of at least 16 random bytes (make one with: "
                            "head -c 32 /dev/urandom > KEY). Needed to scan or verify against the index.")


def _key(path: Optional[Path]):
    from .keys import Key

    return Key.from_file(path) if path is not None else None


class _Bar:
    """Bytes-based rich progress bar on stderr (a no-op with --quiet)."""

    def __init__(self, progress: Progress | None, label: str, total: int) -> None:
        self.progress = progress
        self.records = 0
        self.task = progress.add_task(label, total=total or None, records=0) if progress else None

    def __call__(self, nbytes: int, records: int) -> None:
        if self.progress is not None:
            self.records += records
            self.progress.update(self.task, advance=nbytes, records=self.records)


@contextmanager
def _progress(quiet: bool, label: str, paths: Sequence[str | Path], fmt: Optional[str] = None) -> Iterator[_Bar]:
    if quiet or not err.is_terminal:  # no bars in logs and pipes
        yield _Bar(None, label, 0)
        return
    from rich.progress import (BarColumn, DownloadColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    from .io import expand_inputs, total_bytes

    try:
        total = total_bytes(expand_inputs(paths, fmt))
    except ProvenanceError:  # the run itself reports (or skips) what is wrong
        total = 0
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), DownloadColumn(),
               TransferSpeedColumn(), TextColumn("{task.fields[records]:,} records"), TimeRemainingColumn())
    # Transient: the bar disappears when the step ends (or fails), leaving the table or the error line.
    with Progress(*columns, console=err, transient=True) as progress:
        yield _Bar(progress, label, total)


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


@index_app.command("build")
def index_build(
    posts: List[str] = typer.Argument(..., metavar="POSTS", help="Post files or folders (JSONL, CSV/TSV, Parquet, text; .gz/.zst), "
                                                               "local or fsspec URLs (s3://, https://, file://, ...)."),
    out: Path = typer.Option(..., "-o", "--out", help="Index directory to create."),
    text_field: str = TextField,
    id_field: Optional[str] = IdField,
    meta_field: Optional[List[str]] = typer.Option(None, "--meta-field", help="Extra post field to keep for reports (repeatable)."),
    fmt: Optional[str] = Format,
    append: bool = typer.Option(False, "--append", help="Add the posts to the existing index at -o."),
    force: bool = typer.Option(False, "--force", help="Replace an existing index at -o."),
    ngram: int = typer.Option(_DEFAULT_INDEX.ngram, help="Words per shingle."),
    seed: int = typer.Option(_DEFAULT_INDEX.seed, help="Seed of token hashes and MinHash permutations (with --key-file: "
                                                       "of MinHash permutations only)."),
    jaccard: bool = typer.Option(_DEFAULT_INDEX.jaccard, "--jaccard",
                                 help="Also store MinHash signatures and LSH bands, which scan --mode jaccard needs "
                                      "(about 0.8 KB a post; a containment scan never reads them)."),
    num_perm: int = typer.Option(_DEFAULT_INDEX.num_perm, help="MinHash permutations (with --jaccard)."),
    lsh_threshold: float = typer.Option(_DEFAULT_INDEX.lsh_threshold, help="Jaccard threshold the LSH bands are tuned for (with --jaccard)."),
    short_tokens: int = typer.Option(_DEFAULT_INDEX.short_tokens, help="Posts with fewer tokens match only as whole records or lines."),
    max_key_posts: int = typer.Option(_DEFAULT_INDEX.max_key_posts, help="Shingles in more posts than this do not generate candidates."),
    inline_short_bits: float = typer.Option(_DEFAULT_INDEX.inline_short_bits,
                                            help="Short posts carrying at least this many bits (evidence strength) are "
                                                 "also matched inside a sentence, the others only as a whole line."),
    memory_limit: Optional[str] = typer.Option(
        None, "--memory-limit", metavar="SIZE",
        help="Memory for the build's working arrays, e.g. 2GiB; beyond it sorted runs spill to disk "
             "[default: a quarter of RAM]."),
    shards: Optional[int] = typer.Option(
        None, "--shards", metavar="N",
        help="Cut the index into N shards of consecutive posts, each a complete index a Dask worker opens on its "
             "own (scan --scheduler); scans give the results of the unsharded index [default: 1; with --append: the "
             "index's]."),
    key_file: Optional[Path] = typer.Option(
        None, "--key-file", metavar="KEY",
        help="Build a keyed index: every shingle hash derives from the secret key in this file (at least 16 "
             "random bytes; make one with: head -c 32 /dev/urandom > KEY). Without the key the index cannot "
             "be scanned nor tested for a text; the manifest holds the key's fingerprint, never the key. "
             "With --append: the index's key. What it protects: docs/THREAT_MODEL.md."),
    keep_text: bool = typer.Option(
        False, "--keep-text",
        help="Also store the posts' texts in the index (post_texts.parquet, checksummed in the manifest; in each "
             "shard its own posts'), so that 'provenance report' shows each post beside its copy without --posts. "
             "Not with --key-file: a keyed index holds no text. With --append: the index's choice."),
    on_error: str = OnError,
    quiet: bool = Quiet,
    as_json: bool = AsJson,
) -> None:
    """Index posts: shingle hashes, candidate keys and token codes on disk (with --jaccard also MinHash
    signatures and LSH bands). The index holds no post text unless --keep-text: hashes, ids, and the
    --meta-field columns asked for.

    Example: provenance index build tweets.csv -o idx --id-field tweet_id --meta-field name --key-file KEY
    """
    from . import api

    params = IndexParams(ngram=ngram, seed=seed, jaccard=jaccard, num_perm=num_perm, lsh_threshold=lsh_threshold,
                         short_tokens=short_tokens, max_key_posts=max_key_posts, inline_short_bits=inline_short_bits)
    limit = _size_option(memory_limit, "--memory-limit") if memory_limit is not None else None
    key = _key(key_file)
    with _progress(quiet, "indexing", posts, fmt) as bar:
        index = api.build_index(posts, out, params=params, text_field=text_field, id_field=id_field,
                                meta_fields=meta_field or [], fmt=fmt, append=append, force=force, on_progress=bar,
                                memory_limit=limit, on_error=on_error, key=key, shards=shards, keep_text=keep_text)
    fallback = index.manifest.get("id_fallback_files", [])
    if fallback and not quiet:
        err.print(f"note: no 'id' field in {escape(', '.join(fallback))}: those post ids are FILE:ROW "
                  "(name the id column with --id-field)", highlight=False)
    _show_index(index, quiet, as_json)
    _show_skipped(Skipped.from_dict(index.manifest.get("skipped")), "the manifest's 'skipped'")


def _show_skipped(skipped: Skipped, where: str) -> None:
    """The count of bad records and files left out, on stderr (also with --quiet: it changes the results)."""
    if skipped:
        err.print(f"{escape(skipped.line())}; first of each kind in {where}", highlight=False, soft_wrap=True)


def _size_option(text: str, option: str) -> int:
    from .spill import parse_size

    try:
        size = parse_size(text)
    except ValueError as e:
        raise ParameterError(f"{option}: {e}") from None
    if size < 1 << 20:
        raise ParameterError(f"{option}: at least 1MiB, got {text!r}")
    return size


@index_app.command("info")
def index_info(
    index_dir: Path = typer.Argument(..., metavar="INDEX_DIR", help="Index directory."),
    as_json: bool = AsJson,
) -> None:
    """Show an index's parameters and counts (after checking its checksums).

    Example: provenance index info idx
    """
    from . import api

    _show_index(api.open_index(index_dir), False, as_json)


def _show_index(index, quiet: bool, as_json: bool) -> None:
    m = index.manifest
    if as_json:
        _print_json({k: v for k, v in m.items() if k != "files"} | {"path": str(index.path)})
        return
    if quiet:
        return
    from rich.table import Table

    table = Table(title=f"index {index.path}", show_header=False)
    for key, value in m["counts"].items():
        table.add_row(key.replace("_", " "), f"{value:,}")
    for key, value in m["params"].items():
        table.add_row(key, str(value))
    if "lsh" in m:
        table.add_row("LSH bands x rows", f"{m['lsh']['bands']} x {m['lsh']['rows']}")
    else:
        table.add_row("MinHash / LSH", "- (not stored; build with --jaccard for --mode jaccard)")
    from .index import shards_of

    parts = shards_of(index)
    if len(parts) > 1:
        sizes = [shard.n_posts for shard, _ in parts]
        table.add_row("shards", f"{len(parts)} shards of {min(sizes):,}-{max(sizes):,} posts")
    size = sum(f.get("bytes", 0) for shard, _ in parts for f in shard.manifest.get("files", {}).values())
    table.add_row("on disk", f"{size / 2**20:,.1f} MiB ({size / max(index.n_posts, 1):,.0f} bytes a post)")
    table.add_row("normalization", m["normalization"])
    table.add_row("hash", m["hash"])
    table.add_row("key fingerprint", index.fingerprint or "- (built without a key)")
    table.add_row("MinHash scheme", m["minhash_scheme"])
    table.add_row("meta fields", ", ".join(m.get("meta_fields", [])) or "-")
    table.add_row("manifest sha256", m.get("manifest_sha256", "")[:16] + "…")
    err.print(table)


@app.command("scan")
def scan(
    index_dir: Path = typer.Argument(..., metavar="INDEX_DIR", help="Index directory (from 'provenance index build')."),
    corpus: List[str] = typer.Argument(..., metavar="CORPUS", help="Corpus files or folders, local or fsspec URLs "
                                                                 "(s3://, https://, file://, ...)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output directory for matches.parquet and summary.json."),
    text_field: str = TextField,
    id_field: Optional[str] = IdField,
    fmt: Optional[str] = Format,
    mode: str = typer.Option(_DEFAULT_SCAN.mode, help="containment (posts inside long documents) or jaccard (records that are short texts; "
                                                     "needs an index built with --jaccard)."),
    min_containment: float = typer.Option(_DEFAULT_SCAN.min_containment, help="Share of a post's shingles a document region must contain."),
    min_coverage: float = typer.Option(_DEFAULT_SCAN.min_coverage, help="Share of a post's tokens the found shingles must cover."),
    min_span_tokens: int = typer.Option(_DEFAULT_SCAN.min_span_tokens, help="Shortest matched span, in tokens."),
    min_aligned: float = typer.Option(_DEFAULT_SCAN.min_aligned, help="Share of a post's tokens a token alignment "
                                                                     "must find in order (edited copies)."),
    min_jaccard: float = typer.Option(_DEFAULT_SCAN.min_jaccard, help="--mode jaccard: exact Jaccard a record must reach."),
    min_partial_tokens: int = typer.Option(_DEFAULT_SCAN.min_partial_tokens,
                                           help="Shortest verbatim run of a post, and at least half of it, reported "
                                                "as a partial copy (0: off)."),
    min_evidence_bits: float = typer.Option(_DEFAULT_SCAN.min_evidence_bits,
                                            help="Matches whose span ordinary text would write by chance more often "
                                                 "than once in 2^BITS words are 'generic': listed, not counted."),
    max_shared_posts: int = typer.Option(_DEFAULT_SCAN.max_shared_posts,
                                         help="Matches under 10 tokens whose rarest part more than this many indexed "
                                              "posts hold are 'generic' too (a phrase the posts share; 0: off)."),
    batch_size: int = typer.Option(_DEFAULT_SCAN.batch_size, help="Documents per batch."),
    sample: float = typer.Option(_DEFAULT_SCAN.sample, help="Scan this random share of the documents (every file at "
                                                           "that rate); summary.json 'estimates' give intervals."),
    seed: int = typer.Option(_DEFAULT_SCAN.sample_seed, help="Seed of --sample (the same seed picks the same documents)."),
    confidence: float = typer.Option(_DEFAULT_SCAN.confidence, help="Confidence level of the estimates' intervals."),
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
    unit_size: str = typer.Option("256MiB", "--unit-size", metavar="SIZE",
                                  help="Local JSONL, lines and parquet files larger than this are scanned in parts "
                                       "(Dask tasks and checkpoint units of their own); same results."),
    key_file: Optional[Path] = KeyFile,
    on_error: str = OnError,
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
    from . import api

    params = ScanParams(mode=mode, min_containment=min_containment, min_coverage=min_coverage, min_span_tokens=min_span_tokens,
                        min_aligned=min_aligned, min_jaccard=min_jaccard, min_evidence_bits=min_evidence_bits,
                        max_shared_posts=max_shared_posts, min_partial_tokens=min_partial_tokens, batch_size=batch_size, sample=sample, sample_seed=seed,
                        confidence=confidence, on_error=on_error)
    unit_bytes = _size_option(unit_size, "--unit-size")
    key = _key(key_file)
    index = api.open_index(index_dir, verify="background", key=key)  # checksums checked while the scan runs
    index.require_key()
    with _progress(quiet, "scanning", corpus, fmt) as bar:
        result = api.scan(index, corpus, out, params=params, text_field=text_field, id_field=id_field,
                          fmt=fmt, on_progress=bar, workers=workers, scheduler=scheduler,
                          resume=resume, unit_size=unit_bytes, until_ci=until_ci, prefilter=prefilter)
    _show_scan(result, quiet, as_json)


def _show_scan(result: ScanResult, quiet: bool, as_json: bool) -> None:
    from .results.table import summary_table

    if as_json:
        _print_json(result.summary)
    if not quiet:
        err.print(summary_table(result.summary, result.run))
        if result.out_dir is not None:
            err.print(f"wrote {result.out_dir / 'matches.parquet'}, {result.out_dir / 'summary.json'} and "
                      f"{result.out_dir / 'evidence.json'}")
    for note in result.run.get("notes", []):
        err.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    _show_skipped(Skipped.from_dict(result.summary.get("skipped")), "summary.json 'skipped'")


@app.command("verify")
def verify(
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="Output directory of a scan."),
    index_dir: Optional[Path] = typer.Option(None, "--index", help="The index, if it is no longer where the scan found it."),
    key_file: Optional[Path] = KeyFile,
    as_json: bool = AsJson,
) -> None:
    """Check a scan's evidence again: result files, index, input checksums, and every match (the matched
    documents are scanned again, so a keyed index needs its --key-file). Exit status 0 if all agree, 1 if
    something differs (a line each).

    Example: provenance verify out   (a keyed index: add --key-file KEY)
    """
    from .results.evidence import verify as verify_scan

    result = verify_scan(out_dir, index_dir, key=_key(key_file))
    if as_json:
        _print_json({"ok": result.ok, "matches": result.matches, "documents": result.documents,
                     "inputs": result.inputs, "index": result.index,
                     "problems": [{"what": p.what, "message": p.message} for p in result.problems]})
    else:
        for p in result.problems:
            print(f"differs: {p.message}")
        if result.ok:
            print(f"verified: {result.matches:,} matches in {result.documents:,} documents, {result.inputs:,} "
                  f"input files and the index {result.index} are as the scan recorded them")
        else:
            print(f"not verified: {len(result.problems):,} differences")
    raise typer.Exit(0 if result.ok else 1)


_REPORT_EXTENSIONS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}


def report_format(output: Optional[Path], fmt: Optional[str]) -> str:
    """The report's format: ``--format`` if given, else from the extension of ``-o`` (as pandas, polars and
    matplotlib do), else Markdown (on standard output)."""
    if fmt is not None:
        if fmt not in ("md", "html"):
            raise ParameterError(f"--format: md or html, got {fmt!r}")
        return fmt
    if output is None:
        return "md"
    found = _REPORT_EXTENSIONS.get(output.suffix.lower())
    if found is None:
        raise ParameterError(f"{output}: cannot tell the report format from the extension {output.suffix or '(none)'!r} "
                             "(use .md, .markdown, .html or .htm, or give --format md|html)")
    return found


@app.command("report")
def report(
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="Output directory of a scan."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the report here; its extension gives the "
                                          "format (.md/.markdown: Markdown, .html/.htm: HTML) [default: Markdown on "
                                          "standard output]."),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="md|html",
                                      help="md (Markdown) or html (one self-contained page with charts); overrides the "
                                           "extension of -o."),
    index_dir: Optional[Path] = typer.Option(None, "--index", help="The index, if it is no longer where the scan found it."),
    author_field: Optional[str] = typer.Option(None, help="--meta-field of the posts holding the author [default: author, "
                                                          "user, screen_name, username or name]."),
    date_field: Optional[str] = typer.Option(None, help="--meta-field of the posts holding the creation date [default: "
                                                        "created_at, tweet_created, created, date, timestamp or time]."),
    top: int = typer.Option(20, help="Rows of the top-N tables."),
    posts: Optional[List[str]] = typer.Option(
        None, "--posts", metavar="FILE",
        help="The post files the index was built from (repeatable; files or folders): the top matches then show each "
             "post's text beside the document's span, differences marked. Only the matched posts' texts are kept."),
    text_field: Optional[str] = typer.Option(None, "--text-field", help="Field/column of --posts holding the text "
                                             "[default: the one the index was built with]."),
    id_field: Optional[str] = typer.Option(None, "--id-field", help="Field/column of --posts holding the post ids "
                                           "[default: the one the index was built with]."),
    posts_format: Optional[str] = typer.Option(None, "--posts-format", help="Force the format of --posts: jsonl, csv, "
                                               "tsv, parquet, text, lines [default: from the extension]."),
) -> None:
    """Two-sided report of a scan: posts found (by author, by month, exposure) and licensed share of the
    corpus (per input file, top documents), then the top matches (with --posts: each post's text beside
    the document's span, the words that differ marked). Markdown or one self-contained HTML page, as the
    extension of -o says (or --format).

    Example: provenance report out -o report.html --posts tweets.csv
    """
    from .results.report_html import html_report
    from .results.report_markdown import markdown_report
    from .results.texts import PostsSource

    fmt = report_format(output, fmt)
    if posts is None and (text_field is not None or id_field is not None or posts_format is not None):
        raise ParameterError("--text-field, --id-field and --posts-format describe --posts: give --posts FILE too")
    source = PostsSource(tuple(posts), text_field, id_field, posts_format) if posts else None
    if top < 1:
        raise ParameterError(f"--top must be at least 1, got {top}")
    render = html_report if fmt == "html" else markdown_report
    text = render(out_dir, index_dir, author_field=author_field, date_field=date_field, top=top, posts=source)
    if output is None:
        sys.stdout.write(text)
    else:
        from .durable import atomic_write

        atomic_write(output, lambda p: Path(p).write_text(text, encoding="utf-8"))


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("provenance-demo"), "-o", "--out", help="Where to put the demo index and scan results."),
    quiet: bool = Quiet,
    as_json: bool = AsJson,
) -> None:
    """Index bundled real tweets, scan a bundled news/encyclopedia corpus with planted copies, report.

    Example: provenance demo -o /tmp/demo
    """
    from . import api
    from . import demo as demo_mod

    fixtures = demo_mod.fixtures_dir()
    posts, corpus = [fixtures / "posts" / "airline_tweets.csv"], [fixtures / "planted" / "corpus.jsonl.gz"]
    if not quiet:
        err.print(f"[bold]1/2[/] indexing the posts in {escape(str(posts[0]))}")
    with _progress(quiet, "indexing", posts) as bar:
        index = api.build_index(posts, out / "index", id_field="tweet_id", meta_fields=["name", "tweet_created"],
                                force=True, on_progress=bar)
    if not quiet:
        err.print(f"[bold]2/2[/] scanning the documents in {escape(str(corpus[0]))} (some posts planted)")
    with _progress(quiet, "scanning", corpus) as bar:
        result = api.scan(index, corpus, out / "scan", on_progress=bar)
    _show_scan(result, quiet, as_json)
    if not quiet:
        check = demo_mod.check_against_truth(result.matches, fixtures)
        err.print(demo_mod.truth_table(check))
        err.print(demo_mod.example_lines(result.matches, fixtures))
        err.print(f"next: provenance report {out / 'scan'} -o report.html   "
                  f"(or: provenance verify {out / 'scan'})", highlight=False)


def main() -> None:
    """Entry point: typer handles usage errors (exit 2); user errors become one line and exit 2."""
    try:
        app()
    except ProvenanceError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # a bug, not a user error: one line unless asked for the traceback
        if os.environ.get("PROVENANCE_DEBUG"):
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (set PROVENANCE_DEBUG=1 for the traceback)", code=3)


if __name__ == "__main__":
    main()
