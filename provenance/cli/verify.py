"""``provenance verify``: :func:`provenance.results.evidence.verify` of a scan's evidence, a line per difference
(or JSON); exit status 0 if all agree, 1 if not."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import AsJson, KeyFile, SealKeyFile, load_key, print_json


def verify(
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="Output directory of a scan."),
    paths: Optional[List[Path]] = typer.Argument(None, metavar="INPUTS",
                                                 help="Folders (or files) holding the scan's inputs, as --inputs."),
    inputs: Optional[List[Path]] = typer.Option(None, "--inputs", metavar="DIR",
                                                help="A folder (or file) whose files verify may read as the scan's "
                                                     "inputs; repeat for more. Default: the current directory. An "
                                                     "input the evidence names elsewhere is refused, unread."),
    allow_remote: bool = typer.Option(False, "--allow-remote",
                                      help="Also read the inputs the evidence names by URL (http, s3, ...)."),
    index_dir: Optional[Path] = typer.Option(None, "--index", help="The index, if it is no longer where the scan found it."),
    key_file: Optional[Path] = KeyFile,
    seal_key_file: Optional[Path] = SealKeyFile,
    as_json: bool = AsJson,
) -> None:
    """Check a scan's evidence again: result files, index, input checksums, every match (the matched
    documents are scanned again, so a keyed index needs its --key-file), summary.json against the matches,
    and with a key the evidence's keyed seal. Exit status 0 if all agree, 1 if something differs (a line each).

    Example: provenance verify out --inputs corpus/   (a keyed index: add --key-file KEY)
    """
    from ..results.evidence import verify as verify_scan

    result = verify_scan(out_dir, index_dir, key=load_key(key_file), seal_key=load_key(seal_key_file),
                         inputs=[*(paths or []), *(inputs or [])] or None, allow_remote=allow_remote)
    if as_json:
        print_json({"ok": result.ok, "matches": result.matches, "documents": result.documents,
                    "inputs": result.inputs, "index": result.index, "seal": result.seal,
                    "problems": [{"what": p.what, "message": p.message} for p in result.problems]})
    else:
        for p in result.problems:
            print(f"differs: {p.message}")
        if result.ok:
            print(f"verified: {result.matches:,} matches in {result.documents:,} documents, {result.inputs:,} "
                  f"input files and the index {result.index} are as the scan recorded them (seal: {result.seal})")
        else:
            print(f"not verified: {len(result.problems):,} differences")
    raise typer.Exit(0 if result.ok else 1)
