"""The terminal table: a scan summary's headline figures (and its time) as a rich Table."""

from __future__ import annotations

from typing import Any

__all__ = ["summary_table"]


def _pct(x: float) -> str:
    from .headline import share_text

    return share_text(x)


def summary_table(summary: dict[str, Any], run: dict[str, Any] | None = None):
    """A rich Table with the headline figures of a scan summary (and its time, from ``run``)."""
    from rich.table import Table

    s = summary
    table = Table(title="provenance scan", show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("share", justify="right")
    table.add_row("posts indexed", f"{s['posts_indexed']:,}", "")
    if s.get("posts_unattributable"):
        table.add_row("  of them too common to attribute (never matched)", f"{s['posts_unattributable']:,}", "")
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
    if g and g.get("matches"):
        from .headline import not_counted_text

        table.add_row("  of them not counted (no evidence of a copy)", f"{g['matches']:,}", not_counted_text(s))
    sig = s.get("significance")
    if sig:
        table.add_row("evidence a match needed (E-value bar)", f"{sig['bits_needed']:.0f} bits",
                      f"E <= {sig['max_evalue']:g} over {sig['posts_searched']:,} posts x {s.get('words_scanned', 0):,} words")
    table.add_row("candidate pairs / verified exactly", f"{s['candidates']:,} / {s['candidates_verified']:,}", "")
    table.add_row("frequent shingles (not used as candidate keys)", f"{s['frequent_shingles']:,}", "")
    if run is not None:
        total = run.get("seconds", {}).get("total", 0.0)
        rate = f"{s['corpus_chars'] / total / 1e6:.1f} M characters/s" if total > 0 else ""
        table.add_row("scan time", f"{total:.2f} s", rate)
    return table
