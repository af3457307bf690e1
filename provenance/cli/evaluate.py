"""``provenance eval``: :func:`provenance.api.evaluate` of a scan against labelled pairs, as a table on
standard output, JSON (``--json``) or a CSV/TSV file (``-o``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import ParameterError
from .common import AsJson, err, escape, print_json


def _thresholds(text: Optional[str]) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ParameterError(f"--thresholds: numbers separated by commas, e.g. 0.5,0.7,0.9; got {text!r}") from None


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def evaluate(
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="Output directory of a scan (or its matches.parquet)."),
    pairs: Path = typer.Argument(..., metavar="PAIRS", help="Labelled pairs: CSV, TSV or JSONL (.gz too), a row per "
                                                            "pair with a post id, a document id and a label (1/0)."),
    score: str = typer.Option("containment", "--score", help="The matches.parquet column thresholds are put on: "
                                                             "containment, coverage, jaccard, evidence_bits, "
                                                             "span_tokens or matched_shingles."),
    thresholds: Optional[str] = typer.Option(None, "--thresholds", metavar="T1,T2,...",
                                             help="Thresholds of --score [default: 11 steps from its lowest to its "
                                                  "highest value among the matches]."),
    post_field: str = typer.Option("post_id", "--post-field", help="Column of PAIRS holding the post id."),
    doc_field: str = typer.Option("doc_id", "--doc-field", help="Column of PAIRS holding the document id."),
    label_field: str = typer.Option("label", "--label-field", help="Column of PAIRS holding the label (1/0, "
                                                                   "true/false, yes/no)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Also write the table to this .csv or .tsv file."),
    as_json: bool = AsJson,
) -> None:
    """Score a scan against labelled (post, document) pairs: precision, recall and F1 at each threshold of
    --score, with the rows that count, the generic rows alone, and all rows.

    Example: provenance eval out pairs.tsv --score jaccard --thresholds 0.3,0.5,0.7
    """
    import polars as pl

    from .. import api

    if output is not None and output.suffix.lower() not in (".csv", ".tsv"):
        raise ParameterError(f"{output}: -o writes .csv or .tsv")
    result = api.evaluate(out_dir, pairs, score=score, thresholds=_thresholds(thresholds), post_field=post_field,
                          doc_field=doc_field, label_field=label_field)
    if output is not None:
        result.table.write_csv(output, separator="\t" if output.suffix.lower() == ".tsv" else ",")
    for note in result.notes:
        err.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
    if as_json:
        print_json(result.to_dict())
        return
    print(f"{result.pairs:,} labelled pairs ({result.positives:,} positive, {result.negatives:,} negative); "
          f"score: {result.score}")
    header = ("rows", "threshold", "predicted", "tp", "fp", "fn", "unlabelled", "precision", "recall", "f1")
    table = result.table
    if table.filter(pl.col("rows") == "generic")["predicted"].sum() == 0:  # (then 'all' is 'counted' again)
        table = table.filter(pl.col("rows") == "counted")
        print("no generic match rows: all rows = the rows that count")
    lines = [header] + [tuple("any" if k == "threshold" and r[k] is None else _cell(r[k]) for k in header)
                        for r in table.iter_rows(named=True)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
    best = result.best("counted")
    if best is not None:
        print(f"best F1 of the rows that count: {best['f1']:.4f} at {result.score} >= {best['threshold']:g} "
              f"(precision {best['precision']:.4f}, recall {best['recall']:.4f})")
