"""Command line: a thin typer layer over :mod:`provenance.api`. Parse, call, render; nothing more.

One module per command (``index`` holds the ``index`` group's two), assembled here into the app;
what several commands share (options, console, progress bars) is in :mod:`provenance.cli.common`.
Results go to files (``-o``) or stdout (``--json``); progress bars, tables and errors go to stderr.
Every error a user can cause is one line, ``error: FILE[:ROW]: what``, and exit status 2.
"""

from __future__ import annotations

import os
import signal
import sys

import typer

from ..version import __version__
from ..errors import Interrupted, ProvenanceError
from . import demo, evaluate, index, report, scan, verify
from .common import err, escape, fail

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


index_app.command("build")(index.build)
index_app.command("info")(index.info)
index_app.command("compact")(index.compact)
app.command("scan")(scan.scan)
app.command("verify")(verify.verify)
app.command("report")(report.report)
app.command("eval")(evaluate.evaluate)
app.command("demo")(demo.demo)


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def main() -> None:
    """Entry point: typer handles usage errors (exit 2); user errors become one line and exit 2.
    SIGINT and SIGTERM stop the command (its worker processes too) with one line saying what was
    kept, and exit 128 + the signal's number (130, 143)."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except ProvenanceError as e:
        fail(str(e))
    except (KeyboardInterrupt, Interrupted) as e:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # (a second Ctrl-C does not cut the line)
        kept = e.kept if isinstance(e, Interrupted) else str(e)
        err.print(f"interrupted: {escape(kept)}" if kept else "interrupted", highlight=False, soft_wrap=True)
        sys.exit(128 + (e.signum if isinstance(e, Interrupted) else signal.SIGINT))
    except Exception as e:  # a bug, not a user error: one line unless asked for the traceback
        if os.environ.get("PROVENANCE_DEBUG"):
            raise
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]  # (polars' messages add a plan)
        said = (lines[0] + (" …" if len(lines) > 1 else "")) if lines else ""
        fail(f"internal error: {type(e).__name__}: {said} (set PROVENANCE_DEBUG=1 for the traceback)", code=3)
