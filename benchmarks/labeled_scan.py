"""The scanner itself on the labeled pair sets: each pair's left text indexed as a post, its right text
scanned as a document, with every match listed (``min_evidence_bits`` 0, ``max_shared_posts`` 0) so that
the evidence thresholds can be applied afterwards, each setting on the same matches.

A pair is *reported* when the scan matches its post in its own document (a post found in another pair's
document is not scored: those pairs carry no label). Classes the pair set leaves out of precision and
recall (``positive[c] is None``) are left out here too. Used by ``benchmarks/thresholds.py``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import polars as pl

from provenance import api
from provenance.match.shared import SHARED_SPAN_TOKENS
from provenance.params import ScanParams

from .data import LabeledPairs

__all__ = ["BITS", "SHARED", "scan_pairs", "counted", "figures"]

BITS = (35.0, 0.0, 25.0, 30.0, 40.0, 50.0)
SHARED = (4, 0, 1, 2, 8)


def scan_pairs(pairs: LabeledPairs, params: ScanParams = ScanParams(min_evidence_bits=0.0, max_shared_posts=0)
               ) -> pl.DataFrame:
    """One row per labeled pair: ``label`` (True/False), ``found`` and, for the pair's strongest match,
    ``method``, ``evidence_bits``, ``shared_posts``, ``span_tokens``."""
    with tempfile.TemporaryDirectory() as tmp:
        posts = Path(tmp) / "posts.jsonl"
        posts.write_text("".join(json.dumps({"id": f"p{i}", "text": t}) + "\n" for i, t in enumerate(pairs.left)),
                         encoding="utf-8")
        index = api.build_index([posts], Path(tmp) / "idx", id_field="id")
        matches = api.scan_texts(index, pairs.right, ids=[f"p{i}" for i in range(len(pairs))], params=params).matches
    own = (matches.filter(pl.col("post_id") == pl.col("doc_id"))
           .sort("evidence_bits", descending=True).unique("post_id", keep="first", maintain_order=True)
           .select(pl.col("post_id").str.slice(1).cast(pl.Int64).alias("pair"), "method", "evidence_bits", "shared_posts",
                   "span_tokens"))
    labels = [pairs.positive[c] for c in pairs.classes]
    frame = pl.DataFrame({"pair": np.arange(len(pairs)), "label": labels}, schema={"pair": pl.Int64, "label": pl.Boolean})
    return (frame.filter(pl.col("label").is_not_null()).join(own, on="pair", how="left")
            .with_columns(found=pl.col("method").is_not_null()))


def counted(rows: pl.DataFrame, min_bits: float, max_shared: int) -> pl.Series:
    """Which pairs a scan with these two thresholds would count (not generic)."""
    shared = (pl.col("span_tokens") < SHARED_SPAN_TOKENS) & (pl.col("shared_posts").fill_null(0) > max_shared)
    keep = pl.col("found") & (pl.col("evidence_bits") >= min_bits)
    if max_shared:
        keep = keep & ~shared
    return rows.select(keep.fill_null(False).alias("counted"))["counted"]


def _prf(rows: pl.DataFrame, called: pl.Series) -> dict[str, Any]:
    y = rows["label"].to_numpy()
    c = called.to_numpy()
    tp, fp = int((c & y).sum()), int((c & ~y).sum())
    pos = int(y.sum())
    p = tp / (tp + fp) if tp + fp else None
    r = tp / pos if pos else None
    f1 = 2 * p * r / (p + r) if p and r else None
    return {"called": tp + fp, "tp": tp, "fp": fp, "precision": p, "recall": r, "f1": f1}


def figures(rows: pl.DataFrame, bits: Sequence[float] = BITS, shared: Sequence[int] = SHARED) -> dict[str, Any]:
    """Precision, recall and F1 of the scanner at each ``min_evidence_bits`` (``max_shared_posts`` at its
    default) and each ``max_shared_posts`` (bits at the default), and the methods of what the defaults count."""
    d = ScanParams()
    at_default = counted(rows, d.min_evidence_bits, d.max_shared_posts)
    methods = rows.filter(at_default)["method"].value_counts().sort("method")
    return {
        "positives": int(rows["label"].sum()), "negatives": int((~rows["label"]).sum()),
        "found_any": _prf(rows, rows["found"]),
        "by_bits": [{"min_evidence_bits": b, **_prf(rows, counted(rows, b, d.max_shared_posts))} for b in bits],
        "by_shared": [{"max_shared_posts": k, **_prf(rows, counted(rows, d.min_evidence_bits, k))} for k in shared],
        "methods_counted": dict(methods.iter_rows()),
    }
