"""``provenance verify``: :func:`provenance.results.evidence.verify` of a scan's evidence, a line per difference
(or JSON); exit status 0 if all agree, 1 if not."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import AsJson, KeyFile, load_key, print_json


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
    from ..results.evidence import verify as verify_scan

    result = verify_scan(out_dir, index_dir, key=load_key(key_file))
    if as_json:
        print_json({"ok": result.ok, "matches": result.matches, "documents": result.documents,
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
