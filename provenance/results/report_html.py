"""The two-sided report as one self-contained HTML page (``provenance report -o report.html``): inline
CSS, script and SVG charts, nothing fetched."""

from __future__ import annotations

import json

from pathlib import Path
from typing import Any

import polars as pl

from ..text.background import chance
from .charts import bars, esc, share_chart
from .headline import GENERIC_WORDS, answer, headline_rows
from .report_data import report_data, top_matches
from .texts import NO_TEXTS, PostsSource, diff_pieces

__all__ = ["html_report"]


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em;overflow-wrap:anywhere}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}table{border-collapse:collapse;margin:.6em 0}
td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}th{cursor:pointer;background:#f4f4f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}mark{background:#ffe066}.key td{font-size:1.15em}
figure{display:inline-block;margin:0 2em 1em 0;vertical-align:top;max-width:100%}figure svg{max-width:100%;height:auto}
.scroll{overflow-x:auto;max-width:100%}.scroll td.n,.scroll th{white-space:nowrap}.scroll td:not(.n){overflow-wrap:anywhere;min-width:12em}.scroll td.t{min-width:18em}figcaption{font-weight:600;margin-bottom:.3em}
.match{border:1px solid #ddd;border-radius:4px;margin:.8em 0;padding:.4em .7em}.meta{margin:.2em 0 .4em}
.pair{display:flex;flex-wrap:wrap;gap:.8em}.pair>div{flex:1 1 280px;min-width:0;overflow-wrap:anywhere;white-space:pre-wrap}
.answer{font-size:1.3em;line-height:1.35;margin:.4em 0}.answer-chart{display:block;max-width:600px;margin:0 0 1.2em}
.lbl{font-size:.8em;color:#666;white-space:normal}.note{color:#555}.ctx{color:#777}
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


def _html_table(frame: pl.DataFrame, formats: dict[str, str] | None = None, cls: str = "sortable") -> str:
    formats = formats or {}
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for r in frame.iter_rows():
        cells = []
        for name, v in zip(frame.columns, r):
            if v is None:
                cells.append('<td class="n">–</td>')
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                shown = formats[name].format(v) if name in formats else (f"{v:,}" if isinstance(v, int) else f"{v:.4f}")
                cells.append(f'<td class="n" data-v="{v}">{esc(shown)}</td>')
            elif name == "doc_text":
                cells.append(f'<td class="t"><mark>{esc(v)}</mark></td>')
            else:
                cells.append(f"<td>{esc(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table></div>")


def _html_pieces(pieces: list[tuple[str, bool]], tag: str) -> str:
    return "".join(f"<{tag}>{esc(t)}</{tag}>" if differs else esc(t) for t, differs in pieces)


def _html_matches(d: dict[str, Any]) -> str:
    """The top matches, each a card: its numbers, then the post's text beside the document's span
    (side by side on a wide screen, one above the other on a phone), differences marked."""
    tm, texts = top_matches(d), d["texts"]
    has_bits = "evidence_bits" in tm.columns
    parts = [f"<p>The {tm.height:,} strongest matches that count (most evidence first; a span that several documents hold is shown once, with their number).</p>"]
    if texts is None:
        parts.append(f'<p class="note">{esc(NO_TEXTS)}.</p>')
    else:
        parts.append('<p class="note">Post text beside the document\'s span: <del>struck</del> words of the post are '
                     "not in the span, <ins>underlined</ins> words of the span are not in the post (normalized words "
                     "compared, as the scan does).</p>")
    for r in tm.iter_rows(named=True):
        span = r["doc_text"] or ""
        figures = [f"containment {r['containment']:.4f}", *([f"coverage {r['coverage']:.4f}"] if r["coverage"] is not None else []),
                   r["method"], *([f"chance {chance(r['evidence_bits'])}"] if has_bits and r["evidence_bits"] is not None else []),
                   *([f"E-value {r['evalue']:.2g}"] if r.get("evalue") is not None else []),
                   *([f"the same span in {r['same_span']:,} documents"] if r.get("same_span", 0) > 1 else [])]
        about = " · ".join(f"{k}: {v}" for k, v in json.loads(r["doc_meta"]).items() if v) if r.get("doc_meta") else ""
        head = (f'<p class="meta"><b>post {esc(r["post_id"])}</b> in document <b>{esc(r["doc_id"])}</b> '
                f'({esc(r["source"])}:{r["row"]}){" · " + esc(about) if about else ""} · {esc(" · ".join(figures))}</p>')
        before = esc(r.get("context_before") or "")
        after = esc(r.get("context_after") or "")
        ctx = (lambda marked: f'<span class="ctx">…{before}</span>{marked}<span class="ctx">{after}…</span>'
               if before or after else marked)
        if texts is None:
            pair = f'<div class="pair"><div class="span">{ctx(f"<mark>{esc(span)}</mark>")}</div></div>'
        else:
            text = texts.get(r["post_id"])
            if text is None:
                post, doc = '<span class="note">(text not found)</span>', esc(span)
            else:
                a, b = diff_pieces(text, span)
                post, doc = _html_pieces(a, "del"), _html_pieces(b, "ins")
            pair = (f'<div class="pair"><div class="post"><div class="lbl">post</div>{post}</div>'
                    f'<div class="span"><div class="lbl">document span, in its text</div>{ctx(f"<mark>{doc}</mark>")}</div></div>')
        parts.append(f'<div class="match">{head}{pair}</div>')
    return "".join(parts)


def html_report(out_dir: str | Path, index_dir: str | Path | None = None, *, author_field: str | None = None,
                date_field: str | None = None, top: int = 20, posts: PostsSource | None = None) -> str:
    """The two-sided report as one self-contained HTML page (inline SVG charts, inline CSS and script,
    nothing fetched): the numbers of :func:`.report_markdown.markdown_report` plus a containment
    histogram, posts found by month and by author, the licensed share per input file (with the sampling
    interval of the whole corpus when the scan sampled), and the top matches with their matched text
    highlighted (beside the post's text, differences marked, given ``posts``)."""
    d = report_data(out_dir, index_dir, author_field=author_field, date_field=date_field, top=top, posts=posts)
    s, m, pct = d["summary"], d["matches"], "{:.2%}"
    key = "".join(f'<tr><td>{esc(a)}</td><td class="n">{esc(b)}</td><td class="n">{esc(c)}</td></tr>'
                  for a, b, c in headline_rows(s))
    charts = []
    if m.height:
        edges = [0.5 + 0.05 * i for i in range(11)]
        counts = [int(((m["containment"] >= lo) & ((m["containment"] < hi) if i < 9 else (m["containment"] <= hi))).sum())
                  for i, (lo, hi) in enumerate(zip(edges, edges[1:]))]
        below = int((m["containment"] < 0.5).sum())
        labels = [f"{lo:.2f}–{hi:.2f}" for lo, hi in zip(edges, edges[1:])]
        charts.append(bars("containment of the matches", (["< 0.50"] if below else []) + labels,
                           ([below] if below else []) + counts))
    if d["by_month"] is not None and d["by_month"].height:
        bm = d["by_month"].filter(pl.col("month").is_not_null())
        charts.append(bars(f"posts found by month of creation ({d['date']})", bm["month"].to_list(), bm["found"].to_list()))
    if d["by_author"] is not None:
        ba = d["by_author"].head(min(top, 15))
        charts.append(bars(f"top authors by posts found ({d['author']})", [str(a) for a in ba["author"].to_list()],
                           ba["found"].to_list()))
    pi = d["per_input"]
    est = s.get("estimates", {}).get("share_chars_matched")
    labels = [Path(p).name for p in pi["path"].to_list()] + ["whole corpus"]
    values = [*pi["share_chars_matched"].to_list(), s["share_chars_matched"]]
    per_file = [i.get("estimates", {}).get("share_chars_matched") for i in s["inputs"]]
    whiskers = [(e["ci_low"], e["ci_high"]) if e else (v, v) for e, v in zip(per_file, values)]
    whiskers.append((est["ci_low"], est["ci_high"]) if est else (values[-1], values[-1]))
    charts.append(bars("licensed share of characters per input file (red: interval)", labels, values,
                       fmt="{:.2%}", whiskers=whiskers))
    body = [
        "<h1>provenance report</h1>",
        f'<p class="answer">{esc(answer(s))}</p>',
        share_chart(s),
        f"<p>Scan of {len(s['inputs'])} input file(s) against the index <code>{esc(d['index'])}</code> "
        f"(manifest sha256 <code>{esc(s['index']['manifest_sha256'][:16])}…</code>), provenance {esc(s['tool_version'])}.</p>",
        f'<table class="key"><tbody>{key}</tbody></table>',
        "<div>" + "".join(charts) + "</div>",
        "<h2>Post side</h2>",
    ]
    if d["by_author"] is not None:
        body += [f"<h3>By author ({esc(d['author'])})</h3>", _html_table(d["by_author"].head(top), {"share_found": pct})]
    if d["by_month"] is not None:
        body += [f"<h3>By month of creation ({esc(d['date'])})</h3>", _html_table(d["by_month"], {"share_found": pct})]
    body += [f"<h3>Exposure ({d['exposure'].height:,} posts found)</h3>", _html_table(d["exposure"].head(top))]
    g = d["generic"]
    if g.height:
        words = GENERIC_WORDS.format(bits=s["params"]["scan"].get("min_evidence_bits", 0)).replace("*", "")
        body += [f"<h3>Generic matches ({g.height:,} posts)</h3>", f"<p>{esc(words)}</p>",
                 _html_table(g.head(top), {"evidence_bits": "{:.1f}"})]
    body += ["<h2>Corpus side</h2>", "<h3>Per input file</h3>",
             _html_table(pi, {"share_docs_matched": pct, "share_chars_matched": pct}),
             "<h3>Documents with the highest licensed share</h3>",
             _html_table(d["documents"].head(top), {"licensed_share": pct}),
             '<h2 id="top-matches">Top matches</h2>', _html_matches(d)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>provenance report</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}<script>{_JS}</script></body></html>\n")
