"""What the commands share: the options several of them take (one definition each, so a flag means one
thing everywhere), the stderr console, progress bars, key loading, and the renderings two commands print.

Nothing heavy is imported here at start-up: rich and the API come in when a command first needs them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional

import typer

from ..errors import ParameterError, Skipped

if TYPE_CHECKING:
    from rich.progress import Progress

    from ..api import ScanResult
    from ..keys import Key

TextField = typer.Option("text", "--text-field", help="Field/column holding the text.")
IdField = typer.Option(None, "--id-field", help="Field/column holding the record ids; must exist when given. "
                       "Default: the 'id' field where a file has one, FILE:ROW elsewhere.")
Format = typer.Option(None, "--format", help="Force the input format: jsonl, csv, tsv, parquet, text, lines (default: from the extension).")
Include = typer.Option(None, "--include", metavar="GLOB",
                       help="Read only the files of a folder that match this pattern (repeatable): a file name "
                            "pattern ('*_text.txt.gz') or a path inside the folder ('irony/*.txt'). Also reads "
                            "README/LICENSE/*.md files and label-like files (*labels*, mapping*) it names, which "
                            "are otherwise left out or refused.")
Exclude = typer.Option(None, "--exclude", metavar="GLOB", help="Leave out the files of a folder that match this "
                                                               "pattern (repeatable; as --include).")
Quiet = typer.Option(False, "--quiet", "-q", help="No progress bars or tables (bars are shown only on a terminal).")
AsJson = typer.Option(False, "--json", help="Print the result as JSON on stdout.")
OnError = typer.Option("stop", "--on-error", metavar="stop|skip",
                       help="stop: the first bad record or file ends the run with one line naming file and row. "
                            "skip: leave it out, count it by kind (in 'skipped') and print the count at the end.")
MaxRecord = typer.Option("16MiB", "--max-record-bytes", metavar="SIZE",
                         help="Longest record read (a JSONL, lines or CSV line; a text file), after decompression: a "
                              "longer one is a bad record (error, or skipped and counted with --on-error skip), "
                              "refused before it is held in memory. A scan's memory at its peak is about 130 times "
                              "the longest record it reads (16MiB: about 2 GB).")
ReadTimeout = typer.Option(None, "--read-timeout", metavar="SECONDS",
                           help="http(s) inputs: how long a read waits for the next bytes before it fails "
                                "(default 60, or $PROVENANCE_READ_TIMEOUT); a slow but steady download has no time limit.")


def set_read_timeout(seconds: Optional[float]) -> None:
    """--read-timeout: kept in the environment, where the URL readers (and worker processes) find it."""
    if seconds is None:
        return
    if not 0 < seconds < 1e6:
        raise ParameterError(f"--read-timeout must be a number of seconds > 0, got {seconds:g}")
    os.environ["PROVENANCE_READ_TIMEOUT"] = repr(float(seconds))


KeyFile = typer.Option(None, "--key-file", metavar="KEY",
                       help="Secret key of a keyed index: a file of at least 16 random bytes (make one with: "
                            "head -c 32 /dev/urandom > KEY). Needed to scan or verify against the index.")
SealKeyFile = typer.Option(None, "--seal-key-file", metavar="KEY",
                           help="Key that seals the scan's evidence.json with an HMAC only its holders can make or "
                                "check (a file of at least 16 random bytes; default: the --key-file of a keyed "
                                "index). Without any key the seal is a checksum: it finds accidents, not forgery.")


class _Stderr:
    """rich's Console on stderr, made on first use."""

    _console: Any = None

    def console(self) -> Any:
        """The Console itself, for rich objects that take one (a proxy is not a context manager)."""
        if self._console is None:
            from rich.console import Console

            type(self)._console = Console(stderr=True)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console(), name)


err: Any = _Stderr()


def escape(text: str) -> str:
    """rich's markup escape."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def fail(message: str, code: int = 2) -> None:
    """One line, ``error: MESSAGE``, on stderr (a message of several lines is joined); exit with ``code``."""
    message = " ".join(line.strip() for line in message.splitlines() if line.strip())
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def load_key(path: Optional[Path]) -> Key | None:
    """The secret key in the file ``--key-file`` names (None without the option)."""
    from ..keys import Key

    return Key.from_file(path) if path is not None else None


def size_option(text: str, option: str) -> int:
    """A size option such as ``256MiB`` in bytes (at least 1 MiB)."""
    from ..index.spill import parse_size

    try:
        size = parse_size(text)
    except ValueError as e:
        raise ParameterError(f"{option}: {e}") from None
    if size < 1 << 20:
        raise ParameterError(f"{option}: at least 1MiB, got {text!r}")
    return size


class Bar:
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
def progress(quiet: bool, label: str, paths: Sequence[str | Path], fmt: Optional[str] = None) -> Iterator[Bar]:
    """A progress bar over the input files ``paths`` give, while the block runs (none with --quiet or off a terminal)."""
    if quiet or not err.is_terminal:  # no bars in logs and pipes
        yield Bar(None, label, 0)
        return
    from rich.progress import (BarColumn, DownloadColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    from ..api import input_bytes

    total = input_bytes(paths, fmt)
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), DownloadColumn(),
               TransferSpeedColumn(), TextColumn("{task.fields[records]:,} records"), TimeRemainingColumn())
    # Transient: the bar disappears when the step ends (or fails), leaving the table or the error line.
    with Progress(*columns, console=err.console(), transient=True) as bars:
        yield Bar(bars, label, total)


def show_skipped(skipped: Skipped, where: str) -> None:
    """The count of bad records and files left out, on stderr (also with --quiet: it changes the results)."""
    if skipped:
        err.print(f"{escape(skipped.line())}; first of each kind in {where}", highlight=False, soft_wrap=True)


def show_scan(result: ScanResult, quiet: bool, as_json: bool) -> None:
    """A scan's summary (JSON on stdout with --json; the table and the files written on stderr), notes and skips."""
    from ..results.table import summary_table

    if as_json:
        print_json(result.summary)
    if not quiet:
        err.print(summary_table(result.summary, result.run))
        if result.out_dir is not None:
            err.print(f"wrote {result.out_dir / 'matches.parquet'}, {result.out_dir / 'summary.json'} and "
                      f"{result.out_dir / 'evidence.json'}")
    for note in result.run.get("notes", []):
        err.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    show_skipped(Skipped.from_dict(result.summary.get("skipped")), "summary.json 'skipped'")
