"""The bundled demo: where the fixtures are, its index build and scan, and how a scan's matches compare with the
planted truth."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from .errors import ProvenanceError

if TYPE_CHECKING:
    from .api import Progress, ScanResult
    from .index import Index, ShardedIndex

__all__ = ["fixtures_dir", "DemoPaths", "build_demo_index", "scan_demo", "TruthCheck", "check_against_truth", "truth_table",
           "example_lines"]


def fixtures_dir() -> Path:
    """The repository's ``fixtures/`` folder (or ``$PROVENANCE_FIXTURES``)."""
    env = os.environ.get("PROVENANCE_FIXTURES")
    path = Path(env) if env else Path(__file__).resolve().parents[1] / "fixtures"
    if not (path / "planted" / "truth.csv").is_file():
        raise ProvenanceError(f"{path}: bundled fixtures not found (run from a source checkout, "
                              "installed with 'pip install -e .', or set PROVENANCE_FIXTURES)")
    return path


@dataclass(frozen=True)
class TruthCheck:
    """Matches against ``fixtures/planted/truth.csv``: recall per edit type and false matches."""

    by_edit: pl.DataFrame  # edit, planted, found, recall
    planted: int
    found: int
    false_matches: int
    hard_negatives_reported: int

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 0.0


def read_truth(fixtures: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    ids = {"post_id": pl.String, "doc_id": pl.String, "tweet_id": pl.String}
    truth = pl.read_csv(fixtures / "planted" / "truth.csv", schema_overrides=ids)
    hard = pl.read_csv(fixtures / "planted" / "hard_negatives.csv", schema_overrides=ids)
    return truth, hard


def check_against_truth(matches: pl.DataFrame, fixtures: Path) -> TruthCheck:
    """Compare the (post_id, doc_id) pairs of ``matches`` that count (generic ones left out) with the
    planted truth."""
    from .results.outputs import split_generic

    matches = split_generic(matches)[0]
    truth, hard = read_truth(fixtures)
    pairs = matches.select("post_id", "doc_id").unique()
    hit = truth.join(pairs, on=["post_id", "doc_id"], how="semi")
    by_edit = (
        truth.group_by("edit").len("planted")
        .join(hit.group_by("edit").len("found"), on="edit", how="left")
        .with_columns(pl.col("found").fill_null(0))
        .with_columns((pl.col("found") / pl.col("planted")).alias("recall"))
        .sort("edit")
    )
    false_pairs = pairs.join(truth, on=["post_id", "doc_id"], how="anti")
    hard_hits = hard.rename({"tweet_id": "post_id"}).join(pairs, on=["post_id", "doc_id"], how="semi")
    return TruthCheck(by_edit, truth.height, hit.height, false_pairs.height, hard_hits.height)


def truth_table(check: TruthCheck):
    """A rich Table of recall per edit type."""
    from rich.table import Table

    table = Table(title="planted truth (fixtures/planted/truth.csv)", header_style="bold")
    table.add_column("edit")
    table.add_column("planted", justify="right")
    table.add_column("found", justify="right")
    table.add_column("recall", justify="right")
    for edit, planted, found, recall in check.by_edit.iter_rows():
        table.add_row(edit, str(planted), str(found), f"{recall:.2f}")
    table.add_row("all", str(check.planted), str(check.found), f"{check.recall:.3f}", style="bold")
    table.caption = (f"false matches (pairs not planted): {check.false_matches}; "
                     f"hard negatives reported: {check.hard_negatives_reported}")
    return table


def example_lines(matches: pl.DataFrame, fixtures: Path, k: int = 2) -> str:
    """The strongest and the weakest matches, with the matched span quoted from the document text."""
    if matches.height == 0:
        return "no matches"
    from .text.background import chance

    docs = pl.read_ndjson(fixtures / "planted" / "corpus.jsonl.gz").select("id", "text")
    ranked = matches.sort(["coverage", "containment", "doc_id"], descending=True)
    lines = []
    for title, part in (("strongest", ranked.head(k)), ("weakest", ranked.tail(k).reverse())):
        lines.append(f"{title} matches:")
        for r in part.join(docs, left_on="doc_id", right_on="id", maintain_order="left").iter_rows(named=True):
            span = r["text"][r["doc_start"] : r["doc_end"]].replace("\n", " ⏎ ")
            bits = f", {r['evidence_bits']:.0f} bits ({chance(r['evidence_bits'])})" if "evidence_bits" in r else ""
            lines.append(f"  post {r['post_id']} in {r['doc_id']}[{r['doc_start']}:{r['doc_end']}] {r['method']}, "
                         f"containment {r['containment']:.2f}, coverage {r['coverage']:.2f}{bits}: “{span}”")
    return "\n".join(lines)


@dataclass(frozen=True)
class DemoPaths:
    """The demo's inputs (bundled fixtures) and outputs (the index and the scan under ``out``)."""

    fixtures: Path
    out: Path

    @property
    def posts(self) -> Path:
        return self.fixtures / "posts" / "airline_tweets.csv"

    @property
    def corpus(self) -> Path:
        return self.fixtures / "planted" / "corpus.jsonl.gz"

    @property
    def index_dir(self) -> Path:
        return self.out / "index"

    @property
    def scan_dir(self) -> Path:
        return self.out / "scan"


def build_demo_index(paths: DemoPaths, on_progress: Progress | None = None) -> Index | ShardedIndex:
    """Index the bundled tweets (ids and the author and date columns kept), replacing an earlier demo index."""
    from . import api

    return api.build_index([paths.posts], paths.index_dir, id_field="tweet_id", meta_fields=["name", "tweet_created"],
                           force=True, on_progress=on_progress)


def scan_demo(index: Index | ShardedIndex, paths: DemoPaths, on_progress: Progress | None = None) -> ScanResult:
    """Scan the bundled corpus (with planted copies) against the demo index, replacing an earlier demo scan."""
    from . import api

    return api.scan(index, [paths.corpus], paths.scan_dir, on_progress=on_progress, force=True)
