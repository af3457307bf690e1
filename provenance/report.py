"""Scan outputs: ``matches.parquet`` and ``summary.json`` written atomically, and the terminal table."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from .durable import atomic_write, remove_stale, write_json
from .errors import ProvenanceError
from .match.background import chance

__all__ = ["MATCH_SCHEMA", "MATCH_COLUMNS_DOC", "write_outputs", "summary_table"]

MATCH_SCHEMA: dict[str, pl.DataType] = {
    "doc_id": pl.String,
    "post_id": pl.String,
    "source": pl.String,
    "row": pl.Int64,
    "containment": pl.Float64,
    "coverage": pl.Float64,
    "jaccard": pl.Float64,
    "doc_start": pl.Int64,
    "doc_end": pl.Int64,
    "doc_text": pl.String,
    "doc_chars": pl.Int64,
    "method": pl.String,
    "span_tokens": pl.Int64,
    "matched_shingles": pl.Int64,
    "post_shingles": pl.Int64,
    "evidence_bits": pl.Float64,
    "shared_posts": pl.Int64,
    "generic": pl.Boolean,
}

MATCH_COLUMNS_DOC = {
    "doc_id": "document id (id field, or FILE:ROW)",
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
    "doc_chars": "characters of the whole document",
    "method": "containment | containment_prefix (copy cut off with …) | aligned (an edited copy: tokens in order, "
              "few words changed) | partial (a verbatim run of at least half the post) | exact_short | jaccard",
    "span_tokens": "tokens covered by the matched span",
    "matched_shingles": "distinct post shingles found in the span",
    "post_shingles": "distinct shingles of the post (of its matched prefix for containment_prefix)",
    "evidence_bits": "information content of the matched span under a background model of ordinary English: "
                     "such text would write it by chance about once in 2^bits words",
    "shared_posts": "indexed posts that hold the rarest of the post's shingles found in the span (exact_short: "
                    "of the span's shingles, or posts with the same normalized text if more); a shingle of more than max_key_posts posts counts as "
                    "max_key_posts + 1; empty for spans of 10 tokens or more (never generic for being shared)",
    "generic": "evidence_bits below --min-evidence-bits, or a span under 10 tokens that more than --max-shared-posts "
               "posts share: as likely a stock phrase as a copy; listed, but not counted in the shares",
}


def write_outputs(out_dir: str | Path, matches: pl.DataFrame, summary: dict[str, Any],
                  run: dict[str, Any] | None = None) -> Path:
    """Write ``matches.parquet``, ``summary.json`` and (given) ``run.json`` into ``out_dir`` (created if
    needed). The first two depend only on the inputs and parameters (byte for byte); what changes
    from run to run (times, units reused) is in ``run.json``."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProvenanceError(f"{out}: cannot create output directory ({e.strerror})") from None
    if not out.is_dir():
        raise ProvenanceError(f"{out}: not a directory")
    remove_stale(out)  # what a killed scan left
    atomic_write(out / "matches.parquet", lambda p: matches.write_parquet(p, statistics=True))
    write_json(out / "summary.json", summary)
    if run is not None:
        write_json(out / "run.json", run)
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def summary_table(summary: dict[str, Any], run: dict[str, Any] | None = None):
    """A rich Table with the headline figures of a scan summary (and its time, from ``run``)."""
    from rich.table import Table

    s = summary
    table = Table(title="provenance scan", show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("share", justify="right")
    table.add_row("posts indexed", f"{s['posts_indexed']:,}", "")
    table.add_row("posts found in the corpus", f"{s['posts_matched']:,}", _pct(s["share_posts_matched"]))
    table.add_row("  of them short posts (exact match)", f"{s['short_posts_matched']:,}",
                  f"of {s['short_posts_indexed']:,} short")
    est = s.get("estimates", {})
    sampled = s.get("docs_total", s["docs_scanned"]) > s["docs_scanned"]

    def share(name: str) -> str:
        e = est.get(name)
        if not sampled or not e:
            return _pct(s[name])
        return f"{_pct(e['value'])} ({_pct(e['ci_low'])} – {_pct(e['ci_high'])})"

    if sampled:
        table.add_row("documents read / sampled and scanned", f"{s['docs_total']:,} / {s['docs_scanned']:,}",
                      f"{est.get('confidence', 0.95):.0%} intervals below")
    else:
        table.add_row("documents scanned", f"{s['docs_scanned']:,}", "")
    table.add_row("documents containing posts", f"{s['docs_matched']:,}", share("share_docs_matched"))
    table.add_row("corpus characters", f"{s['corpus_chars']:,}", "")
    table.add_row("characters that are posts", f"{s['matched_chars']:,}", share("share_chars_matched"))
    table.add_row("verified matches", f"{s['matches']:,}",
                  ", ".join(f"{k} {v}" for k, v in s.get("matches_by_method", {}).items()))
    g = s.get("generic")
    if g:
        bits = s.get("params", {}).get("scan", {}).get("min_evidence_bits")
        table.add_row("  of them generic (stock phrases, not counted above)", f"{g['matches']:,}",
                      f"under {bits:g} bits" if bits is not None else "")
    table.add_row("candidate pairs / verified exactly", f"{s['candidates']:,} / {s['candidates_verified']:,}", "")
    table.add_row("frequent shingles (not used as candidate keys)", f"{s['frequent_shingles']:,}", "")
    if run is not None:
        total = run.get("seconds", {}).get("total", 0.0)
        rate = f"{s['corpus_chars'] / total / 1e6:.1f} M characters/s" if total > 0 else ""
        table.add_row("scan time", f"{total:.2f} s", rate)
    return table


# ----------------------------------------------------------------------------- provenance report


def _table(frame: pl.DataFrame, formats: dict[str, str] | None = None) -> str:
    """A Markdown table of ``frame`` (numbers right-aligned, ``formats`` per column)."""
    formats = formats or {}

    def cell(name: str, v: Any) -> str:
        if v is None:
            return "–"
        if name in formats:
            return formats[name].format(v)
        if isinstance(v, float):
            return f"{v:.4f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    numeric = [dt.is_numeric() for dt in frame.dtypes]
    lines = ["| " + " | ".join(frame.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(c, v) for c, v in zip(frame.columns, r)) + " |" for r in frame.iter_rows()]
    return "\n".join(lines)


def report_data(out_dir: str | Path, index_dir: str | Path | None = None, *, author_field: str | None = None,
                date_field: str | None = None, top: int = 20, posts: PostsSource | None = None) -> dict[str, Any]:
    """The tables of the two-sided report (see :func:`markdown_report`), from ``summary.json``,
    ``matches.parquet`` and the index's ``posts.parquet``; the texts of the posts found from ``posts``
    (the post files the index was built from), given."""
    from .estimate import AUTHOR_FIELDS, DATE_FIELDS, exposure, licensed_documents, month_of, pick_field, posts_by

    from .durable import sha256_of
    from .evidence import EVIDENCE, check_results
    from .index import open_index

    out = Path(out_dir)
    if (out / EVIDENCE).is_file():  # no report from altered results
        problems = check_results(out)
        if problems:
            raise ProvenanceError(f"{problems[0].message} (see: provenance verify {out})")
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        matches = pl.read_parquet(out / "matches.parquet")
    except (OSError, ValueError, pl.exceptions.PolarsError) as e:
        raise ProvenanceError(f"{out}: not the output directory of a finished scan ({e})") from None
    index_path = Path(index_dir) if index_dir is not None else Path(summary["index"]["path"])
    if not (index_path / "manifest.json").is_file():
        raise ProvenanceError(f"{index_path}: no index here (name it with --index)")
    index = open_index(index_path, verify=False)  # (checks the manifests' own checksums)
    from .index.shards import shards_of

    posts_files = []
    for shard, _ in shards_of(index):  # an unsharded index is one shard; each shard has its own posts
        posts_file = shard.path / "posts.parquet"
        if sha256_of(posts_file) != shard.manifest["files"]["posts.parquet"]["sha256"]:
            raise ProvenanceError(f"{posts_file}: checksum differs from the manifest (damaged or altered index)")
        posts_files.append(posts_file)
    manifest = index.manifest
    columns = list(pl.read_parquet_schema(posts_files[0]))
    author = pick_field(columns, AUTHOR_FIELDS, author_field)
    date = pick_field(columns, DATE_FIELDS, date_field)
    wanted = ["post_id", *(c for c in (author, date) if c)]
    posts_meta = pl.concat([pl.read_parquet(f, columns=wanted) for f in posts_files])
    specific, generic = split_generic(matches)
    found_ids = specific["post_id"].unique()
    exp = exposure(specific)
    if author or date:
        exp = exp.join(posts_meta.rename({c: c.removeprefix("meta_") for c in wanted[1:]}), on="post_id", how="left")
    per_input = pl.DataFrame([{k: i.get(k) for k in ("path", "docs_scanned", "docs_matched", "share_docs_matched",
                                                     "corpus_chars", "matched_chars", "share_chars_matched")}
                              for i in summary["inputs"]])
    return {
        "summary": summary, "index": index_path, "matches": matches, "top": top,
        "author": author and author.removeprefix("meta_"), "date": date and date.removeprefix("meta_"),
        "by_author": posts_by(posts_meta, found_ids, pl.col(author), "author") if author else None,
        "by_month": (posts_by(posts_meta, found_ids, month_of(pl.col(date).cast(pl.String)), "month").sort("month")
                     if date else None),
        "exposure": exp, "per_input": per_input, "documents": licensed_documents(specific),
        "generic": generic_table(generic, specific),
        "texts": (post_texts(posts, matches["post_id"].unique().to_list(), manifest.get("fields", {}))
                  if posts is not None else index_texts(index, matches["post_id"].unique())),
    }


@dataclass(frozen=True)
class PostsSource:
    """Where ``provenance report --posts`` reads the posts' texts: the post files the index was built
    from, with the fields it was built with (default: the ones the index's manifest records)."""

    paths: tuple[str | Path, ...]
    text_field: str | None = None
    id_field: str | None = None
    fmt: str | None = None


def post_texts(source: PostsSource, wanted: list[str], fields: dict[str, Any]) -> dict[str, str]:
    """The texts of the posts ``wanted`` (ids), read from ``source`` with the project's readers (only
    those texts are kept). A file without the id or text field, or in which none of the wanted posts
    is, is an error naming it."""
    from .io import expand_inputs
    from .scan.units import read_batches

    text_field = source.text_field or fields.get("text") or "text"
    id_field = source.id_field if source.id_field is not None else fields.get("id")
    files = expand_inputs(list(source.paths), source.fmt)
    want, found = set(wanted), {}
    for batch in read_batches(files, text_field, id_field):
        for pid, text in zip(batch.ids, batch.texts):
            if pid in want and pid not in found:
                found[pid] = text
    if want and not found:
        names = ", ".join(str(p) for p in source.paths)
        raise ProvenanceError(f"{names}: none of the {len(want):,} posts found has its id here (ids from "
                              f"{repr(id_field) if id_field else 'FILE:ROW'}; is it the file the index was built "
                              "from? name the id column with --id-field)")
    return found


def index_texts(index: Any, wanted: pl.Series) -> dict[str, str] | None:
    """The texts of the posts ``wanted`` (ids) from an index built with ``--keep-text`` (each shard's
    ``post_texts.parquet``, checked against its manifest), or None if the index keeps none."""
    from .durable import sha256_of
    from .index.format import POST_TEXTS
    from .index.shards import shards_of

    shards = [shard for shard, _ in shards_of(index)]
    if not all(POST_TEXTS in shard.manifest.get("files", {}) for shard in shards):
        return None
    found: dict[str, str] = {}
    for shard in shards:
        f = shard.path / POST_TEXTS
        if not f.is_file() or sha256_of(f) != shard.manifest["files"][POST_TEXTS]["sha256"]:
            raise ProvenanceError(f"{f}: missing, or its checksum differs from the manifest (damaged or altered index)")
        rows = pl.scan_parquet(f).filter(pl.col("post_id").is_in(wanted.implode())).collect()
        found.update(zip(rows["post_id"].to_list(), rows["text"].to_list()))
    return found


def diff_pieces(post: str, span: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Post and document span cut into pieces ``(text, differs)``: the runs of normalized tokens (as
    the scan compares them) that one has and the other lacks, by difflib's SequenceMatcher over the
    two token sequences, are the pieces that differ; what normalization drops (case, links, mentions,
    punctuation) never differs."""
    from difflib import SequenceMatcher

    from .text.offsets import tokenize_with_offsets

    a, b = tokenize_with_offsets(post), tokenize_with_offsets(span)
    ops = SequenceMatcher(None, a.words, b.words, autojunk=False).get_opcodes()

    def pieces(text: str, toks, runs: list[tuple[int, int]]) -> list[tuple[str, bool]]:
        out, pos = [], 0
        starts, ends = toks.starts.tolist(), toks.ends.tolist()
        for i, j in runs:
            s, e = max(starts[i], pos), ends[j - 1]
            if s > pos:
                out.append((text[pos:s], False))
            if e > s:
                out.append((text[s:e], True))
            pos = max(pos, e)
        if pos < len(text):
            out.append((text[pos:], False))
        return out

    return (pieces(post, a, [(i1, i2) for tag, i1, i2, _, _ in ops if tag in ("replace", "delete")]),
            pieces(span, b, [(j1, j2) for tag, _, _, j1, j2 in ops if tag in ("replace", "insert")]))


NO_TEXTS = ("post texts: pass --posts FILE (the posts the index was built from) or build the index with --keep-text "
            "to see each post beside its span")


def split_generic(matches: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The matches that count and the generic ones (all count in results older than the ``generic``
    column)."""
    if "generic" not in matches.columns:
        return matches, matches.head(0)
    return matches.filter(~pl.col("generic")), matches.filter(pl.col("generic"))


def generic_table(generic: pl.DataFrame, specific: pl.DataFrame) -> pl.DataFrame:
    """The generic matches by post: documents, the strongest span's bits, and that span."""
    if not generic.height:
        return pl.DataFrame(schema={"post_id": pl.String, "docs": pl.UInt32, "evidence_bits": pl.Float64,
                                    "also_specific": pl.Boolean, "doc_text": pl.String})
    return (generic.sort("evidence_bits", descending=True)
            .group_by("post_id", maintain_order=True)
            .agg(docs=pl.struct("source", "row").n_unique(), evidence_bits=pl.col("evidence_bits").first(),
                 doc_text=pl.col("doc_text").first())
            .with_columns(also_specific=pl.col("post_id").is_in(specific["post_id"].implode()))
            .select("post_id", "docs", "evidence_bits", "also_specific", "doc_text")
            .sort(["docs", "evidence_bits"], descending=[True, False]))


_GENERIC_WORDS = ("A match is *generic* when ordinary English text would write its span by chance more often "
                  "than once in 2^{bits:g} words (its evidence_bits under a background word-trigram model of "
                  "Wikipedia; below --min-evidence-bits): a stock phrase is as likely as a copy. Generic matches "
                  "are listed in matches.parquet but left out of every count and share above.")


def _headline_rows(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [("posts found in the corpus", f"{s['posts_matched']:,} of {s['posts_indexed']:,}", f"{s['share_posts_matched']:.2%}"),
            ("documents containing posts", f"{s['docs_matched']:,} of {s['docs_scanned']:,}", f"{s['share_docs_matched']:.2%}"),
            ("characters that are posts", f"{s['matched_chars']:,} of {s['corpus_chars']:,}", f"{s['share_chars_matched']:.2%}"),
            ("verified matches", f"{s['matches']:,}", ""),
            *([("  of them generic (stock phrases, not counted)", f"{s['generic']['matches']:,}",
                f"{s['generic']['posts']:,} posts only so")] if s.get("generic", {}).get("matches") else [])]


def top_matches(d: dict[str, Any]) -> pl.DataFrame:
    """The ``top`` matches that count, strongest first (containment, then span length)."""
    m = split_generic(d["matches"])[0]
    return m.sort(["containment", "span_tokens", "doc_id", "post_id"], descending=[True, True, False, False]).head(d["top"])


def _md_text(text: str) -> str:
    """``text`` as inline Markdown: one line, the characters Markdown would read escaped."""
    import re

    return re.sub(r"([\\`*_~|<>\[\]#])", r"\\\1", re.sub(r"\s+", " ", text))


def _md_pieces(pieces: list[tuple[str, bool]], mark: str) -> str:
    return "".join(f"{mark}{_md_text(t)}{mark}" if differs and t.strip() else _md_text(t) for t, differs in pieces).strip()


def _md_matches(d: dict[str, Any]) -> list[str]:
    tm, texts = top_matches(d), d["texts"]
    lines = ["## Top matches", "", f"The {tm.height:,} strongest matches (highest containment first)."]
    if texts is None:
        lines += ["", f"({NO_TEXTS}.)", "", _table(tm.select("post_id", "doc_id", "containment", "method", "doc_text")), ""]
        return lines
    lines += ["", "Each post beside the document's span: ~~struck~~ words of the post are not in the span, **bold** "
              "words of the span are not in the post (normalized words compared, as the scan does).", "",
              "| post_id | doc_id | containment | method | post text | document span |", "|---|---|---:|---|---|---|"]
    for r in tm.iter_rows(named=True):
        text = texts.get(r["post_id"])
        if text is None:
            post, span = "(text not found)", _md_text(r["doc_text"] or "")
        else:
            a, b = diff_pieces(text, r["doc_text"] or "")
            post, span = _md_pieces(a, "~~"), _md_pieces(b, "**")
        lines.append(f"| {_md_text(r['post_id'])} | {_md_text(r['doc_id'])} | {r['containment']:.4f} | {r['method']} | "
                     f"{post} | {span} |")
    return [*lines, ""]


def markdown_report(out_dir: str | Path, index_dir: str | Path | None = None, *, author_field: str | None = None,
                    date_field: str | None = None, top: int = 20, posts: PostsSource | None = None) -> str:
    """The two-sided report of a scan's output directory, in Markdown: the post side (posts found,
    by author and by month of creation when the index keeps such ``--meta-field`` columns, and each
    post's exposure) and the corpus side (shares per input file, the documents with the highest
    licensed share), then the top matches (each post's text beside the document's span, differences
    marked, given ``posts``). Every number comes from ``summary.json`` and ``matches.parquet``."""
    d = report_data(out_dir, index_dir, author_field=author_field, date_field=date_field, top=top, posts=posts)
    s, pct = d["summary"], "{:.2%}"
    lines = [
        "# provenance report",
        "",
        f"Scan of {len(s['inputs'])} input file(s) against the index `{d['index']}` (manifest sha256 "
        f"`{s['index']['manifest_sha256'][:16]}…`), provenance {s['tool_version']}.",
        "",
        "| measure | count | share |",
        "|---|---:|---:|",
        *(f"| {a} | {b} | {c} |" for a, b, c in _headline_rows(s)),
        "",
        "## Post side",
        "",
    ]
    if d["by_author"] is not None:
        lines += [f"**By author** (`{d['author']}`; the {top} with most posts found)", "",
                  _table(d["by_author"].head(top), {"share_found": pct}), ""]
    if d["by_month"] is not None:
        lines += [f"**By month of creation** (`{d['date']}`)", "", _table(d["by_month"], {"share_found": pct}), ""]
    if d["by_author"] is None and d["by_month"] is None:
        lines += ["(The index keeps no author or date column: build it with `--meta-field` to see posts by author "
                  "and month.)", ""]
    lines += [f"**Exposure** (posts found in the most documents; {d['exposure'].height:,} posts in all)", "",
              _table(d["exposure"].head(top)), ""]
    g = d["generic"]
    if g.height:
        bits = s["params"]["scan"].get("min_evidence_bits", 0)
        lines += [f"**Generic matches** ({g.height:,} posts)", "", _GENERIC_WORDS.format(bits=bits), "",
                  _table(g.head(top), {"evidence_bits": "{:.1f}"}), ""]
    lines += ["## Corpus side", "", "**Per input file**", "",
              _table(d["per_input"], {"share_docs_matched": pct, "share_chars_matched": pct}), ""]
    lines += [f"**Documents with the highest licensed share** (characters covered by posts / document characters; top {top})",
              "", _table(d["documents"].head(top), {"licensed_share": pct}), ""]
    lines += _md_matches(d)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- HTML


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}table{border-collapse:collapse;margin:.6em 0}
td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}th{cursor:pointer;background:#f4f4f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}mark{background:#ffe066}.key td{font-size:1.15em}
figure{display:inline-block;margin:0 2em 1em 0;vertical-align:top;max-width:100%}figure svg{max-width:100%;height:auto}
.scroll{overflow-x:auto;max-width:100%}.scroll td.n,.scroll th{white-space:nowrap}.scroll td:not(.n){overflow-wrap:anywhere;min-width:12em}.scroll td.t{min-width:18em}figcaption{font-weight:600;margin-bottom:.3em}
.match{border:1px solid #ddd;border-radius:4px;margin:.8em 0;padding:.4em .7em}.meta{margin:.2em 0 .4em}
.pair{display:flex;flex-wrap:wrap;gap:.8em}.pair>div{flex:1 1 280px;min-width:0;overflow-wrap:anywhere;white-space:pre-wrap}
.answer{font-size:1.3em;line-height:1.35;margin:.4em 0}.answer-chart{display:block;max-width:600px;margin:0 0 1.2em}
.lbl{font-size:.8em;color:#666;white-space:normal}.note{color:#555}
del{background:#fbd3d3;color:#7a1010}ins{background:#c8f0c8;color:#0d4d0d;text-decoration:underline}"""

# Clicking a column heading sorts the table by it (numbers as numbers).
_JS = """document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
    var up = th.dataset.up !== "1"; th.dataset.up = up ? "1" : "0";
    var key = function (r) { var t = r.cells[col].dataset.v || r.cells[col].textContent; var x = parseFloat(t);
      return isNaN(x) ? t : x; };
    rows.sort(function (a, b) { var x = key(a), y = key(b); return (x > y ? 1 : x < y ? -1 : 0) * (up ? 1 : -1); });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});"""


def _esc(value: Any) -> str:
    from html import escape

    return escape(str(value), quote=True)


def _html_table(frame: pl.DataFrame, formats: dict[str, str] | None = None, cls: str = "sortable") -> str:
    formats = formats or {}
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    rows = []
    for r in frame.iter_rows():
        cells = []
        for name, v in zip(frame.columns, r):
            if v is None:
                cells.append('<td class="n">–</td>')
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                shown = formats[name].format(v) if name in formats else (f"{v:,}" if isinstance(v, int) else f"{v:.4f}")
                cells.append(f'<td class="n" data-v="{v}">{_esc(shown)}</td>')
            elif name == "doc_text":
                cells.append(f'<td class="t"><mark>{_esc(v)}</mark></td>')
            else:
                cells.append(f"<td>{_esc(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table></div>")


def _bars(title: str, labels: list[str], values: list[float], *, fmt: str = "{:,}", whiskers: list[tuple[float, float]]
          | None = None, width: int = 460) -> str:
    """A horizontal bar chart as inline SVG (optionally with interval whiskers)."""
    top = max([*values, *(hi for _, hi in (whiskers or []))], default=0) or 1
    row, label_w, chart_w = 22, 150, width - 150 - 70
    height = row * len(labels) + 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             'role="img" '
             f'aria-label="{_esc(title)}">']
    for i, (label, v) in enumerate(zip(labels, values)):
        y = 4 + i * row
        w = chart_w * v / top
        end = max(w, chart_w * whiskers[i][1] / top) if whiskers else w  # the value right of its whisker
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">{_esc(label[:24])}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="#3b6fb6"/>'
                     f'<text x="{label_w + end + 4:.1f}" y="{y + 14}" font-size="12">{_esc(fmt.format(v))}</text>')
        if whiskers:
            lo, hi = whiskers[i]
            x0, x1 = label_w + chart_w * lo / top, label_w + chart_w * hi / top
            parts.append(f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{y + row / 2}" y2="{y + row / 2}" stroke="#c0392b" '
                         f'stroke-width="2"/>')
    parts.append("</svg>")
    return f"<figure><figcaption>{_esc(title)}</figcaption>{''.join(parts)}</figure>"


def _share_text(x: float) -> str:
    """A share in percent, with a decimal more below 1 %: 3.2 %, 0.47 %."""
    return f"{100 * x:.1f} %" if x >= 0.01 or x == 0 else f"{100 * x:.2f} %"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def answer(s: dict[str, Any]) -> str:
    """The report's answer in one sentence: the licensed share of the corpus's characters (with its
    interval when the scan sampled), the posts found and the documents holding them."""
    est = s.get("estimates", {}).get("share_chars_matched")
    value = est["value"] if est else s["share_chars_matched"]
    sampled = s.get("docs_total", s["docs_scanned"]) > s["docs_scanned"]
    docs = (f"{s['docs_matched']:,} of the {s['docs_scanned']:,} documents sampled (of {s['docs_total']:,})" if sampled
            else f"{s['docs_matched']:,} of {s['docs_scanned']:,} documents")
    if s["posts_matched"] == 0:
        return f"No licensed post was found in this corpus: 0 of {s['posts_indexed']:,} posts, {docs} scanned."
    interval = ""
    if est and est["ci_high"] > est["ci_low"]:
        conf = s["estimates"].get("confidence", 0.95)
        interval = f" ({100 * conf:g} % interval {_share_text(est['ci_low'])[:-2]}–{_share_text(est['ci_high'])})"
    return (f"{_share_text(value)} of this corpus's characters{interval} are licensed posts: "
            f"{_count(s['posts_matched'], 'post')} found in {docs}.")


def _nice_ceiling(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above ``x`` (at most 1)."""
    if x <= 0:
        return 0.01
    power = 10.0 ** math.floor(math.log10(x))
    return min(1.0, next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= x * (1 - 1e-12)))


def share_chart(s: dict[str, Any]) -> str:
    """One chart: the licensed share of the corpus's characters as a bar, its interval as a whisker,
    on an axis from 0 to a round share above the interval. Inline SVG that scales to the page width."""
    est = s.get("estimates", {}).get("share_chars_matched")
    value = est["value"] if est else s["share_chars_matched"]
    lo, hi = (est["ci_low"], est["ci_high"]) if est else (value, value)
    top = _nice_ceiling(max(hi, value) * 1.15)
    x0, w, y, h = 24, 552, 18, 26
    X = lambda v: x0 + w * v / top  # noqa: E731
    mantissa = round(top / 10.0 ** math.floor(math.log10(top)), 6)
    step = top / {1: 5, 2: 4, 2.5: 5, 5: 5, 10: 5}.get(mantissa, 4)
    ticks = "".join(f'<line x1="{X(t):.1f}" x2="{X(t):.1f}" y1="{y + h}" y2="{y + h + 5}" stroke="#888"/>'
                    f'<text x="{X(t):.1f}" y="{y + h + 18}" font-size="12" text-anchor="middle">'
                    f"{round(100 * t, 6):g} %</text>" for t in (k * step for k in range(round(top / step) + 1)))
    whisker = ""
    if hi > lo:
        whisker = (f'<line class="ci" x1="{X(lo):.1f}" x2="{X(hi):.1f}" y1="{y + h / 2}" y2="{y + h / 2}" stroke="#c0392b" '
                   f'stroke-width="3"/>' + "".join(f'<line x1="{X(v):.1f}" x2="{X(v):.1f}" y1="{y + 5}" y2="{y + h - 5}" '
                                                   f'stroke="#c0392b" stroke-width="2"/>' for v in (lo, hi)))
    label = f"licensed share of the corpus's characters: {_share_text(value)}" + (
        f" (interval {_share_text(lo)} – {_share_text(hi)})" if hi > lo else "")
    return (f'<figure class="answer-chart"><figcaption>{_esc(label)}</figcaption>'
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 70" width="100%" role="img" '
            f'aria-label="{_esc(label)}" data-share="{value}" data-top="{top}">'
            f'<rect x="{x0}" y="{y}" width="{w}" height="{h}" fill="#eef2f8"/>'
            f'<rect class="share" x="{x0}" y="{y}" width="{w * value / top:.2f}" height="{h}" fill="#3b6fb6"/>'
            f"{whisker}{ticks}</svg></figure>")


def _html_pieces(pieces: list[tuple[str, bool]], tag: str) -> str:
    return "".join(f"<{tag}>{_esc(t)}</{tag}>" if differs else _esc(t) for t, differs in pieces)


def _html_matches(d: dict[str, Any]) -> str:
    """The top matches, each a card: its numbers, then the post's text beside the document's span
    (side by side on a wide screen, one above the other on a phone), differences marked."""
    tm, texts = top_matches(d), d["texts"]
    has_bits = "evidence_bits" in tm.columns
    parts = [f"<p>The {tm.height:,} strongest matches (highest containment first).</p>"]
    if texts is None:
        parts.append(f'<p class="note">{_esc(NO_TEXTS)}.</p>')
    else:
        parts.append('<p class="note">Post text beside the document\'s span: <del>struck</del> words of the post are '
                     "not in the span, <ins>underlined</ins> words of the span are not in the post (normalized words "
                     "compared, as the scan does).</p>")
    for r in tm.iter_rows(named=True):
        span = r["doc_text"] or ""
        figures = [f"containment {r['containment']:.4f}", *([f"coverage {r['coverage']:.4f}"] if r["coverage"] is not None else []),
                   r["method"], *([f"chance {chance(r['evidence_bits'])}"] if has_bits and r["evidence_bits"] is not None else [])]
        head = (f'<p class="meta"><b>post {_esc(r["post_id"])}</b> in document <b>{_esc(r["doc_id"])}</b> '
                f'({_esc(r["source"])}:{r["row"]}) · {_esc(" · ".join(figures))}</p>')
        if texts is None:
            pair = f'<div class="pair"><div class="span"><mark>{_esc(span)}</mark></div></div>'
        else:
            text = texts.get(r["post_id"])
            if text is None:
                post, doc = '<span class="note">(text not found)</span>', _esc(span)
            else:
                a, b = diff_pieces(text, span)
                post, doc = _html_pieces(a, "del"), _html_pieces(b, "ins")
            pair = (f'<div class="pair"><div class="post"><div class="lbl">post</div>{post}</div>'
                    f'<div class="span"><div class="lbl">document span</div><mark>{doc}</mark></div></div>')
        parts.append(f'<div class="match">{head}{pair}</div>')
    return "".join(parts)


def html_report(out_dir: str | Path, index_dir: str | Path | None = None, *, author_field: str | None = None,
                date_field: str | None = None, top: int = 20, posts: PostsSource | None = None) -> str:
    """The two-sided report as one self-contained HTML page (inline SVG charts, inline CSS and script,
    nothing fetched): the numbers of :func:`markdown_report` plus a containment histogram, posts found by
    month and by author, the licensed share per input file (with the sampling interval of the whole
    corpus when the scan sampled), and the top matches with their matched text highlighted (beside the
    post's text, differences marked, given ``posts``)."""
    d = report_data(out_dir, index_dir, author_field=author_field, date_field=date_field, top=top, posts=posts)
    s, m, pct = d["summary"], d["matches"], "{:.2%}"
    key = "".join(f'<tr><td>{_esc(a)}</td><td class="n">{_esc(b)}</td><td class="n">{_esc(c)}</td></tr>'
                  for a, b, c in _headline_rows(s))
    charts = []
    if m.height:
        edges = [0.5 + 0.05 * i for i in range(11)]
        counts = [int(((m["containment"] >= lo) & ((m["containment"] < hi) if i < 9 else (m["containment"] <= hi))).sum())
                  for i, (lo, hi) in enumerate(zip(edges, edges[1:]))]
        below = int((m["containment"] < 0.5).sum())
        labels = [f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(edges, edges[1:])]
        charts.append(_bars("containment of the matches", (["< 0.50"] if below else []) + labels,
                            ([below] if below else []) + counts))
    if d["by_month"] is not None and d["by_month"].height:
        bm = d["by_month"].filter(pl.col("month").is_not_null())
        charts.append(_bars(f"posts found by month of creation ({d['date']})", bm["month"].to_list(), bm["found"].to_list()))
    if d["by_author"] is not None:
        ba = d["by_author"].head(min(top, 15))
        charts.append(_bars(f"top authors by posts found ({d['author']})", [str(a) for a in ba["author"].to_list()],
                            ba["found"].to_list()))
    pi = d["per_input"]
    est = s.get("estimates", {}).get("share_chars_matched")
    labels = [Path(p).name for p in pi["path"].to_list()] + ["whole corpus"]
    values = [*pi["share_chars_matched"].to_list(), s["share_chars_matched"]]
    per_file = [i.get("estimates", {}).get("share_chars_matched") for i in s["inputs"]]
    whiskers = [(e["ci_low"], e["ci_high"]) if e else (v, v) for e, v in zip(per_file, values)]
    whiskers.append((est["ci_low"], est["ci_high"]) if est else (values[-1], values[-1]))
    charts.append(_bars("licensed share of characters per input file (red: interval)", labels, values,
                        fmt="{:.2%}", whiskers=whiskers))
    body = [
        "<h1>provenance report</h1>",
        f'<p class="answer">{_esc(answer(s))}</p>',
        share_chart(s),
        f"<p>Scan of {len(s['inputs'])} input file(s) against the index <code>{_esc(d['index'])}</code> "
        f"(manifest sha256 <code>{_esc(s['index']['manifest_sha256'][:16])}…</code>), provenance {_esc(s['tool_version'])}.</p>",
        f'<table class="key"><tbody>{key}</tbody></table>',
        "<div>" + "".join(charts) + "</div>",
        "<h2>Post side</h2>",
    ]
    if d["by_author"] is not None:
        body += [f"<h3>By author ({_esc(d['author'])})</h3>", _html_table(d["by_author"].head(top), {"share_found": pct})]
    if d["by_month"] is not None:
        body += [f"<h3>By month of creation ({_esc(d['date'])})</h3>", _html_table(d["by_month"], {"share_found": pct})]
    body += [f"<h3>Exposure ({d['exposure'].height:,} posts found)</h3>", _html_table(d["exposure"].head(top))]
    g = d["generic"]
    if g.height:
        words = _GENERIC_WORDS.format(bits=s["params"]["scan"].get("min_evidence_bits", 0)).replace("*", "")
        body += [f"<h3>Generic matches ({g.height:,} posts)</h3>", f"<p>{_esc(words)}</p>",
                 _html_table(g.head(top), {"evidence_bits": "{:.1f}"})]
    body += ["<h2>Corpus side</h2>", "<h3>Per input file</h3>",
             _html_table(pi, {"share_docs_matched": pct, "share_chars_matched": pct}),
             "<h3>Documents with the highest licensed share</h3>",
             _html_table(d["documents"].head(top), {"licensed_share": pct}),
             '<h2 id="top-matches">Top matches</h2>', _html_matches(d)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>provenance report</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}<script>{_JS}</script></body></html>\n")
